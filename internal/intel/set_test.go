package intel

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func mustDecode(t testing.TB, name string, kind Kind, format Format, text string) *List {
	t.Helper()
	l, err := Decode(strings.NewReader(text), Options{Name: name, Kind: kind, Format: format})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestSetLookups(t *testing.T) {
	threats := mustDecode(t, "botnets", KindThreat, FormatTXT, "198.51.100.0/24\n198.51.100.7\n203.0.113.0/24\nevil.example\n2001:db8::/32\n")
	scores := mustDecode(t, "scores", KindThreat, FormatIPSum, "198.51.100.7\t9\n192.0.2.50\t2\n")
	tor := mustDecode(t, "tor", KindTor, FormatTorRelay, "fingerprint,ipaddr,port\nA,192.0.2.50,9001\nB,192.0.2.60,9001\nB,192.0.2.60,9030\n")
	trusted := mustDecode(t, "partners", KindTrusted, FormatTXT, "203.0.113.128/25\nok.evil.example\n")
	s := Build([]*List{threats, scores, tor, trusted})

	tests := []struct {
		addr  string
		list  string // "" for no threat
		kind  Kind
		ports []uint16
		score float64
	}{
		{"198.51.100.1", "botnets", KindThreat, nil, 0},
		{"198.51.100.7", "botnets", KindThreat, nil, 0}, // two lists, same network: the first list wins
		{"::ffff:198.51.100.1", "botnets", KindThreat, nil, 0},
		{"203.0.113.5", "botnets", KindThreat, nil, 0},
		{"203.0.113.200", "", 0, nil, 0}, // trusted wins over threat
		{"192.0.2.50", "scores", KindThreat, nil, 2},
		{"192.0.2.60", "tor", KindTor, []uint16{9001, 9030}, 0}, // a relay listed twice: ports merge
		{"2001:db8:1::1", "botnets", KindThreat, nil, 0},
		{"192.0.2.1", "", 0, nil, 0},
		{"2001:db9::1", "", 0, nil, 0},
	}
	for _, tt := range tests {
		m, ok := s.Threat(netip.MustParseAddr(tt.addr))
		if tt.list == "" {
			if ok {
				t.Errorf("%s: got %+v, want no threat", tt.addr, m)
			}
			continue
		}
		if !ok || m.List != tt.list || m.Kind != tt.kind || !slices.Equal(m.Ports, tt.ports) || m.Score != tt.score {
			t.Errorf("%s: got %+v %v, want list %s kind %s ports %v score %v", tt.addr, m, ok, tt.list, tt.kind, tt.ports, tt.score)
		}
	}
	if !s.Trusted(netip.MustParseAddr("203.0.113.129")) || s.Trusted(netip.MustParseAddr("203.0.113.1")) {
		t.Error("trusted lookups")
	}
	for _, d := range []struct {
		name string
		want bool
	}{
		{"evil.example", true}, {"EVIL.example.", true}, {"a.b.evil.example", true},
		{"notevil.example", false}, {"example", false}, {"ok.evil.example", false}, {"x.ok.evil.example", false}, {"", false},
	} {
		if _, ok := s.ThreatDomain(d.name); ok != d.want {
			t.Errorf("ThreatDomain(%q) = %v, want %v", d.name, ok, d.want)
		}
	}
	if !s.TrustedDomain("a.ok.evil.example") || s.TrustedDomain("evil.example") {
		t.Error("trusted domain lookups")
	}
	var empty *Set
	if _, ok := empty.Threat(netip.MustParseAddr("192.0.2.1")); ok || empty.Trusted(netip.MustParseAddr("192.0.2.1")) {
		t.Error("a nil set has nothing")
	}
}

// A threat list wins over a Tor list for the same network, whichever
// comes first; the most specific network wins over both.
func TestSetPrecedence(t *testing.T) {
	tor := mustDecode(t, "tor", KindTor, FormatTXT, "192.0.2.5\n198.51.100.5\n")
	threat := mustDecode(t, "threat", KindThreat, FormatTXT, "192.0.2.5\n198.51.100.0/24\n")
	s := Build([]*List{tor, threat})
	if m, _ := s.Threat(netip.MustParseAddr("192.0.2.5")); m == nil || m.List != "threat" {
		t.Errorf("192.0.2.5: %+v, want the threat list", m)
	}
	if m, _ := s.Threat(netip.MustParseAddr("198.51.100.5")); m == nil || m.List != "tor" {
		t.Errorf("198.51.100.5: %+v, want the more specific Tor entry", m)
	}
}

func TestLookupsDoNotAllocate(t *testing.T) {
	l := mustDecode(t, "l", KindThreat, FormatTXT, "198.51.100.0/24\nevil.example\n2001:db8::/32\n")
	tr := mustDecode(t, "t", KindTrusted, FormatTXT, "198.51.100.128/25\nok.evil.example\n")
	s := Build([]*List{l, tr})
	a4, a6 := netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("2001:db8::1")
	allocs := testing.AllocsPerRun(1000, func() {
		s.Threat(a4)
		s.Threat(a6)
		s.Trusted(a4)
		s.ThreatDomain("A.Evil.Example.")
		s.TrustedDomain("x.ok.evil.example")
	})
	if allocs != 0 {
		t.Errorf("%v allocations per lookup round, want 0", allocs)
	}
}
