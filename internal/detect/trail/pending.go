package trail

import (
	"cmp"
	"maps"
	"slices"

	"picket/internal/detect"
	"picket/internal/event"
	"picket/internal/finding"
)

// Key identifies one finding of a detector: its type, its principal and,
// when the detector keeps several findings of one type about a principal
// apart, an actor discriminator.
type Key struct {
	Type      string
	Principal Principal
	Actor     string
}

func compareKeys(a, b Key) int {
	if c := cmp.Compare(a.Type, b.Type); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Principal.Account.String(), b.Principal.Account.String()); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Principal.ARN.String(), b.Principal.ARN.String()); c != 0 {
		return c
	}
	return cmp.Compare(a.Actor, b.Actor)
}

// Item is what a detector has noted about one finding since its last
// report. Fields are exported for saving state.
type Item struct {
	Evidence Evidence
	// Latest is the latest call (by event time, then input position), a
	// clone the item owns.
	Latest   *event.APICall
	Severity finding.Severity // the highest asked for
	Affected map[string]string
	// Vars and Notes are the detector's own: template variables and
	// explanation counts, taken from the latest call's notes.
	Vars  map[string]string
	Notes map[string]int64
	// Threat is the threat-list evidence, accumulated by list name.
	Threat []finding.ThreatIntelligenceDetail
}

// Pending collects the calls of the findings that detectors report at the
// next watermark: the matched calls of each finding since its last
// report. It holds at most a bounded number of findings between two
// watermarks; the calls of findings beyond it are counted as lost (their
// finding is reported at the next watermark that has room). Fields are
// exported for saving state.
type Pending struct {
	Items map[Key]*Item
	Max   int
	Lost  uint64
}

// NewPending returns a Pending that holds up to max findings between
// watermarks.
func NewPending(max int) *Pending {
	return &Pending{Items: map[Key]*Item{}, Max: max}
}

// Note adds a call to the finding k and returns its item, or nil when the
// table is full (the call is counted as lost).
func (p *Pending) Note(k Key, c *event.APICall) *Item {
	it := p.Items[k]
	if it == nil {
		if len(p.Items) >= p.Max {
			p.Lost++
			return nil
		}
		it = &Item{}
		p.Items[k] = it
	}
	it.Evidence.addSorted(c)
	if it.Latest == nil || later(c, it.Latest) {
		it.Latest = c.Clone()
	}
	return it
}

// later reports whether a comes after b: by event time, then by input
// position, so that the latest call does not depend on arrival order.
func later(a, b *event.APICall) bool {
	if a.EventTime != b.EventTime {
		return a.EventTime > b.EventTime
	}
	if c := cmp.Compare(a.Origin.File.String(), b.Origin.File.String()); c != 0 {
		return c > 0
	}
	return a.Origin.Line > b.Origin.Line
}

// addSorted is Add, keeping the earliest samples by event time and input
// position rather than the first to arrive.
func (e *Evidence) addSorted(c *event.APICall) {
	samples := e.Samples
	e.Samples = nil
	e.Add(c)
	s := e.Samples[0]
	e.Samples = samples
	i, _ := slices.BinarySearchFunc(e.Samples, s, compareSamples)
	if i < MaxSamples {
		e.Samples = slices.Insert(e.Samples, i, s)
		if len(e.Samples) > MaxSamples {
			e.Samples = e.Samples[:MaxSamples]
		}
	}
}

func compareSamples(a, b finding.Sample) int {
	if c := cmp.Compare(a.Time, b.Time); c != 0 {
		return c
	}
	return cmp.Compare(a.Origin, b.Origin)
}

// Len returns the number of findings waiting.
func (p *Pending) Len() int { return len(p.Items) }

// Flush calls report with every waiting finding, in key order, and
// forgets them.
func (p *Pending) Flush(report func(Key, *Item)) {
	if len(p.Items) == 0 {
		return
	}
	keys := slices.SortedFunc(maps.Keys(p.Items), compareKeys)
	for _, k := range keys {
		report(k, p.Items[k])
		delete(p.Items, k)
	}
}

// Stats returns the table's statistics.
func (p *Pending) Stats(table string) detect.StateStats {
	return detect.StateStats{Table: table, Len: len(p.Items), Cap: p.Max, Evicted: p.Lost}
}

// Report returns the report of an item: the finding's type, principal and
// actor from the key, the activity and evidence from the item.
func (it *Item) Report(detector string, k Key, exp *finding.Explanation) *Report {
	if exp == nil {
		exp = &finding.Explanation{}
	}
	exp.Detector = detector
	it.Evidence.Explain(exp)
	for n, v := range it.Notes {
		exp.Counts[n] = v
	}
	return &Report{
		Type: k.Type, Detector: detector, Principal: k.Principal, Actor: k.Actor,
		Call: it.Latest, First: it.Evidence.First, Last: it.Evidence.Last, Count: it.Evidence.Calls,
		Severity: it.Severity, Affected: it.Affected, Vars: it.Vars, Explanation: exp,
	}
}

// Restored returns p, decoded from a saved state, ready for use with
// room for max findings: a new Pending when none was saved, and a table
// of items when the saved one held none.
func (p *Pending) Restored(max int) *Pending {
	if p == nil {
		return NewPending(max)
	}
	if p.Items == nil {
		p.Items = map[Key]*Item{}
	}
	p.Max = max
	return p
}
