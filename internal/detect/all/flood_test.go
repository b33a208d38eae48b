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

// flood drives the built-in stage and detectors with n flow records from
// n distinct spoofed internet sources (each one SYN to a random port of
// an exposed interface, most rejected, some answered), with a real
// scanner's probes spread thinly through them: one every 20,000 flood
// records, every sixth one reaching the open SSH port. It returns the
// findings and the engine.
func flood(tb testing.TB, n int, budget int64) ([]*finding.Finding, *detect.Engine) {
	stages, dets, err := Build(Options{Env: detect.Env{DetectorID: finding.DetectorID}, Budget: budget})
	if err != nil {
		tb.Fatal(err)
	}
	set := finding.NewSet()
	eng, err := detect.NewEngine(stages, dets, detect.DefaultConfig, func(f *finding.Finding) { set.Add(f) })
	if err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	eni, acct, region := event.Intern("eni-0exposed"), event.Intern("123456789012"), event.Intern("us-east-1")
	local := netip.MustParseAddr("10.0.0.5")
	scanner := netip.MustParseAddr("203.0.113.66")
	var f event.Flow
	in := func(src netip.Addr, sport, dport uint16, t event.Time, action event.Action) {
		f = event.Flow{
			Interface: eni, Account: acct, Region: region, Src: src, Dst: local, SrcPort: sport, DstPort: dport,
			Protocol: event.ProtoTCP, Packets: 1, Bytes: 60, Start: t, End: t, Action: action, Status: event.StatusOK,
			Direction: event.Inbound, Basis: event.BasisField, TCPFlags: event.TCPSyn,
			Has: event.HasStart | event.HasEnd | event.HasPackets | event.HasBytes | event.HasTCPFlags | event.HasSrcPort | event.HasDstPort | event.HasProtocol,
		}
		eng.Observe(&f)
	}
	out := func(dst netip.Addr, sport, dport uint16, t event.Time, flags uint8) {
		f = event.Flow{
			Interface: eni, Account: acct, Region: region, Src: local, Dst: dst, SrcPort: sport, DstPort: dport,
			Protocol: event.ProtoTCP, Packets: 1, Bytes: 60, Start: t, End: t, Action: event.Accept, Status: event.StatusOK,
			Direction: event.Outbound, Basis: event.BasisField, TCPFlags: flags,
			Has: event.HasStart | event.HasEnd | event.HasPackets | event.HasBytes | event.HasTCPFlags | event.HasSrcPort | event.HasDstPort | event.HasProtocol,
		}
		eng.Observe(&f)
	}
	probes := 0
	for i := 0; i < n; i++ {
		t := event.Time(1_700_000_000 + i/2000) // 2,000 records a second
		src := netip.AddrFrom4([4]byte{byte(11 + rng.IntN(200)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(1 + rng.IntN(254))})
		port := uint16(1 + rng.IntN(65535))
		if port%10 == 0 {
			// The exposed SSH port answers a spoofed SYN; the SYN-ACK goes
			// to an address that never replies.
			in(src, 40000, 22, t, event.Accept)
			out(src, 22, 40000, t, event.TCPSyn|event.TCPAck)
		} else {
			in(src, 40000, port, t, event.Reject)
		}
		if i%20_000 == 0 {
			// Every 20,000 flood records a probe of the scanner's: every
			// sixth one finds the open SSH port.
			if probes%6 == 5 {
				in(scanner, 51000, 22, t, event.Accept)
				out(scanner, 22, 51000, t, event.TCPSyn|event.TCPAck)
			} else {
				in(scanner, 51000, uint16(7000+probes), t, event.Reject)
			}
			probes++
		}
	}
	eng.Flush()
	return set.Sorted(), eng
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestFloodStaysWithinBudget: a million spoofed sources keep the state
// within the configured budget, evictions are counted, and the real
// scanner hidden in the flood is still reported.
func TestFloodStaysWithinBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("a million records")
	}
	const budget = 48 << 20
	base := heapInUse()
	findings, eng := flood(t, 1_000_000, budget)
	used := int64(heapInUse()) - int64(base)
	runtime.KeepAlive(eng)
	if used > budget*5/4 {
		t.Errorf("state takes %d MiB after the flood, budget %d MiB", used>>20, budget>>20)
	}
	var evicted uint64
	for _, tables := range eng.State() {
		for _, tb := range tables {
			evicted += tb.Evicted
		}
	}
	if evicted == 0 {
		t.Error("a flood beyond the budget evicted nothing: the tables are not bounded")
	}
	if !scannerFound(findings) {
		t.Error("the scanner hidden in the flood was not reported")
	}
	t.Logf("state %d MiB of a %d MiB budget, %d entries evicted, %d findings", used>>20, budget>>20, evicted, len(findings))
}

// BenchmarkFlood10M runs a flood of ten million spoofed sources and
// reports the memory the state took, the evictions and whether the
// hidden scanner was found.
func BenchmarkFlood10M(b *testing.B) {
	const budget = 256 << 20
	for b.Loop() {
		base := heapInUse()
		findings, eng := flood(b, 10_000_000, budget)
		used := int64(heapInUse()) - int64(base)
		var evicted uint64
		for _, tables := range eng.State() {
			for _, tb := range tables {
				evicted += tb.Evicted
			}
		}
		found := 0.0
		if scannerFound(findings) {
			found = 1
		}
		b.ReportMetric(float64(used)/(1<<20), "MiB-state")
		b.ReportMetric(float64(evicted), "evicted")
		b.ReportMetric(found, "scanner-found")
		runtime.KeepAlive(eng)
	}
}

// scannerFound reports whether a port probe finding names the scanner
// hidden in the flood among its confirmed scanners.
func scannerFound(findings []*finding.Finding) bool {
	for _, f := range findings {
		if f.Type != finding.TypePortProbeUnprotectedPort {
			continue
		}
		for _, h := range f.Service.AdditionalInfo.Explanation.Hosts {
			if h == "203.0.113.66" {
				return true
			}
		}
	}
	return false
}
