package api

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"picket/internal/store"
)

// findingCriteria is FindingCriteria on the wire.
type findingCriteria struct {
	Criterion map[string]condition `json:"criterion"`
}

// condition is Condition on the wire: the current operator names, the
// deprecated ones GuardDuty still accepts (eq, neq, gt, gte, lt, lte), and
// the wildcard operators of suppression rules.
type condition struct {
	Eq                 []string `json:"eq,omitempty"`
	Neq                []string `json:"neq,omitempty"`
	Gt                 *int64   `json:"gt,omitempty"`
	Gte                *int64   `json:"gte,omitempty"`
	Lt                 *int64   `json:"lt,omitempty"`
	Lte                *int64   `json:"lte,omitempty"`
	Equals             []string `json:"equals,omitempty"`
	NotEquals          []string `json:"notEquals,omitempty"`
	GreaterThan        *int64   `json:"greaterThan,omitempty"`
	GreaterThanOrEqual *int64   `json:"greaterThanOrEqual,omitempty"`
	LessThan           *int64   `json:"lessThan,omitempty"`
	LessThanOrEqual    *int64   `json:"lessThanOrEqual,omitempty"`
	Matches            []string `json:"matches,omitempty"`
	NotMatches         []string `json:"notMatches,omitempty"`
}

// criteria converts wire criteria into the store's, mapping the
// deprecated operators onto the current ones, and validates them;
// allowMatches admits matches and notMatches (filters only). A nil
// criteria is no criteria.
func criteria(fc *findingCriteria, allowMatches bool) (store.Criteria, error) {
	if fc == nil || len(fc.Criterion) == 0 {
		return nil, nil
	}
	if err := knownFields(fc.Criterion); err != nil {
		return nil, err
	}
	c := make(store.Criteria, len(fc.Criterion))
	for field, w := range fc.Criterion {
		var sc store.Condition
		var err error
		if sc.Equals, err = sameList(field, "eq", w.Eq, w.Equals); err != nil {
			return nil, err
		}
		if sc.NotEquals, err = sameList(field, "neq", w.Neq, w.NotEquals); err != nil {
			return nil, err
		}
		sc.GreaterThan = stricter(w.Gt, w.GreaterThan, maxInt)
		sc.GreaterThanOrEqual = stricter(w.Gte, w.GreaterThanOrEqual, maxInt)
		sc.LessThan = stricter(w.Lt, w.LessThan, minInt)
		sc.LessThanOrEqual = stricter(w.Lte, w.LessThanOrEqual, minInt)
		sc.Matches, sc.NotMatches = w.Matches, w.NotMatches
		c[field] = sc
	}
	if err := c.Validate(allowMatches); err != nil {
		return nil, badRequest(msgJSON, err)
	}
	return c, nil
}

// maxNamed bounds how many unknown fields one error message names.
const maxNamed = 5

// knownFields refuses a criterion that names a field outside the
// catalogue (see criterionFields), naming the unknown fields in sorted
// order. A name that is not even a path is malformed JSON, as before.
func knownFields(criterion map[string]condition) error {
	var unknown []string
	for _, field := range slices.Sorted(maps.Keys(criterion)) {
		if !validPath(field) {
			return badRequest(msgJSON, fmt.Errorf("%w: %q is not a finding field", store.ErrCriteria, truncate(field, 64)))
		}
		if !knownCriterion(field) {
			unknown = append(unknown, field)
		}
	}
	return unknownFields(unknown)
}

// unknownFields is the error for criteria on the fields named, which
// are outside the catalogue; nil if there are none.
func unknownFields(unknown []string) error {
	if len(unknown) == 0 {
		return nil
	}
	return badRequest("The request is rejected because findingCriteria names unknown finding fields: "+named(unknown)+".",
		fmt.Errorf("%w: unknown fields %q", store.ErrCriteria, unknown))
}

// named lists names for a message, at most maxNamed of them. The names
// are valid paths, so they carry no quotes or control characters.
func named(names []string) string {
	if len(names) <= maxNamed {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:maxNamed], ", "), len(names)-maxNamed)
}

// sameList merges a deprecated list operator with its current name: both
// may be given (GetFilter answers with both) but must then agree.
func sameList(field, old string, deprecated, current []string) ([]string, error) {
	switch {
	case len(deprecated) == 0:
		return current, nil
	case len(current) == 0:
		return deprecated, nil
	}
	a, b := slices.Clone(deprecated), slices.Clone(current)
	slices.Sort(a)
	slices.Sort(b)
	if !slices.Equal(slices.Compact(a), slices.Compact(b)) {
		return nil, badRequest(msgJSON, fmt.Errorf("%w: %s: %s and its current name disagree", store.ErrCriteria, field, old))
	}
	return current, nil
}

// stricter combines a deprecated bound with its current name: both must
// hold, so the stricter one stays.
func stricter(a, b *int64, pick func(x, y int64) int64) *int64 {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	v := pick(*a, *b)
	return &v
}

// wireCriteria renders store criteria for GetFilter with the current
// operator names and, for readers of the older model, the deprecated ones
// (comparisons only where the value fits their 32-bit integers).
func wireCriteria(c store.Criteria) findingCriteria {
	fc := findingCriteria{Criterion: make(map[string]condition, len(c))}
	for field, sc := range c {
		fc.Criterion[field] = condition{
			Eq: sc.Equals, Neq: sc.NotEquals,
			Gt: int32Only(sc.GreaterThan), Gte: int32Only(sc.GreaterThanOrEqual),
			Lt: int32Only(sc.LessThan), Lte: int32Only(sc.LessThanOrEqual),
			Equals: sc.Equals, NotEquals: sc.NotEquals,
			GreaterThan: sc.GreaterThan, GreaterThanOrEqual: sc.GreaterThanOrEqual,
			LessThan: sc.LessThan, LessThanOrEqual: sc.LessThanOrEqual,
			Matches: sc.Matches, NotMatches: sc.NotMatches,
		}
	}
	return fc
}

func maxInt(a, b int64) int64 { return max(a, b) }
func minInt(a, b int64) int64 { return min(a, b) }

func int32Only(v *int64) *int64 {
	if v == nil || *v < math.MinInt32 || *v > math.MaxInt32 {
		return nil
	}
	return v
}

// sortCriteria is SortCriteria on the wire.
type sortCriteria struct {
	AttributeName *string `json:"attributeName"`
	OrderBy       *string `json:"orderBy"`
}

// sortOf converts and validates sort criteria.
func sortOf(sc *sortCriteria) (store.Sort, error) {
	var s store.Sort
	if sc == nil {
		return s, nil
	}
	if sc.AttributeName != nil {
		if !validPath(*sc.AttributeName) {
			return s, invalidParam("sortCriteria.attributeName", errors.New("not a finding field"))
		}
		if !knownSort(*sc.AttributeName) {
			return s, badRequest("The request is rejected because sortCriteria.attributeName names an unknown finding field: "+*sc.AttributeName+".",
				fmt.Errorf("unknown sort attribute %q", *sc.AttributeName))
		}
		s.Attribute = *sc.AttributeName
	}
	if sc.OrderBy != nil {
		if err := enum("sortCriteria.orderBy", *sc.OrderBy, "ASC", "DESC"); err != nil {
			return s, err
		}
		s.Desc = *sc.OrderBy == "DESC"
	}
	return s, nil
}
