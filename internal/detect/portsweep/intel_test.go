package portsweep

import (
	"net/netip"
	"testing"

	"picket/internal/detect"
	"picket/internal/detect/detecttest"
)

type listed map[string]detect.ThreatMatch

func (l listed) Trusted(netip.Addr) bool { return false }
func (l listed) Threat(a netip.Addr) (detect.ThreatMatch, bool) {
	m, ok := l[a.String()]
	return m, ok
}

// A sweep by a host that a threat list names carries the list; a Tor
// match does not count as threat intelligence here.
func TestSweepByListedHostCarriesTheList(t *testing.T) {
	for _, tt := range []struct {
		match detect.ThreatMatch
		want  string
	}{
		{detect.ThreatMatch{ListName: "compromised"}, "compromised"},
		{detect.ThreatMatch{ListName: "tor", Kind: detect.ThreatTor}, ""},
	} {
		env := detecttest.Env(nil)
		env.Intel = listed{"10.0.1.5": tt.match}
		d, _ := New(env)
		fs := detecttest.Run(t, d, sweep(t, "10.0.1.5", 22, 100, func(int) string { return "unanswered" })...)
		if len(fs) != 1 {
			t.Fatalf("%d findings", len(fs))
		}
		got := ""
		if ev := fs[0].Service.Evidence; ev != nil {
			got = ev.ThreatIntelligenceDetails[0].ThreatListName
		}
		if got != tt.want {
			t.Errorf("evidence list %q, want %q", got, tt.want)
		}
	}
}
