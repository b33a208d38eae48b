package app

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

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
		dir, err := os.MkdirTemp("", "picket-bench")
		if err != nil {
			b.Fatal(err)
		}
		path := filepath.Join(dir, "mix.log")
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		cfg := synth.DefaultConfig
		cfg.Records, cfg.Duration = 1_000_000, 0
		for _, spec := range []string{
			"scan from=internet target=bastion:0 ports=top:100 timing=T4 at=10m",
			"scan from=app:1 target=db:0 ports=top:200 timing=T4 at=20m",
			"sweep from=worker:0 port=22 hosts=200 network=vpc timing=T4 at=30m",
			"bruteforce from=internet target=bastion:0 port=22 attempts=80 interval=3s at=40m",
		} {
			a, err := synth.ParseAttack(spec)
			if err != nil {
				b.Fatal(err)
			}
			cfg.Attacks = append(cfg.Attacks, a)
		}
		g, err := synth.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		format, _ := synth.FormatFor(2)
		w := &synth.Writer{Format: format, Header: true, Out: f, Account: cfg.Account, Region: cfg.Region}
		g.Run(func(r synth.Record) { w.Add(r) })
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		f.Close()
		benchInput.path, benchInput.n = path, w.Records()
	})
	return benchInput.path, benchInput.n
}

// BenchmarkAnalyze measures the whole pipeline of picket analyze: reading,
// decoding, direction, the contact stage and every detector, over about a
// million generated records.
func BenchmarkAnalyze(b *testing.B) {
	path, n := mix(b)
	st, _ := os.Stat(path)
	b.SetBytes(st.Size())
	b.ReportAllocs()
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
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
}
