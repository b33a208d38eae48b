package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"picket/internal/finding"
	"picket/internal/store"
)

const (
	testAccount = "123456789012"
	testRegion  = "us-east-1"
	testKeyID   = "AKIDPICKETTEST"
	testSecret  = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
)

// testNow is the handler's clock in the unit tests.
var testNow = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// logBuffer collects log output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type fixture struct {
	h     *Handler
	store Store
	clock *testClock
	logs  *logBuffer
}

// newFixture returns a handler over st (a memStore when nil) that knows
// the test credentials, with a fixed clock and captured logs.
func newFixture(t testing.TB, st Store, mod ...func(*Config)) *fixture {
	t.Helper()
	if st == nil {
		st = newMemStore()
	}
	f := &fixture{store: st, clock: &testClock{t: testNow}, logs: &logBuffer{}}
	cfg := Config{
		Store:       st,
		Credentials: StaticCredentials(Credential{AccessKeyID: testKeyID, Secret: testSecret, Account: testAccount}),
		TokenKey:    bytes.Repeat([]byte{7}, 32),
		Clock:       f.clock.Now,
		Logger:      slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, m := range mod {
		m(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	return f
}

// sign signs r with the SDK's SigV4 signer as the test key at time at.
func sign(t testing.TB, r *http.Request, body []byte, at time.Time, creds aws.Credentials) {
	t.Helper()
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), "guardduty", testRegion, at); err != nil {
		t.Fatal(err)
	}
}

var testCreds = aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret}

// request builds a signed request.
func (f *fixture) request(t testing.TB, method, path, body string) *http.Request {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	sign(t, r, []byte(body), f.clock.Now(), testCreds)
	return r
}

// serve serves r and returns the response.
func (f *fixture) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

// call makes a signed call and decodes a 2xx answer into out (if not nil).
func (f *fixture) call(t testing.TB, method, path, body string, out any) *httptest.ResponseRecorder {
	t.Helper()
	w := f.serve(f.request(t, method, path, body))
	if w.Code >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, w.Code, w.Body)
	}
	if out != nil {
		if err := json.Unmarshal(w.Body.Bytes(), out); err != nil {
			t.Fatalf("%s %s: decoding %s: %v", method, path, w.Body, err)
		}
	}
	return w
}

// createDetector creates the test account's detector and returns its ID.
func (f *fixture) createDetector(t testing.TB) string {
	t.Helper()
	var out struct{ DetectorID string }
	f.call(t, "POST", "/detector", `{"enable":true}`, &out)
	return out.DetectorID
}

// testFinding returns a finding of the test detector.
func testFinding(typ, resource string, severity finding.Severity, at time.Time) *finding.Finding {
	det := finding.DetectorID(testAccount, testRegion)
	f := finding.New(typ, finding.Key{Account: testAccount, Region: testRegion, Resource: resource, Role: finding.RoleTarget},
		det, at.Add(-time.Hour), at, 3)
	f.Severity = severity
	f.Title = typ + " on " + resource
	f.Resource.InstanceDetails = &finding.InstanceDetails{InstanceID: resource}
	f.Service.Action.NetworkConnectionAction = &finding.NetworkConnectionAction{
		ConnectionDirection: finding.DirectionInbound, Protocol: "TCP",
		LocalPortDetails: finding.Port(22), RemoteIPDetails: &finding.RemoteIPDetails{IPAddressV4: "198.51.100.7"},
	}
	return f
}

// errorOf decodes an error answer.
type errorAnswer struct {
	Status  int
	Code    string
	Message string
	Type    string
	SubType string
	Request string
}

func errorOf(t testing.TB, w *httptest.ResponseRecorder) errorAnswer {
	t.Helper()
	var b struct {
		Message string `json:"message"`
		Type    string `json:"__type"`
		SubType string `json:"type"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatalf("error body %q: %v", w.Body, err)
	}
	return errorAnswer{Status: w.Code, Code: w.Header().Get("X-Amzn-Errortype"), Message: b.Message, Type: b.Type, SubType: b.SubType,
		Request: w.Header().Get("X-Amzn-Requestid")}
}

func jsonDecode(b []byte, v any) error { return json.Unmarshal(b, v) }

func batchOf(fs ...*finding.Finding) store.Batch { return store.Batch{Findings: fs} }
