// Package console owns the web console of picket serve: the pages,
// embedded in the binary and served from /console/ with no outside
// resource, the sign-in that gives a browser a session (an HttpOnly,
// SameSite cookie) for an API access key, the CSRF token every change
// must carry, and the one way the pages reach data: the GuardDuty API
// handler itself (api.Handler.ServeAs), under /console/api/, so that the
// console shows and changes exactly what the API serves, with the same
// account rules.
package console

import (
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"path"
	"strings"
	"time"

	"picket/internal/api"
)

//go:embed web
var webFS embed.FS

// Paths of the console.
const (
	Prefix     = "/console/"
	cookieName = "picket_console"
	apiPrefix  = Prefix + "api/"
)

// Session lifetimes and bounds.
const (
	DefaultIdle   = 30 * time.Minute // a session not used for this long ends
	DefaultMaxAge = 8 * time.Hour    // and every session ends this long after sign-in
	maxSessions   = 10_000
	// Failed sign-ins allowed per client address each minute: enough for
	// typing mistakes, too few to guess a 40-character secret.
	maxFailures = 10
)

// Config configures the console.
type Config struct {
	API *api.Handler
	// Region is the region a sign-in that names none works in.
	Region string
	Log    *slog.Logger
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
	// Idle and MaxAge bound sessions; zero takes the defaults.
	Idle, MaxAge time.Duration
}

// Handler serves the console.
type Handler struct {
	api      *api.Handler
	region   string
	log      *slog.Logger
	now      func() time.Time
	sessions *sessions
	failures *limiter
	files    fs.FS
}

// New returns the console's handler.
func New(cfg Config) (*Handler, error) {
	if cfg.API == nil {
		return nil, errors.New("console: no API handler")
	}
	files, err := fs.Sub(webFS, "web")
	if err != nil {
		return nil, err
	}
	h := &Handler{api: cfg.API, region: cfg.Region, log: cfg.Log, now: cfg.Now, files: files}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.region == "" {
		h.region = "us-east-1"
	}
	idle, maxAge := cfg.Idle, cfg.MaxAge
	if idle <= 0 {
		idle = DefaultIdle
	}
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	h.sessions = newSessions(maxSessions, idle, maxAge)
	h.failures = newLimiter(maxFailures, time.Minute, 10_000)
	return h, nil
}

// ServeHTTP serves everything under Prefix.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	p := r.URL.Path
	switch {
	case p == "/console":
		http.Redirect(w, r, Prefix, http.StatusFound)
	case p == Prefix+"session" && r.Method == http.MethodGet:
		h.session(w, r)
	case p == Prefix+"signin":
		h.signIn(w, r)
	case p == Prefix+"signout":
		h.signOut(w, r)
	case strings.HasPrefix(p, apiPrefix):
		h.proxy(w, r)
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		h.static(w, r)
	default:
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
	}
}

// securityHeaders keeps the pages to their own origin: no outside
// script, style, font or frame, and no framing by others.
func securityHeaders(hd http.Header) {
	hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-store")
}

// static serves the embedded pages: index.html for the folder.
func (h *Handler) static(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(path.Clean(r.URL.Path), "/console")
	name = strings.TrimPrefix(name, "/")
	if name == "" {
		name = "index.html"
	}
	data, err := fs.ReadFile(h.files, name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	if r.Method == http.MethodHead {
		return
	}
	w.Write(data) //nolint:gosec // the console's own embedded files, served under a strict CSP
}

// sessionView is what the pages learn of their session.
type sessionView struct {
	AccessKeyID string    `json:"accessKeyId"`
	Account     string    `json:"account"`
	Region      string    `json:"region"`
	CSRFToken   string    `json:"csrfToken"`
	ExpiresAt   time.Time `json:"expiresAt"`
}

func (h *Handler) view(s *session) sessionView {
	return sessionView{AccessKeyID: s.keyID, Account: s.account, Region: s.region, CSRFToken: s.csrf, ExpiresAt: h.sessions.expiresAt(s).UTC()}
}

// current returns the request's live session.
func (h *Handler) current(r *http.Request) (*session, bool) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil, false
	}
	return h.sessions.get(c.Value, h.now())
}

func (h *Handler) session(w http.ResponseWriter, r *http.Request) {
	s, ok := h.current(r)
	if !ok {
		writeError(w, http.StatusUnauthorized, "not signed in")
		return
	}
	writeJSON(w, http.StatusOK, h.view(s))
}

// signIn checks an access key and its secret with the API's credentials
// and starts a session. Only JSON from the console's own origin is
// accepted, so another site cannot sign a browser in as someone else.
func (h *Handler) signIn(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "sign in with POST")
		return
	}
	if !sameOrigin(r) || !isJSON(r) {
		writeError(w, http.StatusForbidden, "sign-in must come from the console's page")
		return
	}
	client := clientOf(r)
	now := h.now()
	if !h.failures.allow(client, now) {
		writeError(w, http.StatusTooManyRequests, "too many failed sign-ins from this address; wait a minute")
		return
	}
	var in struct {
		AccessKeyID     string `json:"accessKeyId"`
		SecretAccessKey string `json:"secretAccessKey"`
		Region          string `json:"region"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 16<<10)).Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "the sign-in form could not be read")
		return
	}
	cred, err := h.api.CheckSecret(r.Context(), in.AccessKeyID, in.SecretAccessKey)
	if err != nil {
		if !errors.Is(err, api.ErrUnknownAccessKey) && !errors.Is(err, api.ErrWrongSecret) {
			h.log.Error("console sign-in", "error", err)
			writeError(w, http.StatusInternalServerError, "the credentials could not be checked")
			return
		}
		h.failures.fail(client, now)
		h.log.Warn("console sign-in refused", "access_key_id", in.AccessKeyID, "client", client)
		writeError(w, http.StatusUnauthorized, "the access key ID or the secret access key is wrong")
		return
	}
	region := in.Region
	if region == "" {
		region = h.region
	}
	token, s := h.sessions.start(cred.AccessKeyID, cred.Account, region, now)
	// Secure when the request came over TLS: picket serve often listens
	// on plain HTTP on a loopback address, where a Secure cookie would
	// never be sent back.
	http.SetCookie(w, &http.Cookie{ //nolint:gosec // Secure is set whenever the request came over TLS
		Name: cookieName, Value: token, Path: Prefix, HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil, MaxAge: int(h.sessions.maxAge / time.Second),
	})
	h.log.Info("console sign-in", "access_key_id", cred.AccessKeyID, "client", client)
	writeJSON(w, http.StatusOK, h.view(s))
}

func (h *Handler) signOut(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "sign out with POST")
		return
	}
	s, ok := h.checkChange(w, r)
	if !ok {
		return
	}
	if c, err := r.Cookie(cookieName); err == nil {
		h.sessions.end(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: Prefix, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: -1}) //nolint:gosec // an expired cookie, Secure as the session's was
	h.log.Info("console sign-out", "access_key_id", s.keyID)
	w.WriteHeader(http.StatusNoContent)
}

// checkChange admits a request that changes something: a live session,
// the session's CSRF token in X-CSRF-Token, and no other origin.
func (h *Handler) checkChange(w http.ResponseWriter, r *http.Request) (*session, bool) {
	s, ok := h.current(r)
	if !ok {
		writeError(w, http.StatusUnauthorized, "not signed in")
		return nil, false
	}
	token := r.Header.Get("X-CSRF-Token")
	if !sameOrigin(r) || subtle.ConstantTimeCompare([]byte(token), []byte(s.csrf)) != 1 {
		writeError(w, http.StatusForbidden, "missing or wrong CSRF token")
		return nil, false
	}
	return s, true
}

// proxy answers /console/api/PATH with the GuardDuty API's answer to
// PATH, as the session's key.
func (h *Handler) proxy(w http.ResponseWriter, r *http.Request) {
	var s *session
	var ok bool
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		if s, ok = h.current(r); !ok {
			writeError(w, http.StatusUnauthorized, "not signed in")
			return
		}
	} else if s, ok = h.checkChange(w, r); !ok {
		return
	}
	r2 := r.Clone(r.Context())
	rest := strings.TrimPrefix(r.URL.EscapedPath(), strings.TrimSuffix(apiPrefix, "/"))
	r2.URL.Path = strings.TrimPrefix(r.URL.Path, strings.TrimSuffix(apiPrefix, "/"))
	r2.URL.RawPath = ""
	r2.RequestURI = rest
	if r.URL.RawQuery != "" {
		r2.RequestURI += "?" + r.URL.RawQuery
	}
	r2.Header.Del("Cookie")
	r2.Header.Del("X-CSRF-Token")
	// The API's own security headers and content type replace the page's.
	w.Header().Del("Content-Security-Policy")
	h.api.ServeAs(w, r2, api.Principal{AccessKeyID: s.keyID, Region: s.region})
}

// sameOrigin reports whether a request that says where it comes from
// (Origin, or Sec-Fetch-Site) comes from this host. Browsers send Origin
// with every cross-site POST.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	i := strings.Index(origin, "://")
	return i >= 0 && origin[i+3:] == r.Host
}

func isJSON(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

func clientOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"message": msg})
}
