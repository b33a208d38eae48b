package enrich

import (
	"net/netip"
	"testing"

	"picket/internal/event"
)

func flow(eni, src, dst string) *event.Flow {
	return &event.Flow{Interface: event.Intern(eni), Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst)}
}

func TestDirections(t *testing.T) {
	d := NewDirections(100)
	steps := []struct {
		f     *event.Flow
		dir   event.Direction
		basis event.DirectionBasis
	}{
		// Internet to private: the private side is the interface's.
		{flow("eni-1", "198.51.100.7", "10.0.0.5"), event.Inbound, event.BasisAddressScope},
		// Now 10.0.0.5 is known: an internal peer's record is decided by it.
		{flow("eni-1", "10.0.0.5", "10.0.3.3"), event.Outbound, event.BasisInterfaceAddress},
		{flow("eni-1", "10.0.3.3", "10.0.0.5"), event.Inbound, event.BasisInterfaceAddress},
		// Another interface: two private addresses, nothing known yet.
		{flow("eni-2", "10.0.1.1", "10.0.2.2"), event.DirectionUnknown, event.BasisNone},
		// The next record shares 10.0.1.1 with the held pair: learned.
		{flow("eni-2", "10.0.9.9", "10.0.1.1"), event.Inbound, event.BasisInterfaceAddress},
		{flow("eni-2", "10.0.1.1", "10.0.2.2"), event.Outbound, event.BasisInterfaceAddress},
		// Carrier-grade NAT space counts as internal.
		{flow("eni-3", "100.64.1.1", "203.0.113.9"), event.Outbound, event.BasisAddressScope},
	}
	for i, s := range steps {
		d.Resolve(s.f)
		if s.f.Direction != s.dir || s.f.Basis != s.basis {
			t.Errorf("step %d %s->%s: %v by %v, want %v by %v", i, s.f.Src, s.f.Dst, s.f.Direction, s.f.Basis, s.dir, s.basis)
		}
	}
	// The flow-direction field decides and teaches.
	f := flow("eni-4", "203.0.113.1", "203.0.113.2")
	f.Direction, f.Basis = event.Outbound, event.BasisField
	d.Resolve(f)
	g := flow("eni-4", "198.51.100.1", "203.0.113.1")
	d.Resolve(g)
	if g.Direction != event.Inbound || g.Basis != event.BasisInterfaceAddress {
		t.Errorf("address taught by flow-direction not used: %v by %v", g.Direction, g.Basis)
	}
	st := d.Stats()
	if st.Field != 1 || st.Unknown != 1 || st.Interfaces != 4 {
		t.Errorf("stats %+v", st)
	}
}

func TestDirectionsBounded(t *testing.T) {
	d := NewDirections(10)
	for i := 0; i < 1000; i++ {
		f := &event.Flow{Interface: event.Intern("eni-" + netip.AddrFrom4([4]byte{1, 1, byte(i >> 8), byte(i)}).String()),
			Src: netip.MustParseAddr("198.51.100.7"), Dst: netip.MustParseAddr("10.0.0.5")}
		d.Resolve(f)
	}
	if st := d.Stats(); st.Interfaces != 10 || st.Evicted != 990 {
		t.Errorf("stats %+v, want 10 interfaces and 990 evicted", st)
	}
}

// An address is remote on every interface but its own; an address two
// interfaces claimed (a NAT gateway records the instances behind it)
// decides nothing.
func TestDirectionsOwnership(t *testing.T) {
	d := NewDirections(100)
	rej := flow("eni-db", "10.0.2.12", "10.0.2.10")
	rej.Action = event.Reject
	d.Resolve(rej) // rejected: inbound, so 10.0.2.10 is eni-db's
	if rej.Direction != event.Inbound {
		t.Fatalf("rejected record: %v", rej.Direction)
	}
	scan := flow("eni-app", "10.0.2.12", "10.0.2.10")
	d.Resolve(scan) // 10.0.2.10 is eni-db's, so here it is remote
	if scan.Direction != event.Outbound || scan.Basis != event.BasisInterfaceAddress {
		t.Errorf("scanner's record: %v by %v", scan.Direction, scan.Basis)
	}
	d.Resolve(flow("eni-nat", "10.0.3.5", "198.51.100.9")) // the NAT records 10.0.3.5
	d.Resolve(flow("eni-web", "10.0.3.5", "198.51.100.7")) // and so does its own interface
	x := flow("eni-other", "10.0.3.5", "10.0.3.9")
	d.Resolve(x)
	if x.Direction != event.DirectionUnknown {
		t.Errorf("an address two interfaces claimed decided %v", x.Direction)
	}
}
