package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// pushBuckets bound the time from a commit to a push target's delivery,
// in seconds: under a second when targets keep up, a publishing period
// (15 minutes to 6 hours) for changes to findings.
var pushBuckets = []float64{.05, .1, .25, .5, 1, 2, 5, 15, 60, 300, 900, 3600, 6 * 3600, 12 * 3600}

// PushStatus is a push target's backlog as the publisher last saw it.
// It has the fields of publish.Backlog, so one converts to the other.
type PushStatus struct {
	Target  string
	Pending int       // outbox entries not sent, due or not
	Oldest  time.Time // commit time of the oldest due one; zero if none
	Failing bool      // the last attempt failed
}

// Push counts what the push targets deliver.
type Push struct {
	sent     *prometheus.CounterVec
	failed   *prometheus.CounterVec
	rejected *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// AddPush registers the metrics of the push targets: findings delivered,
// failed attempts (each one retried) and findings refused for good by
// target, the time from commit
// to delivery, and, asked of status at scrape time, each target's
// pending entries, the age of its oldest due one and whether it is
// failing. Call it once, before serving.
func (s *Set) AddPush(targets []string, status func() []PushStatus) *Push {
	p := &Push{
		sent:     counterVec("picket_push_sent_total", "Findings delivered to a push target, by target.", "target"),
		failed:   counterVec("picket_push_failures_total", "Failed attempts to deliver to a push target (retried with backoff), by target.", "target"),
		rejected: counterVec("picket_push_rejected_total", "Findings a push target's receiver refused for good (not retried; Security Hub's FailedFindings), by target.", "target"),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "picket_push_latency_seconds",
			Help:    "Time from the commit of a finding to its delivery to a push target, by target.",
			Buckets: pushBuckets,
		}, []string{"target"}),
	}
	for _, t := range targets {
		p.sent.WithLabelValues(label(t))
		p.failed.WithLabelValues(label(t))
		p.rejected.WithLabelValues(label(t))
	}
	s.reg.MustRegister(p.sent, p.failed, p.rejected, p.latency, &pushCollector{status: status})
	return p
}

// Sent counts deliveries to target, with the time from each one's commit.
func (p *Push) Sent(target string, latency []time.Duration) {
	t := label(target)
	p.sent.WithLabelValues(t).Add(float64(len(latency)))
	h := p.latency.WithLabelValues(t)
	for _, l := range latency {
		h.Observe(l.Seconds())
	}
}

// Rejected counts n findings target's receiver refused for good.
func (p *Push) Rejected(target string, n int) {
	p.rejected.WithLabelValues(label(target)).Add(float64(n))
}

// Failed counts a failed attempt of target.
func (p *Push) Failed(target string) { p.failed.WithLabelValues(label(target)).Inc() }

var (
	pushPendingDesc = prometheus.NewDesc("picket_push_pending", "Outbox entries a push target has not delivered, due or not.", []string{"target"}, nil)
	pushAgeDesc     = prometheus.NewDesc("picket_push_oldest_pending_seconds", "Age of the oldest due entry a push target has not delivered; 0 when none.", []string{"target"}, nil)
	pushFailingDesc = prometheus.NewDesc("picket_push_failing", "1 while a push target's last attempt failed.", []string{"target"}, nil)
)

// pushCollector reports the targets' backlogs at scrape time.
type pushCollector struct{ status func() []PushStatus }

func (c *pushCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- pushPendingDesc
	ch <- pushAgeDesc
	ch <- pushFailingDesc
}

func (c *pushCollector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	for _, st := range c.status() {
		age := 0.0
		if !st.Oldest.IsZero() {
			age = max(0, now.Sub(st.Oldest).Seconds())
		}
		t := label(st.Target)
		emit(ch, pushPendingDesc, prometheus.GaugeValue, float64(st.Pending), t)
		emit(ch, pushAgeDesc, prometheus.GaugeValue, age, t)
		emit(ch, pushFailingDesc, prometheus.GaugeValue, one(st.Failing), t)
	}
}
