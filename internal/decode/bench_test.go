package decode

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"testing"

	"picket/internal/synth"
)

var benchData struct {
	once sync.Once
	flow []byte
	err  error
}

// benchFlows returns about a million records of generated version 2 flow
// log text with its header, as S3 delivers it.
func benchFlows(b *testing.B) []byte {
	benchData.once.Do(func() {
		cfg := synth.DefaultConfig
		cfg.Records, cfg.Duration = 1_000_000, 0
		g, err := synth.New(cfg)
		if err != nil {
			benchData.err = err
			return
		}
		format, err := synth.FormatFor(2)
		if err != nil {
			benchData.err = err
			return
		}
		var buf bytes.Buffer
		w := &synth.Writer{Format: format, Header: true, Out: &buf, Account: cfg.Account, Region: cfg.Region}
		if err := g.Run(func(r synth.Record) { w.Add(r) }); err != nil {
			benchData.err = err
			return
		}
		benchData.err = w.Close()
		benchData.flow = buf.Bytes()
	})
	if benchData.err != nil {
		b.Fatal(benchData.err)
	}
	return benchData.flow
}

// BenchmarkOpen measures reading flow log text through Open, format
// detection included: the path every flow log file takes in picket
// analyze and picket serve.
func BenchmarkOpen(b *testing.B) {
	data := benchFlows(b)
	var pool Pool
	records := 0
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := Open(&memInput{b: data}, "bench.log", Options{Pool: &pool})
		if err != nil {
			b.Fatal(err)
		}
		for {
			_, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			records++
		}
		r.Close()
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}
