package app

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"picket/internal/detect"
	"picket/internal/source"
)

// metrics holds what /metrics exposes, in the Prometheus text format
// (version 0.0.4). The ingest loop keeps its counters in plain fields
// and publishes a snapshot here now and then, so the hot path takes no
// lock; the HTTP side (API requests, Firehose) counts under the lock.
type metrics struct {
	mu sync.Mutex

	ingest ingestCounters
	state  map[string][]detect.StateStats
	// newest is the newest event time seen, in seconds since the epoch
	// (0: none yet).
	newest int64
	start  time.Time

	commits       map[string]uint64 // by result
	commitLatency histogram
	stateBytes    int64
	api           map[[2]string]uint64 // operation, status
	apiLatency    map[string]*histogram
	firehose      map[string]uint64 // by status code
	ready         bool
	// uncommitted is set while records have been read that no commit
	// holds yet.
	uncommitted atomic.Bool
	watchers    []*source.Watcher
	pollers     []*source.S3Poller
	intel       *serveIntel
}

// ingestCounters are the ingest loop's counters.
type ingestCounters struct {
	Records  map[string]uint64 // by record kind
	NoData   uint64
	SkipData uint64
	Skipped  map[string]uint64 // bad records by reason
	Bytes    map[string]uint64 // input bytes by source type
	Inputs   map[string]uint64 // inputs read, by source type
	Failed   map[string]uint64 // inputs that could not be read, by source type
	Findings map[string]uint64 // finding reports by type
	Dropped  map[string]uint64 // finding reports not stored, by reason
	Late     uint64
}

func newIngestCounters() ingestCounters {
	return ingestCounters{
		Records: map[string]uint64{}, Skipped: map[string]uint64{}, Bytes: map[string]uint64{},
		Inputs: map[string]uint64{}, Failed: map[string]uint64{}, Findings: map[string]uint64{}, Dropped: map[string]uint64{},
	}
}

func (c ingestCounters) clone() ingestCounters {
	return ingestCounters{
		Records: cloneMap(c.Records), NoData: c.NoData, SkipData: c.SkipData, Skipped: cloneMap(c.Skipped),
		Bytes: cloneMap(c.Bytes), Inputs: cloneMap(c.Inputs), Failed: cloneMap(c.Failed),
		Findings: cloneMap(c.Findings), Dropped: cloneMap(c.Dropped), Late: c.Late,
	}
}

func cloneMap(m map[string]uint64) map[string]uint64 {
	out := make(map[string]uint64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func newMetrics() *metrics {
	return &metrics{
		ingest: newIngestCounters(), start: time.Now(),
		commits: map[string]uint64{}, commitLatency: newHistogram(commitBuckets),
		api: map[[2]string]uint64{}, apiLatency: map[string]*histogram{}, firehose: map[string]uint64{},
	}
}

var (
	commitBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	apiBuckets    = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}
)

// publish replaces the ingest snapshot.
func (m *metrics) publish(c ingestCounters, state map[string][]detect.StateStats, newest int64) {
	m.mu.Lock()
	m.ingest = c
	if state != nil {
		m.state = state
	}
	m.newest = newest
	m.mu.Unlock()
}

func (m *metrics) commit(d time.Duration, err error, stateBytes int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.commits[result]++
	m.commitLatency.observe(d.Seconds())
	if err == nil {
		m.stateBytes = int64(stateBytes)
	}
}

func (m *metrics) apiRequest(op string, status int, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.api[[2]string{op, strconv.Itoa(status)}]++
	h := m.apiLatency[op]
	if h == nil {
		hh := newHistogram(apiBuckets)
		h = &hh
		m.apiLatency[op] = h
	}
	h.observe(d.Seconds())
}

func (m *metrics) firehoseRequest(status int) {
	m.mu.Lock()
	m.firehose[strconv.Itoa(status)]++
	m.mu.Unlock()
}

func (m *metrics) setReady(r bool) {
	m.mu.Lock()
	m.ready = r
	m.mu.Unlock()
}

// ServeHTTP writes the metrics.
func (m *metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	m.write(w, time.Now())
}

func (m *metrics) write(out io.Writer, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	c := m.ingest
	counterVec(&b, "picket_records_ingested_total", "Records decoded and passed to the detectors, by record kind.", "kind", c.Records)
	counter(&b, "picket_records_nodata_total", "Flow log NODATA records (no traffic in the window).", c.NoData)
	counter(&b, "picket_records_skipdata_total", "Flow log SKIPDATA records (records AWS skipped).", c.SkipData)
	counterVec(&b, "picket_records_skipped_total", "Bad records skipped, by reason.", "reason", c.Skipped)
	counter(&b, "picket_records_late_total", "Records older than the watermark on arrival.", c.Late)
	counterVec(&b, "picket_input_bytes_total", "Input bytes read (compressed size for gzip), by source type.", "source", c.Bytes)
	counterVec(&b, "picket_inputs_total", "Inputs (files, objects, Firehose records) read, by source type.", "source", c.Inputs)
	counterVec(&b, "picket_input_errors_total", "Inputs that could not be read to their end, by source type.", "source", c.Failed)
	counterVec(&b, "picket_findings_reported_total", "Finding reports from the detectors, by finding type.", "type", c.Findings)
	counterVec(&b, "picket_findings_dropped_total", "Finding reports not stored, by reason.", "reason", c.Dropped)

	header(&b, "picket_detection_state_entries", "Entries in each detection state table.", "gauge")
	header2 := func(name, help, typ string) { header(&b, name, help, typ) }
	keys := make([]string, 0, len(m.state))
	for k := range m.state {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, s := range m.state[k] {
			fmt.Fprintf(&b, "picket_detection_state_entries{component=%s,table=%s} %d\n", quote(k), quote(s.Table), s.Len)
		}
	}
	header2("picket_detection_state_capacity", "Entries each detection state table may hold.", "gauge")
	for _, k := range keys {
		for _, s := range m.state[k] {
			fmt.Fprintf(&b, "picket_detection_state_capacity{component=%s,table=%s} %d\n", quote(k), quote(s.Table), s.Cap)
		}
	}
	header2("picket_detection_state_evictions_total", "Entries evicted from each detection state table to stay within its bound.", "counter")
	for _, k := range keys {
		for _, s := range m.state[k] {
			fmt.Fprintf(&b, "picket_detection_state_evictions_total{component=%s,table=%s} %d\n", quote(k), quote(s.Table), s.Evicted)
		}
	}
	header2("picket_ingest_lag_seconds", "Wall clock time minus the newest event time ingested.", "gauge")
	lag := math.NaN()
	if m.newest > 0 {
		lag = now.Sub(time.Unix(m.newest, 0)).Seconds()
	}
	fmt.Fprintf(&b, "picket_ingest_lag_seconds %s\n", float(lag))
	header2("picket_newest_event_timestamp_seconds", "The newest event time ingested.", "gauge")
	fmt.Fprintf(&b, "picket_newest_event_timestamp_seconds %d\n", m.newest)

	counterVec(&b, "picket_commits_total", "Commits of findings, checkpoints and state, by result.", "result", m.commits)
	m.commitLatency.write(&b, "picket_commit_duration_seconds", "How long commits took.", "")
	header2("picket_state_snapshot_bytes", "Size of the last committed detection state snapshot.", "gauge")
	fmt.Fprintf(&b, "picket_state_snapshot_bytes %d\n", m.stateBytes)

	header2("picket_api_requests_total", "API requests, by operation and HTTP status.", "counter")
	apiKeys := make([][2]string, 0, len(m.api))
	for k := range m.api {
		apiKeys = append(apiKeys, k)
	}
	slices.SortFunc(apiKeys, func(a, b [2]string) int { return strings.Compare(a[0]+" "+a[1], b[0]+" "+b[1]) })
	for _, k := range apiKeys {
		fmt.Fprintf(&b, "picket_api_requests_total{operation=%s,status=%s} %d\n", quote(k[0]), quote(k[1]), m.api[k])
	}
	ops := make([]string, 0, len(m.apiLatency))
	for op := range m.apiLatency {
		ops = append(ops, op)
	}
	slices.Sort(ops)
	header2("picket_api_request_duration_seconds", "API request latency, by operation.", "histogram")
	for _, op := range ops {
		m.apiLatency[op].write(&b, "picket_api_request_duration_seconds", "", "operation="+quote(op))
	}
	counterVec(&b, "picket_firehose_requests_total", "Firehose delivery requests, by HTTP status.", "status", m.firehose)
	header2("picket_ingest_uncommitted", "1 while records have been read that no commit holds yet.", "gauge")
	u := 0
	if m.uncommitted.Load() {
		u = 1
	}
	fmt.Fprintf(&b, "picket_ingest_uncommitted %d\n", u)
	header2("picket_watch_scans_total", "Listings of each watched directory.", "counter")
	for _, w := range m.watchers {
		fmt.Fprintf(&b, "picket_watch_scans_total{source=%s} %d\n", quote(w.Name()), w.Status().Scans)
	}
	header2("picket_watch_files", "Files in each watched directory at its last listing.", "gauge")
	for _, w := range m.watchers {
		fmt.Fprintf(&b, "picket_watch_files{source=%s} %d\n", quote(w.Name()), w.Status().Files)
	}
	header2("picket_watch_pending_files", "Files of each watched directory with data not yet read.", "gauge")
	for _, w := range m.watchers {
		fmt.Fprintf(&b, "picket_watch_pending_files{source=%s} %d\n", quote(w.Name()), w.Status().Pending)
	}
	header2("picket_s3_caught_up", "1 when the last listing of an S3 source found nothing new.", "gauge")
	for _, p := range m.pollers {
		v := 0
		if p.Idle() {
			v = 1
		}
		fmt.Fprintf(&b, "picket_s3_caught_up{source=%s} %d\n", quote(p.Name()), v)
	}
	if si := m.intel; si != nil {
		si.mu.Lock()
		n := len(si.lists)
		si.mu.Unlock()
		header2("picket_intel_lists", "Threat and trusted lists in use.", "gauge")
		fmt.Fprintf(&b, "picket_intel_lists %d\n", n)
		counter(&b, "picket_intel_refreshes_total", "Rounds of fetching the lists in use again.", si.refreshes.Load())
		counter(&b, "picket_intel_refresh_failures_total", "Refresh rounds in which a list could not be fetched or decoded (it kept its last good version).", si.refreshFailures.Load())
		counter(&b, "picket_intel_refresh_updates_total", "Refresh rounds that swapped in a changed list.", si.refreshUpdates.Load())
	}
	header2("picket_ready", "1 when the service is ready: store open, state restored, sources started.", "gauge")
	r := 0
	if m.ready {
		r = 1
	}
	fmt.Fprintf(&b, "picket_ready %d\n", r)
	header2("picket_start_time_seconds", "When the service started.", "gauge")
	fmt.Fprintf(&b, "picket_start_time_seconds %d\n", m.start.Unix())
	io.WriteString(out, b.String())
}

func header(b *strings.Builder, name, help, typ string) {
	fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

func counter(b *strings.Builder, name, help string, v uint64) {
	header(b, name, help, "counter")
	fmt.Fprintf(b, "%s %d\n", name, v)
}

func counterVec(b *strings.Builder, name, help, label string, m map[string]uint64) {
	header(b, name, help, "counter")
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(b, "%s{%s=%s} %d\n", name, label, quote(k), m[k])
	}
}

// quote renders a label value: double quotes, with backslash, quote and
// newline escaped.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func float(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// histogram is a Prometheus histogram with fixed buckets.
type histogram struct {
	bounds []float64
	counts []uint64 // per bucket, not cumulative; the last is +Inf
	sum    float64
	n      uint64
}

func newHistogram(bounds []float64) histogram {
	return histogram{bounds: bounds, counts: make([]uint64, len(bounds)+1)}
}

func (h *histogram) observe(v float64) {
	i, _ := slices.BinarySearch(h.bounds, v)
	h.counts[i]++
	h.sum += v
	h.n++
}

func (h *histogram) write(b *strings.Builder, name, help, labels string) {
	if help != "" {
		header(b, name, help, "histogram")
	}
	sep := ""
	if labels != "" {
		sep = ","
	}
	var cum uint64
	for i, le := range h.bounds {
		cum += h.counts[i]
		fmt.Fprintf(b, "%s_bucket{%s%sle=\"%s\"} %d\n", name, labels, sep, float(le), cum)
	}
	cum += h.counts[len(h.bounds)]
	fmt.Fprintf(b, "%s_bucket{%s%sle=\"+Inf\"} %d\n", name, labels, sep, cum)
	if labels != "" {
		labels = "{" + labels + "}"
	}
	fmt.Fprintf(b, "%s_sum%s %s\n%s_count%s %d\n", name, labels, float(h.sum), name, labels, h.n)
}
