package app

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"

	"picket/internal/synth"
)

// TestEveryFormatAnalyzeAndServe reads the same input, one format at a
// time, with picket analyze and through a watched directory of picket
// serve, and checks that both report the same findings: every format
// takes one path from file to finding in both modes.
func TestEveryFormatAnalyzeAndServe(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a service per format")
	}
	tests := []struct {
		name  string
		write func(t *testing.T, dir string)
	}{
		{"vpc-flow-logs v2 text", func(t *testing.T, dir string) { writeFlows(t, dir, 2, false, false) }},
		{"vpc-flow-logs v5 gzip", func(t *testing.T, dir string) { writeFlows(t, dir, 5, true, false) }},
		{"vpc-flow-logs parquet", func(t *testing.T, dir string) { writeFlows(t, dir, 5, false, true) }},
		{"vpc-flow-logs cloudwatch payloads", writeLogEvents},
		{"pcap", func(t *testing.T, dir string) { copyCapture(t, dir, false) }},
		{"pcapng", func(t *testing.T, dir string) { copyCapture(t, dir, true) }},
		{"zeek conn.log tsv", func(t *testing.T, dir string) { writeZeek(t, dir, false) }},
		{"zeek conn.log json", func(t *testing.T, dir string) { writeZeek(t, dir, true) }},
		{"cloudtrail", writeTrail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			staging, later := t.TempDir(), t.TempDir()
			tt.write(t, staging)
			// A service, unlike analyze, cannot know that an input is the
			// last: it decides what is over as event time passes. One
			// record of another interface months later lets every window
			// close, in both modes.
			tick := filepath.Join(later, "tick.log")
			if err := os.WriteFile(tick, []byte("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"+
				"2 "+testAccount+" eni-0f0f0f0f0f0f0f0f0 10.9.9.9 10.9.9.10 40000 443 6 10 4000 1811808000 1811808060 ACCEPT OK\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			fs, as, err := Analyze(context.Background(), AnalyzeOptions{Paths: []string{staging, tick}, Account: testAccount})
			if err != nil {
				t.Fatal(err)
			}
			if len(as.InputErrors) > 0 || as.SkippedTotal() > 0 {
				t.Fatalf("analyze: input errors %v, skipped %v", as.InputErrors, as.Skipped)
			}
			want := map[string]summary{}
			for _, f := range fs {
				want[f.ID] = summary{
					Type: f.Type, Count: f.Service.Count,
					First: f.Service.EventFirstSeen.UTC().Format(time.RFC3339), Last: f.Service.EventLastSeen.UTC().Format(time.RFC3339),
					Severity: float64(f.Severity),
				}
			}
			if len(want) == 0 {
				t.Fatalf("analyze found nothing in %v: the comparison would prove nothing", as.Formats)
			}

			dataDir, watch := t.TempDir(), t.TempDir()
			s := startService(t, testConfig(dataDir, watch))
			moveInto(t, staging, watch)
			caughtUp(t, s.url(), 2*time.Minute)
			moveInto(t, later, watch)
			// Every record analyze read, read and committed: what fails
			// here is a record serve did not read.
			waitFor(t, 2*time.Minute, fmt.Sprintf("serve to read the %d records analyze read", as.Records), func() bool {
				m := scrape(t, s.url())
				return sum(m, "picket_records_ingested_total") == float64(as.Records) &&
					sum(m, "picket_watch_pending_files") == 0 && m["picket_ingest_uncommitted"] == 0
			})
			if err := s.stop(); err != nil {
				t.Fatal(err)
			}
			got := storedFindings(t, dataDir)
			for id, g := range got {
				g.UpdatedAt = ""
				got[id] = g
			}
			if diff := diffFindings(want, got); diff != "" {
				t.Errorf("serve and analyze disagree on %d findings of analyze:\n%s", len(want), diff)
			}
		})
	}
}

// writeFlows writes generated flow logs with attacks in the given version
// into dir: one text file, gzip or not, or Parquet objects in the S3
// layout.
func writeFlows(t *testing.T, dir string, version int, gz, parquet bool) {
	t.Helper()
	g, cfg := flowGenerator(t)
	format, err := synth.FormatFor(version)
	if err != nil {
		t.Fatal(err)
	}
	w := &synth.Writer{Format: format, Header: true, Account: cfg.Account, Region: cfg.Region, Seed: cfg.Seed}
	var f *os.File
	switch {
	case parquet:
		w.Layout, w.Parquet, w.Dir = synth.LayoutS3, true, dir
	default:
		name := "flows.log"
		if gz {
			name += ".gz"
		}
		f, err = os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if gz {
			zw := gzip.NewWriter(f)
			defer zw.Close()
			w.Out = zw
		} else {
			w.Out = f
		}
	}
	g.Run(func(r synth.Record) { w.Add(r) })
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// flowGenerator returns a generator of half an hour of an estate's
// traffic with a port scan, a port sweep and an SSH brute force in it.
func flowGenerator(t *testing.T) (*synth.Gen, synth.Config) {
	t.Helper()
	cfg := synth.DefaultConfig
	cfg.Start, cfg.Duration, cfg.Load = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC), 30*time.Minute, 0.5
	g := attackGen(t, cfg,
		"scan from=internet target=bastion:0 ports=top:100 timing=T4 at=5m",
		"sweep from=worker:0 port=22 hosts=200 network=vpc timing=T4 at=10m",
		"bruteforce from=internet target=bastion:0 port=22 attempts=80 interval=3s at=15m",
	)
	return g, cfg
}

// writeLogEvents writes the generated flow log lines as CloudWatch Logs
// subscription payloads, gzip, a thousand events each, as a log group's
// subscription hands them to Firehose.
func writeLogEvents(t *testing.T, dir string) {
	t.Helper()
	g, cfg := flowGenerator(t)
	format, _ := synth.FormatFor(2)
	var text bytes.Buffer
	w := &synth.Writer{Format: format, Out: &text, Account: cfg.Account, Region: cfg.Region}
	g.Run(func(r synth.Record) { w.Add(r) })
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(text.String()), "\n")
	type logEvent struct {
		ID        string `json:"id"`
		Timestamp int64  `json:"timestamp"`
		Message   string `json:"message"`
	}
	for i := 0; i < len(lines); i += 1000 {
		payload := struct {
			MessageType string     `json:"messageType"`
			Owner       string     `json:"owner"`
			LogGroup    string     `json:"logGroup"`
			LogStream   string     `json:"logStream"`
			LogEvents   []logEvent `json:"logEvents"`
		}{MessageType: "DATA_MESSAGE", Owner: cfg.Account, LogGroup: "flow-logs", LogStream: "eni-all"}
		for j, l := range lines[i:min(i+1000, len(lines))] {
			payload.LogEvents = append(payload.LogEvents, logEvent{ID: fmt.Sprint(i + j), Timestamp: cfg.Start.UnixMilli(), Message: l})
		}
		b, _ := json.Marshal(payload)
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(b)
		zw.Close()
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("payload-%05d.gz", i/1000)), z.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// captureScenario is a capture of the lab: nmap's SYN scan of an
// instance from inside the VPC.
const captureScenario = "../scenario/testdata/lab/nmap-syn-ci/eni-0a00000000000010f.pcap.gz"

// copyCapture copies the lab capture into dir, as it is (pcap, gzip) or
// rewritten as pcapng.
func copyCapture(t *testing.T, dir string, ng bool) {
	t.Helper()
	b, err := os.ReadFile(captureScenario)
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(dir, filepath.Base(captureScenario))
	if !ng {
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewReader(zr)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(strings.TrimSuffix(name, ".pcap.gz") + ".pcapng")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	w, err := pcapgo.NewNgWriterInterface(out, pcapgo.NgInterface{Name: "eni-0a00000000000010f", LinkType: r.LinkType(), SnapLength: r.Snaplen()}, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		t.Fatal(err)
	}
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

// writeZeek writes a Zeek conn.log of a scanner from the internet trying
// 150 ports of an instance, all refused, with a few ordinary connections
// around it, as tab-separated values or JSON lines.
func writeZeek(t *testing.T, dir string, asJSON bool) {
	t.Helper()
	start := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	type conn struct {
		ts           float64
		orig, resp   string
		sport, dport int
		state        string
		history      string
		origPkts     int
		respPkts     int
	}
	var conns []conn
	for i := range 150 {
		conns = append(conns, conn{float64(start.Unix()) + float64(i)*0.2, "203.0.113.77", "10.0.1.20", 40000 + i, 1 + i*7, "REJ", "Sr", 1, 1})
	}
	for i := range 10 {
		conns = append(conns, conn{float64(start.Unix()) + float64(i)*3, "10.0.1.20", "10.0.2.30", 50000 + i, 5432, "SF", "ShADadFf", 8, 7})
	}
	var b strings.Builder
	if !asJSON {
		b.WriteString("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#open\t2026-03-04-10-00-00\n")
		b.WriteString("#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\n")
		b.WriteString("#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]\n")
	}
	for i, c := range conns {
		if asJSON {
			fmt.Fprintf(&b, `{"ts":%.6f,"uid":"C%d","id.orig_h":%q,"id.orig_p":%d,"id.resp_h":%q,"id.resp_p":%d,"proto":"tcp","duration":0.01,"orig_bytes":0,"resp_bytes":0,"conn_state":%q,"missed_bytes":0,"history":%q,"orig_pkts":%d,"orig_ip_bytes":%d,"resp_pkts":%d,"resp_ip_bytes":%d}`+"\n",
				c.ts, i, c.orig, c.sport, c.resp, c.dport, c.state, c.history, c.origPkts, 40*c.origPkts, c.respPkts, 40*c.respPkts)
			continue
		}
		fmt.Fprintf(&b, "%.6f\tC%d\t%s\t%d\t%s\t%d\ttcp\t-\t0.010000\t0\t0\t%s\t-\t-\t0\t%s\t%d\t%d\t%d\t%d\t-\n",
			c.ts, i, c.orig, c.sport, c.resp, c.dport, c.state, c.history, c.origPkts, 40*c.origPkts, c.respPkts, 40*c.respPkts)
	}
	if !asJSON {
		b.WriteString("#close\t2026-03-04-11-00-00\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "conn.log"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeTrail writes a CloudTrail log file in S3's {"Records":[...]} form
// with API calls from Kali Linux among ordinary ones.
func writeTrail(t *testing.T, dir string) {
	t.Helper()
	start := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	var recs []map[string]any
	for i := range 12 {
		ua := "aws-cli/2.15.0 Python/3.11.6 Linux/6.1.0 exe/x86_64.debian.12"
		if i%3 == 0 {
			ua = "aws-cli/2.15.0 Python/3.11.6 Linux/6.6.9-amd64 exe/x86_64.kali.2024"
		}
		recs = append(recs, map[string]any{
			"eventVersion": "1.09",
			"userIdentity": map[string]any{"type": "IAMUser", "principalId": "AIDAEXAMPLEOPS000001", "arn": "arn:aws:iam::" + testAccount + ":user/ops",
				"accountId": testAccount, "accessKeyId": "AKIAEXAMPLEOPS000001", "userName": "ops"},
			"eventTime": start.Add(time.Duration(i) * time.Minute).Format(time.RFC3339), "eventSource": "ec2.amazonaws.com",
			"eventName": "DescribeInstances", "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.23", "userAgent": ua,
			"requestID": fmt.Sprintf("req-%d", i), "eventID": fmt.Sprintf("evt-%d", i), "readOnly": true, "eventType": "AwsApiCall",
			"managementEvent": true, "recipientAccountId": testAccount, "eventCategory": "Management",
		})
	}
	b, _ := json.Marshal(map[string]any{"Records": recs})
	if err := os.WriteFile(filepath.Join(dir, "trail.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}
