// Package metrics owns what picket serve exposes at /metrics, in the
// Prometheus exposition formats through the Prometheus client library:
// the ingest loop's counters, detection state sizes, ingest lag, commits,
// API and Firehose requests, watched directories, S3 sources, the
// threat-intel refresher, readiness, and the Go runtime and process.
//
// The ingest loop's hot path takes no lock: the loop counts in its own
// Ingest and publishes a copy now and then (Set.Publish swaps a pointer),
// and a scrape reads the last copy published. HTTP-side events (API and
// Firehose requests) and commits go to the client library's counters and
// histograms directly. Sources and the intel refresher are asked for
// their state at scrape time through functions they register.
//
// Only the composition root and the ingest loop of picket serve import
// metrics. It imports detect.
package metrics

import (
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"picket/internal/detect"
)

// Bucket bounds, in seconds. Commits write a batch of findings, the
// checkpoints and the detection state, so they take longer than API
// calls.
var (
	commitBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	apiBuckets    = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}
)

// Set holds every metric of the service and serves them over HTTP. Its
// methods are safe for concurrent use.
type Set struct {
	reg     *prometheus.Registry
	handler http.Handler

	// snap is the ingest loop's last published snapshot (nil: none yet).
	snap atomic.Pointer[snapshot]

	commitsOK      prometheus.Counter
	commitsFailed  prometheus.Counter
	commitDuration prometheus.Histogram
	stateBytes     prometheus.Gauge
	api            *prometheus.CounterVec
	apiDuration    *prometheus.HistogramVec
	firehose       *prometheus.CounterVec
	// uncommitted is set while records have been read that no commit
	// holds yet; the collector reports it with the snapshot.
	uncommitted atomic.Bool
	ready       prometheus.Gauge

	// mu guards the registered sources and intel refresher.
	mu      sync.Mutex
	watches []watch
	s3      []s3Source
	intel   func() IntelStatus
}

var _ http.Handler = (*Set)(nil)

// snapshot is what the ingest loop published last.
type snapshot struct {
	ingest Ingest
	state  map[string][]detect.StateStats
	newest int64
}

type watch struct {
	name   string
	status func() WatchStatus
}

type s3Source struct {
	name     string
	caughtUp func() bool
}

// WatchStatus is a watched directory's state as of its last listing. It
// has the fields of source.WatchStatus, so one converts to the other.
type WatchStatus struct {
	Scans   uint64 // listings so far
	Files   int    // files present at the last listing
	Pending int    // of those, files with data not yet read, or being read
}

// IntelStatus is the threat-intel refresher's state.
type IntelStatus struct {
	Lists           int    // threat and trusted lists in use
	Refreshes       uint64 // rounds of fetching the lists again
	RefreshFailures uint64 // rounds in which a list could not be fetched or decoded
	RefreshUpdates  uint64 // rounds that swapped in a changed list
}

// New returns a Set with every metric registered, the service's start
// time set to now, and not ready. Problems met while serving a scrape
// (the rest of the scrape is still served) go to log; nil discards them.
func New(log *slog.Logger) *Set {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	commits := counterVec("picket_commits_total", "Commits of findings, checkpoints and state, by result.", "result")
	s := &Set{
		reg: prometheus.NewRegistry(),
		// Both results show from the start, so that a rate of errors is 0
		// rather than absent until the first failure; and a commit counts
		// without looking its label up.
		commitsOK:     commits.WithLabelValues("ok"),
		commitsFailed: commits.WithLabelValues("error"),
		commitDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "picket_commit_duration_seconds",
			Help:    "How long commits took.",
			Buckets: commitBuckets,
		}),
		stateBytes: gauge("picket_state_snapshot_bytes", "Size of the last committed detection state snapshot."),
		api:        counterVec("picket_api_requests_total", "API requests, by operation and HTTP status.", "operation", "status"),
		apiDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "picket_api_request_duration_seconds",
			Help:    "API request latency, by operation.",
			Buckets: apiBuckets,
		}, []string{"operation"}),
		firehose: counterVec("picket_firehose_requests_total", "Firehose delivery requests, by HTTP status.", "status"),
		ready:    gauge("picket_ready", "1 when the service is ready: store open, state restored, sources started."),
	}
	start := gauge("picket_start_time_seconds", "When the service started.")
	start.Set(float64(time.Now().Unix()))

	s.reg.MustRegister(
		newCollector(s), commits, s.commitDuration, s.stateBytes, s.api, s.apiDuration,
		s.firehose, s.ready, start,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	s.handler = promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{
		ErrorLog:      errorLog{log},
		ErrorHandling: promhttp.ContinueOnError,
	})
	return s
}

func gauge(name, help string) prometheus.Gauge {
	return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
}

func counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}

// ServeHTTP answers a scrape in the format the scraper asks for (the
// text format by default).
func (s *Set) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

// Publish replaces the ingest loop's snapshot: its counters, the state
// statistics of each stage and detector (nil keeps the last ones
// published), and the newest event time seen in seconds since the epoch
// (0: none yet). Set keeps c and state: the caller must not change them
// afterwards (publish a Clone). Publish takes no lock.
func (s *Set) Publish(c Ingest, state map[string][]detect.StateStats, newest int64) {
	next := &snapshot{ingest: c, state: state, newest: newest}
	for {
		prev := s.snap.Load()
		if state == nil && prev != nil {
			next.state = prev.state
		}
		if s.snap.CompareAndSwap(prev, next) {
			return
		}
	}
}

// SetUncommitted says whether records have been read that no commit
// holds yet. It takes no lock.
func (s *Set) SetUncommitted(v bool) { s.uncommitted.Store(v) }

// Commit counts a commit attempt that took d and failed with err (nil:
// succeeded); a successful commit wrote a state snapshot of stateBytes
// bytes. It takes no lock.
func (s *Set) Commit(d time.Duration, err error, stateBytes int) {
	s.commitDuration.Observe(d.Seconds())
	if err != nil {
		s.commitsFailed.Inc()
		return
	}
	s.commitsOK.Inc()
	s.stateBytes.Set(float64(stateBytes))
}

// APIRequest counts an API request of operation op answered with status
// after d. op must come from a bounded set of names, such as the API's
// operation names; it has the signature of api.Observer.
func (s *Set) APIRequest(op string, status int, d time.Duration) {
	op = label(op)
	s.api.WithLabelValues(op, strconv.Itoa(status)).Inc()
	s.apiDuration.WithLabelValues(op).Observe(d.Seconds())
}

// FirehoseRequest counts a Firehose delivery request answered with
// status; it has the signature of source.FirehoseConfig.Observe.
func (s *Set) FirehoseRequest(status int) {
	s.firehose.WithLabelValues(strconv.Itoa(status)).Inc()
}

// SetReady says whether the service is ready.
func (s *Set) SetReady(v bool) { s.ready.Set(one(v)) }

// AddWatch adds a watched directory, named name in the source label;
// status is called at each scrape and must be safe for concurrent use.
func (s *Set) AddWatch(name string, status func() WatchStatus) {
	s.mu.Lock()
	s.watches = append(s.watches, watch{name, status})
	s.mu.Unlock()
}

// AddS3 adds an S3 source, named name in the source label; caughtUp
// reports whether its last listing found nothing new. It is called at
// each scrape and must be safe for concurrent use.
func (s *Set) AddS3(name string, caughtUp func() bool) {
	s.mu.Lock()
	s.s3 = append(s.s3, s3Source{name, caughtUp})
	s.mu.Unlock()
}

// SetIntel sets the threat-intel refresher, whose metrics show only once
// it is set; status is called at each scrape and must be safe for
// concurrent use.
func (s *Set) SetIntel(status func() IntelStatus) {
	s.mu.Lock()
	s.intel = status
	s.mu.Unlock()
}

// collector exposes what is read at scrape time: the ingest loop's
// snapshot and the registered sources and intel refresher.
type collector struct {
	s *Set

	records, noData, skipData, skipped, late  *prometheus.Desc
	bytes, inputs, inputErrors                *prometheus.Desc
	findings, dropped                         *prometheus.Desc
	stateEntries, stateCapacity, stateEvicted *prometheus.Desc
	lag, newest, uncommitted                  *prometheus.Desc
	watchScans, watchFiles, watchPending      *prometheus.Desc
	s3CaughtUp                                *prometheus.Desc
	intelLists, intelRefreshes, intelFailures *prometheus.Desc
	intelUpdates                              *prometheus.Desc
	all                                       []*prometheus.Desc
}

var _ prometheus.Collector = (*collector)(nil)

func newCollector(s *Set) *collector {
	c := &collector{s: s}
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		d := prometheus.NewDesc(name, help, labels, nil)
		c.all = append(c.all, d)
		return d
	}
	c.records = desc("picket_records_ingested_total", "Records decoded and passed to the detectors, by record kind.", "kind")
	c.noData = desc("picket_records_nodata_total", "Flow log NODATA records (no traffic in the window).")
	c.skipData = desc("picket_records_skipdata_total", "Flow log SKIPDATA records (records AWS skipped).")
	c.skipped = desc("picket_records_skipped_total", "Bad records skipped, by reason.", "reason")
	c.late = desc("picket_records_late_total", "Records older than the watermark on arrival.")
	c.bytes = desc("picket_input_bytes_total", "Input bytes read (compressed size for gzip), by source type.", "source")
	c.inputs = desc("picket_inputs_total", "Inputs (files, objects, Firehose records) read, by source type.", "source")
	c.inputErrors = desc("picket_input_errors_total", "Inputs that could not be read to their end, by source type.", "source")
	c.findings = desc("picket_findings_reported_total", "Finding reports from the detectors, by finding type.", "type")
	c.dropped = desc("picket_findings_dropped_total", "Finding reports not stored, by reason.", "reason")
	c.stateEntries = desc("picket_detection_state_entries", "Entries in each detection state table.", "component", "table")
	c.stateCapacity = desc("picket_detection_state_capacity", "Entries each detection state table may hold.", "component", "table")
	c.stateEvicted = desc("picket_detection_state_evictions_total", "Entries evicted from each detection state table to stay within its bound.", "component", "table")
	c.lag = desc("picket_ingest_lag_seconds", "Wall clock time minus the newest event time ingested.")
	c.newest = desc("picket_newest_event_timestamp_seconds", "The newest event time ingested.")
	c.uncommitted = desc("picket_ingest_uncommitted", "1 while records have been read that no commit holds yet.")
	c.watchScans = desc("picket_watch_scans_total", "Listings of each watched directory.", "source")
	c.watchFiles = desc("picket_watch_files", "Files in each watched directory at its last listing.", "source")
	c.watchPending = desc("picket_watch_pending_files", "Files of each watched directory with data not yet read.", "source")
	c.s3CaughtUp = desc("picket_s3_caught_up", "1 when the last listing of an S3 source found nothing new.", "source")
	c.intelLists = desc("picket_intel_lists", "Threat and trusted lists in use.")
	c.intelRefreshes = desc("picket_intel_refreshes_total", "Rounds of fetching the lists in use again.")
	c.intelFailures = desc("picket_intel_refresh_failures_total", "Refresh rounds in which a list could not be fetched or decoded (it kept its last good version).")
	c.intelUpdates = desc("picket_intel_refresh_updates_total", "Refresh rounds that swapped in a changed list.")
	return c
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.all {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	// One scrape is consistent in the order a reader relies on: the
	// sources' pending files are read first, then the uncommitted flag,
	// then the ingest snapshot. The loop marks records uncommitted before
	// a source's file counts as read, and publishes a commit's snapshot
	// before it clears the flag; so a scrape that shows no pending file
	// and nothing uncommitted also shows every record read.
	// The callbacks take their owners' locks: call them outside ours.
	c.s.mu.Lock()
	watches, s3, intel := c.s.watches, c.s.s3, c.s.intel
	c.s.mu.Unlock()
	status := make([]WatchStatus, len(watches))
	for i, w := range watches {
		status[i] = w.status()
	}
	caughtUp := make([]bool, len(s3))
	for i, p := range s3 {
		caughtUp[i] = p.caughtUp()
	}
	uncommitted := c.s.uncommitted.Load()
	var snap snapshot
	if p := c.s.snap.Load(); p != nil {
		snap = *p
	}
	in := snap.ingest
	counters := func(d *prometheus.Desc, m map[string]uint64) {
		for k, v := range m {
			emit(ch, d, prometheus.CounterValue, float64(v), k)
		}
	}
	counters(c.records, in.Records)
	emit(ch, c.noData, prometheus.CounterValue, float64(in.NoData))
	emit(ch, c.skipData, prometheus.CounterValue, float64(in.SkipData))
	counters(c.skipped, in.Skipped)
	emit(ch, c.late, prometheus.CounterValue, float64(in.Late))
	counters(c.bytes, in.Bytes)
	counters(c.inputs, in.Inputs)
	counters(c.inputErrors, in.Failed)
	counters(c.findings, in.Findings)
	counters(c.dropped, in.Dropped)

	for component, tables := range snap.state {
		for _, t := range tables {
			emit(ch, c.stateEntries, prometheus.GaugeValue, float64(t.Len), component, t.Table)
			emit(ch, c.stateCapacity, prometheus.GaugeValue, float64(t.Cap), component, t.Table)
			emit(ch, c.stateEvicted, prometheus.CounterValue, float64(t.Evicted), component, t.Table)
		}
	}
	lag := math.NaN()
	if snap.newest > 0 {
		lag = time.Since(time.Unix(snap.newest, 0)).Seconds()
	}
	emit(ch, c.lag, prometheus.GaugeValue, lag)
	emit(ch, c.newest, prometheus.GaugeValue, float64(snap.newest))

	emit(ch, c.uncommitted, prometheus.GaugeValue, one(uncommitted))
	for i, w := range watches {
		st := status[i]
		emit(ch, c.watchScans, prometheus.CounterValue, float64(st.Scans), w.name)
		emit(ch, c.watchFiles, prometheus.GaugeValue, float64(st.Files), w.name)
		emit(ch, c.watchPending, prometheus.GaugeValue, float64(st.Pending), w.name)
	}
	for i, p := range s3 {
		emit(ch, c.s3CaughtUp, prometheus.GaugeValue, one(caughtUp[i]), p.name)
	}
	if intel != nil {
		st := intel()
		emit(ch, c.intelLists, prometheus.GaugeValue, float64(st.Lists))
		emit(ch, c.intelRefreshes, prometheus.CounterValue, float64(st.Refreshes))
		emit(ch, c.intelFailures, prometheus.CounterValue, float64(st.RefreshFailures))
		emit(ch, c.intelUpdates, prometheus.CounterValue, float64(st.RefreshUpdates))
	}
}

// emit sends one sample; a sample the library refuses becomes an
// invalid metric, which the scrape reports and skips.
func emit(ch chan<- prometheus.Metric, d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
	for i, l := range labels {
		labels[i] = label(l)
	}
	m, err := prometheus.NewConstMetric(d, t, v, labels...)
	if err != nil {
		m = prometheus.NewInvalidMetric(d, err)
	}
	ch <- m
}

// label makes s a valid label value: the client library refuses (and
// its vectors panic on) values that are not UTF-8, which a directory or
// bucket name may be.
func label(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

func one(v bool) float64 {
	if v {
		return 1
	}
	return 0
}

// errorLog hands the HTTP handler's errors to slog.
type errorLog struct{ log *slog.Logger }

func (l errorLog) Println(v ...any) {
	l.log.Warn("serving metrics", "error", strings.TrimSuffix(fmt.Sprintln(v...), "\n"))
}
