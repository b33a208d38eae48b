package scanner

import "testing"

// The distinct counts stay close to the truth for runs of ports, as a
// scan produces them, and for scattered ones.
func TestBitmapCounts(t *testing.T) {
	for _, n := range []int{10, 50, 200, 1000} {
		var run, scattered bitmap
		for p := 1; p <= n; p++ {
			run.add(mix64(uint64(p)))
			scattered.add(mix64(uint64(p * 257)))
		}
		for name, m := range map[string]*bitmap{"run": &run, "scattered": &scattered} {
			got := m.count()
			if diff := float64(got-n) / float64(n); diff > 0.08 || diff < -0.08 {
				t.Errorf("%d distinct ports (%s): counted %d", n, name, got)
			}
			if n <= 50 && got != n && got < n-1 {
				t.Errorf("%d distinct ports (%s): counted %d; small counts must be (nearly) exact", n, name, got)
			}
		}
	}
}
