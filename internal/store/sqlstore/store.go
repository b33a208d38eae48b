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
	"errors"
	"fmt"
	"log/slog"
	"time"

	"picket/internal/store"
)

// DB is a store on a SQL database.
type DB struct {
	d      *Dialect
	read   *sql.DB
	write  *sql.DB
	values *valueCache
	log    *slog.Logger // nil: nothing logged
}

// SetLogger sets where the store logs what it does on its own: the new
// findings a commit's suppression rules archive. Call it before use.
func (db *DB) SetLogger(l *slog.Logger) { db.log = l }

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

// detTx runs fn in a write transaction (see tx) with the key of the
// rows of detector id; ErrNotFound when there is no such detector.
func (db *DB) detTx(ctx context.Context, id string, fn func(tx *sql.Tx, seq int64) error) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		seq, err := db.detSeq(ctx, tx, id)
		if err != nil {
			return err
		}
		return fn(tx, seq)
	})
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

// page cuts a list fetched with limit+1 rows to limit and returns the
// cursor after it, "" when there is nothing more.
func page[T any](items []T, limit int, cursor func(T) string) ([]T, string) {
	if len(items) <= limit {
		return items, ""
	}
	items = items[:limit]
	return items, cursor(items[limit-1])
}

// idPage lists one page of the IDs of table's rows in order and returns
// the cursor of the next. where is "" or a condition on the rows, its
// values already arguments of b; the cursor and the limit follow them.
func (db *DB) idPage(ctx context.Context, b *builder, table, where string, p store.Page) ([]string, string, error) {
	if p.Cursor != "" {
		if where != "" {
			where += ` AND `
		}
		where += `id > ` + b.arg(p.Cursor)
	}
	b.WriteString(`SELECT id FROM ` + table)
	if where != "" {
		b.WriteString(` WHERE ` + where)
	}
	limit := limitOf(p)
	b.WriteString(` ORDER BY id LIMIT ` + b.arg(limit+1))
	ids, err := queryStrings(ctx, db.read, b.String(), b.args...)
	if err != nil {
		return nil, "", err
	}
	ids, next := page(ids, limit, func(s string) string { return s })
	return ids, next, nil
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

// The writes of detectors, filters and sets: each is a row whose body is
// a JSON document (detectorBody, filterBody, setBody) next to the columns
// it is keyed and ordered by.

// stampNew fills the times a new resource leaves zero: created now,
// updated when created.
func stampNew(created, updated *time.Time) {
	if created.IsZero() {
		*created = time.Now().UTC()
	}
	if updated.IsZero() {
		*updated = *created
	}
}

// stampReplaced gives a resource that replaces a stored one the stored
// creation time, and updated now when it leaves that zero.
func stampReplaced(created, updated *time.Time, stored time.Time) {
	*created = stored
	if updated.IsZero() {
		*updated = time.Now().UTC()
	}
}

// vacant returns ErrExists when count, a query counting the rows a new
// resource would clash with, finds one.
func (db *DB) vacant(ctx context.Context, tx *sql.Tx, count string, args ...any) error {
	var n int
	if err := tx.QueryRowContext(ctx, db.d.bind(count), args...).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return store.ErrExists
	}
	return nil
}

// clash returns the error of a create's transaction, ErrExists when it is
// the database's unique constraint refusing the row: a concurrent create
// stored the same key after vacant looked.
func (db *DB) clash(err error) error {
	if err != nil && db.d.Unique != nil && db.d.Unique(err) {
		return store.ErrExists
	}
	return err
}

// putBody runs stmt, an insert or update, with the body that encode makes
// of v as its first argument and args after it.
func putBody[T any](ctx context.Context, db *DB, q querier, encode func(*T) ([]byte, error), v *T, stmt string, args ...any) error {
	body, err := encode(v)
	if err != nil {
		return err
	}
	_, err = q.ExecContext(ctx, db.d.bind(stmt), append([]any{body}, args...)...)
	return err
}
