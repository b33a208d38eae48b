package console

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"picket/internal/api"
	"picket/internal/store/sqlite"
)

const (
	testKey    = "AKIAEXAMPLECONSOLE01"
	testSecret = "console-test-secret-0123456789abcdefghij"
)

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testConsole is a console over a real API handler and SQLite store.
func testConsole(t *testing.T) (*Handler, *api.Handler, *clock) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "picket.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a, err := api.New(api.Config{
		Store: st, Credentials: api.StaticCredentials(api.Credential{AccessKeyID: testKey, Secret: testSecret}),
		Account: "111122223333", Region: "us-east-1", TokenKey: bytes.Repeat([]byte{7}, 32),
	})
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
	c, err := New(Config{API: a, Region: "us-east-1", Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	return c, a, clk
}

// browser sends requests to the console as a browser on its page would:
// the cookie it was given, the page's origin, and the CSRF token.
type browser struct {
	t      *testing.T
	h      http.Handler
	cookie *http.Cookie
	csrf   string
	origin string
}

func (b *browser) do(method, path string, body any, hdr map[string]string) *httptest.ResponseRecorder {
	b.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	} else {
		rd = bytes.NewReader(nil)
	}
	r := httptest.NewRequest(method, "http://picket.test"+path, rd)
	r.Host = "picket.test"
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if b.origin != "" {
		r.Header.Set("Origin", b.origin)
	}
	if b.cookie != nil {
		r.AddCookie(b.cookie)
	}
	if b.csrf != "" && method != http.MethodGet {
		r.Header.Set("X-CSRF-Token", b.csrf)
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	b.h.ServeHTTP(w, r)
	return w
}

func (b *browser) signIn(secret string) *httptest.ResponseRecorder {
	b.t.Helper()
	w := b.do(http.MethodPost, "/console/signin", map[string]string{"accessKeyId": testKey, "secretAccessKey": secret}, nil)
	if w.Code == http.StatusOK {
		for _, c := range w.Result().Cookies() {
			if c.Name == cookieName {
				b.cookie = c
			}
		}
		var v sessionView
		if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
			b.t.Fatal(err)
		}
		b.csrf = v.CSRFToken
	}
	return w
}

func TestPagesServedWithPolicy(t *testing.T) {
	c, _, _ := testConsole(t)
	b := &browser{t: t, h: c}
	w := b.do(http.MethodGet, "/console/", nil, nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("index: %d %s", w.Code, w.Header().Get("Content-Type"))
	}
	csp := w.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if w := b.do(http.MethodGet, "/console/no-such-file.js", nil, nil); w.Code != http.StatusNotFound {
		t.Errorf("missing file: %d", w.Code)
	}
	if w := b.do(http.MethodGet, "/console/../../etc/passwd", nil, nil); w.Code != http.StatusNotFound {
		t.Errorf("path outside the pages: %d", w.Code)
	}
}

func TestSignIn(t *testing.T) {
	c, _, clk := testConsole(t)
	b := &browser{t: t, h: c, origin: "http://picket.test"}
	if w := b.do(http.MethodGet, "/console/session", nil, nil); w.Code != http.StatusUnauthorized {
		t.Fatalf("session before sign-in: %d", w.Code)
	}
	if w := b.signIn("wrong-secret"); w.Code != http.StatusUnauthorized || b.cookie != nil {
		t.Fatalf("a wrong secret: %d, cookie %v", w.Code, b.cookie)
	}
	w := b.signIn(testSecret)
	if w.Code != http.StatusOK {
		t.Fatalf("sign-in: %d %s", w.Code, w.Body)
	}
	if !b.cookie.HttpOnly || b.cookie.SameSite != http.SameSiteStrictMode || b.cookie.Path != Prefix {
		t.Errorf("cookie %+v", b.cookie)
	}
	if strings.Contains(w.Body.String(), testSecret) {
		t.Error("the secret came back")
	}
	if w := b.do(http.MethodGet, "/console/session", nil, nil); w.Code != http.StatusOK {
		t.Fatalf("session: %d", w.Code)
	}

	// An idle session ends; so does every session after MaxAge.
	clk.add(DefaultIdle + time.Second)
	if w := b.do(http.MethodGet, "/console/session", nil, nil); w.Code != http.StatusUnauthorized {
		t.Errorf("idle session: %d", w.Code)
	}
	b.signIn(testSecret)
	for range 20 {
		clk.add(DefaultIdle - time.Minute)
		b.do(http.MethodGet, "/console/session", nil, nil)
	}
	if w := b.do(http.MethodGet, "/console/session", nil, nil); w.Code != http.StatusUnauthorized {
		t.Errorf("session older than MaxAge: %d", w.Code)
	}

	// Sign-in from another site, or not as JSON, is refused.
	evil := &browser{t: t, h: c, origin: "http://evil.example"}
	if w := evil.signIn(testSecret); w.Code != http.StatusForbidden {
		t.Errorf("sign-in from another origin: %d", w.Code)
	}
	form := b.do(http.MethodPost, "/console/signin", nil, map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if form.Code != http.StatusForbidden {
		t.Errorf("form sign-in: %d", form.Code)
	}
}

func TestSignInLimit(t *testing.T) {
	c, _, clk := testConsole(t)
	b := &browser{t: t, h: c}
	for range maxFailures {
		if w := b.signIn("guess"); w.Code != http.StatusUnauthorized {
			t.Fatalf("guess: %d", w.Code)
		}
	}
	if w := b.signIn(testSecret); w.Code != http.StatusTooManyRequests {
		t.Errorf("after %d failures: %d", maxFailures, w.Code)
	}
	clk.add(time.Minute + time.Second)
	if w := b.signIn(testSecret); w.Code != http.StatusOK {
		t.Errorf("a minute later: %d", w.Code)
	}
}

func TestProxy(t *testing.T) {
	c, a, _ := testConsole(t)
	b := &browser{t: t, h: c, origin: "http://picket.test"}
	if w := b.do(http.MethodGet, "/console/api/detector", nil, nil); w.Code != http.StatusUnauthorized {
		t.Fatalf("API without a session: %d", w.Code)
	}
	b.signIn(testSecret)
	w := b.do(http.MethodPost, "/console/api/detector", map[string]any{"enable": true}, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("CreateDetector: %d %s", w.Code, w.Body)
	}
	var det struct{ DetectorID string }
	json.Unmarshal(w.Body.Bytes(), &det)
	w = b.do(http.MethodGet, "/console/api/detector", nil, nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), det.DetectorID) {
		t.Fatalf("ListDetectors: %d %s", w.Code, w.Body)
	}
	list := "/console/api/detector/" + det.DetectorID + "/findings"
	if w := b.do(http.MethodPost, list, map[string]any{}, nil); w.Code != http.StatusOK {
		t.Errorf("ListFindings: %d %s", w.Code, w.Body)
	}
	// Changes need the CSRF token and the console's origin.
	noToken := &browser{t: t, h: c, cookie: b.cookie, origin: b.origin}
	if w := noToken.do(http.MethodPost, list, map[string]any{}, nil); w.Code != http.StatusForbidden {
		t.Errorf("without the CSRF token: %d", w.Code)
	}
	wrong := &browser{t: t, h: c, cookie: b.cookie, origin: b.origin, csrf: "forged"}
	if w := wrong.do(http.MethodPost, list, map[string]any{}, nil); w.Code != http.StatusForbidden {
		t.Errorf("with a wrong CSRF token: %d", w.Code)
	}
	cross := &browser{t: t, h: c, cookie: b.cookie, csrf: b.csrf, origin: "http://evil.example"}
	if w := cross.do(http.MethodPost, list, map[string]any{}, nil); w.Code != http.StatusForbidden {
		t.Errorf("from another origin: %d", w.Code)
	}
	// API errors come back in GuardDuty's shape.
	w = b.do(http.MethodGet, "/console/api/detector/0000/filter/nope", nil, nil)
	if w.Code < 400 || !strings.Contains(w.Body.String(), "__type") {
		t.Errorf("an API error: %d %s", w.Code, w.Body)
	}
	// The API itself still wants signatures: nothing from the network
	// acts as a principal.
	r := httptest.NewRequest(http.MethodGet, "http://picket.test/detector", nil)
	r.AddCookie(b.cookie)
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, r)
	if rec.Code != http.StatusForbidden {
		t.Errorf("unsigned API request with a console cookie: %d", rec.Code)
	}

	// After sign-out the session is gone.
	if w := b.do(http.MethodPost, "/console/signout", nil, nil); w.Code != http.StatusNoContent {
		t.Fatalf("sign-out: %d %s", w.Code, w.Body)
	}
	if w := b.do(http.MethodGet, "/console/api/detector", nil, nil); w.Code != http.StatusUnauthorized {
		t.Errorf("API after sign-out: %d", w.Code)
	}
}

func TestSessionsBounded(t *testing.T) {
	s := newSessions(3, time.Hour, time.Hour)
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	var tokens []string
	for i := range 5 {
		tok, _ := s.start("k", "a", "r", now.Add(time.Duration(i)*time.Second))
		tokens = append(tokens, tok)
	}
	if len(s.m) != 3 || s.evicted != 2 {
		t.Errorf("%d sessions, %d evicted", len(s.m), s.evicted)
	}
	if _, ok := s.get(tokens[0], now.Add(10*time.Second)); ok {
		t.Error("the oldest session survived")
	}
	if _, ok := s.get(tokens[4], now.Add(10*time.Second)); !ok {
		t.Error("the newest session is gone")
	}
}

// TestInsecureNoAuth: with the API's authentication off, the console
// signs in any key name, as the API answers any request.
func TestInsecureNoAuth(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "picket.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a, err := api.New(api.Config{Store: st, InsecureNoAuth: true, Account: "111122223333", Region: "us-east-1", TokenKey: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{API: a})
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t, h: c}
	if w := b.signIn("anything"); w.Code != http.StatusOK {
		t.Fatalf("sign-in without authentication: %d %s", w.Code, w.Body)
	}
	if w := b.do(http.MethodGet, "/console/api/detector", nil, nil); w.Code != http.StatusOK {
		t.Errorf("ListDetectors: %d %s", w.Code, w.Body)
	}
}
