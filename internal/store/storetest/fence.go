package storetest

import (
	"errors"
	"testing"
	"time"

	"picket/internal/finding"
	"picket/internal/store"
)

// testCommitFence checks store.Batch.Fence: a commit under an older
// epoch than one already committed under the same name writes nothing
// (neither its findings nor its checkpoints) and fails with
// store.ErrFenced; the same or a newer epoch commits; other names are
// independent.
func testCommitFence(t *testing.T, s Store) {
	d := newDetector(t, s, "111122223333", "us-east-1")
	at := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	report := func(resource string) *finding.Finding {
		return finding.New(finding.TypePortscan, finding.Key{Account: d.Account, Region: d.Region, Resource: resource, Role: finding.RoleActor}, d.ID, at, at, 1)
	}
	commit := func(epoch int64, name, resource, pos string) error {
		return s.Commit(ctx(t), store.Batch{
			Findings:    []*finding.Finding{report(resource)},
			Checkpoints: []store.Checkpoint{{Source: name, Position: []byte(pos), UpdatedAt: at}},
			Fence:       &store.Fence{Name: name, Epoch: epoch},
		})
	}
	position := func(name string) string {
		t.Helper()
		cps, err := s.Checkpoints(ctx(t))
		must(t, "Checkpoints", err)
		for _, c := range cps {
			if c.Source == name {
				return string(c.Position)
			}
		}
		return ""
	}
	must(t, "Commit epoch 5", commit(5, "p0", "i-1", "five"))
	must(t, "Commit epoch 5 again", commit(5, "p0", "i-2", "five again"))
	must(t, "Commit epoch 7", commit(7, "p0", "i-3", "seven"))
	if err := commit(6, "p0", "i-4", "six"); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("a commit under epoch 6 after one under 7: %v, want ErrFenced", err)
	}
	if got := position("p0"); got != "seven" {
		t.Errorf("the fenced commit's checkpoint was written: %q", got)
	}
	fs, err := s.Findings(ctx(t), d.ID, []string{report("i-4").ID, report("i-3").ID})
	must(t, "Findings", err)
	if len(fs) != 1 || fs[0].ID != report("i-3").ID {
		t.Errorf("after the fenced commit %d findings of the two stored, want only the one committed under epoch 7", len(fs))
	}
	must(t, "Commit another name under epoch 1", commit(1, "p1", "i-5", "one"))
}
