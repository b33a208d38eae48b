package scanner

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

// A scan of an address on a threat list carries the list as evidence and
// is High.
func TestScanOfListedTargetCarriesTheList(t *testing.T) {
	env := detecttest.Env(nil)
	env.Intel = listed{"203.0.113.40": {ListName: "c2", ThreatNames: []string{"ExampleBot"}}}
	d, _ := newScan(env)
	fs := detecttest.Run(t, d, scan(t, "10.0.1.5", "203.0.113.40", ports(15), func(int) string { return "unanswered" }, 1, "")...)
	if len(fs) != 1 {
		t.Fatalf("%d findings", len(fs))
	}
	f := fs[0]
	if ev := f.Service.Evidence; ev == nil || ev.ThreatIntelligenceDetails[0].ThreatListName != "c2" || f.Severity < 8 {
		t.Errorf("evidence %+v, severity %v", ev, f.Severity)
	}
	if e := f.Service.AdditionalInfo.Explanation; e.ThreatListName != "c2" || e.ThreatName != "ExampleBot" {
		t.Errorf("explanation %+v", e)
	}
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
		d, _ := newSweep(env)
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
