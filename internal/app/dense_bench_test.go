package app

import (
	"context"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync"
	"testing"

	"picket/internal/synth"
)

var denseInput struct {
	once sync.Once
	path string
	n    int
}

// dense writes, once per test binary, the dense estate's traffic (see
// synth.Dense): 2,000 interfaces, about 2,000 records a second, both
// directions of every conversation recorded by both ends, twenty
// attackers. PICKET_DENSE_RECORDS sets the size (default 2,000,000;
// scripts/dense-bench runs 5,000,000 side by side with DuckDB and zcat).
func dense(b *testing.B) (string, int) {
	denseInput.once.Do(func() {
		records := 2_000_000
		if v := os.Getenv("PICKET_DENSE_RECORDS"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				b.Fatalf("PICKET_DENSE_RECORDS=%q: not a record count", v)
			}
			records = n
		}
		dir, err := os.MkdirTemp("", "picket-dense")
		if err != nil {
			b.Fatal(err)
		}
		path := filepath.Join(dir, "dense.log")
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		cfg := synth.DefaultConfig
		cfg.Records, cfg.Duration = records, 0
		cfg.Estate, cfg.Load = synth.ScaledEstate(synth.DenseInterfaces), synth.DenseLoad
		g := attackGen(b, cfg, synth.DenseAttacks...)
		format, _ := synth.FormatFor(2)
		w := &synth.Writer{Format: format, Header: true, Out: f, Account: cfg.Account, Region: cfg.Region}
		if err := g.Run(func(r synth.Record) { w.Add(r) }); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		f.Close()
		denseInput.path, denseInput.n = path, w.Records()
	})
	return denseInput.path, denseInput.n
}

// BenchmarkAnalyzeDense is picket analyze, every detector, over the
// dense estate: the workload of production rather than the sparse mix of
// BenchmarkAnalyze. It reports records/s, CPU-seconds per million records
// (both cores' time) and the peak resident set of the runs (the
// generation's memory returned to the system before them).
func BenchmarkAnalyzeDense(b *testing.B) {
	path, n := dense(b)
	st, _ := os.Stat(path)
	b.SetBytes(st.Size())
	b.ReportAllocs()
	// The generator's memory is no part of the figure: collect it,
	// return it to the system and reset the peak resident set.
	debug.FreeOSMemory()
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		findings, sum, err := Analyze(context.Background(), AnalyzeOptions{Paths: []string{path}})
		if err != nil {
			b.Fatal(err)
		}
		if len(findings) == 0 || sum.Records != uint64(n) {
			b.Fatalf("%d findings from %d of %d records", len(findings), sum.Records, n)
		}
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	recs := float64(n * b.N)
	b.ReportMetric(recs/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(cpu.Seconds()/(recs/1e6), "cpu-s/Mrec")
	b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MiB")
}
