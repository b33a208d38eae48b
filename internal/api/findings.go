package api

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"picket/internal/finding"
	"picket/internal/store"
)

// maxFindingIDs is how many findings one call names.
const maxFindingIDs = 50

type listFindingsInput struct {
	FindingCriteria *findingCriteria `json:"findingCriteria"`
	SortCriteria    *sortCriteria    `json:"sortCriteria"`
	MaxResults      *int64           `json:"maxResults"`
	NextToken       *string          `json:"nextToken"`
}

type listFindingsOutput struct {
	FindingIDs []string `json:"findingIds"`
	NextToken  string   `json:"nextToken,omitempty"`
}

func (h *Handler) listFindings(rq *request) (any, error) {
	var in listFindingsInput
	if err := decodeBody(rq.body, &in); err != nil {
		return nil, err
	}
	d, err := h.detector(rq)
	if err != nil {
		return nil, err
	}
	c, err := criteria(in.FindingCriteria, false)
	if err != nil {
		return nil, err
	}
	s, err := sortOf(in.SortCriteria)
	if err != nil {
		return nil, err
	}
	scope := "ListFindings\x00" + d.ID + "\x00" + queryDigest(c, s)
	if h.administrator(rq.caller) {
		// The administrator's listing covers its members: its cursor is a
		// position in each of their detectors.
		scope = "ListFindings/members\x00" + d.ID + "\x00" + queryDigest(c, s)
	}
	p, err := h.page(scope, in.MaxResults, in.NextToken, 50, 50)
	if err != nil {
		return nil, err
	}
	var ids []string
	var next string
	if h.administrator(rq.caller) {
		dets, err := h.scope(rq, d)
		if err != nil {
			return nil, err
		}
		ids, next, err = h.listMerged(rq.ctx, dets, store.Query{Criteria: c, Sort: s, Page: p})
		if err != nil {
			return nil, fmt.Errorf("listing findings of detector %s and its members: %w", d.ID, err)
		}
	} else {
		ids, next, err = h.store.ListFindings(rq.ctx, d.ID, store.Query{Criteria: c, Sort: s, Page: p})
		if err != nil {
			return nil, fmt.Errorf("listing findings of detector %s: %w", d.ID, err)
		}
	}
	if ids == nil {
		ids = []string{}
	}
	return listFindingsOutput{FindingIDs: ids, NextToken: h.tokens.seal(scope, next)}, nil
}

// queryDigest identifies a query, so that a token only continues the
// listing that made it.
func queryDigest(c store.Criteria, s store.Sort) string {
	b, _ := json.Marshal(struct {
		C store.Criteria
		S store.Sort
	}{c, s})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// findingIDs validates a findingIds member: required, at most 50 IDs of 1
// to 300 characters. Duplicates are dropped.
func findingIDs(ids []string, present bool) ([]string, error) {
	if !present {
		return nil, required("findingIds")
	}
	if err := count("findingIds", len(ids), 0, maxFindingIDs); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if err := length("findingIds", id, 1, 300); err != nil {
			return nil, err
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

type getFindingsInput struct {
	FindingIDs   *[]string     `json:"findingIds"`
	SortCriteria *sortCriteria `json:"sortCriteria"`
}

func (h *Handler) getFindings(rq *request) (any, error) {
	var in getFindingsInput
	if err := decodeBody(rq.body, &in); err != nil {
		return nil, err
	}
	d, err := h.detector(rq)
	if err != nil {
		return nil, err
	}
	ids, err := findingIDs(deref(in.FindingIDs), in.FindingIDs != nil)
	if err != nil {
		return nil, err
	}
	s, err := sortOf(in.SortCriteria)
	if err != nil {
		return nil, err
	}
	fs := []*finding.Finding{}
	if len(ids) > 0 {
		dets, err := h.scope(rq, d)
		if err != nil {
			return nil, err
		}
		got, err := h.findingsIn(rq.ctx, dets, ids)
		if err != nil {
			return nil, err
		}
		// Answer in the order asked, unless a sort says otherwise.
		pos := make(map[string]int, len(ids))
		for i, id := range ids {
			pos[id] = i
		}
		for _, f := range got {
			if _, ok := pos[f.ID]; ok {
				fs = append(fs, f)
			}
		}
		slices.SortStableFunc(fs, func(a, b *finding.Finding) int { return pos[a.ID] - pos[b.ID] })
		if s.Attribute != "" {
			sortFindings(fs, s)
		}
	}
	return struct {
		Findings []*finding.Finding `json:"findings"`
	}{fs}, nil
}

// sortFindings orders findings by the sort's attribute, as the store
// compares them.
func sortFindings(fs []*finding.Finding, s store.Sort) {
	vals := make(map[*finding.Finding]map[string][]string, len(fs))
	for _, f := range fs {
		vals[f] = store.Values(f)
	}
	slices.SortStableFunc(fs, func(a, b *finding.Finding) int {
		switch {
		case s.Less(vals[a], vals[b]):
			return -1
		case s.Less(vals[b], vals[a]):
			return 1
		}
		return 0
	})
}

type findingIDsInput struct {
	FindingIDs *[]string `json:"findingIds"`
}

func (h *Handler) archiveFindings(rq *request) (any, error)   { return h.setArchived(rq, true) }
func (h *Handler) unarchiveFindings(rq *request) (any, error) { return h.setArchived(rq, false) }

func (h *Handler) setArchived(rq *request, archived bool) (any, error) {
	var in findingIDsInput
	if err := decodeBody(rq.body, &in); err != nil {
		return nil, err
	}
	d, err := h.detector(rq)
	if err != nil {
		return nil, err
	}
	ids, err := findingIDs(deref(in.FindingIDs), in.FindingIDs != nil)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, nil
	}
	dets, err := h.scope(rq, d)
	if err != nil {
		return nil, err
	}
	err = eachDetector(dets, func(id string) error { return h.store.SetArchived(rq.ctx, id, ids, archived) })
	if err != nil {
		return nil, fmt.Errorf("setting archived=%t on %d findings of detector %s: %w", archived, len(ids), d.ID, err)
	}
	return nil, nil
}

type feedbackInput struct {
	FindingIDs *[]string `json:"findingIds"`
	Feedback   *string   `json:"feedback"`
	Comments   *string   `json:"comments"`
}

// maxComments bounds feedback comments; the model sets no limit, the
// console allows a paragraph.
const maxComments = 4096

func (h *Handler) updateFindingsFeedback(rq *request) (any, error) {
	var in feedbackInput
	if err := decodeBody(rq.body, &in); err != nil {
		return nil, err
	}
	d, err := h.detector(rq)
	if err != nil {
		return nil, err
	}
	ids, err := findingIDs(deref(in.FindingIDs), in.FindingIDs != nil)
	if err != nil {
		return nil, err
	}
	if in.Feedback == nil {
		return nil, required("feedback")
	}
	if err := enum("feedback", *in.Feedback, "USEFUL", "NOT_USEFUL"); err != nil {
		return nil, err
	}
	comments := deref(in.Comments)
	if err := length("comments", comments, 0, maxComments); err != nil {
		return nil, err
	}
	if err := noControl("comments", comments); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, nil
	}
	dets, err := h.scope(rq, d)
	if err != nil {
		return nil, err
	}
	err = eachDetector(dets, func(id string) error { return h.store.SetFeedback(rq.ctx, id, ids, *in.Feedback, comments) })
	if err != nil {
		return nil, fmt.Errorf("setting feedback on %d findings of detector %s: %w", len(ids), d.ID, err)
	}
	return nil, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
