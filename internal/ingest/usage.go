package ingest

import (
	"cmp"
	"slices"

	"picket/internal/event"
	"picket/internal/store"
)

// DefaultMaxUsageKeys bounds the usage table: one entry per network
// interface that sends flow records and per account and region that
// sends CloudTrail events. An estate with more interfaces than this has
// the rest counted under its account (an entry with no interface).
const DefaultMaxUsageKeys = 1 << 16

// Data source names, as GuardDuty's usage and coverage name them.
const (
	sourceFlowLogs   = "FLOW_LOGS"
	sourceCloudTrail = "CLOUD_TRAIL"
)

// usageKey is one row of the usage table. The IDs are interned, so the
// key is compared and hashed by pointer.
type usageKey struct {
	kind                   event.Kind
	account, region, iface event.ID
}

type usageCount struct {
	instance       event.ID
	records, bytes uint64
	first, last    event.Time
}

// usage counts what the loop read, by data source, account, region and
// interface. It is owned by the loop's goroutine.
type usage struct {
	m      map[usageKey]*usageCount
	max    int
	folded uint64      // records counted under their account because the table was full
	last   *usageCount // the row of the last record added
}

func newUsage(max int) *usage {
	if max <= 0 {
		max = DefaultMaxUsageKeys
	}
	return &usage{m: map[usageKey]*usageCount{}, max: max}
}

// add counts a record and the bytes of input read for it. It allocates
// only for a key not seen before.
func (u *usage) add(rec event.Record, bytes int64) {
	var k usageKey
	var instance event.ID
	switch r := rec.(type) {
	case *event.Flow:
		k = usageKey{kind: event.KindFlow, account: r.Account, region: r.Region, iface: r.Interface}
		instance = r.Instance
	case *event.APICall:
		k = usageKey{kind: event.KindAPICall, account: r.Account, region: r.Region}
	default:
		return
	}
	c := u.m[k]
	if c == nil {
		if len(u.m) >= u.max && !k.iface.IsZero() {
			u.folded++
			k.iface, instance = event.ID{}, event.ID{}
			c = u.m[k]
		}
		if c == nil {
			c = &usageCount{first: event.Forever, last: event.Never}
			u.m[k] = c
		}
	}
	u.last = c
	t := rec.Time()
	c.records++
	if bytes > 0 {
		c.bytes += uint64(bytes)
	}
	c.first = min(c.first, t)
	if t >= c.last {
		c.last = t
		if !instance.IsZero() {
			c.instance = instance
		}
	}
}

// addBytes counts bytes read after the last record added, such as the
// end of a CloudTrail document, with that record.
func (u *usage) addBytes(n int64) {
	if u.last != nil && n > 0 {
		u.last.bytes += uint64(n)
	}
}

// rows returns the table, ordered by data source, account, region and
// interface.
func (u *usage) rows() []store.Usage {
	out := make([]store.Usage, 0, len(u.m))
	for k, c := range u.m {
		src := sourceFlowLogs
		if k.kind == event.KindAPICall {
			src = sourceCloudTrail
		}
		out = append(out, store.Usage{
			Account: k.account.String(), Region: k.region.String(), Source: src,
			Resource: k.iface.String(), Instance: c.instance.String(),
			Records: c.records, Bytes: c.bytes, First: c.first.UTC(), Last: c.last.UTC(),
		})
	}
	slices.SortFunc(out, func(a, b store.Usage) int {
		return cmp.Or(cmp.Compare(a.Source, b.Source), cmp.Compare(a.Account, b.Account),
			cmp.Compare(a.Region, b.Region), cmp.Compare(a.Resource, b.Resource))
	})
	return out
}

// restore replaces the table with rows a commit saved.
func (u *usage) restore(rows []store.Usage) {
	clear(u.m)
	u.last = nil
	for _, r := range rows {
		k := usageKey{kind: event.KindFlow, account: event.Intern(r.Account), region: event.Intern(r.Region), iface: event.Intern(r.Resource)}
		if r.Source == sourceCloudTrail {
			k.kind = event.KindAPICall
		}
		u.m[k] = &usageCount{instance: event.Intern(r.Instance), records: r.Records, bytes: r.Bytes,
			first: event.TimeOf(r.First), last: event.TimeOf(r.Last)}
	}
}
