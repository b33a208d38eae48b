package tor

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"picket/internal/detect"
	"picket/internal/detect/detecttest"
	"picket/internal/event"
	"picket/internal/finding"
)

// relays is a fake detect.Intel: 198.51.100.1-20 are Tor relays with
// ORPort 9001, 198.51.100.21-30 Tor exit nodes (on the exit list), and
// 203.0.113.5 is on a custom threat list.
type relays struct{}

func (relays) Trusted(netip.Addr) bool { return false }
func (relays) Threat(a netip.Addr) (detect.ThreatMatch, bool) {
	b := a.As4()
	switch {
	case a.Is4() && b[0] == 198 && b[1] == 51 && b[2] == 100 && b[3] >= 1 && b[3] <= 20:
		return detect.ThreatMatch{ListName: "tor-relays", Kind: detect.ThreatTor, Purpose: "Tor relay", Ports: []uint16{9001}}, true
	case a.Is4() && b[0] == 198 && b[1] == 51 && b[2] == 100 && b[3] >= 21 && b[3] <= 30:
		return detect.ThreatMatch{ListName: "tor-exits", Kind: detect.ThreatTor, Purpose: "Tor exit node", Ports: []uint16{9001}}, true
	case a == netip.MustParseAddr("203.0.113.5"):
		return detect.ThreatMatch{ListName: "custom"}, true
	}
	return detect.ThreatMatch{}, false
}

func run(t *testing.T, contacts ...string) []*finding.Finding {
	t.Helper()
	env := detecttest.Env(nil)
	env.Intel = relays{}
	d, err := New(env)
	if err != nil {
		t.Fatal(err)
	}
	var cs []*event.Contact
	for _, s := range contacts {
		cs = append(cs, detecttest.Contact(t, s))
	}
	return detecttest.Run(t, d, cs...)
}

func TestClient(t *testing.T) {
	fs := run(t,
		"10.0.0.5:40000 > 198.51.100.1:9001 tcp data t=100 i-0abc",
		"10.0.0.5:40001 > 198.51.100.2:9001 tcp data t=110 i-0abc",
		"10.0.0.5:40002 > 198.51.100.3:443 tcp data t=120 i-0abc",      // a relay's address, not its ORPort
		"10.0.0.5:40003 > 198.51.100.4:9001 tcp rejected t=130 i-0abc", // blocked: no Tor
		"10.0.0.5:40004 > 203.0.113.5:9001 tcp data t=140 i-0abc",      // a custom list: threatlist's
	)
	if len(fs) != 1 {
		t.Fatalf("%d findings, want 1", len(fs))
	}
	f := fs[0]
	if f.Type != finding.TypeTorClient || f.Severity != finding.SeverityHigh || f.Service.Count != 2 || f.Service.ResourceRole != finding.RoleActor {
		t.Errorf("%s severity %v count %d role %s", f.Type, f.Severity, f.Service.Count, f.Service.ResourceRole)
	}
	if ev := f.Service.Evidence.ThreatIntelligenceDetails; len(ev) != 1 || ev[0].ThreatListName != "tor-relays" {
		t.Errorf("evidence %+v", ev)
	}
	exp := f.Service.AdditionalInfo.Explanation
	if exp.ThreatListName != "tor-relays" || len(exp.Hosts) != 2 || exp.Hosts[0] != "198.51.100.1:9001" {
		t.Errorf("explanation %+v", exp)
	}
}

// Issue 12: the finding says what the Tor list names: relays, or exit
// nodes for the Tor Project's exit list.
func TestClientSaysWhatTheListNames(t *testing.T) {
	for _, tt := range []struct{ to, name, summary string }{
		{"198.51.100.1", "Tor relay", "relay(s) on Tor list tor-relays,"},
		{"198.51.100.21", "Tor exit node", "relay(s) on Tor list tor-exits (a list of Tor exit nodes),"},
	} {
		fs := run(t, "10.0.0.5:40000 > "+tt.to+":9001 tcp data t=100 i-0abc")
		if len(fs) != 1 {
			t.Fatalf("%s: %d findings, want 1", tt.to, len(fs))
		}
		exp := fs[0].Service.AdditionalInfo.Explanation
		if exp.ThreatName != tt.name || !strings.Contains(exp.Summary, tt.summary) {
			t.Errorf("%s: threat name %q, summary %q; want %q, %q", tt.to, exp.ThreatName, exp.Summary, tt.name, tt.summary)
		}
	}
}

func TestRelay(t *testing.T) {
	var cs []string
	for i := 1; i <= 4; i++ {
		// relays connect to our ORPort, and we to theirs
		cs = append(cs,
			"198.51.100."+strconv.Itoa(i)+":5000 > 10.0.0.5:9001 tcp data t="+strconv.Itoa(100+i)+" i-0relay in",
			"10.0.0.5:40000 > 198.51.100."+strconv.Itoa(10+i)+":9001 tcp data t="+strconv.Itoa(200+i)+" i-0relay")
	}
	fs := run(t, cs...)
	types := map[string]*finding.Finding{}
	for _, f := range fs {
		types[f.Type] = f
	}
	r := types[finding.TypeTorRelay]
	if r == nil {
		t.Fatalf("no TorRelay finding among %d", len(fs))
	}
	exp := r.Service.AdditionalInfo.Explanation
	if exp.Counts["relays_in"] != 4 || exp.Counts["relays_out"] != 4 || len(exp.Hosts) != 8 || exp.ThreatListName != "tor-relays" {
		t.Errorf("explanation %+v", exp)
	}
	// The first five contacts, in both directions, kept as evidence.
	if len(exp.Samples) != maxSamples ||
		exp.Samples[0].Record != "198.51.100.1:5000 -> 10.0.0.5:9001 TCP data (3 pkts out / 2 back)" ||
		exp.Samples[1].Record != "10.0.0.5:40000 -> 198.51.100.11:9001 TCP data (3 pkts out / 2 back)" ||
		exp.Samples[1].Time != "1970-01-01T00:03:21Z" {
		t.Errorf("samples %+v", exp.Samples)
	}
	if types[finding.TypeTorClient] == nil {
		t.Error("a relay also connects to relays as a client does: TorClient too")
	}
}

// A web server that Tor users visit sees exits connect in, and never
// connects out to relays: no relay.
func TestVisitedThroughTorIsNoRelay(t *testing.T) {
	var cs []string
	for i := 1; i <= 10; i++ {
		cs = append(cs, "198.51.100."+strconv.Itoa(i)+":5000 > 10.0.0.5:443 tcp data t="+strconv.Itoa(100+i)+" in")
	}
	if fs := run(t, cs...); len(fs) != 0 {
		t.Errorf("%d findings: %s", len(fs), fs[0].Title)
	}
}

func TestStateRoundTrip(t *testing.T) {
	env := detecttest.Env(nil)
	env.Intel = relays{}
	a, _ := New(env)
	a.Observe(detecttest.Contact(t, "10.0.0.5:40000 > 198.51.100.1:9001 tcp data t=100"), func(*finding.Finding) {})
	b, err := a.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	r, _ := New(env)
	if err := r.UnmarshalState(b); err != nil {
		t.Fatal(err)
	}
	if fs := detecttest.Run(t, r); len(fs) != 1 || fs[0].Type != finding.TypeTorClient {
		t.Fatalf("after restore: %+v", fs)
	}
}
