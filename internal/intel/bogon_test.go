package intel

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Issue 12: bogon networks in a threat list turned internal traffic into
// threat findings. They are refused unless the list allows them; trusted
// lists keep them.
func TestBogonsRefused(t *testing.T) {
	tests := []struct {
		entry   string
		refused bool
	}{
		{"10.1.2.3", true},
		{"172.16.0.0/12", true},
		{"172.31.255.255", true},
		{"192.168.1.1-192.168.1.9", true},
		{"100.64.0.1", true},
		{"127.0.0.1", true},
		{"169.254.169.254", true},
		{"0.0.0.0", true},
		{"224.0.0.251", true},
		{"255.255.255.255", true},
		{"::ffff:10.0.0.1", true},
		{"::1", true},
		{"fd00::/8", true},
		{"fe80::1", true},
		{"ff02::1", true},
		{"0.0.0.0/0", true},         // covers them all
		{"9.0.0.0-11.0.0.0", true},  // a range across 10.0.0.0/8
		{"http://10.0.0.5/x", true}, // a URL's host counts
		{"192.0.2.1", false},        // documentation networks stand in for public addresses
		{"198.51.100.0/24", false},  //
		{"2001:db8::1", false},      //
		{"9.255.255.255", false},    // just below 10.0.0.0/8
		{"11.0.0.0/8", false},       // just above
		{"172.32.0.1", false},       // just above 172.16.0.0/12
		{"evil.example", false},     // names are never bogons
		{"2001:4860:4860::8888", false},
	}
	for _, tt := range tests {
		t.Run(tt.entry, func(t *testing.T) {
			text := "# list\n" + tt.entry + "\n203.0.113.9\n"
			l := mustDecode(t, "l", KindThreat, FormatTXT, text)
			wantEntries, wantRefused := 2, 0
			if tt.refused {
				wantEntries, wantRefused = 1, 1
			}
			if l.Entries != wantEntries || l.Refused != wantRefused || l.Errors != 0 {
				t.Fatalf("entries %d, refused %d, errors %d; want %d, %d, 0", l.Entries, l.Refused, l.Errors, wantEntries, wantRefused)
			}
			if tt.refused && (l.RefusedSample == nil || l.RefusedSample.Line != 2 || l.RefusedSample.Value != tt.entry) {
				t.Errorf("refused sample %v, want line 2 %q", l.RefusedSample, tt.entry)
			}
			// allow_private keeps it, and a trusted list always does.
			for _, opt := range []Options{{Kind: KindThreat, AllowPrivate: true}, {Kind: KindTrusted}} {
				opt.Name, opt.Format = "l", FormatTXT
				l, err := Decode(strings.NewReader(text), opt)
				if err != nil {
					t.Fatal(err)
				}
				if l.Entries != 2 || l.Refused != 0 {
					t.Errorf("%+v: entries %d, refused %d; want 2, 0", opt, l.Entries, l.Refused)
				}
			}
		})
	}
}

func TestBogonsNotLookedUp(t *testing.T) {
	s := Build([]*List{
		mustDecode(t, "scanners", KindThreat, FormatTXT, "10.0.0.0/8\n203.0.113.0/24\n"),
		mustDecode(t, "relays", KindTor, FormatTXT, "192.168.7.7\n198.51.100.7\n"),
	})
	for _, a := range []string{"10.1.2.3", "192.168.7.7"} {
		if m, ok := s.Threat(netip.MustParseAddr(a)); ok {
			t.Errorf("%s: a threat of list %s", a, m.List)
		}
	}
	for _, a := range []string{"203.0.113.1", "198.51.100.7"} {
		if _, ok := s.Threat(netip.MustParseAddr(a)); !ok {
			t.Errorf("%s: no threat", a)
		}
	}
}

func TestBogonsOnlyListIsUnusable(t *testing.T) {
	_, err := Decode(strings.NewReader("10.0.0.0/8\n192.168.0.0/16\n"), Options{Name: "internal", Format: FormatTXT})
	if err == nil || !strings.Contains(err.Error(), "2 entries refused") || !strings.Contains(err.Error(), "allow_private") {
		t.Fatalf("got %v, want a ListError naming the refused entries and the option", err)
	}
}

// The loader says, once per list it loads, how many entries it refused.
func TestLoaderWarnsOfRefusedEntries(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	l, err := NewLoader(Config{
		Lists: []Spec{
			{Name: "scanners", Location: writeFile(t, dir, "s.txt", "10.0.0.1\n10.0.0.2\n203.0.113.1\n")},
			{Name: "internal", Location: writeFile(t, dir, "i.txt", "10.0.0.3\n203.0.113.2\n"), AllowPrivate: true},
			{Name: "vpc", Location: writeFile(t, dir, "v.txt", "172.16.0.0/12\n"), Kind: KindTrusted},
		},
		Log: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	reports, err := l.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var refused []int
	for _, r := range reports {
		refused = append(refused, r.Refused)
	}
	if diff := cmp.Diff([]int{2, 0, 0}, refused); diff != "" {
		t.Errorf("refused (-want +got):\n%s", diff)
	}
	out := logs.String()
	if strings.Count(out, "level=WARN") != 1 || !strings.Contains(out, "list=scanners") || !strings.Contains(out, "refused=2") {
		t.Errorf("want one warning, for scanners; log:\n%s", out)
	}
	if _, ok := l.Threat(netip.MustParseAddr("10.0.0.3")); !ok {
		t.Error("10.0.0.3 of a list that allows private networks is no threat")
	}
}

func TestParseSpecOptions(t *testing.T) {
	tests := []struct {
		kind Kind
		in   string
		want Spec
		err  string
	}{
		{KindThreat, "scanners=auto,allow_private:lists/s.txt", Spec{Name: "scanners", Location: "lists/s.txt", Kind: KindThreat, AllowPrivate: true}, ""},
		{KindThreat, "TXT,Allow-Private:https://x.example/l.txt", Spec{Name: "l", Location: "https://x.example/l.txt", Kind: KindThreat, Format: FormatTXT, AllowPrivate: true}, ""},
		{KindTor, "all=TXT,relays:https://x.example/torlist", Spec{Name: "all", Location: "https://x.example/torlist", Kind: KindTor, Format: FormatTXT, Tor: TorRelays}, ""},
		{KindTor, ",exits:exits.txt", Spec{Name: "exits", Location: "exits.txt", Kind: KindTor, Tor: TorExits}, ""},
		{KindThreat, "TXT,exits:l.txt", Spec{}, "for Tor lists"},
		{KindThreat, "TXT,private:l.txt", Spec{}, "unknown list option"},
	}
	for _, tt := range tests {
		got, err := ParseSpec(tt.kind, tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseSpec(%q) = %v, want an error saying %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseSpec(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseSpec(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

// Issue 12: a Tor list of all relays was described as exit nodes. A Tor
// list says which nodes it names, from its format or as its spec says,
// and its matches carry it.
func TestTorNodes(t *testing.T) {
	const exitList = "ExitNode 0011BD2485AD45D984EC4159C88FC066E5E3300E\nExitAddress 198.51.100.5 2024-02-27 09:12:44\n"
	const relayCSV = "fingerprint,ipaddr,port\n0011BD2485AD45D984EC4159C88FC066E5E3300E,198.51.100.5,9001\n"
	const plain = "198.51.100.5\n"
	tests := []struct {
		name    string
		text    string
		format  Format
		given   TorNodes
		want    TorNodes
		purpose string
	}{
		{"exit list", exitList, FormatUnknown, TorUnknown, TorExits, "Tor exit node"},
		{"relay csv", relayCSV, FormatUnknown, TorUnknown, TorRelays, "Tor relay"},
		{"plain list", plain, FormatUnknown, TorUnknown, TorUnknown, "Tor relay or exit node"},
		{"plain list of relays", plain, FormatTXT, TorRelays, TorRelays, "Tor relay"},
		{"plain list of exits", plain, FormatTXT, TorExits, TorExits, "Tor exit node"},
		// all relays, one per line, given in the exit list's format
		{"relays as TOR_EXIT", plain, FormatTorExit, TorRelays, TorRelays, "Tor relay"},
		{"exits as TOR_RELAY", relayCSV, FormatTorRelay, TorExits, TorExits, "Tor exit node"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Decode(strings.NewReader(tt.text), Options{Name: "tor", Kind: KindTor, Format: tt.format, Tor: tt.given})
			if err != nil {
				t.Fatal(err)
			}
			if l.Tor != tt.want {
				t.Errorf("report says %s, want %s", l.Tor, tt.want)
			}
			m, ok := Build([]*List{l}).Threat(netip.MustParseAddr("198.51.100.5"))
			if !ok {
				t.Fatal("not found")
			}
			if m.Kind != KindTor || m.Tor != tt.want || m.Purpose != tt.purpose {
				t.Errorf("match %s %s %q, want tor %s %q", m.Kind, m.Tor, m.Purpose, tt.want, tt.purpose)
			}
		})
	}
	// A threat list in a Tor format is a Tor list; the match of a plain
	// threat list says nothing of Tor.
	l := mustDecode(t, "exits", KindThreat, FormatUnknown, exitList)
	if l.Kind != KindTor || l.Tor != TorExits {
		t.Errorf("exit list given as a threat list: %s %s", l.Kind, l.Tor)
	}
	m, _ := Build([]*List{mustDecode(t, "t", KindThreat, FormatTXT, plain)}).Threat(netip.MustParseAddr("198.51.100.5"))
	if m.Tor != TorUnknown || m.Purpose != "" {
		t.Errorf("threat list match %s %q", m.Tor, m.Purpose)
	}
}

// A Tor list's category (FireHOL's) gives way to what the list names.
func TestTorPurposeOverCategory(t *testing.T) {
	l, err := Decode(strings.NewReader("# ipv4 hash:ip ipset\n# Category : anonymizers\n198.51.100.5\n"), Options{Name: "tor", Kind: KindTor, Tor: TorExits})
	if err != nil {
		t.Fatal(err)
	}
	m, ok := Build([]*List{l}).Threat(netip.MustParseAddr("198.51.100.5"))
	if !ok || m.Purpose != "Tor exit node" || m.Tor != TorExits {
		t.Errorf("match %+v", m)
	}
}
