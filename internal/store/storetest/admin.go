package storetest

import (
	"testing"
	"time"

	"picket/internal/finding"
	"picket/internal/store"
)

// testCommitAdministratorRules holds the administrator's suppression
// rules to GuardDuty's: with store.Batch.Administrator set, they archive
// the new findings of the other accounts' detectors in the region, and
// not those of another region.
func testCommitAdministratorRules(t *testing.T, s Store) {
	const adminAcct, memberAcct = "111122223333", "444455556666"
	admin := newDetector(t, s, adminAcct, "us-east-1")
	member := newDetector(t, s, memberAcct, "us-east-1")
	west := newDetector(t, s, memberAcct, "us-west-2")
	must(t, "CreateFilter", s.CreateFilter(ctx(t), &store.Filter{DetectorID: admin.ID, Name: "scans", Action: "ARCHIVE", Rank: 1,
		Criteria: store.Criteria{"type": {Equals: []string{finding.TypePortscan}}}}))
	at := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	scan := func(d *store.Detector, resource string) *finding.Finding {
		return finding.New(finding.TypePortscan, finding.Key{Account: d.Account, Region: d.Region, Resource: resource, Role: finding.RoleActor}, d.ID, at, at, 1)
	}
	archived := func(d *store.Detector, f *finding.Finding) bool {
		t.Helper()
		got, err := s.Findings(ctx(t), d.ID, []string{f.ID})
		must(t, "Findings", err)
		if len(got) != 1 {
			t.Fatalf("finding %s of %s not stored", f.ID, d.ID)
		}
		return got[0].Service.Archived
	}

	alone := scan(member, "i-1")
	must(t, "Commit", s.Commit(ctx(t), store.Batch{Findings: []*finding.Finding{alone}}))
	if archived(member, alone) {
		t.Error("without an administrator, the administrator's detector's rule archived a member's finding")
	}
	mine, theirs, elsewhere := scan(admin, "i-2"), scan(member, "i-3"), scan(west, "i-4")
	must(t, "Commit", s.Commit(ctx(t), store.Batch{Findings: []*finding.Finding{mine, theirs, elsewhere}, Administrator: adminAcct}))
	if !archived(admin, mine) {
		t.Error("the administrator's rule did not archive its own new finding")
	}
	if !archived(member, theirs) {
		t.Error("the administrator's rule did not archive a member's new finding in its region")
	}
	if archived(west, elsewhere) {
		t.Error("the administrator's rule archived a finding of another region, where it has no detector")
	}
}
