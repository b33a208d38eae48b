package api

import (
	"errors"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRejectedRequestsThrottled is the report of issue 12: a flood of
// bad requests from eight threads wrote one INFO line each. Now each
// reason (operation and error code) writes one line per interval, and the
// next line counts the ones left out; the observer still sees them all.
func TestRejectedRequestsThrottled(t *testing.T) {
	const (
		threads   = 8
		unsigned  = 400 // per thread: ListDetectors without a signature
		badFields = 25  // per thread: ListFindings on a misspelt field
	)
	logs := &logBuffer{}
	var observed atomic.Int64
	f := newFixture(t, nil, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
		c.Observe = func(_ string, status int, _ time.Duration) {
			if status >= 400 {
				observed.Add(1)
			}
		}
	})
	d := "/detector/" + f.createDetector(t)
	badBody := `{"findingCriteria":{"criterion":{"severty":{"neq":["2.0"]}}}}`
	flood := func() {
		var wg sync.WaitGroup
		for range threads {
			wg.Go(func() {
				for range unsigned {
					f.serve(httptest.NewRequest("GET", "/detector", nil))
				}
				for range badFields {
					f.serve(f.request(t, "POST", d+"/findings", badBody))
				}
			})
		}
		wg.Wait()
	}
	lines := func() []string {
		var out []string
		for l := range strings.Lines(logs.String()) {
			if strings.Contains(l, `msg="api error"`) {
				out = append(out, l)
			}
		}
		return out
	}

	flood()
	if got := lines(); len(got) != 2 {
		t.Fatalf("%d lines for a flood of two reasons, want 2:\n%s", len(got), strings.Join(got[:min(len(got), 5)], ""))
	}
	if got, want := observed.Load(), int64(threads*(unsigned+badFields)); got != want {
		t.Errorf("observer saw %d rejections, want %d", got, want)
	}

	// Within the interval, nothing more; after it, one line per reason
	// counting the rejections left out.
	f.clock.Set(testNow.Add(DefaultRejectLogInterval - time.Second))
	f.serve(httptest.NewRequest("GET", "/detector", nil))
	if got := lines(); len(got) != 2 {
		t.Fatalf("%d lines within the interval, want 2", len(got))
	}
	f.clock.Set(testNow.Add(DefaultRejectLogInterval))
	f.serve(httptest.NewRequest("GET", "/detector", nil))
	f.serve(f.request(t, "POST", d+"/findings", badBody))
	got := lines()
	if len(got) != 4 {
		t.Fatalf("%d lines after the interval, want 4:\n%s", len(got), strings.Join(got, ""))
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`operation=ListDetectors status=403 code=MissingAuthenticationTokenException .* suppressed=` + strconv.Itoa(threads*unsigned) + ` interval=10s`),
		regexp.MustCompile(`operation=ListFindings status=400 code=BadRequestException .* suppressed=` + strconv.Itoa(threads*badFields-1) + ` interval=10s`),
	} {
		if !want.MatchString(got[2]) && !want.MatchString(got[3]) {
			t.Errorf("no line matching %s in\n%s", want, strings.Join(got[2:], ""))
		}
	}
}

// TestServerErrorsNotThrottled: internal failures are logged every time.
func TestServerErrorsNotThrottled(t *testing.T) {
	st := newMemStore()
	f := newFixture(t, st)
	d := "/detector/" + f.createDetector(t)
	st.fail = func(method string) error {
		if method == "ListFindings" {
			return errors.New("disk on fire")
		}
		return nil
	}
	for range 3 {
		f.serve(f.request(t, "POST", d+"/findings", "{}"))
	}
	if n := strings.Count(f.logs.String(), "level=ERROR"); n != 3 {
		t.Errorf("%d ERROR lines for 3 server errors, want 3", n)
	}
}

func TestRejectLogIntervalNegative(t *testing.T) {
	_, err := New(Config{Store: newMemStore(), InsecureNoAuth: true, RejectLogInterval: -time.Second})
	if err == nil {
		t.Fatal("New accepted a negative RejectLogInterval")
	}
}
