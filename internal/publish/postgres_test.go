package publish_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"picket/internal/store/postgres"
)

// openPostgres opens a store in a schema of its own on the PostgreSQL
// that PICKET_POSTGRES_DSN names (the local one with trust
// authentication by default), dropped at the end; it skips without a
// server unless PICKET_REQUIRE_POSTGRES=1.
func openPostgres(t *testing.T) *postgres.Store {
	t.Helper()
	dsn := os.Getenv("PICKET_POSTGRES_DSN")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		if os.Getenv("PICKET_REQUIRE_POSTGRES") == "1" {
			t.Fatalf("PostgreSQL unreachable: %v", err)
		}
		t.Skipf("PostgreSQL unreachable at %s: %v", dsn, err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	rand.Read(b[:])
	schema := "picket_publish_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, dsn); err == nil {
			c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			c.Close(ctx)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	st, err := postgres.Open(t.Context(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestWebhookWithinTwoSecondsPostgres is TestWebhookWithinTwoSeconds on
// PostgreSQL.
func TestWebhookWithinTwoSecondsPostgres(t *testing.T) {
	webhookWithinTwoSeconds(t, withDetector(t, openPostgres(t), "SIX_HOURS"))
}
