package lru

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestEvictsLeastRecentlyUsed(t *testing.T) {
	var evicted []int
	tb := New(3, func(k int, v *string) { evicted = append(evicted, k) })
	for _, k := range []int{1, 2, 3} {
		v, created := tb.Put(k)
		if !created {
			t.Fatalf("Put(%d) reported an existing entry", k)
		}
		*v = "v"
	}
	tb.Get(1) // 2 is now the least recently used
	tb.Put(4)
	if tb.Peek(2) != nil {
		t.Error("2 should have been evicted")
	}
	if tb.Peek(1) == nil || tb.Peek(3) == nil || tb.Peek(4) == nil {
		t.Error("1, 3 and 4 should remain")
	}
	if tb.Evicted() != 1 || len(evicted) != 1 || evicted[0] != 2 {
		t.Errorf("evictions: count %d, callback %v; want 1, [2]", tb.Evicted(), evicted)
	}
	if v := tb.Peek(4); *v != "" {
		t.Errorf("a reused slot must start from the zero value, got %q", *v)
	}
}

func TestDeleteReusesSlots(t *testing.T) {
	tb := New[int, int](10, nil)
	for k := 0; k < 10; k++ {
		v, _ := tb.Put(k)
		*v = k * 10
	}
	for k := 0; k < 10; k += 2 {
		if !tb.Delete(k) {
			t.Fatalf("Delete(%d) = false", k)
		}
	}
	if tb.Delete(0) {
		t.Error("deleting twice reported success")
	}
	for k := 100; k < 105; k++ {
		tb.Put(k)
	}
	if tb.Len() != 10 || len(tb.entries) != 10 {
		t.Errorf("len %d, slots %d: deleted slots were not reused", tb.Len(), len(tb.entries))
	}
	if tb.Evicted() != 0 {
		t.Errorf("deletes counted as evictions: %d", tb.Evicted())
	}
	for k := 1; k < 10; k += 2 {
		if v := tb.Peek(k); v == nil || *v != k*10 {
			t.Errorf("entry %d lost or changed", k)
		}
	}
}

func TestAllAndOldestFollowRecency(t *testing.T) {
	tb := New[string, int](5, nil)
	for _, k := range []string{"a", "b", "c"} {
		tb.Put(k)
	}
	tb.Get("a")
	var order []string
	tb.All(func(k string, _ *int) bool { order = append(order, k); return true })
	if got := order; len(got) != 3 || got[0] != "a" || got[1] != "c" || got[2] != "b" {
		t.Errorf("All order = %v, want [a c b]", got)
	}
	if k, _, ok := tb.Oldest(); !ok || k != "b" {
		t.Errorf("Oldest = %q, want b", k)
	}
	tb.Clear()
	if _, _, ok := tb.Oldest(); ok || tb.Len() != 0 {
		t.Error("Clear left entries")
	}
}

// A flood of distinct keys keeps the table at its cap.
func TestFloodStaysBounded(t *testing.T) {
	tb := New[uint64, [4]uint64](1000, nil)
	for k := uint64(0); k < 1_000_000; k++ {
		tb.Put(k)
	}
	if tb.Len() != 1000 || len(tb.entries) != 1000 {
		t.Errorf("len %d, slots %d after a flood; want 1000", tb.Len(), len(tb.entries))
	}
	if tb.Evicted() != 999_000 {
		t.Errorf("evicted %d, want 999000", tb.Evicted())
	}
}

func BenchmarkPutFull(b *testing.B) {
	tb := New[uint64, [2]uint64](1<<16, nil)
	b.ReportAllocs()
	var k uint64
	for b.Loop() {
		tb.Put(k)
		k++
	}
}

func TestSnapshotRestore(t *testing.T) {
	a := New[int, string](4, nil)
	for k := 0; k < 6; k++ {
		v, _ := a.Put(k)
		*v = string(rune('a' + k))
	}
	a.Get(3)
	snap := a.Snapshot()
	b := New[int, string](4, nil)
	b.Restore(snap)
	var ka, kb []int
	a.All(func(k int, _ *string) bool { ka = append(ka, k); return true })
	b.All(func(k int, _ *string) bool { kb = append(kb, k); return true })
	if fmt.Sprint(ka) != fmt.Sprint(kb) || b.Evicted() != a.Evicted() || *b.Peek(3) != "d" {
		t.Errorf("restored %v (evicted %d), want %v (evicted %d)", kb, b.Evicted(), ka, a.Evicted())
	}
	small := New[int, string](2, nil)
	small.Restore(snap)
	if small.Len() != 2 || small.Evicted() != a.Evicted()+2 || small.Peek(3) == nil {
		t.Errorf("restore into a smaller table: len %d evicted %d", small.Len(), small.Evicted())
	}
}

// TestEncodeParts writes a table in parts, from a copy and from a view,
// through encoding/gob, and reads it back: the same entries in the same
// recency, whatever the part size.
func TestEncodeParts(t *testing.T) {
	src := New[int, string](10, nil)
	for k := range 13 {
		v, _ := src.Put(k)
		*v = string(rune('a' + k))
	}
	src.Get(5)
	want := src.Snapshot()
	for _, n := range []int{1, 3, 10, 100} {
		for name, snap := range map[string]Snapshot[int, string]{"copy": src.Snapshot(), "view": src.View()} {
			t.Run(fmt.Sprintf("%s/%d", name, n), func(t *testing.T) {
				var buf bytes.Buffer
				enc := gob.NewEncoder(&buf)
				if err := snap.EncodeParts(n, enc.Encode); err != nil {
					t.Fatal(err)
				}
				var got Snapshot[int, string]
				dec := gob.NewDecoder(&buf)
				if err := got.DecodeParts(dec.Decode); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(Snapshot[int, string]{})); diff != "" {
					t.Errorf("read back (-want +got):\n%s", diff)
				}
				if err := got.DecodeParts(dec.Decode); !errors.Is(err, io.EOF) {
					t.Errorf("past the end: %v, want io.EOF", err)
				}
			})
		}
	}
	t.Run("cut short", func(t *testing.T) {
		var short bytes.Buffer
		enc := gob.NewEncoder(&short)
		enc.Encode(partsHeader{Len: 10})
		enc.Encode(Snapshot[int, string]{Keys: []int{1}, Vals: []string{"a"}})
		var got Snapshot[int, string]
		if err := got.DecodeParts(gob.NewDecoder(&short).Decode); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("got %v, want io.ErrUnexpectedEOF", err)
		}
	})
	t.Run("restore a view", func(t *testing.T) {
		b := New[int, string](10, nil)
		b.Restore(src.View())
		if diff := cmp.Diff(want, b.Snapshot(), cmpopts.IgnoreUnexported(Snapshot[int, string]{})); diff != "" {
			t.Errorf("restored (-want +got):\n%s", diff)
		}
	})
}
