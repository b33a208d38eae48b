package finding

import (
	"cmp"
	"slices"
	"sort"
	"strconv"
	"time"
)

// MaxPortProbeDetails bounds the portProbeDetails a finding keeps: the
// most recent distinct (local address, port, remote address) entries.
const MaxPortProbeDetails = 100

// New returns a finding of the named type for key k, with the catalogue's
// resource type, action type, feature and default severity filled in, the
// ID and ARN derived from k, and the activity window [first, last] seen
// count times. CreatedAt and UpdatedAt are set to last: picket stamps
// findings with event time so that a replay of old logs reproduces them
// exactly. New panics if the type is not in the catalogue, a programming
// error that tests catch.
func New(typeName string, k Key, detectorID string, first, last time.Time, count int64) *Finding {
	t, ok := Lookup(typeName)
	if !ok {
		panic("finding: unknown type " + typeName)
	}
	k.Type = typeName
	id := k.ID()
	partition := Partition(k.Region)
	role := k.Role
	if role == "" {
		role = RoleTarget
	}
	return &Finding{
		SchemaVersion: SchemaVersion,
		AccountID:     k.Account,
		Region:        k.Region,
		Partition:     partition,
		ID:            id,
		Arn:           ARN(partition, k.Region, k.Account, detectorID, id),
		Type:          typeName,
		Resource:      Resource{ResourceType: t.ResourceType},
		Service: Service{
			Action:         Action{ActionType: t.ActionType},
			Count:          count,
			DetectorID:     detectorID,
			EventFirstSeen: Timestamp{first.UTC()},
			EventLastSeen:  Timestamp{last.UTC()},
			ResourceRole:   role,
			ServiceName:    "guardduty",
			FeatureName:    t.Feature,
		},
		Severity:  t.Severity,
		CreatedAt: Timestamp{last.UTC()},
		UpdatedAt: Timestamp{last.UTC()},
	}
}

// Merge folds src, a later report of the same finding (same ID), into dst,
// the way GuardDuty aggregates: the count adds up, the activity window
// widens, updatedAt moves forward, severity keeps its highest value, and
// the details (action, title, description, explanation) take the latest
// report's values, except that port probe details, threat intelligence
// and the activity of an API-call explanation accumulate (see
// mergeExplanations). The archived flag and user feedback of dst are
// kept. createdAt takes the earlier and updatedAt the later of the two,
// and the latest report is chosen by content when two end at the same
// time, so that the result does not depend on the order reports are
// merged in.
func Merge(dst, src *Finding) {
	newer := laterReport(dst, src)
	oldInfo := dst.Service.AdditionalInfo
	dst.Service.Count += src.Service.Count
	if src.Service.EventFirstSeen.Before(dst.Service.EventFirstSeen.Time) {
		dst.Service.EventFirstSeen = src.Service.EventFirstSeen
	}
	if src.Service.EventLastSeen.After(dst.Service.EventLastSeen.Time) {
		dst.Service.EventLastSeen = src.Service.EventLastSeen
	}
	if src.UpdatedAt.After(dst.UpdatedAt.Time) {
		dst.UpdatedAt = src.UpdatedAt
	}
	if src.CreatedAt.Before(dst.CreatedAt.Time) {
		dst.CreatedAt = src.CreatedAt
	}
	dst.Severity = max(dst.Severity, src.Severity)
	if a := src.AssociatedAttackSequenceArn; a != "" && (dst.AssociatedAttackSequenceArn == "" || a < dst.AssociatedAttackSequenceArn) {
		// A finding, once part of an attack sequence, stays linked to it
		// (to the first by ARN if to several, whatever the order).
		dst.AssociatedAttackSequenceArn = a
	}
	dst.Service.Evidence = mergeEvidence(dst.Service.Evidence, src.Service.Evidence)

	oldProbe := dst.Service.Action.PortProbeAction
	if newer {
		dst.Title = src.Title
		dst.Description = src.Description
		dst.Service.Action = src.Service.Action
		if src.Service.Detection != nil {
			dst.Service.Detection = src.Service.Detection
		}
		mergeResource(&dst.Resource, &src.Resource)
	}
	if newProbe := src.Service.Action.PortProbeAction; oldProbe != nil && newProbe != nil {
		dst.Service.Action.PortProbeAction = mergeProbes(oldProbe, newProbe, newer)
	}
	dst.Service.AdditionalInfo = mergeInfo(dst, oldInfo, src.Service.AdditionalInfo, newer)
}

// laterReport reports whether src is the later of two reports of a
// finding, whose details the merged finding shows: the one whose activity
// ends later or, when both end at the same time, the one that sorts last
// by description, title, explanation lead and API, so that the choice
// does not depend on which arrived first.
func laterReport(dst, src *Finding) bool {
	if a, b := src.Service.EventLastSeen, dst.Service.EventLastSeen; !a.Equal(b.Time) {
		return a.After(b.Time)
	}
	if c := cmp.Compare(src.Description, dst.Description); c != 0 {
		return c > 0
	}
	if c := cmp.Compare(src.Title, dst.Title); c != 0 {
		return c > 0
	}
	if c := cmp.Compare(lead(src), lead(dst)); c != 0 {
		return c > 0
	}
	return cmp.Compare(apiName(src), apiName(dst)) >= 0
}

func lead(f *Finding) string {
	if ai := f.Service.AdditionalInfo; ai != nil && ai.Explanation != nil {
		return ai.Explanation.Lead
	}
	return ""
}

func apiName(f *Finding) string {
	if a := f.Service.Action.AwsAPICallAction; a != nil {
		return a.ServiceName + ":" + a.API
	}
	return ""
}

// mergeInfo returns the additionalInfo of f merged from old, f's before
// the merge, and cur, a report's; curIsNewer says whether the report is
// the later one. The later report's explanation is kept, as GuardDuty
// keeps the latest details, but when both explanations account for API
// calls (Activity set) their activity, lists and samples add up, and the
// summary is written again from the sums. Whenever the explanation kept
// has activity, its calls and times are set to f's count, first and last
// seen, which the merge has already summed, so that what it says agrees
// with them. Neither old nor cur is changed.
func mergeInfo(f *Finding, old, cur *AdditionalInfo, curIsNewer bool) *AdditionalInfo {
	latest, earlier := cur, old
	if !curIsNewer || cur == nil {
		latest, earlier = old, cur
		if latest == nil {
			latest, earlier = cur, nil
		}
	}
	if latest == nil || latest.Explanation == nil || latest.Explanation.Activity.Calls == 0 {
		return latest
	}
	e := *latest.Explanation
	if earlier != nil && earlier.Explanation != nil && earlier.Explanation.Activity.Calls != 0 {
		mergeExplanations(&e, earlier.Explanation)
	}
	e.Activity.Calls = f.Service.Count
	e.Activity.FirstSeen = f.Service.EventFirstSeen
	e.Activity.LastSeen = f.Service.EventLastSeen
	var listed int64
	for _, c := range e.APICalls {
		listed += c.Count
	}
	e.Activity.Unlisted = max(e.Activity.Calls-listed, 0)
	e.Render()
	out := *latest
	out.Explanation = &e
	return &out
}

// mergeExplanations adds the activity of other, the explanation of the
// earlier report, to e, a copy of the later one's: the failed calls add
// up, each list of names with counts is the union of both with the counts
// summed, the most frequent MaxListed kept, and the samples are the
// earliest of both. Sums and unions do not depend on the order of
// merging. It makes new slices rather than writing into e's, which it
// shares with the later report.
func mergeExplanations(e, other *Explanation) {
	e.Activity.Failed += other.Activity.Failed
	e.APICalls = mergeCounts(e.APICalls, other.APICalls)
	e.ErrorCodes = mergeCounts(e.ErrorCodes, other.ErrorCodes)
	e.Regions = mergeCounts(e.Regions, other.Regions)
	e.UserAgents = mergeCounts(e.UserAgents, other.UserAgents)
	e.Sources = mergeCounts(e.Sources, other.Sources)
	e.Samples = mergeSamples(e.Samples, other.Samples)
}

// mergeCounts returns the union of a and b with the counts of a name
// summed, most frequent first, then by name, at most MaxListed.
func mergeCounts(a, b []Count) []Count {
	if len(a) == 0 && len(b) == 0 {
		return nil
	}
	sums := make(map[string]int64, len(a)+len(b))
	for _, list := range [][]Count{a, b} {
		for _, c := range list {
			sums[c.Name] += c.Count
		}
	}
	out := make([]Count, 0, len(sums))
	for name, n := range sums {
		out = append(out, Count{Name: name, Count: n})
	}
	slices.SortFunc(out, func(x, y Count) int {
		if c := cmp.Compare(y.Count, x.Count); c != 0 {
			return c
		}
		return cmp.Compare(x.Name, y.Name)
	})
	return out[:min(len(out), MaxListed)]
}

// mergeSamples returns the earliest MaxSamples distinct samples of a and
// b, in order of time, then origin and record. Detectors keep the
// earliest samples of a report (see trail.Pending), so a finding merged
// from several reports shows the samples one report of all its calls
// would.
func mergeSamples(a, b []Sample) []Sample {
	out := make([]Sample, 0, len(a)+len(b))
	out = append(append(out, a...), b...)
	slices.SortFunc(out, func(x, y Sample) int {
		if c := cmp.Compare(x.Time, y.Time); c != 0 {
			return c
		}
		if c := cmp.Compare(x.Origin, y.Origin); c != 0 {
			return c
		}
		return cmp.Compare(x.Record, y.Record)
	})
	out = slices.Compact(out)
	if len(out) == 0 {
		return nil
	}
	return out[:min(len(out), MaxSamples)]
}

// mergeResource takes src's resource details, keeping what dst knew that
// src does not (a later report may come from a record with fewer fields).
func mergeResource(dst, src *Resource) {
	if src.InstanceDetails != nil {
		if dst.InstanceDetails == nil || len(src.InstanceDetails.NetworkInterfaces) > 0 || src.InstanceDetails.InstanceType != "" {
			dst.InstanceDetails = src.InstanceDetails
		}
	}
	if src.AccessKeyDetails != nil {
		dst.AccessKeyDetails = src.AccessKeyDetails
	}
	if src.EcsClusterDetails != nil {
		dst.EcsClusterDetails = src.EcsClusterDetails
	}
	if src.ContainerDetails != nil {
		dst.ContainerDetails = src.ContainerDetails
	}
	if src.S3BucketDetails != nil {
		dst.S3BucketDetails = src.S3BucketDetails
	}
}

func probeKey(d PortProbeDetail) [3]string {
	var k [3]string
	if d.LocalIPDetails != nil {
		k[0] = d.LocalIPDetails.IPAddressV4 + d.LocalIPDetails.IPAddressV6
	}
	if d.LocalPortDetails != nil {
		k[1] = strconv.Itoa(d.LocalPortDetails.Port)
	}
	if d.RemoteIPDetails != nil {
		k[2] = d.RemoteIPDetails.IPAddressV4 + d.RemoteIPDetails.IPAddressV6
	}
	return k
}

// mergeProbes unions two lists of probe details, the later report's
// entries last, keeping the most recent MaxPortProbeDetails. blocked is
// true only if every probe was blocked.
func mergeProbes(old, cur *PortProbeAction, curIsNewer bool) *PortProbeAction {
	first, second := old, cur
	if !curIsNewer {
		first, second = cur, old
	}
	out := &PortProbeAction{Blocked: old.Blocked && cur.Blocked}
	pos := make(map[[3]string]int, len(first.PortProbeDetails)+len(second.PortProbeDetails))
	add := func(d PortProbeDetail) {
		k := probeKey(d)
		if i, ok := pos[k]; ok {
			// Move to the end: it was seen again most recently.
			out.PortProbeDetails = append(out.PortProbeDetails[:i], out.PortProbeDetails[i+1:]...)
			for kk, j := range pos {
				if j > i {
					pos[kk] = j - 1
				}
			}
		}
		pos[k] = len(out.PortProbeDetails)
		out.PortProbeDetails = append(out.PortProbeDetails, d)
	}
	for _, d := range first.PortProbeDetails {
		add(d)
	}
	for _, d := range second.PortProbeDetails {
		add(d)
	}
	if n := len(out.PortProbeDetails); n > MaxPortProbeDetails {
		out.PortProbeDetails = out.PortProbeDetails[n-MaxPortProbeDetails:]
	}
	return out
}

func mergeEvidence(a, b *Evidence) *Evidence {
	if b == nil {
		return a
	}
	if a == nil {
		return b
	}
	out := &Evidence{}
	idx := map[string]int{}
	for _, list := range [][]ThreatIntelligenceDetail{a.ThreatIntelligenceDetails, b.ThreatIntelligenceDetails} {
		for _, d := range list {
			i, ok := idx[d.ThreatListName]
			if !ok {
				idx[d.ThreatListName] = len(out.ThreatIntelligenceDetails)
				d.ThreatNames = append([]string(nil), d.ThreatNames...)
				out.ThreatIntelligenceDetails = append(out.ThreatIntelligenceDetails, d)
				continue
			}
			cur := &out.ThreatIntelligenceDetails[i]
			cur.ThreatNames = unionSorted(cur.ThreatNames, d.ThreatNames)
			if d.ThreatFileSha256 != "" {
				cur.ThreatFileSha256 = d.ThreatFileSha256
			}
		}
	}
	return out
}

func unionSorted(a, b []string) []string {
	seen := make(map[string]bool, len(a)+len(b))
	out := make([]string, 0, len(a)+len(b))
	for _, s := range append(append([]string(nil), a...), b...) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// Set is an in-memory collection of findings that merges reports of the
// same finding as they arrive. It backs `picket analyze`; the service
// keeps findings in a store instead.
type Set struct {
	byID map[string]*Finding
}

// NewSet returns an empty set.
func NewSet() *Set { return &Set{byID: make(map[string]*Finding)} }

// Add merges f into the set and returns the stored finding, and whether it
// was new. The set keeps f itself for a new finding.
func (s *Set) Add(f *Finding) (*Finding, bool) {
	if cur, ok := s.byID[f.ID]; ok {
		Merge(cur, f)
		return cur, false
	}
	s.byID[f.ID] = f
	return f, true
}

// Len returns the number of distinct findings.
func (s *Set) Len() int { return len(s.byID) }

// Get returns the finding with the given ID.
func (s *Set) Get(id string) (*Finding, bool) {
	f, ok := s.byID[id]
	return f, ok
}

// Sorted returns the findings from most to least severe, then by first
// activity, type and ID, an order that is the same in every run.
func (s *Set) Sorted() []*Finding {
	out := make([]*Finding, 0, len(s.byID))
	for _, f := range s.byID {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		if !a.Service.EventFirstSeen.Equal(b.Service.EventFirstSeen.Time) {
			return a.Service.EventFirstSeen.Before(b.Service.EventFirstSeen.Time)
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		return a.ID < b.ID
	})
	return out
}
