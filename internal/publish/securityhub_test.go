package publish_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/google/go-cmp/cmp"

	"picket/internal/finding"
	"picket/internal/publish"
	"picket/internal/store"
)

// hub is a loopback Security Hub that answers BatchImportFindings
// (POST /findings/import, REST-JSON) after checking its SigV4
// signature. answer, when set, decides each call's reply from the IDs of
// the findings it carries; by default every finding is imported.
type hub struct {
	srv    *httptest.Server
	mu     sync.Mutex
	calls  [][]map[string]any // the findings of each call, as sent
	bad    []string
	answer func(call int, ids []string) (status int, body string)
}

func newHub(t *testing.T) *hub {
	h := &hub{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		if msg := verifySigV4(r, body, "securityhub"); msg != "" {
			h.bad = append(h.bad, msg)
			http.Error(w, msg, http.StatusForbidden)
			return
		}
		if r.Method != http.MethodPost || r.URL.Path != "/findings/import" {
			h.bad = append(h.bad, r.Method+" "+r.URL.Path)
			http.Error(w, "not BatchImportFindings", http.StatusNotFound)
			return
		}
		var in struct{ Findings []map[string]any }
		if err := json.Unmarshal(body, &in); err != nil {
			h.bad = append(h.bad, "body: "+err.Error())
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		call := len(h.calls)
		h.calls = append(h.calls, in.Findings)
		var ids []string
		for _, f := range in.Findings {
			id, _ := f["Id"].(string)
			ids = append(ids, id)
		}
		status, out := http.StatusOK, `{"FailedCount":0,"SuccessCount":`+strconv.Itoa(len(ids))+`,"FailedFindings":[]}`
		if h.answer != nil {
			status, out = h.answer(call, ids)
		}
		w.Header().Set("Content-Type", "application/json")
		if status == http.StatusTooManyRequests {
			w.Header().Set("X-Amzn-ErrorType", "TooManyRequestsException")
		}
		w.WriteHeader(status)
		io.WriteString(w, out)
	}))
	t.Cleanup(func() {
		h.srv.Close()
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, msg := range h.bad {
			t.Errorf("Security Hub receiver: %s", msg)
		}
	})
	return h
}

// client returns an SDK client of the hub that does not retry by itself,
// so that retries are the publisher's.
func (h *hub) client() *securityhub.Client {
	return securityhub.New(securityhub.Options{
		Region: "us-east-1", Credentials: testCreds, BaseEndpoint: aws.String(h.srv.URL), RetryMaxAttempts: 1,
	})
}

func (h *hub) callCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.calls)
}

// failedFindings answers that the findings named in failed were refused
// with code and the others imported.
func failedFindings(ids []string, failed map[string]bool, code string) string {
	var errs []string
	for _, id := range ids {
		if failed[id] {
			errs = append(errs, `{"Id":"`+id+`","ErrorCode":"`+code+`","ErrorMessage":"refused for a test"}`)
		}
	}
	return `{"FailedCount":` + strconv.Itoa(len(errs)) + `,"SuccessCount":` + strconv.Itoa(len(ids)-len(errs)) +
		`,"FailedFindings":[` + strings.Join(errs, ",") + `]}`
}

// TestSecurityHubASFF: what Security Hub receives of a finding is its
// asff format, as the golden file has it, under the default product of
// the finding's account and region.
func TestSecurityHubASFF(t *testing.T) {
	h := newHub(t)
	s := &publish.SecurityHub{TargetName: "hub", Client: h.client(), Account: "123456789012", Region: "eu-west-1"}
	f := goldenFinding()
	if err := s.Send(t.Context(), []publish.Event{{Kind: store.OutboxNew, Finding: f}}); err != nil {
		t.Fatal(err)
	}
	if len(h.calls) != 1 || len(h.calls[0]) != 1 {
		t.Fatalf("calls %v, want one of one finding", h.calls)
	}
	golden, err := os.ReadFile(filepath.Join("testdata", "asff.golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal(golden, &want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, h.calls[0][0]); diff != "" {
		t.Errorf("finding received differs from asff.golden.json (-want +got):\n%s", diff)
	}
	got := h.calls[0][0]
	if arn := "arn:aws:securityhub:" + f.Region + ":" + f.AccountID + ":product/" + f.AccountID + "/default"; got["ProductArn"] != arn ||
		got["AwsAccountId"] != f.AccountID || got["Region"] != f.Region {
		t.Errorf("ProductArn %v, AwsAccountId %v, Region %v; want %s and the finding's account and region", got["ProductArn"], got["AwsAccountId"], got["Region"], arn)
	}
}

// TestSecurityHubBatches: 250 findings go in calls of 100, 100 and 50,
// in order, each as the asff format encodes it.
func TestSecurityHubBatches(t *testing.T) {
	fx := newFixture(t, "SIX_HOURS")
	h := newHub(t)
	s := &publish.SecurityHub{TargetName: "hub", Client: h.client(), Account: fx.det.Account, Region: fx.det.Region}
	evs := events(fx, 250)
	if err := s.Send(t.Context(), evs); err != nil {
		t.Fatal(err)
	}
	var sizes []int
	i := 0
	for _, call := range h.calls {
		sizes = append(sizes, len(call))
		for _, got := range call {
			b, err := publish.Encode(publish.FormatASFF, evs[i])
			if err != nil {
				t.Fatal(err)
			}
			var want map[string]any
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("finding %d (-want +got):\n%s", i, diff)
			}
			i++
		}
	}
	if diff := cmp.Diff([]int{100, 100, 50}, sizes); diff != "" {
		t.Errorf("findings per call (-want +got):\n%s", diff)
	}
}

// TestSecurityHubTakes: a target takes the findings of its account and
// region only, which Security Hub accepts from its credentials.
func TestSecurityHubTakes(t *testing.T) {
	s := &publish.SecurityHub{TargetName: "hub", Account: "111122223333", Region: "us-east-1"}
	for _, tc := range []struct {
		name, account, region string
		want                  bool
	}{
		{"own", "111122223333", "us-east-1", true},
		{"member account", "444455556666", "us-east-1", false},
		{"other region", "111122223333", "eu-west-1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &finding.Finding{AccountID: tc.account, Region: tc.region}
			if got := s.Takes(f); got != tc.want {
				t.Errorf("Takes = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSecurityHubRefusals: a finding refused for good is logged with its
// ID and code and counted, and the round stands; one refused with a code
// that says to try again fails the round.
func TestSecurityHubRefusals(t *testing.T) {
	fx := newFixture(t, "SIX_HOURS")
	evs := events(fx, 3)
	refused := evs[1].Finding.Arn
	for _, tc := range []struct {
		name     string
		code     string
		wantErr  bool
		rejected int
	}{
		{"permanent", "InvalidInput", false, 1},
		{"throttled", "ThrottlingException", true, 0},
		{"internal", "InternalException", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHub(t)
			h.answer = func(_ int, ids []string) (int, string) {
				return http.StatusOK, failedFindings(ids, map[string]bool{refused: true}, tc.code)
			}
			var logs bytes.Buffer
			var rejected int
			s := &publish.SecurityHub{TargetName: "hub", Client: h.client(), Account: fx.det.Account, Region: fx.det.Region,
				Log: slog.New(slog.NewTextHandler(&logs, nil)), Rejected: func(_ string, n int) { rejected += n }}
			err := s.Send(t.Context(), evs)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Send: %v, want error %v", err, tc.wantErr)
			}
			if rejected != tc.rejected {
				t.Errorf("%d rejected, want %d", rejected, tc.rejected)
			}
			if tc.rejected > 0 && (!strings.Contains(logs.String(), refused) || !strings.Contains(logs.String(), "code="+tc.code)) {
				t.Errorf("log does not name the refused finding and its code:\n%s", logs.String())
			}
		})
	}
}

// TestSecurityHubPartialFailureNotRetried: through the publisher, a
// finding Security Hub refuses is counted once and the round marked
// sent: nothing is sent again, and the other findings are delivered.
func TestSecurityHubPartialFailureNotRetried(t *testing.T) {
	fx := newFixture(t, "SIX_HOURS")
	h := newHub(t)
	fs := []*finding.Finding{fx.finding("i-0a", 1), fx.finding("i-0b", 1), fx.finding("i-0c", 1)}
	h.answer = func(_ int, ids []string) (int, string) {
		return http.StatusOK, failedFindings(ids, map[string]bool{fs[1].Arn: true}, "InvalidInput")
	}
	var rejected, failed, sent atomic.Int32
	s := &publish.SecurityHub{TargetName: "hub", Client: h.client(), Account: fx.det.Account, Region: fx.det.Region,
		Rejected: func(_ string, n int) { rejected.Add(int32(n)) }}
	p := run(t, publish.Config{Store: fx.st, Targets: []publish.Target{s}, Poll: 10 * time.Millisecond,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		Observer: publish.Observer{
			Failed: func(string) { failed.Add(1) },
			Sent:   func(_ string, l []time.Duration) { sent.Add(int32(len(l))) },
		}})
	fx.commit(t, fs...)
	waitFor(t, 5*time.Second, func() bool { return sent.Load() == 3 })
	// Several polls and backoffs later, nothing more has gone out.
	time.Sleep(200 * time.Millisecond)
	if n := h.callCount(); n != 1 {
		t.Errorf("%d calls, want 1: a refused finding is not sent again", n)
	}
	if n := rejected.Load(); n != 1 {
		t.Errorf("%d rejected, want 1", n)
	}
	if n := failed.Load(); n != 0 {
		t.Errorf("%d failed rounds, want 0", n)
	}
	if b := p.Backlogs(); len(b) != 1 || b[0].Pending != 0 || b[0].Failing {
		t.Errorf("backlog %+v, want nothing pending", b)
	}
}

// TestSecurityHubRetry: a 500 and then a throttling answer fail their
// rounds, which the publisher retries with backoff until the findings
// are imported.
func TestSecurityHubRetry(t *testing.T) {
	fx := newFixture(t, "SIX_HOURS")
	h := newHub(t)
	h.answer = func(call int, ids []string) (int, string) {
		switch call {
		case 0:
			return http.StatusInternalServerError, `{"message":"internal error for a test"}`
		case 1:
			return http.StatusTooManyRequests, `{"message":"Rate exceeded"}`
		}
		return http.StatusOK, failedFindings(ids, nil, "")
	}
	var failed, sent atomic.Int32
	s := &publish.SecurityHub{TargetName: "hub", Client: h.client(), Account: fx.det.Account, Region: fx.det.Region}
	run(t, publish.Config{Store: fx.st, Targets: []publish.Target{s},
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		Observer: publish.Observer{
			Failed: func(string) { failed.Add(1) },
			Sent:   func(_ string, l []time.Duration) { sent.Add(int32(len(l))) },
		}})
	f := fx.finding("i-0a", 1)
	fx.commit(t, f)
	waitFor(t, 5*time.Second, func() bool { return sent.Load() == 1 })
	if n := failed.Load(); n != 2 {
		t.Errorf("%d failed rounds, want 2", n)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.calls) != 3 {
		t.Fatalf("%d calls, want 3", len(h.calls))
	}
	for i, call := range h.calls {
		if len(call) != 1 || call[0]["Id"] != f.Arn {
			t.Errorf("call %d: %v, want finding %s", i, call, f.Arn)
		}
	}
}

// waitFor polls cond until it holds or within has passed.
func waitFor(t *testing.T, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not done within %v", within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
