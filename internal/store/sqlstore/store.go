// Package sqlstore owns the store contract on a SQL database, shared by
// the SQLite and PostgreSQL stores: the schema and its migrations, the
// columns a finding's JSON is indexed by, the push-down of criteria and
// sorts to SQL with Go evaluation of the rest, keyset pagination, and the
// atomic commit of ingest batches. A Dialect says what differs between the
// databases; store/sqlite and store/postgres open the connections and
// supply it.
//
// SQL is built from constant text and a fixed whitelist of column names;
// every value, criteria operands included, is a placeholder argument.
//
// It may import finding and store.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"picket/internal/store"
)

// DB is a store.Store on a SQL database.
type DB struct {
	d      *Dialect
	read   *sql.DB
	write  *sql.DB
	values *valueCache
}

var _ store.Store = (*DB)(nil)

// Open migrates the schema to the latest version and returns the store.
// Reads go to read; writes and migrations to write, which may be the same
// pool (PostgreSQL) or a single connection that serializes writers
// (SQLite). Close closes both.
func Open(ctx context.Context, read, write *sql.DB, d *Dialect) (*DB, error) {
	if err := migrate(ctx, write, d); err != nil {
		return nil, err
	}
	return &DB{d: d, read: read, write: write, values: newValueCache(valueCacheSize)}, nil
}

// Close closes the connection pools.
func (db *DB) Close() error {
	err := db.write.Close()
	if db.read != db.write {
		err = errors.Join(err, db.read.Close())
	}
	return err
}

// Write returns the writing pool, for the dialect's own maintenance.
func (db *DB) Write() *sql.DB { return db.write }

// maxRetries bounds how often a write transaction is run again after a
// retryable failure.
const maxRetries = 8

// tx runs fn in a write transaction, again when the dialect says a
// failure was a conflict with a concurrent writer. fn must not change
// anything outside the transaction.
func (db *DB) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := db.tryTx(ctx, fn)
		if err == nil || attempt == maxRetries || db.d.Retry == nil || !db.d.Retry(err) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 5 * time.Millisecond):
		}
	}
}

func (db *DB) tryTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// querier is what reads need: a pool or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// defaultLimit is the page size when a page asks for none, GuardDuty's
// default.
const defaultLimit = 50

func limitOf(p store.Page) int {
	if p.Limit <= 0 {
		return defaultLimit
	}
	return p.Limit
}

// detSeq returns the key of a detector's rows.
func (db *DB) detSeq(ctx context.Context, q querier, id string) (int64, error) {
	var seq int64
	err := q.QueryRowContext(ctx, db.d.bind(`SELECT seq FROM detectors WHERE id = ?`), id).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("detector %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("reading detector %s: %w", id, err)
	}
	return seq, nil
}

// Detectors.

type featureDoc struct {
	Name       string       `json:"name"`
	Status     string       `json:"status"`
	Additional []featureDoc `json:"additional,omitempty"`
	UpdatedAt  time.Time    `json:"updatedAt"`
}

type detectorDoc struct {
	Enabled                    bool              `json:"enabled"`
	FindingPublishingFrequency string            `json:"findingPublishingFrequency,omitempty"`
	Features                   []featureDoc      `json:"features,omitempty"`
	Tags                       map[string]string `json:"tags,omitempty"`
	CreatedAt                  time.Time         `json:"createdAt"`
	UpdatedAt                  time.Time         `json:"updatedAt"`
}

func featuresDoc(fs []store.Feature) []featureDoc {
	var out []featureDoc
	for _, f := range fs {
		out = append(out, featureDoc{Name: f.Name, Status: f.Status, Additional: featuresDoc(f.Additional), UpdatedAt: f.UpdatedAt.UTC()})
	}
	return out
}

func featuresOf(fs []featureDoc) []store.Feature {
	var out []store.Feature
	for _, f := range fs {
		out = append(out, store.Feature{Name: f.Name, Status: f.Status, Additional: featuresOf(f.Additional), UpdatedAt: f.UpdatedAt})
	}
	return out
}

func detectorBody(d *store.Detector) ([]byte, error) {
	return json.Marshal(detectorDoc{
		Enabled:                    d.Enabled,
		FindingPublishingFrequency: d.FindingPublishingFrequency,
		Features:                   featuresDoc(d.Features),
		Tags:                       d.Tags,
		CreatedAt:                  d.CreatedAt.UTC(),
		UpdatedAt:                  d.UpdatedAt.UTC(),
	})
}

func detectorOf(id, account, region string, body []byte) (*store.Detector, error) {
	var doc detectorDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("decoding detector %s: %w", id, err)
	}
	return &store.Detector{
		ID: id, Account: account, Region: region,
		Enabled:                    doc.Enabled,
		FindingPublishingFrequency: doc.FindingPublishingFrequency,
		Features:                   featuresOf(doc.Features),
		Tags:                       doc.Tags,
		CreatedAt:                  doc.CreatedAt,
		UpdatedAt:                  doc.UpdatedAt,
	}, nil
}

// CreateDetector stores a new detector; ErrExists when its ID or its
// account and region already have one.
func (db *DB) CreateDetector(ctx context.Context, d *store.Detector) error {
	if d.ID == "" {
		return errors.New("creating a detector: no ID")
	}
	now := time.Now().UTC()
	c := *d
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = c.CreatedAt
	}
	body, err := detectorBody(&c)
	if err != nil {
		return err
	}
	err = db.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, db.d.bind(`SELECT COUNT(*) FROM detectors WHERE id = ? OR (account = ? AND region = ?)`),
			d.ID, d.Account, d.Region).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return store.ErrExists
		}
		_, err := tx.ExecContext(ctx, db.d.bind(`INSERT INTO detectors (id, account, region, body) VALUES (?, ?, ?, ?)`),
			d.ID, d.Account, d.Region, body)
		return err
	})
	if err != nil && db.d.Unique != nil && db.d.Unique(err) {
		err = store.ErrExists
	}
	if err != nil {
		return fmt.Errorf("creating detector %s for %s in %s: %w", d.ID, d.Account, d.Region, err)
	}
	return nil
}

// Detector returns a detector by ID.
func (db *DB) Detector(ctx context.Context, id string) (*store.Detector, error) {
	return db.detectorWhere(ctx, db.read, "detector "+id, `id = ?`, id)
}

// DetectorFor returns the detector of an account and region.
func (db *DB) DetectorFor(ctx context.Context, account, region string) (*store.Detector, error) {
	return db.detectorWhere(ctx, db.read, "the detector of "+account+" in "+region, `account = ? AND region = ?`, account, region)
}

// detectorWhere reads the detector a condition (a constant) selects;
// what names it in errors.
func (db *DB) detectorWhere(ctx context.Context, q querier, what, where string, args ...any) (*store.Detector, error) {
	var id, account, region string
	var body []byte
	err := q.QueryRowContext(ctx, db.d.bind(`SELECT id, account, region, body FROM detectors WHERE `+where), args...).
		Scan(&id, &account, &region, &body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	return detectorOf(id, account, region, body)
}

// Detectors lists detector IDs in order.
func (db *DB) Detectors(ctx context.Context, p store.Page) ([]string, string, error) {
	b := &builder{d: db.d}
	b.WriteString(`SELECT id FROM detectors`)
	if p.Cursor != "" {
		b.WriteString(` WHERE id > ` + b.arg(p.Cursor))
	}
	limit := limitOf(p)
	b.WriteString(` ORDER BY id LIMIT ` + b.arg(limit+1))
	ids, err := queryStrings(ctx, db.read, b.String(), b.args...)
	if err != nil {
		return nil, "", fmt.Errorf("listing detectors: %w", err)
	}
	ids, next := page(ids, limit, func(s string) string { return s })
	return ids, next, nil
}

// page cuts a list fetched with limit+1 rows to limit and returns the
// cursor after it, "" when there is nothing more.
func page[T any](items []T, limit int, cursor func(T) string) ([]T, string) {
	if len(items) <= limit {
		return items, ""
	}
	items = items[:limit]
	return items, cursor(items[limit-1])
}

func queryStrings(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// UpdateDetector replaces a detector's settings and tags; its ID, account,
// region and creation time stay.
func (db *DB) UpdateDetector(ctx context.Context, d *store.Detector) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		cur, err := db.detectorWhere(ctx, tx, "detector "+d.ID, `id = ?`, d.ID)
		if err != nil {
			return err
		}
		c := *d
		c.CreatedAt = cur.CreatedAt
		if c.UpdatedAt.IsZero() {
			c.UpdatedAt = time.Now().UTC()
		}
		body, err := detectorBody(&c)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, db.d.bind(`UPDATE detectors SET body = ? WHERE id = ?`), body, d.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("updating detector %s: %w", d.ID, err)
	}
	return nil
}

// DeleteDetector removes a detector and everything filed under it.
func (db *DB) DeleteDetector(ctx context.Context, id string) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		seq, err := db.detSeq(ctx, tx, id)
		if err != nil {
			return err
		}
		for _, stmt := range []string{
			`DELETE FROM findings WHERE det = ?`,
			`DELETE FROM filters WHERE det = ?`,
			`DELETE FROM sets WHERE det = ?`,
			`DELETE FROM detectors WHERE seq = ?`,
		} {
			if _, err := tx.ExecContext(ctx, db.d.bind(stmt), seq); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("deleting detector %s: %w", id, err)
	}
	return nil
}

// Filters.

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
	if c.CreatedAt.IsZero() {
		c.CreatedAt = time.Now().UTC()
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = c.CreatedAt
	}
	if c.Action == "" {
		c.Action = "NOOP"
	}
	body, err := filterBody(&c)
	if err != nil {
		return err
	}
	err = db.tx(ctx, func(tx *sql.Tx) error {
		seq, err := db.detSeq(ctx, tx, f.DetectorID)
		if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, db.d.bind(`SELECT COUNT(*) FROM filters WHERE det = ? AND name = ?`), seq, f.Name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return store.ErrExists
		}
		rank := c.Rank
		if rank <= 0 {
			var maxRank sql.NullInt64
			if err := tx.QueryRowContext(ctx, db.d.bind(`SELECT MAX(filter_rank) FROM filters WHERE det = ?`), seq).Scan(&maxRank); err != nil {
				return err
			}
			rank = int(maxRank.Int64) + 1
		}
		_, err = tx.ExecContext(ctx, db.d.bind(`INSERT INTO filters (det, name, filter_rank, action, body) VALUES (?, ?, ?, ?, ?)`),
			seq, f.Name, rank, c.Action, body)
		return err
	})
	if err != nil && db.d.Unique != nil && db.d.Unique(err) {
		err = store.ErrExists
	}
	if err != nil {
		return fmt.Errorf("creating filter %s: %w", f.Name, err)
	}
	return nil
}

// UpdateFilter replaces a filter; its creation time stays, and a rank of 0
// or less keeps its rank.
func (db *DB) UpdateFilter(ctx context.Context, f *store.Filter) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		seq, err := db.detSeq(ctx, tx, f.DetectorID)
		if err != nil {
			return err
		}
		cur, err := db.filter(ctx, tx, seq, f.Name)
		if err != nil {
			return err
		}
		c := *f
		c.CreatedAt = cur.CreatedAt
		if c.UpdatedAt.IsZero() {
			c.UpdatedAt = time.Now().UTC()
		}
		if c.Rank <= 0 {
			c.Rank = cur.Rank
		}
		if c.Action == "" {
			c.Action = cur.Action
		}
		body, err := filterBody(&c)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, db.d.bind(`UPDATE filters SET filter_rank = ?, action = ?, body = ? WHERE det = ? AND name = ?`),
			c.Rank, c.Action, body, seq, f.Name)
		return err
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
	err := db.tx(ctx, func(tx *sql.Tx) error {
		seq, err := db.detSeq(ctx, tx, detectorID)
		if err != nil {
			return err
		}
		return expectOne(tx.ExecContext(ctx, db.d.bind(`DELETE FROM filters WHERE det = ? AND name = ?`), seq, name))
	})
	if err != nil {
		return fmt.Errorf("deleting filter %s: %w", name, err)
	}
	return nil
}

// expectOne turns an update or delete that touched no row into
// ErrNotFound.
func expectOne(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// archiveFilters returns the criteria of a detector's ARCHIVE filters in
// rank order.
func (db *DB) archiveFilters(ctx context.Context, q querier, seq int64) ([]store.Criteria, error) {
	rows, err := q.QueryContext(ctx, db.d.bind(`SELECT name, filter_rank, body FROM filters WHERE det = ? AND action = 'ARCHIVE' ORDER BY filter_rank, name`), seq)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Criteria
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
		out = append(out, f.Criteria)
	}
	return out, rows.Err()
}

// Sets.

type setDoc struct {
	Name                string            `json:"name"`
	Format              string            `json:"format"`
	Location            string            `json:"location"`
	ExpectedBucketOwner string            `json:"expectedBucketOwner,omitempty"`
	Status              string            `json:"status"`
	ErrorDetails        string            `json:"errorDetails,omitempty"`
	Tags                map[string]string `json:"tags,omitempty"`
	CreatedAt           time.Time         `json:"createdAt"`
	UpdatedAt           time.Time         `json:"updatedAt"`
}

func setBody(s *store.Set) ([]byte, error) {
	return json.Marshal(setDoc{Name: s.Name, Format: s.Format, Location: s.Location, ExpectedBucketOwner: s.ExpectedBucketOwner,
		Status: s.Status, ErrorDetails: s.ErrorDetails, Tags: s.Tags, CreatedAt: s.CreatedAt.UTC(), UpdatedAt: s.UpdatedAt.UTC()})
}

func setOf(detectorID string, kind store.SetKind, id string, body []byte) (*store.Set, error) {
	var doc setDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("decoding %s %s: %w", kind, id, err)
	}
	return &store.Set{DetectorID: detectorID, Kind: kind, ID: id, Name: doc.Name, Format: doc.Format, Location: doc.Location,
		ExpectedBucketOwner: doc.ExpectedBucketOwner, Status: doc.Status, ErrorDetails: doc.ErrorDetails, Tags: doc.Tags,
		CreatedAt: doc.CreatedAt, UpdatedAt: doc.UpdatedAt}, nil
}

// CreateSet stores a new set; ErrExists when its ID is taken.
func (db *DB) CreateSet(ctx context.Context, s *store.Set) error {
	c := *s
	if c.CreatedAt.IsZero() {
		c.CreatedAt = time.Now().UTC()
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = c.CreatedAt
	}
	body, err := setBody(&c)
	if err != nil {
		return err
	}
	err = db.tx(ctx, func(tx *sql.Tx) error {
		seq, err := db.detSeq(ctx, tx, s.DetectorID)
		if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, db.d.bind(`SELECT COUNT(*) FROM sets WHERE det = ? AND kind = ? AND id = ?`), seq, string(s.Kind), s.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return store.ErrExists
		}
		_, err = tx.ExecContext(ctx, db.d.bind(`INSERT INTO sets (det, kind, id, body) VALUES (?, ?, ?, ?)`), seq, string(s.Kind), s.ID, body)
		return err
	})
	if err != nil && db.d.Unique != nil && db.d.Unique(err) {
		err = store.ErrExists
	}
	if err != nil {
		return fmt.Errorf("creating %s %s: %w", s.Kind, s.ID, err)
	}
	return nil
}

// UpdateSet replaces a set; its creation time stays.
func (db *DB) UpdateSet(ctx context.Context, s *store.Set) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		seq, err := db.detSeq(ctx, tx, s.DetectorID)
		if err != nil {
			return err
		}
		cur, err := db.set(ctx, tx, seq, s.DetectorID, s.Kind, s.ID)
		if err != nil {
			return err
		}
		c := *s
		c.CreatedAt = cur.CreatedAt
		if c.UpdatedAt.IsZero() {
			c.UpdatedAt = time.Now().UTC()
		}
		body, err := setBody(&c)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, db.d.bind(`UPDATE sets SET body = ? WHERE det = ? AND kind = ? AND id = ?`), body, seq, string(s.Kind), s.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("updating %s %s: %w", s.Kind, s.ID, err)
	}
	return nil
}

func (db *DB) set(ctx context.Context, q querier, seq int64, detectorID string, kind store.SetKind, id string) (*store.Set, error) {
	var body []byte
	err := q.QueryRowContext(ctx, db.d.bind(`SELECT body FROM sets WHERE det = ? AND kind = ? AND id = ?`), seq, string(kind), id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s %s: %w", kind, id, store.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return setOf(detectorID, kind, id, body)
}

// Set returns a set by kind and ID.
func (db *DB) Set(ctx context.Context, detectorID string, kind store.SetKind, id string) (*store.Set, error) {
	seq, err := db.detSeq(ctx, db.read, detectorID)
	if err != nil {
		return nil, err
	}
	s, err := db.set(ctx, db.read, seq, detectorID, kind, id)
	if err != nil {
		return nil, fmt.Errorf("reading %s %s: %w", kind, id, err)
	}
	return s, nil
}

// Sets lists the IDs of a detector's sets of one kind in order.
func (db *DB) Sets(ctx context.Context, detectorID string, kind store.SetKind, p store.Page) ([]string, string, error) {
	seq, err := db.detSeq(ctx, db.read, detectorID)
	if err != nil {
		return nil, "", err
	}
	b := &builder{d: db.d}
	b.WriteString(`SELECT id FROM sets WHERE det = ` + b.arg(seq) + ` AND kind = ` + b.arg(string(kind)))
	if p.Cursor != "" {
		b.WriteString(` AND id > ` + b.arg(p.Cursor))
	}
	limit := limitOf(p)
	b.WriteString(` ORDER BY id LIMIT ` + b.arg(limit+1))
	ids, err := queryStrings(ctx, db.read, b.String(), b.args...)
	if err != nil {
		return nil, "", fmt.Errorf("listing %s: %w", kind, err)
	}
	ids, next := page(ids, limit, func(s string) string { return s })
	return ids, next, nil
}

// DeleteSet removes a set.
func (db *DB) DeleteSet(ctx context.Context, detectorID string, kind store.SetKind, id string) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		seq, err := db.detSeq(ctx, tx, detectorID)
		if err != nil {
			return err
		}
		return expectOne(tx.ExecContext(ctx, db.d.bind(`DELETE FROM sets WHERE det = ? AND kind = ? AND id = ?`), seq, string(kind), id))
	})
	if err != nil {
		return fmt.Errorf("deleting %s %s: %w", kind, id, err)
	}
	return nil
}

// Tags.

// resourceARN is a GuardDuty resource named by an ARN:
// arn:PARTITION:guardduty:REGION:ACCOUNT:detector/ID, optionally followed
// by /filter/NAME or /KIND/ID for a set (ipset, threatintelset,
// threatentityset, trustedentityset).
type resourceARN struct {
	region, account, detector string
	child, name               string // "" for the detector itself
}

func parseARN(arn string) (resourceARN, bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] == "" || parts[2] != "guardduty" {
		return resourceARN{}, false
	}
	r := resourceARN{region: parts[3], account: parts[4]}
	path := strings.Split(parts[5], "/")
	switch {
	case len(path) == 2 && path[0] == "detector" && path[1] != "":
		r.detector = path[1]
	case len(path) == 4 && path[0] == "detector" && path[1] != "" && path[3] != "":
		r.detector, r.child, r.name = path[1], path[2], path[3]
		switch store.SetKind(r.child) {
		case store.IPSet, store.ThreatIntelSet, store.ThreatEntitySet, store.TrustedEntitySet:
		default:
			if r.child != "filter" {
				return resourceARN{}, false
			}
		}
	default:
		return resourceARN{}, false
	}
	return r, true
}

// Tags returns the tags of the detector, filter or set an ARN names.
func (db *DB) Tags(ctx context.Context, arn string) (map[string]string, error) {
	tags, err := db.retag(ctx, db.read, arn, nil)
	if err != nil {
		return nil, fmt.Errorf("reading the tags of %s: %w", arn, err)
	}
	if tags == nil {
		tags = map[string]string{}
	}
	return tags, nil
}

// Tag adds tags to the resource an ARN names, replacing values of keys it
// has.
func (db *DB) Tag(ctx context.Context, arn string, tags map[string]string) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		_, err := db.retag(ctx, tx, arn, func(cur map[string]string) map[string]string {
			out := maps.Clone(cur)
			if out == nil {
				out = map[string]string{}
			}
			maps.Copy(out, tags)
			return out
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("tagging %s: %w", arn, err)
	}
	return nil
}

// Untag removes tag keys from the resource an ARN names.
func (db *DB) Untag(ctx context.Context, arn string, keys []string) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		_, err := db.retag(ctx, tx, arn, func(cur map[string]string) map[string]string {
			out := maps.Clone(cur)
			for _, k := range keys {
				delete(out, k)
			}
			if len(out) == 0 {
				return nil
			}
			return out
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("untagging %s: %w", arn, err)
	}
	return nil
}

// retag reads the tags of the resource an ARN names and, when change is
// not nil, stores change(tags); it returns the tags it read.
func (db *DB) retag(ctx context.Context, tx querier, arn string, change func(map[string]string) map[string]string) (map[string]string, error) {
	r, ok := parseARN(arn)
	if !ok {
		return nil, fmt.Errorf("%q is not a detector, filter or set ARN: %w", arn, store.ErrNotFound)
	}
	d, err := db.detectorWhere(ctx, tx, "detector "+r.detector, `id = ?`, r.detector)
	if err != nil {
		return nil, err
	}
	if d.Account != r.account || d.Region != r.region {
		return nil, fmt.Errorf("detector %s in %s %s: %w", r.detector, r.account, r.region, store.ErrNotFound)
	}
	seq, err := db.detSeq(ctx, tx, r.detector)
	if err != nil {
		return nil, err
	}
	switch r.child {
	case "":
		if change != nil {
			c := *d
			c.Tags = change(d.Tags)
			body, err := detectorBody(&c)
			if err != nil {
				return nil, err
			}
			if _, err := tx.ExecContext(ctx, db.d.bind(`UPDATE detectors SET body = ? WHERE seq = ?`), body, seq); err != nil {
				return nil, err
			}
		}
		return d.Tags, nil
	case "filter":
		f, err := db.filter(ctx, tx, seq, r.name)
		if err != nil {
			return nil, err
		}
		if change != nil {
			c := *f
			c.Tags = change(f.Tags)
			body, err := filterBody(&c)
			if err != nil {
				return nil, err
			}
			if _, err := tx.ExecContext(ctx, db.d.bind(`UPDATE filters SET body = ? WHERE det = ? AND name = ?`), body, seq, r.name); err != nil {
				return nil, err
			}
		}
		return f.Tags, nil
	default:
		kind := store.SetKind(r.child)
		s, err := db.set(ctx, tx, seq, r.detector, kind, r.name)
		if err != nil {
			return nil, err
		}
		if change != nil {
			c := *s
			c.Tags = change(s.Tags)
			body, err := setBody(&c)
			if err != nil {
				return nil, err
			}
			if _, err := tx.ExecContext(ctx, db.d.bind(`UPDATE sets SET body = ? WHERE det = ? AND kind = ? AND id = ?`), body, seq, string(kind), r.name); err != nil {
				return nil, err
			}
		}
		return s.Tags, nil
	}
}

// Checkpoints and state.

// Checkpoints returns every source's checkpoint, by source.
func (db *DB) Checkpoints(ctx context.Context) ([]store.Checkpoint, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT source, pos, updated_ms FROM checkpoints ORDER BY source`)
	if err != nil {
		return nil, fmt.Errorf("reading checkpoints: %w", err)
	}
	defer rows.Close()
	var out []store.Checkpoint
	for rows.Next() {
		var c store.Checkpoint
		var ms int64
		if err := rows.Scan(&c.Source, &c.Position, &ms); err != nil {
			return nil, fmt.Errorf("reading checkpoints: %w", err)
		}
		c.UpdatedAt = time.UnixMilli(ms).UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading checkpoints: %w", err)
	}
	return out, nil
}

// State returns the last committed detection state, nil if none.
func (db *DB) State(ctx context.Context) ([]byte, error) {
	var b []byte
	err := db.read.QueryRowContext(ctx, `SELECT body FROM state WHERE id = 1`).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the detection state: %w", err)
	}
	return b, nil
}

func (db *DB) saveProgress(ctx context.Context, tx *sql.Tx, b store.Batch) error {
	cps := slices.Clone(b.Checkpoints)
	slices.SortFunc(cps, func(a, b store.Checkpoint) int { return strings.Compare(a.Source, b.Source) })
	stmt := db.d.bind(`INSERT INTO checkpoints (source, pos, updated_ms) VALUES (?, ?, ?)
		ON CONFLICT (source) DO UPDATE SET pos = excluded.pos, updated_ms = excluded.updated_ms`)
	for _, c := range cps {
		pos := c.Position
		if pos == nil {
			pos = []byte{}
		}
		if _, err := tx.ExecContext(ctx, stmt, c.Source, pos, c.UpdatedAt.UnixMilli()); err != nil {
			return fmt.Errorf("saving checkpoint %s: %w", c.Source, err)
		}
	}
	if b.State != nil {
		if _, err := tx.ExecContext(ctx, db.d.bind(`INSERT INTO state (id, body) VALUES (1, ?)
			ON CONFLICT (id) DO UPDATE SET body = excluded.body`), b.State); err != nil {
			return fmt.Errorf("saving the detection state: %w", err)
		}
	}
	return nil
}
