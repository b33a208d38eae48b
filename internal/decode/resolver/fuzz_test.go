package resolver_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"picket/internal/decode/resolver"
	"picket/internal/event"
)

// FuzzReader reads any input: it never panics, every query returned has
// a time and a name and comes from a line of the input, every other
// result is a *ParseError or io.EOF, and reading again gives the same.
func FuzzReader(f *testing.F) {
	// A query with answers, srcids and every field.
	f.Add([]byte(`{"version":"1.100000","account_id":"111122223333","region":"us-east-1","vpc_id":"vpc-1","query_timestamp":"2026-03-02T10:00:00Z","query_name":"Example.com.","query_type":"A","query_class":"IN","rcode":"NOERROR","answers":[{"Rdata":"192.0.2.1","Type":"A","Class":"IN"}],"srcaddr":"10.0.0.1","srcport":"53","transport":"UDP","srcids":{"instance":"i-1"}}` + "\n"))
	// A DNS Firewall match, a fractional time, a numeric port, IPv6.
	f.Add([]byte(`{"query_timestamp":"2026-03-02T10:00:00.25+01:00","query_name":"b.","srcaddr":"2001:db8::1","srcport":5,"firewall_rule_action":"BLOCK","firewall_rule_group_id":"g","firewall_domain_list_id":"l"}`))
	// A CloudWatch Logs export line, then a blank line and a cut one.
	f.Add([]byte("2026-03-02T10:00:00.000Z {\"query_timestamp\":\"2026-03-02T10:00:00Z\",\"query_name\":\".\"}\n\n{\"query_name\":\"x"))
	// Escapes in keys and values, nulls, unknown members.
	f.Add([]byte(`{"query_\u0074imestamp":"2026-03-02T10:00:00Z","query_name":"\u00e9\\.","answers":null,"srcids":null,"x":[1,{"y":true}]}` + "\r\n"))
	// Wrong types and values among good lines.
	f.Add([]byte(`{"query_timestamp":1}` + "\n" + `{"query_timestamp":"2026-03-02T10:00:00Z","query_name":"a","srcport":"x"}` + "\n[]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		first := read(t, data)
		if second := read(t, data); first != second {
			t.Fatalf("not deterministic:\n%s\n%s", first, second)
		}
	})
}

// read reads data whole and renders what it gave.
func read(t *testing.T, data []byte) string {
	in := bytes.Clone(data) // the reader rewrites what it reads
	r := resolver.NewReader(bytes.NewReader(in), "fuzz")
	var out bytes.Buffer
	var q event.DNSQuery
	lines := int64(bytes.Count(data, []byte("\n")) + 1)
	for range len(data) + 2 {
		err := r.Next(&q)
		if errors.Is(err, io.EOF) {
			return out.String()
		}
		var pe *resolver.ParseError
		if errors.As(err, &pe) {
			if pe.Line < 1 || pe.Line > lines {
				t.Fatalf("error on line %d of %d: %v", pe.Line, lines, err)
			}
			fmt.Fprintln(&out, "!", pe.Line, pe.Reason(), pe.Field)
			continue
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if len(q.Name) == 0 || q.T == 0 && !bytes.Contains(data, []byte("1970-01-01T00:00:00")) {
			t.Fatalf("line %d: query without a name or time: %+v", q.Origin.Line, q)
		}
		if q.Origin.Line < 1 || q.Origin.Line > lines || int(q.NumAnswers) > event.MaxAnswers {
			t.Fatalf("bad record: %+v", q)
		}
		fmt.Fprintln(&out, q.Origin.Line, q.T, string(q.Name), q.QType, q.RCode, q.Src, q.SrcPort, q.NumAnswers, q.MoreAnswers)
	}
	t.Fatal("more results than bytes")
	return ""
}
