package api

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"picket/internal/finding"
	"picket/internal/store"
)

// The API's account (Config.Account) is the administrator of every other
// account that has a detector, as GuardDuty's delegated administrator is
// of its organization's members. Detectors are per account and region,
// and so is membership: the members of the administrator in a region are
// the other accounts with a detector in that region, which ingest
// creates when an account's logs first arrive there. The findings
// operations on the administrator's detector cover its own findings and
// every member's, each under its own accountId; a member's key sees its
// own detector only.

// administrator reports whether the caller acts as the administrator.
func (h *Handler) administrator(c caller) bool { return c.Account == h.account }

// members returns the detectors of the administrator's members in a
// region, ordered by account.
func (h *Handler) members(ctx context.Context, region string) ([]*store.Detector, error) {
	var out []*store.Detector
	err := eachPage(func(p store.Page) ([]string, string, error) { return h.store.Detectors(ctx, p) }, func(id string) error {
		d, err := h.store.Detector(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil // deleted since it was listed
		}
		if err != nil {
			return err
		}
		if d.Region == region && d.Account != h.account {
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing the members' detectors in %s: %w", region, err)
	}
	slices.SortFunc(out, func(a, b *store.Detector) int { return cmp.Compare(a.Account, b.Account) })
	return out, nil
}

// scope returns the detectors whose findings an operation on the
// caller's detector d covers: d and, for the administrator, the members'
// detectors in d's region.
func (h *Handler) scope(rq *request, d *store.Detector) ([]*store.Detector, error) {
	if !h.administrator(rq.caller) {
		return []*store.Detector{d}, nil
	}
	ms, err := h.members(rq.ctx, d.Region)
	if err != nil {
		return nil, err
	}
	return append([]*store.Detector{d}, ms...), nil
}

// ensureAdministratorDetector creates the administrator's detector in a
// region that has members but no detector of the administrator's, so
// that ListDetectors gives a new user, whose logs come from accounts
// other than the API's, a detector that shows their findings. It is
// created as ingest creates a region's detector: enabled, with the
// default ID.
func (h *Handler) ensureAdministratorDetector(ctx context.Context, region string) (*store.Detector, error) {
	ms, err := h.members(ctx, region)
	if err != nil || len(ms) == 0 {
		return nil, err
	}
	now := h.now().UTC()
	d := &store.Detector{
		ID: finding.DetectorID(h.account, region), Account: h.account, Region: region, Enabled: true,
		FindingPublishingFrequency: "SIX_HOURS", CreatedAt: now, UpdatedAt: now,
	}
	switch err := h.store.CreateDetector(ctx, d); {
	case err == nil:
		h.log.Info("created the administrator's detector for the members of a region",
			"detector_id", d.ID, "account", h.account, "region", region, "members", len(ms))
		return d, nil
	case errors.Is(err, store.ErrExists):
		return h.store.DetectorFor(ctx, h.account, region)
	default:
		return nil, fmt.Errorf("creating the administrator's detector in %s: %w", region, err)
	}
}

// mergedCursor is the position of a listing over several detectors: the
// store's cursor in each detector after the findings already returned
// from it, and the detectors listed to the end. A detector in neither is
// listed from its start, so the findings of a member that appears
// between pages are not missed.
type mergedCursor struct {
	Pos  map[string]string `json:"p,omitempty"`
	Done []string          `json:"d,omitempty"`
}

// mergeAttempts bounds the retries of a page whose detectors changed
// while it was being put together.
const mergeAttempts = 3

var errMoved = errors.New("findings were committed while the page was read")

// listMerged returns one page of the findings of several detectors that
// match q, in q's order (ties by finding ID in the same direction, as each
// store orders them), and the cursor of the next page. Each detector is
// read from its own store cursor, so a finding committed between pages
// is neither skipped nor repeated, as in a listing of one detector.
func (h *Handler) listMerged(ctx context.Context, dets []*store.Detector, q store.Query) ([]string, string, error) {
	cur := mergedCursor{Pos: map[string]string{}}
	if q.Page.Cursor != "" {
		if err := json.Unmarshal([]byte(q.Page.Cursor), &cur); err != nil {
			return nil, "", fmt.Errorf("%w: malformed pagination cursor", store.ErrCriteria)
		}
		if cur.Pos == nil {
			cur.Pos = map[string]string{}
		}
	}
	var err error
	for range mergeAttempts {
		var ids []string
		var next string
		ids, next, err = h.mergeOnce(ctx, dets, q, cur)
		if !errors.Is(err, errMoved) {
			return ids, next, err
		}
	}
	return nil, "", err
}

// stream is one detector's part of a merged page.
type stream struct {
	det  string
	ids  []string
	next string
	vals []map[string][]string // the sort attribute's values, when sorted by one
	took int
}

func (h *Handler) mergeOnce(ctx context.Context, dets []*store.Detector, q store.Query, cur mergedCursor) ([]string, string, error) {
	limit := q.Page.Limit
	var streams []*stream
	for _, d := range dets {
		if slices.Contains(cur.Done, d.ID) {
			continue
		}
		s := &stream{det: d.ID}
		var err error
		s.ids, s.next, err = h.store.ListFindings(ctx, d.ID, store.Query{Criteria: q.Criteria, Sort: q.Sort,
			Page: store.Page{Cursor: cur.Pos[d.ID], Limit: limit}})
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, "", fmt.Errorf("listing findings of detector %s: %w", d.ID, err)
		}
		if q.Sort.Attribute != "" && len(s.ids) > 0 {
			if s.vals, err = h.sortValues(ctx, d.ID, s.ids); err != nil {
				return nil, "", err
			}
		}
		streams = append(streams, s)
	}

	compare := func(a, b *stream) int {
		i, j := a.took, b.took
		if q.Sort.Attribute != "" {
			switch {
			case q.Sort.Less(a.vals[i], b.vals[j]):
				return -1
			case q.Sort.Less(b.vals[j], a.vals[i]):
				return 1
			}
		}
		c := strings.Compare(a.ids[i], b.ids[j])
		if q.Sort.Desc {
			c = -c
		}
		return c
	}
	ids := []string{}
	for len(ids) < limit {
		var best *stream
		for _, s := range streams {
			if s.took < len(s.ids) && (best == nil || compare(s, best) < 0) {
				best = s
			}
		}
		if best == nil {
			break
		}
		ids = append(ids, best.ids[best.took])
		best.took++
	}

	next := mergedCursor{Pos: map[string]string{}}
	for _, d := range cur.Done {
		if slices.ContainsFunc(dets, func(x *store.Detector) bool { return x.ID == d }) {
			next.Done = append(next.Done, d)
		}
	}
	more := false
	for _, s := range streams {
		pos := cur.Pos[s.det]
		switch {
		case s.took == len(s.ids) && s.next == "":
			next.Done = append(next.Done, s.det)
			continue
		case s.took == len(s.ids):
			pos = s.next
		case s.took > 0:
			// The store's cursor after exactly the findings taken.
			got, after, err := h.store.ListFindings(ctx, s.det, store.Query{Criteria: q.Criteria, Sort: q.Sort,
				Page: store.Page{Cursor: pos, Limit: s.took}})
			if err != nil {
				return nil, "", fmt.Errorf("listing findings of detector %s: %w", s.det, err)
			}
			if !slices.Equal(got, s.ids[:s.took]) || after == "" {
				return nil, "", errMoved
			}
			pos = after
		}
		more = true
		if pos != "" {
			next.Pos[s.det] = pos
		}
	}
	if !more {
		return ids, "", nil
	}
	slices.Sort(next.Done)
	b, err := json.Marshal(next)
	if err != nil {
		return nil, "", err
	}
	return ids, string(b), nil
}

// sortValues returns the values of findings by which store.Sort orders
// them, in the order of ids.
func (h *Handler) sortValues(ctx context.Context, detectorID string, ids []string) ([]map[string][]string, error) {
	fs, err := h.store.Findings(ctx, detectorID, ids)
	if err != nil {
		return nil, fmt.Errorf("reading findings of detector %s: %w", detectorID, err)
	}
	byID := make(map[string]*finding.Finding, len(fs))
	for _, f := range fs {
		byID[f.ID] = f
	}
	out := make([]map[string][]string, len(ids))
	for i, id := range ids {
		if f := byID[id]; f != nil {
			out[i] = store.Values(f)
		}
	}
	return out, nil
}

// findingsIn reads the findings with the given IDs from the detectors,
// in no particular order.
func (h *Handler) findingsIn(ctx context.Context, dets []*store.Detector, ids []string) ([]*finding.Finding, error) {
	var out []*finding.Finding
	left := slices.Clone(ids)
	for _, d := range dets {
		if len(left) == 0 {
			break
		}
		got, err := h.store.Findings(ctx, d.ID, left)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading findings of detector %s: %w", d.ID, err)
		}
		out = append(out, got...)
		for _, f := range got {
			left = slices.DeleteFunc(left, func(id string) bool { return id == f.ID })
		}
	}
	return out, nil
}

// statisticsIn adds up the statistics of several detectors: counts by
// severity, or groups merged by their key (totals summed, the highest
// severity and the latest time kept), ordered and cut as a store orders
// and cuts them.
func (h *Handler) statisticsIn(ctx context.Context, dets []*store.Detector, q store.StatsQuery) (store.Stats, error) {
	if len(dets) == 1 {
		return h.store.Statistics(ctx, dets[0].ID, q)
	}
	all := q
	all.Limit = 0
	out := store.Stats{}
	type key struct{ key, resourceType, account string }
	groups := map[key]*store.Group{}
	for _, d := range dets {
		st, err := h.store.Statistics(ctx, d.ID, all)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return store.Stats{}, fmt.Errorf("finding statistics of detector %s: %w", d.ID, err)
		}
		for sev, n := range st.BySeverity {
			if out.BySeverity == nil {
				out.BySeverity = map[string]int{}
			}
			out.BySeverity[sev] += n
		}
		for _, g := range st.Groups {
			k := key{g.Key, g.ResourceType, g.AccountID}
			m := groups[k]
			if m == nil {
				m = &store.Group{Key: g.Key, ResourceType: g.ResourceType, AccountID: g.AccountID}
				groups[k] = m
			}
			m.Total += g.Total
			m.Severity = max(m.Severity, g.Severity)
			if g.LastGeneratedAt.After(m.LastGeneratedAt) {
				m.LastGeneratedAt = g.LastGeneratedAt
			}
		}
	}
	if q.GroupBy == "" {
		if out.BySeverity == nil {
			out.BySeverity = map[string]int{}
		}
		return out, nil
	}
	out.Groups = make([]store.Group, 0, len(groups))
	for _, g := range groups {
		out.Groups = append(out.Groups, *g)
	}
	slices.SortFunc(out.Groups, func(a, b store.Group) int {
		if c := cmp.Compare(a.Total, b.Total); c != 0 {
			if q.Desc {
				return -c
			}
			return c
		}
		return cmp.Or(strings.Compare(a.Key, b.Key), strings.Compare(a.ResourceType, b.ResourceType), strings.Compare(a.AccountID, b.AccountID))
	})
	if q.Limit > 0 && len(out.Groups) > q.Limit {
		out.Groups = out.Groups[:q.Limit]
	}
	return out, nil
}

// eachDetector calls fn with each detector's ID, skipping detectors
// deleted meanwhile.
func eachDetector(dets []*store.Detector, fn func(id string) error) error {
	for _, d := range dets {
		if err := fn(d.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return nil
}
