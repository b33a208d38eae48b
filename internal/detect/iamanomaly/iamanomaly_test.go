package iamanomaly

import (
	"testing"

	"picket/internal/detect"
)

func TestCountsSpaceSaving(t *testing.T) {
	var c counts[int]
	for i := range 3 {
		for range 10 * (i + 1) {
			c.add(i, 1, 3)
		}
	}
	c.add(99, 1, 3) // evicts the least counted (0, 10 calls) and inherits its count
	if c.get(0) != 0 || c.get(99) != 11 || c.get(2) != 30 {
		t.Errorf("after eviction: %v %v", c.Keys, c.N)
	}
}

func TestFrequency(t *testing.T) {
	d, err := New(detect.Env{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		n     uint32
		total int64
		want  string
	}{{0, 1000, subUnseen}, {5, 1000, subRare}, {50, 1000, subInfrequent}, {200, 1000, subFrequent}} {
		if got := d.frequency(tt.n, tt.total); got != tt.want {
			t.Errorf("frequency(%d of %d) = %s, want %s", tt.n, tt.total, got, tt.want)
		}
	}
}
