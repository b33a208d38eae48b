package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"picket/internal/finding"
	"picket/internal/store"
	"picket/internal/store/sqlstore"
	"picket/internal/store/storetest"
)

// The tests run against the PostgreSQL that PICKET_POSTGRES_DSN names,
// by default the local one with trust authentication. Each test gets a
// schema of its own, dropped at the end. Without a reachable server the
// tests skip, unless PICKET_REQUIRE_POSTGRES=1 (as in CI) makes that a
// failure.
const defaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

func baseDSN() string {
	if dsn := os.Getenv("PICKET_POSTGRES_DSN"); dsn != "" {
		return dsn
	}
	return defaultDSN
}

// connect connects to the test server, skipping the test when it is
// unreachable (failing it when PICKET_REQUIRE_POSTGRES=1).
func connect(t *testing.T) (*pgx.Conn, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	conn, err := pgx.Connect(ctx, baseDSN())
	if err != nil {
		if os.Getenv("PICKET_REQUIRE_POSTGRES") == "1" {
			t.Fatalf("PostgreSQL is required (PICKET_REQUIRE_POSTGRES=1) but unreachable at %s: %v", baseDSN(), err)
		}
		t.Skipf("PostgreSQL unreachable at %s (set PICKET_POSTGRES_DSN, or PICKET_REQUIRE_POSTGRES=1 to fail): %v", baseDSN(), err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn, ctx
}

// tempSchema creates a schema for one test and returns a connection
// string that uses it.
func tempSchema(t *testing.T) string {
	t.Helper()
	conn, ctx := connect(t)
	var b [6]byte
	rand.Read(b[:])
	schema := "picket_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("creating schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, baseDSN())
		if err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	return withSearchPath(t, baseDSN(), schema)
}

func withSearchPath(t *testing.T, dsn, schema string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		// A key=value connection string.
		return dsn + " search_path=" + schema
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.Context(), tempSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// Store has every method the conformance suite tests.
var _ storetest.Store = (*Store)(nil)

func TestConformance(t *testing.T) {
	connect(t) // skip once, not in every subtest
	storetest.Run(t, func(t *testing.T) storetest.Store { return openTemp(t) })
}

// TestMigrate opens a database of schema version 1 with a finding in it
// and checks that opening it now migrates it: the columns of version 2
// are filled from the stored JSON and serve queries.
func TestMigrate(t *testing.T) {
	dsn := tempSchema(t)
	old, err := open(t.Context(), dsn, 1)
	if err != nil {
		t.Fatal(err)
	}
	det := &store.Detector{ID: finding.DetectorID("111122223333", "us-east-1"), Account: "111122223333", Region: "us-east-1", Enabled: true}
	if err := old.CreateDetector(t.Context(), det); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	f := finding.New(finding.TypePortscan, finding.Key{Account: det.Account, Region: det.Region, Resource: "i-0a", Role: finding.RoleActor}, det.ID, at, at, 3)
	f.Resource.InstanceDetails = &finding.InstanceDetails{InstanceID: "i-0a"}
	f.Service.Action.NetworkConnectionAction = &finding.NetworkConnectionAction{RemoteIPDetails: &finding.RemoteIPDetails{IPAddressV4: "198.51.100.7"}}
	body, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	// The row as version 1 wrote it: no remote_ip or resource_id.
	_, err = old.Write().ExecContext(t.Context(), `INSERT INTO findings (det, id, type, severity, created_ms, updated_ms,
		first_seen_ms, last_seen_ms, event_count, archived, account_id, region, resource_type, resource_role, action_type,
		instance_id, body) VALUES ((SELECT seq FROM detectors WHERE id = $1), $2, $3, $4, $5, $5, $5, $5, 3, 0, $6, $7, $8, $9, $10, $11, $12)`,
		det.ID, f.ID, f.Type, float64(f.Severity), at.UnixMilli(), f.AccountID, f.Region, f.Resource.ResourceType,
		f.Service.ResourceRole, f.Service.Action.ActionType, "i-0a", body)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := sqlstore.Version(t.Context(), s.Write()); err != nil || v != sqlstore.LatestVersion() {
		t.Fatalf("schema version = %d, %v; want %d", v, err, sqlstore.LatestVersion())
	}
	ids, _, err := s.ListFindings(t.Context(), det.ID, store.Query{Criteria: store.Criteria{
		"service.action.networkConnectionAction.remoteIpDetails.ipAddressV4": {Equals: []string{"198.51.100.7"}}}})
	if err != nil || len(ids) != 1 || ids[0] != f.ID {
		t.Errorf("findings by remote address after the migration = %v, %v; want [%s]", ids, err, f.ID)
	}
	stats, err := s.Statistics(t.Context(), det.ID, store.StatsQuery{GroupBy: store.GroupResource})
	if err != nil || len(stats.Groups) != 1 || stats.Groups[0].Key != "i-0a" {
		t.Errorf("resource statistics after the migration = %+v, %v", stats.Groups, err)
	}
}
