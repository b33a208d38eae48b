package metrics

import (
	"testing"
	"time"
)

// TestPush checks the push targets' series: deliveries, failures,
// refusals, latency, and the backlog asked at scrape time.
func TestPush(t *testing.T) {
	s := New(nil)
	oldest := time.Now().Add(-90 * time.Second)
	p := s.AddPush([]string{"soc", "siem"}, func() []PushStatus {
		return []PushStatus{{Target: "soc", Pending: 0}, {Target: "siem", Pending: 4, Oldest: oldest, Failing: true}}
	})
	p.Sent("soc", []time.Duration{100 * time.Millisecond, 300 * time.Millisecond})
	p.Failed("siem")
	p.Failed("siem")
	p.Rejected("soc", 3)
	_, fams := scrape(t, s)
	got := samples(fams)
	want := map[string]float64{
		`picket_push_sent_total{target="soc"}`:             2,
		`picket_push_sent_total{target="siem"}`:            0,
		`picket_push_failures_total{target="soc"}`:         0,
		`picket_push_failures_total{target="siem"}`:        2,
		`picket_push_rejected_total{target="soc"}`:         3,
		`picket_push_rejected_total{target="siem"}`:        0,
		`picket_push_latency_seconds_count{target="soc"}`:  2,
		`picket_push_latency_seconds_sum{target="soc"}`:    0.4,
		`picket_push_pending{target="soc"}`:                0,
		`picket_push_pending{target="siem"}`:               4,
		`picket_push_oldest_pending_seconds{target="soc"}`: 0,
		`picket_push_failing{target="soc"}`:                0,
		`picket_push_failing{target="siem"}`:               1,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || !approx(g, v) {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if age := got[`picket_push_oldest_pending_seconds{target="siem"}`]; age < 89 || age > 120 {
		t.Errorf("oldest pending age %v, want about 90", age)
	}
}
