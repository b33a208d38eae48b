package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"picket/internal/store"
)

// conditionDoc is a store.Condition as a filter's body keeps it. It
// looks like the API's wire condition but stays apart from it: the stored
// form has only the current operators and must not change when the API
// accepts another spelling.
type conditionDoc struct {
	Equals             []string `json:"equals,omitempty"`
	NotEquals          []string `json:"notEquals,omitempty"`
	GreaterThan        *int64   `json:"greaterThan,omitempty"`
	GreaterThanOrEqual *int64   `json:"greaterThanOrEqual,omitempty"`
	LessThan           *int64   `json:"lessThan,omitempty"`
	LessThanOrEqual    *int64   `json:"lessThanOrEqual,omitempty"`
	Matches            []string `json:"matches,omitempty"`
	NotMatches         []string `json:"notMatches,omitempty"`
}

type filterDoc struct {
	Description string                  `json:"description,omitempty"`
	Criteria    map[string]conditionDoc `json:"criteria"`
	Tags        map[string]string       `json:"tags,omitempty"`
	CreatedAt   time.Time               `json:"createdAt"`
	UpdatedAt   time.Time               `json:"updatedAt"`
}

func filterBody(f *store.Filter) ([]byte, error) {
	doc := filterDoc{Description: f.Description, Criteria: map[string]conditionDoc{}, Tags: f.Tags,
		CreatedAt: f.CreatedAt.UTC(), UpdatedAt: f.UpdatedAt.UTC()}
	for k, c := range f.Criteria {
		doc.Criteria[k] = conditionDoc(c)
	}
	return json.Marshal(doc)
}

func filterOf(name, action string, rank int, body []byte) (*store.Filter, error) {
	var doc filterDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("decoding filter %s: %w", name, err)
	}
	f := &store.Filter{Name: name, Action: action, Rank: rank, Description: doc.Description,
		Criteria: store.Criteria{}, Tags: doc.Tags, CreatedAt: doc.CreatedAt, UpdatedAt: doc.UpdatedAt}
	for k, c := range doc.Criteria {
		f.Criteria[k] = store.Condition(c)
	}
	return f, nil
}

// CreateFilter stores a new filter; a rank of 0 or less places it after
// the detector's other filters.
func (db *DB) CreateFilter(ctx context.Context, f *store.Filter) error {
	c := *f
	stampNew(&c.CreatedAt, &c.UpdatedAt)
	if c.Action == "" {
		c.Action = "NOOP"
	}
	err := db.detTx(ctx, f.DetectorID, func(tx *sql.Tx, seq int64) error {
		if err := db.vacant(ctx, tx, `SELECT COUNT(*) FROM filters WHERE det = ? AND name = ?`, seq, f.Name); err != nil {
			return err
		}
		rank := c.Rank
		if rank <= 0 {
			var maxRank sql.NullInt64
			if err := tx.QueryRowContext(ctx, db.d.bind(`SELECT MAX(filter_rank) FROM filters WHERE det = ?`), seq).Scan(&maxRank); err != nil {
				return err
			}
			rank = int(maxRank.Int64) + 1
		}
		return putBody(ctx, db, tx, filterBody, &c, `INSERT INTO filters (body, det, name, filter_rank, action) VALUES (?, ?, ?, ?, ?)`,
			seq, f.Name, rank, c.Action)
	})
	if err := db.clash(err); err != nil {
		return fmt.Errorf("creating filter %s: %w", f.Name, err)
	}
	return nil
}

// UpdateFilter replaces a filter; its creation time stays, and a rank of 0
// or less keeps its rank.
func (db *DB) UpdateFilter(ctx context.Context, f *store.Filter) error {
	err := db.detTx(ctx, f.DetectorID, func(tx *sql.Tx, seq int64) error {
		cur, err := db.filter(ctx, tx, seq, f.Name)
		if err != nil {
			return err
		}
		c := *f
		stampReplaced(&c.CreatedAt, &c.UpdatedAt, cur.CreatedAt)
		if c.Rank <= 0 {
			c.Rank = cur.Rank
		}
		if c.Action == "" {
			c.Action = cur.Action
		}
		return putBody(ctx, db, tx, filterBody, &c, `UPDATE filters SET body = ?, filter_rank = ?, action = ? WHERE det = ? AND name = ?`,
			c.Rank, c.Action, seq, f.Name)
	})
	if err != nil {
		return fmt.Errorf("updating filter %s: %w", f.Name, err)
	}
	return nil
}

func (db *DB) filter(ctx context.Context, q querier, seq int64, name string) (*store.Filter, error) {
	var action string
	var rank int
	var body []byte
	err := q.QueryRowContext(ctx, db.d.bind(`SELECT action, filter_rank, body FROM filters WHERE det = ? AND name = ?`), seq, name).
		Scan(&action, &rank, &body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("filter %s: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return filterOf(name, action, rank, body)
}

// Filter returns a filter by name.
func (db *DB) Filter(ctx context.Context, detectorID, name string) (*store.Filter, error) {
	seq, err := db.detSeq(ctx, db.read, detectorID)
	if err != nil {
		return nil, err
	}
	f, err := db.filter(ctx, db.read, seq, name)
	if err != nil {
		return nil, fmt.Errorf("reading filter %s: %w", name, err)
	}
	f.DetectorID = detectorID
	return f, nil
}

type filterPos struct {
	Rank int    `json:"r"`
	Name string `json:"n"`
}

// Filters lists filter names in rank order, ties by name.
func (db *DB) Filters(ctx context.Context, detectorID string, p store.Page) ([]string, string, error) {
	seq, err := db.detSeq(ctx, db.read, detectorID)
	if err != nil {
		return nil, "", err
	}
	b := &builder{d: db.d}
	b.WriteString(`SELECT filter_rank, name FROM filters WHERE det = ` + b.arg(seq))
	if p.Cursor != "" {
		var c filterPos
		if err := json.Unmarshal([]byte(p.Cursor), &c); err != nil {
			return nil, "", fmt.Errorf("%w: bad cursor", store.ErrCriteria)
		}
		b.WriteString(` AND (filter_rank, name) > (` + b.arg(c.Rank) + `, ` + b.arg(c.Name) + `)`)
	}
	limit := limitOf(p)
	b.WriteString(` ORDER BY filter_rank, name LIMIT ` + b.arg(limit+1))
	rows, err := db.read.QueryContext(ctx, b.String(), b.args...)
	if err != nil {
		return nil, "", fmt.Errorf("listing filters: %w", err)
	}
	defer rows.Close()
	var list []filterPos
	for rows.Next() {
		var fp filterPos
		if err := rows.Scan(&fp.Rank, &fp.Name); err != nil {
			return nil, "", err
		}
		list = append(list, fp)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("listing filters: %w", err)
	}
	list, next := page(list, limit, func(fp filterPos) string {
		b, _ := json.Marshal(fp)
		return string(b)
	})
	names := make([]string, len(list))
	for i, fp := range list {
		names[i] = fp.Name
	}
	return names, next, nil
}

// DeleteFilter removes a filter.
func (db *DB) DeleteFilter(ctx context.Context, detectorID, name string) error {
	err := db.detTx(ctx, detectorID, func(tx *sql.Tx, seq int64) error {
		return expectOne(tx.ExecContext(ctx, db.d.bind(`DELETE FROM filters WHERE det = ? AND name = ?`), seq, name))
	})
	if err != nil {
		return fmt.Errorf("deleting filter %s: %w", name, err)
	}
	return nil
}

// rule is a suppression rule's name and criteria.
type rule struct {
	name     string
	criteria store.Criteria
	// owner is the ID of the detector the rule is another's of (the
	// administrator's), "" for the finding's own detector.
	owner string
}

// archiveFilters returns a detector's ARCHIVE filters in rank order.
func (db *DB) archiveFilters(ctx context.Context, q querier, seq int64) ([]rule, error) {
	rows, err := q.QueryContext(ctx, db.d.bind(`SELECT name, filter_rank, body FROM filters WHERE det = ? AND action = 'ARCHIVE' ORDER BY filter_rank, name`), seq)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []rule
	for rows.Next() {
		var name string
		var rank int
		var body []byte
		if err := rows.Scan(&name, &rank, &body); err != nil {
			return nil, err
		}
		f, err := filterOf(name, "ARCHIVE", rank, body)
		if err != nil {
			return nil, err
		}
		out = append(out, rule{name: name, criteria: f.Criteria})
	}
	return out, rows.Err()
}
