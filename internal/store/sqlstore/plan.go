package sqlstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"picket/internal/store"
)

// pushDown writes to b, as " AND ..." terms, the conditions of c that the
// database can evaluate exactly, and returns the rest for Go. A condition
// is pushed down operator by operator: every operator of a condition must
// hold, so the operators left in Go still apply to the rows SQL selects.
//
// What the database evaluates, by column kind (see columns):
//   - text: equals and notEquals, unless a value is "" (NULL stands for
//     both a missing and an empty value, which equality tells apart);
//   - number: the four comparisons, and equals and notEquals with the
//     operands a finding can show (an operand such as "8" for severity,
//     which findings render "8.0", equals nothing);
//   - flag: equals and notEquals of "true" and "false"; comparisons, which
//     never hold for a boolean.
//
// Everything else (matches and notMatches, comparisons of text, fields
// without a column, paths that cross lists) is evaluated in Go by
// criteria.MatchValues over store.Values.
func pushDown(b *builder, c store.Criteria) store.Criteria {
	var residual store.Criteria
	for _, field := range slices.Sorted(maps.Keys(c)) {
		cond := c[field]
		col, ok := columns[field]
		if !ok {
			if residual == nil {
				residual = store.Criteria{}
			}
			residual[field] = cond
			continue
		}
		rest := store.Condition{Matches: cond.Matches, NotMatches: cond.NotMatches}
		switch col.kind {
		case text:
			if len(cond.Equals) > 0 {
				if slices.Contains(cond.Equals, "") {
					rest.Equals = cond.Equals
				} else {
					b.WriteString(" AND " + col.name + " IN (" + b.list(anys(cond.Equals)) + ")")
				}
			}
			if len(cond.NotEquals) > 0 {
				if slices.Contains(cond.NotEquals, "") {
					rest.NotEquals = cond.NotEquals
				} else {
					b.WriteString(" AND (" + col.name + " IS NULL OR " + col.name + " NOT IN (" + b.list(anys(cond.NotEquals)) + "))")
				}
			}
			rest.GreaterThan, rest.GreaterThanOrEqual = cond.GreaterThan, cond.GreaterThanOrEqual
			rest.LessThan, rest.LessThanOrEqual = cond.LessThan, cond.LessThanOrEqual
		case number:
			if len(cond.Equals) > 0 {
				vals := canonical(col, cond.Equals)
				if len(vals) == 0 {
					b.WriteString(" AND 1 = 0")
				} else {
					b.WriteString(" AND " + col.name + " IN (" + b.list(vals) + ")")
				}
			}
			if vals := canonical(col, cond.NotEquals); len(vals) > 0 {
				b.WriteString(" AND " + col.name + " NOT IN (" + b.list(vals) + ")")
			}
			for _, op := range []struct {
				bound *int64
				sym   string
			}{{cond.GreaterThan, ">"}, {cond.GreaterThanOrEqual, ">="}, {cond.LessThan, "<"}, {cond.LessThanOrEqual, "<="}} {
				if op.bound != nil {
					b.WriteString(" AND " + col.name + " " + op.sym + " " + b.arg(bound(col, *op.bound)))
				}
			}
		case flag:
			if len(cond.Equals) > 0 {
				vals := flags(cond.Equals)
				if len(vals) == 0 {
					b.WriteString(" AND 1 = 0")
				} else {
					b.WriteString(" AND " + col.name + " IN (" + b.list(vals) + ")")
				}
			}
			if vals := flags(cond.NotEquals); len(vals) > 0 {
				b.WriteString(" AND " + col.name + " NOT IN (" + b.list(vals) + ")")
			}
			if cond.GreaterThan != nil || cond.GreaterThanOrEqual != nil || cond.LessThan != nil || cond.LessThanOrEqual != nil {
				// "true" and "false" are not numbers: no comparison holds.
				b.WriteString(" AND 1 = 0")
			}
		}
		if !emptyCondition(rest) {
			if residual == nil {
				residual = store.Criteria{}
			}
			residual[field] = rest
		}
	}
	return residual
}

func emptyCondition(c store.Condition) bool {
	return len(c.Equals) == 0 && len(c.NotEquals) == 0 && c.GreaterThan == nil && c.GreaterThanOrEqual == nil &&
		c.LessThan == nil && c.LessThanOrEqual == nil && len(c.Matches) == 0 && len(c.NotMatches) == 0
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// canonical returns the column values of the equality operands a finding
// can show.
func canonical(col column, operands []string) []any {
	var out []any
	for _, s := range operands {
		if v, ok := col.canon(s); ok {
			out = append(out, v)
		}
	}
	return out
}

func flags(operands []string) []any {
	var out []any
	for _, s := range operands {
		switch s {
		case "true":
			out = append(out, int64(1))
		case "false":
			out = append(out, int64(0))
		}
	}
	return out
}

// maxExact is the largest magnitude below which every integer is a
// float64.
const maxExact = 1 << 53

// bound returns a comparison operand for a number column. Criteria
// compare as float64 (see store.Number); an integer column compares with
// an integer operand (which keeps PostgreSQL on its indexes) when the
// operand is exact as a float64, and with the float64 otherwise.
func bound(col column, n int64) any {
	if col.real || n > maxExact || n < -maxExact {
		return float64(n)
	}
	return n
}

// order is how a listing is sorted: by a column in SQL, or in Go by the
// values store.Sort.Less compares.
type order struct {
	sort     store.Sort
	col      column // when !inGo
	inGo     bool
	nullable bool // the column may be NULL: such findings come last
}

func orderOf(s store.Sort) order {
	if s.Attribute == "" {
		return order{sort: s, col: columns["id"]}
	}
	col, ok := columns[s.Attribute]
	if !ok {
		return order{sort: s, inGo: true}
	}
	return order{sort: s, col: col, nullable: col.kind == text && col.name != "id"}
}

// dir is the SQL direction of the order, and of its tie-break by ID.
func (o order) dir() string {
	if o.sort.Desc {
		return "DESC"
	}
	return "ASC"
}

// after is the comparison that selects rows after a position.
func (o order) after() string {
	if o.sort.Desc {
		return "<"
	}
	return ">"
}

// cursor is a position in a listing: the last finding returned, by its
// sort value and ID. It names the sort so that a cursor cannot continue
// a listing of another order.
type cursor struct {
	Attr string `json:"a"`
	Desc bool   `json:"d,omitempty"`
	Null bool   `json:"n,omitempty"` // the finding has no value: it is among the last
	Val  string `json:"v,omitempty"`
	ID   string `json:"i"`
}

func (c cursor) String() string {
	b, _ := json.Marshal(c)
	return string(b)
}

func parseCursor(s string, o order) (*cursor, error) {
	if s == "" {
		return nil, nil
	}
	var c cursor
	if err := json.Unmarshal([]byte(s), &c); err != nil || c.ID == "" {
		return nil, fmt.Errorf("%w: malformed pagination cursor", store.ErrCriteria)
	}
	if c.Attr != o.sort.Attribute || c.Desc != o.sort.Desc {
		return nil, fmt.Errorf("%w: the pagination cursor belongs to another sort order", store.ErrCriteria)
	}
	if !o.inGo {
		if c.Null && !o.nullable {
			return nil, fmt.Errorf("%w: malformed pagination cursor", store.ErrCriteria)
		}
		if _, err := o.colValue(c.Val); err != nil && !c.Null {
			return nil, fmt.Errorf("%w: malformed pagination cursor", store.ErrCriteria)
		}
	}
	return &c, nil
}

// colValue converts a cursor value back to the column's type.
func (o order) colValue(s string) (any, error) {
	switch {
	case o.col.kind == text:
		return s, nil
	case o.col.real:
		return strconv.ParseFloat(s, 64)
	}
	return strconv.ParseInt(s, 10, 64)
}

// formatValue renders a scanned column value for a cursor.
func formatValue(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < maxExact {
			return strconv.FormatFloat(x, 'f', -1, 64), true
		}
		return strconv.FormatFloat(x, 'g', -1, 64), true
	case string:
		return x, true
	case []byte:
		return string(x), true
	case bool:
		if x {
			return "1", true
		}
		return "0", true
	}
	return fmt.Sprint(v), true
}

// sortKey finds the key of store.Values that store.Sort.Less reads for
// an attribute: the attribute's path, or the path an alias stands for.
// It asks Less itself, which puts a finding with a value before one
// without, so that the aliases stay in one place.
type sortKey struct {
	attr     string
	key      string
	resolved bool
	tried    map[string]bool
}

func newSortKey(attr string) *sortKey {
	k := &sortKey{attr: attr, tried: map[string]bool{}}
	if k.reads(attr) {
		k.key, k.resolved = attr, true
	}
	return k
}

func (k *sortKey) reads(key string) bool {
	return store.Sort{Attribute: k.attr}.Less(map[string][]string{key: {"x"}}, map[string][]string{})
}

// value returns the first value at the sort key, and whether there is
// one; a finding without it sorts last.
func (k *sortKey) value(v map[string][]string) (string, bool) {
	if !k.resolved {
		for key := range v {
			if k.tried[key] {
				continue
			}
			k.tried[key] = true
			if k.reads(key) {
				k.key, k.resolved = key, true
				break
			}
		}
		if !k.resolved {
			return "", false
		}
	}
	vals := v[k.key]
	if len(vals) == 0 || vals[0] == "" {
		return "", false
	}
	return vals[0], true
}

// prefilter is a test on a stored finding's JSON that every finding the
// Go conditions select passes: for each equals condition, one of its
// values appears in the JSON as written (except for the user's state,
// which the columns hold). Findings it rejects need not be
// decoded, which makes a selective equality on a field without a column
// cheap. It only uses values whose characters no JSON encoder escapes,
// and lets through any finding whose JSON holds an escaped backslash,
// the mark of text (additionalInfo's inner JSON) that may spell a value
// with escapes.
type prefilter [][][]byte

func prefilterOf(residual store.Criteria) prefilter {
	var p prefilter
	for _, field := range slices.Sorted(maps.Keys(residual)) {
		cond := residual[field]
		if len(cond.Equals) == 0 || overlaid[field] {
			continue
		}
		var anyOf [][]byte
		for _, v := range cond.Equals {
			if !plain(v) {
				anyOf = nil
				break
			}
			anyOf = append(anyOf, []byte(v))
		}
		if anyOf != nil {
			p = append(p, anyOf)
		}
	}
	return p
}

// plain reports whether s is not empty and has only characters that
// JSON never escapes.
func plain(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && !strings.ContainsRune(".-_:/@ ", rune(c)) {
			return false
		}
	}
	return true
}

// overlaid are the fields whose values the columns hold rather than the
// stored JSON: the user's state.
var overlaid = map[string]bool{"service.archived": true, "service.userFeedback": true}

var escapedBackslash = []byte(`\\`)

// where writes the prefilter as a condition on the body column, when the
// dialect can test for bytes.
func (p prefilter) where(b *builder) {
	if len(p) == 0 || b.d.Contains == nil {
		return
	}
	b.WriteString(" AND (" + b.d.Contains("body", b.arg(escapedBackslash)))
	for i, anyOf := range p {
		if i == 0 {
			b.WriteString(" OR ((")
		} else {
			b.WriteString(") AND (")
		}
		for j, v := range anyOf {
			if j > 0 {
				b.WriteString(" OR ")
			}
			b.WriteString(b.d.Contains("body", b.arg(v)))
		}
	}
	b.WriteString(")))")
}

// admits is the prefilter in Go, for dialects that cannot test bytes.
func (p prefilter) admits(body []byte) bool {
	if len(p) == 0 || bytes.Contains(body, escapedBackslash) {
		return true
	}
	for _, anyOf := range p {
		found := false
		for _, v := range anyOf {
			if bytes.Contains(body, v) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
