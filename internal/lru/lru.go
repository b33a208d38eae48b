// Package lru owns the bounded key-value table that every piece of per-key
// state in picket is built on: detector state, direction learning, intel
// caches. A Table holds at most a fixed number of entries, evicts the least
// recently used one when full, and counts every eviction, so that a flood
// of spoofed keys degrades recall for the flood and never grows memory.
//
// Any package may import lru; it depends on the standard library only.
package lru

import (
	"errors"
	"fmt"
	"io"
)

// Table is a map from K to V with a capacity. Entries live in one slice and
// are linked by index into a recency list, so a full table allocates nothing
// on insert: the oldest entry's slot is reused. Keys should be small,
// pointer-free structs so the table stays cheap for the garbage collector.
//
// A Table is not safe for concurrent use.
type Table[K comparable, V any] struct {
	index   map[K]int32
	entries []entry[K, V]
	head    int32 // most recently used, -1 when empty
	tail    int32 // least recently used
	free    int32 // first slot freed by Delete, linked by next; -1 if none
	max     int
	evicted uint64
	onEvict func(K, *V)
}

type entry[K comparable, V any] struct {
	key        K
	val        V
	prev, next int32
}

// New returns a table that holds at most max entries (at least 1).
// onEvict, if not nil, is called with each entry the table evicts to make
// room, before its slot is reused.
func New[K comparable, V any](max int, onEvict func(K, *V)) *Table[K, V] {
	if max < 1 {
		max = 1
	}
	return &Table[K, V]{
		index:   make(map[K]int32),
		head:    -1,
		tail:    -1,
		free:    -1,
		max:     max,
		onEvict: onEvict,
	}
}

// Len returns the number of entries.
func (t *Table[K, V]) Len() int { return len(t.index) }

// Cap returns the capacity.
func (t *Table[K, V]) Cap() int { return t.max }

// Evicted returns how many entries were evicted to make room since the
// table was made. Entries removed with Delete do not count.
func (t *Table[K, V]) Evicted() uint64 { return t.evicted }

// Get returns a pointer to the value for k and marks it recently used, or
// nil. The pointer is valid until the next call that inserts or deletes.
func (t *Table[K, V]) Get(k K) *V {
	i, ok := t.index[k]
	if !ok {
		return nil
	}
	t.touch(i)
	return &t.entries[i].val
}

// Peek is Get without marking the entry recently used.
func (t *Table[K, V]) Peek(k K) *V {
	i, ok := t.index[k]
	if !ok {
		return nil
	}
	return &t.entries[i].val
}

// Put returns a pointer to the value for k, inserting a zero value (and
// evicting the least recently used entry if the table is full) when k is
// absent. created reports whether k was inserted. The pointer is valid
// until the next call that inserts or deletes.
func (t *Table[K, V]) Put(k K) (v *V, created bool) {
	if i, ok := t.index[k]; ok {
		t.touch(i)
		return &t.entries[i].val, false
	}
	var i int32
	if len(t.index) >= t.max {
		i = t.tail
		old := &t.entries[i]
		if t.onEvict != nil {
			t.onEvict(old.key, &old.val)
		}
		delete(t.index, old.key)
		t.unlink(i)
		t.evicted++
		var zero V
		old.val = zero
		old.key = k
	} else if t.free >= 0 {
		i = t.free
		t.free = t.entries[i].next
		t.entries[i].key = k
	} else {
		i = int32(len(t.entries))
		if len(t.entries) == cap(t.entries) {
			// Grow by doubling, but never past the table's bound, so a
			// full table holds max entries and not up to twice as many.
			grown := make([]entry[K, V], len(t.entries), min(max(2*cap(t.entries), 16), t.max))
			copy(grown, t.entries)
			t.entries = grown
		}
		t.entries = append(t.entries, entry[K, V]{key: k})
	}
	t.index[k] = i
	t.pushFront(i)
	return &t.entries[i].val, true
}

// Delete removes k. It returns whether k was present.
func (t *Table[K, V]) Delete(k K) bool {
	i, ok := t.index[k]
	if !ok {
		return false
	}
	delete(t.index, k)
	t.unlink(i)
	var zero entry[K, V]
	t.entries[i] = zero
	t.entries[i].next = t.free
	t.free = i
	return true
}

// All calls fn for each entry from most to least recently used, without
// changing recency. fn must not insert or delete; to delete while walking,
// collect the keys first.
func (t *Table[K, V]) All(fn func(K, *V) bool) {
	for i := t.head; i >= 0; i = t.entries[i].next {
		if !fn(t.entries[i].key, &t.entries[i].val) {
			return
		}
	}
}

// Oldest returns the least recently used entry's key and value, or ok false
// when the table is empty.
func (t *Table[K, V]) Oldest() (k K, v *V, ok bool) {
	if t.tail < 0 {
		return k, nil, false
	}
	e := &t.entries[t.tail]
	return e.key, &e.val, true
}

// Clear removes every entry and keeps the eviction count.
func (t *Table[K, V]) Clear() {
	clear(t.index)
	t.entries = t.entries[:0]
	t.head, t.tail, t.free = -1, -1, -1
}

func (t *Table[K, V]) touch(i int32) {
	if t.head == i {
		return
	}
	t.unlink(i)
	t.pushFront(i)
}

func (t *Table[K, V]) pushFront(i int32) {
	e := &t.entries[i]
	e.prev = -1
	e.next = t.head
	if t.head >= 0 {
		t.entries[t.head].prev = i
	}
	t.head = i
	if t.tail < 0 {
		t.tail = i
	}
}

func (t *Table[K, V]) unlink(i int32) {
	e := &t.entries[i]
	if e.prev >= 0 {
		t.entries[e.prev].next = e.next
	} else {
		t.head = e.next
	}
	if e.next >= 0 {
		t.entries[e.next].prev = e.prev
	} else {
		t.tail = e.prev
	}
	e.prev, e.next = -1, -1
}

// Snapshot is a table's content in exported form, for saving state: the
// entries from least to most recently used, and the eviction count.
type Snapshot[K comparable, V any] struct {
	Keys    []K
	Vals    []V
	Evicted uint64
	// of is the table a View reads; its entries are then not in Keys
	// and Vals.
	of *Table[K, V]
}

// View returns a snapshot that reads the table's entries only when
// EncodeParts writes them, a part at a time, rather than copying them
// all first. It holds its entries for EncodeParts and Restore alone:
// Keys and Vals are empty, so encoded whole, as a value of
// encoding/gob, it saves no entry. It is valid until the table next
// changes.
func (t *Table[K, V]) View() Snapshot[K, V] {
	return Snapshot[K, V]{Evicted: t.evicted, of: t}
}

// Snapshot copies the table's content.
func (t *Table[K, V]) Snapshot() Snapshot[K, V] {
	s := Snapshot[K, V]{Keys: make([]K, 0, len(t.index)), Vals: make([]V, 0, len(t.index)), Evicted: t.evicted}
	for i := t.tail; i >= 0; i = t.entries[i].prev {
		s.Keys = append(s.Keys, t.entries[i].key)
		s.Vals = append(s.Vals, t.entries[i].val)
	}
	return s
}

// partsHeader precedes the parts of a snapshot that EncodeParts writes.
type partsHeader struct {
	Len     int
	Evicted uint64
}

// EncodeParts hands a snapshot to encode as a sequence of values: a
// header with the number of entries and the eviction count, then the
// entries in parts of at most n, each a Snapshot that shares s's arrays.
// An encoder that holds each value it encodes in memory whole, as
// encoding/gob's does, so holds one part of a large table at a time
// rather than all of it.
func (s *Snapshot[K, V]) EncodeParts(n int, encode func(any) error) error {
	n = max(n, 1)
	if t := s.of; t != nil {
		if err := encode(partsHeader{Len: t.Len(), Evicted: s.Evicted}); err != nil {
			return err
		}
		p := Snapshot[K, V]{Keys: make([]K, 0, min(n, t.Len())), Vals: make([]V, 0, min(n, t.Len()))}
		for i := t.tail; i >= 0; i = t.entries[i].prev {
			p.Keys = append(p.Keys, t.entries[i].key)
			p.Vals = append(p.Vals, t.entries[i].val)
			if len(p.Keys) == n || t.entries[i].prev < 0 {
				if err := encode(p); err != nil {
					return err
				}
				p.Keys, p.Vals = p.Keys[:0], p.Vals[:0]
			}
		}
		return nil
	}
	if len(s.Keys) != len(s.Vals) {
		return fmt.Errorf("snapshot of %d keys and %d values", len(s.Keys), len(s.Vals))
	}
	if err := encode(partsHeader{Len: len(s.Keys), Evicted: s.Evicted}); err != nil {
		return err
	}
	for i := 0; i < len(s.Keys); i += n {
		j := min(i+n, len(s.Keys))
		if err := encode(Snapshot[K, V]{Keys: s.Keys[i:j], Vals: s.Vals[i:j]}); err != nil {
			return err
		}
	}
	return nil
}

// DecodeParts reads with decode what EncodeParts wrote and appends it to
// s. It returns decode's error unchanged when the header cannot be read
// (io.EOF at the end of the input), and io.ErrUnexpectedEOF when the
// input ends before the last part.
func (s *Snapshot[K, V]) DecodeParts(decode func(any) error) error {
	var h partsHeader
	if err := decode(&h); err != nil {
		return err
	}
	if h.Len < 0 {
		return fmt.Errorf("snapshot of %d entries", h.Len)
	}
	s.Evicted = h.Evicted
	for got := 0; got < h.Len; {
		var p Snapshot[K, V]
		if err := decode(&p); err != nil {
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		if len(p.Keys) == 0 || len(p.Keys) != len(p.Vals) || len(p.Keys) > h.Len-got {
			return fmt.Errorf("part of %d keys and %d values in a snapshot of %d entries, %d read", len(p.Keys), len(p.Vals), h.Len, got)
		}
		s.Keys = append(s.Keys, p.Keys...)
		s.Vals = append(s.Vals, p.Vals...)
		got += len(p.Keys)
	}
	return nil
}

// Restore replaces the table's content with a snapshot, keeping the
// entries' recency. Entries beyond the table's capacity (a snapshot taken
// with a larger bound) are evicted, oldest first, and counted.
func (t *Table[K, V]) Restore(s Snapshot[K, V]) {
	if s.of != nil {
		s = s.of.Snapshot()
	}
	t.Clear()
	t.evicted = s.Evicted
	for i, k := range s.Keys {
		v, _ := t.Put(k)
		*v = s.Vals[i]
	}
}
