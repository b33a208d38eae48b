package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"picket/internal/finding"
	"picket/internal/store"
)

// idChunk bounds the IDs in one IN list, well below every database's
// limit on placeholders.
const idChunk = 500

func decodeFinding(body []byte) (*finding.Finding, error) {
	f := new(finding.Finding)
	if err := json.Unmarshal(body, f); err != nil {
		return nil, fmt.Errorf("decoding a stored finding: %w", err)
	}
	return f, nil
}

// findingOf decodes a stored finding and lays the user's state, which the
// columns hold, over it.
func findingOf(body []byte, archived int64, feedback sql.NullString) (*finding.Finding, error) {
	f, err := decodeFinding(body)
	if err != nil {
		return nil, err
	}
	f.Service.Archived = archived != 0
	f.Service.UserFeedback = feedback.String
	return f, nil
}

// readFindings runs query, which selects the id, body, archived and
// feedback columns of findings, and passes each finding to visit.
func readFindings(ctx context.Context, q querier, query string, args []any, visit func(id string, f *finding.Finding)) error {
	return readStored(ctx, q, query, args, func(id string, s *storedFinding) { visit(id, s.f) })
}

// storedFinding is a stored finding as read: decoded, with the user's
// state laid over, and its JSON as stored.
type storedFinding struct {
	f    *finding.Finding
	body []byte
}

// readStored is readFindings that also passes each finding's stored JSON.
func readStored(ctx context.Context, q querier, query string, args []any, visit func(id string, s *storedFinding)) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var body []byte
		var archived int64
		var feedback sql.NullString
		if err := rows.Scan(&id, &body, &archived, &feedback); err != nil {
			return err
		}
		f, err := findingOf(body, archived, feedback)
		if err != nil {
			return fmt.Errorf("finding %s: %w", id, err)
		}
		visit(id, &storedFinding{f: f, body: body})
	}
	return rows.Err()
}

func chunks(ids []string) [][]string {
	var out [][]string
	for len(ids) > idChunk {
		out = append(out, ids[:idChunk])
		ids = ids[idChunk:]
	}
	if len(ids) > 0 {
		out = append(out, ids)
	}
	return out
}

// findingKey is a finding's key in the findings table: the row key of
// its detector and its ID.
type findingKey struct {
	det int64
	id  string
}

// Reads.

// Findings returns the findings with the given IDs, in the order asked,
// without unknown IDs and repetitions.
func (db *DB) Findings(ctx context.Context, detectorID string, ids []string) ([]*finding.Finding, error) {
	seq, err := db.detSeq(ctx, db.read, detectorID)
	if err != nil {
		return nil, err
	}
	uniq := slices.Compact(slices.Sorted(slices.Values(ids)))
	found := make(map[string]*finding.Finding, len(uniq))
	for _, part := range chunks(uniq) {
		b := &builder{d: db.d}
		b.WriteString(`SELECT id, body, archived, feedback FROM findings WHERE det = ` + b.arg(seq) + ` AND id IN (` + b.list(anys(part)) + `)`)
		err := readFindings(ctx, db.read, b.String(), b.args, func(id string, f *finding.Finding) { found[id] = f })
		if err != nil {
			return nil, fmt.Errorf("reading findings: %w", err)
		}
	}
	out := make([]*finding.Finding, 0, len(found))
	for _, id := range ids {
		if f, ok := found[id]; ok {
			out = append(out, f)
			delete(found, id)
		}
	}
	return out, nil
}

// stored is one finding a scan visits.
type stored struct {
	id  string
	pos cursor
	// The stored finding and its store.Values, when the scan read them.
	body     []byte
	archived int64
	feedback sql.NullString
	vals     map[string][]string
}

// finding decodes the stored finding.
func (s *stored) finding() (*finding.Finding, error) {
	return findingOf(s.body, s.archived, s.feedback)
}

// scan says which findings a scan visits and how.
type scan struct {
	seq   int64
	crit  store.Criteria
	extra string // a constant condition, such as "archived = 0"
	order order  // a column order
	after *cursor
	// decode asks for each finding's JSON and values.
	decode bool
	chunk  int
}

// scan visits, in order, the findings after s.after that match s.crit,
// until visit returns false. Conditions the database can evaluate are in
// the query; the rest are tested on the decoded finding. It queries in
// chunks of s.chunk rows, each continuing from the last row read, so that
// no query reads more than it must.
func (db *DB) scan(ctx context.Context, q querier, s scan, visit func(*stored) bool) error {
	o := s.order
	residual := pushDown(&builder{d: db.d}, s.crit)
	pre := prefilterOf(residual)
	// The database tests the prefilter where it can, Go where not.
	goPre := pre
	if db.d.Contains != nil {
		goPre = nil
	}
	decode := s.decode || residual != nil
	idOrder := o.col.name == "id"
	phases, start := 1, 0
	if o.nullable {
		phases = 2
		if s.after != nil && s.after.Null {
			start = 1
		}
	}
	for phase := start; phase < phases; phase++ {
		var pos *cursor
		if phase == start {
			pos = s.after
		}
		for {
			b := &builder{d: db.d}
			cols := "id"
			if !idOrder {
				cols += ", " + o.col.name
			}
			if decode {
				cols += ", body, archived, feedback"
			}
			b.WriteString(`SELECT ` + cols + ` FROM findings WHERE det = ` + b.arg(s.seq))
			pushDown(b, s.crit)
			pre.where(b)
			if s.extra != "" {
				b.WriteString(" AND " + s.extra)
			}
			byID := idOrder || phase == 1
			if o.nullable {
				if phase == 0 {
					b.WriteString(" AND " + o.col.name + " IS NOT NULL")
				} else {
					b.WriteString(" AND " + o.col.name + " IS NULL")
				}
			}
			if pos != nil {
				if byID {
					b.WriteString(" AND id " + o.after() + " " + b.arg(pos.ID))
				} else {
					v, err := o.colValue(pos.Val)
					if err != nil {
						return err
					}
					b.WriteString(" AND (" + o.col.name + ", id) " + o.after() + " (" + b.arg(v) + ", " + b.arg(pos.ID) + ")")
				}
			}
			if byID {
				b.WriteString(" ORDER BY id " + o.dir())
			} else {
				b.WriteString(" ORDER BY " + o.col.name + " " + o.dir() + ", id " + o.dir())
			}
			b.WriteString(" LIMIT " + b.arg(s.chunk))
			n, stop, last, err := db.scanChunk(ctx, q, b, s, o, phase, idOrder, decode, residual, goPre, visit)
			if err != nil || stop {
				return err
			}
			if n < s.chunk {
				break
			}
			pos = last
		}
	}
	return nil
}

func (db *DB) scanChunk(ctx context.Context, q querier, b *builder, s scan, o order, phase int, idOrder, decode bool,
	residual store.Criteria, pre prefilter, visit func(*stored) bool) (n int, stop bool, last *cursor, err error) {
	rows, err := q.QueryContext(ctx, b.String(), b.args...)
	if err != nil {
		return 0, false, nil, fmt.Errorf("reading findings: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var st stored
		var val any
		dest := []any{&st.id}
		if !idOrder {
			dest = append(dest, &val)
		}
		if decode {
			dest = append(dest, &st.body, &st.archived, &st.feedback)
		}
		if err := rows.Scan(dest...); err != nil {
			return n, false, nil, fmt.Errorf("reading findings: %w", err)
		}
		n++
		st.pos = cursor{Attr: o.sort.Attribute, Desc: o.sort.Desc, ID: st.id, Null: phase == 1}
		if idOrder {
			st.pos.Val = st.id
		} else if phase == 0 {
			st.pos.Val, _ = formatValue(val)
		}
		last = &st.pos
		if decode {
			if residual != nil && !pre.admits(st.body) {
				continue
			}
			vals, err := db.values.get(findingKey{s.seq, st.id}, &st)
			if err != nil {
				return n, false, nil, fmt.Errorf("finding %s: %w", st.id, err)
			}
			st.vals = vals
			if residual != nil && !residual.MatchValues(vals) {
				continue
			}
		}
		if !visit(&st) {
			return n, true, last, nil
		}
	}
	if err := rows.Err(); err != nil {
		return n, false, nil, fmt.Errorf("reading findings: %w", err)
	}
	return n, false, last, nil
}

// scanChunk sizes: a listing without Go conditions reads one page and
// one more row; with them, rows come in larger chunks.
const filterChunk = 512

// ListFindings returns one page of the IDs of the findings that match,
// in the query's order; ties in the sort value go by finding ID in the
// same direction, and findings without the sort attribute come last. The
// cursor is the last finding returned, by its sort value and ID, so that
// findings committed between pages are neither skipped nor repeated.
func (db *DB) ListFindings(ctx context.Context, detectorID string, q store.Query) ([]string, string, error) {
	seq, err := db.detSeq(ctx, db.read, detectorID)
	if err != nil {
		return nil, "", err
	}
	o := orderOf(q.Sort)
	after, err := parseCursor(q.Page.Cursor, o)
	if err != nil {
		return nil, "", err
	}
	limit := limitOf(q.Page)
	if o.inGo {
		return db.listInGo(ctx, seq, q, o, after, limit)
	}
	chunk := limit + 1
	if pushDown(&builder{d: db.d}, q.Criteria) != nil {
		chunk = max(chunk, filterChunk)
	}
	var got []cursor
	err = db.scan(ctx, db.read, scan{seq: seq, crit: q.Criteria, order: o, after: after, chunk: chunk}, func(s *stored) bool {
		got = append(got, s.pos)
		return len(got) <= limit
	})
	if err != nil {
		return nil, "", fmt.Errorf("listing findings: %w", err)
	}
	got, next := page(got, limit, cursor.String)
	ids := make([]string, len(got))
	for i, c := range got {
		ids[i] = c.ID
	}
	return ids, next, nil
}

// goItem is a finding sorted in Go.
type goItem struct {
	id  string
	val string
	has bool
	m   map[string][]string // {key: [val]}, or empty: what Less reads
}

// listInGo lists findings sorted by an attribute without a column: it
// reads every finding the pushed-down conditions select and sorts them
// with store.Sort.Less.
func (db *DB) listInGo(ctx context.Context, seq int64, q store.Query, o order, after *cursor, limit int) ([]string, string, error) {
	key := newSortKey(q.Sort.Attribute)
	var items []goItem
	err := db.scan(ctx, db.read, scan{seq: seq, crit: q.Criteria, order: orderOf(store.Sort{}), decode: true, chunk: 4096}, func(s *stored) bool {
		it := goItem{id: s.id}
		it.val, it.has = key.value(s.vals)
		items = append(items, it)
		return true
	})
	if err != nil {
		return nil, "", fmt.Errorf("listing findings: %w", err)
	}
	mapOf := func(it *goItem) {
		it.m = map[string][]string{}
		if it.has {
			it.m[key.key] = []string{it.val}
		}
	}
	for i := range items {
		mapOf(&items[i])
	}
	compare := func(a, b goItem) int {
		switch {
		case q.Sort.Less(a.m, b.m):
			return -1
		case q.Sort.Less(b.m, a.m):
			return 1
		}
		c := strings.Compare(a.id, b.id)
		if q.Sort.Desc {
			c = -c
		}
		return c
	}
	slices.SortFunc(items, compare)
	start := 0
	if after != nil {
		ai := goItem{id: after.ID, val: after.Val, has: !after.Null}
		mapOf(&ai)
		start, _ = slices.BinarySearchFunc(items, ai, func(it, target goItem) int {
			if compare(it, target) <= 0 {
				return -1
			}
			return 1
		})
	}
	items = items[start:]
	items, next := page(items, limit, func(it goItem) string {
		return cursor{Attr: q.Sort.Attribute, Desc: q.Sort.Desc, Null: !it.has, Val: it.val, ID: it.id}.String()
	})
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.id
	}
	return ids, next, nil
}

// Statistics.

type groupKey struct {
	key, resourceType, account string
}

type groupAgg struct {
	total    int
	severity float64
	lastMS   int64
}

const dayMS = 86400000

// groupOf returns the group of a finding's row.
func groupOf(g store.GroupBy, r *row) groupKey {
	switch g {
	case store.GroupAccount:
		return groupKey{key: r.accountID}
	case store.GroupDate:
		return groupKey{key: time.UnixMilli(floorDiv(r.updatedMS, dayMS) * dayMS).UTC().Format(time.DateOnly)}
	case store.GroupType:
		return groupKey{key: r.typ}
	case store.GroupResource:
		return groupKey{key: r.resourceID, resourceType: r.resourceType, account: r.accountID}
	}
	return groupKey{key: severityText(r.severity)}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

func severityText(s float64) string {
	b, err := finding.Severity(s).MarshalJSON()
	if err != nil {
		return ""
	}
	return string(b)
}

// dayStartExpr is the first millisecond of the UTC day of updated_ms,
// with floor division for times before 1970. The findings_day index is
// on this very expression: the database uses it only for a GROUP BY
// spelled the same.
const dayStartExpr = "updated_ms - ((updated_ms % 86400000) + 86400000) % 86400000"

// groupSQL returns the expressions a GROUP BY groups by and how each
// scanned value fills a row for groupOf.
func groupSQL(g store.GroupBy) ([]string, func(r *row, vals []any)) {
	str := func(v any) string { s, _ := formatValue(v); return s }
	switch g {
	case store.GroupAccount:
		return []string{"account_id"}, func(r *row, v []any) { r.accountID = str(v[0]) }
	case store.GroupDate:
		// The first millisecond of the UTC day, with floor division for
		// times before 1970.
		return []string{"(" + dayStartExpr + ")"}, func(r *row, v []any) { r.updatedMS, _ = v[0].(int64) }
	case store.GroupType:
		return []string{"type"}, func(r *row, v []any) { r.typ = str(v[0]) }
	case store.GroupResource:
		return []string{"resource_id", "resource_type", "account_id"}, func(r *row, v []any) {
			r.resourceID, r.resourceType, r.accountID = str(v[0]), str(v[1]), str(v[2])
		}
	}
	return []string{"severity"}, func(r *row, v []any) { r.severity, _ = v[0].(float64) }
}

// Statistics counts the matching findings by severity, or groups them.
func (db *DB) Statistics(ctx context.Context, detectorID string, q store.StatsQuery) (store.Stats, error) {
	seq, err := db.detSeq(ctx, db.read, detectorID)
	if err != nil {
		return store.Stats{}, err
	}
	aggs := map[groupKey]*groupAgg{}
	add := func(k groupKey, n int, sev float64, lastMS int64) {
		a := aggs[k]
		if a == nil {
			a = &groupAgg{severity: sev, lastMS: lastMS}
			aggs[k] = a
		}
		a.total += n
		a.severity = max(a.severity, sev)
		a.lastMS = max(a.lastMS, lastMS)
	}
	if pushDown(&builder{d: db.d}, q.Criteria) == nil {
		err = db.groupInSQL(ctx, seq, q, add)
	} else {
		var ferr error
		err = db.scan(ctx, db.read, scan{seq: seq, crit: q.Criteria, order: orderOf(store.Sort{}), decode: true, chunk: 4096}, func(s *stored) bool {
			f, err := s.finding()
			if err != nil {
				ferr = fmt.Errorf("finding %s: %w", s.id, err)
				return false
			}
			r := rowOf(f)
			add(groupOf(q.GroupBy, &r), 1, r.severity, r.updatedMS)
			return true
		})
		err = errors.Join(err, ferr)
	}
	if err != nil {
		return store.Stats{}, fmt.Errorf("finding statistics: %w", err)
	}
	if q.GroupBy == "" {
		out := store.Stats{BySeverity: map[string]int{}}
		for k, a := range aggs {
			out.BySeverity[k.key] += a.total
		}
		return out, nil
	}
	groups := make([]store.Group, 0, len(aggs))
	for k, a := range aggs {
		groups = append(groups, store.Group{Key: k.key, ResourceType: k.resourceType, AccountID: k.account,
			Severity: a.severity, Total: a.total, LastGeneratedAt: time.UnixMilli(a.lastMS).UTC()})
	}
	slices.SortFunc(groups, func(a, b store.Group) int {
		if c := cmp.Compare(a.Total, b.Total); c != 0 {
			if q.Desc {
				return -c
			}
			return c
		}
		return cmp.Or(strings.Compare(a.Key, b.Key), strings.Compare(a.ResourceType, b.ResourceType), strings.Compare(a.AccountID, b.AccountID))
	})
	if q.Limit > 0 && len(groups) > q.Limit {
		groups = groups[:q.Limit]
	}
	return store.Stats{Groups: groups}, nil
}

func (db *DB) groupInSQL(ctx context.Context, seq int64, q store.StatsQuery, add func(groupKey, int, float64, int64)) error {
	exprs, fill := groupSQL(q.GroupBy)
	b := &builder{d: db.d}
	if c, ok := q.Criteria["updatedAt"]; ok && (c.GreaterThan != nil || c.GreaterThanOrEqual != nil) {
		// A period (the console's summary): the period's findings are
		// picked first, by a range of the findings_recent index, and then
		// grouped. Asked in one statement, the planner would rather walk
		// an index in group order through every finding of the detector,
		// which on a large store costs many times more.
		b.WriteString(`WITH picked AS MATERIALIZED (SELECT type, severity, updated_ms, resource_id, resource_type, account_id FROM findings WHERE det = ` + b.arg(seq))
		pushDown(b, q.Criteria)
		b.WriteString(`) SELECT ` + strings.Join(exprs, ", ") + `, COUNT(*), MAX(severity), MAX(updated_ms) FROM picked GROUP BY ` + strings.Join(exprs, ", "))
	} else {
		b.WriteString(`SELECT ` + strings.Join(exprs, ", ") + `, COUNT(*), MAX(severity), MAX(updated_ms) FROM findings WHERE det = ` + b.arg(seq))
		pushDown(b, q.Criteria)
		b.WriteString(` GROUP BY ` + strings.Join(exprs, ", "))
	}
	rows, err := db.read.QueryContext(ctx, b.String(), b.args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		keys := make([]any, len(exprs))
		dest := make([]any, 0, len(exprs)+3)
		for i := range keys {
			dest = append(dest, &keys[i])
		}
		var n int
		var sev float64
		var lastMS int64
		dest = append(dest, &n, &sev, &lastMS)
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		var r row
		for i, k := range keys {
			keys[i] = normalizeScan(k)
		}
		fill(&r, keys)
		add(groupOf(q.GroupBy, &r), n, sev, lastMS)
	}
	return rows.Err()
}

// normalizeScan gives scanned values the types the dialects agree on.
func normalizeScan(v any) any {
	switch x := v.(type) {
	case []byte:
		return string(x)
	case int32:
		return int64(x)
	case int:
		return int64(x)
	case float32:
		return float64(x)
	}
	return v
}

// Changes.

// SetArchived archives or unarchives findings; unknown IDs are skipped.
func (db *DB) SetArchived(ctx context.Context, detectorID string, ids []string, archived bool) error {
	err := db.updateByID(ctx, detectorID, ids, assign{"archived", boolInt(archived)})
	if err != nil {
		return fmt.Errorf("archiving findings: %w", err)
	}
	return nil
}

// SetFeedback records the user's feedback on findings; unknown IDs are
// skipped.
func (db *DB) SetFeedback(ctx context.Context, detectorID string, ids []string, feedback, comments string) error {
	err := db.updateByID(ctx, detectorID, ids, assign{"feedback", null(feedback)}, assign{"comments", null(comments)})
	if err != nil {
		return fmt.Errorf("recording feedback: %w", err)
	}
	return nil
}

// assign sets a column (a constant of this package) to a value.
type assign struct {
	col string
	val any
}

func (db *DB) updateByID(ctx context.Context, detectorID string, ids []string, set ...assign) error {
	uniq := slices.Compact(slices.Sorted(slices.Values(ids)))
	return db.detTx(ctx, detectorID, func(tx *sql.Tx, seq int64) error {
		return db.updateIDs(ctx, tx, seq, uniq, set...)
	})
}

func (db *DB) updateIDs(ctx context.Context, tx *sql.Tx, seq int64, ids []string, set ...assign) error {
	for _, part := range chunks(ids) {
		b := &builder{d: db.d}
		b.WriteString(`UPDATE findings SET `)
		for i, a := range set {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(a.col + " = " + b.arg(a.val))
		}
		b.WriteString(` WHERE det = ` + b.arg(seq) + ` AND id IN (` + b.list(anys(part)) + `)`)
		if _, err := tx.ExecContext(ctx, b.String(), b.args...); err != nil {
			return err
		}
	}
	return nil
}

// ArchiveMatching archives the current findings that match c and returns
// how many it archived.
func (db *DB) ArchiveMatching(ctx context.Context, detectorID string, c store.Criteria) (int, error) {
	var n int
	err := db.detTx(ctx, detectorID, func(tx *sql.Tx, seq int64) error {
		n = 0
		b := &builder{d: db.d}
		b.WriteString(`UPDATE findings SET archived = 1 WHERE det = ` + b.arg(seq) + ` AND archived = 0`)
		if pushDown(b, c) == nil {
			res, err := tx.ExecContext(ctx, b.String(), b.args...)
			if err != nil {
				return err
			}
			m, err := res.RowsAffected()
			n = int(m)
			return err
		}
		var ids []string
		err := db.scan(ctx, tx, scan{seq: seq, crit: c, extra: "archived = 0", order: orderOf(store.Sort{}), chunk: 4096}, func(s *stored) bool {
			ids = append(ids, s.id)
			return true
		})
		if err != nil {
			return err
		}
		n = len(ids)
		return db.updateIDs(ctx, tx, seq, ids, assign{"archived", int64(1)})
	})
	if err != nil {
		return 0, fmt.Errorf("archiving matching findings: %w", err)
	}
	return n, nil
}

// Import inserts findings in one transaction as they are: without
// merging them into stored findings (a stored ID fails the import) and
// without suppression rules. It is the bulk path, for loading an export
// or building a benchmark database; ingest commits batches.
func (db *DB) Import(ctx context.Context, findings iter.Seq[*finding.Finding]) (int, error) {
	var n int
	err := db.tryTx(ctx, func(tx *sql.Tx) error {
		ins, err := tx.PrepareContext(ctx, db.d.bind(insertFinding))
		if err != nil {
			return err
		}
		defer ins.Close()
		seqs := map[string]int64{}
		args := make([]any, 0, len(findingColumns)+2)
		for f := range findings {
			seq, ok := seqs[f.Service.DetectorID]
			if !ok {
				if seq, err = db.detSeq(ctx, tx, f.Service.DetectorID); err != nil {
					return err
				}
				seqs[f.Service.DetectorID] = seq
			}
			body, err := json.Marshal(f)
			if err != nil {
				return fmt.Errorf("encoding finding %s: %w", f.ID, err)
			}
			r := rowOf(f)
			args = append(append(append(args[:0], seq), r.values()...), body)
			if _, err := ins.ExecContext(ctx, args...); err != nil {
				return fmt.Errorf("inserting finding %s: %w", f.ID, err)
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("importing findings: %w", err)
	}
	return n, nil
}
