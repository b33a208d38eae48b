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
	tr := NewTracker(Config{Walk: trw.DefaultParams, MaxInitiators: 16, MaxTargets: 64, MaxPorts: 64, TTL: 86400})
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
	in := tr.Peek(HostKey{Addr: scanner})
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
	in = tr.Peek(HostKey{Addr: scanner})
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

// A monitor asks again about the ports it found closed; a scanner does
// not, and a host that found many ports closed is a scanner even when it
// scans twice.
func TestPolling(t *testing.T) {
	host := netip.MustParseAddr("10.0.1.16")
	target := netip.MustParseAddr("10.0.1.14")
	run := func(ports, rounds int, closed func(p int) bool) *Initiator {
		tr := NewTracker(Config{Walk: trw.DefaultParams, MaxInitiators: 16, MaxTargets: 64, MaxPorts: 64, TTL: 86400})
		src := uint16(40000)
		for r := 0; r < rounds; r++ {
			for p := 0; p < ports; p++ {
				src++
				o := event.OutcomeEstablished
				if closed(p) {
					o = event.OutcomeRefused
				}
				c := &event.Contact{Initiator: host, Responder: target, IPort: src, RPort: uint16(8000 + p), Start: event.Time(1000 + 10*r), Outcome: o}
				tr.Observe(c, true)
				tr.Observe(c, false) // the same connection seen by the target's interface
			}
		}
		return tr.Peek(HostKey{Addr: host})
	}
	half := func(p int) bool { return p%2 == 0 }
	if in := run(20, 3, half); !in.Polling() {
		t.Errorf("a health checker of 20 ports, half down, asked 3 times: not polling (%d closed, %d asked again)", in.ClosedPairs, in.Reasked)
	}
	if in := run(20, 1, half); in.Polling() {
		t.Errorf("one round is polling (%d closed, %d asked again)", in.ClosedPairs, in.Reasked)
	}
	if in := run(1000, 2, func(p int) bool { return p%50 != 0 }); in.Polling() {
		t.Errorf("a 1000-port scan run twice is polling (%d closed, %d asked again)", in.ClosedPairs, in.Reasked)
	}
}

// TestAccountsApart checks that one private address in two accounts is
// two hosts: the contacts of one do not count towards the other's scan.
func TestAccountsApart(t *testing.T) {
	tr := NewTracker(Config{Walk: trw.DefaultParams, MaxInitiators: 16, MaxTargets: 64, MaxPorts: 64, TTL: 86400})
	host, target := netip.MustParseAddr("172.31.5.9"), netip.MustParseAddr("172.31.7.7")
	a, b := event.Intern("111122223333"), event.Intern("444455556666")
	for p := 1; p <= 40; p++ {
		acct := a
		if p%2 == 0 {
			acct = b
		}
		tr.Observe(&event.Contact{Account: acct, Initiator: host, Responder: target, RPort: uint16(p), Start: event.Time(1000 + p), End: event.Time(1000 + p), Outcome: event.OutcomeRefused}, true)
	}
	for _, acct := range []event.ID{a, b} {
		in := tr.Peek(HostKey{acct, host})
		if in == nil || len(in.Targets) != 1 || in.Targets[0].Ports() != 20 {
			t.Fatalf("account %s: %+v, want 20 ports of one target", acct, in)
		}
	}
	if tr.Peek(HostKey{Addr: host}) != nil {
		t.Error("a host without an account was made")
	}
}
