package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"picket/internal/export"
)

// TestAnalyzeWorkersAgree analyzes one corpus with every input kind
// (flow log text, gzip, a Zeek conn.log, CloudTrail located by a GeoIP
// database, a bad record, a missing path) on one goroutine and with the
// reading on its own: the findings, byte for byte, and the summaries
// are the same, as is the error and summary of a strict analysis.
func TestAnalyzeWorkersAgree(t *testing.T) {
	dir := t.TempDir()
	sub := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	text, gz, zeek, trail := sub("text"), sub("gzip"), sub("zeek"), sub("trail")
	writeFlows(t, text, 2, false, false)
	writeFlows(t, gz, 5, true, false) // the same records as text: ties in time
	writeZeek(t, zeek, false)
	writeTrail(t, trail)
	var calls strings.Builder
	start := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	for i := range 20 {
		fmt.Fprintf(&calls, `{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLEDEV000001","arn":"arn:aws:iam::%[1]s:user/dev",`+
			`"accountId":"%[1]s","accessKeyId":"AKIAEXAMPLEDEV000001","userName":"dev"},"eventTime":%[2]q,"eventSource":"iam.amazonaws.com",`+
			`"eventName":"ListUsers","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.%[3]d","userAgent":"aws-cli/2.15.0 Python/3.11.6 Linux/6.6.9-amd64 exe/x86_64.kali.2024",`+
			`"requestID":"req-dev-%[3]d","eventID":"evt-dev-%[3]d","readOnly":true,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":%[1]q,"eventCategory":"Management"}`+"\n",
			testAccount, start.Add(time.Duration(i)*90*time.Second).Format(time.RFC3339), i%4)
	}
	writeFile(t, filepath.Join(trail, "lake.jsonl"), []byte(calls.String()), false)
	bad := filepath.Join(dir, "bad.log")
	writeFile(t, bad, []byte("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"+
		"2 "+testAccount+" eni-0bad 198.51.100.9 10.0.0.5 40000 22 6 1 40 1772618400 1772618460 REJECT OK\n"+
		"2 "+testAccount+" eni-0bad 198.51.100.9 10.0.0.5 40001 99999 6 1 40 1772618460 1772618520 REJECT OK\n"+
		"2 "+testAccount+" eni-0bad 198.51.100.9 10.0.0.5 40002 23 6 1 40 1772618520 1772618580 REJECT OK\n"), false)
	ranges := filepath.Join(dir, "ip-ranges.json")
	writeFile(t, ranges, []byte(`{"prefixes":[{"ip_prefix":"203.0.113.0/26","region":"eu-central-1","service":"EC2"}]}`), false)
	base := AnalyzeOptions{
		Paths:   []string{text, gz, zeek, trail, bad, filepath.Join(dir, "missing.log")},
		Account: testAccount, GeoIPCity: testCityDB(t), AWSIPRanges: ranges,
	}

	run := func(t *testing.T, opt AnalyzeOptions) (string, string, string) {
		t.Helper()
		fs, sum, err := Analyze(context.Background(), opt)
		var out bytes.Buffer
		if err == nil {
			if err := export.Write(&out, export.JSON, fs); err != nil {
				t.Fatal(err)
			}
		}
		if sum != nil {
			sum.Elapsed = 0
		}
		s, jerr := json.MarshalIndent(sum, "", "  ")
		if jerr != nil {
			t.Fatal(jerr)
		}
		return out.String(), string(s), fmt.Sprint(err)
	}
	for _, tt := range []struct {
		name string
		opt  func(*AnalyzeOptions)
	}{
		{"merged", func(*AnalyzeOptions) {}},
		{"one input at a time", func(o *AnalyzeOptions) { o.MaxOpen = 1 }},
		{"strict", func(o *AnalyzeOptions) { o.Strict = true }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opt := base
			tt.opt(&opt)
			opt.Workers = 1
			wantOut, wantSum, wantErr := run(t, opt)
			if opt.Strict {
				if !strings.Contains(wantErr, "strict") {
					t.Fatalf("strict analysis returned %s", wantErr)
				}
			} else if !strings.Contains(wantOut, "KaliLinux") || !strings.Contains(wantOut, `"Germany"`) ||
				!strings.Contains(wantSum, `"range": 1`) || !strings.Contains(wantSum, "missing.log") {
				t.Fatalf("the corpus should give a located Kali Linux finding, a bad record and an input error:\n%s", wantSum)
			}
			for _, workers := range []int{2, 3} {
				opt.Workers = workers
				out, sum, err := run(t, opt)
				if err != wantErr {
					t.Errorf("workers %d: error %s, want %s", workers, err, wantErr)
				}
				if diff := cmp.Diff(wantSum, sum); diff != "" {
					t.Errorf("workers %d: summary differs (-1 worker +%d):\n%s", workers, workers, diff)
				}
				if out != wantOut {
					t.Errorf("workers %d: findings differ (-1 worker +%d):\n%s", workers, workers, cmp.Diff(wantOut, out))
				}
			}
		})
	}
}
