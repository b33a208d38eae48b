package scenario

import (
	"compress/gzip"
	"encoding/csv"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"picket/internal/event"
)

// ReadCICFlows reads CICFlowMeter flows (the CIC-IDS2017 CSV layout, as in
// the improved relabelling of Engelen et al.) as connections, so that the
// Zeek converter can render them: forward is the originator, backward the
// responder, packet and byte counts are the directions' (payload plus
// transport headers plus 20 bytes of IPv4 header a packet), and the
// history is rebuilt from the flag counts (a SYN; a reset back for a
// refused connection; a SYN-ACK when both sides sent SYNs).
func ReadCICFlows(r io.Reader) ([]Conn, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	cr := csv.NewReader(zr)
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return nil, err
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.TrimSpace(h)] = i
	}
	need := []string{"Src IP", "Src Port", "Dst IP", "Dst Port", "Protocol", "Timestamp", "Flow Duration",
		"Total Fwd Packet", "Total Bwd packets", "Total Length of Fwd Packet", "Total Length of Bwd Packet",
		"Fwd Header Length", "Bwd Header Length", "SYN Flag Count", "FIN Flag Count", "Fwd RST Flags", "Bwd RST Flags", "Label"}
	for _, n := range need {
		if _, ok := col[n]; !ok {
			return nil, fmt.Errorf("no column %q", n)
		}
	}
	var out []Conn
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		get := func(n string) string { return rec[col[n]] }
		num := func(n string) uint64 {
			v, _ := strconv.ParseFloat(get(n), 64)
			return uint64(max(v, 0))
		}
		c := Conn{Line: line, Label: get("Label"), LocalOrig: "", LocalResp: ""}
		if c.Orig, err = netip.ParseAddr(get("Src IP")); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if c.Resp, err = netip.ParseAddr(get("Dst IP")); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		c.OrigPort, c.RespPort = uint16(num("Src Port")), uint16(num("Dst Port"))
		switch get("Protocol") {
		case "6":
			c.Proto = event.ProtoTCP
		case "17":
			c.Proto = event.ProtoUDP
		default:
			continue // CICFlowMeter's protocol 0 rows carry no usable five-tuple
		}
		ts, err := time.Parse("2006-01-02 15:04:05.999999", get("Timestamp"))
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		c.TS = float64(ts.UnixMicro()) / 1e6
		c.Duration = float64(num("Flow Duration")) / 1e6
		c.OrigPkts, c.RespPkts = num("Total Fwd Packet"), num("Total Bwd packets")
		c.OrigBytes = num("Total Length of Fwd Packet") + num("Fwd Header Length") + 20*c.OrigPkts
		c.RespBytes = num("Total Length of Bwd Packet") + num("Bwd Header Length") + 20*c.RespPkts
		if c.Proto == event.ProtoTCP {
			var h strings.Builder
			syns, fins := num("SYN Flag Count"), num("FIN Flag Count")
			if syns > 0 {
				h.WriteByte('S')
			}
			if c.RespPkts > 0 && syns > 1 {
				h.WriteByte('h')
			}
			if fins > 0 {
				h.WriteString("Ff")
			}
			if num("Fwd RST Flags") > 0 {
				h.WriteByte('R')
			}
			if num("Bwd RST Flags") > 0 {
				h.WriteByte('r')
			}
			c.History = h.String()
			if c.History == "" {
				c.History = "D" // a flow cut from a longer connection: no flags to report
			}
		}
		out = append(out, c)
	}
}

// TestCICIDS2017 converts the CIC-IDS2017 samples (5,000 flows drawn at
// random from each class) to flow logs and reports, per label, how many
// originators a finding names; alone and with the benign sample mixed in.
func TestCICIDS2017(t *testing.T) {
	dir := filepath.Join(datasetDir(t), "labelled", "cicids2017_improved_sample")
	read := func(t *testing.T, name string) []Conn {
		f, err := os.Open(filepath.Join(dir, name))
		if os.IsNotExist(err) {
			t.Skipf("%s is absent", name)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		conns, err := ReadCICFlows(f)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return conns
	}
	var table strings.Builder
	fmt.Fprintln(&table, "| CIC-IDS2017 sample | label | flows | originators | named by a finding | finding types |")
	fmt.Fprintln(&table, "|---|---|---|---|---|---|")
	for _, tc := range []struct {
		name   string
		files  []string
		expect []datasetExpect
	}{
		{"Portscan", []string{"Portscan_5000.csv.gz"}, []datasetExpect{{Type: "Recon:EC2/Portscan", Role: "ACTOR", Actor: "172.16.0.1"}}},
		{"Infiltration-Portscan", []string{"Infiltration_-_Portscan_5000.csv.gz"}, []datasetExpect{{Type: "Recon:EC2/Portscan", Role: "ACTOR", Actor: "192.168.10.8"}}},
		{"BENIGN", []string{"BENIGN_5000.csv.gz"}, nil},
		{"BENIGN+Portscan", []string{"BENIGN_5000.csv.gz", "Portscan_5000.csv.gz"}, []datasetExpect{{Type: "Recon:EC2/Portscan", Role: "ACTOR", Actor: "172.16.0.1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var conns []Conn
			for _, f := range tc.files {
				conns = append(conns, read(t, f)...)
			}
			var z ZeekConverter
			recs := z.Records(conns)
			res, findings := analyzeRecords(t, recs, &z)
			t.Logf("%d flows (%d with no private end), %d records, %d findings", len(conns), z.Skipped, len(recs), len(findings))
			for _, f := range findings {
				t.Logf("  %s %s (%s) role=%s remotes=%s count=%d: %s", f.Type, f.Resource, res[f.Resource], f.Role, shortList(f.Remotes, 4), f.Count, f.Summary)
			}
			for _, lr := range labelResults(conns, findings, res, nil) {
				fmt.Fprintf(&table, "| %s | %s | %d | %d | %d | %s |\n", tc.name, lr.label, lr.conns, len(lr.sources), len(lr.detected), typeCounts(lr.types))
				if strings.EqualFold(lr.label, "BENIGN") && len(lr.detected) > 0 {
					var named []string
					for a := range lr.detected {
						named = append(named, a.String())
					}
					slices.Sort(named)
					t.Logf("  benign originators named by findings: %s", strings.Join(named, ", "))
				}
			}
			for _, e := range tc.expect {
				found := false
				for _, f := range findings {
					if f.Type == e.Type && f.Role == e.Role && res[f.Resource].String() == e.Actor {
						found = true
					}
				}
				if !found {
					t.Errorf("no %s %s finding about %s", e.Type, e.Role, e.Actor)
				}
			}
		})
	}
	if *report || testing.Verbose() {
		fmt.Fprint(os.Stdout, "\n"+table.String())
	}
}
