package app

import (
	"testing"
	"time"

	"picket/internal/config"
	"picket/internal/pgtest"
)

// postgresDSN returns a connection string to a fresh schema of the
// test server (pgtest.DSN).
func postgresDSN(t *testing.T) string { return pgtest.DSN(t, "picket_serve_") }

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
