package intel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FetchFunc fetches the bytes of the list at location. version is what
// the previous successful fetch of that location returned (an ETag, a
// Last-Modified time, a file's size and modification time), or "" the
// first time; when the content has not changed since, a FetchFunc may
// return a nil body and no error. The caller closes the body.
type FetchFunc func(ctx context.Context, location, version string) (body io.ReadCloser, newVersion string, err error)

// FetchFile is the FetchFunc for local files (a "file://" prefix is
// allowed). A file's version is its size and modification time.
func FetchFile(_ context.Context, location, version string) (io.ReadCloser, string, error) {
	p := strings.TrimPrefix(location, "file://")
	f, err := os.Open(p)
	if err != nil {
		return nil, "", err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, "", err
	}
	if st.IsDir() {
		f.Close()
		return nil, "", fmt.Errorf("%s is a directory", p)
	}
	v := strconv.FormatInt(st.Size(), 10) + "@" + strconv.FormatInt(st.ModTime().UnixNano(), 10)
	if v == version {
		f.Close()
		return nil, v, nil
	}
	return f, v, nil
}

// Spec says where a list is and what it is for.
type Spec struct {
	// Name is reported in findings as threatListName; by default the
	// file name of Location without its extensions.
	Name     string
	Location string // a path, an http(s):// URL or an s3://bucket/key
	Kind     Kind
	Format   Format // FormatUnknown: detect from the content
	// AllowPrivate keeps the entries of a threat or Tor list in private,
	// loopback, link-local, multicast and reserved networks, which are
	// otherwise refused (counted in the report and logged).
	AllowPrivate bool
	// Tor says which Tor nodes a Tor list names, for formats that do not
	// tell (TXT); TorUnknown takes what the format says.
	Tor TorNodes
	// Category is what a threat list declares its domains to be
	// (ParseCategory): DNS findings for them take the category's type
	// instead of MaliciousDomainRequest.Custom. "" for none.
	Category string
}

// DecodeOptions returns the options that decode the list of sp.
func (sp Spec) DecodeOptions(maxSamples int) Options {
	return Options{Name: sp.Name, Location: sp.Location, Kind: sp.Kind, Format: sp.Format,
		MaxSamples: maxSamples, AllowPrivate: sp.AllowPrivate, Tor: sp.Tor, Category: sp.Category}
}

// ParseSpec parses a list given on the command line as
// [NAME=][FORMAT][,OPTION...:]LOCATION, such as
// "botnets=OTX_CSV:s3://bucket/otx.csv",
// "tor_exit:https://check.torproject.org/exit-addresses" or
// "scanners=auto,allow_private:scanners.txt". The options are
// allow_private (keep entries in private and reserved networks),
// category=CATEGORY for a threat list (ParseCategory) and, for a Tor
// list in a format that does not say, relays or exits.
func ParseSpec(kind Kind, s string) (Spec, error) {
	sp := Spec{Kind: kind}
	if i := strings.IndexByte(s, '='); i > 0 && !strings.ContainsAny(s[:i], ":/\\,") {
		sp.Name, s = s[:i], s[i+1:]
	}
	if i := strings.IndexByte(s, ':'); i > 0 && !strings.HasPrefix(s[i:], "://") {
		format, opts, _ := strings.Cut(s[:i], ",")
		f, err := ParseFormat(format)
		if err != nil {
			return sp, err
		}
		sp.Format, s = f, s[i+1:]
		if err := sp.setOptions(opts); err != nil {
			return sp, err
		}
	}
	if s == "" {
		return sp, errors.New("list without a location")
	}
	sp.Location = s
	if sp.Name == "" {
		sp.Name = DefaultName(s)
	}
	return sp, nil
}

// setOptions applies the comma-separated options of a list spec.
func (sp *Spec) setOptions(opts string) error {
	for o := range strings.SplitSeq(opts, ",") {
		switch n := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(o)), "-", "_"); n {
		case "":
		case "allow_private":
			sp.AllowPrivate = true
		case "relays", "exits":
			if sp.Kind != KindTor {
				return fmt.Errorf("list option %q is for Tor lists", o)
			}
			sp.Tor, _ = ParseTorNodes(n)
		default:
			if v, ok := strings.CutPrefix(n, "category="); ok {
				if sp.Kind != KindThreat {
					return fmt.Errorf("list option %q is for threat lists", o)
				}
				c, err := ParseCategory(v)
				if err != nil {
					return err
				}
				sp.Category = c
				continue
			}
			return fmt.Errorf("unknown list option %q (known: allow_private, category=CATEGORY, relays, exits)", o)
		}
	}
	return nil
}

// DefaultName names a list after its location: the last path element
// without compression and format extensions ("ipsum" for
// https://.../ipsum.txt.gz).
func DefaultName(location string) string {
	loc := location
	if i := strings.IndexAny(loc, "?#"); i >= 0 && strings.Contains(loc, "://") {
		loc = loc[:i]
	}
	base := path.Base(strings.ReplaceAll(strings.TrimRight(loc, "/"), "\\", "/"))
	for _, ext := range []string{".gz", ".txt", ".csv", ".xml", ".json", ".lst", ".list", ".ipset", ".netset", ".stix"} {
		base = strings.TrimSuffix(base, ext)
	}
	if base == "" || base == "." || base == "/" {
		return location
	}
	return base
}

// Config configures a Loader.
type Config struct {
	Lists []Spec
	// Fetch fetches list bytes; nil reads local files only.
	Fetch FetchFunc
	// Log receives a line for each failed list and each refresh that
	// changed something; nil discards them.
	Log *slog.Logger
	// MaxSamples bounds the bad entries each report keeps (0: 20).
	MaxSamples int
}

// Loader loads lists, keeps the Set built from them behind an atomic
// pointer and refreshes them. Lookups read the current Set and never wait
// for a refresh. A list that fails to refresh (unreachable, unreadable,
// cut short, or without a single entry) keeps its last good version; the
// failure is logged and counted.
type Loader struct {
	cfg   Config
	cur   atomic.Pointer[Set]
	mu    sync.Mutex // serializes loads and refreshes
	lists []listState

	refreshes atomic.Uint64
	failures  atomic.Uint64
	swaps     atomic.Uint64
}

type listState struct {
	spec     Spec
	good     *List // the last good version, nil before the first
	version  string
	failures uint64
	lastErr  string
}

// NewLoader returns a loader of the lists in cfg, with an empty Set until
// Load. Two lists may not share a name.
func NewLoader(cfg Config) (*Loader, error) {
	if cfg.Fetch == nil {
		cfg.Fetch = FetchFile
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	l := &Loader{cfg: cfg}
	seen := map[string]bool{}
	var errs []error
	for _, sp := range cfg.Lists {
		if sp.Location == "" {
			errs = append(errs, fmt.Errorf("%s list %q has no location", sp.Kind, sp.Name))
			continue
		}
		if sp.Name == "" {
			sp.Name = DefaultName(sp.Location)
		}
		if seen[sp.Name] {
			errs = append(errs, fmt.Errorf("two lists are named %q: name them with NAME=LOCATION", sp.Name))
			continue
		}
		seen[sp.Name] = true
		l.lists = append(l.lists, listState{spec: sp})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	l.cur.Store(Build(nil))
	return l, nil
}

// Load fetches and decodes every list and swaps in the Set built from
// them. It fails, naming each list, if any list cannot be fetched or has
// no usable entry: a list that silently does nothing is worse than an
// error at start. Lists cut short are used as far as they go and logged.
func (l *Loader) Load(ctx context.Context) ([]Report, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	reports := make([]Report, 0, len(l.lists))
	for i := range l.lists {
		st := &l.lists[i]
		list, version, err := l.fetch(ctx, st.spec, "")
		if list != nil {
			reports = append(reports, list.Report)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if list.Incomplete != "" {
			l.cfg.Log.Warn("intel list incomplete", "list", st.spec.Name, "location", st.spec.Location, "reason", list.Incomplete, "entries", list.Entries)
		}
		st.good, st.version = list, version
	}
	if err := errors.Join(errs...); err != nil {
		return reports, err
	}
	l.swap()
	return reports, nil
}

// fetch fetches and decodes one list. It returns a nil list and no error
// when the content is unchanged since version.
func (l *Loader) fetch(ctx context.Context, sp Spec, version string) (*List, string, error) {
	body, v, err := l.cfg.Fetch(ctx, sp.Location, version)
	if err != nil {
		return nil, version, &ListError{Name: sp.Name, Where: sp.Location, Kind: sp.Kind, Reason: "cannot fetch", Err: err}
	}
	if body == nil {
		return nil, v, nil
	}
	defer body.Close()
	list, err := Decode(body, sp.DecodeOptions(l.cfg.MaxSamples))
	if list != nil && list.Refused > 0 {
		l.cfg.Log.Warn("intel list entries in private or reserved networks refused", "list", sp.Name, "location", sp.Location,
			"refused", list.Refused, "first", list.RefusedSample, "hint", "the allow_private list option keeps them")
	}
	return list, v, err
}

func (l *Loader) swap() {
	lists := make([]*List, 0, len(l.lists))
	for _, st := range l.lists {
		if st.good != nil {
			lists = append(lists, st.good)
		}
	}
	l.cur.Store(Build(lists))
	l.swaps.Add(1)
}

// Refresh fetches every list again and swaps in a new Set if any changed.
// A list that fails keeps its last good version; the failures are
// returned (joined) as well as logged and counted.
func (l *Loader) Refresh(ctx context.Context) (changed bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refreshes.Add(1)
	var errs []error
	for i := range l.lists {
		st := &l.lists[i]
		list, version, err := l.fetch(ctx, st.spec, st.version)
		if err == nil && list != nil && list.Incomplete != "" {
			err = &ListError{Report: &list.Report, Name: st.spec.Name, Where: st.spec.Location, Kind: st.spec.Kind, Reason: list.Incomplete}
		}
		if err != nil {
			st.failures++
			st.lastErr = err.Error()
			l.failures.Add(1)
			kept := 0
			if st.good != nil {
				kept = st.good.Entries
			}
			l.cfg.Log.Warn("intel list refresh failed; keeping the last good version", "list", st.spec.Name, "location", st.spec.Location, "error", err, "entries_kept", kept)
			errs = append(errs, err)
			continue
		}
		st.version = version
		if list == nil || st.good != nil && list.SHA256 == st.good.SHA256 {
			continue // not modified
		}
		st.good, st.lastErr = list, ""
		changed = true
		l.cfg.Log.Info("intel list updated", "list", st.spec.Name, "entries", list.Entries, "errors", list.Errors)
	}
	if changed {
		l.swap()
	}
	return changed, errors.Join(errs...)
}

// Run refreshes the lists every interval until ctx is done.
func (l *Loader) Run(ctx context.Context, every time.Duration) {
	RefreshEvery(ctx, every, func(ctx context.Context) { l.Refresh(ctx) })
}

// RefreshEvery calls refresh every interval until ctx is done; an interval
// of zero or less never calls it. It is the schedule of Loader.Run, and of
// a refresher that swaps whole loaders and so cannot run one of them
// (intel/live).
func RefreshEvery(ctx context.Context, every time.Duration, refresh func(context.Context)) {
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			refresh(ctx)
		}
	}
}

// Set returns the current Set.
func (l *Loader) Set() *Set { return l.cur.Load() }

// Trusted reports whether a trusted list covers addr.
func (l *Loader) Trusted(addr netip.Addr) bool { return l.cur.Load().Trusted(addr) }

// Threat returns what the threat and Tor lists say of addr.
func (l *Loader) Threat(addr netip.Addr) (*Match, bool) { return l.cur.Load().Threat(addr) }

// TrustedDomain reports whether a trusted list names domain or a parent.
func (l *Loader) TrustedDomain(domain string) bool { return l.cur.Load().TrustedDomain(domain) }

// ThreatDomain returns what the threat lists say of domain.
func (l *Loader) ThreatDomain(domain string) (*Match, bool) { return l.cur.Load().ThreatDomain(domain) }

// Stats counts what a Loader did.
type Stats struct {
	Refreshes uint64 // refresh rounds
	Failures  uint64 // list refreshes that failed and kept the last good version
	Swaps     uint64 // sets swapped in, the first load included
	Lists     []ListStatus
}

// ListStatus is the state of one list.
type ListStatus struct {
	Spec      Spec
	Report    Report // of the version in use
	Loaded    bool   // a good version is in use
	Failures  uint64
	LastError string // of the latest refresh, if it failed
}

// Stats returns the loader's counts and the state of each list.
func (l *Loader) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := Stats{Refreshes: l.refreshes.Load(), Failures: l.failures.Load(), Swaps: l.swaps.Load()}
	for _, st := range l.lists {
		ls := ListStatus{Spec: st.spec, Failures: st.failures, LastError: st.lastErr, Loaded: st.good != nil}
		if st.good != nil {
			ls.Report = st.good.Report
		}
		s.Lists = append(s.Lists, ls)
	}
	return s
}
