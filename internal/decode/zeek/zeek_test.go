package zeek_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/gzip"

	"picket/internal/decode/zeek"
	"picket/internal/event"
	"picket/internal/flowmeter"
)

const tsvHeader = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n" +
	"#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\n" +
	"#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]\n"

// sample holds, in TSV: an SSH session from the internet, a refused
// connection (REJ), an unanswered SYN, and an ICMP echo; then a bad line.
var sample = tsvHeader +
	"1700000010.5\tC1\t203.0.113.5\t50000\t10.0.1.10\t22\ttcp\tssh\t2.0\t300\t1200\tSF\tF\tT\t0\tShAdDaFf\t5\t500\t3\t1320\t(empty)\n" +
	"1700000011.0\tC2\t203.0.113.5\t50001\t10.0.1.10\t23\ttcp\t-\t0.001\t0\t0\tREJ\tF\tT\t0\tSr\t1\t44\t1\t40\t(empty)\n" +
	"1700000012.0\tC3\t203.0.113.5\t50002\t10.0.1.10\t25\ttcp\t-\t-\t-\t-\tS0\tF\tT\t0\tS\t1\t44\t0\t0\t(empty)\n" +
	"1700000013.0\tC4\t10.0.1.10\t8\t10.0.2.20\t0\ticmp\t-\t0.001\t32\t32\tOTH\tT\tT\t0\t-\t1\t60\t1\t60\t(empty)\n" +
	"nonsense\tC5\t1.2.3.4\t1\t5.6.7.8\t2\ttcp\t-\t-\t-\t-\tS0\tF\tF\t0\tS\t1\t44\t0\t0\t(empty)\n"

// sampleJSON is the same connections as JSON lines.
var sampleJSON = `{"ts":1700000010.5,"uid":"C1","id.orig_h":"203.0.113.5","id.orig_p":50000,"id.resp_h":"10.0.1.10","id.resp_p":22,"proto":"tcp","duration":2.0,"conn_state":"SF","local_orig":false,"local_resp":true,"history":"ShAdDaFf","orig_pkts":5,"orig_ip_bytes":500,"resp_pkts":3,"resp_ip_bytes":1320}
{"ts":"2023-11-14T22:13:31Z","uid":"C2","id.orig_h":"203.0.113.5","id.orig_p":50001,"id.resp_h":"10.0.1.10","id.resp_p":23,"proto":"tcp","duration":0.001,"conn_state":"REJ","history":"Sr","orig_pkts":1,"orig_ip_bytes":44,"resp_pkts":1,"resp_ip_bytes":40}
{"ts":1700000012.0,"uid":"C3","id":{"orig_h":"203.0.113.5","orig_p":50002,"resp_h":"10.0.1.10","resp_p":25},"proto":"tcp","conn_state":"S0","history":"S","orig_pkts":1,"orig_ip_bytes":44,"resp_pkts":0,"resp_ip_bytes":0}
{"ts":1700000013.0,"uid":"C4","id.orig_h":"10.0.1.10","id.orig_p":8,"id.resp_h":"10.0.2.20","id.resp_p":0,"proto":"icmp","duration":0.001,"conn_state":"OTH","orig_pkts":1,"orig_ip_bytes":60,"resp_pkts":1,"resp_ip_bytes":60}
{"ts":"nonsense","id.orig_h":"1.2.3.4","id.orig_p":1,"id.resp_h":"5.6.7.8","id.resp_p":2,"proto":"tcp","orig_pkts":1}
`

type rec struct {
	Iface        string
	Src, Dst     string
	SPort, DPort uint16
	Proto        uint8
	Packets      uint64
	Bytes        uint64
	Start, End   event.Time
	Flags        uint8
	Dir          string
}

func readAll(t testing.TB, r *zeek.Reader) ([]rec, []error) {
	t.Helper()
	var out []rec
	var errs []error
	var f event.Flow
	for {
		err := r.Next(&f)
		if errors.Is(err, io.EOF) {
			return out, errs
		}
		var pe *zeek.ParseError
		if errors.As(err, &pe) {
			errs = append(errs, err)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rec{f.Interface.String(), f.Src.String(), f.Dst.String(), f.SrcPort, f.DstPort, f.Protocol, f.Packets, f.Bytes, f.Start, f.End, f.TCPFlags, f.Direction.String()})
	}
}

func TestDecode(t *testing.T) {
	web1, db1 := flowmeter.AutoID(mustAddr("10.0.1.10")), flowmeter.AutoID(mustAddr("10.0.2.20"))
	want := []rec{
		{web1, "10.0.1.10", "203.0.113.5", 23, 50001, 6, 1, 40, 1700000011, 1700000011, 4, "OUTBOUND"},
		{web1, "203.0.113.5", "10.0.1.10", 50001, 23, 6, 1, 44, 1700000011, 1700000011, 2, "INBOUND"},
		{web1, "10.0.1.10", "203.0.113.5", 22, 50000, 6, 3, 1320, 1700000010, 1700000012, 19, "OUTBOUND"},
		{web1, "203.0.113.5", "10.0.1.10", 50000, 22, 6, 5, 500, 1700000010, 1700000012, 3, "INBOUND"},
		{web1, "203.0.113.5", "10.0.1.10", 50002, 25, 6, 1, 44, 1700000012, 1700000012, 2, "INBOUND"},
		{web1, "10.0.1.10", "10.0.2.20", 0, 0, 1, 1, 60, 1700000013, 1700000013, 0, "OUTBOUND"},
		{web1, "10.0.2.20", "10.0.1.10", 0, 0, 1, 1, 60, 1700000013, 1700000013, 0, "INBOUND"},
		{db1, "10.0.1.10", "10.0.2.20", 0, 0, 1, 1, 60, 1700000013, 1700000013, 0, "INBOUND"},
		{db1, "10.0.2.20", "10.0.1.10", 0, 0, 1, 1, 60, 1700000013, 1700000013, 0, "OUTBOUND"},
	}
	for name, in := range map[string]string{"tsv": sample, "json": sampleJSON} {
		t.Run(name, func(t *testing.T) {
			got, errs := readAll(t, zeek.NewReader(strings.NewReader(in), "conn.log", flowmeter.Config{}))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if len(errs) != 1 || !strings.Contains(errs[0].Error(), `conn.log:`) || !strings.Contains(errs[0].Error(), `"ts"`) {
				t.Errorf("errors = %v, want one about ts", errs)
			}
		})
	}
}

// TestSplit checks that a long connection is spread over the windows it
// spans, counts adding up, in end-time order.
func TestSplit(t *testing.T) {
	in := tsvHeader + "1700000030.0\tC1\t10.0.1.10\t40000\t10.0.2.20\t5432\ttcp\t-\t150.0\t0\t0\tSF\tT\tT\t0\tShADadFf\t300\t30000\t150\t60000\t(empty)\n"
	got, errs := readAll(t, zeek.NewReader(strings.NewReader(in), "conn.log", flowmeter.Config{Interface: flowmeter.AutoID(mustAddr("10.0.1.10"))}))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var pk, by uint64
	var last event.Time
	for _, r := range got {
		if r.Start/60 != r.End/60 {
			t.Errorf("record spans windows: %+v", r)
		}
		if r.End < last {
			t.Errorf("out of order: %+v", got)
		}
		last = r.End
		pk += r.Packets
		by += r.Bytes
	}
	if len(got) != 8 || pk != 450 || by != 90000 {
		t.Errorf("want 8 records (2 directions over 4 windows) with 450 packets and 90000 bytes, got %d with %d and %d:\n%+v", len(got), pk, by, got)
	}
	if got[0].Flags&event.TCPSyn == 0 || got[len(got)-1].Flags&event.TCPFin == 0 {
		t.Errorf("SYN belongs to the first window and FIN to the last:\n%+v", got)
	}
}

// TestDatasets reads the shared Zeek logs: no bad line, end-time order.
func TestDatasets(t *testing.T) {
	files, _ := filepath.Glob("../../../../shared/datasets/labelled/*zeek_conn*")
	slips, _ := filepath.Glob("../../../../shared/datasets/labelled/slips/*zeek_conn*")
	files = append(files, slips...)
	if len(files) == 0 {
		t.Skip("no Zeek logs in the shared datasets")
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var in io.Reader = f
			if strings.HasSuffix(path, ".gz") {
				zr, err := gzip.NewReader(f)
				if err != nil {
					t.Fatal(err)
				}
				in = zr
			}
			r := zeek.NewReader(in, filepath.Base(path), flowmeter.Config{})
			got, errs := readAll(t, r)
			if len(errs) > 0 {
				t.Errorf("%d bad lines, first: %v", len(errs), errs[0])
			}
			for i := 1; i < len(got); i++ {
				if got[i].End < got[i-1].End {
					t.Fatalf("record %d ends before the one before it", i)
				}
			}
			s := r.Stats()
			t.Logf("%d connections, %d records, %d late", s.Lines, len(got), s.Meter.Late)
		})
	}
}

// FuzzZeek feeds arbitrary logs to the reader: it must not panic, must
// end, and must hand out records in end-time order.
func FuzzZeek(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte(sampleJSON))
	f.Add([]byte(tsvHeader + "1\tC\t::1\t1\t::2\t2\ticmp\t-\t1e9\t-\t-\tOTH\t-\t-\t0\t-\t1\t1\t1\t1\t-\n"))
	f.Add([]byte("#separator \\x2c\n#fields,ts,id.orig_h,id.orig_p,id.resp_h,id.resp_p,proto,orig_pkts\n5,10.0.0.1,1,10.0.0.2,2,udp,3\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := zeek.NewReader(strings.NewReader(string(data)), "fuzz.log", flowmeter.Config{MaxFlows: 64})
		var fl event.Flow
		var last event.Time
		for range 1 << 20 {
			err := r.Next(&fl)
			if errors.Is(err, io.EOF) {
				return
			}
			var pe *zeek.ParseError
			if errors.As(err, &pe) {
				continue
			}
			if err != nil {
				return
			}
			if fl.End < last {
				t.Fatalf("record ending %d after one ending %d", fl.End, last)
			}
			last = fl.End
		}
	})
}

// BenchmarkTSV measures decoding a conn.log of short scan connections.
func BenchmarkTSV(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(tsvHeader)
	n := 20000
	for i := range n {
		sb.WriteString("17000000")
		sb.WriteString(pad(i/10, 2))
		sb.WriteString(".5\tC\t203.0.113.5\t40000\t10.0.1.10\t")
		sb.WriteString(pad(1+i, 5))
		sb.WriteString("\ttcp\t-\t0.001\t0\t0\tREJ\tF\tT\t0\tSr\t1\t44\t1\t40\t(empty)\n")
	}
	data := sb.String()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var fl event.Flow
	for b.Loop() {
		r := zeek.NewReader(strings.NewReader(data), "bench.log", flowmeter.Config{})
		for {
			if err := r.Next(&fl); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "conns/s")
}

func pad(i, w int) string {
	s := strings.Repeat("0", w) + itoa(i)
	return s[len(s)-w:]
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}
