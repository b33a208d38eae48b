package synth_test

import (
	"io"
	"sync"
	"testing"

	"picket/internal/synth"
)

var benchRecords = sync.OnceValues(func() ([]synth.Record, error) {
	cfg := synth.DefaultConfig
	cfg.Records, cfg.Duration = 200_000, 0
	g, err := synth.New(cfg)
	if err != nil {
		return nil, err
	}
	var recs []synth.Record
	err = g.Run(func(r synth.Record) { recs = append(recs, r) })
	return recs, err
})

// BenchmarkWriter measures rendering generated records as flow log text
// through a Writer (batching, ordering and encoding; the output is
// discarded), for the default format and for version 5.
func BenchmarkWriter(b *testing.B) {
	recs, err := benchRecords()
	if err != nil {
		b.Fatal(err)
	}
	for _, v := range []int{2, 5} {
		b.Run(map[int]string{2: "v2-default", 5: "v5-custom"}[v], func(b *testing.B) {
			format, err := synth.FormatFor(v)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				w := &synth.Writer{Format: format, Out: io.Discard, Account: synth.DefaultConfig.Account, Region: synth.DefaultConfig.Region}
				for _, r := range recs {
					if err := w.Add(r); err != nil {
						b.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(recs))*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkQueryLog measures generating an hour of the default estate's
// Resolver query log, a tunnel and a DGA burst embedded, and rendering it
// as query log lines (the output is discarded; the flow records are made
// and dropped too, as RunDNS makes both).
//
//	go test -run '^$' -bench BenchmarkQueryLog -cpu 1 ./internal/synth
func BenchmarkQueryLog(b *testing.B) {
	cfg := synth.DefaultConfig
	for _, s := range []string{"tunnel from=worker:1 at=15m", "dga from=app:2 at=25m"} {
		a, err := synth.ParseAttack(s)
		if err != nil {
			b.Fatal(err)
		}
		cfg.Attacks = append(cfg.Attacks, a)
	}
	b.ReportAllocs()
	queries := 0
	for b.Loop() {
		g, err := synth.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		w := &synth.QueryWriter{Out: io.Discard, Account: cfg.Account, Region: cfg.Region}
		if err := g.RunDNS(func(synth.Record) {}, func(q synth.Query) {
			if err := w.Add(&q); err != nil {
				b.Fatal(err)
			}
		}); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		queries += w.Records()
	}
	b.ReportMetric(float64(queries)/b.Elapsed().Seconds(), "queries/s")
}
