package app

import (
	"os"
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
// synth.DenseInterfaces): 2,000 interfaces, about 2,000 records a second, both
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
		cfg := synth.DefaultConfig
		cfg.Records, cfg.Duration = records, 0
		cfg.Estate, cfg.Load = synth.ScaledEstate(synth.DenseInterfaces), synth.DenseLoad
		denseInput.path, denseInput.n = writeLog(b, "dense.log", cfg, synth.DenseAttacks...)
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
	// The generator's memory is no part of the figure: collect it,
	// return it to the system and reset the peak resident set.
	debug.FreeOSMemory()
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	cpu0 := cpuTime()
	b.ResetTimer()
	analyzeRuns(b, path, n)
	b.StopTimer()
	cpu := cpuTime() - cpu0
	recs := float64(n * b.N)
	b.ReportMetric(recs/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(cpu.Seconds()/(recs/1e6), "cpu-s/Mrec")
	b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MiB")
}
