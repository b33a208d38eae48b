// Package live owns the threat intelligence that picket serve keeps
// current while it runs: the trusted and threat lists activated through
// the GuardDuty API, loaded in the background, restored from the store at
// start and refreshed on a timer, each change swapping in a whole new
// intel.Loader atomically. It also owns the adapter through which
// detectors consult a loader (detect.Intel, detect.DomainIntel) and the
// loading and checking of lists that picket analyze and picket intel
// check share. Only the composition root and the command import it.
package live

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"picket/internal/detect"
	"picket/internal/intel"
	"picket/internal/intel/fetch"
	"picket/internal/store"
)

// Lists is the threat intelligence of picket serve: the trusted lists
// (IPSets, trusted entity sets) and threat lists (ThreatIntelSets, threat
// entity sets) activated through the API. To the API it is the SetLoader
// (and LocationChecker) that loads and retires lists in the background;
// to the detectors it is detect.Intel over the current intel.Loader,
// which every change of lists replaces whole, atomically. Lists apply to
// the records of every account and region (detect.Intel has no notion of
// a detector).
type Lists struct {
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
	_ detect.Intel       = (*Lists)(nil)
	_ detect.DomainIntel = (*Lists)(nil)
)

// Store is the store as Restore uses it: the list resources of every
// detector, each method as storetest.Store states it.
type Store interface {
	Detectors(ctx context.Context, p store.Page) ([]string, string, error)
	Sets(ctx context.Context, detectorID string, kind store.SetKind, p store.Page) ([]string, string, error)
	Set(ctx context.Context, detectorID string, kind store.SetKind, id string) (*store.Set, error)
	UpdateSet(ctx context.Context, s *store.Set) error
}

// New returns Lists with no list in use. Lists are fetched with the
// environment's AWS configuration; local files are accepted only under
// filesDir ("" accepts none).
func New(log *slog.Logger, filesDir string) *Lists {
	if filesDir != "" {
		if abs, err := filepath.Abs(filesDir); err == nil {
			filesDir = abs
		}
	}
	return &Lists{fetch: fetch.New(fetch.Options{}), log: log, timeout: 5 * time.Minute, lists: map[string]intel.Spec{}, filesDir: filesDir}
}

// CheckLocation vets a list's location before the API stores it: an
// s3:// or https:// URL, or a local file under intel.files_dir.
func (ls *Lists) CheckLocation(_ context.Context, location, _ string) error {
	return ls.allowed(location)
}

func (ls *Lists) allowed(location string) error {
	lower := strings.ToLower(location)
	if strings.HasPrefix(lower, "s3://") || strings.HasPrefix(lower, "https://") {
		return nil
	}
	if strings.Contains(location, "://") {
		return fmt.Errorf("location %q: only s3:// and https:// locations are accepted", location)
	}
	path := strings.TrimPrefix(location, "file:")
	if ls.filesDir == "" {
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
	dir := ls.filesDir
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	if rel, err := filepath.Rel(dir, abs); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("location %q: local files are accepted only under %s", location, ls.filesDir)
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
	sp := intel.Spec{Name: s.Name, Location: s.Location, Kind: kind, Format: f}
	if c, ok := s.Tags[intel.CategoryTag]; ok && kind == intel.KindThreat {
		if sp.Category, err = intel.ParseCategory(c); err != nil {
			return intel.Spec{}, fmt.Errorf("tag %s: %w", intel.CategoryTag, err)
		}
	}
	return sp, nil
}

// Load checks the list on its own (so that an error names it), then
// rebuilds the lists in use with it; done reports the outcome.
func (ls *Lists) Load(s store.Set, done func(error)) {
	spec, err := specOf(s)
	if err == nil {
		err = ls.allowed(s.Location)
	}
	if err != nil {
		done(err)
		return
	}
	ls.wg.Add(1)
	go func() {
		defer ls.wg.Done()
		if err := ls.check(spec); err != nil {
			done(err)
			return
		}
		ls.mu.Lock()
		ls.lists[setKey(s)] = spec
		ls.mu.Unlock()
		done(ls.rebuild())
	}()
}

// Unload retires a list.
func (ls *Lists) Unload(s store.Set) {
	ls.mu.Lock()
	_, had := ls.lists[setKey(s)]
	delete(ls.lists, setKey(s))
	ls.mu.Unlock()
	if !had {
		return
	}
	ls.wg.Add(1)
	go func() {
		defer ls.wg.Done()
		if err := ls.rebuild(); err != nil {
			ls.log.Error("threat intelligence: rebuilding the lists after retiring one", "list", s.Name, "error", err)
		}
	}()
}

// check fetches and decodes one list.
func (ls *Lists) check(spec intel.Spec) error {
	ctx, cancel := context.WithTimeout(context.Background(), ls.timeout)
	defer cancel()
	_, errs := CheckLists(ctx, []intel.Spec{spec}, Options{Log: ls.log})
	return errs[0]
}

// rebuild loads every list in use into a new loader and swaps it in.
// Lists that share a name get a suffix, as a loader needs unique names.
func (ls *Lists) rebuild() error {
	ls.build.Lock()
	defer ls.build.Unlock()
	ls.mu.Lock()
	keys := make([]string, 0, len(ls.lists))
	for k := range ls.lists {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	specs := make([]intel.Spec, 0, len(keys))
	names := map[string]int{}
	for _, k := range keys {
		sp := ls.lists[k]
		if n := names[sp.Name]; n > 0 {
			names[sp.Name]++
			sp.Name = fmt.Sprintf("%s (%d)", sp.Name, n+1)
		} else {
			names[sp.Name] = 1
		}
		specs = append(specs, sp)
	}
	ls.mu.Unlock()
	if len(specs) == 0 {
		ls.cur.Store(nil)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), ls.timeout)
	defer cancel()
	l, _, err := LoadLists(ctx, specs, Options{Log: ls.log})
	if err != nil {
		return err
	}
	ls.cur.Store(l)
	ls.log.Info("threat intelligence lists in use", "lists", len(specs))
	return nil
}

// Restore loads the lists the store says are active, before ingest
// starts, so that a restart detects as the run before it did. A list
// that cannot be loaded any more is marked ERROR.
func (ls *Lists) Restore(ctx context.Context, st Store) error {
	n := 0
	err := eachSet(ctx, st, func(s *store.Set) error {
		if s.Status != "ACTIVE" && s.Status != "ACTIVATING" {
			return nil
		}
		spec, err := specOf(*s)
		if err == nil {
			err = ls.allowed(s.Location)
		}
		if err == nil {
			err = ls.check(spec)
		}
		if err != nil {
			ls.log.Error("threat intelligence: an active list cannot be loaded", "list", s.Name, "location", s.Location, "error", err)
			s.Status, s.ErrorDetails, s.UpdatedAt = "ERROR", err.Error(), time.Now().UTC()
			return st.UpdateSet(ctx, s)
		}
		if s.Status == "ACTIVATING" {
			s.Status, s.ErrorDetails, s.UpdatedAt = "ACTIVE", "", time.Now().UTC()
			if err := st.UpdateSet(ctx, s); err != nil {
				return err
			}
		}
		ls.lists[setKey(*s)] = spec
		n++
		return nil
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	if err := ls.rebuild(); err != nil {
		return fmt.Errorf("loading the active threat intelligence lists: %w", err)
	}
	return nil
}

// Sync makes the lists in use those the store says are active, without
// changing the store: for a process that detects but does not serve the
// API (a detector node of a cluster), whose lists the API nodes manage.
// It rebuilds only when the set of lists or a list's definition
// changed, and reports whether it did.
func (ls *Lists) Sync(ctx context.Context, st Store) (bool, error) {
	want := map[string]intel.Spec{}
	err := eachSet(ctx, st, func(s *store.Set) error {
		if s.Status != "ACTIVE" && s.Status != "ACTIVATING" {
			return nil
		}
		spec, err := specOf(*s)
		if err == nil {
			err = ls.allowed(s.Location)
		}
		if err != nil {
			ls.log.Warn("threat intelligence: an active list cannot be used", "list", s.Name, "error", err)
			return nil
		}
		want[setKey(*s)] = spec
		return nil
	})
	if err != nil {
		return false, err
	}
	ls.mu.Lock()
	same := reflect.DeepEqual(ls.lists, want) || (len(ls.lists) == 0 && len(want) == 0)
	if !same {
		ls.lists = want
	}
	ls.mu.Unlock()
	if same {
		return false, nil
	}
	if err := ls.rebuild(); err != nil {
		return true, fmt.Errorf("loading the active threat intelligence lists: %w", err)
	}
	return true, nil
}

// eachSet calls fn with every list resource of every detector.
func eachSet(ctx context.Context, st Store, fn func(*store.Set) error) error {
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
					if err := fn(s); err != nil {
						return err
					}
				}
				if next == "" {
					break
				}
				cursor = next
			}
		}
	}
	return nil
}

// Wait waits for loads under way (at shutdown).
func (ls *Lists) Wait() { ls.wg.Wait() }

// Run refreshes the lists in use every interval until ctx is done.
func (ls *Lists) Run(ctx context.Context, every time.Duration) {
	intel.RefreshEvery(ctx, every, ls.refresh)
}

// refresh fetches the lists in use again, with conditional requests,
// and swaps in those that changed. A list that cannot be fetched or
// decoded keeps its last good version (the loader logs why); the
// resource keeps its ACTIVE status, as the list it names is in use.
// A rebuild after the API changed the lists starts from fresh fetches,
// so a refresh of the loader it replaced is simply dropped.
func (ls *Lists) refresh(ctx context.Context) {
	l := ls.cur.Load()
	if l == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, ls.timeout)
	defer cancel()
	ls.refreshes.Add(1)
	changed, err := l.Refresh(ctx)
	if err != nil {
		ls.refreshFailures.Add(1)
	}
	if changed {
		ls.refreshUpdates.Add(1)
	}
}

// The detectors' view: the current loader's, through its adapter; no
// loader means no lists.

// Trusted reports whether addr is on a trusted list in use.
func (ls *Lists) Trusted(addr netip.Addr) bool {
	l := ls.cur.Load()
	return l != nil && l.Trusted(addr)
}

// Threat returns the threat list entry that addr matches, if any.
func (ls *Lists) Threat(addr netip.Addr) (detect.ThreatMatch, bool) {
	if l := ls.cur.Load(); l != nil {
		return adapter{l}.Threat(addr)
	}
	return detect.ThreatMatch{}, false
}

// TrustedDomain reports whether a domain name is on a trusted list in use.
func (ls *Lists) TrustedDomain(name string) bool {
	l := ls.cur.Load()
	return l != nil && l.TrustedDomain(name)
}

// ThreatDomain returns the threat list entry that a domain name matches,
// if any.
func (ls *Lists) ThreatDomain(name string) (detect.ThreatMatch, bool) {
	if l := ls.cur.Load(); l != nil {
		return adapter{l}.ThreatDomain(name)
	}
	return detect.ThreatMatch{}, false
}

// Status is the lists in use and the refresh counts.
type Status struct {
	Lists           int    // threat and trusted lists in use
	Refreshes       uint64 // rounds of fetching the lists again
	RefreshFailures uint64 // rounds in which a list could not be fetched or decoded
	RefreshUpdates  uint64 // rounds that swapped in a changed list
}

// Status reports the lists in use and the refresh counts, for metrics.
func (ls *Lists) Status() Status {
	ls.mu.Lock()
	n := len(ls.lists)
	ls.mu.Unlock()
	return Status{
		Lists: n, Refreshes: ls.refreshes.Load(),
		RefreshFailures: ls.refreshFailures.Load(), RefreshUpdates: ls.refreshUpdates.Load(),
	}
}
