package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"picket/internal/api"
	"picket/internal/detect"
	"picket/internal/intel"
	"picket/internal/intel/fetch"
	"picket/internal/metrics"
	"picket/internal/store"
)

// serveIntel is the threat intelligence of picket serve: the trusted
// lists (IPSets, trusted entity sets) and threat lists (ThreatIntelSets,
// threat entity sets) activated through the API. To the API it is the
// SetLoader that loads and retires lists in the background; to the
// detectors it is detect.Intel over the current intel.Loader, which every
// change of lists replaces whole, atomically. Lists apply to the records
// of every account and region (detect.Intel has no notion of a detector).
type serveIntel struct {
	fetch    *fetch.Fetcher
	log      *slog.Logger
	timeout  time.Duration
	filesDir string // local files allowed under it ("" for none)

	mu    sync.Mutex
	lists map[string]intel.Spec // by detector/kind/ID
	// build serializes rebuilds, so that the last one sees every change.
	build sync.Mutex
	cur   atomic.Pointer[intel.Loader]
	wg    sync.WaitGroup

	// The counters of refreshes of the lists in use.
	refreshes, refreshFailures, refreshUpdates atomic.Uint64
}

var (
	_ api.SetLoader       = (*serveIntel)(nil)
	_ api.LocationChecker = (*serveIntel)(nil)
	_ detect.Intel        = (*serveIntel)(nil)
	_ detect.DomainIntel  = (*serveIntel)(nil)
)

func newServeIntel(log *slog.Logger, filesDir string) *serveIntel {
	if filesDir != "" {
		if abs, err := filepath.Abs(filesDir); err == nil {
			filesDir = abs
		}
	}
	return &serveIntel{fetch: fetch.New(fetch.Options{}), log: log, timeout: 5 * time.Minute, lists: map[string]intel.Spec{}, filesDir: filesDir}
}

// CheckLocation vets a list's location before the API stores it: an
// s3:// or https:// URL, or a local file under intel.files_dir.
func (si *serveIntel) CheckLocation(_ context.Context, location, _ string) error {
	return si.allowed(location)
}

func (si *serveIntel) allowed(location string) error {
	lower := strings.ToLower(location)
	if strings.HasPrefix(lower, "s3://") || strings.HasPrefix(lower, "https://") {
		return nil
	}
	if strings.Contains(location, "://") {
		return fmt.Errorf("location %q: only s3:// and https:// locations are accepted", location)
	}
	path := strings.TrimPrefix(location, "file:")
	if si.filesDir == "" {
		return fmt.Errorf("location %q: local files are not accepted (the service's intel.files_dir allows them under a directory)", location)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	// Symbolic links are resolved, so that a link cannot lead out.
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	dir := si.filesDir
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	if rel, err := filepath.Rel(dir, abs); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("location %q: local files are accepted only under %s", location, si.filesDir)
	}
	return nil
}

func setKey(s store.Set) string { return s.DetectorID + "/" + string(s.Kind) + "/" + s.ID }

// specOf says what a list resource is for intel.
func specOf(s store.Set) (intel.Spec, error) {
	kind := intel.KindThreat
	if s.Kind == store.IPSet || s.Kind == store.TrustedEntitySet {
		kind = intel.KindTrusted
	}
	f, err := intel.ParseFormat(s.Format)
	if err != nil {
		return intel.Spec{}, err
	}
	return intel.Spec{Name: s.Name, Location: s.Location, Kind: kind, Format: f}, nil
}

// Load checks the list on its own (so that an error names it), then
// rebuilds the lists in use with it; done reports the outcome.
func (si *serveIntel) Load(s store.Set, done func(error)) {
	spec, err := specOf(s)
	if err == nil {
		err = si.allowed(s.Location)
	}
	if err != nil {
		done(err)
		return
	}
	si.wg.Add(1)
	go func() {
		defer si.wg.Done()
		if err := si.check(spec); err != nil {
			done(err)
			return
		}
		si.mu.Lock()
		si.lists[setKey(s)] = spec
		si.mu.Unlock()
		done(si.rebuild())
	}()
}

// Unload retires a list.
func (si *serveIntel) Unload(s store.Set) {
	si.mu.Lock()
	_, had := si.lists[setKey(s)]
	delete(si.lists, setKey(s))
	si.mu.Unlock()
	if !had {
		return
	}
	si.wg.Add(1)
	go func() {
		defer si.wg.Done()
		if err := si.rebuild(); err != nil {
			si.log.Error("threat intelligence: rebuilding the lists after retiring one", "list", s.Name, "error", err)
		}
	}()
}

// check fetches and decodes one list.
func (si *serveIntel) check(spec intel.Spec) error {
	ctx, cancel := context.WithTimeout(context.Background(), si.timeout)
	defer cancel()
	_, errs := CheckLists(ctx, []intel.Spec{spec}, IntelOptions{Log: si.log})
	return errs[0]
}

// rebuild loads every list in use into a new loader and swaps it in.
// Lists that share a name get a suffix, as a loader needs unique names.
func (si *serveIntel) rebuild() error {
	si.build.Lock()
	defer si.build.Unlock()
	si.mu.Lock()
	keys := make([]string, 0, len(si.lists))
	for k := range si.lists {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	specs := make([]intel.Spec, 0, len(keys))
	names := map[string]int{}
	for _, k := range keys {
		sp := si.lists[k]
		if n := names[sp.Name]; n > 0 {
			names[sp.Name]++
			sp.Name = fmt.Sprintf("%s (%d)", sp.Name, n+1)
		} else {
			names[sp.Name] = 1
		}
		specs = append(specs, sp)
	}
	si.mu.Unlock()
	if len(specs) == 0 {
		si.cur.Store(nil)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), si.timeout)
	defer cancel()
	l, _, err := LoadIntel(ctx, specs, IntelOptions{Log: si.log})
	if err != nil {
		return err
	}
	si.cur.Store(l)
	si.log.Info("threat intelligence lists in use", "lists", len(specs))
	return nil
}

// restore loads the lists the store says are active, before ingest
// starts, so that a restart detects as the run before it did. A list
// that cannot be loaded any more is marked ERROR.
func (si *serveIntel) restore(ctx context.Context, st store.Store) error {
	var dets []string
	for cursor := ""; ; {
		ids, next, err := st.Detectors(ctx, store.Page{Cursor: cursor, Limit: 50})
		if err != nil {
			return fmt.Errorf("listing detectors: %w", err)
		}
		dets = append(dets, ids...)
		if next == "" {
			break
		}
		cursor = next
	}
	n := 0
	for _, det := range dets {
		for _, kind := range []store.SetKind{store.IPSet, store.ThreatIntelSet, store.ThreatEntitySet, store.TrustedEntitySet} {
			for cursor := ""; ; {
				ids, next, err := st.Sets(ctx, det, kind, store.Page{Cursor: cursor, Limit: 50})
				if err != nil {
					return fmt.Errorf("listing the %ss of detector %s: %w", kind, det, err)
				}
				for _, id := range ids {
					s, err := st.Set(ctx, det, kind, id)
					if err != nil {
						return err
					}
					if s.Status != "ACTIVE" && s.Status != "ACTIVATING" {
						continue
					}
					spec, err := specOf(*s)
					if err == nil {
						err = si.allowed(s.Location)
					}
					if err == nil {
						err = si.check(spec)
					}
					if err != nil {
						si.log.Error("threat intelligence: an active list cannot be loaded", "list", s.Name, "location", s.Location, "error", err)
						s.Status, s.ErrorDetails, s.UpdatedAt = "ERROR", err.Error(), time.Now().UTC()
						if uerr := st.UpdateSet(ctx, s); uerr != nil {
							return uerr
						}
						continue
					}
					if s.Status == "ACTIVATING" {
						s.Status, s.ErrorDetails, s.UpdatedAt = "ACTIVE", "", time.Now().UTC()
						if uerr := st.UpdateSet(ctx, s); uerr != nil {
							return uerr
						}
					}
					si.lists[setKey(*s)] = spec
					n++
				}
				if next == "" {
					break
				}
				cursor = next
			}
		}
	}
	if n == 0 {
		return nil
	}
	if err := si.rebuild(); err != nil {
		return fmt.Errorf("loading the active threat intelligence lists: %w", err)
	}
	return nil
}

// wait waits for loads under way (at shutdown).
func (si *serveIntel) wait() { si.wg.Wait() }

// run refreshes the lists in use every interval until ctx is done.
func (si *serveIntel) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			si.refresh(ctx)
		}
	}
}

// refresh fetches the lists in use again, with conditional requests,
// and swaps in those that changed. A list that cannot be fetched or
// decoded keeps its last good version (the loader logs why); the
// resource keeps its ACTIVE status, as the list it names is in use.
// A rebuild after the API changed the lists starts from fresh fetches,
// so a refresh of the loader it replaced is simply dropped.
func (si *serveIntel) refresh(ctx context.Context) {
	l := si.cur.Load()
	if l == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, si.timeout)
	defer cancel()
	si.refreshes.Add(1)
	changed, err := l.Refresh(ctx)
	if err != nil {
		si.refreshFailures.Add(1)
	}
	if changed {
		si.refreshUpdates.Add(1)
	}
}

// The detectors' view: no loader means no lists.

func (si *serveIntel) Trusted(addr netip.Addr) bool {
	l := si.cur.Load()
	return l != nil && l.Trusted(addr)
}

func (si *serveIntel) Threat(addr netip.Addr) (detect.ThreatMatch, bool) {
	l := si.cur.Load()
	if l == nil {
		return detect.ThreatMatch{}, false
	}
	m, ok := l.Threat(addr)
	if !ok {
		return detect.ThreatMatch{}, false
	}
	return threatMatch(m), true
}

func (si *serveIntel) TrustedDomain(name string) bool {
	l := si.cur.Load()
	return l != nil && l.TrustedDomain(name)
}

func (si *serveIntel) ThreatDomain(name string) (detect.ThreatMatch, bool) {
	l := si.cur.Load()
	if l == nil {
		return detect.ThreatMatch{}, false
	}
	m, ok := l.ThreatDomain(name)
	if !ok {
		return detect.ThreatMatch{}, false
	}
	return threatMatch(m), true
}

// status reports the lists in use and the refresh counts, for metrics.
func (si *serveIntel) status() metrics.IntelStatus {
	si.mu.Lock()
	n := len(si.lists)
	si.mu.Unlock()
	return metrics.IntelStatus{
		Lists: n, Refreshes: si.refreshes.Load(),
		RefreshFailures: si.refreshFailures.Load(), RefreshUpdates: si.refreshUpdates.Load(),
	}
}
