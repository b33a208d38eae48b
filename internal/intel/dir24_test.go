package intel

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/gaissmai/bart"
)

// TestDir24MatchesBart compiles random nested IPv4 networks, from /8 to
// /32, and checks dir24 against bart's longest-prefix match on random
// addresses and on every network's edges (differential).
func TestDir24MatchesBart(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var tbl bart.Table[uint32]
	var edges []netip.Addr
	addr := func() netip.Addr {
		// a few /8s, so that networks nest and share /24s
		return netip.AddrFrom4([4]byte{byte(10 + r.IntN(4)), byte(r.IntN(8)), byte(r.IntN(16)), byte(r.IntN(256))})
	}
	for i := range 50_000 {
		a, bits := addr(), 8+r.IntN(25)
		if i%3 == 0 {
			// single addresses spread wide: most alone in their /24
			a, bits = netip.AddrFrom4([4]byte{byte(100 + r.IntN(100)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))}), 32
		}
		p, _ := a.Prefix(bits)
		tbl.Insert(p, uint32(i))
		first, last := p.Masked().Addr(), lastAddr(p)
		edges = append(edges, first, last, first.Prev(), last.Next())
	}
	d := buildDir24(&tbl)
	check := func(a netip.Addr) {
		if !a.IsValid() || !a.Is4() {
			return
		}
		want, wok := tbl.Lookup(a)
		got, gok := d.lookup(a)
		if gok != wok || gok && got != want {
			t.Fatalf("%v: dir24 says %d %v, bart %d %v", a, got, gok, want, wok)
		}
	}
	for _, a := range edges {
		check(a)
	}
	for range 1_000_000 {
		check(addr())
		check(netip.AddrFrom4([4]byte{byte(100 + r.IntN(100)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))}))
	}
	ones, runs := 0, 0
	for _, e := range d.tbl {
		switch {
		case e&oneFlag == oneFlag:
			ones++
		case e&runsFlag != 0:
			runs++
		}
	}
	if ones == 0 || runs == 0 {
		t.Errorf("the test should exercise both layouts of a /24: %d single, %d run lists", ones, runs)
	}
}
