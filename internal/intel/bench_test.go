package intel

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// The benchmarks run over a list of 1,000,000 mixed entries: 600,000
// IPv4 addresses, 200,000 IPv4 networks (/12 to /30), 50,000 IPv4 ranges,
// 100,000 IPv6 addresses and networks and 50,000 domains, generated with
// a fixed seed. README's Performance section gives the command and the
// figures.
const benchEntries = 1_000_000

var bench struct {
	once  sync.Once
	text  []byte
	list  *List
	set   *Set
	v4    []netip.Addr // lookup keys: half listed, half random
	v4few []netip.Addr // lookup keys: one in a hundred listed, as in traffic
	v6    []netip.Addr
	names []string
}

func benchFixture(b *testing.B) {
	bench.once.Do(func() {
		r := rand.New(rand.NewPCG(1, 2))
		var buf bytes.Buffer
		buf.Grow(24 * benchEntries)
		v4 := func() netip.Addr {
			var a [4]byte
			for {
				u := r.Uint32()
				a = [4]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)}
				if a[0] != 0 && a[0] < 224 {
					return netip.AddrFrom4(a)
				}
			}
		}
		v6 := func() netip.Addr {
			var a [16]byte
			a[0], a[1] = 0x20, 0x01
			for i := 2; i < 16; i++ {
				a[i] = byte(r.Uint32())
			}
			return netip.AddrFrom16(a)
		}
		var hits4, hits6 []netip.Addr
		var names []string
		for i := range benchEntries {
			switch {
			case i < 600_000:
				a := v4()
				hits4 = append(hits4, a)
				buf.WriteString(a.String())
			case i < 800_000:
				p, _ := v4().Prefix(netBits(r))
				buf.WriteString(p.String())
			case i < 850_000:
				lo := v4()
				hi := lo
				for range 1 + r.IntN(300) {
					if n := hi.Next(); n.IsValid() {
						hi = n
					}
				}
				buf.WriteString(lo.String() + "-" + hi.String())
			case i < 950_000:
				a := v6()
				if i%2 == 0 {
					hits6 = append(hits6, a)
					buf.WriteString(a.String())
				} else {
					p, _ := a.Prefix(32 + r.IntN(33))
					buf.WriteString(p.String())
				}
			default:
				d := "h" + strconv.Itoa(i) + ".example" + strconv.Itoa(i%97) + ".com"
				names = append(names, "www."+d)
				buf.WriteString(d)
			}
			buf.WriteByte('\n')
		}
		bench.text = buf.Bytes()
		l, err := Decode(bytes.NewReader(bench.text), Options{Name: "bench", Format: FormatTXT})
		if err != nil || l.Entries != benchEntries {
			panic("bench list: " + err.Error())
		}
		bench.list = l
		bench.set = Build([]*List{l})
		const keys = 1 << 16
		for i := range keys {
			if i%100 == 0 {
				bench.v4few = append(bench.v4few, hits4[r.IntN(len(hits4))])
			} else {
				bench.v4few = append(bench.v4few, v4())
			}
			if i%2 == 0 {
				bench.v4 = append(bench.v4, hits4[r.IntN(len(hits4))])
				bench.v6 = append(bench.v6, hits6[r.IntN(len(hits6))])
			} else {
				bench.v4 = append(bench.v4, v4())
				bench.v6 = append(bench.v6, v6())
			}
		}
		for i := range keys {
			if i%2 == 0 {
				bench.names = append(bench.names, names[r.IntN(len(names))])
			} else {
				bench.names = append(bench.names, "x"+strconv.Itoa(i)+".example.net")
			}
		}
	})
	_ = b
}

// netBits draws a network length as blocklists have them: mostly /24,
// some /20 to /23 and /25 to /30, a few /16 to /19 (FireHOL level 1 and
// Spamhaus DROP have this shape).
func netBits(r *rand.Rand) int {
	switch x := r.IntN(100); {
	case x < 70:
		return 24
	case x < 90:
		return 20 + r.IntN(4)
	case x < 98:
		return 25 + r.IntN(6)
	default:
		return 16 + r.IntN(4)
	}
}

// BenchmarkBuild measures decoding the 1,000,000-entry list and building
// its Set, and the heap the Set keeps.
func BenchmarkBuild(b *testing.B) {
	benchFixture(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(bench.text)))
	var decodeTime, buildTime time.Duration
	n := 0
	for b.Loop() {
		t0 := time.Now()
		l, err := Decode(bytes.NewReader(bench.text), Options{Name: "bench", Format: FormatTXT})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		Build([]*List{l})
		decodeTime += t1.Sub(t0)
		buildTime += time.Since(t1)
		n++
	}
	b.ReportMetric(decodeTime.Seconds()/float64(n), "decode-s")
	b.ReportMetric(buildTime.Seconds()/float64(n), "build-s")
	b.ReportMetric(float64(heapOfSet())/(1<<20), "set-MiB")
}

// heapOfSet measures the heap a Set of the benchmark list keeps once the
// list itself is gone.
func heapOfSet() uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	l, _ := Decode(bytes.NewReader(bench.text), Options{Name: "bench", Format: FormatTXT})
	s := Build([]*List{l})
	l = nil
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(s)
	runtime.KeepAlive(l)
	return after.HeapAlloc - before.HeapAlloc
}

// perCPU starts measuring the CPU time of the benchmark's thread; the
// returned func reports, besides b.N / wall time, lookups per CPU second
// (what one core does on a machine that other work keeps busy) and the
// share of lookups that found an entry.
func perCPU(b *testing.B) func(hits int) {
	b.ReportAllocs()
	runtime.LockOSThread()
	cpu := threadCPU()
	return func(hits int) {
		cpu = threadCPU() - cpu
		runtime.UnlockOSThread()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mlookups/s")
		if cpu > 0 {
			b.ReportMetric(float64(b.N)/cpu.Seconds()/1e6, "Mlookups/cpu-s")
		}
		b.ReportMetric(float64(hits)/float64(b.N), "hit-ratio")
	}
}

func b2i(ok bool) int {
	if ok {
		return 1
	}
	return 0
}

// The lookup loops are written out, not shared through a func value or a
// generic helper: an indirect call per lookup costs more than a lookup.

func BenchmarkThreatIPv4(b *testing.B) {
	benchFixture(b)
	s, keys := bench.set, bench.v4
	done := perCPU(b)
	hits, i := 0, 0
	for b.Loop() {
		_, ok := s.Threat(keys[i&(len(keys)-1)])
		hits += b2i(ok)
		i++
	}
	done(hits)
}

// BenchmarkThreatIPv4Traffic looks up addresses of which one in a hundred
// is listed (plus what the random ones hit by chance), closer to the
// traffic detectors see than BenchmarkThreatIPv4's half.
func BenchmarkThreatIPv4Traffic(b *testing.B) {
	benchFixture(b)
	s, keys := bench.set, bench.v4few
	done := perCPU(b)
	hits, i := 0, 0
	for b.Loop() {
		_, ok := s.Threat(keys[i&(len(keys)-1)])
		hits += b2i(ok)
		i++
	}
	done(hits)
}

func BenchmarkThreatIPv6(b *testing.B) {
	benchFixture(b)
	s, keys := bench.set, bench.v6
	done := perCPU(b)
	hits, i := 0, 0
	for b.Loop() {
		_, ok := s.Threat(keys[i&(len(keys)-1)])
		hits += b2i(ok)
		i++
	}
	done(hits)
}

// BenchmarkLoaderThreatIPv4 is the lookup detectors make: through the
// Loader's atomic pointer, with a trusted list loaded.
func BenchmarkLoaderThreatIPv4(b *testing.B) {
	benchFixture(b)
	tr := mustDecode(b, "trusted", KindTrusted, FormatTXT, "10.0.0.0/8\n192.0.2.0/24\n")
	var ld Loader
	ld.cur.Store(Build([]*List{bench.list, tr}))
	keys := bench.v4
	done := perCPU(b)
	hits, i := 0, 0
	for b.Loop() {
		_, ok := ld.Threat(keys[i&(len(keys)-1)])
		hits += b2i(ok)
		i++
	}
	done(hits)
}

func BenchmarkThreatDomain(b *testing.B) {
	benchFixture(b)
	s, keys := bench.set, bench.names
	done := perCPU(b)
	hits, i := 0, 0
	for b.Loop() {
		_, ok := s.ThreatDomain(keys[i&(len(keys)-1)])
		hits += b2i(ok)
		i++
	}
	done(hits)
}
