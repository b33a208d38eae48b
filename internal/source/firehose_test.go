package source

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type firehoseResult struct {
	status int
	body   map[string]any
	header http.Header
}

func postFirehose(t *testing.T, h http.Handler, method string, headers map[string]string, body io.Reader) firehoseResult {
	t.Helper()
	req := httptest.NewRequest(method, "/firehose", body)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("response body %q is not JSON: %v", rec.Body.String(), err)
	}
	return firehoseResult{rec.Code, out, rec.Header()}
}

func deliveryBody(id string, records ...string) string {
	recs := make([]map[string]string, len(records))
	for i, r := range records {
		recs[i] = map[string]string{"data": base64.StdEncoding.EncodeToString([]byte(r))}
	}
	b, _ := json.Marshal(map[string]any{"requestId": id, "timestamp": 1700000000000, "records": recs})
	return string(b)
}

func TestFirehoseProtocol(t *testing.T) {
	const key = "shared-secret-key"
	now := time.UnixMilli(1772618400123)
	var got []*Delivery
	deliverErr := error(nil)
	fh := NewFirehose(FirehoseConfig{
		AccessKeys: []string{"other-key-00", key}, MaxBodyBytes: 4096, Defaults: Defaults{Account: "000000000000", Region: "us-east-1"},
		Now: func() time.Time { return now },
		Deliver: func(ctx context.Context, d *Delivery) error {
			if deliverErr != nil {
				return deliverErr
			}
			got = append(got, d)
			return nil
		},
	})
	ok := map[string]string{
		"X-Amz-Firehose-Request-Id": "req-1", "X-Amz-Firehose-Access-Key": key, "Content-Type": "application/json",
		"X-Amz-Firehose-Source-Arn": "arn:aws:firehose:eu-west-1:123456789012:deliverystream/flows",
	}
	with := func(k, v string) map[string]string {
		h := map[string]string{}
		for a, b := range ok {
			h[a] = b
		}
		if v == "" {
			delete(h, k)
		} else {
			h[k] = v
		}
		return h
	}
	var gz bytes.Buffer
	gz.WriteString(gzipped(deliveryBody("req-1", "line 3\n")))

	tests := []struct {
		name    string
		method  string
		headers map[string]string
		body    string
		status  int
		errMsg  string // substring of errorMessage; "" for success
	}{
		{"success", "POST", ok, deliveryBody("req-1", "2 123456789012 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 1 2 ACCEPT OK", "line 2\n"), 200, ""},
		{"gzip body", "POST", with("Content-Encoding", "gzip"), gz.String(), 200, ""},
		{"no records", "POST", ok, `{"requestId":"req-1","timestamp":1,"records":[]}`, 200, ""},
		{"wrong access key", "POST", with("X-Amz-Firehose-Access-Key", "guess"), deliveryBody("req-1"), 401, "invalid access key"},
		{"missing access key", "POST", with("X-Amz-Firehose-Access-Key", ""), deliveryBody("req-1"), 401, "invalid access key"},
		{"not JSON", "POST", ok, "this is not json", 400, "not a Firehose delivery request"},
		{"JSON of the wrong shape", "POST", ok, `{"requestId":"req-1","records":"all of them"}`, 400, "not a Firehose delivery request"},
		{"trailing data", "POST", ok, deliveryBody("req-1", "x") + "{}", 400, "data after the JSON object"},
		{"no records member", "POST", ok, `{"requestId":"req-1","timestamp":1}`, 400, "no records"},
		{"record without data", "POST", ok, `{"requestId":"req-1","timestamp":1,"records":[{}]}`, 400, "record 1 has no data"},
		{"bad base64", "POST", ok, `{"requestId":"req-1","timestamp":1,"records":[{"data":"%%%"}]}`, 400, "record 1: data is not base64"},
		{"request IDs differ", "POST", ok, deliveryBody("req-2", "x"), 400, `requestId "req-2" differs`},
		{"oversized body", "POST", ok, deliveryBody("req-1", strings.Repeat("x", 5000)), 413, "over the limit"},
		{"oversized gzip body", "POST", with("Content-Encoding", "gzip"), gzipped(deliveryBody("req-1", strings.Repeat("x", 5000))), 413, "over the limit"},
		{"unknown encoding", "POST", with("Content-Encoding", "br"), "x", 415, "unsupported Content-Encoding"},
		{"GET", "GET", ok, "", 405, "only POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			res := postFirehose(t, fh, tt.method, tt.headers, strings.NewReader(tt.body))
			if res.status != tt.status {
				t.Errorf("status %d, want %d (%v)", res.status, tt.status, res.body)
			}
			if res.body["requestId"] != "req-1" || res.body["timestamp"] != float64(now.UnixMilli()) {
				t.Errorf("response %v: want the request ID echoed and the time in milliseconds", res.body)
			}
			if ct := res.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			msg, hasMsg := res.body["errorMessage"].(string)
			switch {
			case tt.errMsg == "" && hasMsg:
				t.Errorf("errorMessage %q on success", msg)
			case tt.errMsg != "" && !strings.Contains(msg, tt.errMsg):
				t.Errorf("errorMessage %q, want it to say %q", msg, tt.errMsg)
			}
			if tt.status != 200 && len(got) > 0 {
				t.Errorf("a refused request was delivered")
			}
		})
	}

	// The delivery carries the decoded records and the stream's account
	// and region.
	got = nil
	postFirehose(t, fh, "POST", ok, strings.NewReader(deliveryBody("req-1", "first", "second\n")))
	if len(got) != 1 {
		t.Fatalf("%d deliveries", len(got))
	}
	d := got[0]
	want := &Delivery{RequestID: "req-1", SourceARN: ok["X-Amz-Firehose-Source-Arn"], Records: [][]byte{[]byte("first"), []byte("second\n")},
		Defaults: Defaults{Account: "123456789012", Region: "eu-west-1"}}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("delivery (-want +got):\n%s", diff)
	}
	if d.Name(1) != "firehose:req-1#2" {
		t.Errorf("record name %q", d.Name(1))
	}

	// A request ID only in the body is used; one nowhere is refused.
	res := postFirehose(t, fh, "POST", with("X-Amz-Firehose-Request-Id", ""), strings.NewReader(deliveryBody("body-id", "x")))
	if res.status != 200 || res.body["requestId"] != "body-id" {
		t.Errorf("body request ID: %d %v", res.status, res.body)
	}
	res = postFirehose(t, fh, "POST", with("X-Amz-Firehose-Request-Id", ""), strings.NewReader(deliveryBody("", "x")))
	if res.status != 400 {
		t.Errorf("no request ID: %d %v", res.status, res.body)
	}

	// Failures to commit map to statuses Firehose retries.
	for err, status := range map[error]int{
		errors.New("disk full"):  500,
		ErrShuttingDown:          503,
		context.DeadlineExceeded: 503,
	} {
		deliverErr = err
		res := postFirehose(t, fh, "POST", ok, strings.NewReader(deliveryBody("req-1", "x")))
		if res.status != status || res.body["errorMessage"] == "" {
			t.Errorf("deliver error %v: %d %v, want %d", err, res.status, res.body, status)
		}
	}
	deliverErr = nil
	fh.Close()
	if res := postFirehose(t, fh, "POST", ok, strings.NewReader(deliveryBody("req-1", "x"))); res.status != 503 {
		t.Errorf("after Close: %d", res.status)
	}
}

// TestFirehoseRequestIDs checks the deduplication that makes retries
// safe: processed IDs become committed with the next checkpoint, which a
// restart restores.
func TestFirehoseRequestIDs(t *testing.T) {
	now := time.Unix(1772618400, 0)
	fh := NewFirehose(FirehoseConfig{Now: func() time.Time { return now }})
	if fh.Seen("a") || len(fh.Checkpoints()) != 0 {
		t.Fatal("a new endpoint has seen requests")
	}
	fh.Processed("a")
	if !fh.Seen("a") || fh.Committed("a") {
		t.Errorf("processed: seen %v committed %v", fh.Seen("a"), fh.Committed("a"))
	}
	cps := fh.Checkpoints()
	if len(cps) != 1 || cps[0].Name != "firehose" || !fh.Committed("a") {
		t.Fatalf("checkpoints %v", cps)
	}
	if len(fh.Checkpoints()) != 0 {
		t.Error("an unchanged endpoint checkpointed again")
	}
	restarted := NewFirehose(FirehoseConfig{Now: func() time.Time { return now.Add(time.Hour) }})
	if err := restarted.Restore(cps); err != nil {
		t.Fatal(err)
	}
	if !restarted.Seen("a") || restarted.Seen("b") {
		t.Error("restored IDs wrong")
	}
	// IDs older than Firehose's longest retry duration are forgotten.
	later := NewFirehose(FirehoseConfig{Now: func() time.Time { return now.Add(3 * time.Hour) }})
	later.Restore(cps)
	later.Processed("b")
	var c firehoseCheckpoint
	json.Unmarshal(later.Checkpoints()[0].Data, &c)
	if len(c.Committed) != 1 || c.Committed[0].ID != "b" {
		t.Errorf("kept %v", c.Committed)
	}
}
