// Package sketch owns the count-min sketch picket uses to remember, in a
// fixed amount of memory, roughly how often each of millions of keys was
// seen: enough to tell a scanner that returns every few minutes from the
// spoofed one-packet sources of a flood, after the exact per-key tables
// have evicted both.
//
// Counters are eight bits with conservative update (only the smallest of a
// key's counters grow), and every counter is halved once as many
// increments have been made as the sketch is wide, so that old activity
// fades and the noise stays below one count per key on average.
//
// Any package may import sketch; it depends on the standard library only.
package sketch

import (
	"encoding/binary"
	"net/netip"
)

const depth = 4

// Sketch is a count-min sketch over network addresses. It is not safe for
// concurrent use.
type Sketch struct {
	rows     [depth][]uint8
	mask     uint64
	seed     uint64
	adds     uint64 // increments since the last halving
	aging    uint64 // increments between halvings
	halvings uint64
}

// New returns a sketch of about bytes bytes of counters (rounded down to a
// power of two per row, at least 1 KiB per row).
func New(bytes int) *Sketch {
	width := 1024
	for width*2*depth <= bytes {
		width *= 2
	}
	s := &Sketch{mask: uint64(width - 1), seed: DefaultSeed, aging: uint64(width) / 2}
	for i := range s.rows {
		s.rows[i] = make([]uint8, width)
	}
	return s
}

// Bytes returns the memory the counters take.
func (s *Sketch) Bytes() int { return depth * len(s.rows[0]) }

func (s *Sketch) hash(a netip.Addr) (uint64, uint64) {
	h := Hash(s.seed, a, 0)
	// Two halves of one hash give the rows' positions (Kirsch-Mitzenmacher).
	return h, h>>32 | h<<32 | 1
}

// Add counts one occurrence of a and returns the estimate of its count,
// this one included.
func (s *Sketch) Add(a netip.Addr) uint8 {
	h1, h2 := s.hash(a)
	var idx [depth]uint64
	est := uint8(255)
	for i := range s.rows {
		idx[i] = (h1 + uint64(i)*h2) & s.mask
		est = min(est, s.rows[i][idx[i]])
	}
	if est < 255 {
		est++
		for i := range s.rows {
			if s.rows[i][idx[i]] < est {
				s.rows[i][idx[i]] = est
			}
		}
	}
	s.adds++
	if s.adds >= s.aging {
		s.halve()
	}
	return est
}

// Estimate returns the estimated count of a without counting it.
func (s *Sketch) Estimate(a netip.Addr) uint8 {
	h1, h2 := s.hash(a)
	est := uint8(255)
	for i := range s.rows {
		est = min(est, s.rows[i][(h1+uint64(i)*h2)&s.mask])
	}
	return est
}

func (s *Sketch) halve() {
	for i := range s.rows {
		row := s.rows[i]
		for j := 0; j+8 <= len(row); j += 8 {
			// Halve eight counters at once.
			v := binary.LittleEndian.Uint64(row[j:])
			binary.LittleEndian.PutUint64(row[j:], (v>>1)&0x7f7f7f7f7f7f7f7f)
		}
	}
	s.adds = 0
	s.halvings++
}

// Halvings returns how many times the counters were halved.
func (s *Sketch) Halvings() uint64 { return s.halvings }

// State is a sketch's content in exported form, for saving state.
type State struct {
	Rows     [depth][]uint8
	Adds     uint64
	Halvings uint64
}

// State returns the sketch's counters for saving. It shares the sketch's
// memory (copying megabytes of counters for every commit would cost more
// than encoding them): encode it before the sketch is next changed.
func (s *Sketch) State() State {
	return State{Rows: s.rows, Adds: s.adds, Halvings: s.halvings}
}

// Restore loads saved counters. A saved sketch of another width is
// ignored (the sketch starts empty): its counters cannot be rehashed.
func (s *Sketch) Restore(st State) {
	for i := range st.Rows {
		if len(st.Rows[i]) != len(s.rows[i]) {
			return
		}
	}
	for i := range s.rows {
		copy(s.rows[i], st.Rows[i])
	}
	s.adds, s.halvings = st.Adds, st.Halvings
}
