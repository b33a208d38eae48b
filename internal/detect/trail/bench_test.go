package trail_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"picket/internal/awsip"
	"picket/internal/decode/cloudtrail"
	"picket/internal/detect"
	"picket/internal/detect/all"
	"picket/internal/event"
	"picket/internal/finding"
	"picket/internal/synth"
)

// benchTrail is a generated week of a busy account: 40 IAM users at
// work (the AWS CLI, the console, boto3 scripts), 20 automation roles
// around the clock, 40 instances whose agents call every few minutes,
// with an attacker's enumeration, a logging change and stolen instance
// credentials laid over it; about 250,000 events in one S3 log file.
var benchTrail = sync.OnceValues(func() ([]byte, error) {
	cfg := synth.TrailConfig{Seed: 1, Days: 7, Start: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)}
	agents := []string{"aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.ubuntu.22", "AWS Internal",
		"Boto3/1.34.0 Python/3.12.1 Linux/6.5.0 Botocore/1.34.0", "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.488]"}
	for i := range 40 {
		cfg.Principals = append(cfg.Principals, synth.TrailPrincipal{
			Name: fmt.Sprintf("user%02d", i), Kind: "user", Hours: [2]int{7, 19}, Weekdays: true, PerDay: 250, ErrorRate: 0.02,
			From:  []netip.Addr{netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})},
			Agent: agents[i%len(agents)], APIs: synth.DiscoveryAPIs[i%40 : i%40+25],
		})
	}
	for i := range 20 {
		cfg.Principals = append(cfg.Principals, synth.TrailPrincipal{
			Name: fmt.Sprintf("automation%02d", i), Kind: "role", Session: fmt.Sprintf("run-%d", i), PerDay: 1500,
			From:  []netip.Addr{netip.AddrFrom4([4]byte{3, 80, byte(i), 5})},
			Agent: "aws-sdk-go-v2/1.24.0 os/linux lang/go#1.22", APIs: append([]string{"s3:PutObject", "dynamodb:PutItem", "sqs:SendMessage"}, synth.DiscoveryAPIs[i:i+8]...),
		})
	}
	for i := range 40 {
		cfg.Principals = append(cfg.Principals, synth.TrailPrincipal{
			Name: "app-instance-role", Kind: "instance", Session: fmt.Sprintf("i-0%015x", i), PerDay: 300,
			From:  []netip.Addr{netip.AddrFrom4([4]byte{3, 81, byte(i), 10})},
			Agent: "aws-sdk-go/1.44.0 (go1.20; linux; amd64) amazon-ssm-agent/3.2", APIs: []string{"ssm:UpdateInstanceInformation", "ssm:ListInstanceAssociations", "ec2messages:GetMessages", "s3:GetObject"},
		})
	}
	at := cfg.Start.Add(5*24*time.Hour + 3*time.Hour)
	cfg.Activities = []synth.TrailActivity{
		{Name: "recon", Who: "user03", At: at, Over: 8 * time.Minute, From: netip.MustParseAddr("203.0.113.66"), Agent: "Pacu/1.5.2", APIs: synth.DiscoveryAPIs, Calls: 300, Denied: 0.2},
		{Name: "stop", Who: "user03", At: at.Add(10 * time.Minute), From: netip.MustParseAddr("203.0.113.66"), APIs: []string{"cloudtrail:StopLogging"}, Params: `{"name":"org"}`},
		{Name: "steal", Who: "app-instance-role", At: at.Add(time.Hour), From: netip.MustParseAddr("203.0.113.67"), APIs: []string{"s3:ListBuckets"}, Calls: 5},
	}
	events, err := synth.GenerateTrail(cfg)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	err = synth.WriteTrail(&buf, events)
	return buf.Bytes(), err
})

// BenchmarkCloudTrail measures the CloudTrail detectors together with
// decoding, per core (run with -cpu 1): the Reader decodes the week's log
// file, the caller's AWS range is attached (a map lookup, as the cached
// enrichment does), and the engine runs every built-in detector. decode
// is the decoder alone, for comparison. events/cpu-s is per second of the
// process's CPU time, which a loaded machine does not distort.
func BenchmarkCloudTrail(b *testing.B) {
	data, err := benchTrail()
	if err != nil {
		b.Fatal(err)
	}
	ranges, err := awsip.Parse(strings.NewReader(`{"syncToken":"1","createDate":"2026-01-01-00-00-00","prefixes":[
		{"ip_prefix":"3.80.0.0/12","region":"us-east-1","service":"EC2","network_border_group":"us-east-1"}],"ipv6_prefixes":[]}`))
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"decode", "decode+detect"} {
		b.Run(name, func(b *testing.B) {
			r := cloudtrail.NewReader(bytes.NewReader(nil), "bench.json")
			var c event.APICall
			infos := map[netip.Addr]event.IPInfo{}
			events, findings := 0, 0
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for b.Loop() {
				var eng *detect.Engine
				if name != "decode" {
					stages, dets, err := all.Build(all.Options{Env: detect.Env{DetectorID: finding.DetectorID}})
					if err != nil {
						b.Fatal(err)
					}
					eng, err = detect.NewEngine(stages, dets, detect.DefaultConfig, func(*finding.Finding) { findings++ })
					if err != nil {
						b.Fatal(err)
					}
				}
				r.Reset(bytes.NewReader(data), "bench.json")
				for {
					err := r.Next(&c)
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					events++
					if eng == nil {
						continue
					}
					info, ok := infos[c.SourceIP]
					if !ok {
						info.AWS = event.TriOf(ranges.Contains(c.SourceIP))
						infos[c.SourceIP] = info
					}
					c.SourceInfo = info
					eng.Observe(&c)
				}
				if eng != nil {
					eng.Flush()
				}
			}
			if cpu := (cpuTime() - cpu0).Seconds(); cpu > 0 {
				b.ReportMetric(float64(events)/cpu, "events/cpu-s")
				b.ReportMetric(float64(len(data))*float64(b.N)/cpu/1e6, "MB/cpu-s")
			}
			b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(events)/float64(b.N), "events/op")
			b.ReportMetric(float64(findings)/float64(b.N), "findings/op")
		})
	}
}

// TestDetectorAllocs holds the CloudTrail detectors to an allocation
// budget once their tables are warm: the last fifth of the benchmark's
// week (tens of thousands of calls, the attack included) may allocate at
// most 0.2 times per call, findings and new hourly windows included.
func TestDetectorAllocs(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("a week of calls; allocations are not counted under the race detector")
	}
	data, err := benchTrail()
	if err != nil {
		t.Fatal(err)
	}
	calls := decodeAll(t, []input{{"bench.json", data}})
	stages, dets, err := all.Build(all.Options{Env: detect.Env{DetectorID: finding.DetectorID}})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := detect.NewEngine(stages, dets, detect.DefaultConfig, func(*finding.Finding) {})
	if err != nil {
		t.Fatal(err)
	}
	warm := len(calls) * 4 / 5
	for _, c := range calls[:warm] {
		eng.Observe(c)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, c := range calls[warm:] {
		eng.Observe(c)
	}
	eng.Flush()
	runtime.ReadMemStats(&after)
	per := float64(after.Mallocs-before.Mallocs) / float64(len(calls)-warm)
	t.Logf("%.3f allocations per call over %d calls", per, len(calls)-warm)
	if per > 0.2 {
		t.Errorf("%.3f allocations per call, budget 0.2", per)
	}
}
