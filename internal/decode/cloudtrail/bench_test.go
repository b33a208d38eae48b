package cloudtrail_test

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/klauspost/compress/gzip"

	"picket/internal/decode/cloudtrail"
	"picket/internal/event"
)

// benchEvents is the size of the generated trail: about 110 MB, so that
// each run decodes far more than the caches hold.
const benchEvents = 100_000

var benchTrails sync.Map // shape -> []byte

func benchTrail(b *testing.B, shape string) []byte {
	if v, ok := benchTrails.Load(shape); ok {
		return v.([]byte)
	}
	var data []byte
	switch shape {
	case "records":
		data = generateTrail(benchEvents, false, 1)
	case "lines":
		data = generateTrail(benchEvents, true, 1)
	case "records-gzip":
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(benchTrail(b, "records"))
		zw.Close()
		data = buf.Bytes()
	}
	benchTrails.Store(shape, data)
	return data
}

// BenchmarkDecode measures decoding throughput through the Reader, per
// core (MB/s of wall-clock time, and MB/cpu-s: per second of the
// process's CPU time, which a loaded machine does not distort; run with
// -cpu 1), on a generated trail of 100,000 events: a CloudTrail log file as
// S3 delivers it ({"Records":[...]} on one line), the same events one per
// line, and the S3 file gzip-compressed as S3 delivers it (MB/s of
// compressed input, decompressed with the gzip package the source layer
// uses; the decompression is most of the cost there).
func BenchmarkDecode(b *testing.B) {
	for _, shape := range []string{"records", "lines", "records-gzip"} {
		b.Run(shape, func(b *testing.B) {
			data := benchTrail(b, shape)
			r := cloudtrail.NewReader(bytes.NewReader(nil), "bench.json")
			var c event.APICall
			events := 0
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for b.Loop() {
				var in io.Reader = bytes.NewReader(data)
				if shape == "records-gzip" {
					zr, err := gzip.NewReader(in)
					if err != nil {
						b.Fatal(err)
					}
					in = zr
				}
				r.Reset(in, "bench.json")
				for {
					err := r.Next(&c)
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					events++
				}
			}
			if cpu := (cpuTime() - cpu0).Seconds(); cpu > 0 {
				b.ReportMetric(float64(len(data))*float64(b.N)/cpu/1e6, "MB/cpu-s")
				b.ReportMetric(float64(events)/cpu, "events/cpu-s")
			}
			b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(events)/float64(b.N), "events/op")
		})
	}
}
