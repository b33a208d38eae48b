package dnsflow

import (
	"math/rand/v2"
	"net/netip"
	"strconv"
	"testing"

	"picket/internal/detect"
	"picket/internal/event"
	"picket/internal/finding"
)

// The benchmark of the detector on the conversations of 2,000 instances
// in one minute:
//
//	go test -run '^$' -bench DNSFlow -benchmem ./internal/detect/dnsflow
//
// Once the interval's reports exist (warm), observing a conversation
// takes no allocation, whichever kind it is. The traffic makes 1,390
// reports a minute (one per instance and outside resolver).

// benchContacts makes n conversations of 2,000 interfaces: half HTTPS to
// internet servers (one in fifty to a public DoH resolver), a quarter
// lookups through the VPC's resolver, one in twenty plain DNS to a public
// resolver, one in a hundred DNS over TLS, a fifth other services, and
// queries the resolver instances answer.
func benchContacts(n int) []event.Contact {
	rng := rand.New(rand.NewPCG(1, 2))
	ifaces := make([]event.ID, 2000)
	insts := make([]event.ID, len(ifaces))
	for i := range ifaces {
		ifaces[i] = event.Intern("eni-0bench" + netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}).String())
		insts[i] = event.Intern("i-0bench" + netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}).String())
	}
	doh := []netip.Addr{netip.MustParseAddr("1.1.1.1"), netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("2606:4700:4700::1111")}
	out := make([]event.Contact, n)
	for i := range out {
		k := rng.IntN(len(ifaces))
		local := netip.AddrFrom4([4]byte{10, 0, byte(k >> 8), byte(k)})
		c := event.Contact{
			Origin: event.Origin{File: file, Line: int64(i + 1)}, Interface: ifaces[k], Instance: insts[k],
			Account: acct, Region: region, Protocol: event.ProtoTCP, Initiator: local, Local: local,
			IPort: uint16(32768 + i%28000), RPort: 443, Start: t0 + event.Time(rng.IntN(60)), Outcome: event.OutcomeData,
			Responder: netip.AddrFrom4([4]byte{52, byte(rng.IntN(256)), byte(rng.IntN(256)), byte(1 + rng.IntN(254))}),
			Fwd:       event.Half{Packets: 8, Bytes: 900, Records: 1}, Rev: event.Half{Packets: 8, Bytes: 4000, Records: 1},
		}
		c.End = c.Start + 1
		switch r := rng.IntN(100); {
		case r < 2:
			c.Responder = doh[rng.IntN(len(doh))]
		case r < 50:
		case r < 75:
			c.Protocol, c.RPort, c.Responder, c.Outcome = event.ProtoUDP, 53, netip.MustParseAddr("10.0.0.2"), event.OutcomeEstablished
		case r < 80:
			c.Protocol, c.RPort, c.Responder, c.Outcome = event.ProtoUDP, 53, netip.AddrFrom4([4]byte{8, 8, 4, byte(rng.IntN(8))}), event.OutcomeEstablished
		case r < 81:
			c.RPort, c.Responder = 853, netip.MustParseAddr("9.9.9.9")
		case r < 99:
			c.RPort = uint16(1 + rng.IntN(10000))
		default:
			c.Inbound, c.Protocol, c.RPort, c.Outcome = true, event.ProtoUDP, 53, event.OutcomeEstablished
			c.Initiator, c.Responder = netip.AddrFrom4([4]byte{10, 1, 0, byte(rng.IntN(250))}), local
		}
		out[i] = c
	}
	return out
}

func BenchmarkDNSFlow(b *testing.B) {
	d, err := New(envForBench())
	if err != nil {
		b.Fatal(err)
	}
	cs := benchContacts(100_000)
	emit := func(*finding.Finding) {}
	for i := range cs {
		d.Observe(&cs[i], emit) // warm: every report of the minute exists
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		d.Observe(&cs[i], emit)
		if i++; i == len(cs) {
			i = 0
		}
	}
}

func envForBench() detect.Env { return detect.Env{DetectorID: finding.DetectorID} }

// BenchmarkDNSFlowMinutes feeds the same traffic minute after minute,
// advancing the watermark at the end of each: the cost per conversation
// with the reports made (the findings' allocations included), for a
// report every minute and every five.
func BenchmarkDNSFlowMinutes(b *testing.B) {
	for _, interval := range []float64{60, 300} {
		b.Run("report_interval="+strconv.Itoa(int(interval)), func(b *testing.B) {
			env := envForBench()
			env.Thresholds = map[string]float64{"report_interval": interval}
			d, err := New(env)
			if err != nil {
				b.Fatal(err)
			}
			cs := benchContacts(20_000)
			emit := func(*finding.Finding) {}
			b.ReportAllocs()
			var c event.Contact
			i, minute := 0, event.Time(0)
			for b.Loop() {
				c = cs[i]
				c.Start += minute
				c.End += minute
				d.Observe(&c, emit)
				if i++; i == len(cs) {
					i, minute = 0, minute+60
					d.Advance(t0+minute, emit)
				}
			}
		})
	}
}
