package app

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"picket/internal/config"
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
	cfg := synth.DefaultConfig
	cfg.Start, cfg.Duration, cfg.Load = start, d, load
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

// analyzed returns what picket analyze reports over dir.
func analyzed(t testing.TB, dir string) map[string]summary {
	t.Helper()
	fs, _, err := Analyze(context.Background(), AnalyzeOptions{Paths: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]summary{}
	for _, f := range fs {
		out[f.ID] = summary{
			Type: f.Type, Count: f.Service.Count,
			First: f.Service.EventFirstSeen.UTC().Format("2006-01-02T15:04:05.000Z"), Last: f.Service.EventLastSeen.UTC().Format("2006-01-02T15:04:05.000Z"),
			UpdatedAt: f.UpdatedAt.UTC().Format("2006-01-02T15:04:05.000Z"), Severity: float64(f.Severity),
		}
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
	want := analyzed(t, staging)
	late := 0
	newest := cut
	for _, f := range want {
		last, err := time.Parse(time.RFC3339, f.Last)
		if err != nil {
			t.Fatal(err)
		}
		if last.After(newest.Add(-config.DefaultLateness)) {
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
	if d := diffFindings(inRFC3339(t, want), storedFindings(t, dataDir)); d != "" {
		t.Errorf("stored findings after a stop differ from analyze's:\n%s", d)
	}
}

// inRFC3339 returns m with its times as storedFindings writes them.
func inRFC3339(t testing.TB, m map[string]summary) map[string]summary {
	t.Helper()
	out := make(map[string]summary, len(m))
	for id, s := range m {
		for _, p := range []*string{&s.First, &s.Last, &s.UpdatedAt} {
			at, err := time.Parse(time.RFC3339, *p)
			if err != nil {
				t.Fatal(err)
			}
			*p = at.UTC().Format(time.RFC3339)
		}
		out[id] = s
	}
	return out
}
