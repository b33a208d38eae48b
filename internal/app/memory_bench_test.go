package app

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"picket/internal/config"
)

// BenchmarkServeMemory compares the memory of picket serve with that of
// picket analyze over the same data, the S3-layout directory of
// BenchmarkServeDir (about a million records). Each iteration runs, in
// this process, analyze over the directory, then a service that
// ingests it from a watched directory, with the default commit interval,
// until every record is read, and stops (the last commit saves the whole
// detection state). For each it reports the peak of the Go heap in use
// (heap-MiB, sampled every millisecond) and, where Linux lets a process
// reset its peak resident set (/proc/self/clear_refs), that peak
// (rss-MiB), with serve's over analyze's as ratios. Between the runs the
// heap is collected and returned to the system.
func BenchmarkServeMemory(b *testing.B) {
	dir, n, _ := s3Dir(b)
	var heap, rss [2]uint64 // analyze, serve
	b.ResetTimer()
	for b.Loop() {
		h, r := peakDuring(func() {
			_, sum, err := Analyze(context.Background(), AnalyzeOptions{Paths: []string{dir}})
			if err != nil || sum.Records != uint64(n) {
				b.Fatalf("%v: %d of %d records", err, sum.Records, n)
			}
		})
		heap[0], rss[0] = max(heap[0], h), max(rss[0], r)
		h, r = peakDuring(func() {
			cfg := testConfig(b.TempDir())
			cfg.Sources.Watch = []config.Watch{{Path: dir, PollInterval: config.Duration(10 * time.Millisecond)}}
			cfg.Ingest.CommitInterval = config.Duration(config.DefaultCommitInterval)
			s := startService(b, cfg)
			waitFor(b, 10*time.Minute, "the directory to be read", func() bool {
				m := scrape(b, s.url())
				return sum(m, "picket_records_ingested_total") == float64(n) && sum(m, "picket_watch_pending_files") == 0
			})
			if err := s.stop(); err != nil {
				b.Fatal(err)
			}
		})
		heap[1], rss[1] = max(heap[1], h), max(rss[1], r)
	}
	const mib = 1 << 20
	b.ReportMetric(float64(heap[0])/mib, "analyze-heap-MiB")
	b.ReportMetric(float64(heap[1])/mib, "serve-heap-MiB")
	b.ReportMetric(float64(heap[1])/float64(heap[0]), "heap-ratio")
	if rss[0] > 0 && rss[1] > 0 {
		b.ReportMetric(float64(rss[0])/mib, "analyze-rss-MiB")
		b.ReportMetric(float64(rss[1])/mib, "serve-rss-MiB")
		b.ReportMetric(float64(rss[1])/float64(rss[0]), "rss-ratio")
	}
}

// peakDuring runs fn and returns the peak of the Go heap in use while it
// ran, and the process's peak resident set (0 where it cannot be
// reset).
func peakDuring(fn func()) (heap, rss uint64) {
	runtime.GC()
	debug.FreeOSMemory()
	resetPeakRSS := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	done, peak := make(chan struct{}), make(chan uint64)
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var top uint64
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(s)
			top = max(top, s[0].Value.Uint64())
			select {
			case <-done:
				peak <- top
				return
			case <-tick.C:
			}
		}
	}()
	fn()
	close(done)
	heap = <-peak
	if resetPeakRSS {
		rss = peakRSS()
	}
	return heap, rss
}

// peakRSS returns the process's peak resident set (VmHWM), 0 if unknown.
func peakRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
