package contact

import (
	"net/netip"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"

	"picket/internal/event"
	"picket/internal/finding"
)

// evidenceContacts are contacts with every field set, each with the
// sample contact.Sample made of it when detectors kept samples as text,
// before Evidence: a field Sample comes to show that Evidence does not
// keep, or a change to the text, fails TestEvidenceRendersAsSample.
func evidenceContacts() []struct {
	name string
	c    event.Contact
	want finding.Sample
} {
	full := event.Contact{
		Origin: event.Origin{File: event.Intern("s3://logs/a.log.gz"), Line: 123456}, Latest: event.Origin{File: event.Intern("b.log"), Line: 9},
		Interface: event.Intern("eni-0a"), Account: event.Intern("123456789012"), Region: event.Intern("eu-west-1"),
		VPC: event.Intern("vpc-1"), Subnet: event.Intern("subnet-1"), Instance: event.Intern("i-0a"),
		ECS:      event.ECS{TaskARN: event.Intern("arn:aws:ecs:eu-west-1:123456789012:task/c/1")},
		Protocol: event.ProtoTCP, Initiator: netip.MustParseAddr("10.0.1.5"), Responder: netip.MustParseAddr("10.0.2.9"),
		IPort: 45000, RPort: 22, Inbound: true, Local: netip.MustParseAddr("10.0.2.9"), PktLocal: netip.MustParseAddr("10.0.2.10"),
		Start: 1_700_000_000, End: 1_700_000_060,
		Fwd:     event.Half{Packets: 1 << 40, Bytes: 1 << 50, Flags: event.TCPSyn, Records: 3, Rejected: true, HasFlags: true},
		Rev:     event.Half{Packets: 7, Bytes: 420, Flags: event.TCPSyn | event.TCPAck, Records: 2, HasFlags: true},
		Outcome: event.OutcomeRefused, Basis: event.InitiatorSYN, Continued: true,
	}
	noFlags := full
	noFlags.Fwd.HasFlags, noFlags.Rev.HasFlags = false, false
	backFlags := full
	backFlags.Fwd.HasFlags = false
	v6 := full
	v6.Initiator, v6.Responder = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("fd00::9")
	mapped := full
	mapped.Initiator, mapped.Responder = netip.MustParseAddr("::ffff:198.51.100.7"), netip.MustParseAddr("fe80::1%eni0")
	mapped.Protocol, mapped.Outcome, mapped.Fwd.Flags, mapped.Rev.Flags = event.ProtoUDP, event.OutcomeData, 0, 0
	ping := full
	ping.Protocol, ping.IPort, ping.RPort, ping.Outcome = event.ProtoICMP, 0, 0, event.OutcomeUnanswered

	const origin, at = "s3://logs/a.log.gz:123456", "2023-11-14T22:13:20Z"
	return []struct {
		name string
		c    event.Contact
		want finding.Sample
	}{
		{"every field", full, finding.Sample{Origin: origin, Time: at,
			Record: "10.0.1.5:45000 -> 10.0.2.9:22 TCP refused (1099511627776 pkts out / 7 back, flags 2/18)"}},
		{"no flags", noFlags, finding.Sample{Origin: origin, Time: at,
			Record: "10.0.1.5:45000 -> 10.0.2.9:22 TCP refused (1099511627776 pkts out / 7 back)"}},
		{"flags only back", backFlags, finding.Sample{Origin: origin, Time: at,
			Record: "10.0.1.5:45000 -> 10.0.2.9:22 TCP refused (1099511627776 pkts out / 7 back, flags 2/18)"}},
		{"IPv6", v6, finding.Sample{Origin: origin, Time: at,
			Record: "[2001:db8::1]:45000 -> [fd00::9]:22 TCP refused (1099511627776 pkts out / 7 back, flags 2/18)"}},
		{"mapped and zoned", mapped, finding.Sample{Origin: origin, Time: at,
			Record: "[::ffff:198.51.100.7]:45000 -> [fe80::1%eni0]:22 UDP data (1099511627776 pkts out / 7 back, flags 0/0)"}},
		{"ICMP", ping, finding.Sample{Origin: origin, Time: at,
			Record: "10.0.1.5:0 -> 10.0.2.9:0 ICMP unanswered (1099511627776 pkts out / 7 back, flags 2/18)"}},
		{"zero", event.Contact{}, finding.Sample{Origin: ":0", Time: "1970-01-01T00:00:00Z",
			Record: "invalid IP:0 -> invalid IP:0 UNKNOWN unknown (0 pkts out / 0 back)"}},
	}
}

// Evidence kept of a contact renders as Sample renders the contact, and
// as it rendered before Evidence was: findings show the same samples
// whether their detector kept contacts as text or as evidence.
func TestEvidenceRendersAsSample(t *testing.T) {
	var kept []Evidence
	var want []finding.Sample
	for _, tt := range evidenceContacts() {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, Sample(&tt.c)); d != "" {
				t.Errorf("Sample (+) differs from the text it made (-):\n%s", d)
			}
			if d := cmp.Diff(tt.want, EvidenceOf(&tt.c).Sample()); d != "" {
				t.Errorf("the evidence's sample (+) differs from the contact's (-):\n%s", d)
			}
			if got := Describe(&tt.c); got != tt.want.Record {
				t.Errorf("Describe = %q, want %q", got, tt.want.Record)
			}
		})
		kept = append(kept, EvidenceOf(&tt.c))
		want = append(want, tt.want)
	}
	if d := cmp.Diff(want, Samples(kept)); d != "" {
		t.Errorf("Samples (+) differ from the contacts' (-):\n%s", d)
	}
	if Samples(nil) != nil {
		t.Error("no evidence renders as samples")
	}
}

// The size the doc of Evidence gives.
func TestEvidenceSize(t *testing.T) {
	if n := unsafe.Sizeof(Evidence{}); n != 104 {
		t.Errorf("Evidence takes %d bytes; its doc says 104", n)
	}
}
