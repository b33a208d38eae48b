package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Dialect is what differs between the SQL databases a DB runs on.
type Dialect struct {
	// Name names the database in errors: "sqlite", "postgres".
	Name string
	// Numbered says placeholders are numbered ($1, $2) rather than "?".
	Numbered bool
	// Types are the column types of the schema.
	Types Types
	// Version is the schema version to migrate to, 0 for the latest. Tests
	// use it to make a database of an older version.
	Version int
	// LockRows ends the SELECT that reads the findings a commit merges
	// into, so that concurrent commits queue on them ("FOR UPDATE"), or is
	// empty where writers are serialized anyway.
	LockRows string
	// LockSchema, if set, runs first in the migration transaction to keep
	// two processes from migrating at once (an advisory lock).
	LockSchema string
	// Retry reports whether a failed write transaction may be run again:
	// a serialization failure, a deadlock, or a concurrent insert of the
	// same key.
	Retry func(error) bool
	// Unique reports whether err is a unique-constraint violation.
	Unique func(error) bool
	// Contains is a condition that blob holds the bytes of placeholder,
	// given the column and the placeholder; nil leaves the prefilter of
	// findings to Go.
	Contains func(blob, placeholder string) string
}

// migration is one schema version: SQL statements, an optional Go step
// (a backfill), then more statements (indexes are cheaper to build after
// a backfill), applied in one transaction with the version's record.
type migration struct {
	Version int
	Name    string
	SQL     []string
	Go      func(ctx context.Context, tx *sql.Tx, d *Dialect) error
	Then    []string
}

// builder accumulates a statement and its arguments; every value goes
// through arg and so into a placeholder.
type builder struct {
	d    *Dialect
	sb   strings.Builder
	args []any
}

func (b *builder) arg(v any) string {
	b.args = append(b.args, v)
	if b.d.Numbered {
		return "$" + strconv.Itoa(len(b.args))
	}
	return "?"
}

// list returns placeholders for vs, separated by commas.
func (b *builder) list(vs []any) string {
	var sb strings.Builder
	for i, v := range vs {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(b.arg(v))
	}
	return sb.String()
}

func (b *builder) WriteString(s string) { b.sb.WriteString(s) }
func (b *builder) String() string       { return b.sb.String() }

// bind rewrites a statement written with "?" placeholders for the
// dialect. Statements given to bind are constants of this package.
func (d *Dialect) bind(q string) string {
	if !d.Numbered {
		return q
	}
	var sb strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			sb.WriteString("$" + strconv.Itoa(n))
			continue
		}
		sb.WriteByte(q[i])
	}
	return sb.String()
}

// migrate brings the schema to the latest version. Each version is
// applied in its own transaction together with its record in
// schema_migrations, so a failure leaves the previous version intact and
// running it again is harmless.
func migrate(ctx context.Context, db *sql.DB, d *Dialect) error {
	// Under the schema lock, as processes that open a new database at
	// once (the nodes of a cluster) would otherwise race to create it.
	if err := createMigrations(ctx, db, d); err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	all := migrations(d.Types)
	latest := all[len(all)-1].Version
	cur, err := Version(ctx, db)
	if err != nil {
		return err
	}
	if cur > latest {
		return fmt.Errorf("the database has schema version %d, newer than this picket's %d: upgrade picket", cur, latest)
	}
	for _, m := range all {
		if d.Version > 0 && m.Version > d.Version {
			break
		}
		if err := applyMigration(ctx, db, d, m); err != nil {
			return err
		}
	}
	return nil
}

func createMigrations(ctx context.Context, db *sql.DB, d *Dialect) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if d.LockSchema != "" {
		if _, err := tx.ExecContext(ctx, d.LockSchema); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY,
		name TEXT NOT NULL,
		applied_ms BIGINT NOT NULL)`); err != nil {
		return err
	}
	return tx.Commit()
}

func applyMigration(ctx context.Context, db *sql.DB, d *Dialect, m migration) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrating to schema version %d: %w", m.Version, err)
	}
	defer tx.Rollback()
	if d.LockSchema != "" {
		if _, err := tx.ExecContext(ctx, d.LockSchema); err != nil {
			return fmt.Errorf("locking the schema: %w", err)
		}
	}
	var n int
	if err := tx.QueryRowContext(ctx, d.bind(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`), m.Version).Scan(&n); err != nil {
		return fmt.Errorf("reading the schema version: %w", err)
	}
	if n > 0 {
		return nil
	}
	for _, stmt := range m.SQL {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("migrating to schema version %d (%s): %w", m.Version, m.Name, err)
		}
	}
	if m.Go != nil {
		if err := m.Go(ctx, tx, d); err != nil {
			return fmt.Errorf("migrating to schema version %d (%s): %w", m.Version, m.Name, err)
		}
	}
	for _, stmt := range m.Then {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("migrating to schema version %d (%s): %w", m.Version, m.Name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, d.bind(`INSERT INTO schema_migrations (version, name, applied_ms) VALUES (?, ?, ?)`),
		m.Version, m.Name, time.Now().UnixMilli()); err != nil {
		return fmt.Errorf("recording schema version %d: %w", m.Version, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrating to schema version %d: %w", m.Version, err)
	}
	return nil
}

// Version returns the schema version of a database: the highest applied
// migration, 0 for none.
func Version(ctx context.Context, db *sql.DB) (int, error) {
	var v sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("reading the schema version: %w", err)
	}
	return int(v.Int64), nil
}

// LatestVersion returns the schema version this code migrates to.
func LatestVersion() int {
	all := migrations(Types{})
	return all[len(all)-1].Version
}
