package intel

import (
	"net/netip"
	"slices"

	"github.com/gaissmai/bart"
)

// dir24 is a flattened copy of the IPv4 half of a large threat table, in
// the DIR-24-8 layout of router forwarding tables (Gupta, Lin and
// McKeown, 1998; DPDK's rte_lpm): one entry per /24, and for the /24s
// that hold longer networks, a short run list of the /24's 256 addresses.
// A bitmap of the /24s that hold anything answers most misses from the
// caches; a hit costs one load from memory, two in a /24 with several
// entries.
//
// bart remains the table the lists are built into (it resolves nesting and
// merges) and the one IPv6 and small sets are looked up in; dir24 is
// compiled from it once the IPv4 networks are many. Measured with
// BenchmarkThreatIPv4 (1,000,000 mixed entries, 65,536 random keys, half
// of them listed) on one core of the 2-core VM the README names, while
// other work loaded it: bart.Table alone, 150 to 1,000 ns a lookup (every
// level of the trie is a cache and TLB miss for random keys); dir24 with a
// run list for every /24, 30 to 300 ns; with the bitmap and single
// addresses in the entry, 30 to 35 ns of CPU (see the README). It costs a
// fixed 66 MiB (entries and bitmap), which is why sets under dir24Min
// IPv4 networks stay in bart alone, whose nodes then fit in the caches.
type dir24 struct {
	// any has a bit for each /24 that some network covers: 2 MiB, which
	// the caches keep, so that an address no list names, the common case
	// by far, costs no trip to memory for the 64 MiB of tbl.
	any  []uint64
	tbl  []uint32 // by address >> 8: 0 none, else see the flags below
	runs []uint64 // at offset: the count n, then n runs of start<<32 | (match index + 1)
}

// An entry of tbl is 0 (no network covers the /24), a match index + 1
// (one covers it all), runsFlag | an offset into runs, or, for a /24
// where a single address is listed and nothing else, oneFlag | the last
// byte << 22 | its match index + 1: most listed addresses are alone in
// their /24, and this saves them the second load.
const (
	runsFlag = 1 << 31
	oneFlag  = 1<<31 | 1<<30
	oneMax   = 1<<22 - 1 // match index + 1 that fits beside the byte
)

// dir24Min is the number of IPv4 networks from which a Set compiles a
// dir24: below it, bart's nodes stay in the caches and the fixed 64 MiB
// would be wasted.
const dir24Min = 1 << 16

// buildDir24 compiles the IPv4 networks of t, or returns nil if they
// do not fit the layout (over a billion run entries).
func buildDir24(t *bart.Table[uint32]) *dir24 {
	d := &dir24{tbl: make([]uint32, 1<<24), runs: []uint64{0}}
	var block [256]uint32 // the current /24's addresses, match index + 1
	cur := -1             // the /24 in block, or -1
	overflow := false     // the run lists outgrew their offsets: leave it to bart
	flush := func() {
		if cur < 0 {
			return
		}
		if v, low, ok := single(&block); ok && v <= oneMax {
			d.tbl[cur] = oneFlag | low<<22 | v
			cur = -1
			return
		}
		off := len(d.runs)
		if off >= 1<<30 {
			overflow = true
			cur = -1
			return
		}
		d.runs = append(d.runs, 0)
		n := 0
		for i := 0; i < 256; i++ {
			if i == 0 || block[i] != block[i-1] {
				d.runs = append(d.runs, uint64(i)<<32|uint64(block[i]))
				n++
			}
		}
		d.runs[off] = uint64(n)
		d.tbl[cur] = runsFlag | uint32(off)
		cur = -1
	}
	// AllSorted4 yields a network before the networks inside it, so a
	// later, longer network overwrites what a shorter one filled in:
	// longest-prefix match.
	for p, v := range t.AllSorted4() {
		a := p.Addr().As4()
		hi := int(a[0])<<16 | int(a[1])<<8 | int(a[2])
		if p.Bits() <= 24 {
			flush()
			n := 1 << (24 - p.Bits())
			for i := hi; i < hi+n; i++ {
				d.tbl[i] = v + 1
			}
			continue
		}
		if cur != hi {
			flush()
			cur = hi
			base := d.tbl[hi] // the /24 or shorter network around it, if any
			for i := range block {
				block[i] = base
			}
		}
		n := 1 << (32 - p.Bits())
		for i := int(a[3]); i < int(a[3])+n; i++ {
			block[i] = v + 1
		}
	}
	flush()
	if overflow {
		return nil
	}
	d.runs = slices.Clip(d.runs)
	d.any = make([]uint64, len(d.tbl)/64)
	for i, e := range d.tbl {
		if e != 0 {
			d.any[i>>6] |= 1 << (i & 63)
		}
	}
	return d
}

// single reports whether block lists exactly one address and nothing
// else, and which.
func single(block *[256]uint32) (v, low uint32, ok bool) {
	for i, x := range block {
		if x == 0 {
			continue
		}
		if ok {
			return 0, 0, false
		}
		v, low, ok = x, uint32(i), true
	}
	return v, low, ok
}

// lookup returns the match index of the most specific network that
// covers a, an IPv4 address.
func (d *dir24) lookup(a netip.Addr) (uint32, bool) {
	b := a.As4()
	i := uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2])
	if d.any[i>>6]&(1<<(i&63)) == 0 {
		return 0, false
	}
	e := d.tbl[i]
	switch {
	case e&runsFlag == 0:
		return e - 1, e != 0
	case e&oneFlag == oneFlag:
		if e>>22&0xff != uint32(b[3]) {
			return 0, false
		}
		return e&oneMax - 1, true
	}
	off := int(e &^ runsFlag)
	low := uint64(b[3])
	v := uint32(0)
	for _, r := range d.runs[off+1 : off+1+int(d.runs[off])] {
		if r>>32 > low {
			break
		}
		v = uint32(r)
	}
	return v - 1, v != 0
}
