package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"picket/internal/config"
	"picket/internal/finding"
	"picket/internal/store"
	"picket/internal/store/sqlite"
)

// buildPicket builds the picket binary into a temporary directory.
func buildPicket(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "picket")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is a picket serve subprocess.
type proc struct {
	cmd  *exec.Cmd
	url  string
	logs *os.File
}

var listeningRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

func startServe(t *testing.T, bin, configPath string) *proc {
	t.Helper()
	logPath := filepath.Join(filepath.Dir(configPath), fmt.Sprintf("serve-%d.log", time.Now().UnixNano()))
	logs, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", configPath)
	cmd.Stderr = logs
	cmd.Stdout = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, logs: logs}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
		logs.Close()
	})
	deadline := time.Now().Add(time.Minute)
	for p.url == "" {
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("picket serve did not start listening:\n%s", b)
		}
		time.Sleep(20 * time.Millisecond)
		b, _ := os.ReadFile(logPath)
		if m := listeningRE.FindSubmatch(b); m != nil {
			p.url = "http://" + string(m[1])
		}
	}
	waitUntil(t, time.Minute, "ready", func() bool {
		resp, err := http.Get(p.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return p
}

var restoredRE = regexp.MustCompile(`msg="detection state restored".* records=(\d+)`)

// restoredRecords returns how many records the detection state restored
// at start had seen (0 when there was none), from the service log.
func restoredRecords(t *testing.T, p *proc) float64 {
	t.Helper()
	b, _ := os.ReadFile(p.logs.Name())
	if m := restoredRE.FindSubmatch(b); m != nil {
		n, _ := strconv.ParseFloat(string(m[1]), 64)
		return n
	}
	return 0
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		b, _ := os.ReadFile(p.logs.Name())
		t.Fatalf("picket serve exited with %v:\n%s", err, b)
	}
}

// crash kills the process with SIGKILL: no shutdown, no final commit.
func (p *proc) crash(t *testing.T) {
	t.Helper()
	p.cmd.Process.Kill()
	p.cmd.Wait()
}

func scrapeMetrics(t *testing.T, url string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, _ := strconv.ParseFloat(line[i+1:], 64)
		out[line[:i]] = v
	}
	return out
}

func metricSum(m map[string]float64, name string) float64 {
	var n float64
	for k, v := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			n += v
		}
	}
	return n
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// caughtUp waits until the watched directory has been listed twice more
// with nothing left to read and everything read is committed.
func caughtUp(t *testing.T, url string, timeout time.Duration) map[string]float64 {
	t.Helper()
	var m map[string]float64
	scans := -1.0
	waitUntil(t, timeout, "the watched directory to be read and committed", func() bool {
		m = scrapeMetrics(t, url)
		if len(m) == 0 || metricSum(m, "picket_watch_pending_files") != 0 {
			scans = -1
			return false
		}
		n := metricSum(m, "picket_watch_scans_total")
		if scans < 0 {
			scans = n
		}
		return n >= scans+2 && m["picket_ingest_uncommitted"] == 0
	})
	return m
}

type findingSummary struct {
	Type        string
	Count       int64
	First, Last time.Time
	Updated     time.Time
}

// storedFindings reads the findings of a stopped service's store.
func storedFindings(t *testing.T, dataDir string) map[string]findingSummary {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dataDir, config.DefaultSQLite))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	det := finding.DetectorID("123456789012", "us-east-1")
	out := map[string]findingSummary{}
	for cursor := ""; ; {
		ids, next, err := st.ListFindings(ctx, det, store.Query{Page: store.Page{Cursor: cursor, Limit: 500}})
		if err != nil {
			t.Fatal(err)
		}
		fs, err := st.Findings(ctx, det, ids)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			out[f.ID] = findingSummary{f.Type, f.Service.Count, f.Service.EventFirstSeen.UTC(), f.Service.EventLastSeen.UTC(), f.UpdatedAt.UTC()}
		}
		if next == "" {
			return out
		}
		cursor = next
	}
}

// TestServeCrash builds picket, runs picket serve over a large directory
// of flow logs, kills it with SIGKILL while it ingests (twice), restarts
// it, lets it finish, and compares the findings (IDs, counts, first and
// last seen) with those of a run that was never interrupted: identical.
func TestServeCrash(t *testing.T) {
	bin := buildPicket(t)
	work := t.TempDir()
	logs := filepath.Join(work, "logs")
	gen := exec.Command(bin, "generate", "--layout", "s3", "--out", logs, "--duration", "6h", "--load", "2")
	out, err := gen.CombinedOutput()
	if err != nil {
		t.Fatalf("generate: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`(\d+) records`).FindSubmatch(out)
	records, _ := strconv.Atoi(string(m[1]))

	writeConfig := func(name string) string {
		dir := filepath.Join(work, name)
		os.MkdirAll(dir, 0o700)
		path := filepath.Join(dir, "picket.yaml")
		cfg := fmt.Sprintf("listen: 127.0.0.1:0\ndata_dir: %s\naccount: \"123456789012\"\nlog: {level: info}\n"+
			"ingest:\n  commit_interval: 250ms\nsources:\n  watch:\n    - path: %s\n      poll_interval: 50ms\n", filepath.Join(dir, "data"), logs)
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}

	start := time.Now()
	wholeCfg := writeConfig("whole")
	p := startServe(t, bin, wholeCfg)
	caughtUp(t, p.url, 5*time.Minute)
	p.stop(t)
	want := storedFindings(t, filepath.Join(work, "whole", "data"))
	t.Logf("uninterrupted run: %d records, %d findings in %v", records, len(want), time.Since(start).Round(time.Millisecond))

	crashCfg := writeConfig("crash")
	committed := 0.0 // records in the last committed detection state
	for _, frac := range []float64{0.35, 0.7} {
		p := startServe(t, bin, crashCfg)
		before := restoredRecords(t, p)
		if before < committed {
			t.Errorf("the state restored holds %.0f records, the last run had committed %.0f before", before, committed)
		}
		var n float64
		var pending bool
		waitUntil(t, 5*time.Minute, "records to be read", func() bool {
			m := scrapeMetrics(t, p.url)
			n = metricSum(m, "picket_records_ingested_total")
			pending = m["picket_ingest_uncommitted"] == 1
			// Killed with work uncommitted, if a scrape catches it so:
			// the service commits each file soon after reading it, and
			// may read the rest between two scrapes, in which case it is
			// killed with everything committed.
			return before+n >= frac*float64(records) && (pending || before+n >= float64(records))
		})
		p.crash(t)
		committed = before
		t.Logf("restored %.0f records' state, read about %.0f more, killed with SIGKILL (work uncommitted: %v)", before, n, pending)
	}
	p = startServe(t, bin, crashCfg)
	before := restoredRecords(t, p)
	final := caughtUp(t, p.url, 5*time.Minute)
	p.stop(t)
	last := metricSum(final, "picket_records_ingested_total")
	t.Logf("restored %.0f records' state, read the remaining %.0f", before, last)
	if before+last != float64(records) {
		t.Errorf("the last run restored %.0f records and read %.0f, for %d in the logs: records lost or read twice", before, last, records)
	}
	got := storedFindings(t, filepath.Join(work, "crash", "data"))

	var diffs []string
	for id, w := range want {
		g, ok := got[id]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("missing %s %+v", id, w))
		case g != w:
			diffs = append(diffs, fmt.Sprintf("%s: want %+v, got %+v", id, w, g))
		}
	}
	for id, g := range got {
		if _, ok := want[id]; !ok {
			diffs = append(diffs, fmt.Sprintf("extra %s %+v", id, g))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Errorf("findings after crashes differ from the uninterrupted run:\n%s", strings.Join(diffs, "\n"))
	}
	if len(want) < 4 {
		t.Errorf("only %d findings", len(want))
	}
}

func TestServeCommandLine(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("listn: x\ningest:\n  commit_interval: soon\n"), 0o600)
	tests := []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"serve", "--config", bad}, 2, []string{"2 problems", `line 1: listn: unknown key (did you mean "listen"?)`, `line 3: ingest.commit_interval: "soon" is not a duration`}},
		{[]string{"serve", "--listen", "0.0.0.0:0", "--insecure-no-auth", "--data-dir", dir}, 2, []string{"insecure_no_auth: allowed only on a loopback listener"}},
		{[]string{"serve", "somewhere"}, 2, []string{`unexpected argument "somewhere"`}},
		{[]string{"serve", "--config", filepath.Join(dir, "missing.yaml")}, 2, []string{"reading config"}},
		{[]string{"credentials", "--data-dir", filepath.Join(dir, "empty")}, 1, []string{"no key in", "start picket serve"}},
	}
	for _, tt := range tests {
		code, _, stderr := runCLI(t, "", tt.args...)
		if code != tt.code {
			t.Errorf("picket %s: exit %d, want %d\n%s", strings.Join(tt.args, " "), code, tt.code, stderr)
		}
		for _, w := range tt.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("picket %s: stderr lacks %q:\n%s", strings.Join(tt.args, " "), w, stderr)
			}
		}
	}
}

func TestCredentialsPrintsAProfile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "credentials.json"), []byte(`{"access_key_id":"PKEXAMPLEEXAMPLE0001","secret_access_key":"c2VjcmV0LXNlY3JldC1zZWNyZXQ"}`), 0o600)
	code, stdout, stderr := runCLI(t, "", "credentials", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"export AWS_ACCESS_KEY_ID='PKEXAMPLEEXAMPLE0001'\nexport AWS_SECRET_ACCESS_KEY='c2VjcmV0LXNlY3JldC1zZWNyZXQ'\nexport AWS_DEFAULT_REGION='us-east-1'\n",
		"aws guardduty list-detectors --endpoint-url http://127.0.0.1:8080\n",
		"account 000000000000, the administrator",
		"[profile picket]\nregion = us-east-1\nendpoint_url = http://127.0.0.1:8080\n",
		"[picket]\naws_access_key_id = PKEXAMPLEEXAMPLE0001\naws_secret_access_key = c2VjcmV0LXNlY3JldC1zZWNyZXQ\n",
		"aws --profile picket guardduty list-detectors",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("profile lacks %q:\n%s", want, stdout)
		}
	}
	// A configured key wins over the generated one.
	cfg := filepath.Join(dir, "picket.yaml")
	os.WriteFile(cfg, []byte("listen: 127.0.0.1:9999\nregion: eu-west-1\ncredentials:\n  - access_key_id: AKIACONFIGURED000001\n    secret_access_key: configured-secret-0001\n"), 0o600)
	_, stdout, _ = runCLI(t, "", "credentials", "--config", cfg, "--profile", "prod")
	if !strings.Contains(stdout, "aws_access_key_id = AKIACONFIGURED000001") || !strings.Contains(stdout, "endpoint_url = http://127.0.0.1:9999") ||
		!strings.Contains(stdout, "[profile prod]\nregion = eu-west-1") {
		t.Errorf("profile from the configuration:\n%s", stdout)
	}
}
