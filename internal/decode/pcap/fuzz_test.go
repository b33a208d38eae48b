package pcap_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"picket/internal/decode/pcap"
	"picket/internal/event"
	"picket/internal/flowmeter"
)

// FuzzPcap feeds arbitrary files to the reader. The seeds are the golden
// scenarios as pcap and pcapng, a capture cut at an odd byte, and bare
// magic numbers. The reader must never panic, must end, and must hand out
// records in end-time order whose packet counts add up to at most the
// packets read (twice, when both ends are interfaces).
func FuzzPcap(f *testing.F) {
	for _, ps := range scenarios(f) {
		f.Add(capture(f, ps, 128, false))
		f.Add(capture(f, ps, 128, true))
	}
	whole := capture(f, scenarios(f)["tcp-session"], 65535, false)
	f.Add(whole[:len(whole)-7])
	f.Add([]byte{0xd4, 0xc3, 0xb2, 0xa1})
	f.Add([]byte{0x0a, 0x0d, 0x0d, 0x0a})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := pcap.NewReader(bytes.NewReader(data), "fuzz.pcap", flowmeter.Config{MaxFlows: 64})
		if err != nil {
			return
		}
		var fl event.Flow
		var last event.Time
		var packets uint64
		for range 1 << 20 {
			err := r.Next(&fl)
			if errors.Is(err, io.EOF) {
				break
			}
			var pe *pcap.PacketError
			if errors.As(err, &pe) {
				continue
			}
			if err != nil {
				break
			}
			if fl.End < last {
				t.Fatalf("record ending %d after one ending %d", fl.End, last)
			}
			last = fl.End
			packets += fl.Packets
		}
		if s := r.Stats(); packets > 2*uint64(s.Frames) {
			t.Fatalf("%d packets in records from %d frames", packets, s.Frames)
		}
	})
}
