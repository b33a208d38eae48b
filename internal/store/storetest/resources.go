package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"picket/internal/finding"
	"picket/internal/store"
)

func testFilters(t *testing.T, s Store) {
	a := newDetector(t, s, "111122223333", "us-east-1")
	f := &store.Filter{DetectorID: a.ID, Name: "suppress-probes", Description: "low probes", Action: "ARCHIVE", Rank: 5,
		Criteria: store.Criteria{
			"type":                                {Equals: []string{finding.TypePortProbeUnprotectedPort}},
			"severity":                            {LessThan: i64(4), GreaterThanOrEqual: i64(1)},
			"resource.instanceDetails.tags.value": {Matches: []string{"dev*"}, NotMatches: []string{"*-db"}},
			"service.archived":                    {NotEquals: []string{"true"}},
		},
		Tags: map[string]string{"owner": "sec"}, CreatedAt: epoch, UpdatedAt: epoch}
	must(t, "CreateFilter", s.CreateFilter(ctx(t), f))
	got, err := s.Filter(ctx(t), a.ID, f.Name)
	must(t, "Filter", err)
	if d := cmp.Diff(f, got); d != "" {
		t.Errorf("Filter (-want +got):\n%s", d)
	}
	wantErr(t, "CreateFilter of a taken name", s.CreateFilter(ctx(t), f), store.ErrExists)
	_, err = s.Filter(ctx(t), a.ID, "nope")
	wantErr(t, "Filter of an unknown name", err, store.ErrNotFound)
	missing := *f
	missing.DetectorID = "0123456789abcdef0123456789abcdef"
	wantErr(t, "CreateFilter of an unknown detector", s.CreateFilter(ctx(t), &missing), store.ErrNotFound)

	up := *f
	up.Description, up.Action, up.Rank = "all probes", "NOOP", 1
	up.Criteria = store.Criteria{"type": {Equals: []string{finding.TypePortProbeUnprotectedPort}}}
	up.UpdatedAt = epoch.Add(time.Hour)
	up.CreatedAt = epoch.Add(time.Hour) // ignored
	must(t, "UpdateFilter", s.UpdateFilter(ctx(t), &up))
	got, err = s.Filter(ctx(t), a.ID, f.Name)
	must(t, "Filter", err)
	up.CreatedAt = epoch
	if d := cmp.Diff(&up, got); d != "" {
		t.Errorf("updated filter (-want +got):\n%s", d)
	}
	unknown := up
	unknown.Name = "nope"
	wantErr(t, "UpdateFilter of an unknown name", s.UpdateFilter(ctx(t), &unknown), store.ErrNotFound)

	// Listing is in rank order, ties by name; a filter without a rank
	// comes after the others.
	for i, n := range []struct {
		name string
		rank int
	}{{"b", 3}, {"a", 3}, {"c", 2}, {"z", 50}, {"m", 0}, {"n", 0}} {
		must(t, "CreateFilter", s.CreateFilter(ctx(t), &store.Filter{DetectorID: a.ID, Name: n.name, Action: "NOOP", Rank: n.rank,
			Criteria: store.Criteria{"severity": {GreaterThan: i64(int64(i))}}}))
	}
	want := []string{"suppress-probes", "c", "a", "b", "z", "m", "n"}
	var all []string
	cursor := ""
	for {
		names, next, err := s.Filters(ctx(t), a.ID, store.Page{Cursor: cursor, Limit: 3})
		must(t, "Filters", err)
		all = append(all, names...)
		if next == "" {
			break
		}
		cursor = next
	}
	if d := cmp.Diff(want, all); d != "" {
		t.Errorf("Filters (-want +got):\n%s", d)
	}
	m, err := s.Filter(ctx(t), a.ID, "m")
	must(t, "Filter", err)
	n, err := s.Filter(ctx(t), a.ID, "n")
	must(t, "Filter", err)
	if m.Rank <= 50 || n.Rank <= m.Rank {
		t.Errorf("filters without a rank got ranks %d and %d, want after 50 in order", m.Rank, n.Rank)
	}

	must(t, "DeleteFilter", s.DeleteFilter(ctx(t), a.ID, "c"))
	wantErr(t, "DeleteFilter again", s.DeleteFilter(ctx(t), a.ID, "c"), store.ErrNotFound)
	names, _, err := s.Filters(ctx(t), a.ID, store.Page{Limit: 50})
	must(t, "Filters", err)
	if slices.Contains(names, "c") {
		t.Errorf("deleted filter listed: %v", names)
	}
	_, _, err = s.Filters(ctx(t), "0123456789abcdef0123456789abcdef", store.Page{})
	wantErr(t, "Filters of an unknown detector", err, store.ErrNotFound)
}

func testSets(t *testing.T, s Store) {
	a := newDetector(t, s, "111122223333", "us-east-1")
	kinds := []store.SetKind{store.IPSet, store.ThreatIntelSet, store.ThreatEntitySet, store.TrustedEntitySet}
	for i, k := range kinds {
		for j := range 4 {
			set := &store.Set{DetectorID: a.ID, Kind: k, ID: fmt.Sprintf("%032x", j), Name: fmt.Sprintf("%s %d", k, j),
				Format: "TXT", Location: "s3://bucket/list.txt", Status: "ACTIVATING", Tags: map[string]string{"n": fmt.Sprint(i)},
				CreatedAt: epoch, UpdatedAt: epoch}
			if j == 1 {
				set.Format, set.ExpectedBucketOwner, set.Status, set.ErrorDetails = "STIX", "111122223333", "ERROR", "line 3: not an address"
			}
			must(t, "CreateSet", s.CreateSet(ctx(t), set))
			got, err := s.Set(ctx(t), a.ID, k, set.ID)
			must(t, "Set", err)
			if d := cmp.Diff(set, got); d != "" {
				t.Errorf("Set (-want +got):\n%s", d)
			}
		}
	}
	dup := &store.Set{DetectorID: a.ID, Kind: store.IPSet, ID: fmt.Sprintf("%032x", 0), Name: "again", Format: "TXT", Status: "ACTIVE"}
	wantErr(t, "CreateSet of a taken ID", s.CreateSet(ctx(t), dup), store.ErrExists)
	_, err := s.Set(ctx(t), a.ID, store.IPSet, "nope")
	wantErr(t, "Set of an unknown ID", err, store.ErrNotFound)

	up, err := s.Set(ctx(t), a.ID, store.ThreatIntelSet, fmt.Sprintf("%032x", 2))
	must(t, "Set", err)
	up.Status, up.Location, up.UpdatedAt = "ACTIVE", "https://s3.amazonaws.com/bucket/other.txt", epoch.Add(time.Minute)
	must(t, "UpdateSet", s.UpdateSet(ctx(t), up))
	got, err := s.Set(ctx(t), a.ID, store.ThreatIntelSet, up.ID)
	must(t, "Set", err)
	if d := cmp.Diff(up, got); d != "" {
		t.Errorf("updated set (-want +got):\n%s", d)
	}
	// The same ID of another kind is another set.
	other, err := s.Set(ctx(t), a.ID, store.IPSet, up.ID)
	must(t, "Set", err)
	if other.Status != "ACTIVATING" {
		t.Errorf("UpdateSet of a threat intel set changed the IP set of the same ID")
	}
	unknown := *up
	unknown.ID = "nope"
	wantErr(t, "UpdateSet of an unknown ID", s.UpdateSet(ctx(t), &unknown), store.ErrNotFound)

	must(t, "DeleteSet", s.DeleteSet(ctx(t), a.ID, store.TrustedEntitySet, fmt.Sprintf("%032x", 3)))
	wantErr(t, "DeleteSet again", s.DeleteSet(ctx(t), a.ID, store.TrustedEntitySet, fmt.Sprintf("%032x", 3)), store.ErrNotFound)
	for _, k := range kinds {
		var all []string
		cursor := ""
		for {
			ids, next, err := s.Sets(ctx(t), a.ID, k, store.Page{Cursor: cursor, Limit: 3})
			must(t, "Sets", err)
			all = append(all, ids...)
			if next == "" {
				break
			}
			cursor = next
		}
		want := []string{fmt.Sprintf("%032x", 0), fmt.Sprintf("%032x", 1), fmt.Sprintf("%032x", 2), fmt.Sprintf("%032x", 3)}
		if k == store.TrustedEntitySet {
			want = want[:3]
		}
		if d := cmp.Diff(want, all); d != "" {
			t.Errorf("Sets(%s) (-want +got):\n%s", k, d)
		}
	}
}

func testTags(t *testing.T, s Store) {
	a := newDetector(t, s, "111122223333", "us-east-1")
	must(t, "CreateFilter", s.CreateFilter(ctx(t), &store.Filter{DetectorID: a.ID, Name: "f", Action: "NOOP", Rank: 1,
		Criteria: store.Criteria{"type": {Equals: []string{"x"}}}}))
	must(t, "CreateSet", s.CreateSet(ctx(t), &store.Set{DetectorID: a.ID, Kind: store.ThreatIntelSet, ID: "t1", Name: "t", Format: "TXT", Status: "ACTIVE"}))
	base := "arn:aws:guardduty:us-east-1:111122223333:detector/" + a.ID
	for _, arn := range []string{base, base + "/filter/f", base + "/threatintelset/t1"} {
		before, err := s.Tags(ctx(t), arn)
		must(t, "Tags", err)
		must(t, "Tag", s.Tag(ctx(t), arn, map[string]string{"k1": "v1", "k2": "v2"}))
		must(t, "Tag", s.Tag(ctx(t), arn, map[string]string{"k2": "v2b", "k3": ""}))
		must(t, "Untag", s.Untag(ctx(t), arn, []string{"k1", "absent"}))
		want := map[string]string{"k2": "v2b", "k3": ""}
		for k, v := range before {
			want[k] = v
		}
		got, err := s.Tags(ctx(t), arn)
		must(t, "Tags", err)
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("Tags(%s) (-want +got):\n%s", arn, d)
		}
	}
	// The resources carry their tags.
	d, err := s.Detector(ctx(t), a.ID)
	must(t, "Detector", err)
	if d.Tags["k2"] != "v2b" || d.Tags["team"] != "sec" {
		t.Errorf("detector tags = %v", d.Tags)
	}
	f, err := s.Filter(ctx(t), a.ID, "f")
	must(t, "Filter", err)
	if f.Tags["k2"] != "v2b" {
		t.Errorf("filter tags = %v", f.Tags)
	}
	set, err := s.Set(ctx(t), a.ID, store.ThreatIntelSet, "t1")
	must(t, "Set", err)
	if set.Tags["k3"] != "" || len(set.Tags) != 2 {
		t.Errorf("set tags = %v", set.Tags)
	}
	for _, arn := range []string{
		"arn:aws:guardduty:us-east-1:111122223333:detector/0123456789abcdef0123456789abcdef",
		"arn:aws:guardduty:us-east-1:444455556666:detector/" + a.ID, // another account
		"arn:aws:guardduty:eu-west-1:111122223333:detector/" + a.ID, // another region
		base + "/filter/nope",
		base + "/ipset/t1",
		base + "/finding/abc",
		"not an arn",
	} {
		_, err := s.Tags(ctx(t), arn)
		wantErr(t, "Tags("+arn+")", err, store.ErrNotFound)
		wantErr(t, "Tag("+arn+")", s.Tag(ctx(t), arn, map[string]string{"k": "v"}), store.ErrNotFound)
	}
}

// testConcurrency commits overlapping findings from several goroutines
// while others read; run under the race detector. Every report's count
// must add up exactly once.
func testConcurrency(t *testing.T, s Store) {
	a := newDetector(t, s, "111122223333", "us-east-1")
	base := NewCorpus(a.ID, 13)
	pool := make([]*finding.Finding, 25)
	for i := range pool {
		pool[i] = base.Next()
	}
	const writers, commits, perCommit = 4, 12, 8
	var wg sync.WaitGroup
	errs := make(chan error, writers*commits+100)
	var total int64
	var mu sync.Mutex
	for w := range writers {
		c := NewCorpus(a.ID, uint64(100+w))
		var batches [][]*finding.Finding
		for range commits {
			var batch []*finding.Finding
			for range perCommit {
				r := c.Report(pool[c.rnd.IntN(len(pool))])
				batch = append(batch, r)
				total += r.Service.Count
			}
			batches = append(batches, batch)
		}
		wg.Go(func() {
			for i, batch := range batches {
				err := s.Commit(ctx(t), store.Batch{Findings: batch,
					Checkpoints: []store.Checkpoint{{Source: fmt.Sprintf("writer-%d", w), Position: []byte(fmt.Sprint(i))}}})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	done := make(chan struct{})
	var readers sync.WaitGroup
	for r := range 3 {
		readers.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				var err error
				switch r {
				case 0:
					_, _, err = s.ListFindings(ctx(t), a.ID, store.Query{Criteria: store.Criteria{"severity": {GreaterThan: i64(1)}},
						Sort: store.Sort{Attribute: "updatedAt", Desc: true}, Page: store.Page{Limit: 10}})
				case 1:
					_, err = s.Findings(ctx(t), a.ID, []string{pool[0].ID, pool[1].ID})
				default:
					_, err = s.Statistics(ctx(t), a.ID, store.StatsQuery{GroupBy: store.GroupType})
				}
				if err != nil {
					mu.Lock()
					errs <- err
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	close(done)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	ids := make([]string, len(pool))
	for i, f := range pool {
		ids[i] = f.ID
	}
	got, err := s.Findings(ctx(t), a.ID, ids)
	must(t, "Findings", err)
	var sum int64
	for _, f := range got {
		sum += f.Service.Count
	}
	if sum != total {
		t.Errorf("counts add up to %d after concurrent commits, want %d", sum, total)
	}
	cps, err := s.Checkpoints(ctx(t))
	must(t, "Checkpoints", err)
	if len(cps) != writers {
		t.Errorf("%d checkpoints, want %d", len(cps), writers)
	}
	for _, c := range cps {
		if string(c.Position) != fmt.Sprint(commits-1) {
			t.Errorf("checkpoint %s at %q, want %d", c.Source, c.Position, commits-1)
		}
	}
}
