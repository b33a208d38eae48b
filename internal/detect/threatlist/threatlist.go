// Package threatlist owns the UnauthorizedAccess:EC2/MaliciousIPCaller.Custom
// detector: traffic between an interface of the estate and an address on
// one of the user's threat lists, in either direction, accepted or
// rejected.
//
// It sees contacts from the contact stage, which has joined both
// directions of each conversation and knows who initiated it and how it
// went; that gives the finding its direction (INBOUND, the listed host
// came to us; OUTBOUND, our instance went to it) and tells a blocked
// attempt from an exchange. Each (interface, listed address, direction)
// is one finding that counts the contacts, names the list, the threats it
// gives and the list file's hash in service.evidence, and is Medium;
// inbound attempts that reached no service (rejected by a security group
// or ACL, unanswered, refused) are evidence too, at Low. A trusted list
// wins over a threat list. Only public addresses count, as in GuardDuty.
package threatlist

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"picket/internal/detect"
	"picket/internal/detect/contact"
	"picket/internal/event"
	"picket/internal/finding"
	"picket/internal/lru"
)

// ID is the detector's ID.
const ID = "threatlist"

// Thresholds are the detector's tunables.
var Thresholds = detect.Tunables{
	{Name: "report_blocked_inbound", Unit: "flag", Default: 1, Min: 0, Max: 1,
		Doc: "1 reports listed hosts whose inbound attempts all failed (rejected, unanswered, refused), at Low severity; 0 reports only traffic that got through or that our instances started. Lists of scanners make many of these"},
	{Name: "pair_ttl", Unit: "seconds", Default: 86400, Min: 60, Max: 30 * 86400,
		Doc: "how long an (interface, listed address, direction) is remembered after its last contact; later activity still updates the same finding"},
	{Name: "max_pairs", Unit: "pairs", Default: 100_000, Min: 10, Max: 1e7,
		Doc: "(interface, listed address, direction) triples tracked at once, about 1 KiB each; the least recently seen are evicted and counted"},
}

const (
	maxSamples = 5  // evidence samples per pair
	maxPorts   = 32 // ports listed per pair
	pairBytes  = 1024
)

// pairKey is one interface's traffic with one listed address in one
// direction.
type pairKey struct {
	Iface  event.ID
	Remote netip.Addr
	Out    bool // the interface initiated
}

// pair is what the detector keeps of a pairKey. Fields are exported for
// saving state.
type pair struct {
	Ctx   event.Contact // the latest contact
	Match detect.ThreatMatch

	// Since the last report.
	N, Failed, Rejected int64
	First, Last         event.Time

	// Ever.
	Contacts, FailedAll, RejectedAll, Established, Data int64
	BytesOut, BytesIn                                   uint64
	Ports                                               []int
	Samples                                             []finding.Sample
	Seen                                                event.Time
}

// Detector is the threat list detector.
type Detector struct {
	env     detect.Env
	th      detect.Tunables
	blocked bool
	ttl     event.Time
	pairs   *lru.Table[pairKey, pair]
	dirty   map[pairKey]bool
	lost    uint64 // reports lost to eviction
}

var (
	_ detect.Detector    = (*Detector)(nil)
	_ detect.Stater      = (*Detector)(nil)
	_ detect.Snapshotter = (*Detector)(nil)
)

// New builds the detector.
func New(env detect.Env) (*Detector, error) {
	th, err := Thresholds.Apply(ID, env.Thresholds)
	if err != nil {
		return nil, err
	}
	d := &Detector{
		env:     env,
		th:      th,
		blocked: th.Get("report_blocked_inbound") >= 0.5,
		ttl:     event.Time(th.Get("pair_ttl")),
		dirty:   map[pairKey]bool{},
	}
	d.pairs = lru.New(env.Cap(int(th.Get("max_pairs")), 1, pairBytes), func(k pairKey, _ *pair) {
		if d.dirty[k] {
			d.lost++
			delete(d.dirty, k)
		}
	})
	return d, nil
}

// Definition describes the detector.
func (d *Detector) Definition() detect.Definition {
	return detect.Definition{
		ID:           ID,
		Summary:      "traffic between an interface and an address on a threat list, in either direction, accepted or rejected",
		FindingTypes: []string{finding.TypeEC2MaliciousIPCustom},
		Subscribes:   []event.Kind{event.KindContact},
		Thresholds:   d.th,
	}
}

// State reports the detector's table.
func (d *Detector) State() []detect.StateStats {
	return []detect.StateStats{{Table: "pairs", Len: d.pairs.Len(), Cap: d.pairs.Cap(), Evicted: d.pairs.Evicted()}}
}

// Observe looks up the remote side of a contact.
func (d *Detector) Observe(rec event.Record, _ detect.Emit) {
	in := d.env.Intel
	if in == nil {
		return
	}
	c, ok := rec.(*event.Contact)
	if !ok {
		return
	}
	r := c.Remote()
	if !r.IsValid() || event.Internal(r) {
		return
	}
	m, ok := in.Threat(r)
	if !ok || m.Kind != detect.ThreatCustom || in.Trusted(r) {
		return
	}
	failedIn := c.Inbound && c.Outcome.Failed()
	if failedIn && !d.blocked {
		return
	}
	k := pairKey{Iface: c.Interface, Remote: r, Out: !c.Inbound}
	p, _ := d.pairs.Put(k)
	p.Ctx, p.Match = *c, m
	if p.N == 0 {
		p.First, p.Last = c.Start, c.End
	}
	p.N++
	p.Contacts++
	p.First, p.Last = min(p.First, c.Start), max(p.Last, c.End)
	p.Seen = max(p.Seen, c.End)
	if failedIn {
		p.Failed++
		p.FailedAll++
	}
	if c.Outcome == event.OutcomeRejected {
		p.Rejected++
		p.RejectedAll++
	}
	switch c.Outcome {
	case event.OutcomeEstablished:
		p.Established++
	case event.OutcomeData:
		p.Data++
	}
	if c.Inbound {
		p.BytesIn += c.Fwd.Bytes
		p.BytesOut += c.Rev.Bytes
	} else {
		p.BytesOut += c.Fwd.Bytes
		p.BytesIn += c.Rev.Bytes
	}
	port := int(c.RPort) // our service for inbound, theirs for outbound
	if i, found := slices.BinarySearch(p.Ports, port); !found && len(p.Ports) < maxPorts {
		p.Ports = slices.Insert(p.Ports, i, port)
	}
	// Text, not contact.Evidence: a pair with new contacts is reported
	// at the next Advance, and every report shows all its samples, so
	// their text is made once here where evidence would be rendered
	// again at every report.
	if len(p.Samples) < maxSamples && !c.Continued {
		p.Samples = append(p.Samples, contact.Sample(c))
	}
	d.dirty[k] = true
}

// Advance reports every pair with new contacts, in a fixed order, and
// forgets pairs idle for longer than pair_ttl.
func (d *Detector) Advance(w event.Time, emit detect.Emit) {
	keys := make([]pairKey, 0, len(d.dirty))
	for k := range d.dirty {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, comparePairs)
	for _, k := range keys {
		delete(d.dirty, k)
		p := d.pairs.Peek(k)
		if p == nil || p.N == 0 {
			continue
		}
		emit(d.finding(k, p))
		p.N, p.Failed, p.Rejected = 0, 0, 0
	}
	if w == event.Forever {
		return
	}
	for {
		k, p, ok := d.pairs.Oldest()
		if !ok || p.Seen+d.ttl > w {
			break
		}
		d.pairs.Delete(k)
	}
}

func comparePairs(a, b pairKey) int {
	if c := cmp.Compare(a.Iface.String(), b.Iface.String()); c != 0 {
		return c
	}
	if c := a.Remote.Compare(b.Remote); c != 0 {
		return c
	}
	switch {
	case a.Out == b.Out:
		return 0
	case a.Out:
		return 1
	}
	return -1
}

func (d *Detector) finding(k pairKey, p *pair) *finding.Finding {
	c := &p.Ctx
	account, region := c.Account.String(), c.Region.String()
	role, dir := finding.RoleTarget, finding.DirectionInbound
	if k.Out {
		role, dir = finding.RoleActor, finding.DirectionOutbound
	}
	fk := finding.Key{Account: account, Region: region, Resource: finding.ResourceID(c), Role: role, Actor: k.Remote.String()}
	f := finding.New(finding.TypeEC2MaliciousIPCustom, fk, d.env.DetectorID(account, region), p.First.UTC(), p.Last.UTC(), p.N)
	f.Resource.InstanceDetails = finding.InstanceFor(c)
	f.Resource.EcsClusterDetails = finding.ECSFor(c)
	nc := &finding.NetworkConnectionAction{
		Blocked:               p.Rejected == p.N,
		ConnectionDirection:   dir,
		Protocol:              finding.Protocol(c.Protocol),
		LocalNetworkInterface: c.Interface.String(),
		LocalIPDetails:        finding.LocalIP(c.Local),
		RemoteIPDetails:       finding.RemoteIP(k.Remote),
	}
	if k.Out {
		nc.LocalPortDetails, nc.RemotePortDetails = finding.Port(int(c.IPort)), finding.Port(int(c.RPort))
	} else {
		nc.LocalPortDetails, nc.RemotePortDetails = finding.Port(int(c.RPort)), finding.Port(int(c.IPort))
	}
	f.Service.Action.NetworkConnectionAction = nc
	f.Service.Evidence = &finding.Evidence{ThreatIntelligenceDetails: []finding.ThreatIntelligenceDetail{p.Match.Detail()}}
	if p.Failed == p.N {
		// Every inbound attempt of this report failed: evidence of
		// interest, not of compromise.
		f.Severity = finding.SeverityLow
	}

	m := &p.Match
	var what strings.Builder
	what.WriteString(strconv.FormatInt(p.N, 10) + " contact(s)")
	if k.Out {
		what.WriteString(" opened by the instance to port(s) " + joinInts(p.Ports))
	} else {
		what.WriteString(" from the listed host to port(s) " + joinInts(p.Ports))
	}
	if p.Rejected > 0 {
		what.WriteString(", " + strconv.FormatInt(p.Rejected, 10) + " rejected")
	}
	if p.Failed > 0 && p.Failed != p.Rejected {
		what.WriteString(", " + strconv.FormatInt(p.Failed, 10) + " reaching no service")
	}
	listed := "threat list " + m.ListName
	if len(m.ThreatNames) > 0 {
		listed += " (" + strings.Join(m.ThreatNames, ", ") + ")"
	}
	if m.Purpose != "" {
		listed += ", purpose " + m.Purpose
	}
	if m.Score != 0 {
		listed += ", score " + strconv.FormatFloat(m.Score, 'g', -1, 64)
	}
	exp := &finding.Explanation{
		Detector: ID,
		Summary:  k.Remote.String() + ", on " + listed + ", exchanged traffic with interface " + c.Interface.String() + ": " + what.String(),
		Counts: map[string]int64{
			"contacts":             p.Contacts,
			"contacts_this_report": p.N,
			"failed_inbound":       p.FailedAll,
			"rejected":             p.RejectedAll,
			"established_no_data":  p.Established,
			"data_exchanged":       p.Data,
			"bytes_sent_by_us":     int64(min(p.BytesOut, 1<<62)),
			"bytes_received_by_us": int64(min(p.BytesIn, 1<<62)),
		},
		Ports:          slices.Clone(p.Ports),
		Hosts:          []string{k.Remote.String()},
		Samples:        slices.Clone(p.Samples),
		NetworkPath:    contact.NetworkPath(c),
		ThreatListName: m.ListName,
	}
	if len(m.ThreatNames) > 0 {
		exp.ThreatName = m.ThreatNames[0]
	}
	f.Service.AdditionalInfo = &finding.AdditionalInfo{Explanation: exp}
	typ, _ := finding.Lookup(finding.TypeEC2MaliciousIPCustom)
	vars := map[string]string{
		"resource": finding.ResourceLabel(c),
		"remote":   k.Remote.String(),
		"list":     m.ListName,
		"detail":   what.String(),
	}
	f.Title = finding.Text(typ.Title, vars)
	f.Description = finding.Text(typ.Description, vars)
	return f
}

func joinInts(v []int) string {
	b := make([]byte, 0, 8*len(v))
	for i, x := range v {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = strconv.AppendInt(b, int64(x), 10)
	}
	return string(b)
}

type detectorState struct {
	Pairs lru.Snapshot[pairKey, pair]
	Dirty []pairKey
	Lost  uint64
}

// MarshalState saves the pairs and the reports not yet made.
func (d *Detector) MarshalState() ([]byte, error) {
	st := detectorState{Pairs: d.pairs.View(), Lost: d.lost}
	for k := range d.dirty {
		st.Dirty = append(st.Dirty, k)
	}
	slices.SortFunc(st.Dirty, comparePairs)
	return detect.EncodeState(st)
}

// UnmarshalState restores them.
func (d *Detector) UnmarshalState(b []byte) error {
	var st detectorState
	if err := detect.DecodeState(b, &st); err != nil {
		return err
	}
	clear(d.dirty)
	d.pairs.Restore(st.Pairs)
	d.lost = st.Lost
	for _, k := range st.Dirty {
		if d.pairs.Peek(k) != nil {
			d.dirty[k] = true
		}
	}
	return nil
}
