package storetest

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"picket/internal/finding"
	"picket/internal/store"
)

// model is the suite's reference store of findings: finding.Merge applied
// the way the contract says a commit applies it, and the user's changes.
type model struct {
	byID map[string]*finding.Finding
}

func newModel() *model { return &model{byID: map[string]*finding.Finding{}} }

// clone copies a finding through its JSON, as a store keeps it.
func clone(f *finding.Finding) *finding.Finding {
	b, err := json.Marshal(f)
	if err != nil {
		panic(err)
	}
	var c finding.Finding
	if err := json.Unmarshal(b, &c); err != nil {
		panic(err)
	}
	return &c
}

// commit applies reports in order: a new ID is stored as reported (and
// archived if a suppression rule matches it once the batch is applied),
// a known one merged into.
func (m *model) commit(reports []*finding.Finding, rules []store.Criteria) {
	created := map[string]bool{}
	var order []string
	for _, r := range reports {
		if cur, ok := m.byID[r.ID]; ok {
			finding.Merge(cur, clone(r))
			continue
		}
		m.byID[r.ID] = clone(r)
		created[r.ID] = true
		order = append(order, r.ID)
	}
	for _, id := range order {
		f := m.byID[id]
		if f.Service.Archived {
			continue
		}
		for _, c := range rules {
			if c.Match(f) {
				f.Service.Archived = true
				break
			}
		}
	}
}

func (m *model) all() []*finding.Finding {
	out := make([]*finding.Finding, 0, len(m.byID))
	for _, id := range slices.Sorted(func(yield func(string) bool) {
		for id := range m.byID {
			if !yield(id) {
				return
			}
		}
	}) {
		out = append(out, m.byID[id])
	}
	return out
}

// compareRef orders findings as the contract says: store.Sort.Less on
// their values, ties by ID in the sort's direction; no attribute means
// by ID.
func compareRef(s store.Sort, a, b string, va, vb map[string][]string) int {
	if s.Attribute != "" {
		switch {
		case s.Less(va, vb):
			return -1
		case s.Less(vb, va):
			return 1
		}
	}
	c := strings.Compare(a, b)
	if s.Desc {
		c = -c
	}
	return c
}

// list is the reference ListFindings over every page.
func (m *model) list(c store.Criteria, s store.Sort) []string {
	return m.snapshot().list(c, s)
}

// snapshot is the model's findings with their values, for many queries
// over findings that do not change.
type snapshot []item

type item struct {
	id string
	v  map[string][]string
}

func (m *model) snapshot() snapshot {
	var out snapshot
	for _, f := range m.all() {
		out = append(out, item{f.ID, store.Values(f)})
	}
	return out
}

func (sn snapshot) list(c store.Criteria, s store.Sort) []string {
	var items []item
	for _, it := range sn {
		if c.MatchValues(it.v) {
			items = append(items, it)
		}
	}
	slices.SortStableFunc(items, func(a, b item) int { return compareRef(s, a.id, b.id, a.v, b.v) })
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.id
	}
	return ids
}

// resourceID is the resource statistics group a finding under, spelled
// out again as the reference: the instance, else the first interface,
// else the first private address, else the access key, else the ECS
// cluster (ARN, then name), else the container, else "".
func resourceID(f *finding.Finding) string {
	r := f.Resource
	if d := r.InstanceDetails; d != nil {
		if d.InstanceID != "" {
			return d.InstanceID
		}
		for _, ni := range d.NetworkInterfaces {
			if ni.NetworkInterfaceID != "" {
				return ni.NetworkInterfaceID
			}
		}
		for _, ni := range d.NetworkInterfaces {
			if ni.PrivateIPAddress != "" {
				return ni.PrivateIPAddress
			}
			if len(ni.Ipv6Addresses) > 0 {
				return ni.Ipv6Addresses[0]
			}
		}
	}
	switch {
	case r.AccessKeyDetails != nil && r.AccessKeyDetails.AccessKeyID != "":
		return r.AccessKeyDetails.AccessKeyID
	case r.EcsClusterDetails != nil && r.EcsClusterDetails.Arn != "":
		return r.EcsClusterDetails.Arn
	case r.EcsClusterDetails != nil && r.EcsClusterDetails.Name != "":
		return r.EcsClusterDetails.Name
	case r.ContainerDetails != nil:
		return r.ContainerDetails.ID
	}
	return ""
}

func severityText(s finding.Severity) string {
	b, _ := s.MarshalJSON()
	return string(b)
}

// stats is the reference Statistics.
func (m *model) stats(q store.StatsQuery) store.Stats {
	type key struct{ k, rt, acct string }
	groups := map[key]*store.Group{}
	bySev := map[string]int{}
	for _, f := range m.all() {
		if !q.Criteria.Match(f) {
			continue
		}
		bySev[severityText(f.Severity)]++
		var k key
		switch q.GroupBy {
		case store.GroupAccount:
			k = key{k: f.AccountID}
		case store.GroupDate:
			k = key{k: f.UpdatedAt.UTC().Format(time.DateOnly)}
		case store.GroupType:
			k = key{k: f.Type}
		case store.GroupResource:
			k = key{k: resourceID(f), rt: f.Resource.ResourceType, acct: f.AccountID}
		default:
			k = key{k: severityText(f.Severity)}
		}
		g := groups[k]
		if g == nil {
			g = &store.Group{Key: k.k, ResourceType: k.rt, AccountID: k.acct}
			groups[k] = g
		}
		g.Total++
		g.Severity = max(g.Severity, float64(f.Severity))
		if t := f.UpdatedAt.Truncate(time.Millisecond).UTC(); t.After(g.LastGeneratedAt) {
			g.LastGeneratedAt = t
		}
	}
	if q.GroupBy == "" {
		return store.Stats{BySeverity: bySev}
	}
	var out []store.Group
	for _, g := range groups {
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b store.Group) int {
		if c := cmp.Compare(a.Total, b.Total); c != 0 {
			if q.Desc {
				return -c
			}
			return c
		}
		return cmp.Or(strings.Compare(a.Key, b.Key), strings.Compare(a.ResourceType, b.ResourceType), strings.Compare(a.AccountID, b.AccountID))
	})
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return store.Stats{Groups: out}
}
