package app

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"

	"picket/internal/config"
	"picket/internal/datadir"
	"picket/internal/finding"
	"picket/internal/store"
	"picket/internal/store/sqlite"
	"picket/internal/synth"
)

// testAttacks are embedded in generated logs: one of each kind.
var testAttacks = []string{
	"scan from=internet target=bastion:0 ports=top:100 timing=T4 at=10m",
	"scan from=app:1 target=db:0 ports=top:200 timing=T4 at=20m",
	"sweep from=worker:0 port=22 hosts=200 network=vpc timing=T4 at=30m",
	"bruteforce from=internet target=bastion:0 port=22 attempts=80 interval=3s at=40m",
}

// genLogs writes generated flow logs in the S3 delivery layout (gzip
// objects every five minutes) under dir and returns the record count.
func genLogs(t testing.TB, dir string, start time.Time, d time.Duration, load float64) int {
	t.Helper()
	return genLogsSeed(t, dir, start, d, load, synth.DefaultConfig.Seed)
}

// genLogsSeed is genLogs with another seed, which also gives the objects
// other names.
func genLogsSeed(t testing.TB, dir string, start time.Time, d time.Duration, load float64, seed uint64) int {
	t.Helper()
	return genLogsSpecs(t, dir, start, d, load, seed, testAttacks...)
}

// genLogsSpecs is genLogsSeed with the attacks specs describe.
func genLogsSpecs(t testing.TB, dir string, start time.Time, d time.Duration, load float64, seed uint64, specs ...string) int {
	t.Helper()
	cfg := synth.DefaultConfig
	cfg.Start, cfg.Duration, cfg.Load, cfg.Seed = start, d, load, seed
	g := attackGen(t, cfg, specs...)
	format, _ := synth.FormatFor(2)
	w := &synth.Writer{Format: format, Layout: synth.LayoutS3, Header: true, Gzip: true, Dir: dir, Account: cfg.Account, Region: cfg.Region, Seed: cfg.Seed}
	var werr error
	if err := g.Run(func(r synth.Record) {
		if werr == nil {
			werr = w.Add(r)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil || werr != nil {
		t.Fatal(err, werr)
	}
	return w.Records()
}

// attackGen returns a generator of cfg's traffic with the attacks specs
// describe embedded in it.
func attackGen(t testing.TB, cfg synth.Config, specs ...string) *synth.Gen {
	t.Helper()
	for _, spec := range specs {
		a, err := synth.ParseAttack(spec)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Attacks = append(cfg.Attacks, a)
	}
	g, err := synth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// testAccount is the account of generated logs.
var testAccount = synth.DefaultConfig.Account

// testConfig is a service configuration for tests: a random loopback
// port, fast polls and commits.
func testConfig(dataDir string, watch ...string) *config.Config {
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = dataDir
	cfg.Account = testAccount
	cfg.Ingest.CommitInterval = config.Duration(100 * time.Millisecond)
	for _, w := range watch {
		cfg.Sources.Watch = append(cfg.Sources.Watch, config.Watch{Path: w, PollInterval: config.Duration(20 * time.Millisecond)})
	}
	return cfg
}

// service is a picket serve running in the test's process.
type service struct {
	t      testing.TB
	addr   string
	cancel context.CancelFunc
	done   chan error
}

type testLogWriter struct {
	mu  sync.Mutex
	t   testing.TB
	off bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.off {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func startService(t testing.TB, cfg *config.Config) *service {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &service{t: t, cancel: cancel, done: make(chan error, 1)}
	ready := make(chan string, 1)
	lw := &testLogWriter{t: t}
	log := slog.New(slog.NewTextHandler(lw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	go func() {
		s.done <- Serve(ctx, cfg, ServeOptions{Log: log, Ready: func(addr string) { ready <- addr }})
		lw.mu.Lock()
		lw.off = true
		lw.mu.Unlock()
	}()
	select {
	case s.addr = <-ready:
	case err := <-s.done:
		t.Fatalf("serve: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not become ready")
	}
	t.Cleanup(func() { s.stop() })
	return s
}

// stop stops the service gracefully and returns Serve's error.
func (s *service) stop() error {
	if s.done == nil {
		return nil
	}
	s.cancel()
	err := <-s.done
	s.done = nil
	return err
}

func (s *service) url() string { return "http://" + s.addr }

// metrics scrapes /metrics into series -> value.
func scrape(t testing.TB, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// sum adds the series of a metric.
func sum(m map[string]float64, name string) float64 {
	var n float64
	for k, v := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			n += v
		}
	}
	return n
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// caughtUp waits until every watched directory has been listed twice
// more with nothing left to read, and everything read is committed.
func caughtUp(t testing.TB, url string, timeout time.Duration) map[string]float64 {
	t.Helper()
	var m map[string]float64
	scans := -1.0
	waitFor(t, timeout, "the watched directories to be read and committed", func() bool {
		m = scrape(t, url)
		if sum(m, "picket_watch_pending_files") != 0 {
			scans = -1
			return false
		}
		n := sum(m, "picket_watch_scans_total")
		if scans < 0 {
			scans = n
		}
		return n >= scans+2*float64(countSeries(m, "picket_watch_scans_total")) && m["picket_ingest_uncommitted"] == 0
	})
	return m
}

func countSeries(m map[string]float64, name string) int {
	n := 0
	for k := range m {
		if strings.HasPrefix(k, name+"{") {
			n++
		}
	}
	return max(n, 1)
}

// gdClient is a GuardDuty client of the service, signing with the data
// directory's generated key.
func gdClient(t testing.TB, url, dataDir string) *guardduty.Client {
	t.Helper()
	c, err := datadir.ReadCredential(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	return guardduty.New(guardduty.Options{
		BaseEndpoint: aws.String(url),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(c.AccessKeyID, string(c.SecretAccessKey), ""),
	})
}

// summary is what must survive a restart unchanged: a finding's identity,
// count and activity window.
type summary struct {
	Type      string
	Count     int64
	First     string
	Last      string
	UpdatedAt string
	Severity  float64
}

func (s summary) String() string {
	return fmt.Sprintf("%s count=%d [%s %s] updated %s sev %.1f", s.Type, s.Count, s.First, s.Last, s.UpdatedAt, s.Severity)
}

// apiFindings lists every finding of the region's detector through the
// API and gets them.
func apiFindings(t testing.TB, gd *guardduty.Client) map[string]summary {
	t.Helper()
	ctx := context.Background()
	dets, err := gd.ListDetectors(ctx, &guardduty.ListDetectorsInput{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]summary{}
	if len(dets.DetectorIds) == 0 {
		return out
	}
	det := dets.DetectorIds[0]
	var ids []string
	p := guardduty.NewListFindingsPaginator(gd, &guardduty.ListFindingsInput{DetectorId: &det, MaxResults: aws.Int32(50)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, page.FindingIds...)
	}
	for i := 0; i < len(ids); i += 50 {
		got, err := gd.GetFindings(ctx, &guardduty.GetFindingsInput{DetectorId: &det, FindingIds: ids[i:min(i+50, len(ids))]})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range got.Findings {
			out[aws.ToString(f.Id)] = summary{
				Type: aws.ToString(f.Type), Count: int64(aws.ToInt32(f.Service.Count)),
				First: aws.ToString(f.Service.EventFirstSeen), Last: aws.ToString(f.Service.EventLastSeen),
				UpdatedAt: aws.ToString(f.UpdatedAt), Severity: aws.ToFloat64(f.Severity),
			}
		}
	}
	return out
}

// storedFindings reads every finding of the test account's detector from
// a stopped service's SQLite store.
func storedFindings(t testing.TB, dataDir string) map[string]summary {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dataDir, config.DefaultSQLite))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	det := finding.DetectorID(testAccount, "us-east-1")
	out := map[string]summary{}
	cursor := ""
	for {
		ids, next, err := st.ListFindings(ctx, det, store.Query{Page: store.Page{Cursor: cursor, Limit: 500}})
		if err != nil {
			t.Fatal(err)
		}
		fs, err := st.Findings(ctx, det, ids)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			out[f.ID] = summarize(f, time.RFC3339)
		}
		if next == "" {
			return out
		}
		cursor = next
	}
}

// summarize returns a finding's summary, its times in layout.
func summarize(f *finding.Finding, layout string) summary {
	return summary{
		Type: f.Type, Count: f.Service.Count,
		First: f.Service.EventFirstSeen.UTC().Format(layout), Last: f.Service.EventLastSeen.UTC().Format(layout),
		UpdatedAt: f.UpdatedAt.UTC().Format(layout), Severity: float64(f.Severity),
	}
}

// diffFindings describes how two finding sets differ, "" if they do not.
func diffFindings(want, got map[string]summary) string {
	var lines []string
	for id, w := range want {
		g, ok := got[id]
		switch {
		case !ok:
			lines = append(lines, "missing "+id+": "+w.String())
		case g != w:
			lines = append(lines, "changed "+id+":\n    want "+w.String()+"\n    got  "+g.String())
		}
	}
	for id, g := range got {
		if _, ok := want[id]; !ok {
			lines = append(lines, "extra "+id+": "+g.String())
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// moveInto moves the generated tree under src into dst in one rename per
// top-level entry, so the watcher never sees a file half written.
func moveInto(t testing.TB, src, dst string) {
	t.Helper()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.Rename(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
}

func nopLog() *slog.Logger { return slog.New(slog.DiscardHandler) }
