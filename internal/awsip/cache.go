package awsip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// DefaultURL is where AWS publishes ip-ranges.json.
const DefaultURL = "https://ip-ranges.amazonaws.com/ip-ranges.json"

// CacheFile is the name of the fetched copy in its directory.
const CacheFile = "ip-ranges.json"

// The defaults of a Cache.
const (
	// DefaultMaxAge is how old a copy may be before it is fetched again.
	// AWS publishes a new file several times a week, so a day keeps the
	// copy close to current at one small request a day (a conditional
	// one: an unchanged file is not sent again).
	DefaultMaxAge = 24 * time.Hour
	// DefaultTimeout bounds connecting to the server and waiting for its
	// answer's header, so that a machine without network waits a few
	// seconds at most.
	DefaultTimeout = 4 * time.Second
	// DefaultBodyTimeout bounds the whole request, the body included
	// (the file was about 2 MB in 2024).
	DefaultBodyTimeout = 30 * time.Second
	// maxDocument bounds what is read from the server.
	maxDocument = 64 << 20
)

// Cache keeps a copy of ip-ranges.json in a directory and fetches a new
// one when the copy is missing or older than MaxAge. A fetched document
// replaces the copy only when it parses and carries prefixes, and it
// replaces it whole (a temporary file renamed over it), so a reader never
// sees half a file and a bad download never costs the last good copy.
//
// Only the fields Dir and, to fetch, URL are required. Several processes
// may share a directory: each writes its own temporary file and the
// rename is atomic.
type Cache struct {
	// Dir holds the copy, as CacheFile. It is created (0700) when a
	// copy is first written.
	Dir string
	// URL is where the file is fetched from (DefaultURL in production,
	// a test server in tests). Empty fetches nothing: the copy in Dir
	// is used however old it is.
	URL string
	// Client makes the requests; nil means one with the timeouts above
	// that honours the proxy environment variables.
	Client *http.Client
	// MaxAge is how long a copy is used before it is fetched again
	// (DefaultMaxAge when 0).
	MaxAge time.Duration
	// Timeout bounds connecting and waiting for the answer's header
	// (DefaultTimeout when 0); the whole request takes at most
	// DefaultBodyTimeout or Timeout, whichever is longer.
	Timeout time.Duration
	// Log receives what was fetched and what failed; nil discards it.
	Log *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Origin says where the ranges in use came from.
type Origin string

// The origins of a Status.
const (
	// OriginNone: no ranges; Status.Problem says why.
	OriginNone Origin = ""
	// OriginCache: the copy in the directory, young enough or confirmed
	// current by the server.
	OriginCache Origin = "cache"
	// OriginFetched: a new copy, fetched now.
	OriginFetched Origin = "fetched"
	// OriginStale: the copy in the directory, older than MaxAge, because
	// a new one could not be fetched; Status.Problem says why.
	OriginStale Origin = "stale"
)

// Status is what Load and Refresh found.
type Status struct {
	// Table is the ranges, nil when there are none.
	Table *Table
	// Origin says where Table came from.
	Origin Origin
	// Path is the file Table was read from ("" when none).
	Path string
	// Checked is when the copy was last fetched or confirmed current by
	// the server (zero when none).
	Checked time.Time
	// Problem says why there is no table, or why the table is stale,
	// or why a fetched document was refused; nil when all went well.
	Problem error
}

// Load returns the ranges: the copy in the directory when it is younger
// than MaxAge, else a new one fetched from URL, else the old copy with
// the failure in Status.Problem, else no ranges with the reason. It
// never fails outright and waits for the network a few seconds at most.
func (c *Cache) Load(ctx context.Context) Status {
	cached := c.readCopy()
	if cached.Table != nil && c.now().Sub(cached.Checked) < c.maxAge() {
		return cached
	}
	if c.URL == "" {
		if cached.Table != nil {
			return cached
		}
		if cached.Problem == nil {
			cached.Problem = errors.New("no copy of AWS ip-ranges.json and fetching is off")
		}
		return cached
	}
	return c.fetch(ctx, cached)
}

// Refresh fetches a new copy now, whatever the age of the one in the
// directory (with a conditional request: an unchanged file is not sent
// again), and returns what is in use afterwards, as Load does.
func (c *Cache) Refresh(ctx context.Context) Status {
	cached := c.readCopy()
	if c.URL == "" {
		return cached
	}
	return c.fetch(ctx, cached)
}

// Run looks at the copy every interval until ctx is done and, as Load
// does, fetches a new one when it is older than MaxAge (so a failed
// fetch is tried again at the next look), calling fetched, if set, with
// each new table. A failure keeps the copy, and is logged.
func (c *Cache) Run(ctx context.Context, interval time.Duration, fetched func(*Table)) {
	if c.URL == "" || interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if st := c.Load(ctx); st.Origin == OriginFetched && fetched != nil {
			fetched(st.Table)
		}
	}
}

// DefaultCheck is how often a running service looks at its copy's age:
// an hour, so that the copy is fetched again within an hour of turning
// a day old, and a failed fetch is tried again hourly.
const DefaultCheck = time.Hour

// Path returns the path of the copy.
func (c *Cache) Path() string { return filepath.Join(c.Dir, CacheFile) }

// readCopy reads the copy in the directory. A copy that does not parse
// (written by hand, or cut short by a full disk outside picket) is
// reported and otherwise treated as missing: a new one replaces it.
func (c *Cache) readCopy() Status {
	path := c.Path()
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Status{}
	}
	if err != nil {
		return Status{Problem: fmt.Errorf("reading the copy of AWS ip ranges: %w", err)}
	}
	t, err := Load(path)
	if err != nil {
		c.log().Warn("the copy of AWS ip ranges is unusable; fetching a new one", "path", path, "error", err.Error())
		return Status{Problem: err}
	}
	return Status{Table: t, Origin: OriginCache, Path: path, Checked: fi.ModTime()}
}

// fetch asks the server for a document newer than the copy and returns
// what is in use afterwards.
func (c *Cache) fetch(ctx context.Context, cached Status) Status {
	fallback := func(err error) Status {
		if cached.Table == nil {
			c.log().Warn("no AWS ip ranges: fetching failed and there is no copy", "url", c.URL, "error", err.Error())
			return Status{Problem: err}
		}
		c.log().Warn("using an old copy of AWS ip ranges: fetching failed", "url", c.URL, "path", cached.Path,
			"checked", cached.Checked.UTC().Format(time.RFC3339), "error", err.Error())
		cached.Origin = OriginStale
		if c.now().Sub(cached.Checked) < c.maxAge() {
			// Refresh fails on a copy that is still young: it stays
			// as good as it was.
			cached.Origin = OriginCache
		}
		cached.Problem = err
		return cached
	}
	body, notModified, err := c.get(ctx, cached.Checked)
	if err != nil {
		return fallback(err)
	}
	if notModified {
		if cached.Table == nil {
			return fallback(fmt.Errorf("fetching %s: the server answered 304 Not Modified to an unconditional request", c.URL))
		}
		now := c.now()
		if err := os.Chtimes(cached.Path, now, now); err != nil {
			c.log().Warn("marking the copy of AWS ip ranges as current", "path", cached.Path, "error", err.Error())
		}
		cached.Origin, cached.Checked, cached.Problem = OriginCache, now, nil
		c.log().Debug("AWS ip ranges unchanged", "url", c.URL, "ranges", cached.Table.String())
		return cached
	}
	t, err := Parse(bytes.NewReader(body))
	if err != nil {
		return fallback(fmt.Errorf("refused the document from %s: %w", c.URL, err))
	}
	if cached.Table != nil && older(t.SyncToken(), cached.Table.SyncToken()) {
		return fallback(fmt.Errorf("refused the document from %s: its syncToken %s is older than the copy's %s", c.URL, t.SyncToken(), cached.Table.SyncToken()))
	}
	now := c.now()
	if err := c.write(body, now); err != nil {
		// The new ranges are good; only keeping them failed. Callers
		// that read the file get the old copy, if there is one.
		if cached.Table != nil {
			return fallback(err)
		}
		c.log().Warn("keeping the fetched AWS ip ranges", "path", c.Path(), "error", err.Error())
		return Status{Table: t, Origin: OriginFetched, Checked: now, Problem: err}
	}
	c.log().Info("fetched AWS ip ranges", "url", c.URL, "ranges", t.String(), "sync_token", t.SyncToken())
	return Status{Table: t, Origin: OriginFetched, Path: c.Path(), Checked: now}
}

// get fetches the document, conditionally on it having changed since
// since when that is set.
func (c *Cache) get(ctx context.Context, since time.Time) (body []byte, notModified bool, err error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, max(timeout, DefaultBodyTimeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL, nil)
	if err != nil {
		return nil, false, fmt.Errorf("fetching AWS ip ranges: %w", err)
	}
	req.Header.Set("User-Agent", "picket")
	if !since.IsZero() {
		req.Header.Set("If-Modified-Since", since.UTC().Format(http.TimeFormat))
	}
	client := c.Client
	if client == nil {
		client = newClient(timeout)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, false, fmt.Errorf("fetching AWS ip ranges: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && !since.IsZero():
		return nil, true, nil
	case resp.StatusCode != http.StatusOK:
		return nil, false, fmt.Errorf("fetching %s: %s", c.URL, resp.Status)
	}
	body, err = io.ReadAll(io.LimitReader(resp.Body, maxDocument+1))
	if err != nil {
		return nil, false, fmt.Errorf("fetching %s: %w", c.URL, err)
	}
	if len(body) > maxDocument {
		return nil, false, fmt.Errorf("fetching %s: the document is larger than %d MiB", c.URL, maxDocument>>20)
	}
	return body, false, nil
}

// newClient is the default client: short timeouts for connecting and
// for the answer's header, the proxy from the environment.
func newClient(timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: timeout}).DialContext
	tr.TLSHandshakeTimeout = timeout
	tr.ResponseHeaderTimeout = timeout
	return &http.Client{Transport: tr}
}

// write replaces the copy with data, whole or not at all, and dates it
// checked.
func (c *Cache) write(data []byte, checked time.Time) error {
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return fmt.Errorf("creating the directory of AWS ip ranges: %w", err)
	}
	path := c.Path()
	tmp, err := os.CreateTemp(c.Dir, "."+CacheFile+".*")
	if err != nil {
		return fmt.Errorf("writing AWS ip ranges: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a failure; a renamed file is gone
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing AWS ip ranges %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing AWS ip ranges %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing AWS ip ranges %s: %w", tmp.Name(), err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("writing AWS ip ranges %s: %w", tmp.Name(), err)
	}
	if err := os.Chtimes(tmp.Name(), checked, checked); err != nil {
		return fmt.Errorf("writing AWS ip ranges %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replacing AWS ip ranges %s: %w", path, err)
	}
	return nil
}

// older reports whether syncToken a is older than b. AWS's tokens are
// Unix times; tokens that are not numbers are not compared.
func older(a, b string) bool {
	x, err1 := strconv.ParseInt(a, 10, 64)
	y, err2 := strconv.ParseInt(b, 10, 64)
	return err1 == nil && err2 == nil && x < y
}

func (c *Cache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Cache) maxAge() time.Duration {
	if c.MaxAge > 0 {
		return c.MaxAge
	}
	return DefaultMaxAge
}

func (c *Cache) log() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.New(slog.DiscardHandler)
}
