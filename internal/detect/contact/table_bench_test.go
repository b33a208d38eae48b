package contact

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkTable is a bucket's table under the dense estate's load: 60,000
// conversations a bucket (two interfaces' ends of 2,000 records a second
// for a minute, halved for the two directions of each), each looked up
// twice in an order the conversations interleave in, then the table
// emptied for the next bucket.
func BenchmarkTable(b *testing.B) {
	const convs = 60_000
	s := New(DefaultConfig)
	rng := rand.New(rand.NewPCG(1, 2))
	keys := make([]key, 2*convs)
	for i := range convs {
		k := key{
			Local:  addrKey{Hi: 0xffff, Lo: 0x0a000000 | uint64(rng.IntN(1<<16))},
			Remote: addrKey{Hi: 0xffff, Lo: uint64(rng.Uint32())},
			LPort:  uint16(rng.IntN(65536)), RPort: 443, Proto: 6,
		}
		keys[2*i], keys[2*i+1] = k, k
	}
	rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	fps := make([]uint64, len(keys))
	for i := range keys {
		fps[i] = s.fingerprint(&keys[i])
	}
	t := newTable(&chunkPool{max: convs/chunkLen + 1})
	b.ReportAllocs()
	for b.Loop() {
		for i := range keys {
			c, _ := t.put(fps[i], &keys[i])
			c.Out.Records++
		}
		t.empty()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(keys)), "ns/lookup")
}
