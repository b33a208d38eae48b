package flowmeter_test

import (
	"net/netip"
	"testing"

	"picket/internal/event"
	"picket/internal/flowmeter"
)

func drain(m *flowmeter.Meter) []event.Flow {
	var out []event.Flow
	var f event.Flow
	for m.Next(&f) {
		out = append(out, f)
	}
	return out
}

// TestBoundsAndOrder feeds packets slightly out of order, one far behind
// an already flushed window, and more flows than the cap: records come
// out in end-time order, each packet counted once, evictions and late
// packets counted.
func TestBoundsAndOrder(t *testing.T) {
	m := flowmeter.New(flowmeter.Config{MaxFlows: 50})
	src, dst := netip.MustParseAddr("203.0.113.9"), netip.MustParseAddr("10.0.0.5")
	var out []event.Flow
	times := []event.Time{1000, 1003, 1001, 1070, 1065, 1200, 1010, 1201}
	for i, ts := range times {
		for port := range 20 {
			m.Add(&flowmeter.Packet{Tuple: flowmeter.Tuple{Src: src, Dst: dst, SrcPort: 4000, DstPort: uint16(port + 100*i), Proto: 6}, Time: ts, Flags: event.TCPSyn, Length: 40})
		}
		out = append(out, drain(m)...)
	}
	m.Close()
	out = append(out, drain(m)...)
	var packets uint64
	for i, f := range out {
		packets += f.Packets
		if i > 0 && f.End < out[i-1].End {
			t.Fatalf("record %d ends at %d, before %d", i, f.End, out[i-1].End)
		}
		if f.Direction != event.Inbound || f.Basis != event.BasisField || f.Interface.String() != flowmeter.AutoID(dst) {
			t.Fatalf("record %+v", f)
		}
	}
	s := m.Stats()
	if packets != uint64(20*len(times)) {
		t.Errorf("records hold %d packets, want %d", packets, 20*len(times))
	}
	if s.Late == 0 || s.Evicted == 0 {
		t.Errorf("stats %+v: want late packets and evictions", s)
	}
}

// TestResponderIsLocal checks that between two public addresses the
// responder of the conversation is the interface.
func TestResponderIsLocal(t *testing.T) {
	m := flowmeter.New(flowmeter.Config{})
	a, b := netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.2")
	m.Add(&flowmeter.Packet{Tuple: flowmeter.Tuple{Src: a, Dst: b, SrcPort: 5000, DstPort: 80, Proto: 6}, Time: 10, Flags: event.TCPSyn, Length: 60})
	m.Add(&flowmeter.Packet{Tuple: flowmeter.Tuple{Src: b, Dst: a, SrcPort: 80, DstPort: 5000, Proto: 6}, Time: 10, Flags: event.TCPSyn | event.TCPAck, Length: 60})
	m.Close()
	out := drain(m)
	if len(out) != 2 {
		t.Fatalf("%d records", len(out))
	}
	for _, f := range out {
		if f.Interface.String() != flowmeter.AutoID(b) {
			t.Errorf("record on %s, want the responder's %s", f.Interface, flowmeter.AutoID(b))
		}
	}
}

// TestAddAllocs holds the per-packet path to no allocation once the
// flow exists.
func TestAddAllocs(t *testing.T) {
	m := flowmeter.New(flowmeter.Config{})
	p := &flowmeter.Packet{Tuple: flowmeter.Tuple{Src: netip.MustParseAddr("203.0.113.9"), Dst: netip.MustParseAddr("10.0.0.5"), SrcPort: 1, DstPort: 2, Proto: 6}, Time: 100, Length: 40}
	m.Add(p)
	if n := testing.AllocsPerRun(1000, func() { m.Add(p) }); n != 0 {
		t.Errorf("%v allocations per packet", n)
	}
}
