package api

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"sort"
	"strconv"
	"sync"

	"picket/internal/finding"
	"picket/internal/store"
)

// memStore is a small in-memory Store for the unit tests: obvious
// rather than fast, with a hook to make any method fail. The SDK and CLI
// tests run against the SQLite store.
type memStore struct {
	mu        sync.Mutex
	detectors map[string]*store.Detector
	findings  map[string]map[string]*finding.Finding
	filters   map[string]map[string]*store.Filter
	sets      map[string]map[string]*store.Set
	dests     map[string]map[string]*store.Destination
	tags      map[string]map[string]string
	fail      func(method string) error
}

var _ Store = (*memStore)(nil)

func newMemStore() *memStore {
	return &memStore{
		detectors: map[string]*store.Detector{},
		findings:  map[string]map[string]*finding.Finding{},
		filters:   map[string]map[string]*store.Filter{},
		sets:      map[string]map[string]*store.Set{},
		dests:     map[string]map[string]*store.Destination{},
		tags:      map[string]map[string]string{},
	}
}

func (m *memStore) check(method string) error {
	if m.fail != nil {
		return m.fail(method)
	}
	return nil
}

func clone[T any](v *T) *T {
	b, _ := json.Marshal(v)
	out := new(T)
	_ = json.Unmarshal(b, out)
	return out
}

// page returns one page of sorted keys; the cursor is an offset.
func page(keys []string, p store.Page) ([]string, string, error) {
	off := 0
	if p.Cursor != "" {
		n, err := strconv.Atoi(p.Cursor)
		if err != nil || n < 0 || n > len(keys) {
			return nil, "", errors.New("bad cursor")
		}
		off = n
	}
	end := min(off+p.Limit, len(keys))
	next := ""
	if end < len(keys) {
		next = strconv.Itoa(end)
	}
	return slices.Clone(keys[off:end]), next, nil
}

func (m *memStore) CreateDetector(_ context.Context, d *store.Detector) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check("CreateDetector"); err != nil {
		return err
	}
	for _, o := range m.detectors {
		if o.Account == d.Account && o.Region == d.Region {
			return store.ErrExists
		}
	}
	m.detectors[d.ID] = clone(d)
	return nil
}

func (m *memStore) Detector(_ context.Context, id string) (*store.Detector, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check("Detector"); err != nil {
		return nil, err
	}
	d, ok := m.detectors[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	return clone(d), nil
}

func (m *memStore) DetectorFor(_ context.Context, account, region string) (*store.Detector, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range m.detectors {
		if d.Account == account && d.Region == region {
			return clone(d), nil
		}
	}
	return nil, store.ErrNotFound
}

func (m *memStore) Detectors(_ context.Context, p store.Page) ([]string, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return page(slices.Sorted(maps.Keys(m.detectors)), p)
}

func (m *memStore) UpdateDetector(_ context.Context, d *store.Detector) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.detectors[d.ID]; !ok {
		return store.ErrNotFound
	}
	m.detectors[d.ID] = clone(d)
	return nil
}

func (m *memStore) DeleteDetector(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.detectors[id]; !ok {
		return store.ErrNotFound
	}
	delete(m.detectors, id)
	delete(m.findings, id)
	delete(m.filters, id)
	delete(m.dests, id)
	for k := range m.sets {
		if len(k) > len(id) && k[:len(id)] == id {
			delete(m.sets, k)
		}
	}
	return nil
}

func (m *memStore) archiving(detectorID string) []store.Criteria {
	var out []store.Criteria
	for _, f := range m.filters[detectorID] {
		if f.Action == "ARCHIVE" {
			out = append(out, f.Criteria)
		}
	}
	return out
}

func (m *memStore) Commit(_ context.Context, b store.Batch) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check("Commit"); err != nil {
		return err
	}
	for _, f := range b.Findings {
		det := f.Service.DetectorID
		if m.findings[det] == nil {
			m.findings[det] = map[string]*finding.Finding{}
		}
		if old, ok := m.findings[det][f.ID]; ok {
			finding.Merge(old, clone(f))
			continue
		}
		nf := clone(f)
		for _, c := range m.archiving(det) {
			if c.Match(nf) {
				nf.Service.Archived = true
			}
		}
		m.findings[det][f.ID] = nf
	}
	return nil
}

func (m *memStore) Findings(_ context.Context, detectorID string, ids []string) ([]*finding.Finding, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check("Findings"); err != nil {
		return nil, err
	}
	var out []*finding.Finding
	for _, id := range ids {
		if f, ok := m.findings[detectorID][id]; ok {
			out = append(out, clone(f))
		}
	}
	return out, nil
}

func (m *memStore) ListFindings(_ context.Context, detectorID string, q store.Query) ([]string, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check("ListFindings"); err != nil {
		return nil, "", err
	}
	var fs []*finding.Finding
	for _, f := range m.findings[detectorID] {
		if q.Criteria.Match(f) {
			fs = append(fs, f)
		}
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].ID < fs[j].ID })
	if q.Sort.Attribute != "" {
		sortFindings(fs, q.Sort)
	}
	ids := make([]string, len(fs))
	for i, f := range fs {
		ids[i] = f.ID
	}
	return page(ids, q.Page)
}

func (m *memStore) Statistics(_ context.Context, detectorID string, q store.StatsQuery) (store.Stats, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var st store.Stats
	groups := map[string]*store.Group{}
	for _, f := range m.findings[detectorID] {
		if !q.Criteria.Match(f) {
			continue
		}
		var key string
		switch q.GroupBy {
		case "":
			if st.BySeverity == nil {
				st.BySeverity = map[string]int{}
			}
			st.BySeverity[strconv.FormatFloat(float64(f.Severity), 'f', 1, 64)]++
			continue
		case store.GroupAccount:
			key = f.AccountID
		case store.GroupDate:
			key = f.UpdatedAt.UTC().Format("2006-01-02")
		case store.GroupType:
			key = f.Type
		case store.GroupResource:
			key = f.Resource.ID()
		case store.GroupSeverity:
			key = strconv.FormatFloat(float64(f.Severity), 'f', 1, 64)
		}
		g := groups[key]
		if g == nil {
			g = &store.Group{Key: key, AccountID: f.AccountID, ResourceType: f.Resource.ResourceType}
			groups[key] = g
		}
		g.Total++
		g.Severity = max(g.Severity, float64(f.Severity))
		if f.UpdatedAt.After(g.LastGeneratedAt) {
			g.LastGeneratedAt = f.UpdatedAt.Time
		}
	}
	for _, g := range groups {
		st.Groups = append(st.Groups, *g)
	}
	sort.Slice(st.Groups, func(i, j int) bool {
		a, b := st.Groups[i], st.Groups[j]
		if a.Total != b.Total {
			return (a.Total > b.Total) == q.Desc
		}
		return a.Key < b.Key
	})
	if q.Limit > 0 && len(st.Groups) > q.Limit {
		st.Groups = st.Groups[:q.Limit]
	}
	return st, nil
}

func (m *memStore) SetArchived(_ context.Context, detectorID string, ids []string, archived bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range ids {
		if f, ok := m.findings[detectorID][id]; ok {
			f.Service.Archived = archived
		}
	}
	return nil
}

func (m *memStore) SetFeedback(_ context.Context, detectorID string, ids []string, feedback, _ string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range ids {
		if f, ok := m.findings[detectorID][id]; ok {
			f.Service.UserFeedback = feedback
		}
	}
	return nil
}

func (m *memStore) ArchiveMatching(_ context.Context, detectorID string, c store.Criteria) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, f := range m.findings[detectorID] {
		if !f.Service.Archived && c.Match(f) {
			f.Service.Archived = true
			n++
		}
	}
	return n, nil
}

func (m *memStore) CreateFilter(_ context.Context, f *store.Filter) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.filters[f.DetectorID] == nil {
		m.filters[f.DetectorID] = map[string]*store.Filter{}
	}
	if _, ok := m.filters[f.DetectorID][f.Name]; ok {
		return store.ErrExists
	}
	m.filters[f.DetectorID][f.Name] = clone(f)
	return nil
}

func (m *memStore) UpdateFilter(_ context.Context, f *store.Filter) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.filters[f.DetectorID][f.Name]; !ok {
		return store.ErrNotFound
	}
	m.filters[f.DetectorID][f.Name] = clone(f)
	return nil
}

func (m *memStore) Filter(_ context.Context, detectorID, name string) (*store.Filter, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.filters[detectorID][name]
	if !ok {
		return nil, store.ErrNotFound
	}
	return clone(f), nil
}

func (m *memStore) Filters(_ context.Context, detectorID string, p store.Page) ([]string, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return page(slices.Sorted(maps.Keys(m.filters[detectorID])), p)
}

func (m *memStore) DeleteFilter(_ context.Context, detectorID, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.filters[detectorID][name]; !ok {
		return store.ErrNotFound
	}
	delete(m.filters[detectorID], name)
	return nil
}

func setsKey(detectorID string, kind store.SetKind) string { return detectorID + "/" + string(kind) }

func (m *memStore) CreateSet(_ context.Context, s *store.Set) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := setsKey(s.DetectorID, s.Kind)
	if m.sets[k] == nil {
		m.sets[k] = map[string]*store.Set{}
	}
	if _, ok := m.sets[k][s.ID]; ok {
		return store.ErrExists
	}
	m.sets[k][s.ID] = clone(s)
	return nil
}

func (m *memStore) UpdateSet(_ context.Context, s *store.Set) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := setsKey(s.DetectorID, s.Kind)
	if _, ok := m.sets[k][s.ID]; !ok {
		return store.ErrNotFound
	}
	m.sets[k][s.ID] = clone(s)
	return nil
}

func (m *memStore) Set(_ context.Context, detectorID string, kind store.SetKind, id string) (*store.Set, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sets[setsKey(detectorID, kind)][id]
	if !ok {
		return nil, store.ErrNotFound
	}
	return clone(s), nil
}

func (m *memStore) Sets(_ context.Context, detectorID string, kind store.SetKind, p store.Page) ([]string, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return page(slices.Sorted(maps.Keys(m.sets[setsKey(detectorID, kind)])), p)
}

func (m *memStore) DeleteSet(_ context.Context, detectorID string, kind store.SetKind, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := setsKey(detectorID, kind)
	if _, ok := m.sets[k][id]; !ok {
		return store.ErrNotFound
	}
	delete(m.sets[k], id)
	return nil
}

func (m *memStore) CreateDestination(_ context.Context, d *store.Destination) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check("CreateDestination"); err != nil {
		return err
	}
	if _, ok := m.detectors[d.DetectorID]; !ok {
		return store.ErrNotFound
	}
	if len(m.dests[d.DetectorID]) > 0 {
		return store.ErrExists
	}
	m.dests[d.DetectorID] = map[string]*store.Destination{d.ID: clone(d)}
	return nil
}

func (m *memStore) UpdateDestination(_ context.Context, d *store.Destination) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.dests[d.DetectorID][d.ID]
	if !ok {
		return store.ErrNotFound
	}
	c := clone(d)
	c.CreatedAt = old.CreatedAt
	m.dests[d.DetectorID][d.ID] = c
	return nil
}

func (m *memStore) Destination(_ context.Context, detectorID, id string) (*store.Destination, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check("Destination"); err != nil {
		return nil, err
	}
	d, ok := m.dests[detectorID][id]
	if !ok {
		return nil, store.ErrNotFound
	}
	return clone(d), nil
}

func (m *memStore) Destinations(_ context.Context, detectorID string, p store.Page) ([]string, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return page(slices.Sorted(maps.Keys(m.dests[detectorID])), p)
}

func (m *memStore) DeleteDestination(_ context.Context, detectorID, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.dests[detectorID][id]; !ok {
		return store.ErrNotFound
	}
	delete(m.dests[detectorID], id)
	return nil
}

func (m *memStore) Tags(_ context.Context, arn string) (map[string]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.tags[arn]), nil
}

func (m *memStore) Tag(_ context.Context, arn string, tags map[string]string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tags[arn] == nil {
		m.tags[arn] = map[string]string{}
	}
	maps.Copy(m.tags[arn], tags)
	return nil
}

func (m *memStore) Untag(_ context.Context, arn string, keys []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		delete(m.tags[arn], k)
	}
	return nil
}
