package portprobe

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"picket/internal/detect"
	"picket/internal/event"
	"picket/internal/finding"
)

// The benchmark of the port probe detector on the internet's background
// traffic towards a dense estate:
//
//	go test -run '^$' -bench PortProbe -benchmem ./internal/detect/portprobe

// backgroundTraffic fills c with the i-th contact of 2,000 exposed
// interfaces at 2,000 contacts a second: a quarter are the interfaces'
// own contacts with servers on the internet; a quarter come from
// internet hosts seen once (a SYN to a random port, rejected, or one in
// ten a handshake with the web port), which make most of the sources the
// detector tracks and never are in a finding; the rest are clients of
// the web port and 50 scanners working through the ports of 20
// interfaces, one in ten of their probes reaching the open SSH port.
func backgroundTraffic(c *event.Contact, i int, rng *rand.Rand, ifaces []event.ID) {
	n := rng.IntN(len(ifaces))
	local := netip.AddrFrom4([4]byte{10, 0, byte(n >> 8), byte(n)})
	*c = event.Contact{
		Interface: ifaces[n], Account: account, Region: region, Instance: event.Intern("i-0bench"),
		Protocol: event.ProtoTCP, IPort: uint16(32768 + i%28000), Responder: local, Local: local, Inbound: true,
		Start: event.Time(1_700_000_000 + i/2000), Outcome: event.OutcomeRejected,
		Fwd:    event.Half{Packets: 1, Bytes: 60, Records: 1, HasFlags: true, Flags: event.TCPSyn},
		Origin: event.Origin{File: event.Intern("flows.log"), Line: int64(i)},
	}
	c.End = c.Start
	switch i % 4 {
	case 0:
		c.Initiator, c.Responder, c.Inbound = local, netip.AddrFrom4([4]byte{52, 1, byte(rng.IntN(256)), byte(rng.IntN(256))}), false
		c.RPort, c.Outcome = 443, event.OutcomeData
		return
	case 1:
		c.Initiator = netip.AddrFrom4([4]byte{byte(60 + rng.IntN(100)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(1 + rng.IntN(254))})
		c.RPort = uint16(1 + rng.IntN(65535))
		if rng.IntN(10) == 0 {
			answered(c, 443)
		}
		return
	default:
		if i%8 == 3 {
			c.Initiator = netip.AddrFrom4([4]byte{198, 51, byte(rng.IntN(20)), byte(rng.IntN(250))})
			c.RPort, c.Outcome = 443, event.OutcomeData
			return
		}
		// The scanners reach the first 20 interfaces: a finding a
		// minute for each, as in a dense estate under attack.
		n %= 20
		c.Interface, c.Responder, c.Local = ifaces[n], netip.AddrFrom4([4]byte{10, 0, 0, byte(n)}), netip.AddrFrom4([4]byte{10, 0, 0, byte(n)})
		c.Initiator = netip.AddrFrom4([4]byte{203, 0, 113, byte(rng.IntN(50))})
		c.RPort = uint16(1 + rng.IntN(10000))
		if rng.IntN(10) == 0 {
			answered(c, 22)
		}
	}
}

// answered makes c a handshake with port that carried no data.
func answered(c *event.Contact, port uint16) {
	c.RPort, c.Outcome = port, event.OutcomeEstablished
	c.Rev = event.Half{Packets: 1, Bytes: 60, Records: 1, HasFlags: true, Flags: event.TCPSyn | event.TCPAck}
}

// BenchmarkPortProbe feeds the detector the contacts of
// backgroundTraffic, advancing it every event-time minute; one op is one
// contact. Sources are forgotten after four minutes (source_ttl), so
// that the one-off hosts, 500 a second, stay below max_sources as they
// would over a day at a few a second; the first ten minutes, which fill
// the tables, are fed before the clock starts.
func BenchmarkPortProbe(b *testing.B) {
	d, err := New(detect.Env{DetectorID: finding.DetectorID, Thresholds: map[string]float64{"source_ttl": 240}})
	if err != nil {
		b.Fatal(err)
	}
	ifaces := make([]event.ID, 2000)
	for n := range ifaces {
		ifaces[n] = event.Intern("eni-0bench" + netip.AddrFrom4([4]byte{10, 0, byte(n >> 8), byte(n)}).String())
	}
	emit := func(*finding.Finding) {}
	rng := rand.New(rand.NewPCG(1, 2))
	var c event.Contact
	i := 0
	step := func() {
		backgroundTraffic(&c, i, rng, ifaces)
		d.Observe(&c, emit)
		if i%120_000 == 119_999 {
			d.Advance(c.Start-60, emit)
		}
		i++
	}
	for range 1_200_000 {
		step()
	}
	b.ReportAllocs()
	for b.Loop() {
		step()
	}
	b.StopTimer()
	if st := d.State()[0]; st.Evicted > 0 {
		b.Fatalf("sources %+v: the one-off hosts overflowed the table", st)
	}
}
