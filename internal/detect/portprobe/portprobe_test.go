package portprobe

import (
	"net/netip"
	"testing"

	"picket/internal/detect"
	"picket/internal/event"
	"picket/internal/finding"
)

var (
	eni     = event.Intern("eni-0aaa")
	account = event.Intern("123456789012")
	region  = event.Intern("eu-west-1")
	local   = netip.MustParseAddr("10.0.0.5")
)

func probe(remote string, port uint16, out event.Outcome, t event.Time) *event.Contact {
	return &event.Contact{
		Interface: eni, Account: account, Region: region, Instance: event.Intern("i-0123"),
		Protocol: event.ProtoTCP, Initiator: netip.MustParseAddr(remote), IPort: 40000,
		Responder: local, RPort: port, Local: local, Inbound: true, Start: t, End: t, Outcome: out,
		Origin: event.Origin{File: event.Intern("flows.log"), Line: int64(t)},
	}
}

type fakeIntel struct {
	trusted map[netip.Addr]bool
	threat  map[netip.Addr]detect.ThreatMatch
}

func (f fakeIntel) Trusted(a netip.Addr) bool { return f.trusted[a] }
func (f fakeIntel) Threat(a netip.Addr) (detect.ThreatMatch, bool) {
	m, ok := f.threat[a]
	return m, ok
}

func run(t *testing.T, env detect.Env, contacts ...*event.Contact) []*finding.Finding {
	t.Helper()
	env.DetectorID = finding.DetectorID
	d, err := New(env)
	if err != nil {
		t.Fatal(err)
	}
	set := finding.NewSet()
	emit := func(f *finding.Finding) { set.Add(f) }
	for _, c := range contacts {
		d.Observe(c, emit)
	}
	d.Advance(event.Forever, emit)
	return set.Sorted()
}

func TestScannerReachingAnOpenPort(t *testing.T) {
	var cs []*event.Contact
	for i, p := range []uint16{23, 3389, 445, 21, 25} {
		cs = append(cs, probe("198.51.100.7", p, event.OutcomeRejected, event.Time(100+i)))
	}
	cs = append(cs, probe("198.51.100.7", 22, event.OutcomeEstablished, 110))
	fs := run(t, detect.Env{}, cs...)
	if len(fs) != 1 {
		t.Fatalf("got %d findings, want 1", len(fs))
	}
	f := fs[0]
	if f.Type != finding.TypePortProbeUnprotectedPort || f.Resource.InstanceDetails.InstanceID != "i-0123" {
		t.Errorf("type %s on %s", f.Type, f.Resource.InstanceDetails.InstanceID)
	}
	d := f.Service.Action.PortProbeAction.PortProbeDetails
	if len(d) != 1 || d[0].LocalPortDetails.Port != 22 || d[0].LocalPortDetails.PortName != "SSH" || d[0].RemoteIPDetails.IPAddressV4 != "198.51.100.7" || d[0].LocalIPDetails.IPAddressV4 != "10.0.0.5" {
		t.Errorf("details %+v", d)
	}
	if f.Severity != finding.SeverityMedium {
		t.Errorf("severity %v: a prober that was blocked first and then got through is Medium", f.Severity)
	}
	e := f.Service.AdditionalInfo.Explanation
	if e == nil || e.Counts["rejected_contacts"] != 5 || e.Counts["failed_first_contacts"] != 5 {
		t.Errorf("explanation %+v", e)
	}
	if f.Service.EventFirstSeen.Unix() != 110 || f.Service.Count != 1 {
		t.Errorf("first seen %v, count %d", f.Service.EventFirstSeen, f.Service.Count)
	}
}

func TestQuietCases(t *testing.T) {
	tests := []struct {
		name     string
		env      detect.Env
		contacts []*event.Contact
	}{
		{"one client with a real session", detect.Env{}, []*event.Contact{probe("198.51.100.7", 22, event.OutcomeData, 100)}},
		{"a client retrying one port", detect.Env{}, []*event.Contact{
			probe("198.51.100.7", 8443, event.OutcomeRefused, 100), probe("198.51.100.7", 8443, event.OutcomeRefused, 101),
			probe("198.51.100.7", 8443, event.OutcomeRefused, 102), probe("198.51.100.7", 8443, event.OutcomeRefused, 103),
			probe("198.51.100.7", 22, event.OutcomeEstablished, 104),
		}},
		{"web ports are meant to be open", detect.Env{}, append(rejectedProbes("198.51.100.7", 6),
			probe("198.51.100.7", 443, event.OutcomeEstablished, 200), probe("198.51.100.7", 80, event.OutcomeEstablished, 201))},
		{"internal sources are not internet probes", detect.Env{}, append(rejectedProbes("10.0.3.3", 6), probe("10.0.3.3", 22, event.OutcomeEstablished, 200))},
		{"trusted lists silence a scanner", detect.Env{Intel: fakeIntel{trusted: map[netip.Addr]bool{netip.MustParseAddr("198.51.100.7"): true}}},
			append(rejectedProbes("198.51.100.7", 6), probe("198.51.100.7", 22, event.OutcomeEstablished, 200))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if fs := run(t, tt.env, tt.contacts...); len(fs) != 0 {
				t.Errorf("got %d findings, want none: %s", len(fs), fs[0].Description)
			}
		})
	}
}

func rejectedProbes(remote string, n int) []*event.Contact {
	var cs []*event.Contact
	for i := 0; i < n; i++ {
		cs = append(cs, probe(remote, uint16(1000+i), event.OutcomeRejected, event.Time(100+i)))
	}
	return cs
}

// A host the estate contacted first (a server of ours, a partner) is a
// friend: its traffic back is never probing.
func TestFriendsAreExempt(t *testing.T) {
	out := &event.Contact{Interface: eni, Protocol: event.ProtoTCP, Initiator: local, Responder: netip.MustParseAddr("198.51.100.7"),
		IPort: 50000, RPort: 443, Local: local, Start: 90, End: 90, Outcome: event.OutcomeData}
	cs := append([]*event.Contact{out}, rejectedProbes("198.51.100.7", 6)...)
	cs = append(cs, probe("198.51.100.7", 22, event.OutcomeEstablished, 200))
	if fs := run(t, detect.Env{}, cs...); len(fs) != 0 {
		t.Errorf("a friend raised %d findings", len(fs))
	}
}

func TestSensitivePortIsHigh(t *testing.T) {
	cs := append(rejectedProbes("198.51.100.7", 4), probe("198.51.100.7", 9200, event.OutcomeEstablished, 200))
	fs := run(t, detect.Env{}, cs...)
	if len(fs) != 1 || fs[0].Severity != finding.SeverityHigh {
		t.Fatalf("want one High finding for Elasticsearch, got %d", len(fs))
	}
}

// Several internet hosts probing the same open port mark it as probed even
// when no single host crossed the scanner threshold.
func TestManySourcesOnOnePort(t *testing.T) {
	fs := run(t, detect.Env{},
		probe("198.51.100.1", 2222, event.OutcomeEstablished, 100),
		probe("198.51.100.2", 2222, event.OutcomeEstablished, 200),
		probe("198.51.100.3", 2222, event.OutcomeEstablished, 300),
	)
	if len(fs) != 1 {
		t.Fatalf("got %d findings, want 1", len(fs))
	}
	if n := len(fs[0].Service.Action.PortProbeAction.PortProbeDetails); n != 3 {
		t.Errorf("%d details; the hits held before the port crossed the threshold must be reported too", n)
	}
	fs = run(t, detect.Env{}, probe("198.51.100.1", 2222, event.OutcomeEstablished, 100), probe("198.51.100.2", 2222, event.OutcomeEstablished, 200))
	if len(fs) != 0 {
		t.Error("two hosts are below min_sources_per_port")
	}
}

func TestThreatListNamesTheList(t *testing.T) {
	intel := fakeIntel{threat: map[netip.Addr]detect.ThreatMatch{
		netip.MustParseAddr("198.51.100.7"): {ListName: "scanners", ThreatNames: []string{"ActiveScanner"}},
	}}
	fs := run(t, detect.Env{Intel: intel}, probe("198.51.100.7", 22, event.OutcomeEstablished, 100))
	if len(fs) != 1 {
		t.Fatalf("a listed scanner's first probe should report: %d findings", len(fs))
	}
	ev := fs[0].Service.Evidence
	if ev == nil || ev.ThreatIntelligenceDetails[0].ThreatListName != "scanners" {
		t.Errorf("evidence %+v", ev)
	}
}

func TestThresholdOverrides(t *testing.T) {
	if _, err := New(detect.Env{Thresholds: map[string]float64{"min_probes": 0}}); err == nil {
		t.Error("min_probes 0 accepted")
	}
	if _, err := New(detect.Env{Thresholds: map[string]float64{"no_such": 1}}); err == nil {
		t.Error("unknown threshold accepted")
	}
	if _, err := New(detect.Env{Thresholds: map[string]float64{"trw_theta1": 0.9}}); err == nil {
		t.Error("theta1 above theta0 accepted")
	}
}

// Hits held while a host was undecided are reported when a later failed
// contact decides it, even though that contact reached no open port.
func TestHeldHitsReportedOnLaterVerdict(t *testing.T) {
	cs := []*event.Contact{probe("198.51.100.7", 22, event.OutcomeEstablished, 100)}
	cs = append(cs, rejectedProbes("198.51.100.7", 5)...)
	fs := run(t, detect.Env{}, cs...)
	if len(fs) != 1 || fs[0].Service.Action.PortProbeAction.PortProbeDetails[0].LocalPortDetails.Port != 22 {
		t.Fatalf("%d findings; the open port probed first must be reported once the host is a scanner", len(fs))
	}
}

// A flood of spoofed sources stays within max_sources, and a real scanner
// in the flood is still found.
func TestFloodIsBounded(t *testing.T) {
	d, err := New(detect.Env{DetectorID: finding.DetectorID, Thresholds: map[string]float64{"max_sources": 1000}})
	if err != nil {
		t.Fatal(err)
	}
	set := finding.NewSet()
	emit := func(f *finding.Finding) { set.Add(f) }
	scanner := "203.0.113.66"
	for i := 0; i < 200_000; i++ {
		a := netip.AddrFrom4([4]byte{byte(11 + i>>16), byte(i >> 8), byte(i), 1})
		c := probe(a.String(), uint16(1+i%1000), event.OutcomeRejected, event.Time(1000+i/1000))
		d.Observe(c, emit)
		if i%20_000 == 0 {
			// The scanner's probes are spread through the flood.
			d.Observe(probe(scanner, uint16(5000+i/20_000), event.OutcomeRejected, event.Time(1000+i/1000)), emit)
		}
	}
	d.Observe(probe(scanner, 22, event.OutcomeEstablished, 1300), emit)
	d.Advance(event.Forever, emit)
	st := d.State()[0]
	if st.Len > 1000 || st.Evicted < 199_000 {
		t.Errorf("sources table %+v: want at most 1000 entries and the rest evicted", st)
	}
	if set.Len() != 1 {
		t.Fatalf("the scanner inside the flood was missed: %d findings", set.Len())
	}
}

// TestHitEvidenceKeepsProtocol: a hit held before its source was judged
// renders as evidence with the protocol of its contact (a UDP probe's
// sample says UDP), and a hit restored from state saved before the
// protocol was kept says TCP, as it always did.
func TestHitEvidenceKeepsProtocol(t *testing.T) {
	for _, tc := range []struct {
		proto, want uint8
	}{{event.ProtoUDP, event.ProtoUDP}, {event.ProtoTCP, event.ProtoTCP}, {0, event.ProtoTCP}} {
		h := hit{Proto: tc.proto, Port: 161, Rport: 40000}
		if got := h.evidence().Protocol; got != tc.want {
			t.Errorf("hit of protocol %d: evidence says %d, want %d", tc.proto, got, tc.want)
		}
	}
}
