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
	"time"

	"picket/internal/store"
)

// DB is a store on a SQL database.
type DB struct {
	d      *Dialect
	read   *sql.DB
	write  *sql.DB
	values *valueCache
}


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
