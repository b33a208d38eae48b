package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"picket/internal/detect"
)

// epoch is the time at the start of a synctest bubble.
var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// scrape serves a scrape of s as a scraper without content negotiation
// would get it and returns the body and its parsed families.
func scrape(t *testing.T, s *Set) (string, map[string]*dto.MetricFamily) {
	t.Helper()
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if w.Code != http.StatusOK {
		t.Fatalf("scrape: status %d: %s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q, want the text format 0.0.4", ct)
	}
	body := w.Body.String()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing the scrape: %v\n%s", err, body)
	}
	return body, fams
}

// samples flattens picket's families into series and values: a series is
// written as in the text format, with labels in name order and values
// unescaped; a histogram gives its _count and _sum.
func samples(fams map[string]*dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for name, f := range fams {
		if !strings.HasPrefix(name, "picket_") {
			continue
		}
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			series := func(n string) string {
				if len(ls) == 0 {
					return n
				}
				return n + "{" + strings.Join(ls, ",") + "}"
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[series(name)] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[series(name)] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[series(name+"_count")] = float64(m.GetHistogram().GetSampleCount())
				out[series(name+"_sum")] = m.GetHistogram().GetSampleSum()
			default:
				out[series(name)] = math.Inf(-1) // an unexpected type shows in the diff
			}
		}
	}
	return out
}

// family is a metric family's type and label names.
type family struct {
	Type   string
	Labels string
}

// families returns the type and label names of picket's families.
func families(fams map[string]*dto.MetricFamily) map[string]family {
	out := map[string]family{}
	for name, f := range fams {
		if !strings.HasPrefix(name, "picket_") {
			continue
		}
		var labels []string
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				if l.GetName() != "le" {
					ls = append(ls, l.GetName())
				}
			}
			if s := strings.Join(ls, ","); !slices.Contains(labels, s) {
				labels = append(labels, s)
			}
		}
		out[name] = family{strings.ToLower(f.GetType().String()), strings.Join(labels, " | ")}
	}
	return out
}

// everything fills every metric of s: two kinds of ingest counts, state
// of two components, a watched directory, an S3 source, the intel
// refresher, commits, API and Firehose requests.
func everything(s *Set) {
	c := NewIngest()
	c.Records["flow"] = 1000
	c.Records["apicall"] = 20
	c.NoData, c.SkipData, c.Late = 3, 4, 5
	c.Skipped["short-record"] = 6
	c.Bytes["watch"] = 70000
	c.Inputs["watch"] = 8
	c.Failed["s3"] = 1
	c.Findings["Recon:EC2/Portscan"] = 9
	c.Dropped["detector-disabled"] = 2
	state := map[string][]detect.StateStats{
		"contact":  {{Table: "conversations", Len: 10, Cap: 100, Evicted: 7}},
		"portscan": {{Table: "sources", Len: 1, Cap: 50}, {Table: "ports", Len: 2, Cap: 60, Evicted: 1}},
	}
	s.Publish(c, state, epoch.Add(-90*time.Second).Unix())
	s.AddWatch("watch:/var/flows", func() WatchStatus { return WatchStatus{Scans: 12, Files: 3, Pending: 1} })
	s.AddS3("s3:logs/AWSLogs/", func() bool { return true })
	s.SetIntel(func() IntelStatus { return IntelStatus{Lists: 2, Refreshes: 5, RefreshFailures: 1, RefreshUpdates: 3} })
	s.Commit(20*time.Millisecond, nil, 4096)
	s.Commit(2*time.Second, errors.New("disk full"), 9999)
	s.APIRequest("ListFindings", 200, 30*time.Millisecond)
	s.APIRequest("ListFindings", 200, 10*time.Millisecond)
	s.APIRequest("ListFindings", 403, time.Millisecond)
	s.APIRequest("Other", 400, time.Millisecond)
	s.FirehoseRequest(200)
	s.FirehoseRequest(413)
	s.SetReady(true)
	s.SetUncommitted(true)
}

func TestFamilies(t *testing.T) {
	s := New(nil)
	everything(s)
	_, fams := scrape(t, s)
	want := map[string]family{
		"picket_records_ingested_total":          {"counter", "kind"},
		"picket_records_nodata_total":            {"counter", ""},
		"picket_records_skipdata_total":          {"counter", ""},
		"picket_records_skipped_total":           {"counter", "reason"},
		"picket_records_late_total":              {"counter", ""},
		"picket_input_bytes_total":               {"counter", "source"},
		"picket_inputs_total":                    {"counter", "source"},
		"picket_input_errors_total":              {"counter", "source"},
		"picket_findings_reported_total":         {"counter", "type"},
		"picket_findings_dropped_total":          {"counter", "reason"},
		"picket_detection_state_entries":         {"gauge", "component,table"},
		"picket_detection_state_capacity":        {"gauge", "component,table"},
		"picket_detection_state_evictions_total": {"counter", "component,table"},
		"picket_ingest_lag_seconds":              {"gauge", ""},
		"picket_newest_event_timestamp_seconds":  {"gauge", ""},
		"picket_commits_total":                   {"counter", "result"},
		"picket_commit_duration_seconds":         {"histogram", ""},
		"picket_state_snapshot_bytes":            {"gauge", ""},
		"picket_api_requests_total":              {"counter", "operation,status"},
		"picket_api_request_duration_seconds":    {"histogram", "operation"},
		"picket_firehose_requests_total":         {"counter", "status"},
		"picket_ingest_uncommitted":              {"gauge", ""},
		"picket_watch_scans_total":               {"counter", "source"},
		"picket_watch_files":                     {"gauge", "source"},
		"picket_watch_pending_files":             {"gauge", "source"},
		"picket_s3_caught_up":                    {"gauge", "source"},
		"picket_intel_lists":                     {"gauge", ""},
		"picket_intel_refreshes_total":           {"counter", ""},
		"picket_intel_refresh_failures_total":    {"counter", ""},
		"picket_intel_refresh_updates_total":     {"counter", ""},
		"picket_ready":                           {"gauge", ""},
		"picket_start_time_seconds":              {"gauge", ""},
	}
	if diff := cmp.Diff(want, families(fams)); diff != "" {
		t.Errorf("families (-want +got):\n%s", diff)
	}
	for name, f := range fams {
		if f.GetHelp() == "" {
			t.Errorf("%s has no help", name)
		}
	}
	// The Go runtime and process collectors add their own families,
	// none of them picket's.
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("no go_goroutines: the Go collector is missing")
	}
}

func TestValues(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(nil)
		everything(s)
		_, fams := scrape(t, s)
		want := map[string]float64{
			`picket_records_ingested_total{kind="apicall"}`:                                     20,
			`picket_records_ingested_total{kind="flow"}`:                                        1000,
			`picket_records_nodata_total`:                                                       3,
			`picket_records_skipdata_total`:                                                     4,
			`picket_records_late_total`:                                                         5,
			`picket_records_skipped_total{reason="short-record"}`:                               6,
			`picket_input_bytes_total{source="watch"}`:                                          70000,
			`picket_inputs_total{source="watch"}`:                                               8,
			`picket_input_errors_total{source="s3"}`:                                            1,
			`picket_findings_reported_total{type="Recon:EC2/Portscan"}`:                         9,
			`picket_findings_dropped_total{reason="detector-disabled"}`:                         2,
			`picket_detection_state_entries{component="contact",table="conversations"}`:         10,
			`picket_detection_state_capacity{component="contact",table="conversations"}`:        100,
			`picket_detection_state_evictions_total{component="contact",table="conversations"}`: 7,
			`picket_detection_state_entries{component="portscan",table="sources"}`:              1,
			`picket_detection_state_capacity{component="portscan",table="sources"}`:             50,
			`picket_detection_state_evictions_total{component="portscan",table="sources"}`:      0,
			`picket_detection_state_entries{component="portscan",table="ports"}`:                2,
			`picket_detection_state_capacity{component="portscan",table="ports"}`:               60,
			`picket_detection_state_evictions_total{component="portscan",table="ports"}`:        1,
			`picket_ingest_lag_seconds`:                                                         90,
			`picket_newest_event_timestamp_seconds`:                                             float64(epoch.Unix() - 90),
			`picket_commits_total{result="ok"}`:                                                 1,
			`picket_commits_total{result="error"}`:                                              1,
			`picket_commit_duration_seconds_count`:                                              2,
			`picket_commit_duration_seconds_sum`:                                                2.02,
			`picket_state_snapshot_bytes`:                                                       4096, // the failed commit's size is not kept
			`picket_api_requests_total{operation="ListFindings",status="200"}`:                  2,
			`picket_api_requests_total{operation="ListFindings",status="403"}`:                  1,
			`picket_api_requests_total{operation="Other",status="400"}`:                         1,
			`picket_api_request_duration_seconds_count{operation="ListFindings"}`:               3,
			`picket_api_request_duration_seconds_sum{operation="ListFindings"}`:                 0.041,
			`picket_api_request_duration_seconds_count{operation="Other"}`:                      1,
			`picket_api_request_duration_seconds_sum{operation="Other"}`:                        0.001,
			`picket_firehose_requests_total{status="200"}`:                                      1,
			`picket_firehose_requests_total{status="413"}`:                                      1,
			`picket_ingest_uncommitted`:                                                         1,
			`picket_watch_scans_total{source="watch:/var/flows"}`:                               12,
			`picket_watch_files{source="watch:/var/flows"}`:                                     3,
			`picket_watch_pending_files{source="watch:/var/flows"}`:                             1,
			`picket_s3_caught_up{source="s3:logs/AWSLogs/"}`:                                    1,
			`picket_intel_lists`:                                                                2,
			`picket_intel_refreshes_total`:                                                      5,
			`picket_intel_refresh_failures_total`:                                               1,
			`picket_intel_refresh_updates_total`:                                                3,
			`picket_ready`:                                                                      1,
			`picket_start_time_seconds`:                                                         float64(epoch.Unix()),
		}
		if diff := cmp.Diff(want, samples(fams), cmp.Comparer(approx)); diff != "" {
			t.Errorf("samples (-want +got):\n%s", diff)
		}

		// The lag grows with the wall clock until newer events come.
		time.Sleep(30 * time.Second)
		_, fams = scrape(t, s)
		if got := samples(fams)["picket_ingest_lag_seconds"]; got != 120 {
			t.Errorf("lag %v after 30s, want 120", got)
		}
	})
}

// approx compares sums of float seconds, which differ in the last bits
// from the decimal written.
func approx(a, b float64) bool {
	return a == b || math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b))
}

func TestBuckets(t *testing.T) {
	s := New(nil)
	s.Commit(40*time.Millisecond, nil, 1)
	s.APIRequest("GetFindings", 200, 3*time.Millisecond)
	_, fams := scrape(t, s)
	for _, tt := range []struct {
		name string
		want []float64
		at   float64 // the observation
	}{
		{"picket_commit_duration_seconds", commitBuckets, 0.04},
		{"picket_api_request_duration_seconds", apiBuckets, 0.003},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ms := fams[tt.name].GetMetric()
			if len(ms) != 1 {
				t.Fatalf("%d series, want 1", len(ms))
			}
			var bounds []float64
			for _, b := range ms[0].GetHistogram().GetBucket() {
				bounds = append(bounds, b.GetUpperBound())
				want := uint64(0)
				if b.GetUpperBound() >= tt.at {
					want = 1
				}
				if b.GetCumulativeCount() != want {
					t.Errorf("bucket le=%v holds %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
				}
			}
			if diff := cmp.Diff(append(slices.Clone(tt.want), math.Inf(1)), bounds); diff != "" {
				t.Errorf("bucket bounds (-want +got):\n%s", diff)
			}
		})
	}
}

// A service that has seen no event has no lag to report: NaN, not the
// age of the epoch. Everything else starts at zero.
func TestFresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(nil)
		body, fams := scrape(t, s)
		if !strings.Contains(body, "\npicket_ingest_lag_seconds NaN\n") {
			t.Errorf("no NaN lag in\n%s", grep(body, "picket_ingest_lag_seconds"))
		}
		got := samples(fams)
		if lag := got["picket_ingest_lag_seconds"]; !math.IsNaN(lag) {
			t.Errorf("lag %v, want NaN", lag)
		}
		delete(got, "picket_ingest_lag_seconds")
		want := map[string]float64{
			"picket_records_nodata_total":           0,
			"picket_records_skipdata_total":         0,
			"picket_records_late_total":             0,
			"picket_newest_event_timestamp_seconds": 0,
			`picket_commits_total{result="ok"}`:     0,
			`picket_commits_total{result="error"}`:  0,
			"picket_commit_duration_seconds_count":  0,
			"picket_commit_duration_seconds_sum":    0,
			"picket_state_snapshot_bytes":           0,
			"picket_ingest_uncommitted":             0,
			"picket_ready":                          0,
			"picket_start_time_seconds":             float64(epoch.Unix()),
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("samples (-want +got):\n%s", diff)
		}

		// Published counters without events still leave the lag NaN.
		s.Publish(NewIngest(), nil, 0)
		if body, _ := scrape(t, s); !strings.Contains(body, "\npicket_ingest_lag_seconds NaN\n") {
			t.Errorf("no NaN lag in\n%s", grep(body, "picket_ingest_lag_seconds"))
		}
	})
}

// Label values are escaped as the text format requires, and values that
// are not UTF-8 (a directory name can be anything) are repaired rather
// than failing the scrape.
func TestLabelValues(t *testing.T) {
	s := New(nil)
	c := NewIngest()
	c.Records["a\"b\\c\nd"] = 1
	s.Publish(c, map[string][]detect.StateStats{"x\xffy": {{Table: `t"`, Len: 1}}}, 0)
	s.AddWatch("watch:/data/\"odd\"\\dir\n", func() WatchStatus { return WatchStatus{Scans: 1} })
	s.AddS3("s3:b/\xfe", func() bool { return false })
	s.APIRequest("Bad\xff", 200, 0)
	body, fams := scrape(t, s)
	for _, line := range []string{
		`picket_records_ingested_total{kind="a\"b\\c\nd"} 1`,
		`picket_watch_scans_total{source="watch:/data/\"odd\"\\dir\n"} 1`,
		`picket_detection_state_entries{component="x` + "\uFFFD" + `y",table="t\""} 1`,
		`picket_s3_caught_up{source="s3:b/` + "\uFFFD" + `"} 0`,
		`picket_api_requests_total{operation="Bad` + "\uFFFD" + `",status="200"} 1`,
	} {
		if !strings.Contains(body, "\n"+line+"\n") {
			t.Errorf("no line %s in\n%s", line, body)
		}
	}
	// The parser gives back the values as they were.
	got := samples(fams)
	for _, series := range []string{
		fmt.Sprintf("picket_records_ingested_total{kind=%q}", "a\"b\\c\nd"),
		fmt.Sprintf("picket_watch_scans_total{source=%q}", "watch:/data/\"odd\"\\dir\n"),
	} {
		if got[series] != 1 {
			t.Errorf("%s = %v, want 1", series, got[series])
		}
	}
}

func TestPublishKeepsState(t *testing.T) {
	s := New(nil)
	state := map[string][]detect.StateStats{"contact": {{Table: "conversations", Len: 3, Cap: 9}}}
	s.Publish(NewIngest(), state, 100)
	c := NewIngest()
	c.Records["flow"] = 5
	s.Publish(c, nil, 200) // counters only: the state stays
	_, fams := scrape(t, s)
	got := samples(fams)
	for series, want := range map[string]float64{
		`picket_detection_state_entries{component="contact",table="conversations"}`: 3,
		`picket_records_ingested_total{kind="flow"}`:                                5,
		`picket_newest_event_timestamp_seconds`:                                     200,
	} {
		if got[series] != want {
			t.Errorf("%s = %v, want %v", series, got[series], want)
		}
	}
	s.Publish(c, map[string][]detect.StateStats{}, 200) // no state any more
	if _, fams = scrape(t, s); fams["picket_detection_state_entries"] != nil {
		t.Errorf("state still shown after an empty one was published: %v", fams["picket_detection_state_entries"])
	}
}

func TestIngestClone(t *testing.T) {
	c := NewIngest()
	c.Records["flow"] = 1
	c.NoData = 2
	d := c.Clone()
	c.Records["flow"]++
	c.Records["apicall"] = 1
	c.NoData++
	want := Ingest{
		Records: map[string]uint64{"flow": 1}, NoData: 2, Skipped: map[string]uint64{}, Bytes: map[string]uint64{},
		Inputs: map[string]uint64{}, Failed: map[string]uint64{}, Findings: map[string]uint64{}, Dropped: map[string]uint64{},
	}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("clone changed with the original (-want +got):\n%s", diff)
	}
	// A clone of zero counters can be counted in.
	z := Ingest{}.Clone()
	z.Records["flow"]++
}

// One bad sample (here two tables of one component with one name) is
// logged and left out; the rest of the scrape is served.
func TestBadSampleKeepsScrape(t *testing.T) {
	var logs bytes.Buffer
	s := New(slog.New(slog.NewTextHandler(&logs, nil)))
	s.Publish(NewIngest(), map[string][]detect.StateStats{"contact": {{Table: "t", Len: 1}, {Table: "t", Len: 2}}}, 0)
	s.SetReady(true)
	_, fams := scrape(t, s)
	if got := samples(fams)["picket_ready"]; got != 1 {
		t.Errorf("picket_ready %v, want 1", got)
	}
	if !strings.Contains(logs.String(), "serving metrics") {
		t.Errorf("the duplicate was not logged: %q", logs.String())
	}
}

// The ingest loop's calls allocate nothing but Publish's snapshot.
func TestIngestCallsAllocations(t *testing.T) {
	s := New(nil)
	c := NewIngest()
	if n := testing.AllocsPerRun(100, func() { s.SetUncommitted(true) }); n != 0 {
		t.Errorf("SetUncommitted: %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { s.Commit(time.Millisecond, nil, 10) }); n != 0 {
		t.Errorf("Commit: %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { s.Publish(c, nil, 1) }); n > 1 {
		t.Errorf("Publish: %v allocations, want at most 1", n)
	}
}

// Scrapes run while the ingest loop publishes and API requests are
// counted; run with -race.
func TestConcurrent(t *testing.T) {
	s := New(nil)
	s.AddWatch("watch:/w", func() WatchStatus { return WatchStatus{} })
	var wg sync.WaitGroup
	wg.Go(func() {
		c := NewIngest()
		for i := range 200 {
			c.Records["flow"]++
			s.SetUncommitted(i%2 == 0)
			var state map[string][]detect.StateStats
			if i%10 == 0 {
				state = map[string][]detect.StateStats{"contact": {{Table: "conversations", Len: i}}}
			}
			s.Publish(c.Clone(), state, int64(i+1))
		}
	})
	wg.Go(func() {
		for i := range 200 {
			s.APIRequest("GetFindings", 200+i%2, time.Millisecond)
			s.FirehoseRequest(200)
		}
	})
	for range 5 {
		scrape(t, s)
	}
	wg.Wait()
	_, fams := scrape(t, s)
	got := samples(fams)
	if n := got[`picket_records_ingested_total{kind="flow"}`]; n != 200 {
		t.Errorf("records %v, want 200", n)
	}
	if n := got[`picket_firehose_requests_total{status="200"}`]; n != 200 {
		t.Errorf("firehose requests %v, want 200", n)
	}
}

// grep returns the lines of body that mention s.
func grep(body, s string) string {
	var out []string
	for line := range strings.Lines(body) {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}
