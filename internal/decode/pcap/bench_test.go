package pcap_test

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"picket/internal/decode/pcap"
	"picket/internal/event"
	"picket/internal/flowmeter"
)

// benchCapture is a minute of a scan: SYNs from the internet to every
// port of web1, each answered by a RST, at 1,000 packets a second.
func benchCapture(b *testing.B) ([]byte, int) {
	var ps []pkt
	for i := range 30000 {
		port := uint16(1 + i%65000)
		at := time.Duration(i) * time.Millisecond
		ps = append(ps, tcpPkt(b, at, attacker, web1, 40000, port, "S", 0))
		ps = append(ps, tcpPkt(b, at, web1, attacker, port, 40000, "RA", 0))
	}
	return capture(b, ps, 128, false), len(ps)
}

// BenchmarkReader measures the whole path from capture bytes to flow
// records: pcapgo's reading, header parsing, the security group model
// and aggregation. SetBytes is the packet count, so the MB/s column
// reads as millions of packets a second.
func BenchmarkReader(b *testing.B) {
	data, n := benchCapture(b)
	top := lab(b)
	b.ReportAllocs()
	b.SetBytes(int64(n))
	var fl event.Flow
	for b.Loop() {
		r, err := pcap.NewReader(bytes.NewReader(data), "bench.pcap", flowmeter.Config{Topology: top})
		if err != nil {
			b.Fatal(err)
		}
		for {
			err := r.Next(&fl)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}
