package publish_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"picket/internal/finding"
	"picket/internal/publish"
	"picket/internal/store"
	"picket/internal/store/sqlite"
)

var secret = []byte("webhook-test-secret")

// testStore is what the tests use of a store.
type testStore interface {
	publish.Store
	CreateDetector(ctx context.Context, d *store.Detector) error
	Commit(ctx context.Context, b store.Batch) error
	Close() error
}

// fixture is a store with one detector.
type fixture struct {
	st  testStore
	det *store.Detector
}

// newFixture opens a SQLite store with one detector.
func newFixture(t *testing.T, freq string) *fixture {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "picket.db"))
	if err != nil {
		t.Fatal(err)
	}
	return withDetector(t, st, freq)
}

func withDetector(t *testing.T, st testStore, freq string) *fixture {
	t.Helper()
	t.Cleanup(func() { st.Close() })
	det := &store.Detector{ID: finding.DetectorID("111122223333", "us-east-1"), Account: "111122223333", Region: "us-east-1",
		Enabled: true, FindingPublishingFrequency: freq}
	if err := st.CreateDetector(t.Context(), det); err != nil {
		t.Fatal(err)
	}
	return &fixture{st: st, det: det}
}

// finding returns a port probe finding of instance i.
func (fx *fixture) finding(instance string, count int64) *finding.Finding {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f := finding.New(finding.TypePortProbeUnprotectedPort, finding.Key{Account: fx.det.Account, Region: fx.det.Region, Resource: instance, Role: finding.RoleTarget},
		fx.det.ID, at, at.Add(time.Duration(count)*time.Minute), count)
	f.Resource.InstanceDetails = &finding.InstanceDetails{InstanceID: instance}
	return f
}

func (fx *fixture) commit(t *testing.T, fs ...*finding.Finding) time.Time {
	t.Helper()
	if err := fx.st.Commit(t.Context(), store.Batch{Findings: fs}); err != nil {
		t.Fatal(err)
	}
	return time.Now()
}

// receiver is a loopback HTTPS webhook receiver that verifies each
// request's signature.
type receiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []publish.EventBridgeEvent
	at  []time.Time
	bad []error
	// fail answers this many requests 503 before it accepts any.
	fail atomic.Int32
	cond chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{cond: make(chan struct{}, 1000)}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if r.fail.Add(-1) >= 0 {
			http.Error(w, "down for a test", http.StatusServiceUnavailable)
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if err := publish.Verify(secret, req.Header.Get(publish.HeaderTimestamp), req.Header.Get(publish.HeaderSignature), body, time.Now(), 5*time.Minute); err != nil {
			r.bad = append(r.bad, err)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var e publish.EventBridgeEvent
		if err := json.Unmarshal(body, &e); err != nil {
			r.bad = append(r.bad, err)
		}
		if req.Header.Get(publish.HeaderEventID) != e.ID {
			r.bad = append(r.bad, errors.New("event ID header differs from the body's"))
		}
		r.got = append(r.got, e)
		r.at = append(r.at, time.Now())
		r.cond <- struct{}{}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) webhook(name string) *publish.Webhook {
	return &publish.Webhook{TargetName: name, URL: r.srv.URL + "/hook", Secret: secret, Client: r.srv.Client()}
}

// wait waits for n deliveries in all.
func (r *receiver) wait(t *testing.T, n int, within time.Duration) []publish.EventBridgeEvent {
	t.Helper()
	deadline := time.After(within)
	for {
		r.mu.Lock()
		got := len(r.got)
		r.mu.Unlock()
		if got >= n {
			break
		}
		select {
		case <-r.cond:
		case <-deadline:
			t.Fatalf("%d deliveries within %v, want %d", got, within, n)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, err := range r.bad {
		t.Errorf("receiver: %v", err)
	}
	return append([]publish.EventBridgeEvent(nil), r.got...)
}

func run(t *testing.T, cfg publish.Config) *publish.Publisher {
	t.Helper()
	p := publish.New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return p
}

// TestWebhookWithinTwoSeconds commits findings and measures the time from
// each commit's return to the webhook's receipt, with the default poll.
func TestWebhookWithinTwoSeconds(t *testing.T) {
	webhookWithinTwoSeconds(t, newFixture(t, "SIX_HOURS"))
}

func webhookWithinTwoSeconds(t *testing.T, fx *fixture) {
	r := newReceiver(t)
	run(t, publish.Config{Store: fx.st, Targets: []publish.Target{r.webhook("hook")}})
	var worst time.Duration
	for i := range 5 {
		f := fx.finding("i-0"+string(rune('a'+i)), 1)
		committed := fx.commit(t, f)
		got := r.wait(t, i+1, 2*time.Second)
		last := got[i]
		if last.Detail.ID != f.ID || last.DetailType != publish.DetailType || last.Source != publish.EventSource ||
			last.Account != fx.det.Account || last.Region != fx.det.Region {
			t.Fatalf("delivery %d: %+v", i, last)
		}
		r.mu.Lock()
		lat := r.at[i].Sub(committed)
		r.mu.Unlock()
		worst = max(worst, lat)
	}
	t.Logf("commit to webhook delivery: at most %v over 5 findings", worst)
	if worst > 2*time.Second {
		t.Errorf("a finding took %v to arrive, want under 2s", worst)
	}
}

// TestRetry holds a webhook down for its first requests: the finding
// arrives once it answers, and the failures are counted.
func TestRetry(t *testing.T) {
	fx := newFixture(t, "SIX_HOURS")
	r := newReceiver(t)
	r.fail.Store(3)
	var failed atomic.Int32
	var sent atomic.Int32
	run(t, publish.Config{Store: fx.st, Targets: []publish.Target{r.webhook("hook")},
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		Observer: publish.Observer{
			Failed: func(string) { failed.Add(1) },
			Sent:   func(_ string, l []time.Duration) { sent.Add(int32(len(l))) },
		}})
	f := fx.finding("i-0a", 1)
	fx.commit(t, f)
	got := r.wait(t, 1, 5*time.Second)
	if got[0].Detail.ID != f.ID {
		t.Errorf("got finding %s, want %s", got[0].Detail.ID, f.ID)
	}
	if n := failed.Load(); n != 3 {
		t.Errorf("%d failed rounds, want 3", n)
	}
	deadline := time.Now().Add(2 * time.Second)
	for sent.Load() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := sent.Load(); n != 1 {
		t.Errorf("%d sent, want 1", n)
	}
}

// TestDeadTargetHoldsOnlyItself: a target that never answers leaves the
// other target's deliveries on time, and a commit does not wait for
// either.
func TestDeadTargetHoldsOnlyItself(t *testing.T) {
	fx := newFixture(t, "SIX_HOURS")
	r := newReceiver(t)
	stop := make(chan struct{})
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		select { // hangs until the sender gives up or the test ends
		case <-req.Context().Done():
		case <-stop:
		}
	}))
	t.Cleanup(dead.Close)
	p := run(t, publish.Config{Store: fx.st, Timeout: 200 * time.Millisecond, MinBackoff: 50 * time.Millisecond, Targets: []publish.Target{
		&publish.Webhook{TargetName: "dead", URL: dead.URL, Secret: secret},
		r.webhook("live"),
	}})
	t.Cleanup(func() { close(stop) })
	for i := range 3 {
		start := time.Now()
		fx.commit(t, fx.finding("i-0"+string(rune('a'+i)), 1))
		if d := time.Since(start); d > time.Second {
			t.Errorf("commit %d took %v", i, d)
		}
	}
	r.wait(t, 3, 2*time.Second)
	time.Sleep(300 * time.Millisecond)
	for _, b := range p.Backlogs() {
		switch b.Target {
		case "dead":
			if b.Pending != 3 || !b.Failing || b.Oldest.IsZero() {
				t.Errorf("dead target's backlog %+v, want 3 pending and failing", b)
			}
		case "live":
			if b.Pending != 0 || b.Failing {
				t.Errorf("live target's backlog %+v, want none", b)
			}
		}
	}
}

// TestUpdatesFollowFrequency: a new finding goes out at once; its change
// waits for the detector's next publishing boundary, and two changes go
// out as one event with the latest state.
func TestUpdatesFollowFrequency(t *testing.T) {
	fx := newFixture(t, "FIFTEEN_MINUTES")
	r := newReceiver(t)
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	run(t, publish.Config{Store: fx.st, Now: now, Poll: 20 * time.Millisecond, Targets: []publish.Target{r.webhook("hook")}})
	fx.commit(t, fx.finding("i-0a", 1))
	r.wait(t, 1, 2*time.Second)
	fx.commit(t, fx.finding("i-0a", 2))
	fx.commit(t, fx.finding("i-0a", 3))
	time.Sleep(300 * time.Millisecond)
	r.mu.Lock()
	n := len(r.got)
	r.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d deliveries before the boundary, want 1", n)
	}
	offset.Store(int64(15 * time.Minute))
	got := r.wait(t, 2, 2*time.Second)
	if c := got[1].Detail.Service.Count; c != 6 {
		t.Errorf("the update's count is %d, want 6 (1+2+3 merged)", c)
	}
	time.Sleep(200 * time.Millisecond)
	r.mu.Lock()
	n = len(r.got)
	r.mu.Unlock()
	if n != 2 {
		t.Errorf("%d deliveries after the boundary, want 2: the two changes go out once", n)
	}
}

// TestArchivedNotPushed: a finding a suppression rule archives never
// leaves.
func TestArchivedNotPushed(t *testing.T) {
	fx := newFixture(t, "SIX_HOURS")
	r := newReceiver(t)
	run(t, publish.Config{Store: fx.st, Poll: 20 * time.Millisecond, Targets: []publish.Target{r.webhook("hook")}})
	a := fx.finding("i-0a", 1)
	a.Service.Archived = true
	fx.commit(t, a, fx.finding("i-0b", 1))
	got := r.wait(t, 1, 2*time.Second)
	time.Sleep(200 * time.Millisecond)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.got) != 1 || got[0].Detail.Resource.InstanceDetails.InstanceID != "i-0b" {
		t.Errorf("deliveries %d, first about %s; want only i-0b's", len(r.got), got[0].Detail.Resource.InstanceDetails.InstanceID)
	}
}
