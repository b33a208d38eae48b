// Package api owns picket's GuardDuty-compatible REST API: the HTTP
// handler that the AWS CLI and SDKs talk to unchanged. It routes GuardDuty's
// paths, verifies AWS Signature Version 4 on every request, decodes request
// bodies strictly (exact camelCase member names, the model's constraints),
// maps requests onto the store contract, seals the store's pagination
// cursors into tamper-proof tokens, and maps every failure to GuardDuty's
// error shapes in one place. It tells the threat-intel engine about lists
// through SetLoader and never reaches into it.
//
// Only the composition root imports api. It imports finding and store.
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"picket/internal/store"
)

// DefaultMaxBodyBytes bounds a request body. GuardDuty's largest requests
// (a filter with 50 attributes of 50 values) are a few hundred kilobytes.
const DefaultMaxBodyBytes = 1 << 20

// Defaults of the limits on how requests arrive and are admitted (see
// Config).
const (
	// DefaultMaxHeaderBytes bounds the request line and header fields:
	// an SDK's signed request has about a kilobyte of them, and 64 KiB is
	// what load balancers commonly allow.
	DefaultMaxHeaderBytes = 64 << 10
	// DefaultBodyTimeout and DefaultMinBodyRate give a body five seconds
	// (a few TCP retransmissions) plus its length at 64 KiB/s: a body of
	// a few kilobytes has about 5 s, the largest allowed (1 MiB) 21 s.
	DefaultBodyTimeout = 5 * time.Second
	DefaultMinBodyRate = 64 << 10
	// DefaultMaxUnauthenticatedPerClient bounds the requests of one
	// client being read and verified at once. A client's signed requests
	// pass that stage in well under a millisecond each, so even 50 SDK
	// clients behind one address rarely have more than a few there; a
	// client that stalls its bodies holds at most this many.
	DefaultMaxUnauthenticatedPerClient = 64
	// DefaultMaxQueueWait bounds the wait for a slot under MaxInFlight.
	// A request is served in milliseconds; a queue ten seconds long means
	// the service is overloaded, and the client is better told so (and
	// retries, as the SDKs do on a 503) than left waiting.
	DefaultMaxQueueWait = 10 * time.Second
)

// Config configures a Handler.
type Config struct {
	// Store holds detectors, findings, filters, lists and tags. Required.
	Store Store

	// Credentials looks up the secret of an access key. Required unless
	// InsecureNoAuth is set.
	Credentials CredentialFunc
	// InsecureNoAuth serves requests without verifying signatures, as
	// Account in the region of the request's credential scope (or Region
	// when the request is not signed). The service allows it only on a
	// loopback listener.
	InsecureNoAuth bool

	// Account is the account of callers whose credential names none and
	// of every caller under InsecureNoAuth: 12 digits. Default
	// 000000000000, as picket analyze assumes.
	Account string
	// Region is the region of unsigned requests under InsecureNoAuth.
	// Default us-east-1.
	Region string

	// TokenKey is the HMAC-SHA256 key that seals pagination tokens, at
	// least 32 bytes; the service keeps it in its data directory so that
	// tokens survive a restart. Nil means a random key per Handler.
	TokenKey []byte

	// Sets is told when a trusted or threat list is activated, changed or
	// retired. Nil means no threat-intel engine: activated lists go to
	// ERROR saying so.
	Sets SetLoader

	// Clock returns the current time: for signature expiry, timestamps of
	// detectors, filters, lists and sample findings. Default time.Now.
	Clock func() time.Time
	// Logger receives request logs and internal errors. Default: discard.
	Logger *slog.Logger
	// MaxBodyBytes bounds a request body. Default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxHeaderBytes bounds the request line and header fields, counted
	// as the lines "METHOD TARGET PROTO" and "Name: value" with their line
	// ends; a request over it answers 431 BadRequestException. The
	// http.Server's own MaxHeaderBytes must be larger: above that the
	// server answers 431 in plain text before the Handler sees the
	// request. Default DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// BodyTimeout and MinBodyRate bound the time a request's body may
	// take to arrive, from when the Handler gets the request: BodyTimeout
	// plus the body's length (its Content-Length, else MaxBodyBytes) at
	// MinBodyRate bytes a second. A body not in by then answers 400 and
	// the connection is closed. Defaults DefaultBodyTimeout and
	// DefaultMinBodyRate. The bound is a read deadline on the
	// connection, so it holds only under an http.Server (a
	// ResponseWriter that supports http.ResponseController).
	BodyTimeout time.Duration
	MinBodyRate int64
	// MaxUnauthenticatedPerClient bounds the requests of one client (an
	// IPv4 address, or an IPv6 /64) that are being read and verified at
	// once; a request over it answers 429 TooManyRequestsException at
	// once, without its body being read, and the connection is closed.
	// Behind a reverse proxy every client is the proxy. Default
	// DefaultMaxUnauthenticatedPerClient.
	MaxUnauthenticatedPerClient int

	// MaxInFlight bounds the requests served at once. Only a request
	// whose body is read and whose signature is verified takes a slot (a
	// request is refused without one if it fails either), so clients
	// that are slow to send cannot hold slots. A request over the bound
	// waits for a slot, in order of arrival, for at most MaxQueueWait,
	// then answers 503 ServiceUnavailableException; it answers 400 if
	// its client goes away first. A slot is held while the operation
	// runs, not while its answer is written. Zero means no bound.
	MaxInFlight int
	// MaxQueueWait bounds the wait for a slot under MaxInFlight. Default
	// DefaultMaxQueueWait.
	MaxQueueWait time.Duration
	// Observe, if set, is told of every request once it is answered.
	Observe Observer
	// Usage returns what ingest read and committed, for
	// GetUsageStatistics, ListCoverage and GetCoverageStatistics. Nil:
	// they answer with nothing read.
	Usage UsageFunc
	// SilentAfter is how far a resource's last record may trail the
	// newest record read, in event time, before ListCoverage calls it
	// UNHEALTHY. Default DefaultSilentAfter; negative is an error.
	SilentAfter time.Duration
	// RejectLogInterval is how often, at most, a rejected (4xx) request
	// of one operation and error code is logged at INFO; each such line
	// counts the rejections left out since the previous one, which are
	// logged at DEBUG only. Server errors are always logged. Default
	// DefaultRejectLogInterval; negative is an error.
	RejectLogInterval time.Duration
}

// Observer is told of each request the Handler answered, whatever the
// outcome: the operation, the HTTP status written, and the time from
// receiving the request to the end of the answer by Config.Clock,
// including any wait for a slot under MaxInFlight. The operation is
// named from the method and path alone, so a request refused before its
// signature is checked still counts under the operation it asked for; a
// method and path that name no operation picket serves give
// OtherOperation, so the names form a bounded set. Observer is called on
// the request's goroutine, concurrently for concurrent requests: it must
// be safe for concurrent use, and quick.
type Observer func(op string, status int, d time.Duration)

// OtherOperation is the operation of a request whose method and path
// name no operation that picket serves.
const OtherOperation = "Other"

// SetLoader is the threat-intel engine as the API sees it. The API calls
// Load when a list is created or updated with activate set (and when an
// active list's location changes), and Unload when a list is deactivated or
// deleted, or its detector is deleted. Neither may block on fetching:
// Load starts loading in the background and calls done exactly once, with
// nil when the list is in use or with the error that made it unusable;
// the API then records the list as ACTIVE, or as ERROR with the error's
// text in errorDetails. A done that arrives after a newer Load or an
// Unload of the same list is ignored.
type SetLoader interface {
	Load(s store.Set, done func(error))
	Unload(s store.Set)
}

// LocationChecker is an optional capability of a SetLoader: it vets a
// list's location (and expected bucket owner) when a list is created or
// its location changes, before anything is stored. An error wrapping
// ErrAccessDenied answers 403 AccessDeniedException for IPSets and
// ThreatIntelSets, as GuardDuty does when it may not read the object (400
// for the entity sets, whose model declares no 403); any other error
// answers 400.
type LocationChecker interface {
	CheckLocation(ctx context.Context, location, expectedBucketOwner string) error
}

// ErrAccessDenied marks a LocationChecker error as a denial.
var ErrAccessDenied = errors.New("access denied")

// Handler serves the GuardDuty API. It is safe for concurrent use.
type Handler struct {
	store    Store
	creds    CredentialFunc
	insecure bool
	account  string
	region   string
	tokens   tokenSealer
	sets     SetLoader
	now      func() time.Time
	log      *slog.Logger
	maxBody  int64
	observe  Observer
	rejects  *rejectLog

	usage       UsageFunc
	silentAfter time.Duration

	maxHeader   int
	bodyTimeout time.Duration
	minBodyRate int64
	// unauth counts each client's requests being read and verified.
	unauth *clientGate
	// slots holds a token for each request being served (nil: no
	// bound).
	slots     chan struct{}
	queueWait time.Duration

	// setMu serializes changes of lists' status: API updates and the
	// outcomes of loads.
	setMu sync.Mutex
	// loads tracks the generation of each list's latest Load or Unload,
	// so that a late done does not overwrite a newer state.
	mu    sync.Mutex
	loads map[setRef]uint64
	gen   uint64
}

// New returns a Handler for cfg.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil {
		return nil, errors.New("api: a store is required")
	}
	if cfg.Credentials == nil && !cfg.InsecureNoAuth {
		return nil, errors.New("api: credentials are required unless InsecureNoAuth is set")
	}
	h := &Handler{
		store:    cfg.Store,
		creds:    cfg.Credentials,
		insecure: cfg.InsecureNoAuth,
		account:  cfg.Account,
		region:   cfg.Region,
		sets:     cfg.Sets,
		now:      cfg.Clock,
		log:      cfg.Logger,
		maxBody:  cfg.MaxBodyBytes,
		observe:  cfg.Observe,
		loads:    make(map[setRef]uint64),

		usage:       cfg.Usage,
		silentAfter: cfg.SilentAfter,
	}
	switch {
	case h.silentAfter < 0:
		return nil, fmt.Errorf("api: SilentAfter is %v, want 0 (the default) or more", h.silentAfter)
	case h.silentAfter == 0:
		h.silentAfter = DefaultSilentAfter
	}
	if cfg.RejectLogInterval < 0 {
		return nil, fmt.Errorf("api: RejectLogInterval is %v, want 0 (the default) or more", cfg.RejectLogInterval)
	}
	every := cfg.RejectLogInterval
	if every == 0 {
		every = DefaultRejectLogInterval
	}
	h.rejects = newRejectLog(every)
	if err := h.admission(cfg); err != nil {
		return nil, err
	}
	if h.account == "" {
		h.account = "000000000000"
	}
	if !validAccount(h.account) {
		return nil, fmt.Errorf("api: account %q is not 12 digits", h.account)
	}
	if h.region == "" {
		h.region = "us-east-1"
	}
	if !validRegion(h.region) {
		return nil, fmt.Errorf("api: region %q is not a region name", h.region)
	}
	key := cfg.TokenKey
	if key == nil {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("api: making a token key: %w", err)
		}
	}
	if len(key) < 32 {
		return nil, fmt.Errorf("api: the token key has %d bytes, at least 32 are needed", len(key))
	}
	h.tokens = tokenSealer{key: key}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	return h, nil
}

// caller is who made a request: the account and region it acts in.
type caller struct {
	AccessKeyID string
	Account     string
	Region      string
}

// request is one API call on its way through an operation.
type request struct {
	ctx    context.Context
	id     string
	caller caller
	body   []byte
	query  url.Values
	labels []string // path labels, unescaped, in path order
}

// ServeHTTP answers one API call: request ID, header limit, body read
// under a deadline, signature, route, a slot, operation, response or
// error. The body is read and the signature verified before the request
// competes for a slot, so only callers that hold a key can make others
// wait; while a client's request is being read and verified it counts
// against the client's cap (Config.MaxUnauthenticatedPerClient).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.now()
	rq := &request{ctx: r.Context(), id: newRequestID()}
	w.Header().Set("X-Amzn-Requestid", rq.id)
	w.Header().Set("Date", start.UTC().Format(http.TimeFormat))
	// The route is found first, to name the operation in logs and to the
	// observer; a route error is still answered only after the signature
	// check.
	rawPath, rawQuery := requestTarget(r)
	rt, labels, routeErr := match(r.Method, rawPath)
	op := rt.op
	if op == "" {
		op = OtherOperation
	}
	status := 0
	defer func() {
		if v := recover(); v != nil {
			status = h.respondError(w, rq, op, fmt.Errorf("panic serving %s: %v", op, v))
		}
		d := h.now().Sub(start)
		h.log.LogAttrs(rq.ctx, slog.LevelDebug, "api request",
			slog.String("request_id", rq.id), slog.String("operation", op),
			slog.String("method", r.Method), slog.Int("status", status),
			slog.String("access_key_id", rq.caller.AccessKeyID),
			slog.Duration("duration", d))
		if h.observe != nil {
			h.observe(op, status, d)
		}
	}()

	if n := headerBytes(r); n > h.maxHeader {
		hangUp(w, r)
		status = h.respondError(w, rq, op, headerTooLarge(n, h.maxHeader))
		return
	}
	var err error
	rq.body, rq.caller, err = h.verify(w, r)
	if err != nil {
		status = h.respondError(w, rq, op, err)
		return
	}

	if routeErr != nil {
		status = h.respondError(w, rq, op, routeErr)
		return
	}
	rq.labels = labels
	if rq.query, err = url.ParseQuery(rawQuery); err != nil {
		status = h.respondError(w, rq, op, invalidParam("query string", err))
		return
	}
	out, err := h.run(rq, rt)
	if err != nil {
		status = h.respondError(w, rq, op, err)
		return
	}
	status = h.respond(w, rq, op, rt.status, out)
}

// verify reads the body of r and verifies its signature, counting the
// request against its client's cap meanwhile. A client over its cap is
// answered at once: the body is left unread and the connection closed.
func (h *Handler) verify(w http.ResponseWriter, r *http.Request) ([]byte, caller, error) {
	client := clientOf(r.RemoteAddr)
	if !h.unauth.enter(client) {
		hangUp(w, r)
		return nil, caller{}, tooManyRequests(fmt.Errorf("client %v has %d requests being read and verified", client, h.unauth.max))
	}
	defer h.unauth.leave(client)
	body, err := h.readBody(w, r)
	if err != nil {
		return nil, caller{}, err
	}
	if c, ok, err := h.principalCaller(r); ok {
		return body, c, err
	}
	c, err := h.authenticate(r, body)
	if err != nil {
		return nil, caller{}, err
	}
	return body, c, nil
}

// run serves an authenticated request's operation in a slot.
func (h *Handler) run(rq *request, rt route) (any, error) {
	release, err := h.admit(rq.ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return rt.fn(h, rq)
}

// readBody reads the request body up to the limit, under the body's
// read deadline. The deadline is lifted once the body is in, so that it
// cannot cut off the operation (the server watches the connection for
// the client going away); after a failure the connection is closed.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > h.maxBody {
		hangUp(w, r)
		return nil, tooLarge(r.ContentLength, h.maxBody)
	}
	rc := http.NewResponseController(w)
	// A ResponseWriter without deadlines (a test's recorder) reads
	// without one.
	_ = rc.SetReadDeadline(time.Now().Add(h.bodyAllowance(r.ContentLength)))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		hangUp(w, r)
		var tl *http.MaxBytesError
		switch {
		case errors.As(err, &tl):
			return nil, tooLarge(-1, h.maxBody)
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil, badRequest(msgBodyTimeout, fmt.Errorf("reading the request body: %d bytes in %v: %w", len(body), h.bodyAllowance(r.ContentLength), err))
		}
		return nil, badRequest(msgJSON, fmt.Errorf("reading the request body: %w", err))
	}
	_ = rc.SetReadDeadline(time.Time{})
	return body, nil
}

func tooLarge(n, limit int64) error {
	return badRequest(msgTooLarge, fmt.Errorf("request body of %d bytes over the limit of %d", n, limit))
}

// requestTarget returns the path and query of the request as the client
// sent them, still escaped: routing and the signature need the raw form.
func requestTarget(r *http.Request) (path, query string) {
	target := r.RequestURI
	if !strings.HasPrefix(target, "/") {
		// Absolute form (or a request built in a test): use the URL.
		return r.URL.EscapedPath(), r.URL.RawQuery
	}
	path, query, _ = strings.Cut(target, "?")
	return path, query
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}
