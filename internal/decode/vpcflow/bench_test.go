package vpcflow_test

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"testing"

	"picket/internal/decode/vpcflow"
	"picket/internal/event"
	"picket/internal/synth"
)

var benchFiles sync.Map // version -> []byte

// generated returns about a million records of realistic generated traffic
// in the format of a flow log version, as S3 delivers it (with a header).
func generated(b *testing.B, version int) []byte {
	if v, ok := benchFiles.Load(version); ok {
		return v.([]byte)
	}
	cfg := synth.DefaultConfig
	cfg.Records, cfg.Duration = 1_000_000, 0
	g, err := synth.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	format, err := synth.FormatFor(version)
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	w := &synth.Writer{Format: format, Header: true, Out: &buf, Account: cfg.Account, Region: cfg.Region}
	if err := g.Run(func(r synth.Record) { w.Add(r) }); err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	benchFiles.Store(version, buf.Bytes())
	return buf.Bytes()
}

// BenchmarkDecode measures decoding throughput through the Reader on a
// generated file of about a million records, per core.
func BenchmarkDecode(b *testing.B) {
	for _, v := range []int{2, 5} {
		b.Run(map[int]string{2: "v2-default", 5: "v5-custom"}[v], func(b *testing.B) {
			data := generated(b, v)
			r := vpcflow.NewReader(bytes.NewReader(data), "bench.log", nil)
			var f event.Flow
			records := 0
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				r.Reset(bytes.NewReader(data), "bench.log", nil)
				for {
					err := r.Next(&f)
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					records++
				}
			}
			b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(records)/float64(b.N), "records/op")
		})
	}
}
