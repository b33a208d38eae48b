package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"picket/internal/finding"
)

// Condition is one criterion of a FindingCriteria: every operator that is
// set must hold. Equality values are strings, even for numbers and
// booleans; comparisons take integers (times as Unix milliseconds).
type Condition struct {
	Equals             []string
	NotEquals          []string
	GreaterThan        *int64
	GreaterThanOrEqual *int64
	LessThan           *int64
	LessThanOrEqual    *int64
	Matches            []string // wildcard patterns: * any run, ? one character
	NotMatches         []string
}

// Criteria maps finding field paths (dotted, lowerCamelCase as in the
// finding JSON, such as "service.action.networkConnectionAction.localPortDetails.port")
// to conditions. Different fields are ANDed.
type Criteria map[string]Condition

// Limits of a criteria document, as GuardDuty sets them.
const (
	MaxCriteria      = 50  // attributes per criteria
	MaxEqualsValues  = 50  // values per equals or notEquals
	MaxMatchPatterns = 5   // patterns per matches or notMatches
	MaxPatternLength = 512 // characters per pattern
)

// ErrCriteria wraps every problem with a criteria document.
var ErrCriteria = errors.New("invalid finding criteria")

// Validate checks a criteria document: known and sensible fields, limits,
// and no operator without a value. allowMatches says whether matches and
// notMatches may be used (suppression rules only).
func (c Criteria) Validate(allowMatches bool) error {
	if len(c) > MaxCriteria {
		return fmt.Errorf("%w: %d attributes, at most %d", ErrCriteria, len(c), MaxCriteria)
	}
	for field, cond := range c {
		if !validPath(field) {
			return fmt.Errorf("%w: %q is not a finding field", ErrCriteria, field)
		}
		if len(cond.Equals) > MaxEqualsValues || len(cond.NotEquals) > MaxEqualsValues {
			return fmt.Errorf("%w: %s: at most %d values", ErrCriteria, field, MaxEqualsValues)
		}
		if (len(cond.Matches) > 0 || len(cond.NotMatches) > 0) && !allowMatches {
			return fmt.Errorf("%w: %s: matches and notMatches are only allowed in filters", ErrCriteria, field)
		}
		if len(cond.Matches) > MaxMatchPatterns || len(cond.NotMatches) > MaxMatchPatterns {
			return fmt.Errorf("%w: %s: at most %d patterns", ErrCriteria, field, MaxMatchPatterns)
		}
		for _, p := range append(slices.Clone(cond.Matches), cond.NotMatches...) {
			if len(p) == 0 || len(p) > MaxPatternLength {
				return fmt.Errorf("%w: %s: patterns are 1 to %d characters", ErrCriteria, field, MaxPatternLength)
			}
		}
		if cond.empty() {
			return fmt.Errorf("%w: %s: a condition needs an operator", ErrCriteria, field)
		}
	}
	return nil
}

func (c Condition) empty() bool {
	return len(c.Equals) == 0 && len(c.NotEquals) == 0 && c.GreaterThan == nil && c.GreaterThanOrEqual == nil &&
		c.LessThan == nil && c.LessThanOrEqual == nil && len(c.Matches) == 0 && len(c.NotMatches) == 0
}

func validPath(p string) bool {
	if p == "" || len(p) > 512 {
		return false
	}
	for _, part := range strings.Split(p, ".") {
		if part == "" {
			return false
		}
		for _, r := range part {
			if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '_' && r != '-' {
				return false
			}
		}
	}
	return true
}

// Match reports whether a finding satisfies every criterion.
func (c Criteria) Match(f *finding.Finding) bool {
	if len(c) == 0 {
		return true
	}
	v := Values(f)
	return c.MatchValues(v)
}

// MatchValues is Match over a finding's flattened values (see Values),
// for callers that test one finding against many criteria.
func (c Criteria) MatchValues(v map[string][]string) bool {
	for field, cond := range c {
		if !cond.match(field, v[normalize(field)]) {
			return false
		}
	}
	return true
}

// aliases are field names the console and older documents use for paths
// that the finding spells differently.
var aliases = map[string]string{
	"resource.instanceDetails.outpostARN": "resource.instanceDetails.outpostArn",
	"service.localIpDetails.ipAddressV4":  "service.action.networkConnectionAction.localIpDetails.ipAddressV4",
}

func normalize(field string) string {
	if a, ok := aliases[field]; ok {
		return a
	}
	return field
}

// match evaluates one condition against the values a finding has at the
// field (several when the path crosses a list: any element may match).
func (c Condition) match(field string, vals []string) bool {
	if len(c.Equals) > 0 && !anyIn(vals, c.Equals) {
		return false
	}
	if len(c.NotEquals) > 0 && anyIn(vals, c.NotEquals) {
		return false
	}
	if len(c.Matches) > 0 && !anyGlob(vals, c.Matches) {
		return false
	}
	if len(c.NotMatches) > 0 && anyGlob(vals, c.NotMatches) {
		return false
	}
	cmpOps := []struct {
		bound *int64
		ok    func(float64, float64) bool
	}{
		{c.GreaterThan, func(a, b float64) bool { return a > b }},
		{c.GreaterThanOrEqual, func(a, b float64) bool { return a >= b }},
		{c.LessThan, func(a, b float64) bool { return a < b }},
		{c.LessThanOrEqual, func(a, b float64) bool { return a <= b }},
	}
	for _, op := range cmpOps {
		if op.bound == nil {
			continue
		}
		hit := false
		for _, v := range vals {
			if n, ok := Number(field, v); ok && op.ok(n, float64(*op.bound)) {
				hit = true
				break
			}
		}
		if !hit {
			return false
		}
	}
	return true
}

func anyIn(vals, want []string) bool {
	for _, v := range vals {
		if slices.Contains(want, v) {
			return true
		}
	}
	return false
}

func anyGlob(vals, patterns []string) bool {
	for _, v := range vals {
		for _, p := range patterns {
			if Glob(p, v) {
				return true
			}
		}
	}
	return false
}

// Glob reports whether s matches pattern, in which * stands for any run
// of characters (none included) and ? for any one character; every other
// character matches itself. It runs in time linear in len(s) times the
// number of stars, without recursion.
func Glob(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// timeFields are compared as Unix milliseconds.
var timeFields = map[string]bool{
	"createdAt": true, "updatedAt": true, "service.eventFirstSeen": true, "service.eventLastSeen": true,
	"resource.instanceDetails.launchTime": true,
}

// Number returns a finding value as a number for comparisons: times in
// Unix milliseconds, everything else as written.
func Number(field, v string) (float64, bool) {
	if timeFields[normalize(field)] {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return 0, false
		}
		return float64(t.UnixMilli()), true
	}
	n, err := strconv.ParseFloat(v, 64)
	return n, err == nil
}

// Values flattens a finding into every dotted path it has a value at, as
// the text GuardDuty compares criteria against: numbers as written in
// the JSON, booleans as "true" and "false", lists contributing every
// element. The keys of service.additionalInfo's JSON value are also
// available (service.additionalInfo.threatListName). Maps with data keys
// (affectedResources, anomaly profiles) are flattened under their keys.
func Values(f *finding.Finding) map[string][]string {
	b, err := json.Marshal(f)
	if err != nil {
		return nil
	}
	var doc any
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil
	}
	out := map[string][]string{}
	flatten("", doc, out)
	if ai := f.Service.AdditionalInfo; ai != nil {
		var extra map[string]any
		d := json.NewDecoder(strings.NewReader(ai.Value))
		d.UseNumber()
		if ai.Explanation != nil {
			eb, _ := json.Marshal(ai.Explanation)
			d = json.NewDecoder(strings.NewReader(string(eb)))
			d.UseNumber()
		}
		if d.Decode(&extra) == nil {
			for k, v := range extra {
				flatten("service.additionalInfo."+k, v, out)
			}
		}
	}
	return out
}

func flatten(prefix string, v any, out map[string][]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			flatten(p, e, out)
		}
	case []any:
		for _, e := range x {
			flatten(prefix, e, out)
		}
	case string:
		out[prefix] = append(out[prefix], x)
	case json.Number:
		out[prefix] = append(out[prefix], x.String())
	case bool:
		out[prefix] = append(out[prefix], strconv.FormatBool(x))
	}
}

// Sort orders findings by one attribute. Stores break ties by finding ID
// in the same direction, so that every order is total and pages are
// stable; "" orders by finding ID alone.
type Sort struct {
	Attribute string // a finding field path; "" means by finding ID
	Desc      bool
}

// Less reports whether finding values a sort before b for the sort's
// attribute: numerically when both are numbers (or times), as text
// otherwise; a finding without the attribute sorts last.
func (s Sort) Less(a, b map[string][]string) bool {
	va, vb := first(a[normalize(s.Attribute)]), first(b[normalize(s.Attribute)])
	if va == "" || vb == "" {
		return va != "" && vb == ""
	}
	na, oka := Number(s.Attribute, va)
	nb, okb := Number(s.Attribute, vb)
	var less, eq bool
	if oka && okb {
		less, eq = na < nb, na == nb
	} else {
		less, eq = va < vb, va == vb
	}
	if eq {
		return false
	}
	return less != s.Desc
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}
