// Package sqlite owns picket's default store: one SQLite database file in
// the data directory, in WAL mode, through modernc.org/sqlite (pure Go, no
// cgo). The schema, queries and migrations are store/sqlstore's; this
// package opens the connections: a single writer, so that transactions
// queue in the process rather than fail on SQLite's lock, and a pool of
// readers, which WAL lets read while the writer writes.
//
// synchronous=NORMAL: a committed batch survives the process being
// killed; a power failure may lose the last batches, never consistency,
// and since a batch's checkpoints commit with its findings, ingest then
// resumes from the last batch that survived.
//
// It may import finding, store and store/sqlstore.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	"modernc.org/sqlite"

	"picket/internal/store/sqlstore"
)

// Store is a store in a SQLite database file.
type Store struct {
	*sqlstore.DB
}

// Codes of SQLite's extended result codes.
const (
	codeBusy       = 5
	codeUnique     = 2067 // SQLITE_CONSTRAINT_UNIQUE
	codePrimaryKey = 1555 // SQLITE_CONSTRAINT_PRIMARYKEY
)

func code(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

// dialect returns SQLite's dialect, migrating to version (0: the latest).
func dialect(version int) *sqlstore.Dialect {
	return &sqlstore.Dialect{
		Name: "sqlite",
		Types: sqlstore.Types{
			Seq:  "INTEGER PRIMARY KEY",
			Int:  "INTEGER",
			Real: "REAL",
			Text: "TEXT",
			Blob: "BLOB",
		},
		Version: version,
		Retry:   func(err error) bool { return code(err)&0xff == codeBusy },
		Unique: func(err error) bool {
			c := code(err)
			return c == codeUnique || c == codePrimaryKey
		},
		Contains: func(blob, arg string) string { return "instr(" + blob + ", " + arg + ") > 0" },
	}
}

// Open opens the store in the database file at path, creating it if need
// be, and migrates its schema to the latest version.
func Open(ctx context.Context, path string) (*Store, error) {
	return open(ctx, path, 0)
}

func open(ctx context.Context, path string, version int) (*Store, error) {
	// The driver reads its parameters after a "?" and takes the rest as a
	// plain file name.
	if path == "" || strings.Contains(path, "?") || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("opening SQLite database %q: the path must be a plain file name: not empty, without \"?\" and not a file: URI", path)
	}
	// Findings are security data: a new database (and so its WAL and
	// shared-memory files, which SQLite creates with the database's
	// permissions) is readable by its owner only.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	} else if !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("opening SQLite database %s: %w", path, err)
	}
	// Page caches: 64 MB for the writer, whose commits touch index pages
	// all over a large database, 16 MB for each reader. Checkpoints of the
	// WAL every 10,000 pages (40 MB) rather than SQLite's 1,000: each one
	// syncs the disk, and with fewer of them BenchmarkCommit commits about
	// twice the findings a second (3,600 against 1,950).
	const common = "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	write, err := sql.Open("sqlite", path+"?_pragma=journal_mode(WAL)&"+common+"&_pragma=cache_size(-65536)&_pragma=wal_autocheckpoint(10000)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("opening SQLite database %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxIdleTime(0)
	write.SetConnMaxLifetime(0)
	// The first connection sets WAL mode, which lasts in the file, before
	// any reader opens.
	if err := write.PingContext(ctx); err != nil {
		write.Close()
		return nil, fmt.Errorf("opening SQLite database %s: %w", path, err)
	}
	read, err := sql.Open("sqlite", path+"?"+common+"&_pragma=cache_size(-16384)&_pragma=query_only(1)")
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("opening SQLite database %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	db, err := sqlstore.Open(ctx, read, write, dialect(version))
	if err != nil {
		read.Close()
		write.Close()
		return nil, fmt.Errorf("opening SQLite database %s: %w", path, err)
	}
	// Refresh the query planner's statistics where they are stale, as
	// SQLite recommends for a connection that lives long; Close does it
	// again.
	if _, err := write.ExecContext(ctx, `PRAGMA optimize=0x10002`); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening SQLite database %s: %w", path, err)
	}
	return &Store{DB: db}, nil
}

// Close lets SQLite refresh its query planner statistics, as it
// recommends before closing, and closes the database.
func (s *Store) Close() error {
	_, err := s.Write().Exec(`PRAGMA optimize`)
	return errors.Join(err, s.DB.Close())
}

// Analyze gathers the query planner's statistics now, as after a bulk
// load.
func (s *Store) Analyze(ctx context.Context) error {
	_, err := s.Write().ExecContext(ctx, `ANALYZE`)
	return err
}
