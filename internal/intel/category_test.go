package intel

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseCategory(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "c2": "c2", "C2": "c2", " phishing ": "phishing", "bitcoin_tool": "bitcoin-tool",
		"Bitcoin-Tool": "bitcoin-tool", "blackhole": "blackhole", "suspicious": "suspicious",
	} {
		got, err := ParseCategory(in)
		if err != nil || got != want {
			t.Errorf("ParseCategory(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"c&c", "malware", "sinkhole"} {
		if _, err := ParseCategory(in); err == nil || !strings.Contains(err.Error(), "known: c2, blackhole") {
			t.Errorf("ParseCategory(%q) = %v, want an error listing the categories", in, err)
		}
	}
	if n := len(Categories()); n != 9 {
		t.Errorf("%d categories, want 9", n)
	}
}

func TestParseSpecCategory(t *testing.T) {
	tests := []struct {
		kind Kind
		in   string
		want Spec
		err  string
	}{
		{KindThreat, "c2s=TXT,category=c2:lists/c2.txt", Spec{Name: "c2s", Location: "lists/c2.txt", Kind: KindThreat, Format: FormatTXT, Category: "c2"}, ""},
		// Without a name, the option's "=" is not taken for the name's.
		{KindThreat, "auto,category=bitcoin-tool:https://x.example/pools.txt", Spec{Name: "pools", Location: "https://x.example/pools.txt", Kind: KindThreat, Category: "bitcoin-tool"}, ""},
		{KindThreat, "TXT,allow_private,category=Blackhole:s3://b/sinks.txt", Spec{Name: "sinks", Location: "s3://b/sinks.txt", Kind: KindThreat, Format: FormatTXT, AllowPrivate: true, Category: "blackhole"}, ""},
		{KindThreat, "TXT,category=evil:l.txt", Spec{}, "unknown threat list category"},
		{KindTrusted, "TXT,category=c2:l.txt", Spec{}, "for threat lists"},
		{KindTor, "TXT,category=c2:l.txt", Spec{}, "for threat lists"},
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

// TestCategoryReachesMatches checks that a list's category travels from
// its spec to its report and to every match of its domains and
// addresses, and that a list without one gives matches without one.
func TestCategoryReachesMatches(t *testing.T) {
	decode := func(sp Spec, text string) *List {
		t.Helper()
		l, err := Decode(strings.NewReader(text), sp.DecodeOptions(0))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	c2 := decode(Spec{Name: "c2s", Kind: KindThreat, Format: FormatTXT, Category: "c2"}, "c2.example\n198.51.100.9\n")
	plain := decode(Spec{Name: "plain", Kind: KindThreat, Format: FormatTXT}, "plain.example\nc2.example\n")
	if c2.Category != "c2" || plain.Category != "" {
		t.Errorf("report categories %q and %q", c2.Category, plain.Category)
	}
	s := Build([]*List{c2, plain})
	for name, want := range map[string]string{"www.c2.example": "c2", "plain.example": ""} {
		m, ok := s.ThreatDomain(name)
		if !ok || m.Category != want {
			t.Errorf("ThreatDomain(%q) = %+v, %v; want category %q", name, m, ok, want)
		}
	}
	if m, ok := s.Threat(netip.MustParseAddr("198.51.100.9")); !ok || m.Category != "c2" {
		t.Errorf("Threat = %+v, %v; want category c2", m, ok)
	}
}
