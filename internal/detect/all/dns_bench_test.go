//go:build unix

package all

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"syscall"
	"testing"
	"time"

	"picket/internal/decode/resolver"
	"picket/internal/detect"
	"picket/internal/event"
	"picket/internal/finding"
)

// resolverLog returns n Route 53 Resolver query log lines of a busy VPC:
// 200 instances over an hour, names of services, of the estate, of
// reverse lookups and a few under a listed domain, one instance running
// a DNS tunnel.
func resolverLog(n int) []byte {
	var b []byte
	names := []string{"api.example.com.", "s3.us-east-1.amazonaws.com.", "ec2.us-east-1.amazonaws.com.",
		"www.example.org.", "10.1.0.10.in-addr.arpa.", "c2.evil.example."}
	types := []string{"A", "AAAA", "A", "TXT", "PTR", "A"}
	for i := range n {
		sec := i * 3600 / n
		b = append(b, `{"version":"1.100000","account_id":"111122223333","region":"us-east-1","vpc_id":"vpc-0a1b2c3d4e5f60718","query_timestamp":"2026-03-02T10:`...)
		b = append(b, byte('0'+sec/600), byte('0'+sec/60%10), ':', byte('0'+sec%60/10), byte('0'+sec%10))
		b = append(b, `Z","query_name":"`...)
		switch {
		case i%50 == 7:
			b = append(b, tunnelLabel(i)...)
			b = append(b, ".t.tunnel.example."...)
		case i%7 == 3:
			b = append(b, "host-"...)
			b = strconv.AppendInt(b, int64(i%500), 10)
			b = append(b, ".corp.example.net."...)
		default:
			b = append(b, names[i%len(names)]...)
		}
		b = append(b, `","query_type":"`...)
		b = append(b, types[i%len(types)]...)
		b = append(b, `","query_class":"IN","rcode":"NOERROR","answers":[{"Rdata":"198.51.100.`...)
		b = strconv.AppendInt(b, int64(i%250), 10)
		b = append(b, `","Type":"A","Class":"IN"}],"srcaddr":"10.0.`...)
		b = strconv.AppendInt(b, int64(i%200/100), 10)
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(10+i%100), 10)
		b = append(b, `","srcport":"5`...)
		b = strconv.AppendInt(b, int64(1000+i%9000), 10)
		b = append(b, `","transport":"UDP","srcids":{"instance":"i-0`...)
		b = strconv.AppendInt(b, int64(100000000000000+i%200), 10)
		b = append(b, "\"}}\n"...)
	}
	return b
}

// BenchmarkDNS measures decoding Route 53 Resolver query logs together
// with every built-in detector, per core (run with -cpu 1): the engine
// dispatches each query to the DNS detectors, which hold the threat list
// of the conformance tests. queries/cpu-s is per second of the process's
// CPU time, which a loaded machine does not distort.
//
//	go test -run '^$' -bench BenchmarkDNS -benchtime 5x -cpu 1 ./internal/detect/all
func BenchmarkDNS(b *testing.B) {
	data := resolverLog(200_000)
	for _, name := range []string{"decode", "decode+detect"} {
		b.Run(name, func(b *testing.B) {
			br := bytes.NewReader(data)
			r := resolver.NewReader(br, "bench.log")
			var q event.DNSQuery
			queries, findings := 0, 0
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			cpu0 := processCPU()
			for b.Loop() {
				var eng *detect.Engine
				if name != "decode" {
					stages, dets, err := Build(Options{Env: detect.Env{DetectorID: finding.DetectorID, Intel: conformanceIntel}})
					if err != nil {
						b.Fatal(err)
					}
					if eng, err = detect.NewEngine(stages, dets, detect.DefaultConfig, func(*finding.Finding) { findings++ }); err != nil {
						b.Fatal(err)
					}
				}
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
					queries++
					if eng != nil {
						eng.Observe(&q)
					}
				}
				if eng != nil {
					eng.Flush()
				}
			}
			if cpu := (processCPU() - cpu0).Seconds(); cpu > 0 {
				b.ReportMetric(float64(queries)/cpu, "queries/cpu-s")
			}
			b.ReportMetric(float64(findings)/float64(b.N), "findings/op")
		})
	}
}

// processCPU returns the CPU time of the process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
