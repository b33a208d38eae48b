package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"picket/internal/finding"
	"picket/internal/store"
	"picket/internal/store/sqlstore"
	"picket/internal/store/storetest"
)

// The query benchmarks run over a database of PICKET_BENCH_FINDINGS
// findings (1,000,000 by default) of one detector, made by the
// conformance suite's corpus. Building it takes minutes, so it is kept in
// os.TempDir under a name that says the schema version, the corpus
// version and the count, and later runs reuse it. Bump benchCorpus when
// the corpus changes.
const benchCorpus = 1

var benchDetector = finding.DetectorID("111122223333", "us-east-1")

func benchFindings(b *testing.B) int {
	if s := os.Getenv("PICKET_BENCH_FINDINGS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("PICKET_BENCH_FINDINGS=%q is not a count", s)
		}
		return n
	}
	return 1_000_000
}

// benchStore opens the benchmark database, building it first if need be.
func benchStore(b *testing.B) *Store {
	b.Helper()
	n := benchFindings(b)
	path := filepath.Join(os.TempDir(), fmt.Sprintf("picket-bench-store-s%d-c%d-%d.db", sqlstore.LatestVersion(), benchCorpus, n))
	if _, err := os.Stat(path); err != nil {
		buildBenchStore(b, path, n)
	}
	s, err := Open(context.Background(), path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// buildBenchStore writes n findings in one transaction to a file beside
// path and renames it into place once complete, so that an interrupted
// build is never reused.
func buildBenchStore(b *testing.B, path string, n int) {
	b.Helper()
	tmp := path + ".building"
	for _, p := range []string{tmp, tmp + "-wal", tmp + "-shm"} {
		os.Remove(p)
	}
	start := time.Now()
	ctx := context.Background()
	s, err := Open(ctx, tmp)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.CreateDetector(ctx, &store.Detector{ID: benchDetector, Account: "111122223333", Region: "us-east-1", Enabled: true}); err != nil {
		b.Fatal(err)
	}
	c := storetest.NewCorpus(benchDetector, 42)
	got, err := s.Import(ctx, func(yield func(*finding.Finding) bool) {
		for range n {
			if !yield(c.Next()) {
				return
			}
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Analyze(ctx); err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	fi, _ := os.Stat(path)
	b.Logf("built %s: %d findings in %v, %d MB", path, got, time.Since(start).Round(time.Second), fi.Size()>>20)
}

// reportLatency reports the median and 99th percentile of per-operation
// latencies.
func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	at := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

// storedTypes returns the finding types in the benchmark database (the
// catalogue may have grown since it was built).
func storedTypes(b *testing.B, s *Store) []string {
	b.Helper()
	rows, err := s.Write().QueryContext(context.Background(), `SELECT DISTINCT type FROM findings ORDER BY type`)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var types []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			b.Fatal(err)
		}
		types = append(types, t)
	}
	if len(types) == 0 {
		b.Fatal("no findings")
	}
	return types
}

func BenchmarkListFindings(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	types := storedTypes(b, s)
	ge := func(n int64) *int64 { return &n }
	for _, bc := range []struct {
		name     string
		mustFind bool
		q        func(i int) store.Query
	}{
		{"type+severity/updatedAt-desc", true, func(i int) store.Query {
			return store.Query{Criteria: store.Criteria{
				"type":     {Equals: []string{types[i%len(types)]}},
				"severity": {GreaterThanOrEqual: ge(5)},
			}, Sort: store.Sort{Attribute: "updatedAt", Desc: true}, Page: store.Page{Limit: 50}}
		}},
		{"current+severity/severity-desc", true, func(i int) store.Query {
			return store.Query{Criteria: store.Criteria{
				"service.archived": {Equals: []string{"false"}},
				"severity":         {GreaterThanOrEqual: ge(int64(2 + i%7))},
			}, Sort: store.Sort{Attribute: "severity", Desc: true}, Page: store.Page{Limit: 50}}
		}},
		// A criterion without a column: tested in Go on the rows the
		// type selects, in order, until the page is full. Findings about
		// access keys have no tags: for those types every row is read
		// (and rejected by the prefilter without decoding).
		{"type+tag(go)/updatedAt-desc", false, func(i int) store.Query {
			return store.Query{Criteria: store.Criteria{
				"type":                                {Equals: []string{types[i%len(types)]}},
				"resource.instanceDetails.tags.value": {Equals: []string{"prod"}},
			}, Sort: store.Sort{Attribute: "updatedAt", Desc: true}, Page: store.Page{Limit: 50}}
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for i := range 2 * len(types) { // warm the page cache
				if _, _, err := s.ListFindings(ctx, benchDetector, bc.q(i)); err != nil {
					b.Fatal(err)
				}
			}
			var lat []time.Duration
			i := 0
			for b.Loop() {
				q := bc.q(i)
				i++
				start := time.Now()
				ids, _, err := s.ListFindings(ctx, benchDetector, q)
				lat = append(lat, time.Since(start))
				if err != nil {
					b.Fatal(err)
				}
				if len(ids) == 0 && bc.mustFind && benchFindings(b) >= 100_000 {
					b.Fatalf("no findings for %+v", q.Criteria)
				}
			}
			reportLatency(b, lat)
		})
	}
}

func BenchmarkGetFindings(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	rows, err := s.Write().QueryContext(ctx, `SELECT id FROM findings WHERE rowid % 97 = 0 LIMIT 20000`)
	if err != nil {
		b.Fatal(err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if len(ids) < 50 {
		b.Fatalf("only %d sample IDs", len(ids))
	}
	var lat []time.Duration
	i := 0
	for b.Loop() {
		ask := make([]string, 50)
		for j := range ask {
			ask[j] = ids[(i*50+j*7919)%len(ids)]
		}
		i++
		start := time.Now()
		fs, err := s.Findings(ctx, benchDetector, ask)
		lat = append(lat, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		if len(fs) == 0 {
			b.Fatal("no findings")
		}
	}
	reportLatency(b, lat)
}

// BenchmarkCommit measures ingest batches of 100 findings into a new
// database: all new, or all reports of stored findings (read, merged,
// written back).
func BenchmarkCommit(b *testing.B) {
	const batch = 100
	for _, merge := range []bool{false, true} {
		name := "new"
		if merge {
			name = "merge"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			s, err := Open(ctx, filepath.Join(b.TempDir(), "picket.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if err := s.CreateDetector(ctx, &store.Detector{ID: benchDetector, Account: "111122223333", Region: "us-east-1", Enabled: true}); err != nil {
				b.Fatal(err)
			}
			c := storetest.NewCorpus(benchDetector, 7)
			var stored []*finding.Finding
			if merge {
				for range 20000 {
					stored = append(stored, c.Next())
				}
				if _, err := s.Import(ctx, slices.Values(stored)); err != nil {
					b.Fatal(err)
				}
			}
			n := 0
			for b.Loop() {
				fs := make([]*finding.Finding, batch)
				for j := range fs {
					if merge {
						fs[j] = c.Report(stored[(n+j*131)%len(stored)])
					} else {
						fs[j] = c.Next()
					}
				}
				err := s.Commit(ctx, store.Batch{Findings: fs,
					Checkpoints: []store.Checkpoint{{Source: "bench", Position: []byte(strconv.Itoa(n))}}})
				if err != nil {
					b.Fatal(err)
				}
				n += batch
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "findings/s")
		})
	}
}
