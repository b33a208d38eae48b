package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// observation is one call of an Observer.
type observation struct {
	Op     string
	Status int
	D      time.Duration
}

// observations collects what an Observer is told.
type observations struct {
	mu  sync.Mutex
	got []observation
}

func (o *observations) observe(op string, status int, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, observation{op, status, d})
}

// take returns the observations so far and forgets them.
func (o *observations) take() []observation {
	o.mu.Lock()
	defer o.mu.Unlock()
	got := o.got
	o.got = nil
	return got
}

func TestObserver(t *testing.T) {
	obs := &observations{}
	f := newFixture(t, nil, func(c *Config) { c.Observe = obs.observe })
	det := f.createDetector(t)
	obs.take()

	unsigned := func(method, path, body string) *http.Request {
		return httptest.NewRequest(method, path, strings.NewReader(body))
	}
	tests := []struct {
		name   string
		req    func(t *testing.T) *http.Request
		op     string
		status int
	}{
		{"list detectors", func(t *testing.T) *http.Request { return f.request(t, "GET", "/detector", "") }, "ListDetectors", 200},
		{"list findings", func(t *testing.T) *http.Request {
			return f.request(t, "POST", "/detector/"+det+"/findings", `{}`)
		}, "ListFindings", 200},
		{"tag resource (204)", func(t *testing.T) *http.Request {
			arn := "arn:aws:guardduty:" + testRegion + ":" + testAccount + ":detector/" + det
			return f.request(t, "POST", "/tags/"+strings.ReplaceAll(arn, "/", "%2F"), `{"tags":{"team":"sec"}}`)
		}, "TagResource", 204},
		{"invalid input", func(t *testing.T) *http.Request {
			return f.request(t, "POST", "/detector/"+det+"/findings", `{"maxResults":0}`)
		}, "ListFindings", 400},
		{"no such detector", func(t *testing.T) *http.Request {
			return f.request(t, "GET", "/detector/0123456789abcdef0123456789abcdef", "")
		}, "GetDetector", 400},
		{"unsigned", func(t *testing.T) *http.Request { return unsigned("POST", "/detector/"+det+"/findings", `{}`) }, "ListFindings", 403},
		{"unknown path", func(t *testing.T) *http.Request { return f.request(t, "GET", "/detector/"+det+"/nonsense", "") }, OtherOperation, 400},
		{"unknown method", func(t *testing.T) *http.Request { return f.request(t, "PUT", "/detector", "") }, OtherOperation, 400},
		{"unsigned unknown path", func(t *testing.T) *http.Request { return unsigned("GET", "/no/such/thing", "") }, OtherOperation, 403},
		{"body too large", func(t *testing.T) *http.Request {
			return f.request(t, "POST", "/detector/"+det+"/findings/get", `{"findingIds":["`+strings.Repeat("a", DefaultMaxBodyBytes)+`"]}`)
		}, "GetFindings", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := f.serve(tt.req(t))
			if w.Code != tt.status {
				t.Errorf("answered %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			want := []observation{{tt.op, tt.status, 0}} // the fixture's clock stands still
			if diff := cmp.Diff(want, obs.take()); diff != "" {
				t.Errorf("observations (-want +got):\n%s", diff)
			}
		})
	}
}

// The duration observed runs from receiving the request to the end of
// the answer, including the wait for a slot; a request whose client goes
// away while waiting answers 400 and is observed too.
func TestObserverMaxInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		obs := &observations{}
		f := newFixture(t, nil, func(c *Config) {
			c.Credentials, c.InsecureNoAuth = nil, true
			c.Clock = time.Now // the bubble's clock
			c.MaxInFlight = 1
			c.Observe = obs.observe
		})
		f.h.slots <- struct{}{} // a request being served holds the only slot

		done := make(chan int)
		go func() { done <- f.serve(httptest.NewRequest("GET", "/detector", nil)).Code }()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		select {
		case code := <-done:
			t.Fatalf("answered %d without a slot", code)
		default:
		}

		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		gone := f.serve(httptest.NewRequest("GET", "/detector", nil).WithContext(ctx))
		if gone.Code != http.StatusBadRequest {
			t.Errorf("client gone while waiting: answered %d, want 400", gone.Code)
		}

		<-f.h.slots // the slot frees
		if code := <-done; code != http.StatusOK {
			t.Errorf("waiting request answered %d, want 200", code)
		}
		want := []observation{{"ListDetectors", 400, 0}, {"ListDetectors", 200, 2 * time.Second}}
		if diff := cmp.Diff(want, obs.take()); diff != "" {
			t.Errorf("observations (-want +got):\n%s", diff)
		}
		if len(f.h.slots) != 0 {
			t.Errorf("%d slots still held", len(f.h.slots))
		}
	})
}

func TestMaxInFlightNegative(t *testing.T) {
	if _, err := New(Config{Store: newMemStore(), InsecureNoAuth: true, MaxInFlight: -1}); err == nil {
		t.Error("New with MaxInFlight -1 succeeded")
	}
}
