package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"picket/internal/finding"
	"picket/internal/store"
)

// OutboxStore is a Store with the outbox of push targets: the entries a
// commit adds for the findings it creates and changes, read per target,
// marked sent and pruned.
type OutboxStore interface {
	Store
	Outbox(ctx context.Context, target string, now time.Time, limit int) ([]store.OutboxEntry, error)
	OutboxBacklog(ctx context.Context, target string, now time.Time) (int, time.Time, error)
	MarkSent(ctx context.Context, target string, seqs []int64) error
	PruneOutbox(ctx context.Context, targets []string) (int, error)
}

// RunOutbox tests the outbox: a new finding is due at once, a changed one
// at its detector's next publishing boundary, an archived one not at all;
// each target sees what it has not sent; pruning keeps what some target
// still has to send.
func RunOutbox(t *testing.T, s OutboxStore) {
	ctx := context.Background()
	d := newDetector(t, s, "111122223333", "us-east-1")
	d.FindingPublishingFrequency = "FIFTEEN_MINUTES"
	if err := s.UpdateDetector(ctx, d); err != nil {
		t.Fatal(err)
	}
	c := NewCorpus(d.ID, 7)
	f1, f2, f3 := c.Next(), c.Next(), c.Next()
	f3.Service.Archived = true
	before := time.Now().UTC().Truncate(time.Millisecond)
	if err := s.Commit(ctx, store.Batch{Findings: []*finding.Finding{f1, f2, f3}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Outbox(ctx, "a", time.Now(), 100)
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ Detector, Finding, Kind string }
	rows := func(es []store.OutboxEntry) []row {
		var out []row
		for _, e := range es {
			out = append(out, row{e.DetectorID, e.FindingID, e.Kind})
		}
		return out
	}
	want := []row{{d.ID, f1.ID, store.OutboxNew}, {d.ID, f2.ID, store.OutboxNew}}
	if diff := cmp.Diff(want, rows(got)); diff != "" {
		t.Fatalf("outbox after the first commit (-want +got):\n%s", diff)
	}
	for _, e := range got {
		if e.CreatedAt.Before(before) || !e.DueAt.Equal(e.CreatedAt) {
			t.Errorf("entry %d: created %v, due %v; want both the commit's time, after %v", e.Seq, e.CreatedAt, e.DueAt, before)
		}
	}
	if got[0].Seq >= got[1].Seq {
		t.Errorf("sequence numbers %d, %d do not increase", got[0].Seq, got[1].Seq)
	}

	// A change to f1 waits for the next quarter hour.
	again := f1.Clone()
	again.Service.Count = 1
	if err := s.Commit(ctx, store.Batch{Findings: []*finding.Finding{again}}); err != nil {
		t.Fatal(err)
	}
	// A second change before the boundary adds no entry: one waits.
	t0 := time.Now()
	if err := s.Commit(ctx, store.Batch{Findings: []*finding.Finding{again}}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if n, _, err := s.OutboxBacklog(ctx, "a", now); err != nil || n != 3 && store.NextBoundary(t0, 15*time.Minute).Equal(store.NextBoundary(now, 15*time.Minute)) {
		t.Errorf("backlog after two changes before a boundary = %d, %v; want 3 entries (two new, one update)", n, err)
	}
	if got, err := s.Outbox(ctx, "a", now, 100); err != nil || len(got) != 2 {
		t.Fatalf("outbox before the boundary: %v entries, %v; want the 2 new ones", len(got), err)
	}
	later, err := s.Outbox(ctx, "a", now.Add(15*time.Minute), 100)
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, row{d.ID, f1.ID, store.OutboxUpdate})
	if diff := cmp.Diff(want, rows(later)); diff != "" {
		t.Fatalf("outbox after the boundary (-want +got):\n%s", diff)
	}
	upd := later[2]
	if b := store.NextBoundary(upd.CreatedAt, 15*time.Minute); !upd.DueAt.Equal(b) {
		t.Errorf("update due %v, want %v", upd.DueAt, b)
	}
	if n, oldest, err := s.OutboxBacklog(ctx, "a", now); err != nil || n != 3 || !oldest.Equal(got[0].CreatedAt) {
		t.Errorf("backlog = %d, %v, %v; want 3, %v", n, oldest, err, got[0].CreatedAt)
	}
	if got, err := s.Outbox(ctx, "a", now, 1); err != nil || len(got) != 1 {
		t.Errorf("a limit of 1 gave %d entries, %v", len(got), err)
	}

	// Target a sends the new findings (one twice); b sends nothing.
	seqs := []int64{got[0].Seq, got[1].Seq}
	for range 2 {
		if err := s.MarkSent(ctx, "a", seqs); err != nil {
			t.Fatal(err)
		}
	}
	if left, err := s.Outbox(ctx, "a", now.Add(15*time.Minute), 100); err != nil || len(left) != 1 || left[0].Seq != upd.Seq {
		t.Errorf("a's outbox after sending = %v, %v; want the update only", rows(left), err)
	}
	if left, err := s.Outbox(ctx, "b", now, 100); err != nil || len(left) != 2 {
		t.Errorf("b's outbox = %v, %v; want both new findings", rows(left), err)
	}
	if n, err := s.PruneOutbox(ctx, []string{"a", "b"}); err != nil || n != 0 {
		t.Errorf("prune while b has sent nothing = %d, %v; want 0", n, err)
	}
	if err := s.MarkSent(ctx, "b", seqs[:1]); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PruneOutbox(ctx, []string{"a", "b"}); err != nil || n != 1 {
		t.Errorf("prune = %d, %v; want 1", n, err)
	}
	if left, err := s.Outbox(ctx, "b", now, 100); err != nil || len(left) != 1 || left[0].Seq != seqs[1] {
		t.Errorf("b's outbox after pruning = %v, %v; want the second new finding", rows(left), err)
	}
	// Without targets, everything goes.
	if n, err := s.PruneOutbox(ctx, nil); err != nil || n != 2 {
		t.Errorf("prune without targets = %d, %v; want 2", n, err)
	}
	if n, _, err := s.OutboxBacklog(ctx, "a", now.Add(time.Hour)); err != nil || n != 0 {
		t.Errorf("backlog after pruning everything = %d, %v", n, err)
	}
}
