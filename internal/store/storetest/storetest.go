// Package storetest is the conformance suite of the store contract: one
// Run that every implementation (store/sqlite, store/postgres) passes, so
// that they behave alike and as the contract in package store says. Store
// declares the methods it tests. Where the contract is about findings,
// the suite compares each store's answers with a reference: finding.Merge
// applied by a plain in-memory model, and criteria.Match,
// store.Sort.Less and the documented statistics over the same findings (a
// differential test).
//
// It may import finding and store.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"picket/internal/finding"
	"picket/internal/store"
)

// Run runs the suite. open returns a new, empty store for one test and
// arranges for it to be closed (t.Cleanup); Run calls it from parallel
// subtests.
func Run(t *testing.T, open func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"Detectors", testDetectors},
		{"DeleteDetector", testDeleteDetector},
		{"CommitInsert", testCommitInsert},
		{"CommitMerge", testCommitMerge},
		{"CommitKeepsReports", testCommitKeepsReports},
		{"CommitSuppression", testCommitSuppression},
		{"CommitEarly", testCommitEarly},
		{"CommitAdministratorRules", testCommitAdministratorRules},
		{"CommitAtomic", testCommitAtomic},
		{"CommitFence", testCommitFence},
		{"Progress", testProgress},
		{"Criteria", testCriteria},
		{"Sort", testSort},
		{"PaginationUnderInserts", testPaginationUnderInserts},
		{"Cursor", testCursor},
		{"Statistics", testStatistics},
		{"Archive", testArchive},
		{"Feedback", testFeedback},
		{"ArchiveMatching", testArchiveMatching},
		{"Filters", testFilters},
		{"Sets", testSets},
		{"Tags", testTags},
		{"Concurrency", testConcurrency},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open(t))
		})
	}
}

func newDetector(t *testing.T, s Store, account, region string) *store.Detector {
	t.Helper()
	d := &store.Detector{
		ID: finding.DetectorID(account, region), Account: account, Region: region, Enabled: true,
		FindingPublishingFrequency: "SIX_HOURS",
		Features: []store.Feature{{Name: "S3_DATA_EVENTS", Status: "ENABLED", UpdatedAt: epoch,
			Additional: []store.Feature{{Name: "EKS_ADDON_MANAGEMENT", Status: "DISABLED", UpdatedAt: epoch}}}},
		Tags:      map[string]string{"team": "sec"},
		CreatedAt: epoch, UpdatedAt: epoch,
	}
	if err := s.CreateDetector(context.Background(), d); err != nil {
		t.Fatalf("CreateDetector: %v", err)
	}
	return d
}

func ctx(t *testing.T) context.Context { return t.Context() }

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: err = %v, want %v", what, err, want)
	}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// commit commits reports to the store and to the model.
func commit(t *testing.T, s Store, m *model, rules []store.Criteria, reports ...*finding.Finding) {
	t.Helper()
	must(t, "Commit", s.Commit(ctx(t), store.Batch{Findings: reports}))
	m.commit(reports, rules)
}

// seed commits n findings of the corpus in batches.
func seed(t *testing.T, s Store, m *model, c *Corpus, n int) []*finding.Finding {
	t.Helper()
	var all []*finding.Finding
	for len(all) < n {
		var batch []*finding.Finding
		for range min(50, n-len(all)) {
			batch = append(batch, c.Next())
		}
		commit(t, s, m, nil, batch...)
		all = append(all, batch...)
	}
	return all
}

// jsonOf renders findings for comparison.
func jsonOf(fs []*finding.Finding) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		b, err := json.MarshalIndent(f, "", " ")
		if err != nil {
			panic(err)
		}
		out[i] = string(b)
	}
	return out
}

// checkFindings compares every stored finding with the model.
func checkFindings(t *testing.T, s Store, m *model, detectorID string) {
	t.Helper()
	want := m.all()
	ids := make([]string, len(want))
	for i, f := range want {
		ids[i] = f.ID
	}
	got, err := s.Findings(ctx(t), detectorID, ids)
	must(t, "Findings", err)
	if d := cmp.Diff(jsonOf(want), jsonOf(got)); d != "" {
		t.Errorf("stored findings differ from the reference (-want +got):\n%s", d)
	}
}

// listAll pages through ListFindings.
func listAll(t *testing.T, s Store, detectorID string, c store.Criteria, so store.Sort, limit int) []string {
	t.Helper()
	var out []string
	cursor := ""
	for pages := 0; ; pages++ {
		ids, next, err := s.ListFindings(ctx(t), detectorID, store.Query{Criteria: c, Sort: so, Page: store.Page{Cursor: cursor, Limit: limit}})
		if err != nil {
			t.Fatalf("ListFindings(%s, %+v): %v", describe(c), so, err)
		}
		if len(ids) > limit {
			t.Fatalf("ListFindings returned %d IDs, limit %d", len(ids), limit)
		}
		out = append(out, ids...)
		if next == "" {
			return out
		}
		if len(ids) == 0 {
			t.Fatalf("ListFindings returned an empty page with a cursor")
		}
		if pages > 10000 {
			t.Fatal("ListFindings does not stop")
		}
		cursor = next
	}
}

func describe(c store.Criteria) string {
	b, _ := json.Marshal(c)
	return string(b)
}

func i64(v int64) *int64 { return &v }

func testDetectors(t *testing.T, s Store) {
	a := newDetector(t, s, "111122223333", "us-east-1")
	got, err := s.Detector(ctx(t), a.ID)
	must(t, "Detector", err)
	if d := cmp.Diff(a, got); d != "" {
		t.Errorf("Detector (-want +got):\n%s", d)
	}
	got, err = s.DetectorFor(ctx(t), a.Account, a.Region)
	must(t, "DetectorFor", err)
	if got.ID != a.ID {
		t.Errorf("DetectorFor = %s, want %s", got.ID, a.ID)
	}
	_, err = s.DetectorFor(ctx(t), a.Account, "eu-west-1")
	wantErr(t, "DetectorFor of another region", err, store.ErrNotFound)
	_, err = s.Detector(ctx(t), "0123456789abcdef0123456789abcdef")
	wantErr(t, "Detector of an unknown ID", err, store.ErrNotFound)

	dup := *a
	dup.ID = "ffffffffffffffffffffffffffffffff"
	wantErr(t, "a second detector in the region", s.CreateDetector(ctx(t), &dup), store.ErrExists)
	dup = *a
	dup.Region = "eu-west-1"
	wantErr(t, "a detector with a taken ID", s.CreateDetector(ctx(t), &dup), store.ErrExists)

	// Listing pages through every detector in ID order.
	want := []string{a.ID}
	for _, r := range []string{"eu-west-1", "eu-west-2", "ap-south-1", "us-west-2", "sa-east-1"} {
		want = append(want, newDetector(t, s, "111122223333", r).ID)
	}
	slices.Sort(want)
	var all []string
	cursor := ""
	for {
		ids, next, err := s.Detectors(ctx(t), store.Page{Cursor: cursor, Limit: 4})
		must(t, "Detectors", err)
		all = append(all, ids...)
		if next == "" {
			break
		}
		cursor = next
	}
	if d := cmp.Diff(want, all); d != "" {
		t.Errorf("Detectors (-want +got):\n%s", d)
	}

	up := *a
	up.Enabled = false
	up.FindingPublishingFrequency = "FIFTEEN_MINUTES"
	up.Features = []store.Feature{{Name: "RUNTIME_MONITORING", Status: "DISABLED", UpdatedAt: epoch.Add(time.Hour)}}
	up.UpdatedAt = epoch.Add(time.Hour)
	up.CreatedAt = epoch.Add(time.Hour) // ignored: creation stays
	must(t, "UpdateDetector", s.UpdateDetector(ctx(t), &up))
	got, err = s.Detector(ctx(t), a.ID)
	must(t, "Detector", err)
	up.CreatedAt = epoch
	if d := cmp.Diff(&up, got); d != "" {
		t.Errorf("updated detector (-want +got):\n%s", d)
	}
	missing := up
	missing.ID = "0123456789abcdef0123456789abcdef"
	wantErr(t, "UpdateDetector of an unknown ID", s.UpdateDetector(ctx(t), &missing), store.ErrNotFound)
	wantErr(t, "DeleteDetector of an unknown ID", s.DeleteDetector(ctx(t), missing.ID), store.ErrNotFound)
}

func testDeleteDetector(t *testing.T, s Store) {
	a := newDetector(t, s, "111122223333", "us-east-1")
	b := newDetector(t, s, "444455556666", "us-east-1")
	ca, cb := NewCorpus(a.ID, 1), NewCorpus(b.ID, 2)
	ma, mb := newModel(), newModel()
	fa := seed(t, s, ma, ca, 20)
	seed(t, s, mb, cb, 20)
	must(t, "CreateFilter", s.CreateFilter(ctx(t), &store.Filter{DetectorID: a.ID, Name: "f1", Action: "NOOP", Rank: 1,
		Criteria: store.Criteria{"type": {Equals: []string{"x"}}}}))
	must(t, "CreateSet", s.CreateSet(ctx(t), &store.Set{DetectorID: a.ID, Kind: store.IPSet, ID: "s1", Name: "s", Format: "TXT", Status: "ACTIVE"}))

	must(t, "DeleteDetector", s.DeleteDetector(ctx(t), a.ID))
	_, err := s.Detector(ctx(t), a.ID)
	wantErr(t, "Detector after DeleteDetector", err, store.ErrNotFound)
	_, _, err = s.ListFindings(ctx(t), a.ID, store.Query{})
	wantErr(t, "ListFindings of a deleted detector", err, store.ErrNotFound)

	// A new detector with the same ID starts empty.
	newDetector(t, s, "111122223333", "us-east-1")
	if ids := listAll(t, s, a.ID, nil, store.Sort{}, 50); len(ids) != 0 {
		t.Errorf("findings survived their detector: %v", ids)
	}
	got, err := s.Findings(ctx(t), a.ID, []string{fa[0].ID})
	must(t, "Findings", err)
	if len(got) != 0 {
		t.Errorf("Findings after DeleteDetector = %d findings", len(got))
	}
	_, err = s.Filter(ctx(t), a.ID, "f1")
	wantErr(t, "Filter after DeleteDetector", err, store.ErrNotFound)
	_, err = s.Set(ctx(t), a.ID, store.IPSet, "s1")
	wantErr(t, "Set after DeleteDetector", err, store.ErrNotFound)
	tags, err := s.Tags(ctx(t), "arn:aws:guardduty:us-east-1:111122223333:detector/"+a.ID)
	must(t, "Tags", err)
	if d := cmp.Diff(map[string]string{"team": "sec"}, tags); d != "" {
		t.Errorf("tags of the new detector (-want +got):\n%s", d)
	}
	// The other detector keeps everything.
	checkFindings(t, s, mb, b.ID)
}

func testCommitInsert(t *testing.T, s Store) {
	a := newDetector(t, s, "111122223333", "us-east-1")
	m := newModel()
	fs := seed(t, s, m, NewCorpus(a.ID, 3), 120)
	checkFindings(t, s, m, a.ID)

	// Findings answers in the order asked, skipping unknown and repeated
	// IDs.
	ask := []string{fs[5].ID, "00000000000000000000000000000000", fs[2].ID, fs[5].ID, fs[99].ID}
	got, err := s.Findings(ctx(t), a.ID, ask)
	must(t, "Findings", err)
	want := []*finding.Finding{m.byID[fs[5].ID], m.byID[fs[2].ID], m.byID[fs[99].ID]}
	if d := cmp.Diff(jsonOf(want), jsonOf(got)); d != "" {
		t.Errorf("Findings (-want +got):\n%s", d)
	}
	got, err = s.Findings(ctx(t), a.ID, nil)
	must(t, "Findings of none", err)
	if len(got) != 0 {
		t.Errorf("Findings of no IDs = %d findings", len(got))
	}
	_, err = s.Findings(ctx(t), "0123456789abcdef0123456789abcdef", ask)
	wantErr(t, "Findings of an unknown detector", err, store.ErrNotFound)

	// Many IDs at once.
	var many []string
	for _, f := range fs {
		many = append(many, f.ID)
	}
	for i := range 1100 {
		many = append(many, fmt.Sprintf("%032x", i))
	}
	got, err = s.Findings(ctx(t), a.ID, many)
	must(t, "Findings of many", err)
	if len(got) != len(fs) {
		t.Errorf("Findings of %d IDs = %d findings, want %d", len(many), len(got), len(fs))
	}
}

func testCommitMerge(t *testing.T, s Store) {
	a := newDetector(t, s, "111122223333", "us-east-1")
	m := newModel()
	c := NewCorpus(a.ID, 4)
	fs := seed(t, s, m, c, 40)

	// The user's state on a finding survives merges.
	must(t, "SetArchived", s.SetArchived(ctx(t), a.ID, []string{fs[0].ID}, true))
	m.byID[fs[0].ID].Service.Archived = true
	must(t, "SetFeedback", s.SetFeedback(ctx(t), a.ID, []string{fs[1].ID}, "USEFUL", "thanks"))
	m.byID[fs[1].ID].Service.UserFeedback = "USEFUL"

	// Later reports, earlier ones, and several of one finding in a batch.
	var batch []*finding.Finding
	for i, f := range fs[:20] {
		r := c.Report(f)
		if i%3 == 0 {
			r.Service.EventFirstSeen = finding.Timestamp{Time: f.Service.EventFirstSeen.Add(-time.Hour)}
			r.Service.EventLastSeen = finding.Timestamp{Time: f.Service.EventLastSeen.Add(-time.Minute)}
			r.CreatedAt = finding.Timestamp{Time: f.CreatedAt.Add(-2 * time.Hour)}
		}
		batch = append(batch, r)
	}
	batch = append(batch, c.Report(fs[3]), c.Report(fs[3]))
	fresh := c.Next()
	batch = append(batch, fresh, c.Report(fresh))
	commit(t, s, m, nil, batch...)
	checkFindings(t, s, m, a.ID)

	got, err := s.Findings(ctx(t), a.ID, []string{fs[3].ID})
	must(t, "Findings", err)
	want := fs[3].Service.Count
	for _, r := range batch {
		if r.ID == fs[3].ID {
			want += r.Service.Count
		}
	}
	if got[0].Service.Count != want {
		t.Errorf("count after three reports = %d, want %d", got[0].Service.Count, want)
	}
	// Committing the same reports again is a merge again (reports are
	// activity, not state), and the model agrees.
	commit(t, s, m, nil, batch[:5]...)
	checkFindings(t, s, m, a.ID)
}

func testCommitKeepsReports(t *testing.T, s Store) {
	a := newDetector(t, s, "111122223333", "us-east-1")
	must(t, "CreateFilter", s.CreateFilter(ctx(t), &store.Filter{DetectorID: a.ID, Name: "all", Action: "ARCHIVE", Rank: 1,
		Criteria: store.Criteria{"severity": {GreaterThanOrEqual: i64(0)}}}))
	c := NewCorpus(a.ID, 5)
	f := c.Next()
	r1, r2 := c.Report(f), c.Report(f)
	before := jsonOf([]*finding.Finding{f, r1, r2})
	must(t, "Commit", s.Commit(ctx(t), store.Batch{Findings: []*finding.Finding{f, r1, r2}}))
	if d := cmp.Diff(before, jsonOf([]*finding.Finding{f, r1, r2})); d != "" {
		t.Errorf("Commit changed the reports it was given (-before +after):\n%s", d)
	}
}

func testCommitSuppression(t *testing.T, s Store) {
	a := newDetector(t, s, "111122223333", "us-east-1")
	m := newModel()
	c := NewCorpus(a.ID, 6)
	early := seed(t, s, m, c, 30)

	rules := []store.Criteria{
		{"severity": {LessThan: i64(4)}, "service.action.actionType": {Equals: []string{finding.ActionPortProbe}}},
		{"resource.instanceDetails.tags.value": {Matches: []string{"de?"}}},
	}
	must(t, "CreateFilter", s.CreateFilter(ctx(t), &store.Filter{DetectorID: a.ID, Name: "low-probes", Action: "ARCHIVE", Rank: 2, Criteria: rules[0]}))
	must(t, "CreateFilter", s.CreateFilter(ctx(t), &store.Filter{DetectorID: a.ID, Name: "dev", Action: "ARCHIVE", Rank: 1, Criteria: rules[1]}))
	must(t, "CreateFilter", s.CreateFilter(ctx(t), &store.Filter{DetectorID: a.ID, Name: "view", Action: "NOOP", Rank: 3,
		Criteria: store.Criteria{"severity": {GreaterThanOrEqual: i64(0)}}}))

	// New findings that match are archived; findings that existed are
	// only merged.
	var batch []*finding.Finding
	for range 150 {
		batch = append(batch, c.Next())
	}
	for _, f := range early {
		batch = append(batch, c.Report(f))
	}
	commit(t, s, m, rules, batch...)
	checkFindings(t, s, m, a.ID)
	archived := 0
	for _, f := range m.all() {
		if f.Service.Archived {
			archived++
		}
	}
	if archived == 0 {
		t.Fatal("the corpus gave the suppression rules nothing to archive")
	}
	got := listAll(t, s, a.ID, store.Criteria{"service.archived": {Equals: []string{"true"}}}, store.Sort{}, 50)
	if len(got) != archived {
		t.Errorf("%d archived findings listed, want %d", len(got), archived)
	}
}

func testCommitAtomic(t *testing.T, s Store) {
	a := newDetector(t, s, "111122223333", "us-east-1")
	m := newModel()
	c := NewCorpus(a.ID, 7)
	fs := seed(t, s, m, c, 10)
	base := store.Batch{Checkpoints: []store.Checkpoint{{Source: "dir:/logs", Position: []byte("file-1:100"), UpdatedAt: epoch}}, State: []byte("state-1")}
	must(t, "Commit", s.Commit(ctx(t), base))

	orphan := NewCorpus("0123456789abcdef0123456789abcdef", 8).Next()
	failing := []struct {
		name  string
		ctx   func() context.Context
		batch store.Batch
	}{
		{"a finding of an unknown detector", func() context.Context { return ctx(t) }, store.Batch{
			Findings:    []*finding.Finding{c.Next(), c.Report(fs[0]), orphan},
			Checkpoints: []store.Checkpoint{{Source: "dir:/logs", Position: []byte("file-2:5"), UpdatedAt: epoch.Add(time.Hour)}, {Source: "s3://b/p", Position: []byte("k")}},
			State:       []byte("state-2"),
		}},
		{"a cancelled context", func() context.Context {
			cx, cancel := context.WithCancel(ctx(t))
			cancel()
			return cx
		}, store.Batch{
			Findings:    []*finding.Finding{c.Next(), c.Report(fs[1])},
			Checkpoints: []store.Checkpoint{{Source: "dir:/logs", Position: []byte("file-3:5")}},
			State:       []byte("state-3"),
		}},
		{"a finding without an ID", func() context.Context { return ctx(t) }, store.Batch{
			Findings: []*finding.Finding{c.Next(), {Service: finding.Service{DetectorID: a.ID}}},
			State:    []byte("state-4"),
		}},
	}
	for _, tt := range failing {
		if err := s.Commit(tt.ctx(), tt.batch); err == nil {
			t.Errorf("%s: Commit succeeded", tt.name)
		}
		if tt.name == "a finding of an unknown detector" {
			_, err := s.Detector(ctx(t), orphan.Service.DetectorID)
			wantErr(t, "the unknown detector", err, store.ErrNotFound)
		}
		// Nothing of the batch is visible.
		checkFindings(t, s, m, a.ID)
		if ids := listAll(t, s, a.ID, nil, store.Sort{}, 50); len(ids) != len(m.byID) {
			t.Errorf("%s: %d findings listed, want %d", tt.name, len(ids), len(m.byID))
		}
		cps, err := s.Checkpoints(ctx(t))
		must(t, "Checkpoints", err)
		if d := cmp.Diff(base.Checkpoints, cps); d != "" {
			t.Errorf("%s: checkpoints (-want +got):\n%s", tt.name, d)
		}
		st, err := s.State(ctx(t))
		must(t, "State", err)
		if string(st) != "state-1" {
			t.Errorf("%s: state = %q, want state-1", tt.name, st)
		}
	}
}

func testProgress(t *testing.T, s Store) {
	a := newDetector(t, s, "111122223333", "us-east-1")
	st, err := s.State(ctx(t))
	must(t, "State", err)
	if st != nil {
		t.Errorf("state of a new store = %q, want nil", st)
	}
	cps, err := s.Checkpoints(ctx(t))
	must(t, "Checkpoints", err)
	if len(cps) != 0 {
		t.Errorf("checkpoints of a new store = %v", cps)
	}
	m := newModel()
	c := NewCorpus(a.ID, 9)
	state := make([]byte, 300000)
	for i := range state {
		state[i] = byte(i * 7)
	}
	b1 := store.Batch{
		Findings: []*finding.Finding{c.Next()},
		Checkpoints: []store.Checkpoint{
			{Source: "s3://bucket/prefix", Position: []byte{0, 1, 2, 255}, UpdatedAt: epoch},
			{Source: "dir:/var/log/flows", Position: []byte("f:1"), UpdatedAt: epoch.Add(time.Second)},
		},
		State: state,
	}
	must(t, "Commit", s.Commit(ctx(t), b1))
	m.commit(b1.Findings, nil)
	// A batch without state keeps the state; checkpoints are per source.
	b2 := store.Batch{Checkpoints: []store.Checkpoint{{Source: "dir:/var/log/flows", Position: []byte("f:2"), UpdatedAt: epoch.Add(time.Minute)}}}
	must(t, "Commit", s.Commit(ctx(t), b2))
	cps, err = s.Checkpoints(ctx(t))
	must(t, "Checkpoints", err)
	want := []store.Checkpoint{b2.Checkpoints[0], b1.Checkpoints[0]}
	if d := cmp.Diff(want, cps); d != "" {
		t.Errorf("checkpoints (-want +got):\n%s", d)
	}
	st, err = s.State(ctx(t))
	must(t, "State", err)
	if !slices.Equal(st, state) {
		t.Errorf("state of %d bytes came back as %d different bytes", len(state), len(st))
	}
	must(t, "Commit", s.Commit(ctx(t), store.Batch{State: []byte("small")}))
	st, err = s.State(ctx(t))
	must(t, "State", err)
	if string(st) != "small" {
		t.Errorf("state = %q, want small", st)
	}
	checkFindings(t, s, m, a.ID)
}
