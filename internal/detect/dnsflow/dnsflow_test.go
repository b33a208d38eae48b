package dnsflow

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"picket/internal/detect"
	"picket/internal/event"
	"picket/internal/finding"
)

var (
	acct   = event.Intern("123456789012")
	region = event.Intern("us-east-1")
	file   = event.Intern("flows.log")
	t0     = event.TimeOf(time.Date(2026, 3, 5, 12, 0, 0, 0, time.UTC))
)

func newDetector(t *testing.T, allowed ...string) *Detector {
	t.Helper()
	env := detect.Env{DetectorID: finding.DetectorID}
	if allowed != nil {
		env.Allowlists = map[string][]string{"allowed_resolvers": allowed}
	}
	d, err := New(env)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// conv is a conversation of an instance's interface: out when the
// instance started it, to remote's port.
type conv struct {
	iface, instance string
	local, remote   string
	port            uint16
	proto           uint8
	out             bool
	outcome         event.Outcome
	at              event.Time // seconds after t0
}

var line int64

func (c conv) contact() *event.Contact {
	line++
	ct := &event.Contact{
		Origin: event.Origin{File: file, Line: line}, Latest: event.Origin{File: file, Line: line},
		Interface: event.Intern(c.iface), Instance: event.Intern(c.instance), Account: acct, Region: region,
		Protocol: c.proto, Local: netip.MustParseAddr(c.local), Inbound: !c.out,
		Start: t0 + c.at, End: t0 + c.at + 1, Outcome: c.outcome, Basis: event.InitiatorPorts,
		Fwd: event.Half{Packets: 6, Bytes: 600, Records: 1}, Rev: event.Half{Packets: 6, Bytes: 900, Records: 1},
	}
	if ct.Protocol == 0 {
		ct.Protocol = event.ProtoUDP
	}
	if ct.Outcome == event.OutcomeUnknown {
		ct.Outcome = event.OutcomeEstablished
		if ct.Protocol == event.ProtoTCP {
			ct.Outcome = event.OutcomeData
		}
	}
	remote := netip.MustParseAddr(c.remote)
	if c.out {
		ct.Initiator, ct.IPort, ct.Responder, ct.RPort = ct.Local, 40000+uint16(line%20000), remote, c.port
	} else {
		ct.Initiator, ct.IPort, ct.Responder, ct.RPort = remote, 40000+uint16(line%20000), ct.Local, c.port
	}
	return ct
}

// run feeds the conversations in order and returns the reports, as
// "type resource remote count".
func run(t *testing.T, d *Detector, convs ...conv) []string {
	t.Helper()
	var got []string
	emit := func(f *finding.Finding) {
		if f.Service.Action.NetworkConnectionAction == nil {
			t.Fatalf("%s has no networkConnectionAction", f.Type)
		}
		nc := f.Service.Action.NetworkConnectionAction
		got = append(got, f.Type+" "+f.Resource.InstanceDetails.InstanceID+" "+nc.RemoteIPDetails.IPAddressV4+nc.RemoteIPDetails.IPAddressV6+
			" "+nc.ConnectionDirection+" "+nc.Protocol+" "+strings.Repeat("+", int(f.Service.Count)))
	}
	for _, c := range convs {
		d.Observe(c.contact(), emit)
	}
	d.Advance(event.Forever, emit)
	return got
}

const (
	web    = "eni-0web"
	webIns = "i-0web"
)

func out(remote string, port uint16, proto uint8) conv {
	return conv{iface: web, instance: webIns, local: "10.0.1.10", remote: remote, port: port, proto: proto, out: true}
}

func TestClassify(t *testing.T) {
	udp, tcp := event.ProtoUDP, event.ProtoTCP
	for _, tc := range []struct {
		name  string
		convs []conv
		want  []string
	}{
		{"public resolver over UDP", []conv{out("8.8.8.8", 53, udp)},
			[]string{"DefenseEvasion:EC2/UnusualDNSResolver i-0web 8.8.8.8 OUTBOUND UDP +"}},
		{"public resolver over TCP", []conv{out("203.0.113.53", 53, tcp)},
			[]string{"DefenseEvasion:EC2/UnusualDNSResolver i-0web 203.0.113.53 OUTBOUND TCP +"}},
		{"VPC resolver", []conv{out("169.254.169.253", 53, udp), out("10.0.0.2", 53, udp)}, nil},
		{"VPC resolver over IPv6", []conv{out("fd00:ec2::253", 53, udp)}, nil},
		{"on-premises and shared-space resolvers", []conv{out("192.168.10.3", 53, udp), out("100.64.0.53", 53, tcp), out("172.16.0.2", 853, tcp)}, nil},
		{"answered from our port 53: we are the resolver", []conv{
			{iface: web, instance: webIns, local: "10.0.1.10", remote: "8.8.8.8", port: 53, out: false}}, nil},
		{"unanswered query", []conv{func() conv { c := out("8.8.8.8", 53, udp); c.outcome = event.OutcomeUnanswered; return c }()}, nil},
		{"rejected query", []conv{func() conv { c := out("8.8.8.8", 53, udp); c.outcome = event.OutcomeRejected; return c }()}, nil},
		{"scan probe of an open port 53 carries no data", []conv{func() conv {
			c := out("198.51.100.7", 53, tcp)
			c.outcome = event.OutcomeEstablished
			return c
		}()}, nil},
		{"DoH resolver on 443", []conv{out("1.1.1.1", 443, tcp)},
			[]string{"DefenseEvasion:EC2/UnusualDoHActivity i-0web 1.1.1.1 OUTBOUND TCP +"}},
		{"DoH resolver on 443 over IPv6", []conv{
			{iface: web, instance: webIns, local: "2600:1f18::10", remote: "2606:4700:4700::1111", port: 443, proto: tcp, out: true}},
			[]string{"DefenseEvasion:EC2/UnusualDoHActivity i-0web 2606:4700:4700::1111 OUTBOUND TCP +"}},
		{"DoH resolver in a listed prefix", []conv{out("45.90.28.77", 443, tcp)},
			[]string{"DefenseEvasion:EC2/UnusualDoHActivity i-0web 45.90.28.77 OUTBOUND TCP +"}},
		{"DoH over HTTP/3", []conv{out("8.8.4.4", 443, udp)},
			[]string{"DefenseEvasion:EC2/UnusualDoHActivity i-0web 8.8.4.4 OUTBOUND UDP +"}},
		{"ordinary HTTPS", []conv{out("93.184.216.34", 443, tcp), out("1.1.1.5", 443, tcp)}, nil},
		{"DoT", []conv{out("9.9.9.9", 853, tcp)},
			[]string{"DefenseEvasion:EC2/UnusualDoTActivity i-0web 9.9.9.9 OUTBOUND TCP +"}},
		{"DoT to an unlisted address", []conv{out("203.0.113.9", 853, tcp)},
			[]string{"DefenseEvasion:EC2/UnusualDoTActivity i-0web 203.0.113.9 OUTBOUND TCP +"}},
		{"DoT over IPv6", []conv{{iface: web, instance: webIns, local: "2600:1f18::10", remote: "2001:db8::853", port: 853, proto: tcp, out: true}},
			[]string{"DefenseEvasion:EC2/UnusualDoTActivity i-0web 2001:db8::853 OUTBOUND TCP +"}},
		{"other ports", []conv{out("8.8.8.8", 80, tcp), out("8.8.8.8", 5353, udp), out("8.8.8.8", 123, udp)}, nil},
		{"not a host", []conv{out("224.0.0.251", 53, udp), out("255.255.255.255", 53, udp)}, nil},
		{"one finding per resolver, counting its conversations", []conv{
			out("8.8.8.8", 53, udp), out("8.8.8.8", 53, udp), out("8.8.4.4", 53, udp)},
			[]string{
				"DefenseEvasion:EC2/UnusualDNSResolver i-0web 8.8.4.4 OUTBOUND UDP +",
				"DefenseEvasion:EC2/UnusualDNSResolver i-0web 8.8.8.8 OUTBOUND UDP ++",
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, newDetector(t), tc.convs...)
			slices.Sort(got)
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("findings (-want +got):\n%s", d)
			}
		})
	}
}

func TestAllowlist(t *testing.T) {
	d := newDetector(t, "8.8.8.0/24", "2001:db8::53", " 9.9.9.9 ", "185.0.0.0/8")
	got := run(t, d,
		out("8.8.8.8", 53, event.ProtoUDP), out("8.8.8.8", 443, event.ProtoTCP), out("185.228.168.9", 443, event.ProtoTCP),
		conv{iface: web, instance: webIns, local: "2600:1f18::10", remote: "2001:db8::53", port: 853, proto: event.ProtoTCP, out: true},
		out("9.9.9.9", 853, event.ProtoTCP),
		out("1.1.1.1", 53, event.ProtoUDP))
	want := []string{"DefenseEvasion:EC2/UnusualDNSResolver i-0web 1.1.1.1 OUTBOUND UDP +"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("findings (-want +got):\n%s", d)
	}
	_, err := New(detect.Env{DetectorID: finding.DetectorID, Allowlists: map[string][]string{"allowed_resolvers": {"8.8.8.8", "not-an-address", "10.0.0.0/33"}}})
	if err == nil || !strings.Contains(err.Error(), `"not-an-address", "10.0.0.0/33"`) {
		t.Errorf("bad allowlist: error %v, want both bad entries named", err)
	}
}

// A resolver instance forwards its clients' queries to public servers
// through a NAT gateway: neither the resolver nor the gateway's copy of
// its queries is reported, while an instance that queries a public
// server itself is.
func TestForwarders(t *testing.T) {
	resolver := func(c conv) conv {
		c.iface, c.instance, c.local = "eni-0dns", "i-0dns", "10.0.2.53"
		return c
	}
	nat := func(c conv) conv {
		c.iface, c.instance, c.local = "eni-0nat", "", "10.0.1.6"
		return c
	}
	convs := []conv{
		// A client asks the resolver ...
		{iface: "eni-0dns", instance: "i-0dns", local: "10.0.2.53", remote: "10.0.1.10", port: 53, at: 1},
		// ... which asks upstream, seen on its interface and the NAT's.
		resolver(out("192.0.2.53", 53, event.ProtoUDP)),
		nat(out("192.0.2.53", 53, event.ProtoUDP)),
		// An instance that asks a public server itself, also through
		// the NAT gateway.
		out("8.8.8.8", 53, event.ProtoUDP),
		nat(out("8.8.8.8", 53, event.ProtoUDP)),
	}
	for i := range convs[1:] {
		convs[i+1].at = 2
	}
	d := newDetector(t)
	got := run(t, d, convs...)
	want := []string{"DefenseEvasion:EC2/UnusualDNSResolver i-0web 8.8.8.8 OUTBOUND UDP +"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	server, path, nonWorkload := d.Suppressed()
	if server != 1 || path != 1 || nonWorkload != 1 {
		t.Errorf("suppressed: server %d, path %d, not a workload %d; want 1 each", server, path, nonWorkload)
	}

	// Without instance IDs (version 2 flow logs), the NAT gateway's copy
	// of an instance's own queries cannot be told from an instance's.
	strip := func(cs []conv) []conv {
		out := slices.Clone(cs)
		for i := range out {
			out[i].instance = ""
		}
		return out
	}
	got = run(t, newDetector(t), strip(convs)...)
	slices.Sort(got)
	want = []string{
		"DefenseEvasion:EC2/UnusualDNSResolver  8.8.8.8 OUTBOUND UDP +",
		"DefenseEvasion:EC2/UnusualDNSResolver  8.8.8.8 OUTBOUND UDP +",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("version 2 findings (-want +got):\n%s", diff)
	}
}

// Reports are made per report interval at the watermark, whatever the
// order the conversations arrive in; the finding's count grows with each.
func TestReportsPerInterval(t *testing.T) {
	convs := []conv{out("8.8.8.8", 53, event.ProtoUDP), out("8.8.8.8", 53, event.ProtoUDP), out("8.8.8.8", 53, event.ProtoUDP)}
	convs[0].at, convs[1].at, convs[2].at = 5, 70, 20

	// By default five minutes: one report of the three.
	d := newDetector(t)
	var reports []*finding.Finding
	emit := func(f *finding.Finding) { reports = append(reports, f) }
	for _, c := range convs {
		d.Observe(c.contact(), emit)
	}
	d.Advance(t0+299, emit)
	if len(reports) != 0 {
		t.Fatalf("%d reports before the interval ended", len(reports))
	}
	d.Advance(t0+300, emit)
	if len(reports) != 1 || reports[0].Service.Count != 3 {
		t.Fatalf("at the end of the interval: %d reports, want one of 3 conversations", len(reports))
	}

	for _, bad := range []float64{90, 59, 3601} {
		if _, err := New(detect.Env{DetectorID: finding.DetectorID, Thresholds: map[string]float64{"report_interval": bad}}); err == nil {
			t.Errorf("report_interval %g accepted", bad)
		}
	}

	// Per minute.
	d, err := New(detect.Env{DetectorID: finding.DetectorID, Thresholds: map[string]float64{"report_interval": 60}})
	if err != nil {
		t.Fatal(err)
	}
	reports = nil
	for _, c := range convs {
		d.Observe(c.contact(), emit)
	}
	d.Advance(t0+60, emit)
	if len(reports) != 1 || reports[0].Service.Count != 2 {
		t.Fatalf("at the end of the first minute: %d reports, want one of 2 conversations", len(reports))
	}
	d.Advance(t0+120, emit)
	if len(reports) != 2 || reports[1].Service.Count != 1 || reports[0].ID != reports[1].ID {
		t.Fatalf("at the end of the second minute: %d reports, want a second of the same finding", len(reports))
	}
	f := reports[0]
	exp := f.Service.AdditionalInfo.Explanation
	if exp.Detector != ID || len(exp.Samples) != 2 || exp.Samples[0].Origin > exp.Samples[1].Origin {
		t.Errorf("explanation: %+v", exp)
	}
	if got := exp.Counts["conversations"]; got != 2 {
		t.Errorf("conversations %d, want 2", got)
	}
	if got := reports[1].Service.AdditionalInfo.Explanation.Counts["conversations"]; got != 3 {
		t.Errorf("conversations after the second report %d, want 3", got)
	}
	nc := f.Service.Action.NetworkConnectionAction
	if nc.LocalNetworkInterface != web || nc.RemotePortDetails.Port != 53 || nc.LocalIPDetails.IPAddressV4 != "10.0.1.10" || nc.Blocked {
		t.Errorf("networkConnectionAction: %+v", nc)
	}
	if f.Severity != finding.SeverityMedium || f.Service.ResourceRole != finding.RoleActor {
		t.Errorf("severity %v, role %s", f.Severity, f.Service.ResourceRole)
	}
	if strings.Contains(f.Title, "{") || !strings.Contains(f.Title, "8.8.8.8") {
		t.Errorf("title %q", f.Title)
	}
}

func TestDoHList(t *testing.T) {
	r, err := parseDoH(dohList)
	if err != nil {
		t.Fatal(err)
	}
	if r.len() < 40 {
		t.Errorf("%d entries on the DoH list", r.len())
	}
	for _, a := range []string{"1.1.1.1", "8.8.8.8", "9.9.9.9", "2620:fe::fe", "2001:4860:4860::8888", "94.140.14.14", "2a07:a8c1::1"} {
		if !r.contains(netip.MustParseAddr(a)) {
			t.Errorf("%s is not on the DoH list", a)
		}
	}
	if m, ok := r.lookup(netip.MustParseAddr("2606:4700:4700::1111")); !ok || m.Operator != "Cloudflare" {
		t.Errorf("lookup: %+v %v", m, ok)
	}
	for _, a := range []string{"10.0.0.2", "93.184.216.34", "1.1.1.4"} {
		if r.contains(netip.MustParseAddr(a)) {
			t.Errorf("%s is on the DoH list", a)
		}
	}
	for _, bad := range []string{"1.2.3.4 Operator", "1.2.3.999 Operator svc", "fe80::1%eth0 Operator svc"} {
		if _, err := parseDoH([]byte("# comment\n" + bad + "\n")); err == nil || !strings.Contains(err.Error(), "doh.txt:2") {
			t.Errorf("%q: error %v, want one naming line 2", bad, err)
		}
	}
}

func TestBoundedAndRestored(t *testing.T) {
	env := detect.Env{DetectorID: finding.DetectorID, MaxKeys: 16}
	d, err := New(env)
	if err != nil {
		t.Fatal(err)
	}
	emit := func(*finding.Finding) {}
	for i := range 200 {
		c := out(netip.AddrFrom4([4]byte{8, 8, byte(i >> 8), byte(i)}).String(), 53, event.ProtoUDP)
		c.iface = "eni-" + string(rune('a'+i%26))
		d.Observe(c.contact(), emit)
	}
	var evicted uint64
	for _, s := range d.State() {
		if s.Len > s.Cap {
			t.Errorf("%s: %d entries over the cap of %d", s.Table, s.Len, s.Cap)
		}
		evicted += s.Evicted
	}
	if evicted == 0 {
		t.Error("no eviction counted")
	}
	b, err := d.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	r, _ := New(env)
	if err := r.UnmarshalState(b); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(d.State(), r.State()); diff != "" {
		t.Errorf("restored tables (-saved +restored):\n%s", diff)
	}
}

func TestObserveAllocations(t *testing.T) {
	d := newDetector(t)
	emit := func(*finding.Finding) {}
	cs := []*event.Contact{
		out("8.8.8.8", 53, event.ProtoUDP).contact(),
		out("1.1.1.1", 443, event.ProtoTCP).contact(),
		out("93.184.216.34", 443, event.ProtoTCP).contact(),
		out("10.0.0.2", 53, event.ProtoUDP).contact(),
		{Protocol: event.ProtoTCP, RPort: 22, Outcome: event.OutcomeData},
	}
	for _, c := range cs {
		d.Observe(c, emit)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		for _, c := range cs {
			d.Observe(c, emit)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per round of %d contacts, want none once warm", allocs, len(cs))
	}
}

// Records the detector cannot use are ignored, never a crash.
func TestBadInput(t *testing.T) {
	d := newDetector(t)
	emit := func(f *finding.Finding) { t.Errorf("finding %s from bad input", f.Type) }
	for _, rec := range []event.Record{
		&event.Contact{},
		&event.Contact{RPort: 53, Protocol: event.ProtoUDP, Outcome: event.OutcomeEstablished},
		&event.Contact{RPort: 443, Protocol: event.ProtoTCP, Outcome: event.OutcomeData, Responder: netip.MustParseAddr("0.0.0.0")},
		&event.Contact{RPort: 853, Protocol: event.ProtoTCP, Outcome: event.OutcomeData, Responder: netip.IPv6Unspecified()},
		&event.Contact{RPort: 53, Inbound: true, Protocol: event.ProtoUDP, Outcome: event.OutcomeEstablished},
		&event.Flow{DstPort: 53, Protocol: event.ProtoUDP, Dst: netip.MustParseAddr("8.8.8.8")},
	} {
		d.Observe(rec, emit)
	}
	d.Advance(event.Forever, emit)
}
