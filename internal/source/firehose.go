package source

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
)

// Firehose serves the Amazon Data Firehose HTTP endpoint delivery
// protocol (version 1.0): a POST whose JSON body is {"requestId",
// "timestamp", "records":[{"data": base64}]}, with the shared access key
// in X-Amz-Firehose-Access-Key, answered {"requestId","timestamp"} with
// 200 once the records are safe, or with an error status and
// {"requestId","timestamp","errorMessage"}, after which Firehose retries
// the same request (same request ID) until its retry duration runs out.
//
// A request is acknowledged only after its records have been committed:
// Deliver (the ingest loop) returns once the commit that holds their
// effect on the detectors, and the request ID in this source's
// checkpoint, has succeeded. The checkpoint remembers the IDs of recently
// committed requests, so a retry of a request whose 200 was lost is
// acknowledged without being counted twice; a retry of a request that
// was never committed (the service crashed) is processed afresh.
type Firehose struct {
	cfg FirehoseConfig

	mu        sync.Mutex
	committed map[string]int64 // request ID -> commit time (Unix seconds)
	processed []string         // in the detectors' state, not yet committed
	dirty     bool
	closed    bool
}

// FirehoseConfig configures the endpoint.
type FirehoseConfig struct {
	// AccessKeys are the accepted X-Amz-Firehose-Access-Key values; empty
	// accepts any request (only with the service's insecure mode).
	AccessKeys []string
	// MaxBodyBytes bounds the request body, after gzip decoding.
	MaxBodyBytes int64
	// AckTimeout bounds how long Deliver may take before the request is
	// answered 503 (Firehose itself gives up after three minutes).
	AckTimeout time.Duration
	// Defaults apply to records that name no account or region, when the
	// request's source ARN does not name them either.
	Defaults Defaults
	// Deliver hands a request's records to the ingest loop and returns
	// once they are committed.
	Deliver func(ctx context.Context, d *Delivery) error
	// Observe, if set, is told the status of every answered request.
	Observe func(status int)
	Log     *slog.Logger
	Now     func() time.Time
}

// Delivery is one Firehose request's records.
type Delivery struct {
	RequestID string
	// SourceARN is the Firehose stream's ARN, when the request says.
	SourceARN string
	// Records holds each record's data, base64-decoded. A record is one
	// or more flow log lines, CloudTrail JSON, or a CloudWatch Logs
	// subscription payload (which may be gzip).
	Records  [][]byte
	Defaults Defaults
}

// Name names the record i of the delivery in messages and origins.
func (d *Delivery) Name(i int) string {
	return "firehose:" + d.RequestID + "#" + strconv.Itoa(i+1)
}

// ErrShuttingDown is what Deliver returns once the service stops taking
// records; the request is answered 503 and Firehose retries it later.
var ErrShuttingDown = errors.New("the service is shutting down")

// keepCommitted is how long a committed request ID is remembered:
// Firehose retries for at most two hours.
const keepCommitted = 2*time.Hour + 10*time.Minute

// maxCommitted bounds the IDs remembered.
const maxCommitted = 100_000

// NewFirehose returns the endpoint.
func NewFirehose(cfg FirehoseConfig) *Firehose {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 96 << 20
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = 150 * time.Second
	}
	return &Firehose{cfg: cfg, committed: map[string]int64{}}
}

// CheckpointName is the name of the endpoint's checkpoint.
const CheckpointName = "firehose"

// Name names the source in logs and metrics.
func (f *Firehose) Name() string { return CheckpointName }

// Owns reports whether a checkpoint is the endpoint's.
func (f *Firehose) Owns(name string) bool { return name == CheckpointName }

type firehoseCheckpoint struct {
	// Committed lists request IDs with their commit time, oldest first.
	Committed []firehoseID `json:"committed"`
}

type firehoseID struct {
	ID string `json:"id"`
	At int64  `json:"at"`
}

// Restore loads the committed request IDs.
func (f *Firehose) Restore(cps []Checkpoint) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, cp := range cps {
		if cp.Name != CheckpointName {
			continue
		}
		var c firehoseCheckpoint
		if err := json.Unmarshal(cp.Data, &c); err != nil {
			return fmt.Errorf("restoring checkpoint %q: %w", cp.Name, err)
		}
		for _, id := range c.Committed {
			f.committed[id.ID] = id.At
		}
	}
	return nil
}

// Seen reports whether a request's records were already processed, in a
// committed batch or in the one being gathered.
func (f *Firehose) Seen(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.committed[id]
	return ok || slices.Contains(f.processed, id)
}

// Committed reports whether a request is in a committed batch.
func (f *Firehose) Committed(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.committed[id]
	return ok
}

// Processed records that a request's records are in the detectors' state;
// the next checkpoint counts it as committed.
func (f *Firehose) Processed(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.processed = append(f.processed, id)
	f.dirty = true
}

// Checkpoints returns the endpoint's checkpoint if it changed: the
// committed request IDs, including those processed since the last call
// (the batch that carries this checkpoint carries their effect).
func (f *Firehose) Checkpoints() []Checkpoint {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.dirty {
		return nil
	}
	now := f.cfg.Now().Unix()
	for _, id := range f.processed {
		f.committed[id] = now
	}
	f.processed = f.processed[:0]
	ids := make([]firehoseID, 0, len(f.committed))
	for id, at := range f.committed {
		if now-at > int64(keepCommitted/time.Second) {
			delete(f.committed, id)
			continue
		}
		ids = append(ids, firehoseID{id, at})
	}
	slices.SortFunc(ids, func(a, b firehoseID) int {
		if a.At != b.At {
			return int(a.At - b.At)
		}
		return strings.Compare(a.ID, b.ID)
	})
	if len(ids) > maxCommitted {
		for _, id := range ids[:len(ids)-maxCommitted] {
			delete(f.committed, id.ID)
		}
		ids = ids[len(ids)-maxCommitted:]
	}
	b, err := json.Marshal(firehoseCheckpoint{Committed: ids})
	if err != nil {
		panic(err)
	}
	f.dirty = false
	return []Checkpoint{{Name: CheckpointName, Data: b}}
}

// Close makes the endpoint answer 503 from now on.
func (f *Firehose) Close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
}

// The header names of the protocol.
const (
	headerRequestID = "X-Amz-Firehose-Request-Id"
	headerAccessKey = "X-Amz-Firehose-Access-Key"
	headerSourceARN = "X-Amz-Firehose-Source-Arn"
)

type firehoseRequest struct {
	RequestID string `json:"requestId"`
	Timestamp int64  `json:"timestamp"`
	Records   []struct {
		Data *string `json:"data"`
	} `json:"records"`
}

type firehoseResponse struct {
	RequestID    string `json:"requestId"`
	Timestamp    int64  `json:"timestamp"`
	ErrorMessage string `json:"errorMessage,omitempty"`
}

// ServeHTTP answers one delivery request.
func (f *Firehose) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get(headerRequestID)
	status, msg := f.serve(w, r, &id)
	resp := firehoseResponse{RequestID: id, Timestamp: f.cfg.Now().UnixMilli(), ErrorMessage: msg}
	body, _ := json.Marshal(resp)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", http.MethodPost)
	}
	w.WriteHeader(status)
	w.Write(body)
	if f.cfg.Observe != nil {
		f.cfg.Observe(status)
	}
	level := slog.LevelDebug
	if status != http.StatusOK {
		level = slog.LevelWarn
	}
	f.cfg.Log.Log(r.Context(), level, "firehose request", "request_id", id, "status", status, "error", msg)
}

func (f *Firehose) serve(w http.ResponseWriter, r *http.Request, id *string) (int, string) {
	if r.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, "only POST is allowed"
	}
	if !f.authorized(r.Header.Get(headerAccessKey)) {
		return http.StatusUnauthorized, "missing or invalid access key in " + headerAccessKey
	}
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	if closed {
		return http.StatusServiceUnavailable, ErrShuttingDown.Error()
	}
	if r.ContentLength > f.cfg.MaxBodyBytes && r.Header.Get("Content-Encoding") == "" {
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("request body of %d bytes is over the limit of %d", r.ContentLength, f.cfg.MaxBodyBytes)
	}
	var body io.Reader = http.MaxBytesReader(w, r.Body, f.cfg.MaxBodyBytes)
	switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return http.StatusBadRequest, "request body is not gzip: " + err.Error()
		}
		defer zr.Close()
		body = zr
	default:
		return http.StatusUnsupportedMediaType, fmt.Sprintf("unsupported Content-Encoding %q", enc)
	}
	data, err := io.ReadAll(io.LimitReader(body, f.cfg.MaxBodyBytes+1))
	if int64(len(data)) > f.cfg.MaxBodyBytes {
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is over the limit of %d bytes", f.cfg.MaxBodyBytes)
	}
	if err != nil {
		var tl *http.MaxBytesError
		if errors.As(err, &tl) {
			return http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is over the limit of %d bytes", f.cfg.MaxBodyBytes)
		}
		return http.StatusBadRequest, "reading the request body: " + err.Error()
	}
	var req firehoseRequest
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&req); err != nil {
		return http.StatusBadRequest, "request body is not a Firehose delivery request: " + jsonProblem(err)
	}
	if dec.More() {
		return http.StatusBadRequest, "request body has data after the JSON object"
	}
	if *id == "" {
		*id = req.RequestID
	}
	if *id == "" {
		return http.StatusBadRequest, "no request ID: neither " + headerRequestID + " nor requestId is set"
	}
	if req.RequestID != "" && req.RequestID != *id {
		return http.StatusBadRequest, fmt.Sprintf("requestId %q differs from %s %q", req.RequestID, headerRequestID, *id)
	}
	if req.Records == nil {
		return http.StatusBadRequest, "request body has no records"
	}
	d := &Delivery{RequestID: *id, SourceARN: r.Header.Get(headerSourceARN), Defaults: f.cfg.Defaults, Records: make([][]byte, len(req.Records))}
	if acct, region, ok := parseStreamARN(d.SourceARN); ok {
		d.Defaults.Account, d.Defaults.Region = acct, region
	}
	for i, rec := range req.Records {
		if rec.Data == nil {
			return http.StatusBadRequest, fmt.Sprintf("record %d has no data", i+1)
		}
		b, err := base64.StdEncoding.DecodeString(*rec.Data)
		if err != nil {
			return http.StatusBadRequest, fmt.Sprintf("record %d: data is not base64: %v", i+1, err)
		}
		d.Records[i] = b
	}
	ctx, cancel := context.WithTimeout(r.Context(), f.cfg.AckTimeout)
	defer cancel()
	switch err := f.cfg.Deliver(ctx, d); {
	case err == nil:
		return http.StatusOK, ""
	case errors.Is(err, ErrShuttingDown):
		return http.StatusServiceUnavailable, ErrShuttingDown.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "the records were not committed in time; retry"
	case errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable, "request canceled"
	default:
		f.cfg.Log.Error("firehose delivery failed", "request_id", *id, "error", err)
		return http.StatusInternalServerError, "the records could not be committed; retry"
	}
}

func (f *Firehose) authorized(key string) bool {
	if len(f.cfg.AccessKeys) == 0 {
		return true
	}
	ok := 0
	for _, k := range f.cfg.AccessKeys {
		ok |= subtle.ConstantTimeCompare([]byte(key), []byte(k))
	}
	return ok == 1
}

// parseStreamARN reads the account and region of a Firehose stream ARN,
// arn:aws:firehose:us-east-1:123456789012:deliverystream/name.
func parseStreamARN(arn string) (account, region string, ok bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "firehose" || parts[3] == "" || !digits(parts[4], 12) {
		return "", "", false
	}
	return parts[4], parts[3], true
}

func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q: want %s, got %s", te.Field, te.Type, te.Value)
	case errors.Is(err, io.EOF):
		return "empty body"
	}
	return err.Error()
}
