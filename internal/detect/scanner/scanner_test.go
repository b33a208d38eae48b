package scanner

import (
	"net/netip"
	"testing"

	"picket/internal/detect/trw"
	"picket/internal/event"
)

// Distinct ports of a target and hosts on a port are exact, retries and
// repeated contacts left out, until the first-contact set is a bitmap
// holding thousands of pairs; then its rare false "seen" leaves a few
// out.
func TestDistinctCounts(t *testing.T) {
	tr := New(Config{Walk: trw.DefaultParams, MaxInitiators: 16, MaxTargets: 64, MaxPorts: 64, TTL: 86400})
	scanner := netip.MustParseAddr("10.0.1.5")
	target := netip.MustParseAddr("10.0.2.9")
	contact := func(to netip.Addr, port uint16, ts event.Time) {
		tr.Observe(&event.Contact{Initiator: scanner, Responder: to, RPort: port, Start: ts, End: ts, Outcome: event.OutcomeRefused}, true)
	}
	for round := 0; round < 2; round++ { // nmap's retry: every port twice
		for p := 1; p <= 1000; p++ {
			contact(target, uint16(p), event.Time(1000+p))
		}
	}
	in := tr.Peek(scanner)
	var tg *Target
	for i := range in.Targets {
		if in.Targets[i].Addr == target {
			tg = &in.Targets[i]
		}
	}
	if tg == nil || tg.Ports() != 1000 {
		t.Errorf("target %+v: want 1000 distinct ports", tg)
	}
	for i := 0; i < 300; i++ {
		contact(netip.AddrFrom4([4]byte{10, 0, 3, byte(i % 250)}), 22, event.Time(3000+i)) // 250 hosts, 50 twice
	}
	in = tr.Peek(scanner)
	var ssh *Port
	for i := range in.Ports {
		if in.Ports[i].Port == 22 {
			ssh = &in.Ports[i]
		}
	}
	// Port 22's slot went to later ports during the scan; the sweep
	// started a new one. 1,250 pairs in all: a few may be lost.
	if ssh == nil {
		t.Fatal("port 22 not tracked")
	}
	if n := ssh.Hosts(); n > 250 || n < 240 {
		t.Errorf("port 22: %d hosts, want 250 or a few less", n)
	}
}
