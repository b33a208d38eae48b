package sqlite

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"picket/internal/finding"
	"picket/internal/store"
	"picket/internal/store/sqlstore"
)

// TestMigrate opens a database of schema version 1 with findings in it,
// as an older picket left it, and checks that opening it now migrates it
// (the columns version 2 adds are filled from the stored JSON and serve
// queries), that opening it again changes nothing, and that a database
// newer than the code is refused.
func TestMigrate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "picket.db")
	old, err := open(t.Context(), path, 1)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := sqlstore.Version(t.Context(), old.Write()); err != nil || v != 1 {
		t.Fatalf("schema version = %d, %v; want 1", v, err)
	}
	det := &store.Detector{ID: finding.DetectorID("111122223333", "us-east-1"), Account: "111122223333", Region: "us-east-1", Enabled: true}
	if err := old.CreateDetector(t.Context(), det); err != nil {
		t.Fatal(err)
	}
	var fs []*finding.Finding
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i, ip := range []string{"198.51.100.7", "203.0.113.9", "198.51.100.7", ""} {
		f := finding.New(finding.TypePortscan, finding.Key{Account: det.Account, Region: det.Region, Resource: "i-0" + string(rune('a'+i)), Role: finding.RoleActor},
			det.ID, at, at.Add(time.Duration(i)*time.Hour), 3)
		f.Resource.InstanceDetails = &finding.InstanceDetails{InstanceID: "i-0" + string(rune('a'+i))}
		f.Service.Action.NetworkConnectionAction = &finding.NetworkConnectionAction{ConnectionDirection: "OUTBOUND"}
		if ip != "" {
			f.Service.Action.NetworkConnectionAction.RemoteIPDetails = &finding.RemoteIPDetails{IPAddressV4: ip}
		}
		fs = append(fs, f)
		// The row as version 1 wrote it: no remote_ip or resource_id.
		body, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		_, err = old.Write().ExecContext(t.Context(), `INSERT INTO findings (det, id, type, severity, created_ms, updated_ms,
			first_seen_ms, last_seen_ms, event_count, archived, account_id, region, resource_type, resource_role, action_type,
			instance_id, body) VALUES ((SELECT seq FROM detectors WHERE id = ?), ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?)`,
			det.ID, f.ID, f.Type, float64(f.Severity), f.CreatedAt.UnixMilli(), f.UpdatedAt.UnixMilli(),
			f.Service.EventFirstSeen.UnixMilli(), f.Service.EventLastSeen.UnixMilli(), f.Service.Count,
			f.AccountID, f.Region, f.Resource.ResourceType, f.Service.ResourceRole, f.Service.Action.ActionType,
			f.Resource.InstanceDetails.InstanceID, body)
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	check := func(s *Store) {
		t.Helper()
		if v, err := sqlstore.Version(t.Context(), s.Write()); err != nil || v != sqlstore.LatestVersion() {
			t.Fatalf("schema version = %d, %v; want %d (the latest)", v, err, sqlstore.LatestVersion())
		}
		ids, _, err := s.ListFindings(t.Context(), det.ID, store.Query{Criteria: store.Criteria{
			"service.action.networkConnectionAction.remoteIpDetails.ipAddressV4": {Equals: []string{"198.51.100.7"}}},
			Sort: store.Sort{Attribute: "updatedAt"}})
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff([]string{fs[0].ID, fs[2].ID}, ids); d != "" {
			t.Errorf("findings by remote address after the migration (-want +got):\n%s", d)
		}
		stats, err := s.Statistics(t.Context(), det.ID, store.StatsQuery{GroupBy: store.GroupResource})
		if err != nil {
			t.Fatal(err)
		}
		if len(stats.Groups) != 4 || stats.Groups[0].Key != "i-0a" {
			t.Errorf("resource statistics after the migration = %+v", stats.Groups)
		}
		var n int
		if err := s.Write().QueryRowContext(t.Context(), `SELECT COUNT(*) FROM findings WHERE remote_ip IS NULL`).Scan(&n); err != nil || n != 1 {
			t.Errorf("%d findings without a remote address column, %v; want 1", n, err)
		}
	}
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Opening a migrated database again is harmless.
	s, err = Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	check(s)
	if _, err := s.Write().ExecContext(t.Context(), `INSERT INTO schema_migrations (version, name, applied_ms) VALUES (99, 'from the future', 0)`); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(t.Context(), path); err == nil {
		s.Close()
		t.Error("a database of a newer schema version opened")
	}
}
