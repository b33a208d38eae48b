package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"picket/internal/config"
)

// postgresDSN returns a connection string to a fresh schema of the
// PostgreSQL that PICKET_POSTGRES_DSN names (the local one by default),
// dropped at the end; it skips the test when none is reachable, unless
// PICKET_REQUIRE_POSTGRES=1.
func postgresDSN(t *testing.T) string {
	t.Helper()
	base := os.Getenv("PICKET_POSTGRES_DSN")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("PICKET_REQUIRE_POSTGRES") == "1" {
			t.Fatalf("PostgreSQL unreachable at %s: %v", base, err)
		}
		t.Skipf("PostgreSQL unreachable at %s: %v", base, err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	rand.Read(b[:])
	schema := "picket_serve_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, base); err == nil {
			c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			c.Close(ctx)
		}
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

// TestServePostgres runs the service on PostgreSQL: stopped while it
// reads and restarted, it ends with the findings a SQLite run has.
func TestServePostgres(t *testing.T) {
	dsn := postgresDSN(t)
	logs := t.TempDir()
	hours := 2
	if raceEnabled {
		hours = 1
	}
	records := genLogs(t, logs, time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC), time.Duration(hours)*time.Hour, 1)

	lite := t.TempDir()
	s := startService(t, testConfig(lite, logs))
	caughtUp(t, s.url(), 3*time.Minute)
	want := apiFindings(t, gdClient(t, s.url(), lite))
	s.stop()

	dataDir := t.TempDir()
	cfg := testConfig(dataDir, logs)
	cfg.Store.Postgres = config.Secret(dsn)
	s = startService(t, cfg)
	waitFor(t, 3*time.Minute, "records to be read", func() bool {
		return sum(scrape(t, s.url()), "picket_records_ingested_total") >= float64(records)/2
	})
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	s = startService(t, cfg)
	caughtUp(t, s.url(), 3*time.Minute)
	got := apiFindings(t, gdClient(t, s.url(), dataDir))
	if diff := diffFindings(want, got); diff != "" {
		t.Errorf("findings on PostgreSQL after a restart differ from SQLite's:\n%s", diff)
	}
	if len(want) < 4 {
		t.Errorf("only %d findings", len(want))
	}
}
