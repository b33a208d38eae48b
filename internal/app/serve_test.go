package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	gdtypes "github.com/aws/aws-sdk-go-v2/service/guardduty/types"
	"github.com/google/go-cmp/cmp"

	"picket/internal/config"
	"picket/internal/datadir"
	"picket/internal/metrics"
)

// TestServeEndToEnd drops generated flow logs with attacks into a watched
// directory of a running service, waits for the findings to show through
// the GuardDuty API (SDK client, SigV4), restarts the service and checks
// that nothing was lost, doubled or read again; then more logs arrive
// and the restored detection state carries on.
func TestServeEndToEnd(t *testing.T) {
	dataDir, watch, staging := t.TempDir(), t.TempDir(), t.TempDir()
	start := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	records := genLogs(t, staging, start, time.Hour, 1)
	cfg := testConfig(dataDir, watch)

	s := startService(t, cfg)
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(s.url() + path)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %v %v", path, resp, err)
		}
		resp.Body.Close()
	}
	info, err := os.Stat(filepath.Join(dataDir, datadir.CredentialsFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("generated credentials: %v, mode %v", err, info.Mode())
	}
	gd := gdClient(t, s.url(), dataDir)

	moveInto(t, staging, watch)
	m := caughtUp(t, s.url(), 2*time.Minute)
	if got := int(sum(m, "picket_records_ingested_total")); got != records {
		t.Errorf("ingested %d records, generated %d", got, records)
	}
	before := apiFindings(t, gd)
	usage := apiUsage(t, gd)
	if len(usage) != 1 || usage[0].source != "FLOW_LOGS" || usage[0].bytes == 0 || usage[0].resources == 0 {
		t.Errorf("usage and coverage after ingest: %+v", usage)
	}
	types := map[string]bool{}
	for _, f := range before {
		types[f.Type] = true
	}
	for _, want := range []string{"Recon:EC2/Portscan", "Recon:EC2/PortProbeUnprotectedPort", "Impact:EC2/PortSweep", "UnauthorizedAccess:EC2/SSHBruteForce"} {
		if !types[want] {
			t.Errorf("no %s finding among %v", want, before)
		}
	}
	// Metrics name what the service did.
	for _, series := range []string{
		`picket_inputs_total{source="watch"}`, `picket_commits_total{result="ok"}`, `picket_findings_reported_total{type="Recon:EC2/Portscan"}`,
		`picket_api_requests_total{operation="ListFindings",status="200"}`, `picket_api_requests_total{operation="GetFindings",status="200"}`,
		`picket_detection_state_entries{component="contact",table="conversations"}`,
	} {
		if _, ok := scrape(t, s.url())[series]; !ok {
			t.Errorf("metrics lack %s", series)
		}
	}
	if err := s.stop(); err != nil {
		t.Fatalf("stopping: %v", err)
	}

	// Restart: everything is where it was, and nothing is read again.
	s = startService(t, cfg)
	gd = gdClient(t, s.url(), dataDir)
	m = caughtUp(t, s.url(), time.Minute)
	if n := sum(m, "picket_records_ingested_total"); n != 0 {
		t.Errorf("the restarted service read %v records again", n)
	}
	after := apiFindings(t, gd)
	if diff := diffFindings(before, after); diff != "" {
		t.Errorf("findings changed across the restart:\n%s", diff)
	}
	if diff := cmp.Diff(usage, apiUsage(t, gd), cmp.AllowUnexported(usageSum{})); diff != "" {
		t.Errorf("usage changed across the restart (-before +after):\n%s", diff)
	}

	// The next hour arrives: the detection state restored from the last
	// commit carries on (the same scanner keeps its findings, counts grow).
	more := t.TempDir()
	genLogs(t, more, start.Add(time.Hour), time.Hour, 1)
	moveDeep(t, more, watch)
	caughtUp(t, s.url(), 2*time.Minute)
	grown := apiFindings(t, gd)
	var was, now int64
	for id, b := range before {
		g, ok := grown[id]
		if !ok || g.Count < b.Count || g.First != b.First {
			t.Errorf("finding %s went from %v to %v", id, b, g)
		}
		was += b.Count
	}
	for _, g := range grown {
		now += g.Count
	}
	if now <= was {
		t.Errorf("the second hour's attacks added nothing: %d activity counts before, %d after", was, now)
	}
}

// moveDeep moves each file under src to the same relative path under dst.
func moveDeep(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, rel)), 0o755); err != nil {
			return err
		}
		return os.Rename(path, filepath.Join(dst, rel))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestServeResumesMidFile stops the service (gracefully) while it reads,
// restarts it and lets it finish: the findings must be those of a run
// that was never interrupted.
func TestServeResumesMidFile(t *testing.T) {
	logs := t.TempDir()
	hours, load := 3, 2.0
	if raceEnabled {
		hours, load = 1, 1
	}
	records := genLogs(t, logs, time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC), time.Duration(hours)*time.Hour, load)

	whole := t.TempDir()
	s := startService(t, testConfig(whole, logs))
	caughtUp(t, s.url(), 3*time.Minute)
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	want := storedFindings(t, whole)

	cut := t.TempDir()
	cfg := testConfig(cut, logs)
	read := 0.0
	for i, frac := range []float64{0.3, 0.7} {
		s := startService(t, cfg)
		waitFor(t, 3*time.Minute, "records to be read", func() bool {
			return read+sum(scrape(t, s.url()), "picket_records_ingested_total") >= frac*float64(records)
		})
		if err := s.stop(); err != nil {
			t.Fatal(err)
		}
		n := storedRecords(t, cut)
		t.Logf("stop %d after %.0f of %d records", i+1, n, records)
		read = n
	}
	s = startService(t, cfg)
	m := caughtUp(t, s.url(), 3*time.Minute)
	if total := read + sum(m, "picket_records_ingested_total"); int(total) != records {
		t.Errorf("read %v records in all, generated %d", total, records)
	}
	s.stop()
	got := storedFindings(t, cut)
	if diff := diffFindings(want, got); diff != "" {
		t.Errorf("findings differ from an uninterrupted run:\n%s", diff)
	}
	if len(want) < 4 {
		t.Errorf("only %d findings", len(want))
	}
}

// storedRecords returns the records the engine counted, from the
// committed state of a stopped service.
func storedRecords(t testing.TB, dir string) float64 {
	t.Helper()
	cfg := testConfig(dir)
	st, err := openStore(context.Background(), cfg, dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	g, err := newLoop(cfg, st, metrics.New(nil), nopLog(), nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := st.State(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := g.UnmarshalState(b); err != nil {
		t.Fatal(err)
	}
	stats := g.Stats()
	return float64(stats.Records[0])
}

func TestServeRefusesInsecurePublicListener(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Listen = "0.0.0.0:0"
	cfg.InsecureNoAuth = true
	err := Serve(context.Background(), cfg, ServeOptions{})
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("Serve: %v", err)
	}
}

func TestServeLocksTheDataDirectory(t *testing.T) {
	dir := t.TempDir()
	startService(t, testConfig(dir))
	err := Serve(context.Background(), testConfig(dir), ServeOptions{})
	if err == nil || !strings.Contains(err.Error(), "in use by another picket serve") {
		t.Errorf("second Serve on the same data directory: %v", err)
	}
}

func TestServeInsecureNoAuthOnLoopback(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.InsecureNoAuth = true
	s := startService(t, cfg)
	if _, err := os.Stat(filepath.Join(cfg.DataDir, datadir.CredentialsFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("credentials generated although authentication is off: %v", err)
	}
	req, _ := http.NewRequest("GET", s.url()+"/detector", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "detectorIds") {
		t.Errorf("unsigned ListDetectors: %d %s", resp.StatusCode, body)
	}
}

// usageSum is the bytes GetUsageStatistics reports for a data source, with
// the count of resources ListCoverage lists.
type usageSum struct {
	source    string
	bytes     uint64
	resources int
}

// apiUsage returns the usage by data source of the caller's detector and
// the number of resources ListCoverage lists with each total.
func apiUsage(t testing.TB, gd *guardduty.Client) []usageSum {
	t.Helper()
	ctx := context.Background()
	dets, err := gd.ListDetectors(ctx, &guardduty.ListDetectorsInput{})
	if err != nil || len(dets.DetectorIds) == 0 {
		t.Fatalf("ListDetectors: %v %v", dets, err)
	}
	det := &dets.DetectorIds[0]
	out, err := gd.GetUsageStatistics(ctx, &guardduty.GetUsageStatisticsInput{DetectorId: det,
		UsageStatisticType: gdtypes.UsageStatisticTypeSumByDataSource, UsageCriteria: &gdtypes.UsageCriteria{}})
	if err != nil {
		t.Fatal(err)
	}
	resources := 0
	p := guardduty.NewListCoveragePaginator(gd, &guardduty.ListCoverageInput{DetectorId: det})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		resources += len(page.Resources)
	}
	var sums []usageSum
	for _, r := range out.UsageStatistics.SumByDataSource {
		n, _ := strconv.ParseUint(aws.ToString(r.Total.Amount), 10, 64)
		sums = append(sums, usageSum{string(r.DataSource), n, resources})
	}
	return sums
}

// TestCredentialsCommand: the command serve suggests on creating a key
// reaches the service where it listens.
func TestCredentialsCommand(t *testing.T) {
	for _, c := range []struct{ listen, want string }{
		{config.DefaultListen, "picket credentials --data-dir d"},
		{"127.0.0.1:18443", "picket credentials --data-dir d --endpoint-url http://127.0.0.1:18443"},
		{"0.0.0.0:9000", "picket credentials --data-dir d --endpoint-url http://127.0.0.1:9000"},
		{"127.0.0.1:0", "picket credentials --data-dir d"},
	} {
		if got := credentialsCommand(c.listen, "d"); got != c.want {
			t.Errorf("credentialsCommand(%q) = %q, want %q", c.listen, got, c.want)
		}
	}
}
