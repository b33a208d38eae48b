package threatlist

import (
	"net/netip"
	"testing"

	"picket/internal/detect"
	"picket/internal/detect/detecttest"
	"picket/internal/event"
	"picket/internal/finding"
)

// lists is a fake detect.Intel: exact addresses.
type lists struct {
	threat  map[string]detect.ThreatMatch
	trusted map[string]bool
}

func (l lists) Trusted(a netip.Addr) bool { return l.trusted[a.String()] }
func (l lists) Threat(a netip.Addr) (detect.ThreatMatch, bool) {
	if l.trusted[a.String()] {
		return detect.ThreatMatch{}, false
	}
	m, ok := l.threat[a.String()]
	return m, ok
}

var intel = lists{
	threat: map[string]detect.ThreatMatch{
		"198.51.100.7": {ListName: "botnets", ThreatNames: []string{"ExampleBot"}, FileSHA256: "abc", Purpose: "C2", Score: 90},
		"203.0.113.9":  {ListName: "scanners"},
		"192.0.2.66":   {ListName: "both", ThreatNames: []string{"x"}},
		"192.0.2.99":   {ListName: "tor-exits", Kind: detect.ThreatTor},
		"10.9.9.9":     {ListName: "private"},
	},
	trusted: map[string]bool{"192.0.2.66": true},
}

func run(t *testing.T, thresholds map[string]float64, contacts ...string) []*finding.Finding {
	t.Helper()
	env := detecttest.Env(thresholds)
	env.Intel = intel
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

func TestDirectionsAndSeverity(t *testing.T) {
	fs := run(t, nil,
		// our instance calls a listed C2 server, twice
		"10.0.0.5:40000 > 198.51.100.7:443 tcp data t=100 i-0abc",
		"10.0.0.5:40001 > 198.51.100.7:443 tcp data t=160 i-0abc",
		// a listed scanner is blocked, then reaches SSH
		"203.0.113.9:5000 > 10.0.0.5:23 tcp rejected t=200 i-0abc in",
		"203.0.113.9:5001 > 10.0.0.5:22 tcp established t=210 i-0abc in",
		// the C2 server calls back in, and is refused
		"198.51.100.7:6000 > 10.0.0.5:8080 tcp refused t=300 i-0abc in",
	)
	if len(fs) != 3 {
		for _, f := range fs {
			t.Log(f.Title)
		}
		t.Fatalf("%d findings, want 3 (out to the C2, in from the scanner, in from the C2)", len(fs))
	}
	byKey := map[string]*finding.Finding{}
	for _, f := range fs {
		nc := f.Service.Action.NetworkConnectionAction
		byKey[nc.ConnectionDirection+" "+nc.RemoteIPDetails.IPAddressV4] = f
		if f.Type != finding.TypeEC2MaliciousIPCustom || f.Resource.InstanceDetails.InstanceID != "i-0abc" {
			t.Errorf("%s on %s", f.Type, f.Resource.InstanceDetails.InstanceID)
		}
	}
	out := byKey["OUTBOUND 198.51.100.7"]
	if out == nil || out.Severity != finding.SeverityMedium || out.Service.Count != 2 || out.Service.ResourceRole != finding.RoleActor {
		t.Fatalf("outbound finding: %+v", out)
	}
	ev := out.Service.Evidence.ThreatIntelligenceDetails
	if len(ev) != 1 || ev[0].ThreatListName != "botnets" || ev[0].ThreatNames[0] != "ExampleBot" || ev[0].ThreatFileSha256 != "abc" {
		t.Errorf("evidence %+v", ev)
	}
	exp := out.Service.AdditionalInfo.Explanation
	if exp.ThreatListName != "botnets" || exp.ThreatName != "ExampleBot" || exp.Counts["data_exchanged"] != 2 || len(exp.Samples) != 2 {
		t.Errorf("explanation %+v", exp)
	}
	if out.Service.Action.NetworkConnectionAction.RemotePortDetails.Port != 443 {
		t.Errorf("remote port %+v", out.Service.Action.NetworkConnectionAction.RemotePortDetails)
	}
	scan := byKey["INBOUND 203.0.113.9"]
	if scan == nil || scan.Severity != finding.SeverityMedium || scan.Service.Count != 2 || scan.Service.ResourceRole != finding.RoleTarget {
		t.Fatalf("inbound scanner finding: %+v", scan)
	}
	if scan.Service.Action.NetworkConnectionAction.LocalPortDetails.Port != 22 {
		t.Errorf("local port %+v", scan.Service.Action.NetworkConnectionAction.LocalPortDetails)
	}
	refused := byKey["INBOUND 198.51.100.7"]
	if refused == nil || refused.Severity != finding.SeverityLow {
		t.Fatalf("an inbound attempt that reached no service is Low: %+v", refused)
	}
	if want := "EC2 instance i-0abc is communicating with 198.51.100.7, an address on threat list botnets."; out.Title != want {
		t.Errorf("title %q, want %q", out.Title, want)
	}
}

func TestBlockedOnlyIsLowOrSilent(t *testing.T) {
	blocked := []string{
		"203.0.113.9:5000 > 10.0.0.5:23 tcp rejected t=200 in",
		"203.0.113.9:5000 > 10.0.0.5:3389 tcp rejected t=201 in",
	}
	fs := run(t, nil, blocked...)
	if len(fs) != 1 || fs[0].Severity != finding.SeverityLow || !fs[0].Service.Action.NetworkConnectionAction.Blocked || fs[0].Service.Count != 2 {
		t.Fatalf("got %d findings: %+v", len(fs), fs)
	}
	if fs := run(t, map[string]float64{"report_blocked_inbound": 0}, blocked...); len(fs) != 0 {
		t.Errorf("report_blocked_inbound=0 still reports: %s", fs[0].Title)
	}
	// An outbound attempt that a security group blocked is still our
	// instance trying to reach a listed host: Medium.
	fs = run(t, nil, "10.0.0.5:40000 > 198.51.100.7:443 tcp rejected t=100")
	if len(fs) != 1 || fs[0].Severity != finding.SeverityMedium || !fs[0].Service.Action.NetworkConnectionAction.Blocked {
		t.Errorf("blocked outbound: %+v", fs)
	}
}

func TestQuiet(t *testing.T) {
	for name, c := range map[string]string{
		"unlisted":           "10.0.0.5:40000 > 198.51.100.8:443 tcp data t=100",
		"trusted wins":       "192.0.2.66:40000 > 10.0.0.5:22 tcp data t=100 in",
		"Tor is not .Custom": "10.0.0.5:40000 > 192.0.2.99:9001 tcp data t=100",
		"private addresses":  "10.9.9.9:40000 > 10.0.0.5:22 tcp data t=100 in",
	} {
		if fs := run(t, nil, c); len(fs) != 0 {
			t.Errorf("%s: %s", name, fs[0].Title)
		}
	}
	d, _ := New(detecttest.Env(nil)) // no lists loaded
	if fs := detecttest.Run(t, d, detecttest.Contact(t, "10.0.0.5:40000 > 198.51.100.7:443 tcp data t=100")); len(fs) != 0 {
		t.Error("findings without intel")
	}
}

// TestStateRoundTrip saves the state between two contacts of one pair:
// the restored detector reports the same finding as one that ran
// through.
func TestStateRoundTrip(t *testing.T) {
	env := detecttest.Env(nil)
	env.Intel = intel
	a, _ := New(env)
	emit := func(*finding.Finding) {}
	a.Observe(detecttest.Contact(t, "10.0.0.5:40000 > 198.51.100.7:443 tcp data t=100"), emit)
	b, err := a.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	r, _ := New(env)
	if err := r.UnmarshalState(b); err != nil {
		t.Fatal(err)
	}
	fs := detecttest.Run(t, r, detecttest.Contact(t, "10.0.0.5:40001 > 198.51.100.7:443 tcp data t=160"))
	if len(fs) != 1 || fs[0].Service.Count != 2 {
		t.Fatalf("after restore: %+v", fs)
	}
}
