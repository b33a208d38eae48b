package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"picket/internal/finding"
	"picket/internal/store"
)

// paths are the fields the criteria and sort tests exercise: the ones a
// SQL store keeps in columns, list-crossing paths, additionalInfo keys,
// aliases, and fields no finding has.
var paths = []string{
	"id", "arn", "type", "severity", "confidence", "accountId", "region", "title",
	"createdAt", "updatedAt", "service.eventFirstSeen", "service.eventLastSeen", "service.count",
	"service.archived", "service.resourceRole", "service.action.actionType", "service.userFeedback",
	"resource.resourceType", "resource.instanceDetails.instanceId", "resource.instanceDetails.instanceType",
	"resource.accessKeyDetails.accessKeyId", "resource.accessKeyDetails.userName",
	"resource.instanceDetails.networkInterfaces.securityGroups.groupId",
	"resource.instanceDetails.networkInterfaces.subnetId",
	"resource.instanceDetails.tags.key", "resource.instanceDetails.tags.value",
	"service.action.networkConnectionAction.remoteIpDetails.ipAddressV4",
	"service.action.networkConnectionAction.remoteIpDetails.ipAddressV6",
	"service.action.networkConnectionAction.localPortDetails.port",
	"service.action.networkConnectionAction.blocked",
	"service.action.networkConnectionAction.connectionDirection",
	"service.action.portProbeAction.portProbeDetails.remoteIpDetails.ipAddressV4",
	"service.action.portProbeAction.portProbeDetails.localPortDetails.port",
	"service.action.awsApiCallAction.remoteIpDetails.ipAddressV4",
	"service.action.awsApiCallAction.remoteIpDetails.organization.asn",
	"service.action.dnsRequestAction.domain",
	"service.additionalInfo.threatListName", "service.additionalInfo.sample", "service.additionalInfo.detector",
	"service.evidence.threatIntelligenceDetails.threatListName",
	"service.localIpDetails.ipAddressV4", "resource.instanceDetails.outpostARN",
}

// criteriaFor makes conditions on a field from the values the corpus has
// there: each operator with present, absent and empty operands, numbers
// in and out of their canonical text, and bounds on both sides of every
// value.
func criteriaFor(field string, vals []string, rnd *rand.Rand) []store.Condition {
	some := func() string {
		if len(vals) == 0 {
			return "none"
		}
		return vals[rnd.IntN(len(vals))]
	}
	conds := []store.Condition{
		{Equals: []string{some()}},
		{Equals: []string{some(), some(), "absent"}},
		{Equals: []string{""}},
		{Equals: []string{"absent"}},
		{NotEquals: []string{some()}},
		{NotEquals: []string{some(), some()}},
		{NotEquals: []string{"", some()}},
		{Equals: []string{some(), some()}, NotEquals: []string{some()}},
		{Matches: []string{"*"}},
		{NotMatches: []string{"*"}},
	}
	if v := some(); len(v) > 1 {
		conds = append(conds,
			store.Condition{Matches: []string{v[:len(v)/2] + "*"}},
			store.Condition{Matches: []string{"?" + v[1:]}, NotMatches: []string{"*" + v[len(v)-1:]}},
			store.Condition{NotMatches: []string{v[:1] + "*", "x*"}},
		)
	}
	for _, v := range vals {
		n, ok := store.Number(field, v)
		if !ok {
			continue
		}
		b := int64(n)
		conds = append(conds,
			store.Condition{GreaterThan: i64(b)},
			store.Condition{GreaterThanOrEqual: i64(b)},
			store.Condition{LessThan: i64(b + 1)},
			store.Condition{LessThanOrEqual: i64(b - 1)},
			store.Condition{GreaterThan: i64(b - 1), LessThan: i64(b + 1)},
			store.Condition{Equals: []string{strconv.FormatInt(b, 10)}},
		)
		if len(conds) > 40 {
			break
		}
	}
	// Comparisons on fields that are not numbers.
	conds = append(conds, store.Condition{GreaterThan: i64(0)}, store.Condition{LessThan: i64(1 << 62)},
		store.Condition{GreaterThanOrEqual: i64(-1 << 62), LessThanOrEqual: i64(1 << 55)})
	return conds
}

// valuesAt collects, for each path, the distinct values the findings have.
func valuesAt(fs []*finding.Finding) map[string][]string {
	out := map[string][]string{}
	for _, f := range fs {
		for k, vs := range store.Values(f) {
			for _, v := range vs {
				if !slices.Contains(out[k], v) && len(out[k]) < 12 {
					out[k] = append(out[k], v)
				}
			}
		}
	}
	// The aliases name paths the findings spell otherwise.
	out["service.localIpDetails.ipAddressV4"] = out["service.action.networkConnectionAction.localIpDetails.ipAddressV4"]
	return out
}

// seedQueries fills a store with the corpus the query tests share and
// gives some findings the user's state.
func seedQueries(t *testing.T, s Store, n int) (*store.Detector, *model, *Corpus) {
	t.Helper()
	a := newDetector(t, s, "111122223333", "us-east-1")
	m := newModel()
	c := NewCorpus(a.ID, 10)
	fs := seed(t, s, m, c, n)
	var archived, useful []string
	for i, f := range fs {
		switch i % 7 {
		case 1, 4:
			archived = append(archived, f.ID)
			m.byID[f.ID].Service.Archived = true
		case 2:
			useful = append(useful, f.ID)
			m.byID[f.ID].Service.UserFeedback = "USEFUL"
		}
	}
	must(t, "SetArchived", s.SetArchived(ctx(t), a.ID, archived, true))
	must(t, "SetFeedback", s.SetFeedback(ctx(t), a.ID, useful, "USEFUL", ""))
	return a, m, c
}

func testCriteria(t *testing.T, s Store) {
	a, m, c := seedQueries(t, s, 100)
	// Text that spells values with JSON escapes, which a store that looks
	// for values in the stored JSON must not miss.
	odd := c.Next()
	odd.Service.AdditionalInfo = &finding.AdditionalInfo{Value: `{"threatListName":"\u0070rod","path":"a\/b","n":22}`, Type: "default"}
	tagged := c.Next()
	tagged.Resource.InstanceDetails = &finding.InstanceDetails{InstanceID: "i-1", Tags: []finding.Tag{{Key: `C:\dir`, Value: "prod"}, {Key: "x", Value: "a<b&c"}}}
	commit(t, s, m, nil, odd, tagged)
	vals := valuesAt(m.all())
	snap := m.snapshot()
	rnd := rand.New(rand.NewPCG(11, 0))
	var single []store.Criteria
	for _, p := range paths {
		conds := criteriaFor(p, vals[p], rnd)
		// A sample of each field's conditions keeps the suite quick; the
		// seed is fixed, so every run checks the same ones.
		rnd.Shuffle(len(conds), func(i, j int) { conds[i], conds[j] = conds[j], conds[i] })
		for _, cond := range conds[:min(len(conds), 6)] {
			single = append(single, store.Criteria{p: cond})
		}
	}
	check := func(c store.Criteria) {
		t.Helper()
		want := snap.list(c, store.Sort{})
		got := listAll(t, s, a.ID, c, store.Sort{}, 1000)
		if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("ListFindings(%s) differs from criteria.Match (-want +got):\n%s", describe(c), d)
		}
	}
	for _, c := range single {
		check(c)
	}
	// Conjunctions of two and three fields, mixing what a SQL store can
	// evaluate with what it cannot.
	for range 50 {
		c := store.Criteria{}
		for range 2 + rnd.IntN(2) {
			for k, v := range single[rnd.IntN(len(single))] {
				c[k] = v
			}
		}
		check(c)
	}
	// The cases the API documents.
	for _, c := range []store.Criteria{
		{"service.archived": {Equals: []string{"false"}}},
		{"service.archived": {Equals: []string{"true"}}},
		{"service.archived": {Equals: []string{"true", "false"}}},
		{"service.archived": {Equals: []string{"FALSE"}}},
		{"service.archived": {NotEquals: []string{"true"}}},
		{"type": {Equals: []string{finding.TypePortscan, finding.TypePortProbeUnprotectedPort}}, "severity": {GreaterThanOrEqual: i64(4)},
			"service.archived": {Equals: []string{"false"}}},
		{"severity": {GreaterThanOrEqual: i64(7)}},
		{"severity": {Equals: []string{"8.0"}}},
		{"severity": {Equals: []string{"8"}}},
		{"severity": {NotEquals: []string{"7.5", "2.0"}}},
		{"updatedAt": {GreaterThan: i64(epoch.UnixMilli() + 7*86400000)}},
		{"updatedAt": {GreaterThanOrEqual: i64(epoch.UnixMilli()), LessThan: i64(epoch.UnixMilli() + 3*86400000)}},
		{"updatedAt": {Equals: vals["updatedAt"][:1]}},
		{"service.count": {Equals: []string{"7", "07", "7.0"}}},
		{"resource.instanceDetails.networkInterfaces.securityGroups.groupId": {Equals: []string{"sg-2"}}},
		{"resource.instanceDetails.networkInterfaces.securityGroups.groupId": {NotEquals: []string{"sg-2"}}},
		{"service.additionalInfo.threatListName": {Equals: []string{"my-list", "tor"}}},
		{"service.additionalInfo.threatListName": {Equals: []string{"prod"}}},
		{"service.additionalInfo.path": {Equals: []string{"a/b"}}},
		{"resource.instanceDetails.tags.key": {Equals: []string{`C:\dir`}}},
		{"resource.instanceDetails.tags.value": {Equals: []string{"a<b&c"}}},
		{"service.action.networkConnectionAction.localPortDetails.port": {Equals: []string{"22"}}},
		{"service.action.networkConnectionAction.localPortDetails.port": {GreaterThan: i64(1024)}},
		{"service.userFeedback": {Equals: []string{"USEFUL"}}},
		{"type": {Matches: []string{"Recon:*"}, NotMatches: []string{"*Portscan"}}},
		{"resource.instanceDetails.instanceId": {NotEquals: []string{vals["resource.instanceDetails.instanceId"][0]}}},
		{"id": {Equals: vals["id"][:3]}},
	} {
		check(c)
	}
	_, _, err := s.ListFindings(ctx(t), "0123456789abcdef0123456789abcdef", store.Query{})
	wantErr(t, "ListFindings of an unknown detector", err, store.ErrNotFound)
}

// sorts are the orders the sort tests check.
var sorts = []string{
	"", "id", "severity", "updatedAt", "createdAt", "service.eventFirstSeen", "service.eventLastSeen", "service.count",
	"type", "accountId", "region", "service.archived", "resource.resourceType", "service.resourceRole", "service.action.actionType",
	"resource.instanceDetails.instanceId", "resource.accessKeyDetails.accessKeyId",
	"service.action.networkConnectionAction.remoteIpDetails.ipAddressV4",
	// Without a column in the SQL stores: sorted in Go.
	"title", "service.action.networkConnectionAction.localPortDetails.port", "resource.instanceDetails.tags.value",
	"service.localIpDetails.ipAddressV4", "service.additionalInfo.threatListName", "confidence",
}

func testSort(t *testing.T, s Store) {
	a, m, _ := seedQueries(t, s, 100)
	snap := m.snapshot()
	crits := []store.Criteria{
		nil,
		{"service.archived": {Equals: []string{"false"}}},
		{"severity": {GreaterThanOrEqual: i64(5)}, "resource.instanceDetails.tags.key": {Equals: []string{"env", "Name"}}},
	}
	for _, attr := range sorts {
		for _, desc := range []bool{false, true} {
			for i, c := range crits {
				if i > 0 && attr != "updatedAt" && attr != "severity" && attr != "title" && attr != "resource.instanceDetails.instanceId" {
					continue
				}
				so := store.Sort{Attribute: attr, Desc: desc}
				want := snap.list(c, so)
				limits := []int{7, 50}
				if slices.Index(sorts, attr) >= slices.Index(sorts, "title") {
					// A sort without a column reads every finding for
					// each page: fewer pages keep the suite quick.
					limits = []int{30}
				}
				for _, limit := range limits {
					got := listAll(t, s, a.ID, c, so, limit)
					if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
						t.Errorf("ListFindings(%s) sorted by %q desc=%v, pages of %d (-want +got):\n%s", describe(c), attr, desc, limit, d)
					}
				}
			}
		}
	}
}

func testPaginationUnderInserts(t *testing.T, s Store) {
	for _, so := range []store.Sort{{}, {Attribute: "updatedAt", Desc: true}, {Attribute: "severity"},
		{Attribute: "resource.instanceDetails.instanceId"}, {Attribute: "title", Desc: true}} {
		t.Run(so.Attribute, func(t *testing.T) {
			a := newDetector(t, s, fmt.Sprintf("%012d", len(so.Attribute)*10+btoi(so.Desc)), "us-east-1")
			m := newModel()
			c := NewCorpus(a.ID, 12)
			seed(t, s, m, c, 80)
			before := m.list(nil, so)
			var got []string
			cursor := ""
			for {
				ids, next, err := s.ListFindings(ctx(t), a.ID, store.Query{Sort: so, Page: store.Page{Cursor: cursor, Limit: 9}})
				must(t, "ListFindings", err)
				got = append(got, ids...)
				if next == "" {
					break
				}
				cursor = next
				// New findings arrive between pages, before and after the
				// cursor in the order.
				seed(t, s, m, c, 5)
			}
			seen := map[string]int{}
			for _, id := range got {
				seen[id]++
				if seen[id] > 1 {
					t.Errorf("%s listed twice", id)
				}
			}
			for _, id := range before {
				if seen[id] == 0 {
					t.Errorf("%s, stored before the first page, was skipped", id)
				}
			}
			// What was listed is in order.
			after := m.list(nil, so)
			pos := map[string]int{}
			for i, id := range after {
				pos[id] = i
			}
			for i := 1; i < len(got); i++ {
				if pos[got[i-1]] > pos[got[i]] {
					t.Errorf("%s listed before %s, out of order", got[i-1], got[i])
				}
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func testCursor(t *testing.T, s Store) {
	a, _, _ := seedQueries(t, s, 30)
	_, next, err := s.ListFindings(ctx(t), a.ID, store.Query{Sort: store.Sort{Attribute: "severity"}, Page: store.Page{Limit: 5}})
	must(t, "ListFindings", err)
	if next == "" {
		t.Fatal("no cursor after the first of several pages")
	}
	for _, q := range []store.Query{
		{Page: store.Page{Cursor: "not a cursor", Limit: 5}},
		{Sort: store.Sort{Attribute: "updatedAt"}, Page: store.Page{Cursor: next, Limit: 5}},
		{Sort: store.Sort{Attribute: "severity", Desc: true}, Page: store.Page{Cursor: next, Limit: 5}},
	} {
		if _, _, err := s.ListFindings(ctx(t), a.ID, q); err == nil {
			t.Errorf("ListFindings(%+v) accepted a cursor of another listing", q)
		}
	}
	// Without a limit, a page holds the default 50.
	ids, _, err := s.ListFindings(ctx(t), a.ID, store.Query{})
	must(t, "ListFindings", err)
	if len(ids) != 30 {
		t.Errorf("ListFindings without a limit = %d IDs, want 30", len(ids))
	}
}

func testStatistics(t *testing.T, s Store) {
	a, m, _ := seedQueries(t, s, 120)
	crits := []store.Criteria{
		nil,
		{"service.archived": {Equals: []string{"false"}}},
		{"severity": {GreaterThan: i64(4)}, "type": {NotEquals: []string{finding.TypePortscan}}},
		{"resource.instanceDetails.tags.value": {Equals: []string{"prod"}}},
	}
	for _, c := range crits {
		for _, g := range []store.GroupBy{"", store.GroupAccount, store.GroupDate, store.GroupType, store.GroupResource, store.GroupSeverity} {
			for _, q := range []store.StatsQuery{{Criteria: c, GroupBy: g}, {Criteria: c, GroupBy: g, Desc: true, Limit: 3}} {
				want := m.stats(q)
				got, err := s.Statistics(ctx(t), a.ID, q)
				must(t, "Statistics", err)
				if d := cmp.Diff(want, got); d != "" {
					t.Errorf("Statistics(%s, %s, desc=%v, limit=%d) (-want +got):\n%s", describe(c), g, q.Desc, q.Limit, d)
				}
			}
		}
	}
	_, err := s.Statistics(ctx(t), "0123456789abcdef0123456789abcdef", store.StatsQuery{})
	wantErr(t, "Statistics of an unknown detector", err, store.ErrNotFound)
}

func testArchive(t *testing.T, s Store) {
	a, m, _ := seedQueries(t, s, 40)
	fs := m.all()
	ids := []string{fs[0].ID, fs[3].ID, "00000000000000000000000000000000", fs[3].ID}
	must(t, "SetArchived", s.SetArchived(ctx(t), a.ID, ids, true))
	m.byID[fs[0].ID].Service.Archived = true
	m.byID[fs[3].ID].Service.Archived = true
	checkFindings(t, s, m, a.ID)
	must(t, "SetArchived", s.SetArchived(ctx(t), a.ID, ids[1:2], false))
	m.byID[fs[3].ID].Service.Archived = false
	checkFindings(t, s, m, a.ID)
	for _, v := range []string{"true", "false"} {
		c := store.Criteria{"service.archived": {Equals: []string{v}}}
		if d := cmp.Diff(m.list(c, store.Sort{}), listAll(t, s, a.ID, c, store.Sort{}, 50)); d != "" {
			t.Errorf("archived=%s (-want +got):\n%s", v, d)
		}
	}
	wantErr(t, "SetArchived of an unknown detector", s.SetArchived(ctx(t), "0123456789abcdef0123456789abcdef", ids, true), store.ErrNotFound)
}

func testFeedback(t *testing.T, s Store) {
	a, m, c := seedQueries(t, s, 20)
	fs := m.all()
	must(t, "SetFeedback", s.SetFeedback(ctx(t), a.ID, []string{fs[0].ID, fs[1].ID, "00000000000000000000000000000000"}, "NOT_USEFUL", "noise"))
	m.byID[fs[0].ID].Service.UserFeedback = "NOT_USEFUL"
	m.byID[fs[1].ID].Service.UserFeedback = "NOT_USEFUL"
	checkFindings(t, s, m, a.ID)
	// A later report keeps the feedback.
	commit(t, s, m, nil, c.Report(fs[0]))
	checkFindings(t, s, m, a.ID)
	c2 := store.Criteria{"service.userFeedback": {Equals: []string{"NOT_USEFUL"}}}
	if d := cmp.Diff(m.list(c2, store.Sort{}), listAll(t, s, a.ID, c2, store.Sort{}, 50)); d != "" {
		t.Errorf("by feedback (-want +got):\n%s", d)
	}
}

func testArchiveMatching(t *testing.T, s Store) {
	a, m, _ := seedQueries(t, s, 120)
	for _, c := range []store.Criteria{
		{"severity": {LessThan: i64(3)}},
		{"resource.instanceDetails.tags.value": {Matches: []string{"pro*"}}, "type": {NotEquals: []string{finding.TypePortSweep}}},
		{"service.archived": {Equals: []string{"true"}}},
	} {
		want := 0
		for _, f := range m.all() {
			if !f.Service.Archived && c.Match(f) {
				f.Service.Archived = true
				want++
			}
		}
		n, err := s.ArchiveMatching(ctx(t), a.ID, c)
		must(t, "ArchiveMatching", err)
		if n != want {
			t.Errorf("ArchiveMatching(%s) = %d, want %d", describe(c), n, want)
		}
		checkFindings(t, s, m, a.ID)
	}
	_, err := s.ArchiveMatching(ctx(t), "0123456789abcdef0123456789abcdef", nil)
	wantErr(t, "ArchiveMatching of an unknown detector", err, store.ErrNotFound)
}
