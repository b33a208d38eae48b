package publish_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"

	"picket/internal/publish"
)

// TestEveryTargetWithinTwoSeconds runs one publisher with a target of
// each kind, each on a loopback receiver, and measures the time from a
// commit to each receiver's arrival.
func TestEveryTargetWithinTwoSeconds(t *testing.T) {
	fx := newFixture(t, "SIX_HOURS")
	var mu sync.Mutex
	arrived := map[string]time.Time{}
	arrive := func(kind string) {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := arrived[kind]; !ok {
			arrived[kind] = time.Now()
		}
	}

	hook := newReceiver(t)
	eb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if msg := verifySigV4(r, body, "events"); msg != "" {
			http.Error(w, msg, http.StatusForbidden)
			return
		}
		arrive("eventbridge")
		io.WriteString(w, `{"FailedEntryCount":0,"Entries":[{"EventId":"e"}]}`)
	}))
	defer eb.Close()
	s3srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if msg := verifySigV4(r, body, "s3"); msg != "" || r.Method != http.MethodPut || !strings.HasSuffix(r.URL.Path, ".jsonl.gz") {
			http.Error(w, msg, http.StatusForbidden)
			return
		}
		arrive("s3")
	}))
	defer s3srv.Close()
	hubsrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if msg := verifySigV4(r, body, "securityhub"); msg != "" || r.Method != http.MethodPost || r.URL.Path != "/findings/import" {
			http.Error(w, msg, http.StatusForbidden)
			return
		}
		arrive("securityhub")
		io.WriteString(w, `{"FailedCount":0,"SuccessCount":1,"FailedFindings":[]}`)
	}))
	defer hubsrv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 64<<10)
		if n, _ := c.Read(buf); n > 0 {
			arrive("syslog")
		}
		io.Copy(io.Discard, c)
	}()

	targets := []publish.Target{
		hook.webhook("hook"),
		&publish.Syslog{TargetName: "siem", Addr: ln.Addr().String(), Format: publish.FormatOCSF},
		&publish.EventBridge{TargetName: "bus", Client: eventbridge.New(eventbridge.Options{Region: "us-east-1", Credentials: testCreds, BaseEndpoint: aws.String(eb.URL)})},
		&publish.S3{TargetName: "archive", Bucket: "exports", Client: s3.New(s3.Options{Region: "us-east-1", Credentials: testCreds, BaseEndpoint: aws.String(s3srv.URL), UsePathStyle: true})},
		&publish.SecurityHub{TargetName: "hub", Account: fx.det.Account, Region: fx.det.Region,
			Client: securityhub.New(securityhub.Options{Region: "us-east-1", Credentials: testCreds, BaseEndpoint: aws.String(hubsrv.URL)})},
	}
	defer targets[1].(*publish.Syslog).Close()
	run(t, publish.Config{Store: fx.st, Targets: targets})
	time.Sleep(100 * time.Millisecond)
	committed := fx.commit(t, fx.finding("i-0a", 1))
	hook.wait(t, 1, 2*time.Second)
	hook.mu.Lock()
	mu.Lock()
	arrived["webhook"] = hook.at[0]
	mu.Unlock()
	hook.mu.Unlock()
	deadline := time.Now().Add(2 * time.Second)
	for {
		mu.Lock()
		n := len(arrived)
		mu.Unlock()
		if n == 5 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, kind := range []string{"webhook", "syslog", "eventbridge", "s3", "securityhub"} {
		at, ok := arrived[kind]
		if !ok {
			t.Errorf("%s: nothing arrived within 2s of the commit", kind)
			continue
		}
		d := at.Sub(committed)
		t.Logf("%s: %v from commit to arrival", kind, d.Round(time.Millisecond))
		if d > 2*time.Second {
			t.Errorf("%s: %v from commit to arrival, want under 2s", kind, d)
		}
	}
}
