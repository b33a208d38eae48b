package app

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"picket/internal/config"
	"picket/internal/synth"
)

var benchInput struct {
	once sync.Once
	path string
	n    int
}

// mix writes, once per test binary, a generated flow log of about a
// million records (a day's worth of a small estate's traffic with the
// default attacks) in the version 2 default format.
func mix(b *testing.B) (string, int) {
	benchInput.once.Do(func() {
		cfg := synth.DefaultConfig
		cfg.Records, cfg.Duration = 1_000_000, 0
		benchInput.path, benchInput.n = writeLog(b, "mix.log", cfg, testAttacks...)
	})
	return benchInput.path, benchInput.n
}

// writeLog generates cfg's traffic with the attacks of specs into a file
// called name, in a directory of its own that outlives the benchmark (the
// next ones of the run read it too), in the version 2 default format. It
// returns the file's path and its number of records.
func writeLog(b *testing.B, name string, cfg synth.Config, specs ...string) (string, int) {
	dir, err := os.MkdirTemp("", "picket-bench")
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	g := attackGen(b, cfg, specs...)
	format, _ := synth.FormatFor(2)
	w := &synth.Writer{Format: format, Header: true, Out: f, Account: cfg.Account, Region: cfg.Region}
	if err := g.Run(func(r synth.Record) { w.Add(r) }); err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	return path, w.Records()
}

// BenchmarkAnalyze measures the whole pipeline of picket analyze: reading,
// decoding, direction, the contact stage and every detector, over about a
// million generated records.
func BenchmarkAnalyze(b *testing.B) {
	path, n := mix(b)
	b.ResetTimer()
	analyzeRuns(b, path, n)
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
}

// analyzeRuns analyzes the file at path, of n records, b.N times, and
// fails unless every run reads them all and reports findings.
func analyzeRuns(b *testing.B, path string, n int) {
	st, _ := os.Stat(path)
	b.SetBytes(st.Size())
	b.ReportAllocs()
	for b.Loop() {
		findings, sum, err := Analyze(context.Background(), AnalyzeOptions{Paths: []string{path}})
		if err != nil {
			b.Fatal(err)
		}
		if len(findings) == 0 || sum.Records != uint64(n) {
			b.Fatalf("%d findings from %d of %d records", len(findings), sum.Records, n)
		}
	}
}

var benchDir struct {
	once sync.Once
	path string
	n    int
	size int64
}

// s3Dir writes, once per test binary, about a million generated records
// in the S3 delivery layout (gzip objects every five minutes), the input
// of the serve/analyze comparison.
func s3Dir(b *testing.B) (string, int, int64) {
	benchDir.once.Do(func() {
		dir, err := os.MkdirTemp("", "picket-bench-s3")
		if err != nil {
			b.Fatal(err)
		}
		benchDir.path = dir
		benchDir.n = genLogs(b, dir, time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC), 12*time.Hour, 2)
		filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				info, _ := d.Info()
				benchDir.size += info.Size()
			}
			return err
		})
	})
	return benchDir.path, benchDir.n, benchDir.size
}

// cpuTime returns the CPU time the process has used. The benchmarks
// report CPU per record besides records per second, which a machine
// shared with other work makes noisy.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAnalyzeDir is picket analyze over the S3-layout directory that
// BenchmarkServeDir ingests.
func BenchmarkAnalyzeDir(b *testing.B) {
	dir, n, size := s3Dir(b)
	b.SetBytes(size)
	cpu := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		_, sum, err := Analyze(context.Background(), AnalyzeOptions{Paths: []string{dir}})
		if err != nil || sum.Records != uint64(n) {
			b.Fatalf("%v: %d of %d records", err, sum.Records, n)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(cpuTime()-cpu)/float64(n*b.N), "cpu-ns/record")
}

// BenchmarkServeDir is picket serve ingesting the same directory from a
// watched directory: from start (a fresh data directory, the store
// created) until every record is read. The graceful stop that follows,
// with its final commit of the detection state, is timed apart
// (stop-ms): in a long-running service that commit comes once per commit
// interval.
func BenchmarkServeDir(b *testing.B) {
	dir, n, size := s3Dir(b)
	b.SetBytes(size)
	var cpu, stopping time.Duration
	b.ResetTimer()
	for b.Loop() {
		c0 := cpuTime()
		cfg := testConfig(b.TempDir())
		cfg.Sources.Watch = []config.Watch{{Path: dir, PollInterval: config.Duration(10 * time.Millisecond)}}
		cfg.Ingest.CommitInterval = config.Duration(config.DefaultCommitInterval)
		s := startService(b, cfg)
		waitFor(b, 10*time.Minute, "the directory to be read", func() bool {
			m := scrape(b, s.url())
			return sum(m, "picket_records_ingested_total") == float64(n) && sum(m, "picket_watch_pending_files") == 0
		})
		cpu += cpuTime() - c0
		b.StopTimer()
		t0 := time.Now()
		if err := s.stop(); err != nil {
			b.Fatal(err)
		}
		stopping += time.Since(t0)
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(cpu)/float64(n*b.N), "cpu-ns/record")
	b.ReportMetric(float64(stopping.Milliseconds())/float64(b.N), "stop-ms")
}
