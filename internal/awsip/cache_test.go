package awsip_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"picket/internal/awsip"
)

// rangesServer serves a document as AWS does: with Last-Modified, and
// 304 Not Modified to a conditional request for an unchanged one. It
// records the requests.
type rangesServer struct {
	*httptest.Server
	mu       sync.Mutex
	doc      []byte
	modified time.Time
	status   int // answered instead of the document when set
	requests []*http.Request
}

func newRangesServer(t *testing.T, doc []byte) *rangesServer {
	t.Helper()
	s := &rangesServer{doc: doc, modified: time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, r)
		doc, modified, status := s.doc, s.modified, s.status
		s.mu.Unlock()
		if status != 0 {
			http.Error(w, "unavailable", status)
			return
		}
		http.ServeContent(w, r, "ip-ranges.json", modified, bytes.NewReader(doc))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *rangesServer) set(doc []byte, modified time.Time, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.doc, s.modified, s.status = doc, modified, status
}

func (s *rangesServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

func (s *rangesServer) last() *http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[len(s.requests)-1]
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func readTestdata(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/ip-ranges.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newer is testdata's document published later, with one more prefix.
func newer(t *testing.T) []byte {
	t.Helper()
	b := readTestdata(t)
	b = bytes.Replace(b, []byte(`"syncToken": "1709294400"`), []byte(`"syncToken": "1709380800"`), 1)
	b = bytes.Replace(b, []byte(`"createDate": "2024-03-01-12-00-00"`), []byte(`"createDate": "2024-03-02-12-00-00"`), 1)
	return bytes.Replace(b, []byte(`"prefixes": [`), []byte(`"prefixes": [
    {"ip_prefix": "203.0.113.0/24", "region": "eu-west-1", "service": "EC2", "network_border_group": "eu-west-1"},`), 1)
}

func TestCacheFetchAndReuse(t *testing.T) {
	srv := newRangesServer(t, readTestdata(t))
	dir := filepath.Join(t.TempDir(), "data")
	clk := &clock{now: time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)}
	c := &awsip.Cache{Dir: dir, URL: srv.URL, Now: clk.Now}
	ctx := context.Background()

	// No copy: fetched and written.
	st := c.Load(ctx)
	if st.Origin != awsip.OriginFetched || st.Table == nil || st.Problem != nil || st.Table.Len() != 8 {
		t.Fatalf("first load: %+v", st)
	}
	if st.Path != filepath.Join(dir, awsip.CacheFile) || !st.Checked.Equal(clk.Now()) {
		t.Errorf("path %q, checked %v", st.Path, st.Checked)
	}
	if got, err := os.ReadFile(st.Path); err != nil || !bytes.Equal(got, readTestdata(t)) {
		t.Fatalf("copy not written whole: %v", err)
	}
	if req := srv.last(); req.Header.Get("If-Modified-Since") != "" {
		t.Errorf("first request is conditional: %q", req.Header.Get("If-Modified-Since"))
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("directory: %v %v", fi.Mode(), err)
	}

	// Younger than a day: the copy, no request.
	clk.advance(23 * time.Hour)
	st = c.Load(ctx)
	if st.Origin != awsip.OriginCache || st.Table.Len() != 8 || srv.count() != 1 {
		t.Fatalf("young copy: %+v after %d requests", st, srv.count())
	}

	// Older than a day and unchanged: a conditional request, a 304, and
	// the copy marked current.
	clk.advance(2 * time.Hour)
	st = c.Load(ctx)
	if st.Origin != awsip.OriginCache || st.Problem != nil || srv.count() != 2 || !st.Checked.Equal(clk.Now()) {
		t.Fatalf("unchanged: %+v after %d requests", st, srv.count())
	}
	if ims := srv.last().Header.Get("If-Modified-Since"); ims != clk.Now().Add(-25*time.Hour).Format(http.TimeFormat) {
		t.Errorf("If-Modified-Since %q", ims)
	}
	if st = c.Load(ctx); st.Origin != awsip.OriginCache || srv.count() != 2 {
		t.Fatalf("after 304 the copy is young again: %+v after %d requests", st, srv.count())
	}

	// Changed: the new document replaces the copy.
	srv.set(newer(t), clk.Now().Add(time.Hour), 0) // published after the last check
	clk.advance(25 * time.Hour)
	st = c.Load(ctx)
	if st.Origin != awsip.OriginFetched || st.Table.Len() != 9 || st.Table.SyncToken() != "1709380800" {
		t.Fatalf("changed: %+v", st)
	}
	if got, _ := os.ReadFile(st.Path); !bytes.Equal(got, newer(t)) {
		t.Error("copy not replaced")
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}

	// Refresh asks whatever the age.
	before := srv.count()
	if st = c.Refresh(ctx); st.Origin != awsip.OriginCache || srv.count() != before+1 {
		t.Errorf("refresh: %+v after %d requests", st, srv.count()-before)
	}
}

func TestCacheFallback(t *testing.T) {
	good := readTestdata(t)
	tests := []struct {
		name string
		doc  []byte
		code int
		want string // in Problem
	}{
		{"server error", good, http.StatusServiceUnavailable, "503"},
		{"not the document", []byte("<html>captive portal</html>"), 0, "refused the document"},
		{"no prefixes", []byte(`{"syncToken":"1709380800","prefixes":[],"ipv6_prefixes":[]}`), 0, "refused the document"},
		{"bad prefix", []byte(`{"syncToken":"1709380800","prefixes":[{"ip_prefix":"3.0.0.0/33"}]}`), 0, "refused the document"},
		{"older than the copy", bytes.Replace(good, []byte(`"syncToken": "1709294400"`), []byte(`"syncToken": "1709200000"`), 1), 0, "older than the copy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRangesServer(t, good)
			clk := &clock{now: time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)}
			c := &awsip.Cache{Dir: t.TempDir(), URL: srv.URL, Now: clk.Now}
			if st := c.Load(context.Background()); st.Origin != awsip.OriginFetched {
				t.Fatalf("first load: %+v", st)
			}
			srv.set(tt.doc, clk.Now().Add(time.Hour), tt.code)
			clk.advance(48 * time.Hour)
			st := c.Load(context.Background())
			if st.Origin != awsip.OriginStale || st.Table == nil || st.Table.Len() != 8 {
				t.Fatalf("want the stale copy, got %+v", st)
			}
			if st.Problem == nil || !strings.Contains(st.Problem.Error(), tt.want) {
				t.Errorf("problem %v, want one mentioning %q", st.Problem, tt.want)
			}
			if got, _ := os.ReadFile(c.Path()); !bytes.Equal(got, good) {
				t.Error("the copy was replaced")
			}
			if !st.Checked.Equal(clk.Now().Add(-48 * time.Hour)) {
				t.Errorf("checked %v: a failure must not make the copy look current", st.Checked)
			}
		})
	}
}

func TestCacheServerDown(t *testing.T) {
	srv := newRangesServer(t, readTestdata(t))
	dir := t.TempDir()
	clk := &clock{now: time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)}
	c := &awsip.Cache{Dir: dir, URL: srv.URL, Now: clk.Now}
	if st := c.Load(context.Background()); st.Origin != awsip.OriginFetched {
		t.Fatalf("first load: %+v", st)
	}
	srv.Close()
	clk.advance(72 * time.Hour)
	st := c.Load(context.Background())
	if st.Origin != awsip.OriginStale || st.Table.Len() != 8 || st.Problem == nil {
		t.Fatalf("server down: %+v", st)
	}

	// No copy either: no ranges, and why.
	c.Dir = t.TempDir()
	st = c.Load(context.Background())
	if st.Origin != awsip.OriginNone || st.Table != nil || st.Problem == nil || !strings.Contains(st.Problem.Error(), "fetching AWS ip ranges") {
		t.Fatalf("offline, no copy: %+v", st)
	}
	if _, err := os.Stat(c.Path()); err == nil {
		t.Error("a copy appeared from nowhere")
	}
}

func TestCacheNoURL(t *testing.T) {
	dir := t.TempDir()
	c := &awsip.Cache{Dir: dir}
	if st := c.Load(context.Background()); st.Table != nil || st.Problem == nil || !strings.Contains(st.Problem.Error(), "fetching is off") {
		t.Errorf("no copy, no URL: %+v", st)
	}
	// A copy however old is used when fetching is off.
	if err := os.WriteFile(c.Path(), readTestdata(t), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-365 * 24 * time.Hour)
	if err := os.Chtimes(c.Path(), old, old); err != nil {
		t.Fatal(err)
	}
	if st := c.Load(context.Background()); st.Origin != awsip.OriginCache || st.Table.Len() != 8 || st.Problem != nil {
		t.Errorf("old copy, no URL: %+v", st)
	}
}

func TestCacheUnusableCopy(t *testing.T) {
	srv := newRangesServer(t, readTestdata(t))
	c := &awsip.Cache{Dir: t.TempDir(), URL: srv.URL}
	if err := os.WriteFile(c.Path(), []byte(`{"prefixes": [`), 0o644); err != nil {
		t.Fatal(err)
	}
	st := c.Load(context.Background())
	if st.Origin != awsip.OriginFetched || st.Table.Len() != 8 {
		t.Fatalf("a cut copy is replaced: %+v", st)
	}
	if r := srv.last(); r.Header.Get("If-Modified-Since") != "" {
		t.Error("the request for a replacement of an unusable copy is conditional")
	}
}

// TestCacheTimeout checks that a server that never answers costs the
// header timeout, not the whole request's.
func TestCacheTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c := &awsip.Cache{Dir: t.TempDir(), URL: srv.URL, Timeout: 200 * time.Millisecond}
	start := time.Now()
	st := c.Load(context.Background())
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %v", took)
	}
	if st.Table != nil || st.Problem == nil {
		t.Errorf("hanging server: %+v", st)
	}
}

func TestCacheRun(t *testing.T) {
	srv := newRangesServer(t, readTestdata(t))
	clk := &clock{now: time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)}
	c := &awsip.Cache{Dir: t.TempDir(), URL: srv.URL, Now: clk.Now}
	if st := c.Load(context.Background()); st.Origin != awsip.OriginFetched {
		t.Fatalf("first load: %+v", st)
	}
	srv.set(newer(t), clk.Now().Add(time.Hour), 0)
	clk.advance(25 * time.Hour) // the copy is a day old at the next look
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan *awsip.Table, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx, 10*time.Millisecond, func(t *awsip.Table) {
			select {
			case got <- t:
			default:
			}
		})
	}()
	select {
	case tab := <-got:
		if tab.Len() != 9 {
			t.Errorf("refreshed table has %d prefixes", tab.Len())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no refresh")
	}
	cancel()
	<-done
	if tab, err := awsip.Load(c.Path()); err != nil || tab.Len() != 9 {
		t.Errorf("copy after refresh: %v, %v", tab, err)
	}
}

// TestCacheUnwritable checks that ranges fetched for a directory that
// cannot be made are returned, without a path, and with the problem.
func TestCacheUnwritable(t *testing.T) {
	srv := newRangesServer(t, readTestdata(t))
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c := &awsip.Cache{Dir: filepath.Join(file, "cache"), URL: srv.URL}
	st := c.Load(context.Background())
	if st.Table == nil || st.Table.Len() != 8 || st.Path != "" || st.Origin != awsip.OriginFetched ||
		st.Problem == nil || !strings.Contains(st.Problem.Error(), "creating the directory") {
		t.Errorf("unwritable: %+v", st)
	}
}
