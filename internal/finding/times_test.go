package finding

import (
	"testing"
	"time"
)

// TestTimesAreEventTime holds the rule for a finding's four times: all are
// event times. eventFirstSeen and eventLastSeen bound the activity;
// createdAt is the end of the earliest report (the event time at which
// the evidence was first complete) and updatedAt the end of the latest,
// so updatedAt equals eventLastSeen. Merging the same reports in any
// order, in one batch or many, gives the same four times.
func TestTimesAreEventTime(t *testing.T) {
	base := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	k := Key{Account: "123456789012", Region: "us-east-1", Resource: "i-1", Role: RoleTarget}
	report := func(first, last time.Duration) *Finding {
		return New(TypePortscan, k, "d", base.Add(first), base.Add(last), 1)
	}
	reports := [][2]time.Duration{{0, 5 * time.Minute}, {10 * time.Minute, 20 * time.Minute}, {-3 * time.Minute, 2 * time.Minute}}
	orders := [][]int{{0, 1, 2}, {2, 1, 0}, {1, 0, 2}, {1, 2, 0}}
	want := [4]time.Time{base.Add(-3 * time.Minute), base.Add(20 * time.Minute), base.Add(2 * time.Minute), base.Add(20 * time.Minute)}
	for _, order := range orders {
		f := report(reports[order[0]][0], reports[order[0]][1])
		for _, i := range order[1:] {
			Merge(f, report(reports[i][0], reports[i][1]))
		}
		got := [4]time.Time{f.Service.EventFirstSeen.Time, f.Service.EventLastSeen.Time, f.CreatedAt.Time, f.UpdatedAt.Time}
		if got != want {
			t.Errorf("order %v: eventFirstSeen, eventLastSeen, createdAt, updatedAt = %v, want %v", order, got, want)
		}
	}
	// A single report: created and updated when its evidence was complete.
	f := report(0, 5*time.Minute)
	if !f.CreatedAt.Equal(base.Add(5*time.Minute)) || !f.UpdatedAt.Equal(f.Service.EventLastSeen.Time) {
		t.Errorf("new finding: createdAt %v, updatedAt %v, eventLastSeen %v", f.CreatedAt, f.UpdatedAt, f.Service.EventLastSeen)
	}
}
