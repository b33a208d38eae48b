package pcap_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"picket/internal/decode/pcap"
	"picket/internal/event"
	"picket/internal/flowmeter"
)

// datasets is where the public captures live, outside the repository.
const datasets = "../../../../shared/datasets/pcap"

// TestDatasets converts every shared capture and expects no bad packet,
// records in end-time order, and each packet of IP counted once per
// interface that records it.
func TestDatasets(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(datasets, "*.pcap*"))
	if len(files) == 0 {
		t.Skip("no captures in " + datasets)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			r, err := pcap.NewReader(f, filepath.Base(path), flowmeter.Config{})
			if err != nil {
				t.Fatal(err)
			}
			var fl event.Flow
			var last event.Time
			var records, packets uint64
			for {
				err := r.Next(&fl)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("%v", err)
				}
				if fl.End < last {
					t.Fatalf("record ending %d after one ending %d", fl.End, last)
				}
				last = fl.End
				records++
				packets += fl.Packets
			}
			s := r.Stats()
			if s.Errors != 0 {
				t.Errorf("%d bad packets", s.Errors)
			}
			if ip := uint64(s.Frames - s.NonIP); packets < ip || packets > 2*ip {
				t.Errorf("records hold %d packets for %d IP packets", packets, ip)
			}
			t.Logf("%d frames (%d without IP), %d records", s.Frames, s.NonIP, records)
		})
	}
}
