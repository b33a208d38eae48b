package portprobe

import (
	"net/netip"
	"testing"
	"unsafe"

	gocmp "github.com/google/go-cmp/cmp"

	"picket/internal/detect/contact"
	"picket/internal/event"
	"picket/internal/finding"
)

// evidenceContacts are contacts with every field set, so that a field
// contact.Sample comes to show and sample does not keep makes
// TestSamplesRenderAsContactSample fail.
func evidenceContacts() []*event.Contact {
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
	ping := full
	ping.Protocol, ping.IPort, ping.RPort, ping.Outcome = event.ProtoICMP, 0, 0, event.OutcomeUnanswered
	return []*event.Contact{&full, &noFlags, &backFlags, &v6, &ping, {}}
}

// A sample kept raw renders as contact.Sample renders the contact it was
// taken from: findings show the same evidence as when samples were kept
// as text.
func TestSamplesRenderAsContactSample(t *testing.T) {
	var kept []sample
	var want []finding.Sample
	for _, c := range evidenceContacts() {
		kept = append(kept, sampleOf(c))
		want = append(want, contact.Sample(c))
	}
	if d := gocmp.Diff(want, render(kept)); d != "" {
		t.Errorf("rendered samples (+) differ from contact.Sample (-):\n%s", d)
	}
	if render(nil) != nil {
		t.Error("no evidence renders as samples")
	}
}

// The size the doc of sample gives.
func TestSampleSize(t *testing.T) {
	if n := unsafe.Sizeof(sample{}); n != 104 {
		t.Errorf("a sample takes %d bytes; its doc says 104", n)
	}
}
