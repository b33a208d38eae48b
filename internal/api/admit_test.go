package api

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// stall opens a connection to addr and sends the headers of a request
// whose body is 1000 bytes, and 5 of them: a client that then goes
// quiet. The connection is closed when the test ends.
func stall(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	req := "POST /detector/x/findings HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"a\":"
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	return c
}

// signedCall sends a signed request for path to the server at url and
// returns the status, or fails the test if no answer comes within
// limit.
func signedCall(t *testing.T, f *fixture, url, method, path string, limit time.Duration) int {
	t.Helper()
	r, err := http.NewRequest(method, url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	sign(t, r, nil, f.clock.Now(), testCreds)
	client := &http.Client{Timeout: limit}
	resp, err := client.Do(r)
	if err != nil {
		t.Fatalf("signed %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// Two stalled, unsigned requests held both slots, and a signed
// ListDetectors waited until the server's read timeout freed one (179.5
// s in issue 12). A request now takes a slot only once its body is in
// and its signature verified.
func TestStalledClientsDoNotHoldSlots(t *testing.T) {
	f := newFixture(t, nil, func(c *Config) { c.MaxInFlight = 2 })
	srv := httptest.NewServer(f.h)
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	stall(t, addr)
	stall(t, addr)
	time.Sleep(200 * time.Millisecond) // both are in the handler

	start := time.Now()
	if code := signedCall(t, f, srv.URL, "GET", "/detector", 5*time.Second); code != http.StatusOK {
		t.Errorf("signed ListDetectors answered %d, want 200", code)
	}
	t.Logf("signed ListDetectors answered in %v beside two stalled requests", time.Since(start))
}

// A body that does not arrive within its allowance is answered 400 and
// its connection closed; the client's count of requests being received
// goes back to zero.
func TestBodyDeadline(t *testing.T) {
	f := newFixture(t, nil, func(c *Config) {
		c.BodyTimeout = 300 * time.Millisecond
		c.MinBodyRate = 1 << 20
	})
	srv := httptest.NewServer(f.h)
	t.Cleanup(srv.Close)
	c := stall(t, strings.TrimPrefix(srv.URL, "http://"))
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("X-Amzn-Errortype") != "BadRequestException" || !strings.Contains(string(body), msgBodyTimeout) {
		t.Errorf("stalled body answered %d %s %s", resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"), body)
	}
	if took < 250*time.Millisecond || took > 5*time.Second {
		t.Errorf("stalled body answered after %v, want about 300ms", took)
	}
	if !resp.Close {
		t.Error("the answer does not close the connection")
	}
	if _, err := br.ReadByte(); err == nil {
		t.Error("the connection stays open after the answer")
	}
	f.h.unauth.mu.Lock()
	defer f.h.unauth.mu.Unlock()
	if len(f.h.unauth.n) != 0 {
		t.Errorf("clients still counted: %v", f.h.unauth.n)
	}
}

// pipeRequest is a request from remote whose body arrives only when
// the returned writer is written to or closed.
func pipeRequest(method, path, remote string) (*http.Request, *io.PipeWriter) {
	pr, pw := io.Pipe()
	r := httptest.NewRequest(method, path, pr)
	r.ContentLength = 100
	r.RemoteAddr = remote
	return r, pw
}

// A client (an IPv4 address, an IPv6 /64) has at most
// MaxUnauthenticatedPerClient requests being received and verified;
// one more is answered 429 at once, and other clients are served.
func TestUnauthenticatedPerClient(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		obs := &observations{}
		f := newFixture(t, nil, func(c *Config) {
			c.MaxUnauthenticatedPerClient = 2
			c.Observe = obs.observe
		})
		var pipes []*io.PipeWriter
		done := make(chan int, 4)
		for _, remote := range []string{"192.0.2.1:1000", "192.0.2.1:1001", "[2001:db8::1]:1000", "[2001:db8::2]:1000"} {
			r, pw := pipeRequest("POST", "/detector/x/findings", remote)
			pipes = append(pipes, pw)
			go func() { done <- f.serve(r).Code }()
		}
		synctest.Wait()
		if len(done) != 0 {
			t.Fatalf("a stalled request was answered")
		}
		obs.take()

		for _, remote := range []string{"192.0.2.1:2000", "[2001:db8::3]:2000", "[::ffff:192.0.2.1]:2000"} {
			r, _ := pipeRequest("POST", "/detector/x/findings", remote)
			w := f.serve(r)
			e := errorOf(t, w)
			if e.Status != 429 || e.Code != "TooManyRequestsException" || e.Message != msgTooMany {
				t.Errorf("%s over the cap: got %+v", remote, e)
			}
			if w.Header().Get("Retry-After") == "" || w.Header().Get("Connection") != "close" {
				t.Errorf("%s over the cap: headers %v", remote, w.Header())
			}
		}
		want := []observation{{"ListFindings", 429, 0}, {"ListFindings", 429, 0}, {"ListFindings", 429, 0}}
		if diff := cmp.Diff(want, obs.take()); diff != "" {
			t.Errorf("observations (-want +got):\n%s", diff)
		}
		for _, remote := range []string{"192.0.2.2:1000", "[2001:db8:0:1::1]:1000"} {
			r := f.request(t, "GET", "/detector", "")
			r.RemoteAddr = remote
			if w := f.serve(r); w.Code != 200 {
				t.Errorf("another client %s: answered %d", remote, w.Code)
			}
		}

		for _, pw := range pipes {
			pw.CloseWithError(io.ErrUnexpectedEOF)
		}
		for range pipes {
			if code := <-done; code != 400 {
				t.Errorf("a request whose body broke off answered %d, want 400", code)
			}
		}
		if len(f.h.unauth.n) != 0 {
			t.Errorf("clients still counted: %v", f.h.unauth.n)
		}
	})
}

// Only verified requests wait for a slot: with every slot held, an
// unsigned request is refused at once, and a signed one waits
// MaxQueueWait, then answers 503.
func TestQueueWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		obs := &observations{}
		f := newFixture(t, nil, func(c *Config) {
			c.Clock = time.Now // the bubble's clock
			c.MaxInFlight = 1
			c.MaxQueueWait = 3 * time.Second
			c.Observe = obs.observe
		})
		f.h.slots <- struct{}{} // a request being served holds the only slot
		signed := func() *http.Request {
			r := httptest.NewRequest("GET", "/detector", nil)
			sign(t, r, nil, time.Now(), testCreds)
			return r
		}

		unsigned := f.serve(httptest.NewRequest("GET", "/detector", nil))
		if e := errorOf(t, unsigned); e.Status != 403 || e.Code != codeMissingAuth {
			t.Errorf("unsigned request: got %+v", e)
		}
		w := f.serve(signed())
		e := errorOf(t, w)
		if e.Status != 503 || e.Code != "ServiceUnavailableException" || e.Message != msgUnavailable {
			t.Errorf("signed request without a slot: got %+v", e)
		}
		if w.Header().Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
		want := []observation{{"ListDetectors", 403, 0}, {"ListDetectors", 503, 3 * time.Second}}
		if diff := cmp.Diff(want, obs.take()); diff != "" {
			t.Errorf("observations (-want +got):\n%s", diff)
		}
		if strings.Contains(f.logs.String(), "level=ERROR") {
			t.Errorf("an overload 503 is logged as an error:\n%s", f.logs)
		}
		<-f.h.slots
		if w := f.serve(signed()); w.Code != 200 {
			t.Errorf("with the slot free: answered %d", w.Code)
		}
	})
}

func TestHeaderLimit(t *testing.T) {
	f := newFixture(t, nil, func(c *Config) { c.MaxHeaderBytes = 4096 })
	for _, tt := range []struct {
		name   string
		pad    int
		signed bool
		status int
	}{
		{"signed, within", 2000, true, 200},
		{"signed, over", 4096, true, 431},
		{"unsigned, over", 4096, false, 431},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/detector", nil)
			r.Header.Set("X-Padding", strings.Repeat("p", tt.pad))
			if tt.signed {
				sign(t, r, nil, f.clock.Now(), testCreds)
			}
			w := f.serve(r)
			if w.Code != tt.status {
				t.Fatalf("answered %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if tt.status == 431 {
				if e := errorOf(t, w); e.Code != "BadRequestException" || e.Type != "InvalidInputException" || e.Message != msgHeaderTooLarge {
					t.Errorf("got %+v", e)
				}
			}
		})
	}
}

func TestAdmissionConfig(t *testing.T) {
	for _, mod := range []func(*Config){
		func(c *Config) { c.MaxHeaderBytes = -1 },
		func(c *Config) { c.BodyTimeout = -time.Second },
		func(c *Config) { c.MinBodyRate = -1 },
		func(c *Config) { c.MaxUnauthenticatedPerClient = -1 },
		func(c *Config) { c.MaxQueueWait = -time.Second },
	} {
		cfg := Config{Store: newMemStore(), InsecureNoAuth: true}
		mod(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
	h, err := New(Config{Store: newMemStore(), InsecureNoAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := h.bodyAllowance(1000), DefaultBodyTimeout+1000*time.Second/DefaultMinBodyRate; got != want {
		t.Errorf("allowance of a 1000-byte body: %v, want %v", got, want)
	}
	if got, want := h.bodyAllowance(-1), 21*time.Second; got != want {
		t.Errorf("allowance of a body of unknown length: %v, want %v", got, want)
	}
}
