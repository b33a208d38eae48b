package app

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"

	"picket/internal/datadir"
	"picket/internal/finding"
)

// noRedirects is a client that shows redirects instead of following
// them.
var noRedirects = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       30 * time.Second,
}

// answer is an HTTP answer as the tests look at it.
type answer struct {
	Status      int
	ContentType string
	Code        string // X-Amzn-Errortype
	Body        string
}

func do(t *testing.T, r *http.Request) answer {
	t.Helper()
	resp, err := noRedirects.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("X-Amzn-Errortype"), string(b)}
}

// signedRequest is a request for the raw path (sent as is) signed with
// the data directory's key.
func signedRequest(t *testing.T, dataDir, method, url, path string, body []byte) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, url+path, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.URL.RequestURI(), strings.SplitN(path, "?", 2)[0]) {
		t.Fatalf("the client would send %q for %q", r.URL.RequestURI(), path)
	}
	c, err := datadir.ReadCredential(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: string(c.SecretAccessKey)}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), "guardduty", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	return r
}

// guardDutyError checks that a is an error in GuardDuty's JSON shape
// with the status (0: any 4xx) and code given.
func guardDutyError(t *testing.T, what string, a answer, status int, code string) {
	t.Helper()
	var b struct {
		Message string `json:"message"`
		Type    string `json:"__type"`
	}
	err := json.Unmarshal([]byte(a.Body), &b)
	switch {
	case status == 0 && (a.Status < 400 || a.Status > 499), status != 0 && a.Status != status:
		t.Errorf("%s: answered %d %q, want %d", what, a.Status, a.Body, status)
	case a.ContentType != "application/json" || err != nil || b.Message == "" || b.Type == "":
		t.Errorf("%s: answered %d %s %q, not a GuardDuty error", what, a.Status, a.ContentType, a.Body)
	case a.Code != code:
		t.Errorf("%s: answered %d %s, want %s", what, a.Status, a.Code, code)
	}
}

// Paths with "..", "." or empty segments reach the API as sent and are
// answered after the signature check: 403 unsigned, a GuardDuty 4xx
// signed, never a redirect (http.ServeMux answered 307 or 301 before
// the API saw them).
func TestServeDotSegmentsReachTheAPI(t *testing.T) {
	dataDir := t.TempDir()
	s := startService(t, testConfig(dataDir))
	for _, path := range []string{
		"/detector/../detector", "/detector/..", "/./detector", "//detector", "/detector/", "/healthz/../detector",
		"/detector/x/../../tags/y", "/metrics/..",
	} {
		r, _ := http.NewRequest("GET", s.url()+path, nil)
		guardDutyError(t, "unsigned GET "+path, do(t, r), 403, "MissingAuthenticationTokenException")
		guardDutyError(t, "signed GET "+path, do(t, signedRequest(t, dataDir, "GET", s.url(), path, nil)), 0, "BadRequestException")
		guardDutyError(t, "signed POST "+path, do(t, signedRequest(t, dataDir, "POST", s.url(), path, []byte(`{}`))), 0, "BadRequestException")
	}
	// The fixed paths answer as before; other methods on them are the
	// API's.
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		r, _ := http.NewRequest("GET", s.url()+path, nil)
		if a := do(t, r); a.Status != 200 {
			t.Errorf("GET %s: %d %s", path, a.Status, a.Body)
		}
		r, _ = http.NewRequest("POST", s.url()+path, nil)
		guardDutyError(t, "unsigned POST "+path, do(t, r), 403, "MissingAuthenticationTokenException")
	}
	if a := do(t, signedRequest(t, dataDir, "GET", s.url(), "/detector", nil)); a.Status != 200 {
		t.Errorf("signed ListDetectors: %d %s", a.Status, a.Body)
	}
}

// Header fields over the API's limit (64 KiB) are refused in GuardDuty's
// shape up to the server's hard limit (2 MiB; Go's own plain-text 431 is
// for what is over that, and over 1 MiB it used to be).
func TestServeOversizedHeader(t *testing.T) {
	dataDir := t.TempDir()
	s := startService(t, testConfig(dataDir))
	for _, size := range []int{100 << 10, 3 << 19} {
		r := signedRequest(t, dataDir, "GET", s.url(), "/detector", nil)
		r.Header.Set("X-Padding", strings.Repeat("p", size))
		guardDutyError(t, "signed with a large header", do(t, r), http.StatusRequestHeaderFieldsTooLarge, "BadRequestException")
		r, _ = http.NewRequest("GET", s.url()+"/detector", nil)
		r.Header.Set("X-Padding", strings.Repeat("p", size))
		guardDutyError(t, "unsigned with a large header", do(t, r), http.StatusRequestHeaderFieldsTooLarge, "BadRequestException")
	}
	r, _ := http.NewRequest("GET", s.url()+"/detector", nil)
	r.Header.Set("X-Padding", strings.Repeat("p", 3<<20))
	if a := do(t, r); a.Status != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("header over the hard limit: %d %s", a.Status, a.Body)
	}
}

// TestServeSlowLoris runs 200 sockets that send a request's headers and
// five bytes of its 1000-byte body, then go quiet (and connect again
// about a second after the service hangs up), beside 50 signed clients (the AWS
// SDK, calling ListDetectors, as the report in issue 12 did):
// the signed requests must all be answered, 99% of them within 1 s.
// Before requests were read and verified ahead of taking a slot, the
// stalled ones held every slot for the server's read timeout (3 min).
func TestServeSlowLoris(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	// The stalled sockets come from 127.0.0.2 so that the service's
	// per-client cap on requests being received (64) refuses most of
	// them without touching the signed clients, which come from
	// 127.0.0.1 as a client elsewhere would.
	loris := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := loris.Dial("tcp", probe.Addr().String()); err != nil {
		probe.Close()
		t.Skipf("cannot connect from 127.0.0.2: %v", err)
	} else {
		c.Close()
	}
	probe.Close()

	dataDir := t.TempDir()
	prepopulate(t, dataDir, 1) // the region's detector
	s := startService(t, testConfig(dataDir))
	cred, err := datadir.ReadCredential(dataDir)
	if err != nil {
		t.Fatal(err)
	}

	const (
		stalled  = 200
		clients  = 50
		duration = 6 * time.Second
		perCall  = 5 * time.Second
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var refused, timedOut, other atomic.Int64
	req := "POST /detector/" + finding.DetectorID(testAccount, "us-east-1") + "/findings HTTP/1.1\r\nHost: " + s.addr +
		"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"a\":"
	for range stalled {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := loris.Dial("tcp", s.addr)
				if err != nil {
					time.Sleep(100 * time.Millisecond)
					continue
				}
				done := make(chan struct{})
				go func() {
					select {
					case <-stop:
						c.Close()
					case <-done:
					}
				}()
				if _, err := io.WriteString(c, req); err == nil {
					resp, err := http.ReadResponse(bufio.NewReader(c), nil)
					if err == nil {
						switch resp.StatusCode {
						case http.StatusTooManyRequests:
							refused.Add(1)
						case http.StatusBadRequest:
							timedOut.Add(1)
						default:
							other.Add(1)
						}
						resp.Body.Close()
					}
				}
				close(done)
				c.Close()
				time.Sleep(time.Second/2 + rand.N(time.Second)) // out of step with the others
			}
		}()
	}
	time.Sleep(500 * time.Millisecond) // the stalled requests are in

	// The signed clients pause between calls so that together they ask
	// for well less than a 2-core machine busy with other work can serve
	// (with the race detector too): the test is of starvation by stalled
	// sockets, not of throughput, which TestServeLoad measures.
	pause := 100 * time.Millisecond
	if raceEnabled {
		pause = time.Second
	}
	httpClient := &http.Client{Transport: &http.Transport{MaxIdleConns: 100, MaxIdleConnsPerHost: 100, IdleConnTimeout: time.Minute}}
	// round runs the signed clients for duration and returns their
	// latencies, sorted, and their errors.
	round := func() (lat []time.Duration, errs []string) {
		var mu sync.Mutex
		end := time.Now().Add(duration)
		var cwg sync.WaitGroup
		for c := range clients {
			cwg.Add(1)
			go func() {
				defer cwg.Done()
				gd := guardduty.New(guardduty.Options{
					BaseEndpoint: aws.String(s.url()), Region: "us-east-1", HTTPClient: httpClient,
					Credentials: credentials.NewStaticCredentialsProvider(cred.AccessKeyID, string(cred.SecretAccessKey), ""),
					Retryer:     aws.NopRetryer{}, // every failure shows
				})
				time.Sleep(time.Duration(c) * pause / clients) // clients are not in step
				for time.Now().Before(end) {
					ctx, cancel := context.WithTimeout(context.Background(), perCall)
					start := time.Now()
					_, err := gd.ListDetectors(ctx, &guardduty.ListDetectorsInput{})
					d := time.Since(start)
					cancel()
					mu.Lock()
					lat = append(lat, d)
					if err != nil && len(errs) < 10 {
						errs = append(errs, err.Error())
					}
					mu.Unlock()
					time.Sleep(pause)
				}
			}()
		}
		cwg.Wait()
		slices.Sort(lat)
		return lat, errs
	}
	// Starvation by stalled sockets holds for as long as they stall, so
	// it fails every round; a machine busy with other tests (CI runs
	// packages side by side) may slow one round. The bound must hold in
	// one of up to three rounds, and no signed request may fail in any.
	const rounds = 3
	var p99 time.Duration
	for r := range rounds {
		lat, errs := round()
		var p50 time.Duration
		p50, p99 = percentile(lat, .5), percentile(lat, .99)
		t.Logf("round %d: %d signed requests beside %d stalled sockets: p50 %v p99 %v max %v", r+1,
			len(lat), stalled, p50.Round(100*time.Microsecond), p99.Round(100*time.Microsecond), lat[len(lat)-1].Round(time.Millisecond))
		if len(errs) > 0 {
			t.Errorf("signed requests failed:\n%s", strings.Join(errs, "\n"))
		}
		if p99 <= time.Second {
			break
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("stalled requests refused at once %d, timed out %d, other %d", refused.Load(), timedOut.Load(), other.Load())
	if p99 > time.Second {
		t.Errorf("signed p99 %v in each of %d rounds, want under 1s", p99, rounds)
	}
	if refused.Load() == 0 {
		t.Error("no stalled request was refused by the per-client cap")
	}
	if n := sum(scrape(t, s.url()), "picket_api_requests_total"); n == 0 {
		t.Error("no API request counted")
	} else if _, ok := scrape(t, s.url())[`picket_api_requests_total{operation="ListFindings",status="429"}`]; !ok {
		t.Error("the refused stalled requests are not counted in /metrics")
	}
}
