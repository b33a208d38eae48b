package detecttest

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWallClockUses(t *testing.T) {
	_, uses, err := wallClockUses(filepath.Join("testdata", "clock"))
	if err != nil {
		t.Fatal(err)
	}
	for i, u := range uses {
		uses[i] = filepath.ToSlash(u)
	}
	want := []string{
		"testdata/clock/clock.go:11:6: time.Now",
		"testdata/clock/clock.go:12:2: time.Sleep",
		"testdata/clock/clock.go:13:6: time.Since",
		"testdata/clock/clock.go:17:11: time.Now",
		"testdata/clock/clock.go:29:6: time.Until",
	}
	if d := cmp.Diff(want, uses); d != "" {
		t.Errorf("wall clock uses (-want +got):\n%s", d)
	}
}

// TestNoWallClock checks this package and what it imports of the module:
// the suite itself learns nothing from the wall clock either (its
// WallClock property uses testing/synctest's fake clock).
func TestNoWallClock(t *testing.T) {
	NoWallClock(t, "picket/internal/detect/detecttest")
}
