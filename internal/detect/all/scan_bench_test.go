package all

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"

	"picket/internal/detect"
	"picket/internal/event"
	"picket/internal/finding"
)

// The benchmarks of the port scan and port sweep detectors:
//
//	go test -run xxx -bench ScanDetectors -count 6 ./internal/detect/all

// scanOnly builds the port scan and port sweep detectors alone.
func scanOnly(tb testing.TB) []detect.Detector {
	var off []string
	for _, id := range IDs() {
		if id != "portscan" && id != "portsweep" {
			off = append(off, id)
		}
	}
	_, dets, err := Build(Options{Env: detect.Env{DetectorID: finding.DetectorID}, Disabled: off})
	if err != nil {
		tb.Fatal(err)
	}
	return dets
}

// scanTraffic fills c with the i-th contact of an estate at 1,000
// contacts a second: 2,000 clients each using four ports of eight
// servers, one contact in twenty refused; one contact in ten from one of
// 100 scanners, half of them scanning the ports of one target, half
// sweeping port 22 across a /16, most probes failing.
func scanTraffic(c *event.Contact, i int, rng *rand.Rand) {
	acct, region := event.Intern("123456789012"), event.Intern("us-east-1")
	*c = event.Contact{
		Account: acct, Region: region, Interface: event.Intern("eni-0bench"), Protocol: event.ProtoTCP,
		IPort: uint16(32768 + i%28000), Start: event.Time(1_700_000_000 + i/1000),
		Fwd: event.Half{Packets: 3, Bytes: 200, Records: 1}, Rev: event.Half{Packets: 2, Bytes: 150, Records: 1},
	}
	c.End = c.Start
	if i%10 != 0 {
		h := rng.IntN(2000)
		c.Initiator = netip.AddrFrom4([4]byte{10, 1, byte(h >> 8), byte(h)})
		c.Responder = netip.AddrFrom4([4]byte{10, 2, 0, byte(h%32 + rng.IntN(8))})
		c.RPort = []uint16{443, 5432, 6379, 8080}[rng.IntN(4)]
		c.Outcome = event.OutcomeData
		if rng.IntN(20) == 0 {
			c.Outcome = event.OutcomeRefused
		}
		return
	}
	s := rng.IntN(100)
	c.Initiator = netip.AddrFrom4([4]byte{10, 9, 0, byte(s)})
	c.Outcome = event.OutcomeUnanswered
	if s%2 == 0 {
		c.Responder = netip.AddrFrom4([4]byte{10, 3, byte(s), 9})
		c.RPort = uint16(1 + rng.IntN(10000))
		c.Outcome = event.OutcomeRefused
	} else {
		c.Responder = netip.AddrFrom4([4]byte{10, 4, byte(rng.IntN(256)), byte(rng.IntN(256))})
		c.RPort = 22
	}
	if rng.IntN(10) == 0 {
		c.Outcome = event.OutcomeEstablished
	}
}

// BenchmarkScanDetectors feeds the port scan and port sweep detectors
// the contacts of scanTraffic, advancing them every event-time minute;
// one op is one contact through both. The first 300,000 contacts, which
// fill the hosts' tables, are fed before the clock starts.
func BenchmarkScanDetectors(b *testing.B) {
	dets := scanOnly(b)
	emit := func(*finding.Finding) {}
	rng := rand.New(rand.NewPCG(1, 2))
	var c event.Contact
	i := 0
	step := func() {
		scanTraffic(&c, i, rng)
		for _, d := range dets {
			d.Observe(&c, emit)
		}
		if i%60_000 == 59_999 {
			for _, d := range dets {
				d.Advance(c.Start-60, emit)
			}
		}
		i++
	}
	for range 300_000 {
		step()
	}
	b.ReportAllocs()
	for b.Loop() {
		step()
	}
}

// BenchmarkScanDetectorsState feeds 500,000 contacts of scanTraffic and
// reports the heap the detectors' state takes, the size of its saved
// form and the host tables the detectors report.
func BenchmarkScanDetectorsState(b *testing.B) {
	emit := func(*finding.Finding) {}
	for b.Loop() {
		base := heapInUse()
		dets := scanOnly(b)
		rng := rand.New(rand.NewPCG(1, 2))
		var c event.Contact
		for i := range 500_000 {
			scanTraffic(&c, i, rng)
			for _, d := range dets {
				d.Observe(&c, emit)
			}
		}
		used := int64(heapInUse()) - int64(base)
		saved, tables, hosts := 0, 0, 0
		for _, d := range dets {
			if s, ok := d.(detect.Snapshotter); ok {
				p, err := s.MarshalState()
				if err != nil {
					b.Fatal(err)
				}
				saved += len(p)
			}
			if s, ok := d.(detect.Stater); ok {
				for _, t := range s.State() {
					tables++
					hosts += t.Len
				}
			}
		}
		b.ReportMetric(float64(used)/(1<<20), "MiB-state")
		b.ReportMetric(float64(saved)/(1<<10), "KiB-saved")
		b.ReportMetric(float64(tables), "host-tables")
		b.ReportMetric(float64(hosts), "hosts-held")
		runtime.KeepAlive(dets)
	}
}
