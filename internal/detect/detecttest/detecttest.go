// Package detecttest owns helpers for testing detectors: contacts written
// in one line, a harness that runs a detector over them and collects the
// merged findings, and the conformance suite that every detector and
// stage passes (Conformance, NoWallClock), as store/storetest is for the
// stores. Only tests import it.
package detecttest

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"picket/internal/detect"
	"picket/internal/event"
	"picket/internal/finding"
)

// Contact builds a contact from a compact description:
//
//	"10.0.1.5:40000 > 10.0.2.9:22 tcp established t=100 eni=eni-1 i-0abc in"
//
// The initiator comes first. "in" marks a contact the remote side
// initiated towards the interface (Inbound); without it the interface's
// side initiated. The outcome is one of rejected, unanswered, refused,
// established, data. t= sets start and end, d= a duration, fb=/rb= the
// bytes each side sent, eni= the interface, and a word starting with i-
// the instance.
func Contact(t testing.TB, s string) *event.Contact {
	t.Helper()
	fs := strings.Fields(s)
	if len(fs) < 5 || fs[1] != ">" {
		t.Fatalf("bad contact %q", s)
	}
	a, err1 := netip.ParseAddrPort(fs[0])
	b, err2 := netip.ParseAddrPort(fs[2])
	if err1 != nil || err2 != nil {
		t.Fatalf("bad contact %q: %v %v", s, err1, err2)
	}
	c := &event.Contact{
		Initiator: a.Addr(), IPort: a.Port(), Responder: b.Addr(), RPort: b.Port(),
		Account: event.Intern("123456789012"), Region: event.Intern("us-east-1"),
		Interface: event.Intern("eni-0test"),
	}
	c.Protocol = map[string]uint8{"tcp": 6, "udp": 17, "icmp": 1}[fs[3]]
	outcomes := map[string]event.Outcome{"rejected": event.OutcomeRejected, "unanswered": event.OutcomeUnanswered,
		"refused": event.OutcomeRefused, "established": event.OutcomeEstablished, "data": event.OutcomeData, "unknown": event.OutcomeUnknown}
	o, ok := outcomes[fs[4]]
	if !ok {
		t.Fatalf("bad outcome in %q", s)
	}
	c.Outcome = o
	c.Fwd, c.Rev = event.Half{Packets: 3, Bytes: 200, Records: 1}, event.Half{Packets: 2, Bytes: 150, Records: 1}
	var dur event.Time
	for _, f := range fs[5:] {
		k, v, _ := strings.Cut(f, "=")
		n, _ := strconv.ParseUint(v, 10, 64)
		switch {
		case f == "in":
			c.Inbound = true
		case k == "t":
			c.Start = event.Time(n)
		case k == "d":
			dur = event.Time(n)
		case k == "fb":
			c.Fwd.Bytes = n
		case k == "rb":
			c.Rev.Bytes = n
		case k == "eni":
			c.Interface = event.Intern(v)
		case strings.HasPrefix(f, "i-"):
			c.Instance = event.Intern(f)
		default:
			t.Fatalf("bad field %q in %q", f, s)
		}
	}
	c.End = c.Start + dur
	if c.Inbound {
		c.Local = c.Responder
	} else {
		c.Local = c.Initiator
	}
	c.Origin = event.Origin{File: event.Intern("test.log"), Line: int64(c.Start)}
	return c
}

// Run feeds contacts to a detector, advances it to the end and returns
// the findings, merged by ID as picket analyze merges them.
func Run(t testing.TB, d detect.Detector, contacts ...*event.Contact) []*finding.Finding {
	t.Helper()
	set := finding.NewSet()
	emit := func(f *finding.Finding) { set.Add(f) }
	for _, c := range contacts {
		d.Observe(c, emit)
	}
	d.Advance(event.Forever, emit)
	return set.Sorted()
}

// Env is an environment for tests.
func Env(thresholds map[string]float64) detect.Env {
	return detect.Env{DetectorID: finding.DetectorID, Thresholds: thresholds}
}
