package resolver_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"picket/internal/decode/resolver"
	"picket/internal/event"
)

// query is a DNSQuery as the tests compare it: its parts as text.
type query struct {
	Line                        int64
	T                           string
	Account, Region, VPC        string
	Instance, Endpoint          string
	Src                         string
	Proto                       uint8
	Name                        string
	QType, QClass               uint16
	RCode                       uint8
	Answers                     []string
	More                        uint16
	Action, RuleGroup, DomainLs string
}

func view(q *event.DNSQuery) query {
	v := query{
		Line: q.Origin.Line, T: q.T.String(), Account: q.Account.String(), Region: q.Region.String(), VPC: q.VPC.String(),
		Instance: q.Instance.String(), Endpoint: q.ResolverEndpoint.String(), Proto: q.Protocol,
		Name: string(q.Name), QType: q.QType, QClass: q.QClass, RCode: q.RCode, More: q.MoreAnswers,
		Action: q.FirewallAction.String(), RuleGroup: q.FirewallRuleGroup.String(), DomainLs: q.FirewallDomainList.String(),
	}
	if q.Src.IsValid() {
		v.Src = q.Src.String() + ":" + strconv.Itoa(int(q.SrcPort))
	}
	for _, a := range q.AnswerList() {
		s := strconv.Itoa(int(a.Type)) + "/" + strconv.Itoa(int(a.Class)) + " "
		if a.Addr.IsValid() {
			s += a.Addr.String()
		} else {
			s += string(a.Data)
		}
		v.Answers = append(v.Answers, s)
	}
	return v
}

// readAll reads every record and bad line of b, the bad lines as
// "!reason line field".
func readAll(t testing.TB, r *resolver.Reader) (got []query, bad []string) {
	t.Helper()
	var q event.DNSQuery
	for {
		err := r.Next(&q)
		if errors.Is(err, io.EOF) {
			return got, bad
		}
		var pe *resolver.ParseError
		if errors.As(err, &pe) {
			bad = append(bad, "!"+pe.Reason()+" "+strconv.FormatInt(pe.Line, 10)+" "+pe.Field)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, view(&q))
	}
}

// TestReader reads a hand-written log with every field, and bad lines
// among good ones.
func TestReader(t *testing.T) {
	f, err := os.Open("testdata/queries.log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := resolver.NewReader(f, "queries.log")
	got, bad := readAll(t, r)
	inst := "i-0abc1234def567890"
	acct, region, vpc := "111122223333", "us-east-1", "vpc-0a1b2c3d"
	many := []string{}
	for i := 1; i <= event.MaxAnswers; i++ {
		many = append(many, "1/1 192.0.2."+strconv.Itoa(i))
	}
	want := []query{
		{Line: 1, T: "2026-03-02T10:00:00Z", Account: acct, Region: region, VPC: vpc, Instance: inst, Src: "10.0.1.5:41234", Proto: event.ProtoUDP,
			Name: "example.com", QType: 1, QClass: 1, RCode: 0, Answers: []string{"1/1 192.0.2.1", "1/1 192.0.2.2"}},
		{Line: 2, T: "2026-03-02T10:00:01Z", Account: acct, Region: region, VPC: vpc, Instance: inst, Src: "10.0.1.5:41235", Proto: event.ProtoTCP,
			Name: "www.example.org", QType: 28, QClass: 1, RCode: 0, Answers: []string{"5/1 web.example.org.", "28/1 2001:db8::10"}},
		{Line: 4, T: "2026-03-02T10:00:02Z", Account: acct, Region: region, VPC: vpc, Endpoint: "rslvr-in-0123456789abcdef0", Src: "10.0.2.9:5353", Proto: event.ProtoUDP,
			Name: "agvsbg8gd29ybgq.t.example.net", QType: 16, QClass: 1, RCode: 3},
		{Line: 6, T: "2026-03-02T10:00:04Z", Account: acct, Region: region, VPC: vpc, Instance: inst, Src: "10.0.1.5:40000", Proto: event.ProtoUDP,
			Name: "blocked.example", QType: 10, QClass: 1, RCode: 0,
			Action: "BLOCK", RuleGroup: "rslvr-frg-0123456789abcdef0", DomainLs: "rslvr-fdl-0123456789abcdef0"},
		{Line: 9, T: "2026-03-02T10:00:06Z", Account: acct, Region: region, VPC: vpc, Src: "10.0.1.6:1", Proto: event.ProtoUDP,
			Name: ".", QType: 65534, QClass: 1, RCode: 2},
		{Line: 10, T: "2026-03-02T10:00:07Z", Account: acct, Region: region, VPC: vpc, Instance: inst, Src: "10.0.1.7:2", Proto: event.ProtoUDP,
			Name: "many.example.com", QType: 1, QClass: 1, RCode: 0, Answers: many, More: 2},
		{Line: 11, T: "2026-03-02T10:00:08Z", Account: acct, Region: region, VPC: vpc, Src: "10.0.1.5:3", Proto: event.ProtoUDP,
			Name: "odd.example.com", QType: 0, QClass: 1, RCode: 5},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("records (-want +got):\n%s", d)
	}
	wantBad := []string{"!value 5 srcaddr", "!syntax 7 answers", "!missing-field 8 query_timestamp"}
	if d := cmp.Diff(wantBad, bad); d != "" {
		t.Errorf("bad lines (-want +got):\n%s", d)
	}
	if s := r.Stats(); s.UnknownTypes != 1 {
		t.Errorf("unknown types: %d, want 1", s.UnknownTypes)
	}
}

// TestErrors checks that a bad line's error names the file, line, field
// and value, and the reason it is counted under.
func TestErrors(t *testing.T) {
	const ok = `"query_timestamp":"2026-03-02T10:00:00Z","query_name":"a.example."`
	for _, tt := range []struct {
		name, line, reason, msg string
	}{
		{"address", `{` + ok + `,"srcaddr":"10.0.0.256"}`, "value", `f:1: field "srcaddr": value "\"10.0.0.256\"": not a valid value for the field`},
		{"port", `{` + ok + `,"srcport":"70000"}`, "value", `f:1: field "srcport"`},
		{"time", `{"query_timestamp":"2026-02-30T10:00:00Z","query_name":"a."}`, "value", `field "query_timestamp"`},
		{"time type", `{"query_timestamp":1772445600,"query_name":"a."}`, "type", `field "query_timestamp": value "1772445600": wrong JSON type`},
		{"no name", `{"query_timestamp":"2026-03-02T10:00:00Z"}`, "missing-field", `field "query_name": required field missing`},
		{"empty name", `{"query_timestamp":"2026-03-02T10:00:00Z","query_name":""}`, "value", `field "query_name"`},
		{"instance", `{` + ok + `,"srcids":{"instance":7}}`, "type", `field "srcids.instance"`},
		{"answers", `{` + ok + `,"answers":{}}`, "type", `field "answers"`},
		{"not an object", `["a"]`, "not-a-query", `f:1: value "[\"a\"]": not a JSON object`},
		{"trailing", `{` + ok + `} x`, "syntax", `value "x": malformed JSON`},
		{"cut", `{` + ok + `,"rcode":"NOERR`, "syntax", `malformed JSON`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := resolver.NewReader(strings.NewReader(tt.line+"\n"), "f")
			var q event.DNSQuery
			err := r.Next(&q)
			var pe *resolver.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Next: %v, want a *ParseError", err)
			}
			if pe.Reason() != tt.reason || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("got %q (%s), want %q (%s)", err, pe.Reason(), tt.msg, tt.reason)
			}
			if err := r.Next(&q); !errors.Is(err, io.EOF) {
				t.Errorf("after the bad line: %v, want io.EOF", err)
			}
		})
	}
}

// TestTimes checks the forms of query_timestamp (event.ParseTimestamp,
// which the CloudTrail decoder shares).
func TestTimes(t *testing.T) {
	for in, want := range map[string]string{
		"2026-03-02T10:00:00Z":             "2026-03-02T10:00:00Z",
		"2026-03-02T10:00:00.999999999Z":   "2026-03-02T10:00:00Z",
		"2026-03-02T10:00:00.5+02:00":      "2026-03-02T08:00:00Z",
		"2024-02-29T23:59:59-00:30":        "2024-03-01T00:29:59Z",
		"1970-01-01T00:00:00Z":             "1970-01-01T00:00:00Z",
		"2000-03-01T00:00:00Z":             "2000-03-01T00:00:00Z",
		"2026-03-02 10:00:00Z":             "2026-03-02T10:00:00Z", // the forms other AWS logs write are read too
		"2026-03-02T10:00:00":              "2026-03-02T10:00:00Z", // no zone: UTC
		"2026-03-02T10:00:60Z":             "2026-03-02T10:00:59Z", // a leap second
		"2026-03-02T10:00:00.Z":            "!",
		"2023-02-29T10:00:00Z":             "!",
		"2026-03-02T10:00:00Z trailing":    "!",
		"2026-13-02T10:00:00Z":             "!",
		"0000-01-01T00:00:00Z":             "0000-01-01T00:00:00Z",
		"9999-12-31T23:59:59.123456+14:00": "9999-12-31T09:59:59Z",
	} {
		line := `{"query_timestamp":"` + in + `","query_name":"a."}`
		var q event.DNSQuery
		err := resolver.NewDecoder("t").Decode([]byte(line), 1, &q)
		got := "!"
		if err == nil {
			got = q.T.String()
		}
		if got != want {
			t.Errorf("%s: got %s (%v), want %s", in, got, err, want)
		}
	}
}

// TestTypes checks the mapping of type, class and response code names.
func TestTypes(t *testing.T) {
	for _, tt := range []struct {
		qtype, class, rcode string
		wantType, wantClass uint16
		wantRCode           uint8
	}{
		{"A", "IN", "NOERROR", 1, 1, 0},
		{"AAAA", "CH", "NXDOMAIN", 28, 3, 3},
		{"HTTPS", "CLASS7", "SERVFAIL", 65, 7, 2},
		{"TYPE99", "ANY", "REFUSED", 99, 255, 5},
		{"ANY", "XX", "RCODE12", 255, 0, 12},
		{"TYPE70000", "IN", "BOGUS", 0, 1, event.RCodeUnknown},
	} {
		line := `{"query_timestamp":"2026-03-02T10:00:00Z","query_name":"a.","query_type":"` + tt.qtype + `","query_class":"` + tt.class + `","rcode":"` + tt.rcode + `"}`
		var q event.DNSQuery
		if err := resolver.NewDecoder("t").Decode([]byte(line), 1, &q); err != nil {
			t.Fatal(err)
		}
		if q.QType != tt.wantType || q.QClass != tt.wantClass || q.RCode != tt.wantRCode {
			t.Errorf("%s %s %s: got %d %d %d", tt.qtype, tt.class, tt.rcode, q.QType, q.QClass, q.RCode)
		}
	}
	// Absent names: no type, no class, RCodeUnknown; escapes resolved.
	var q event.DNSQuery
	if err := resolver.NewDecoder("t").Decode([]byte(`{"query_timestamp":"2026-03-02T10:00:00Z","query_name":"A\u0042c.","query_type":null}`), 1, &q); err != nil {
		t.Fatal(err)
	}
	if q.QType != 0 || q.QClass != 0 || q.RCode != event.RCodeUnknown || string(q.Name) != "abc" {
		t.Errorf("got %d %d %d %q", q.QType, q.QClass, q.RCode, q.Name)
	}
}

// TestLongLine checks that a line over MaxLine is one bad record, and the
// lines around it are read.
func TestLongLine(t *testing.T) {
	good := `{"query_timestamp":"2026-03-02T10:00:00Z","query_name":"a."}` + "\n"
	long := `{"query_timestamp":"2026-03-02T10:00:00Z","query_name":"` + strings.Repeat("a", resolver.MaxLine) + `"}` + "\n"
	for _, in := range []string{good + long + good, good + long[:len(long)-1]} {
		r := resolver.NewReader(strings.NewReader(in), "long")
		got, bad := readAll(t, r)
		wantGood := strings.Count(in, good)
		if len(got) != wantGood || len(bad) != 1 || bad[0] != "!too-large 2 " {
			t.Errorf("%d records, bad %q; want %d and one too-large", len(got), bad, wantGood)
		}
		if r.Offset() != int64(len(in)) {
			t.Errorf("offset %d, want %d", r.Offset(), len(in))
		}
	}
}

// TestResume checks that a reader resumed at the position after each
// record reads what the first one read after it, and that a partial last
// line is left for later.
func TestResume(t *testing.T) {
	data, err := os.ReadFile("testdata/queries.log")
	if err != nil {
		t.Fatal(err)
	}
	r := resolver.NewReader(bytes.NewReader(data), "q")
	whole, _ := readAll(t, r)
	r.Reset(bytes.NewReader(data), "q")
	var q event.DNSQuery
	for i := 0; ; i++ {
		err := r.Next(&q)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			continue
		}
		off, line := r.Offset(), r.Line()
		r2 := resolver.NewReader(bytes.NewReader(data[off:]), "q")
		r2.Resume(off, line)
		rest, _ := readAll(t, r2)
		idx := 0
		for idx < len(whole) && whole[idx].Line <= line {
			idx++
		}
		if d := cmp.Diff(whole[idx:], rest, cmpopts.EquateEmpty()); d != "" {
			t.Fatalf("resumed at %d (line %d):\n%s", off, line, d)
		}
	}
	// Partial: the last line, without its newline, is not read.
	last := bytes.LastIndexByte(data[:len(data)-1], '\n') + 1
	r.Reset(bytes.NewReader(data[:len(data)-1]), "q")
	r.SetPartial(true)
	got, _ := readAll(t, r)
	if len(got) != len(whole)-1 || r.Offset() != int64(last) {
		t.Errorf("partial: %d records, offset %d; want %d, %d", len(got), r.Offset(), len(whole)-1, last)
	}
}

// TestDataset reads the Route 53 Resolver fixture of Elastic's
// integration tests, when the shared datasets are there: 34 queries, none
// bad, and the DNS Firewall fields of its documentation example.
func TestDataset(t *testing.T) {
	const path = "../../../../shared/datasets/dns/elastic_integrations_tests/test-route53.log"
	f, err := os.Open(path)
	if err != nil {
		t.Skip("the shared datasets are not here:", err)
	}
	defer f.Close()
	got, bad := readAll(t, resolver.NewReader(f, "test-route53.log"))
	if len(got) != 34 || len(bad) != 0 {
		t.Fatalf("%d queries, bad %q; want 34, none", len(got), bad)
	}
	blocked, instances := 0, 0
	for _, q := range got {
		if q.Action == "BLOCK" && q.RuleGroup == "rslvr-frg-01234567890abcdef" {
			blocked++
		}
		if q.Instance != "" {
			instances++
		}
		if q.Name == "" || q.T == "" || q.Src == "" || q.Account == "" {
			t.Errorf("incomplete: %+v", q)
		}
	}
	if blocked != 1 || instances != 5 {
		t.Errorf("%d blocked, %d with an instance; want 1, 5", blocked, instances)
	}
}
