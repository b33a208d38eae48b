package app

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"picket/internal/config"
	"picket/internal/finding"
	"picket/internal/source"
	"picket/internal/synth"
)

// genLogsWith writes generated flow logs with the attacks specs describe,
// as genLogs does, and returns the record count.
func genLogsWith(t testing.TB, dir string, start time.Time, d time.Duration, specs ...string) int {
	t.Helper()
	return genLogsLoad(t, dir, start, d, 1, specs...)
}

// genLogsLoad is genLogsWith at a background load.
func genLogsLoad(t testing.TB, dir string, start time.Time, d time.Duration, load float64, specs ...string) int {
	t.Helper()
	return genLogsSpecs(t, dir, start, d, load, synth.DefaultConfig.Seed, specs...)
}

// analyzed returns what picket analyze reports over dir.
func analyzed(t testing.TB, dir string) []*finding.Finding {
	t.Helper()
	fs, _, err := Analyze(context.Background(), AnalyzeOptions{Paths: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// summaries returns the summaries of fs by ID, their times in layout.
func summaries(fs []*finding.Finding, layout string) map[string]summary {
	out := make(map[string]summary, len(fs))
	for _, f := range fs {
		out[f.ID] = summarize(f, layout)
	}
	return out
}

// TestServeEarlyFindings drops an hour of logs whose last attacks end
// minutes before its last record into a service with the default commit
// interval, lateness and idle flush. The API must show exactly the
// findings picket analyze reports over the same files, those of the last
// attacks included, long before the watermark or the idle flush would
// decide them: they are the early findings the engine foresees.
func TestServeEarlyFindings(t *testing.T) {
	dataDir, watch, staging := t.TempDir(), t.TempDir(), t.TempDir()
	start := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	genLogsWith(t, staging, start, time.Hour,
		"scan from=app:1 target=db:0 ports=top:200 timing=T4 at=20m",
		"scan from=internet target=bastion:0 ports=top:100 timing=T4 at=56m",
		"bruteforce from=internet target=bastion:0 port=22 attempts=60 interval=2s at=57m",
	)
	// The generator delivers the flows still open at the hour's end in
	// later objects; leave those out, so that the last attacks are within
	// the lateness of the newest record.
	cut := start.Add(time.Hour)
	err := filepath.WalkDir(staging, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if l := source.ParseLayout(path); !l.Time.IsZero() && !l.Time.Before(cut) {
			return os.Remove(path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	fs := analyzed(t, staging)
	want := summaries(fs, finding.TimeFormat)
	late := 0
	for _, f := range fs {
		if f.Service.EventLastSeen.After(cut.Add(-config.DefaultLateness)) {
			late++
		}
	}
	if late == 0 {
		t.Fatalf("no finding of analyze's %d is active within the lateness of the newest record: the test proves nothing", len(want))
	}

	cfg := testConfig(dataDir, watch)
	cfg.Ingest.CommitInterval = config.Duration(config.DefaultCommitInterval)
	if cfg.Ingest.IdleFlush.D() != config.DefaultIdleFlush || cfg.Ingest.Lateness.D() != config.DefaultLateness {
		t.Fatalf("the test configuration changed the idle flush or the lateness")
	}
	s := startService(t, cfg)
	gd := gdClient(t, s.url(), dataDir)
	moved := time.Now()
	moveInto(t, staging, watch)
	var got map[string]summary
	waitFor(t, 2*time.Minute, "the API to show analyze's findings", func() bool {
		got = apiFindings(t, gd)
		return diffFindings(want, got) == ""
	})
	took := time.Since(moved)
	t.Logf("the API showed analyze's %d findings (%d of them active within the lateness) %v after the files were dropped",
		len(want), late, took.Round(time.Millisecond))
	if took >= cfg.Ingest.IdleFlush.D() {
		t.Errorf("the findings took %v, the idle flush", took)
	}

	// A restart shows the same findings: the early ones were committed.
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if d := diffFindings(summaries(fs, time.RFC3339), storedFindings(t, dataDir)); d != "" {
		t.Errorf("stored findings after a stop differ from analyze's:\n%s", d)
	}
}
