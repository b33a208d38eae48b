package live

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"picket/internal/metrics"
	"picket/internal/store"
)

// TestRefresh edits a list in use: a refresh swaps the new
// version in; a refresh that finds the list unusable keeps the last good
// version and counts the failure.
func TestRefresh(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "bad-hosts.txt")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(list, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("198.51.100.7\n")
	ls := New(slog.New(slog.DiscardHandler), dir)
	done := make(chan error, 1)
	ls.Load(store.Set{DetectorID: "d1", Kind: store.ThreatIntelSet, ID: "s1", Name: "bad-hosts", Format: "TXT", Location: list}, func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	listed := func(addr string) bool {
		_, ok := ls.Threat(netip.MustParseAddr(addr))
		return ok
	}
	if !listed("198.51.100.7") || listed("203.0.113.9") {
		t.Fatal("the first version is not what is in use")
	}

	write("203.0.113.9\n")
	ls.refresh(context.Background())
	if listed("198.51.100.7") || !listed("203.0.113.9") {
		t.Error("after the list changed and a refresh, the old version is still in use")
	}
	if ls.refreshUpdates.Load() != 1 || ls.refreshFailures.Load() != 0 {
		t.Errorf("updates %d, failures %d; want 1 and 0", ls.refreshUpdates.Load(), ls.refreshFailures.Load())
	}

	write("no address here\nnor here\n")
	ls.refresh(context.Background())
	if !listed("203.0.113.9") {
		t.Error("an unusable new version replaced the last good one")
	}
	if ls.refreshFailures.Load() != 1 || ls.refreshes.Load() != 2 {
		t.Errorf("refreshes %d, failures %d; want 2 and 1", ls.refreshes.Load(), ls.refreshFailures.Load())
	}

	m := metrics.New(nil)
	m.SetIntel(func() metrics.IntelStatus { return metrics.IntelStatus(ls.Status()) })
	var b strings.Builder
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b.Write(rec.Body.Bytes())
	for _, want := range []string{"picket_intel_lists 1\n", "picket_intel_refreshes_total 2\n", "picket_intel_refresh_failures_total 1\n", "picket_intel_refresh_updates_total 1\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
