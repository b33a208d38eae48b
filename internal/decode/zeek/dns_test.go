package zeek_test

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/gzip"

	"picket/internal/decode/zeek"
	"picket/internal/event"
)

// dnsQuery is a DNSQuery with its borrowed bytes copied, for comparing.
type dnsQuery struct {
	T                     event.Time
	Line                  int64
	Src, Resolver         string
	SrcPort, ResolverPort uint16
	Proto                 uint8
	Name                  string
	QType, QClass         uint16
	RCode                 uint8
	Answers               []string // "A 1.2.3.4" or "0 text"
	More                  uint16
}

func copyQuery(q *event.DNSQuery) dnsQuery {
	c := dnsQuery{
		T: q.T, Line: q.Origin.Line, Src: q.Src.String(), Resolver: q.Resolver.String(),
		SrcPort: q.SrcPort, ResolverPort: q.ResolverPort, Proto: q.Protocol,
		Name: string(q.Name), QType: q.QType, QClass: q.QClass, RCode: q.RCode, More: q.MoreAnswers,
	}
	for _, a := range q.AnswerList() {
		if a.Addr.IsValid() {
			c.Answers = append(c.Answers, fmt.Sprintf("%d %s", a.Type, a.Addr))
		} else {
			c.Answers = append(c.Answers, fmt.Sprintf("%d %s", a.Type, a.Data))
		}
	}
	return c
}

func readDNS(t testing.TB, r *zeek.DNSReader) ([]dnsQuery, []*zeek.ParseError) {
	t.Helper()
	var out []dnsQuery
	var errs []*zeek.ParseError
	var q event.DNSQuery
	for {
		err := r.Next(&q)
		if errors.Is(err, io.EOF) {
			return out, errs
		}
		var pe *zeek.ParseError
		if errors.As(err, &pe) {
			errs = append(errs, pe)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, copyQuery(&q))
	}
}

const dnsHeader = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tdns\n#open\t2024-01-01-00-00-00\n" +
	"#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\ttrans_id\trtt\tquery\tqclass\tqclass_name\tqtype\tqtype_name\trcode\trcode_name\tAA\tTC\tRD\tRA\tZ\tanswers\tTTLs\trejected\n" +
	"#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tcount\tinterval\tstring\tcount\tstring\tcount\tstring\tcount\tstring\tbool\tbool\tbool\tbool\tcount\tvector[string]\tvector[interval]\tbool\n"

// dnsSample holds, in TSV: an A query answered through a CNAME, an AAAA
// query over TCP with an IPv6 answer, an unanswered query (rcode unset),
// an NXDOMAIN with an upper-case, escaped name, a response of ten
// addresses (two over MaxAnswers); then lines with a bad address, a bad
// port, a bad qtype, and a line too short for its header.
var dnsSample = dnsHeader +
	"1700000000.25\tC1\t10.0.1.10\t50000\t10.0.0.2\t53\tudp\t1\t0.001\twww.Example.com.\t1\tC_INTERNET\t1\tA\t0\tNOERROR\tF\tF\tT\tT\t0\twww.example.com.cdn.net,93.184.216.34\t60.0,60.0\tF\n" +
	"1700000001.0\tC2\t10.0.1.10\t50001\t10.0.0.2\t53\ttcp\t2\t0.002\texample.com\t1\tC_INTERNET\t28\tAAAA\t0\tNOERROR\tF\tF\tT\tT\t0\t2606:2800:220:1::1\t60.0\tF\n" +
	"1700000002.0\tC3\tfe80::1\t5353\tff02::fb\t5353\tudp\t0\t-\twpad\t1\tC_INTERNET\t1\tA\t-\t-\tF\tF\tF\tF\t0\t-\t-\tF\n" +
	"1700000003.0\tC4\t10.0.1.11\t50002\t10.0.0.2\t53\tudp\t3\t0.003\tQEXYRYL\\x2eCOM\t1\tC_INTERNET\t16\tTXT\t3\tNXDOMAIN\tF\tF\tT\tT\t0\t(empty)\t(empty)\tF\n" +
	"1700000004.0\tC5\t10.0.1.12\t50003\t10.0.0.2\t53\tudp\t4\t0.004\tmany.example\t1\tC_INTERNET\t1\tA\t0\tNOERROR\tF\tF\tT\tT\t0\t" +
	"192.0.2.1,192.0.2.2,192.0.2.3,192.0.2.4,192.0.2.5,192.0.2.6,192.0.2.7,192.0.2.8,192.0.2.9,192.0.2.10\t-\tF\n" +
	"1700000005.0\tC6\t10.0.1.300\t50004\t10.0.0.2\t53\tudp\t5\t-\tbad.example\t1\tC_INTERNET\t1\tA\t0\tNOERROR\tF\tF\tT\tT\t0\t-\t-\tF\n" +
	"1700000006.0\tC7\t10.0.1.10\t70000\t10.0.0.2\t53\tudp\t6\t-\tbad.example\t1\tC_INTERNET\t1\tA\t0\tNOERROR\tF\tF\tT\tT\t0\t-\t-\tF\n" +
	"1700000007.0\tC8\t10.0.1.10\t50005\t10.0.0.2\t53\tudp\t7\t-\tbad.example\t1\tC_INTERNET\tA\tA\t0\tNOERROR\tF\tF\tT\tT\t0\t-\t-\tF\n" +
	"1700000008.0\tC9\n" +
	"#close\t2024-01-01-00-10-00\n"

// dnsSampleJSON is the first four queries as JSON lines (the third with
// nested id fields and unset fields left out, the fourth with JSON
// escapes and an ISO time), a JSON line of a conn.log, a line with a bad
// answers value, a line cut short and one with something after it.
var dnsSampleJSON = `{"ts":1700000000.25,"uid":"C1","id.orig_h":"10.0.1.10","id.orig_p":50000,"id.resp_h":"10.0.0.2","id.resp_p":53,"proto":"udp","trans_id":1,"rtt":0.001,"query":"www.Example.com.","qclass":1,"qclass_name":"C_INTERNET","qtype":1,"qtype_name":"A","rcode":0,"rcode_name":"NOERROR","AA":false,"TC":false,"RD":true,"RA":true,"Z":0,"answers":["www.example.com.cdn.net","93.184.216.34"],"TTLs":[60.0,60.0],"rejected":false}
{"ts":1700000001.0,"uid":"C2","id.orig_h":"10.0.1.10","id.orig_p":50001,"id.resp_h":"10.0.0.2","id.resp_p":53,"proto":"tcp","query":"example.com","qclass":1,"qtype":28,"qtype_name":"AAAA","rcode":0,"answers":[ "2606:2800:220:1::1" ]}
{"ts":1700000002.0,"uid":"C3","id":{"orig_h":"fe80::1","orig_p":5353,"resp_h":"ff02::fb","resp_p":5353},"proto":"udp","trans_id":0,"query":"wpad","qclass":1,"qclass_name":"C_INTERNET","qtype":1,"qtype_name":"A","AA":false}
{"ts":"2023-11-14T22:13:23Z","uid":"C4","id.orig_h":"10.0.1.11","id.orig_p":50002,"id.resp_h":"10.0.0.2","id.resp_p":53,"proto":"udp","query":"QEXYRYL\u002eCOM","qclass":1,"qtype":16,"qtype_name":"TXT","rcode":3,"rcode_name":"NXDOMAIN","answers":["TXT 5 a\"b\\c"]}
{"ts":1700000010.5,"uid":"C1","id.orig_h":"203.0.113.5","id.orig_p":50000,"id.resp_h":"10.0.1.10","id.resp_p":22,"proto":"tcp","duration":2.0,"conn_state":"SF","orig_pkts":5}
{"ts":1700000000.25,"uid":"C1","id.orig_h":"10.0.1.10","id.orig_p":50000,"id.resp_h":"10.0.0.2","id.resp_p":53,"proto":"udp","query":"x","qtype":1,"rcode":0,"answers":"1.2.3.4"}
{"ts":1700000000.25,"uid":"C1","query":"x"
{"ts":1700000000.25,"uid":"C1","query":"x"} {}
`

func TestDNS(t *testing.T) {
	ten := []string{}
	for i := 1; i <= event.MaxAnswers; i++ {
		ten = append(ten, fmt.Sprintf("1 192.0.2.%d", i))
	}
	wantTSV := []dnsQuery{
		{1700000000, 9, "10.0.1.10", "10.0.0.2", 50000, 53, event.ProtoUDP, "www.example.com", 1, 1, 0, []string{"0 www.example.com.cdn.net", "1 93.184.216.34"}, 0},
		{1700000001, 10, "10.0.1.10", "10.0.0.2", 50001, 53, event.ProtoTCP, "example.com", 28, 1, 0, []string{"28 2606:2800:220:1::1"}, 0},
		{1700000002, 11, "fe80::1", "ff02::fb", 5353, 5353, event.ProtoUDP, "wpad", 1, 1, event.RCodeUnknown, nil, 0},
		{1700000003, 12, "10.0.1.11", "10.0.0.2", 50002, 53, event.ProtoUDP, "qexyryl.com", 16, 1, event.RCodeNXDomain, nil, 0},
		{1700000004, 13, "10.0.1.12", "10.0.0.2", 50003, 53, event.ProtoUDP, "many.example", 1, 1, 0, ten, 2},
	}
	wantJSON := []dnsQuery{
		{1700000000, 1, "10.0.1.10", "10.0.0.2", 50000, 53, event.ProtoUDP, "www.example.com", 1, 1, 0, []string{"0 www.example.com.cdn.net", "1 93.184.216.34"}, 0},
		{1700000001, 2, "10.0.1.10", "10.0.0.2", 50001, 53, event.ProtoTCP, "example.com", 28, 1, 0, []string{"28 2606:2800:220:1::1"}, 0},
		{1700000002, 3, "fe80::1", "ff02::fb", 5353, 5353, event.ProtoUDP, "wpad", 1, 1, event.RCodeUnknown, nil, 0},
		{1700000003, 4, "10.0.1.11", "10.0.0.2", 50002, 53, event.ProtoUDP, "qexyryl.com", 16, 1, event.RCodeNXDomain, []string{`0 TXT 5 a"b\c`}, 0},
	}
	for _, tc := range []struct {
		name, in string
		want     []dnsQuery
		errs     []string
	}{
		{"tsv", dnsSample, wantTSV, []string{
			`dns.log:14: field "id.orig_h": value "10.0.1.300": invalid`,
			`dns.log:15: field "id.orig_p": value "70000": invalid`,
			`dns.log:16: field "qtype": value "A": invalid`,
			`dns.log:17: field "id.orig_h": missing`,
		}},
		{"json", dnsSampleJSON, wantJSON, []string{
			`dns.log:5: field "query": missing`,
			`dns.log:6: field "answers": value "1.2.3.4": invalid`,
			`dns.log:7: field "line": syntax`,
			`dns.log:8: field "line": syntax`,
		}},
		{"crlf", strings.ReplaceAll(dnsSample, "\n", "\r\n"), wantTSV, []string{
			`dns.log:14: field "id.orig_h": value "10.0.1.300": invalid`,
			`dns.log:15: field "id.orig_p": value "70000": invalid`,
			`dns.log:16: field "qtype": value "A": invalid`,
			`dns.log:17: field "id.orig_h": missing`,
		}},
		{"no header", "1700000000\tC1\t10.0.1.10\n", nil, []string{`dns.log:1: field "line": no-fields-header`}},
		{"header without query", "#fields\tts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\n1\t10.0.0.1\t1\t10.0.0.2\t53\n", nil, []string{
			`dns.log:1: field "query": missing-column`,
			`dns.log:2: field "line": no-fields-header`,
		}},
		{"comma separator", "#separator ,\n#set_separator,;\n#fields,ts,id.orig_h,id.orig_p,id.resp_h,id.resp_p,query,answers\n5,10.0.0.1,1,10.0.0.2,53,a.b,1.1.1.1;c.d\n", []dnsQuery{
			{5, 4, "10.0.0.1", "10.0.0.2", 1, 53, 0, "a.b", 0, 0, event.RCodeUnknown, []string{"1 1.1.1.1", "0 c.d"}, 0},
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, errs := readDNS(t, zeek.NewDNSReader(strings.NewReader(tc.in), "dns.log"))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			var msgs []string
			for _, e := range errs {
				msgs = append(msgs, e.Error())
			}
			if diff := cmp.Diff(tc.errs, msgs); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDNSReset checks that a reset reader reads a new input from its
// start, with the headers of the new input only.
func TestDNSReset(t *testing.T) {
	r := zeek.NewDNSReader(strings.NewReader(dnsSample), "a.log")
	first, _ := readDNS(t, r)
	r.Reset(strings.NewReader(dnsSample), "a.log")
	again, _ := readDNS(t, r)
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("second reading differs (-first +again):\n%s", diff)
	}
	r.Reset(strings.NewReader("1\tC\t10.0.0.1\t1\t10.0.0.2\t53\n"), "b.log")
	if _, errs := readDNS(t, r); len(errs) != 1 || errs[0].Why != "no-fields-header" {
		t.Errorf("a reset reader kept the old header: %v", errs)
	}
}

// dnsLines returns a TSV log (when json is false) or JSON lines of n
// queries, alike in shape to those of a busy resolver.
func dnsLines(n int, json bool) string {
	var sb strings.Builder
	if !json {
		sb.WriteString(dnsHeader)
	}
	for i := range n {
		name := fmt.Sprintf("host%d.Example%d.com", i%97, i%13)
		ans := fmt.Sprintf("cdn%d.example.net,192.0.2.%d,198.51.100.%d", i%7, i%250, i%200)
		if i%5 == 0 {
			ans = "-"
		}
		if json {
			a := `"` + strings.ReplaceAll(ans, ",", `","`) + `"`
			if ans == "-" {
				a = ""
			}
			fmt.Fprintf(&sb, `{"ts":%d.%06d,"uid":"C%d","id.orig_h":"10.0.%d.%d","id.orig_p":%d,"id.resp_h":"10.0.0.2","id.resp_p":53,"proto":"udp","trans_id":%d,"rtt":0.001,"query":%q,"qclass":1,"qclass_name":"C_INTERNET","qtype":1,"qtype_name":"A","rcode":0,"rcode_name":"NOERROR","AA":false,"TC":false,"RD":true,"RA":true,"Z":0,"answers":[%s],"rejected":false}`+"\n",
				1700000000+i/100, i%1000000, i, i%4, i%250, 1024+i%60000, i%65536, name, a)
			continue
		}
		fmt.Fprintf(&sb, "%d.%06d\tC%d\t10.0.%d.%d\t%d\t10.0.0.2\t53\tudp\t%d\t0.001\t%s\t1\tC_INTERNET\t1\tA\t0\tNOERROR\tF\tF\tT\tT\t0\t%s\t60.0,60.0,60.0\tF\n",
			1700000000+i/100, i%1000000, i, i%4, i%250, 1024+i%60000, i%65536, name, ans)
	}
	return sb.String()
}

// TestDNSAllocs checks that reading a record allocates nothing once the
// reader is warm.
func TestDNSAllocs(t *testing.T) {
	for _, json := range []bool{false, true} {
		t.Run(fmt.Sprintf("json=%v", json), func(t *testing.T) {
			r := zeek.NewDNSReader(strings.NewReader(dnsLines(3000, json)), "dns.log")
			var q event.DNSQuery
			for range 10 {
				if err := r.Next(&q); err != nil {
					t.Fatal(err)
				}
			}
			allocs := testing.AllocsPerRun(2000, func() {
				if err := r.Next(&q); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("%v allocations per record, want 0", allocs)
			}
		})
	}
}

// TestDNSDatasets reads the shared Zeek dns.logs: every line a record.
func TestDNSDatasets(t *testing.T) {
	files, _ := filepath.Glob("../../../../shared/datasets/dns/*zeek_dns*")
	if len(files) == 0 {
		t.Skip("no Zeek dns.logs in the shared datasets")
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
			r := zeek.NewDNSReader(in, filepath.Base(path))
			got, errs := readDNS(t, r)
			if len(errs) > 0 {
				t.Errorf("%d bad lines, first: %v", len(errs), errs[0])
			}
			if len(got) == 0 {
				t.Fatal("no records")
			}
			var answered, nx int
			for _, q := range got {
				if len(q.Answers) > 0 {
					answered++
				}
				if q.RCode == event.RCodeNXDomain {
					nx++
				}
			}
			t.Logf("%d lines, %d queries, %d answered, %d NXDOMAIN", r.Line(), len(got), answered, nx)
		})
	}
}

// FuzzDNS feeds arbitrary logs to the DNS reader. It must not panic and
// must end; every record must hold what the reader promises (a lower-case
// name without a final dot, answers within bounds, typed by their
// address); every error must be a *ParseError naming the file and a line
// read; and a second reading must give the same records and errors.
func FuzzDNS(f *testing.F) {
	// The samples of TestDNS, TSV and JSON, good lines and bad.
	f.Add([]byte(dnsSample))
	f.Add([]byte(dnsSampleJSON))
	// A header with another separator and set separator.
	f.Add([]byte("#separator \\x2c\n#set_separator,;\n#fields,ts,id.orig_h,id.orig_p,id.resp_h,id.resp_p,query,answers\n5,10.0.0.1,1,10.0.0.2,53,a.b,1.1.1.1;c.d\n"))
	// Escapes: Zeek's \x in TSV, a cut-off one, JSON's \u with a
	// surrogate.
	f.Add([]byte(dnsHeader + "1\tC\t::ffff:10.0.0.1\t1\t::1\t53\tudp\t1\t-\tA\\x41\\x4.\\\t1\t-\t1\t-\t0\t-\tF\tF\tF\tF\t0\t\\x2c,\\x\t-\tF\n"))
	f.Add([]byte(`{"ts":1,"id.orig_h":"::1","id.orig_p":1,"id.resp_h":"::1","id.resp_p":2,"query":"\ud800\u0041.","rcode":0,"answers":["\u00e9","::ffff:1.2.3.4"]}` + "\n"))
	// Unset and empty values everywhere, and an answer list of empty
	// elements.
	f.Add([]byte(dnsHeader + "1\t-\t10.0.0.1\t1\t10.0.0.2\t53\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t,,,\t(empty)\t-\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		read := func() []string {
			r := zeek.NewDNSReader(strings.NewReader(string(data)), "fuzz.log")
			var out []string
			var q event.DNSQuery
			for range 1 << 20 {
				err := r.Next(&q)
				if errors.Is(err, io.EOF) {
					return out
				}
				var pe *zeek.ParseError
				if errors.As(err, &pe) {
					if pe.File != "fuzz.log" || pe.Line < 1 || pe.Line > r.Line() || pe.Field == "" || pe.Why == "" {
						t.Fatalf("error without its place: %#v", pe)
					}
					out = append(out, pe.Error())
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				checkQuery(t, &q)
				out = append(out, fmt.Sprintf("%+v", copyQuery(&q)))
			}
			t.Fatal("reading does not end")
			return nil
		}
		if diff := cmp.Diff(read(), read()); diff != "" {
			t.Fatalf("readings differ:\n%s", diff)
		}
	})
}

func checkQuery(t *testing.T, q *event.DNSQuery) {
	t.Helper()
	if strings.HasSuffix(string(q.Name), ".") {
		t.Fatalf("name %q keeps its final dot", q.Name)
	}
	if strings.ContainsAny(string(q.Name), "ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
		t.Fatalf("name %q not lower-case", q.Name)
	}
	if !q.Src.IsValid() || !q.Resolver.IsValid() || q.Src.Is4In6() || q.Resolver.Is4In6() {
		t.Fatalf("addresses %v %v", q.Src, q.Resolver)
	}
	if int(q.NumAnswers) > event.MaxAnswers || q.MoreAnswers > 0 && int(q.NumAnswers) != event.MaxAnswers {
		t.Fatalf("%d answers and %d more", q.NumAnswers, q.MoreAnswers)
	}
	if q.Protocol != 0 && q.Protocol != event.ProtoUDP && q.Protocol != event.ProtoTCP {
		t.Fatalf("protocol %d", q.Protocol)
	}
	for _, a := range q.AnswerList() {
		switch {
		case a.Addr.Is4():
			if a.Type != event.DNSTypeA || a.Data != nil {
				t.Fatalf("answer %+v", a)
			}
		case a.Addr.IsValid():
			if a.Type != event.DNSTypeAAAA || a.Addr.Is4In6() || a.Data != nil {
				t.Fatalf("answer %+v", a)
			}
		default:
			if a.Type != 0 || len(a.Data) == 0 {
				t.Fatalf("answer %+v", a)
			}
			if _, err := netip.ParseAddr(string(a.Data)); err == nil {
				t.Fatalf("address answer %q kept as data", a.Data)
			}
		}
	}
}

// BenchmarkDNS measures decoding a dns.log of A queries, two in three
// answered with a CNAME and two addresses.
func BenchmarkDNS(b *testing.B) {
	for _, json := range []bool{false, true} {
		b.Run(map[bool]string{false: "tsv", true: "json"}[json], func(b *testing.B) {
			const n = 20000
			data := dnsLines(n, json)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			in := strings.NewReader(data)
			r := zeek.NewDNSReader(in, "bench.log")
			var q event.DNSQuery
			for b.Loop() {
				in.Reset(data)
				r.Reset(in, "bench.log")
				for {
					if err := r.Next(&q); err != nil {
						if errors.Is(err, io.EOF) {
							break
						}
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "queries/s")
		})
	}
}
