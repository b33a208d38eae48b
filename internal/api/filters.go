package api

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"slices"

	"picket/internal/store"
)

// Filter quotas and defaults, as GuardDuty sets them.
const (
	maxFilters = 100 // per detector
	maxRank    = 100
)

type createFilterInput struct {
	Name            *string           `json:"name"`
	Description     *string           `json:"description"`
	Action          *string           `json:"action"`
	Rank            *int64            `json:"rank"`
	FindingCriteria *findingCriteria  `json:"findingCriteria"`
	ClientToken     *string           `json:"clientToken"`
	Tags            map[string]string `json:"tags"`
}

type filterNameOutput struct {
	Name string `json:"name"`
}

// filterCriteria converts and validates a filter's criteria: required,
// at least one attribute, matches and notMatches allowed.
func filterCriteria(fc *findingCriteria) (store.Criteria, error) {
	if fc == nil {
		return nil, required("findingCriteria")
	}
	if len(fc.Criterion) == 0 {
		return nil, invalidParam("findingCriteria", errors.New("a filter needs at least one criterion"))
	}
	return criteria(fc, true)
}

// explicitArchive checks the criteria of a suppression rule (action
// ARCHIVE), which archives what it matches now and whatever matches
// later. Its criteria must be explicit: at least one criterion, and
// every criterion on a field of the catalogue (criterionFields) with an
// operator. Requests are held to this by filterCriteria already; the
// check here also covers criteria stored before the catalogue existed,
// when UpdateFilter turns such a filter into a suppression rule.
func explicitArchive(c store.Criteria) error {
	if len(c) == 0 {
		return invalidParam("findingCriteria", errors.New("a suppression rule needs at least one criterion"))
	}
	var unknown []string
	for _, field := range slices.Sorted(maps.Keys(c)) {
		if !knownCriterion(field) {
			unknown = append(unknown, field)
		}
	}
	if err := unknownFields(unknown); err != nil {
		return err
	}
	return c.Validate(true)
}

func validFilterFields(description, action *string, rank *int64) error {
	if err := optLength("description", description, 0, 512); err != nil {
		return err
	}
	if description != nil {
		if err := noControl("description", *description); err != nil {
			return err
		}
	}
	if action != nil {
		if err := enum("action", *action, "NOOP", "ARCHIVE"); err != nil {
			return err
		}
	}
	return intRange("rank", rank, 1, maxRank)
}

func (h *Handler) createFilter(rq *request) (any, error) {
	var in createFilterInput
	if err := decodeBody(rq.body, &in); err != nil {
		return nil, err
	}
	d, err := h.detector(rq)
	if err != nil {
		return nil, err
	}
	if in.Name == nil {
		return nil, required("name")
	}
	if err := validFilterName(*in.Name); err != nil {
		return nil, err
	}
	if err := validFilterFields(in.Description, in.Action, in.Rank); err != nil {
		return nil, err
	}
	if err := optLength("clientToken", in.ClientToken, 0, 64); err != nil {
		return nil, err
	}
	if err := validTags(in.Tags, in.Tags != nil); err != nil {
		return nil, err
	}
	c, err := filterCriteria(in.FindingCriteria)
	if err != nil {
		return nil, err
	}
	if deref(in.Action) == "ARCHIVE" {
		if err := explicitArchive(c); err != nil {
			return nil, err
		}
	}
	now := h.now().UTC()
	f := &store.Filter{
		DetectorID:  d.ID,
		Name:        *in.Name,
		Description: deref(in.Description),
		Action:      "NOOP",
		Criteria:    c,
		Tags:        in.Tags,
		CreatedAt:   now,
		UpdatedAt:   now,
	}
	if in.Action != nil {
		f.Action = *in.Action
	}
	exists := func(cause error) error {
		return badRequest("The request is rejected because a filter with the name "+f.Name+" already exists.", cause)
	}
	// A retry of a create that succeeded (same filter) succeeds again.
	if old, err := h.store.Filter(rq.ctx, d.ID, f.Name); err == nil {
		if in.Rank != nil {
			f.Rank = int(*in.Rank)
		} else {
			f.Rank = old.Rank
		}
		if sameFilter(old, f) {
			return filterNameOutput{f.Name}, nil
		}
		return nil, exists(nil)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("reading filter %q of detector %s: %w", f.Name, d.ID, err)
	}
	n := 0
	if err := eachPage(func(p store.Page) ([]string, string, error) { return h.store.Filters(rq.ctx, d.ID, p) }, func(string) error {
		n++
		return nil
	}); err != nil {
		return nil, fmt.Errorf("counting the filters of detector %s: %w", d.ID, err)
	}
	if n >= maxFilters {
		return nil, badRequest(fmt.Sprintf("The request is rejected because the number of filters exceeds the limit of %d.", maxFilters), nil)
	}
	f.Rank = min(n+1, maxRank)
	if in.Rank != nil {
		f.Rank = int(*in.Rank)
	}
	if err := h.store.CreateFilter(rq.ctx, f); err != nil {
		if errors.Is(err, store.ErrExists) {
			return nil, exists(err)
		}
		return nil, fmt.Errorf("creating filter %q of detector %s: %w", f.Name, d.ID, err)
	}
	if len(in.Tags) > 0 {
		if err := h.store.Tag(rq.ctx, filterARN(d, f.Name), in.Tags); err != nil {
			return nil, fmt.Errorf("tagging filter %q: %w", f.Name, err)
		}
	}
	if f.Action == "ARCHIVE" {
		if err := h.archiveMatching(rq, d, f); err != nil {
			return nil, err
		}
	}
	return filterNameOutput{f.Name}, nil
}

func sameFilter(a, b *store.Filter) bool {
	return a.Description == b.Description && a.Action == b.Action && a.Rank == b.Rank &&
		reflect.DeepEqual(normalized(a.Criteria), normalized(b.Criteria))
}

// normalized drops the difference between empty and absent lists, which
// a store need not keep.
func normalized(c store.Criteria) store.Criteria {
	out := make(store.Criteria, len(c))
	nilIfEmpty := func(s []string) []string {
		if len(s) == 0 {
			return nil
		}
		return s
	}
	for k, v := range c {
		v.Equals, v.NotEquals = nilIfEmpty(v.Equals), nilIfEmpty(v.NotEquals)
		v.Matches, v.NotMatches = nilIfEmpty(v.Matches), nilIfEmpty(v.NotMatches)
		out[k] = v
	}
	return out
}

// archiveMatching applies a suppression rule to the findings there are
// now; the store applies it to the findings to come. The administrator's
// rules apply to its members' findings in the region too, as GuardDuty's
// do.
func (h *Handler) archiveMatching(rq *request, d *store.Detector, f *store.Filter) error {
	dets, err := h.scope(rq, d)
	if err != nil {
		return err
	}
	n := 0
	for _, sd := range dets {
		m, err := h.store.ArchiveMatching(rq.ctx, sd.ID, f.Criteria)
		if err != nil {
			return fmt.Errorf("archiving the findings of %s that filter %q matches: %w", sd.ID, f.Name, err)
		}
		n += m
	}
	h.log.LogAttrs(rq.ctx, slog.LevelInfo, "suppression rule archived findings",
		slog.String("request_id", rq.id), slog.String("detector_id", d.ID),
		slog.String("filter", f.Name), slog.Int("archived", n))
	return nil
}

// filter returns the filter named by the second path label.
func (h *Handler) filter(rq *request, d *store.Detector) (*store.Filter, error) {
	name := rq.labels[1]
	if validFilterName(name) != nil {
		return nil, badRequest(msgNoResource, fmt.Errorf("filter name %q", truncate(name, 64)))
	}
	f, err := h.store.Filter(rq.ctx, d.ID, name)
	if err != nil {
		return nil, fmt.Errorf("reading filter %q of detector %s: %w", name, d.ID, err)
	}
	return f, nil
}

func (h *Handler) listFilters(rq *request) (any, error) {
	d, err := h.detector(rq)
	if err != nil {
		return nil, err
	}
	p, err := h.pageOf(rq, "ListFilters", d.ID, 50)
	if err != nil {
		return nil, err
	}
	names, next, err := h.store.Filters(rq.ctx, d.ID, p)
	if err != nil {
		return nil, fmt.Errorf("listing the filters of detector %s: %w", d.ID, err)
	}
	if names == nil {
		names = []string{}
	}
	return struct {
		FilterNames []string `json:"filterNames"`
		NextToken   string   `json:"nextToken,omitempty"`
	}{names, h.next("ListFilters", d.ID, next)}, nil
}

type filterOutput struct {
	Name            string            `json:"name"`
	Description     string            `json:"description,omitempty"`
	Action          string            `json:"action"`
	Rank            int               `json:"rank,omitempty"`
	FindingCriteria findingCriteria   `json:"findingCriteria"`
	Tags            map[string]string `json:"tags"`
}

func (h *Handler) getFilter(rq *request) (any, error) {
	d, err := h.detector(rq)
	if err != nil {
		return nil, err
	}
	f, err := h.filter(rq, d)
	if err != nil {
		return nil, err
	}
	tags, err := h.tagsOf(rq, filterARN(d, f.Name))
	if err != nil {
		return nil, err
	}
	return filterOutput{
		Name: f.Name, Description: f.Description, Action: f.Action, Rank: f.Rank,
		FindingCriteria: wireCriteria(f.Criteria), Tags: tags,
	}, nil
}

type updateFilterInput struct {
	Description     *string          `json:"description"`
	Action          *string          `json:"action"`
	Rank            *int64           `json:"rank"`
	FindingCriteria *findingCriteria `json:"findingCriteria"`
}

func (h *Handler) updateFilter(rq *request) (any, error) {
	var in updateFilterInput
	if err := decodeBody(rq.body, &in); err != nil {
		return nil, err
	}
	d, err := h.detector(rq)
	if err != nil {
		return nil, err
	}
	if err := validFilterFields(in.Description, in.Action, in.Rank); err != nil {
		return nil, err
	}
	var c store.Criteria
	if in.FindingCriteria != nil {
		if c, err = filterCriteria(in.FindingCriteria); err != nil {
			return nil, err
		}
	}
	f, err := h.filter(rq, d)
	if err != nil {
		return nil, err
	}
	if in.Description != nil {
		f.Description = *in.Description
	}
	if in.Action != nil {
		f.Action = *in.Action
	}
	if in.Rank != nil {
		f.Rank = int(*in.Rank)
	}
	if c != nil {
		f.Criteria = c
	}
	if f.Action == "ARCHIVE" {
		if err := explicitArchive(f.Criteria); err != nil {
			return nil, err
		}
	}
	f.UpdatedAt = h.now().UTC()
	if err := h.store.UpdateFilter(rq.ctx, f); err != nil {
		return nil, fmt.Errorf("updating filter %q of detector %s: %w", f.Name, d.ID, err)
	}
	if f.Action == "ARCHIVE" && (in.Action != nil || c != nil) {
		if err := h.archiveMatching(rq, d, f); err != nil {
			return nil, err
		}
	}
	return filterNameOutput{f.Name}, nil
}

func (h *Handler) deleteFilter(rq *request) (any, error) {
	d, err := h.detector(rq)
	if err != nil {
		return nil, err
	}
	f, err := h.filter(rq, d)
	if err != nil {
		return nil, err
	}
	if err := h.store.DeleteFilter(rq.ctx, d.ID, f.Name); err != nil {
		return nil, fmt.Errorf("deleting filter %q of detector %s: %w", f.Name, d.ID, err)
	}
	return nil, h.untagAll(rq, filterARN(d, f.Name))
}
