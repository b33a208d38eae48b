package app

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"picket/internal/config"
)

const firehoseKey = "firehose-test-key"

func postDelivery(t *testing.T, url, id string, records ...[]byte) (int, map[string]any) {
	t.Helper()
	recs := make([]map[string]string, len(records))
	for i, r := range records {
		recs[i] = map[string]string{"data": base64.StdEncoding.EncodeToString(r)}
	}
	body, _ := json.Marshal(map[string]any{"requestId": id, "timestamp": time.Now().UnixMilli(), "records": recs})
	req, _ := http.NewRequest("POST", url+"/firehose", bytes.NewReader(body))
	req.Header.Set("X-Amz-Firehose-Request-Id", id)
	req.Header.Set("X-Amz-Firehose-Access-Key", firehoseKey)
	req.Header.Set("X-Amz-Firehose-Protocol-Version", "1.0")
	req.Header.Set("X-Amz-Firehose-Source-Arn", "arn:aws:firehose:us-east-1:"+testAccount+":deliverystream/flows")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("response %q: %v", b, err)
	}
	return resp.StatusCode, out
}

// flowLines returns the records of generated logs as headerless lines,
// as flow logs published to Firehose arrive.
func flowLines(t *testing.T, dir string) [][]byte {
	t.Helper()
	var out [][]byte
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, _ := os.Open(path)
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(zr)
		lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
		out = append(out, lines[1:]...) // without the header
		return nil
	})
	return out
}

// TestServeFirehose streams generated flow logs through the Firehose
// endpoint: every request is answered once committed, a retried request
// (same ID) is acknowledged without being counted again, also after a
// restart, and the findings are those the files give.
func TestServeFirehose(t *testing.T) {
	logs := t.TempDir()
	records := genLogs(t, logs, time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC), time.Hour, 1)
	lines := flowLines(t, logs)
	if len(lines) != records {
		t.Fatalf("%d lines, %d records", len(lines), records)
	}
	dataDir := t.TempDir()
	cfg := testConfig(dataDir)
	cfg.Ingest.CommitInterval = config.Duration(time.Hour) // commits come from the deliveries
	cfg.Sources.Firehose = &config.Firehose{Path: "/firehose", AccessKeys: []config.Secret{firehoseKey}, MaxBodyBytes: 8 << 20,
		AckTimeout: config.Duration(time.Minute), CommitDelay: config.Duration(50 * time.Millisecond)}
	s := startService(t, cfg)

	// Requests of 500 records (1,500 under the race detector), each record
	// four lines, and one
	// CloudWatch Logs subscription payload (gzip JSON) in the middle.
	per := 2000 // lines a request
	if raceEnabled {
		per = 6000 // fewer commits, each slow under the race detector
	}
	var requests [][][]byte
	for i := 0; i < len(lines); i += per {
		var recs [][]byte
		for j := i; j < min(i+per, len(lines)); j += 4 {
			recs = append(recs, bytes.Join(lines[j:min(j+4, len(lines), i+per)], []byte("\n")))
		}
		requests = append(requests, recs)
	}
	mid := len(requests) / 2
	var events []map[string]string
	for _, rec := range requests[mid] {
		for _, l := range bytes.Split(rec, []byte("\n")) {
			events = append(events, map[string]string{"id": "1", "message": string(l)})
		}
	}
	cwl, _ := json.Marshal(map[string]any{"messageType": "DATA_MESSAGE", "owner": testAccount, "logGroup": "flows", "logEvents": events})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(cwl)
	zw.Close()
	requests[mid] = [][]byte{gz.Bytes(), []byte(`{"messageType":"CONTROL_MESSAGE","logEvents":[{"message":"CWL CONTROL MESSAGE"}]}`)}

	for i, recs := range requests {
		id := "req-" + strings.Repeat("0", 3) + string(rune('a'+i%26)) + string(rune('a'+i/26))
		status, body := postDelivery(t, s.url(), id, recs...)
		if status != 200 || body["requestId"] != id {
			t.Fatalf("request %d: %d %v", i, status, body)
		}
	}
	m := scrape(t, s.url())
	if got := int(sum(m, "picket_records_ingested_total")); got != records {
		t.Errorf("ingested %d records, sent %d", got, records)
	}
	t.Logf("%d requests, %v commits taking %.3fs on average, state %v bytes", len(requests), m["picket_commit_duration_seconds_count"],
		m["picket_commit_duration_seconds_sum"]/m["picket_commit_duration_seconds_count"], m["picket_state_snapshot_bytes"])
	if m["picket_ingest_uncommitted"] != 0 {
		t.Error("acknowledged records are not committed")
	}
	// Firehose retries a request whose answer it did not get.
	if status, _ := postDelivery(t, s.url(), "req-000aa", requests[0]...); status != 200 {
		t.Errorf("retry: %d", status)
	}
	if got := int(sum(scrape(t, s.url()), "picket_records_ingested_total")); got != records {
		t.Errorf("a retried request was counted again: %d records", got)
	}
	viaFirehose := apiFindings(t, gdClient(t, s.url(), dataDir))
	s.stop()

	s = startService(t, cfg)
	if status, _ := postDelivery(t, s.url(), "req-000ba", requests[1]...); status != 200 {
		t.Errorf("retry after restart: %d", status)
	}
	if got := sum(scrape(t, s.url()), "picket_records_ingested_total"); got != 0 {
		t.Errorf("a request committed before the restart was counted again: %v records", got)
	}
	s.stop()

	// The same logs as files give the same findings.
	fromFiles := t.TempDir()
	s = startService(t, testConfig(fromFiles, logs))
	caughtUp(t, s.url(), 2*time.Minute)
	want := apiFindings(t, gdClient(t, s.url(), fromFiles))
	if len(want) == 0 {
		t.Fatal("no findings from the files")
	}
	if diff := diffFindings(want, viaFirehose); diff != "" {
		t.Errorf("findings via Firehose differ from those of the files:\n%s", diff)
	}
}

// TestServeS3 reads generated logs from an S3-compatible server
// (gofakes3) through the service's S3 source, and resumes after a
// restart with what arrived since.
func TestServeS3(t *testing.T) {
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	defer srv.Close()
	client := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("AKIAFAKE", "fake-secret", ""),
	})
	ctx := t.Context()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("logs")}); err != nil {
		t.Fatal(err)
	}
	put := func(dir string) int {
		n := 0
		filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(dir, path)
			f, _ := os.Open(path)
			defer f.Close()
			if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("logs"), Key: aws.String(filepath.ToSlash(rel)), Body: f}); err != nil {
				t.Fatal(err)
			}
			n++
			return nil
		})
		return n
	}
	first := t.TempDir()
	start := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	records := genLogs(t, first, start, time.Hour, 1)
	put(first)

	dataDir := t.TempDir()
	cfg := testConfig(dataDir)
	cfg.Sources.S3 = []config.S3{{
		Bucket: "logs", Prefix: "AWSLogs/" + testAccount + "/vpcflowlogs/us-east-1/", Region: "us-east-1",
		Endpoint: srv.URL, PathStyle: true, PollInterval: config.Duration(20 * time.Millisecond),
		AccessKeyID: "AKIAFAKE", SecretAccessKey: "fake-secret",
	}}
	s := startService(t, cfg)
	waitFor(t, 2*time.Minute, "the S3 objects to be read", func() bool {
		m := scrape(t, s.url())
		return sum(m, "picket_records_ingested_total") == float64(records) && sum(m, "picket_s3_caught_up") == 1
	})
	if n := sum(scrape(t, s.url()), `picket_inputs_total{source="s3"}`); n == 0 {
		t.Error("no S3 inputs counted")
	}
	s.stop()

	second := t.TempDir()
	more := genLogsSeed(t, second, start.Add(time.Hour), time.Hour, 1, 2) // S3 keys are never reused

	put(second)
	s = startService(t, cfg)
	waitFor(t, 2*time.Minute, "the new S3 objects to be read", func() bool {
		m := scrape(t, s.url())
		return sum(m, "picket_records_ingested_total") == float64(more) && sum(m, "picket_s3_caught_up") == 1
	})
	if f := apiFindings(t, gdClient(t, s.url(), dataDir)); len(f) < 4 {
		t.Errorf("%d findings from S3", len(f))
	}
}
