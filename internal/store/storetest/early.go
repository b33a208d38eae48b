package storetest

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"picket/internal/finding"
	"picket/internal/store"
)

// testCommitEarly follows findings through batches with early reports
// (store.Batch.Early): a finding shows its reports merged with its early
// report, each batch's early set replaces the last one's, a finding with
// nothing but an early report is withdrawn when a batch leaves it out,
// and the user's state survives all of it.
func testCommitEarly(t *testing.T, s Store) {
	a := newDetector(t, s, "111122223333", "us-east-1")
	c := NewCorpus(a.ID, 11)
	fa, fb := c.Next(), c.Next()
	a1, a2, a3, a4 := fa, c.Report(fa), c.Report(fa), c.Report(fa)
	b1 := fb

	merged := func(rs ...*finding.Finding) *finding.Finding {
		out := rs[0].Clone()
		for _, r := range rs[1:] {
			finding.Merge(out, r)
		}
		return out
	}
	check := func(step string, want ...*finding.Finding) {
		t.Helper()
		got, err := s.Findings(ctx(t), a.ID, []string{fa.ID, fb.ID})
		must(t, "Findings", err)
		if d := cmp.Diff(jsonOf(want), jsonOf(got)); d != "" {
			t.Errorf("%s: stored findings (-want +got):\n%s", step, d)
		}
		ids, _, err := s.ListFindings(ctx(t), a.ID, store.Query{})
		must(t, "ListFindings", err)
		if len(ids) != len(want) {
			t.Errorf("%s: ListFindings lists %d findings, want %d", step, len(ids), len(want))
		}
	}
	batch := func(findings, early []*finding.Finding) {
		t.Helper()
		must(t, "Commit", s.Commit(ctx(t), store.Batch{Findings: findings, Early: early}))
	}

	batch([]*finding.Finding{a1}, []*finding.Finding{a2, b1})
	check("a report and two early ones", merged(a1, a2), b1)

	// The user archives the early finding B: the flag is the user's.
	must(t, "SetArchived", s.SetArchived(ctx(t), a.ID, []string{fb.ID}, true))
	archived := b1.Clone()
	archived.Service.Archived = true
	check("B archived", merged(a1, a2), archived)

	// The next batch's early set replaces the last one's: A2 was
	// foreseen, and now A3 is reported and A4 foreseen; B is not
	// foreseen any more and had no report, so it is withdrawn.
	batch([]*finding.Finding{a3}, []*finding.Finding{a4})
	check("early set replaced", merged(a1, a3, a4))

	// The same early set again changes nothing.
	batch(nil, []*finding.Finding{a4})
	check("same early set", merged(a1, a3, a4))

	// No early set: A shows its reports alone.
	batch(nil, nil)
	check("no early set", merged(a1, a3))

	// An early report of a finding the user archived keeps it archived.
	must(t, "SetArchived", s.SetArchived(ctx(t), a.ID, []string{fa.ID}, true))
	batch(nil, []*finding.Finding{a2})
	want := merged(a1, a3, a2)
	want.Service.Archived = true
	check("archived, with an early report", want)
	batch(nil, nil)
	want = merged(a1, a3)
	want.Service.Archived = true
	check("archived, early report gone", want)

	// The reports handed to Commit are left as they were.
	before := jsonOf([]*finding.Finding{a1, a2, a3, a4, b1})
	batch([]*finding.Finding{a3}, []*finding.Finding{a4, b1})
	if d := cmp.Diff(before, jsonOf([]*finding.Finding{a1, a2, a3, a4, b1})); d != "" {
		t.Errorf("Commit changed the reports it was given (-before +after):\n%s", d)
	}
}
