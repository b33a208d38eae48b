// Package tor owns the Tor detectors: UnauthorizedAccess:EC2/TorClient, an
// instance that connects to Tor relays as a Tor client does, and
// UnauthorizedAccess:EC2/TorRelay, an instance that relays for the Tor
// network. Which addresses are relays comes from Tor lists (the Tor
// Project's exit list and relay CSVs, or any list loaded as a Tor list).
//
// It sees contacts from the contact stage, which says who initiated a
// conversation and whether it got through. A client is an instance that
// opens a connection that is answered to a relay, on the relay's ORPort
// when the list gives it; a relay both accepts connections from relays
// and opens connections to relays, from and to several distinct ones
// within a window, which a client (a handful of guards) and a web server
// visited through Tor (exits connecting in, none going out) do not.
package tor

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
const ID = "tor"

// Thresholds are the detector's tunables.
var Thresholds = detect.Tunables{
	{Name: "min_relays_in", Unit: "relays", Default: 3, Min: 1, Max: 1e4,
		Doc: "distinct Tor relays that must have connected to the interface within window for it to count as a relay; relays connect to a relay's ORPort, clients do not"},
	{Name: "min_relays_out", Unit: "relays", Default: 3, Min: 1, Max: 1e4,
		Doc: "distinct Tor relays the interface must have connected to within window for it to count as a relay; a client keeps to one to three guards, a relay talks to many"},
	{Name: "window", Unit: "seconds", Default: 3600, Min: 60, Max: 7 * 86400,
		Doc: "how far back relay peers count; a relay keeps circuits to other relays open for hours, so an hour sees enough of them"},
	{Name: "max_interfaces", Unit: "interfaces", Default: 50_000, Min: 10, Max: 1e7,
		Doc: "interfaces with Tor traffic tracked at once, at most about 20 KiB each; the least recently seen are evicted and counted"},
}

const (
	maxPeers   = 256 // relay peers remembered per interface and direction
	maxRelays  = 64  // relays listed in a client finding
	maxSamples = 5
	ifaceBytes = 20 << 10
)

// peer is a relay an interface exchanged traffic with.
type peer struct {
	Addr netip.Addr
	Last event.Time
}

// iface is what the detector keeps of one interface. Fields are exported
// for saving state.
type iface struct {
	Ctx   event.Contact // the latest Tor contact
	Match detect.ThreatMatch

	// As a client: contacts since the last report, and relays ever.
	ClientN       int64
	ClientFirst   event.Time
	ClientLast    event.Time
	ClientTotal   int64
	Relays        []string // relay:port, sorted, bounded
	MoreRelays    int
	ClientCtx     event.Contact
	ClientMatch   detect.ThreatMatch
	ClientSamples []finding.Sample
	ClientDirty   bool
	RelayN        int64 // relay-to-relay contacts since the last report
	RelayFirst    event.Time
	RelayLast     event.Time
	In, Out       []peer
	// RelayEvidence holds the first contacts since the last relay
	// finding, for the next one's samples. Every interface with Tor
	// traffic keeps some and few ever relay, so they are kept as
	// contact.Evidence and rendered only when a relay finding is made.
	// A state saved when they were kept as text (the field RelaySamples)
	// restores without them; the next contacts take their place.
	RelayEvidence []contact.Evidence
	RelayDirty    bool
	Seen          event.Time
}

// Detector is the Tor detector.
type Detector struct {
	env    detect.Env
	th     detect.Tunables
	minIn  int
	minOut int
	window event.Time
	ifaces *lru.Table[event.ID, iface]
	dirty  map[event.ID]bool
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
		env:    env,
		th:     th,
		minIn:  int(th.Get("min_relays_in")),
		minOut: int(th.Get("min_relays_out")),
		window: event.Time(th.Get("window")),
		dirty:  map[event.ID]bool{},
	}
	d.ifaces = lru.New(env.Cap(int(th.Get("max_interfaces")), 1, ifaceBytes), func(id event.ID, _ *iface) { delete(d.dirty, id) })
	return d, nil
}

// Definition describes the detector.
func (d *Detector) Definition() detect.Definition {
	return detect.Definition{
		ID:           ID,
		Summary:      "instances that connect to Tor relays as clients, or relay for the Tor network, by the addresses of Tor lists",
		FindingTypes: []string{finding.TypeTorClient, finding.TypeTorRelay},
		Subscribes:   []event.Kind{event.KindContact},
		Thresholds:   d.th,
	}
}

// State reports the detector's table.
func (d *Detector) State() []detect.StateStats {
	return []detect.StateStats{{Table: "interfaces", Len: d.ifaces.Len(), Cap: d.ifaces.Cap(), Evicted: d.ifaces.Evicted()}}
}

// Observe looks up the remote side of a contact that got through.
func (d *Detector) Observe(rec event.Record, _ detect.Emit) {
	in := d.env.Intel
	if in == nil {
		return
	}
	c, ok := rec.(*event.Contact)
	if !ok || c.Outcome.Failed() {
		return
	}
	r := c.Remote()
	if !r.IsValid() || event.Internal(r) {
		return
	}
	m, ok := in.Threat(r)
	if !ok || m.Kind != detect.ThreatTor {
		return
	}
	if !c.Inbound && len(m.Ports) > 0 && !slices.Contains(m.Ports, c.RPort) {
		return // the relay's address, but not its ORPort: some other service
	}
	s, _ := d.ifaces.Put(c.Interface)
	s.Ctx, s.Match = *c, m
	s.Seen = max(s.Seen, c.End)
	if c.Inbound {
		s.In = notePeer(s.In, r, c.End)
	} else {
		s.Out = notePeer(s.Out, r, c.End)
		if s.ClientN == 0 {
			s.ClientFirst, s.ClientLast = c.Start, c.End
		}
		s.ClientN++
		s.ClientTotal++
		s.ClientFirst, s.ClientLast = min(s.ClientFirst, c.Start), max(s.ClientLast, c.End)
		s.ClientCtx, s.ClientMatch = *c, m
		relay := netip.AddrPortFrom(r, c.RPort).String()
		if i, found := slices.BinarySearch(s.Relays, relay); !found {
			if len(s.Relays) < maxRelays {
				s.Relays = slices.Insert(s.Relays, i, relay)
			} else {
				s.MoreRelays++
			}
		}
		// Text, not contact.Evidence as for relay findings: a client
		// contact is reported at the next Advance, and every client
		// finding shows all the samples, so their text is made once
		// here where evidence would be rendered again at every report.
		if len(s.ClientSamples) < maxSamples && !c.Continued {
			s.ClientSamples = append(s.ClientSamples, contact.Sample(c))
		}
		s.ClientDirty = true
	}
	if s.RelayN == 0 {
		s.RelayFirst, s.RelayLast = c.Start, c.End
	}
	s.RelayN++
	s.RelayFirst, s.RelayLast = min(s.RelayFirst, c.Start), max(s.RelayLast, c.End)
	if len(s.RelayEvidence) < maxSamples && !c.Continued {
		s.RelayEvidence = append(s.RelayEvidence, contact.EvidenceOf(c))
	}
	s.RelayDirty = true
	d.dirty[c.Interface] = true
}

// notePeer records that a relay was seen at t, keeping at most maxPeers
// (the least recently seen is replaced).
func notePeer(ps []peer, a netip.Addr, t event.Time) []peer {
	for i := range ps {
		if ps[i].Addr == a {
			ps[i].Last = max(ps[i].Last, t)
			return ps
		}
	}
	if len(ps) < maxPeers {
		return append(ps, peer{a, t})
	}
	oldest := 0
	for i := range ps {
		if ps[i].Last < ps[oldest].Last {
			oldest = i
		}
	}
	ps[oldest] = peer{a, t}
	return ps
}

// recent counts the peers seen at or after since.
func recent(ps []peer, since event.Time) int {
	n := 0
	for _, p := range ps {
		if p.Last >= since {
			n++
		}
	}
	return n
}

// Advance reports the interfaces with new Tor activity, in a fixed order,
// and forgets interfaces idle for longer than window.
func (d *Detector) Advance(w event.Time, emit detect.Emit) {
	ids := make([]event.ID, 0, len(d.dirty))
	for id := range d.dirty {
		ids = append(ids, id)
	}
	clear(d.dirty)
	slices.SortFunc(ids, func(a, b event.ID) int { return cmp.Compare(a.String(), b.String()) })
	for _, id := range ids {
		s := d.ifaces.Peek(id)
		if s == nil {
			continue
		}
		if s.ClientDirty && s.ClientN > 0 {
			emit(d.clientFinding(s))
			s.ClientN, s.ClientDirty = 0, false
		}
		if s.RelayDirty {
			// Peers count within window of the interface's latest Tor
			// contact: the same answer however late the watermark.
			since := s.Seen - d.window
			nIn, nOut := recent(s.In, since), recent(s.Out, since)
			if nIn >= d.minIn && nOut >= d.minOut {
				emit(d.relayFinding(s, nIn, nOut))
				s.RelayN, s.RelayEvidence = 0, s.RelayEvidence[:0]
			}
			s.RelayDirty = false
		}
	}
	if w == event.Forever {
		return
	}
	for {
		id, s, ok := d.ifaces.Oldest()
		if !ok || s.Seen+d.window > w {
			break
		}
		d.ifaces.Delete(id)
	}
}

func (d *Detector) newFinding(typ string, c *event.Contact, first, last event.Time, n int64) *finding.Finding {
	account, region := c.Account.String(), c.Region.String()
	fk := finding.Key{Account: account, Region: region, Resource: finding.ResourceID(c), Role: finding.RoleActor}
	f := finding.New(typ, fk, d.env.DetectorID(account, region), first.UTC(), last.UTC(), n)
	f.Resource.InstanceDetails = finding.InstanceFor(c)
	f.Resource.EcsClusterDetails = finding.ECSFor(c)
	nc := &finding.NetworkConnectionAction{
		Protocol:              finding.Protocol(c.Protocol),
		LocalNetworkInterface: c.Interface.String(),
		LocalIPDetails:        finding.LocalIP(c.Local),
		RemoteIPDetails:       finding.RemoteIP(c.Remote()),
	}
	if c.Inbound {
		nc.ConnectionDirection = finding.DirectionInbound
		nc.LocalPortDetails, nc.RemotePortDetails = finding.Port(int(c.RPort)), finding.Port(int(c.IPort))
	} else {
		nc.ConnectionDirection = finding.DirectionOutbound
		nc.LocalPortDetails, nc.RemotePortDetails = finding.Port(int(c.IPort)), finding.Port(int(c.RPort))
	}
	f.Service.Action.NetworkConnectionAction = nc
	return f
}

func (d *Detector) clientFinding(s *iface) *finding.Finding {
	c := &s.ClientCtx
	f := d.newFinding(finding.TypeTorClient, c, s.ClientFirst, s.ClientLast, s.ClientN)
	m := &s.ClientMatch
	f.Service.Evidence = &finding.Evidence{ThreatIntelligenceDetails: []finding.ThreatIntelligenceDetail{m.Detail()}}
	n := len(s.Relays) + s.MoreRelays
	detail := strconv.Itoa(n) + " relay(s) on Tor list " + m.ListName
	if nodes := torNodes(m); nodes != "Tor relay" {
		detail += " (a list of " + nodes + "s)"
	}
	detail += ", " + strconv.FormatInt(s.ClientTotal, 10) + " connection(s)"
	exp := &finding.Explanation{
		Detector: ID,
		Summary:  "interface " + c.Interface.String() + " opened connections that were answered to " + detail,
		Counts: map[string]int64{
			"connections":             s.ClientTotal,
			"connections_this_report": s.ClientN,
			"relays":                  int64(n),
		},
		Hosts:          slices.Clone(s.Relays),
		Samples:        slices.Clone(s.ClientSamples),
		NetworkPath:    contact.NetworkPath(c),
		ThreatListName: m.ListName,
		ThreatName:     torNodes(m),
	}
	f.Service.AdditionalInfo = &finding.AdditionalInfo{Explanation: exp}
	typ, _ := finding.Lookup(finding.TypeTorClient)
	vars := map[string]string{"resource": finding.ResourceLabel(c), "remote": c.Responder.String(), "detail": detail}
	f.Title = finding.Text(typ.Title, vars)
	f.Description = finding.Text(typ.Description, vars)
	return f
}

// torNodes is what the Tor list of m says its addresses are: "Tor
// relay", "Tor exit node" (the Tor Project's exit list), or "Tor relay or
// exit node" when the list does not tell; a list without a Tor purpose
// counts as relays, which every exit node is too.
func torNodes(m *detect.ThreatMatch) string {
	if strings.HasPrefix(m.Purpose, "Tor ") {
		return m.Purpose
	}
	return "Tor relay"
}

func (d *Detector) relayFinding(s *iface, nIn, nOut int) *finding.Finding {
	c := &s.Ctx
	f := d.newFinding(finding.TypeTorRelay, c, s.RelayFirst, s.RelayLast, s.RelayN)
	m := &s.Match
	f.Service.Evidence = &finding.Evidence{ThreatIntelligenceDetails: []finding.ThreatIntelligenceDetail{m.Detail()}}
	detail := strconv.Itoa(nIn) + " relays connected to it and it connected to " + strconv.Itoa(nOut) + " relays within " +
		strconv.Itoa(int(d.window)) + " s, by Tor list " + m.ListName
	var hosts []string
	for _, ps := range [][]peer{s.In, s.Out} {
		for _, p := range ps {
			if p.Last >= s.Seen-d.window {
				hosts = append(hosts, p.Addr.String())
			}
		}
	}
	slices.Sort(hosts)
	hosts = slices.Compact(hosts)
	exp := &finding.Explanation{
		Detector: ID,
		Summary:  "interface " + c.Interface.String() + " exchanges traffic with Tor relays in both directions: " + detail,
		Thresholds: []finding.Threshold{
			{Name: "min_relays_in", Limit: float64(d.minIn), Observed: float64(nIn), Unit: "relays", Crossed: true},
			{Name: "min_relays_out", Limit: float64(d.minOut), Observed: float64(nOut), Unit: "relays", Crossed: true},
		},
		Counts: map[string]int64{
			"relays_in":            int64(nIn),
			"relays_out":           int64(nOut),
			"contacts_this_report": s.RelayN,
		},
		Hosts:          hosts[:min(len(hosts), maxRelays)],
		Samples:        contact.Samples(s.RelayEvidence),
		NetworkPath:    contact.NetworkPath(c),
		ThreatListName: m.ListName,
		ThreatName:     "Tor relay",
	}
	f.Service.AdditionalInfo = &finding.AdditionalInfo{Explanation: exp}
	typ, _ := finding.Lookup(finding.TypeTorRelay)
	vars := map[string]string{"resource": finding.ResourceLabel(c), "remote": c.Remote().String(), "detail": detail}
	f.Title = finding.Text(typ.Title, vars)
	f.Description = finding.Text(typ.Description, vars)
	return f
}

type detectorState struct {
	Ifaces lru.Snapshot[event.ID, iface]
}

// MarshalState saves the interfaces.
func (d *Detector) MarshalState() ([]byte, error) {
	return detect.EncodeState(detectorState{Ifaces: d.ifaces.View()})
}

// UnmarshalState restores them.
func (d *Detector) UnmarshalState(b []byte) error {
	var st detectorState
	if err := detect.DecodeState(b, &st); err != nil {
		return err
	}
	clear(d.dirty)
	d.ifaces.Restore(st.Ifaces)
	d.ifaces.All(func(id event.ID, s *iface) bool {
		if s.ClientDirty || s.RelayDirty {
			d.dirty[id] = true
		}
		return true
	})
	return nil
}
