package sketch

import (
	"encoding/binary"
	"net/netip"
)

// Hash returns a 64-bit hash of an address and a small value (a port, a
// row number), keyed by seed. It is deterministic, unlike hash/maphash,
// so that state saved by one process means the same to the next and two
// runs over the same input make the same decisions; it mixes like
// wyhash's final step (128-bit multiply, fold), which is plenty for
// bucketing (it is not a defence against chosen-key attacks, and the
// tables it feeds are bounded anyway).
func Hash(seed uint64, a netip.Addr, x uint64) uint64 {
	b := a.As16()
	lo := binary.LittleEndian.Uint64(b[:8])
	hi := binary.LittleEndian.Uint64(b[8:])
	h := mix(lo^seed^0xa0761d6478bd642f, hi^0xe7037ed1a0b428db)
	return mix(h^x, seed^0x8ebc6af09c88c6e3)
}

func mix(a, b uint64) uint64 {
	hi, lo := mul64(a, b)
	return hi ^ lo
}

// mul64 returns the 128-bit product of a and b.
func mul64(a, b uint64) (hi, lo uint64) {
	const mask32 = 1<<32 - 1
	a0, a1 := a&mask32, a>>32
	b0, b1 := b&mask32, b>>32
	w0 := a0 * b0
	t := a1*b0 + w0>>32
	w1 := t&mask32 + a0*b1
	hi = a1*b1 + t>>32 + w1>>32
	lo = a * b
	return
}

// DefaultSeed keys the hashes of every table whose state is saved: one
// fixed value, so that runs are reproducible.
const DefaultSeed uint64 = 0x9e3779b97f4a7c15
