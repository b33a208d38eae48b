package detect

import (
	"bytes"
	"encoding/gob"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/klauspost/compress/zstd"

	"picket/internal/lru"
)

type tableState struct {
	Name  string
	Big   lru.Snapshot[int, string]
	Small lru.Snapshot[string, int]
	N     uint64
}

// TestStateInParts saves a state whose tables are larger than a part
// and reads it back, and reads a state saved before tables were written
// in parts (one gob value holding them).
func TestStateInParts(t *testing.T) {
	big := lru.New[int, string](3*partEntries, nil)
	for k := range 2*partEntries + 7 {
		v, _ := big.Put(k)
		*v = "v"
	}
	small := lru.New[string, int](4, nil)
	for i, k := range []string{"a", "b", "c", "d", "e"} {
		v, _ := small.Put(k)
		*v = i
	}
	want := tableState{Name: "x", Big: big.Snapshot(), Small: small.Snapshot(), N: 9}
	ignore := cmpopts.IgnoreUnexported(lru.Snapshot[int, string]{}, lru.Snapshot[string, int]{})

	t.Run("parts", func(t *testing.T) {
		for name, st := range map[string]tableState{
			"copies": want,
			"views":  {Name: "x", Big: big.View(), Small: small.View(), N: 9},
		} {
			b, err := EncodeState(st)
			if err != nil {
				t.Fatal(err)
			}
			var got tableState
			if err := DecodeState(b, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got, ignore); diff != "" {
				t.Errorf("%s: read back (-want +got):\n%s", name, diff)
			}
		}
	})
	t.Run("saved whole", func(t *testing.T) {
		var buf bytes.Buffer
		zw, err := zstd.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if err := gob.NewEncoder(zw).Encode(want); err != nil {
			t.Fatal(err)
		}
		zw.Close()
		var got tableState
		if err := DecodeState(buf.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got, ignore); diff != "" {
			t.Errorf("read back (-want +got):\n%s", diff)
		}
	})
	t.Run("cut short", func(t *testing.T) {
		b, err := EncodeState(want)
		if err != nil {
			t.Fatal(err)
		}
		zr, _ := zstd.NewReader(nil)
		raw, err := zr.DecodeAll(b, nil)
		if err != nil {
			t.Fatal(err)
		}
		zw, _ := zstd.NewWriter(nil)
		cut := zw.EncodeAll(raw[:len(raw)*2/3], nil)
		var got tableState
		if err := DecodeState(cut, &got); err == nil {
			t.Error("a state cut short read without error")
		}
	})
}
