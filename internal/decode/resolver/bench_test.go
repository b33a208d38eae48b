package resolver_test

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"testing"

	"picket/internal/decode/resolver"
	"picket/internal/event"
)

// generate returns n query log lines as an estate's instances write
// them: a few accounts, VPCs and instances, names of several lengths,
// A, AAAA, TXT and PTR queries, some NXDOMAIN, one or two answers, now
// and then a DNS Firewall match.
func generate(n int) []byte {
	var b []byte
	types := []string{"A", "AAAA", "A", "TXT", "PTR", "A"}
	for i := range n {
		b = append(b, `{"version":"1.100000","account_id":"11112222333`...)
		b = strconv.AppendInt(b, int64(i%3), 10)
		b = append(b, `","region":"us-east-1","vpc_id":"vpc-0a1b2c3d4e5f6a7b`...)
		b = strconv.AppendInt(b, int64(i%4), 10)
		b = append(b, `","query_timestamp":"2026-03-02T10:`...)
		b = append(b, byte('0'+i/600%6), byte('0'+i/60%10), ':', byte('0'+i/10%6), byte('0'+i%10))
		b = append(b, `Z","query_name":"`...)
		switch i % 4 {
		case 0:
			b = append(b, "api.example.com."...)
		case 1:
			b = append(b, "s3.us-east-1.amazonaws.com."...)
		case 2:
			b = append(b, "host-"...)
			b = strconv.AppendInt(b, int64(i%1000), 10)
			b = append(b, ".internal.example.org."...)
		default:
			b = append(b, "a1b2c3d4e5f6.tunnel.example.net."...)
		}
		b = append(b, `","query_type":"`...)
		b = append(b, types[i%len(types)]...)
		b = append(b, `","query_class":"IN","rcode":"`...)
		if i%7 == 0 {
			b = append(b, `NXDOMAIN","answers":[]`...)
		} else {
			b = append(b, `NOERROR","answers":[{"Rdata":"192.0.2.`...)
			b = strconv.AppendInt(b, int64(i%250), 10)
			b = append(b, `","Type":"A","Class":"IN"}`...)
			if i%3 == 0 {
				b = append(b, `,{"Rdata":"cdn.example.com.","Type":"CNAME","Class":"IN"}`...)
			}
			b = append(b, ']')
		}
		b = append(b, `,"srcaddr":"10.0.`...)
		b = strconv.AppendInt(b, int64(i%16), 10)
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(i%200+1), 10)
		b = append(b, `","srcport":"`...)
		b = strconv.AppendInt(b, int64(32768+i%20000), 10)
		b = append(b, `","transport":"UDP","srcids":{"instance":"i-0abc1234def5678`...)
		b = strconv.AppendInt(b, int64(10+i%50), 10)
		b = append(b, `"}`...)
		if i%100 == 0 {
			b = append(b, `,"firewall_rule_action":"ALERT","firewall_rule_group_id":"rslvr-frg-0123456789abcdef0","firewall_domain_list_id":"rslvr-fdl-0123456789abcdef0"`...)
		}
		b = append(b, "}\n"...)
	}
	return b
}

// TestAllocs checks that reading queries allocates nothing once the
// reader's buffer and intern cache are warm.
func TestAllocs(t *testing.T) {
	data := generate(500)
	br := bytes.NewReader(data)
	r := resolver.NewReader(br, "allocs.log")
	var q event.DNSQuery
	n := 0
	run := func() {
		br.Reset(data)
		r.Reset(br, "allocs.log")
		for {
			err := r.Next(&q)
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	run() // intern the log's IDs
	if n != 500 {
		t.Fatalf("%d queries, want 500", n)
	}
	if a := testing.AllocsPerRun(20, run); a != 0 {
		t.Errorf("%v allocations per 500 queries, want 0", a)
	}
}

// BenchmarkReader measures decoding: its bytes per second, and queries
// per second as a metric.
//
//	go test -run '^$' -bench BenchmarkReader -count 6 ./internal/decode/resolver
func BenchmarkReader(b *testing.B) {
	const lines = 10000
	data := generate(lines)
	br := bytes.NewReader(data)
	r := resolver.NewReader(br, "bench.log")
	var q event.DNSQuery
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	n := 0
	for b.Loop() {
		br.Reset(data)
		r.Reset(br, "bench.log")
		for {
			err := r.Next(&q)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "queries/s")
}
