// Package portprobe owns the Recon:EC2/PortProbeUnprotectedPort detector:
// internet hosts that are scanning the estate and reach a port that no
// security group or network ACL blocks.
//
// A remote host becomes a known prober in one of three ways: threat
// intelligence names it; its first contacts with our (address, port)
// pairs fail often enough that the Threshold Random Walk decides it is a
// scanner; or it makes enough probe-like contacts (connections that carry
// no data) to distinct (address, port) pairs. Independently, a port that
// several distinct internet hosts probe is reported as being probed. Every
// contact of a known prober that no security group or network ACL
// rejected (the port answered, reset or ignored the probe) with a port of
// an interface (other than 80 and 443, which are meant to be open) becomes a
// portProbeDetail of that interface's finding; blocked contacts of the same
// prober are kept as evidence and raise the severity once it gets through.
package portprobe

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"

	"picket/internal/detect"
	"picket/internal/detect/contact"
	"picket/internal/detect/trw"
	"picket/internal/event"
	"picket/internal/finding"
	"picket/internal/lru"
	"picket/internal/sketch"
)

// ID is the detector's ID.
const ID = "portprobe"

// Thresholds are the detector's tunables with their defaults.
var Thresholds = detect.Tunables{
	{Name: "min_probes", Unit: "contacts", Default: 4, Min: 1, Max: 1e6,
		Doc: "probe-like first contacts (failed, or set up without data, as a SYN scan's half-open probe of an open port is) with distinct (address, port) pairs of ours that make a remote host a known prober: as many as the failed first contacts the walk needs to decide (Jung et al.: four), since a half-open probe says no more about a service than a refused one; retries of one pair count once, so a client that retried is not one"},
	{Name: "min_sources_per_port", Unit: "hosts", Default: 3, Min: 1, Max: 1e6,
		Doc: "distinct internet hosts whose TCP connections without data to one open port of an interface mark that port as being probed, even when no single host crossed min_probes (a UDP request answered once is how UDP services are used, and does not count)"},
	{Name: "trw_theta0", Unit: "probability", Default: trw.DefaultParams.Theta0, Min: 0.01, Max: 0.99,
		Doc: "probability that a benign host's first contact succeeds (Jung et al. 2004)"},
	{Name: "trw_theta1", Unit: "probability", Default: trw.DefaultParams.Theta1, Min: 0.01, Max: 0.99,
		Doc: "probability that a scanner's first contact succeeds; must be below trw_theta0"},
	{Name: "trw_pd", Unit: "probability", Default: trw.DefaultParams.PD, Min: 0.5, Max: 0.9999,
		Doc: "detection probability the walk aims for"},
	{Name: "trw_pf", Unit: "probability", Default: trw.DefaultParams.PF, Min: 0.00001, Max: 0.5,
		Doc: "false-positive probability the walk tolerates"},
	{Name: "friend_ttl", Unit: "seconds", Default: 600, Min: 60, Max: 86400,
		Doc: "how long a remote host that an interface contacted itself, and that answered, is exempt on that interface: ten minutes, the longest aggregation interval of flow logs, so that the far side of a conversation our host started is never taken for a prober, and no longer, since a host we once talked to can still scan us later"},
	{Name: "source_ttl", Unit: "seconds", Default: 86400, Min: 60, Max: 30 * 86400,
		Doc: "how long a remote host's record is kept after its last contact; a day catches scans paced at one probe every few minutes (nmap -T0 sends one every 5 minutes)"},
	{Name: "max_sources", Unit: "hosts", Default: 200_000, Min: 100, Max: 1e8,
		Doc: "remote hosts tracked exactly at once (about 500 bytes each); once full, only hosts the sketch has seen probe before are admitted, evicting the least recently seen, and evictions are counted"},
	{Name: "sketch_bytes", Unit: "bytes", Default: 8 << 20, Min: 4096, Max: 1 << 30,
		Doc: "memory of the count-min sketch that remembers how often untracked hosts probed; a scanner is still recognized in a flood of spoofed sources as long as fewer than sketch_bytes/8 spoofed probes arrive between two of its own"},
}

// sensitive ports raise the finding to High, as GuardDuty does for
// Elasticsearch.
var sensitive = map[uint16]bool{9200: true, 9300: true}

// never lists ports that are meant to face the internet.
var never = map[uint16]bool{80: true, 443: true}

const (
	maxSeen       = 48  // distinct first contacts remembered per source
	maxPending    = 8   // open-port hits held until a source is decided
	maxSamples    = 5   // samples kept per source
	maxReportHits = 512 // hits kept per interface between reports
)

// hit is one accepted contact of a prober with an open port: kept small,
// since undecided hosts hold a few each.
type hit struct {
	Iface event.ID
	// The interface's context, for a finding made from a held hit.
	Instance, Account, Region, VPC, Subnet event.ID
	T                                      event.Time
	Local                                  netip.Addr
	Remote                                 netip.Addr
	Origin                                 event.Origin
	Port                                   uint16
	Rport                                  uint16
	Outcome                                event.Outcome
	Proto                                  uint8  // zero in state saved before it was kept: TCP
	Fwd                                    uint32 // packets sent by the prober
	Rev                                    uint32 // packets sent back
}

// evidence is the hit as evidence. A hit keeps no TCP flags, so its
// sample shows none.
func (h *hit) evidence() contact.Evidence {
	proto := h.Proto
	if proto == 0 {
		proto = event.ProtoTCP
	}
	return contact.Evidence{
		Origin: h.Origin, Start: h.T, Protocol: proto,
		Initiator: h.Remote, IPort: h.Rport, Responder: h.Local, RPort: h.Port,
		Outcome: h.Outcome, FwdPackets: uint64(h.Fwd), RevPackets: uint64(h.Rev),
	}
}

type source struct {
	Walk      trw.State
	Failures  uint32 // failed first contacts, counted past the verdict
	Successes uint32
	Prior     uint32 // probes the sketch counted before the host was tracked
	// Seen holds hashes of (local address, port) first contacts, grown
	// to maxSeen and then overwritten in turn: most internet hosts
	// contact the estate once, and a fixed array took 384 bytes for
	// each of the hundreds of thousands a day remembers.
	Seen     []uint64
	Nseen    uint32
	Probes   uint32 // probe-like first contacts
	Rejected uint32 // contacts blocked by a security group or ACL
	Verdict  trw.Verdict
	Reason   string
	Intel    *detect.ThreatMatch
	Last     event.Time
	Pending  []hit
	// Evidence holds the host's first contacts, as contact.Evidence:
	// every internet host that reaches the estate keeps some, and few are
	// ever in a finding (BenchmarkPortProbe: 2 allocations and 108 bytes
	// a contact when their text was kept, under one and 64 bytes
	// without, what is left being the findings' own). A state saved when
	// they were kept as text (the field Samples) restores without them.
	Evidence []contact.Evidence
}

func (s *source) firstContact(h uint64) bool {
	n := min(int(s.Nseen), len(s.Seen))
	for i := 0; i < n; i++ {
		if s.Seen[i] == h {
			return false
		}
	}
	if len(s.Seen) < maxSeen {
		s.Seen = append(s.Seen, h)
	} else {
		s.Seen[s.Nseen%maxSeen] = h
	}
	s.Nseen++
	return true
}

// friendKey is a remote host as one interface knows it.
// srcKey names a remote host as one account saw it: accounts are judged
// apart, as GuardDuty judges each account's logs alone, so that one
// account's traffic never decides another's findings.
type srcKey struct {
	Account event.ID
	Addr    netip.Addr
}

// sketchKey is the address the sketch counts a remote host of an
// account under: its address mixed with a hash of the account, made
// without allocating, as it runs for every probe of an untracked host.
func sketchKey(account event.ID, a netip.Addr) netip.Addr {
	if account == (event.ID{}) {
		return a
	}
	m := detect.FNV1a(account.String())
	b := a.As16()
	for i := range 8 {
		b[i] ^= byte(m >> (8 * i))
	}
	return netip.AddrFrom16(b)
}

type friendKey struct {
	Iface  event.ID
	Remote netip.Addr
}

type portKey struct {
	Iface event.ID
	Port  uint16
}

// portSources counts the distinct hosts that probed one open port of an
// interface, remembering the first few so that their held hits can be
// reported once the port crosses min_sources_per_port.
type portSources struct {
	Srcs [8]netip.Addr
	N    int
	Last event.Time
}

// target is an interface that probers reached: what its finding says,
// accumulated over every report, and what is new since the last one.
type target struct {
	Ctx      event.Contact // the latest contact, for the resource's details
	Hosts    map[netip.Addr]snapshot
	More     int // probers beyond maxHosts
	Ports    []int
	Evidence []contact.Evidence // as source.Evidence
	Blocked  bool               // some prober was blocked before it got through
	Reasons  map[string]bool

	Total int64 // open-port probes ever
	Hits  []hit // new since the last report
	Count int64
	First event.Time
	Last  event.Time
}

// snapshot copies what a finding needs of a prober: the source table may
// evict the source or move it in memory.
type snapshot struct {
	Probes, Failures, Successes, Rejected, Prior uint32
	Intel                                        *detect.ThreatMatch
	Confirmed                                    bool // a scanner by the walk, the probe count or a threat list
}

// Detector is the port probe detector.
type Detector struct {
	env       detect.Env
	th        detect.Tunables
	test      trw.Test
	minProbe  uint32
	minSrc    int
	ttl       event.Time
	sources   *lru.Table[srcKey, source]
	sketch    *sketch.Sketch
	refused   uint64                            // hosts not admitted to a full table
	friends   *lru.Table[friendKey, event.Time] // when each interface last contacted each remote
	friendTTL event.Time
	ports     *lru.Table[portKey, portSources]
	targets   *lru.Table[event.ID, target]
	dirty     map[event.ID]bool // targets with hits since the last report
}

var (
	_ detect.Detector = (*Detector)(nil)
	_ detect.Stater   = (*Detector)(nil)
)

// New builds the detector.
func New(env detect.Env) (*Detector, error) {
	th, err := Thresholds.Apply(ID, env.Thresholds)
	if err != nil {
		return nil, err
	}
	p := trw.Params{Theta0: th.Get("trw_theta0"), Theta1: th.Get("trw_theta1"), PD: th.Get("trw_pd"), PF: th.Get("trw_pf")}
	if p.Theta1 >= p.Theta0 || p.PF >= p.PD {
		return nil, errBadTRW
	}
	// Measured with the flood test in detect/all: a tracked source takes
	// about 600 bytes with its share of the table; friends and ports
	// entries about 300.
	maxSrc := env.Cap(int(th.Get("max_sources")), 0.6, 600)
	sketchBytes := int(th.Get("sketch_bytes"))
	if env.Budget > 0 {
		sketchBytes = min(sketchBytes, max(int(env.Budget/8), 64<<10))
	}
	d := &Detector{
		env:       env,
		th:        th,
		test:      trw.New(p),
		minProbe:  uint32(th.Get("min_probes")),
		minSrc:    int(th.Get("min_sources_per_port")),
		ttl:       event.Time(th.Get("source_ttl")),
		sources:   lru.New[srcKey, source](maxSrc, nil),
		sketch:    sketch.New(sketchBytes),
		friends:   lru.New[friendKey, event.Time](env.Cap(int(th.Get("max_sources")), 0.1, 300), nil),
		friendTTL: event.Time(th.Get("friend_ttl")),
		ports:     lru.New[portKey, portSources](env.Cap(int(th.Get("max_sources")), 0.1, 300), nil),
		targets:   lru.New[event.ID, target](env.Cap(100_000, 0.05, 4096), nil),
		dirty:     map[event.ID]bool{},
	}
	return d, nil
}

type constError string

func (e constError) Error() string { return string(e) }

const errBadTRW = constError("detector portprobe: trw_theta1 must be below trw_theta0 and trw_pf below trw_pd")

// Definition describes the detector.
func (d *Detector) Definition() detect.Definition {
	return detect.Definition{
		ID:           ID,
		Summary:      "internet hosts scanning the estate that reach ports no security group or network ACL blocks",
		FindingTypes: []string{finding.TypePortProbeUnprotectedPort},
		Subscribes:   []event.Kind{event.KindContact},
		Thresholds:   d.th,
	}
}

// State reports the detector's tables.
func (d *Detector) State() []detect.StateStats {
	return []detect.StateStats{
		{Table: "sources", Len: d.sources.Len(), Cap: d.sources.Cap(), Evicted: d.sources.Evicted() + d.refused},
		{Table: "friends", Len: d.friends.Len(), Cap: d.friends.Cap(), Evicted: d.friends.Evicted()},
		{Table: "ports", Len: d.ports.Len(), Cap: d.ports.Cap(), Evicted: d.ports.Evicted()},
		{Table: "targets", Len: d.targets.Len(), Cap: d.targets.Cap(), Evicted: d.targets.Evicted()},
	}
}

func (d *Detector) hash(a netip.Addr, port uint16) uint64 {
	return sketch.Hash(sketch.DefaultSeed, a, uint64(port))
}

// Observe judges one contact.
func (d *Detector) Observe(rec event.Record, emit detect.Emit) {
	c, ok := rec.(*event.Contact)
	if !ok || c.Outcome == event.OutcomeUnknown {
		return
	}
	if !c.Inbound {
		// A host an interface contacted, and that answered, is that
		// interface's friend for a while: its traffic back is not
		// probing. The contact stage makes no friends of contacts whose
		// initiator it cannot tell (an ICMP echo and its reply).
		if !c.Outcome.Failed() {
			t, _ := d.friends.Put(friendKey{c.Interface, c.Responder})
			*t = max(*t, c.End)
		}
		return
	}
	r := c.Initiator
	if event.Internal(r) {
		return
	}
	if t := d.friends.Peek(friendKey{c.Interface, r}); t != nil && c.Start < *t+d.friendTTL {
		// A friendship never outranks a verdict: a scanner that our
		// host answered, or pinged, is still a scanner.
		if s := d.sources.Peek(srcKey{c.Account, r}); s == nil || s.Verdict != trw.Scanner {
			return
		}
	}
	if d.env.Intel != nil && d.env.Intel.Trusted(r) {
		return
	}
	probeLike := c.Outcome.Failed() || c.Outcome == event.OutcomeEstablished
	s := d.sources.Get(srcKey{c.Account, r})
	if s == nil {
		var match *detect.ThreatMatch
		if d.env.Intel != nil {
			if m, ok := d.env.Intel.Threat(r); ok && m.Kind == detect.ThreatCustom {
				match = &m // Tor relays are not scanners for being relays
			}
		}
		var est uint8
		if probeLike {
			est = d.sketch.Add(sketchKey(c.Account, r))
		}
		if d.sources.Len() >= d.sources.Cap() && est < 2 && match == nil {
			// A full table admits only hosts with a history of probing:
			// a flood of one-off spoofed sources cannot push out the
			// scanners it hides.
			d.refused++
			if servedProbe(c) && !never[c.RPort] {
				d.notePort(c, r)
			}
			return
		}
		s, _ = d.sources.Put(srcKey{c.Account, r})
		if match != nil {
			s.Intel = match
			s.Verdict, s.Reason = trw.Scanner, "threat list "+match.ListName
		}
		if est > 1 {
			// Probes made while the host was not tracked count as failed
			// first contacts: most probes fail.
			s.Prior = uint32(est - 1)
			for range s.Prior {
				s.Failures++
				if s.Verdict != trw.Scanner && d.test.Observe(&s.Walk, false) == trw.Scanner {
					s.Verdict, s.Reason = trw.Scanner, "threshold random walk"
				}
			}
			s.Probes += s.Prior
		}
	} else if probeLike {
		d.sketch.Add(sketchKey(c.Account, r))
	}
	s.Last = max(s.Last, c.End)
	if c.Outcome == event.OutcomeRejected {
		s.Rejected++
	}
	first := d.firstContactOf(s, c)
	if first {
		if c.Outcome.Failed() {
			s.Failures++
		} else {
			s.Successes++
		}
		if s.Verdict != trw.Scanner {
			v := d.test.Observe(&s.Walk, !c.Outcome.Failed())
			if v == trw.Scanner {
				s.Verdict, s.Reason = trw.Scanner, "threshold random walk"
			}
		}
		if probeLike {
			s.Probes++
			if s.Verdict != trw.Scanner && s.Probes >= d.minProbe {
				s.Verdict, s.Reason = trw.Scanner, "probe count"
			}
		}
		if len(s.Evidence) < maxSamples {
			s.Evidence = append(s.Evidence, contact.EvidenceOf(c))
		}
	}
	if s.Verdict == trw.Scanner && len(s.Pending) > 0 {
		// Open ports the host reached before it was recognized.
		for _, p := range s.Pending {
			d.add(p, s, nil)
		}
		s.Pending = s.Pending[:0]
	}
	// The probe reached the port: no security group or network ACL
	// rejected it, whether a service answered (an open port), the host
	// reset it (an unfiltered port that an ACK scan maps) or let it go
	// unanswered (a FIN, NULL or Xmas probe of an open port).
	if c.Outcome == event.OutcomeRejected || never[c.RPort] || c.Continued {
		return
	}
	h := hit{Iface: c.Interface, Instance: c.Instance, Account: c.Account, Region: c.Region, VPC: c.VPC, Subnet: c.Subnet,
		T: c.Start, Local: c.Local, Port: c.RPort, Rport: c.IPort, Remote: r,
		Origin: c.Origin, Outcome: c.Outcome, Proto: c.Protocol, Fwd: sat32(c.Fwd.Packets), Rev: sat32(c.Rev.Packets)}
	portProbed := false
	if servedProbe(c) {
		portProbed = d.notePort(c, r)
	}
	switch {
	case s.Verdict == trw.Scanner:
		d.add(h, s, c)
	case portProbed:
		d.add(h, s, c)
	case probeLike && len(s.Pending) < maxPending:
		s.Pending = append(s.Pending, h)
	}
}

// servedProbe reports whether c is a TCP connection that a service
// accepted and that carried no data: the probe-like contact that, from
// several internet hosts, marks a port as being probed. A datagram
// answered once is how UDP services are used, so it does not count.
func servedProbe(c *event.Contact) bool {
	return c.Protocol == event.ProtoTCP && c.Outcome == event.OutcomeEstablished
}

func sat32(v uint64) uint32 {
	if v > 1<<32-1 {
		return 1<<32 - 1
	}
	return uint32(v)
}

func (d *Detector) firstContactOf(s *source, c *event.Contact) bool {
	return s.firstContact(d.hash(c.Local, c.RPort))
}

// notePort records a probe-like contact with an open port and reports
// whether enough distinct hosts have now probed it. When this host is the
// one that takes the port over min_sources_per_port, the hits the earlier
// hosts made on the port, held until then, are reported too.
func (d *Detector) notePort(c *event.Contact, r netip.Addr) bool {
	ps, _ := d.ports.Put(portKey{c.Interface, c.RPort})
	ps.Last = max(ps.Last, c.End)
	if slices.Contains(ps.Srcs[:min(ps.N, len(ps.Srcs))], r) {
		return ps.N >= d.minSrc
	}
	if ps.N < len(ps.Srcs) {
		ps.Srcs[ps.N] = r
	}
	ps.N++
	if ps.N != d.minSrc {
		return ps.N >= d.minSrc
	}
	for _, other := range ps.Srcs[:min(ps.N, len(ps.Srcs))] {
		if other == r {
			continue
		}
		o := d.sources.Peek(srcKey{c.Account, other})
		if o == nil {
			continue
		}
		kept := o.Pending[:0]
		for _, p := range o.Pending {
			if p.Iface == c.Interface && p.Port == c.RPort {
				d.add(p, o, nil)
			} else {
				kept = append(kept, p)
			}
		}
		o.Pending = kept
	}
	return true
}

const (
	maxHosts       = 64  // probers listed per target
	maxPorts       = 256 // ports listed per target
	maxTargetSamps = 10  // evidence samples per target
)

// add records a hit on its target. c is the contact of the hit when it is
// the one being observed (it refreshes the target's details); pending hits
// flushed later pass nil.
func (d *Detector) add(h hit, s *source, c *event.Contact) {
	t, created := d.targets.Put(h.Iface)
	if created {
		t.Hosts = map[netip.Addr]snapshot{}
		t.Reasons = map[string]bool{}
	}
	if c != nil || created {
		if c != nil {
			t.Ctx = *c
		} else {
			t.Ctx = event.Contact{Interface: h.Iface, Instance: h.Instance, Account: h.Account, Region: h.Region, VPC: h.VPC,
				Subnet: h.Subnet, Local: h.Local, Inbound: true, Initiator: h.Remote, Responder: h.Local}
		}
	}
	if len(t.Hits) == 0 {
		t.First, t.Last = h.T, h.T
	}
	if len(t.Hits) == maxReportHits {
		copy(t.Hits, t.Hits[1:])
		t.Hits = t.Hits[:maxReportHits-1]
	}
	t.Hits = append(t.Hits, h)
	t.Count++
	t.Total++
	t.First = min(t.First, h.T)
	t.Last = max(t.Last, h.T)
	snap := snapshot{Probes: s.Probes, Failures: s.Failures, Successes: s.Successes, Rejected: s.Rejected, Prior: s.Prior,
		Intel: s.Intel, Confirmed: s.Verdict == trw.Scanner}
	_, listed := t.Hosts[h.Remote]
	if !listed && len(t.Hosts) >= maxHosts && snap.Confirmed {
		// A confirmed scanner takes the place of a host that only probed
		// a port many others probed too (in a flood, thousands of them):
		// the finding must name the scanners.
		var victim netip.Addr
		for a, x := range t.Hosts {
			if !x.Confirmed && (!victim.IsValid() || a.Less(victim)) {
				victim = a
			}
		}
		if victim.IsValid() {
			delete(t.Hosts, victim)
			t.More++
		}
	}
	if listed || len(t.Hosts) < maxHosts {
		if !listed {
			for _, smp := range s.Evidence {
				t.addSample(smp)
			}
		}
		t.Hosts[h.Remote] = snap
	} else {
		t.More++
	}
	if i, ok := slices.BinarySearch(t.Ports, int(h.Port)); !ok && len(t.Ports) < maxPorts {
		t.Ports = slices.Insert(t.Ports, i, int(h.Port))
	}
	if len(t.Evidence) < maxTargetSamps {
		t.addSample(h.evidence())
	}
	if s.Rejected > 0 {
		t.Blocked = true
	}
	reason := s.Reason
	if reason == "" {
		reason = "several hosts probed the port"
	}
	t.Reasons[reason] = true
	d.dirty[h.Iface] = true
}

// addSample keeps smp as evidence unless the target has enough, or one
// from the same record. (Two origins are equal exactly when their
// "file:line" texts are, which is what was compared when samples were
// kept as text: file names are interned and the line ends the text.)
func (t *target) addSample(smp contact.Evidence) {
	if len(t.Evidence) >= maxTargetSamps {
		return
	}
	for _, x := range t.Evidence {
		if x.Origin == smp.Origin {
			return
		}
	}
	t.Evidence = append(t.Evidence, smp)
}

// Advance emits one finding report per interface with new probes, and
// forgets hosts idle for longer than source_ttl.
func (d *Detector) Advance(w event.Time, emit detect.Emit) {
	ids := make([]event.ID, 0, len(d.dirty))
	for id := range d.dirty {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b event.ID) int { return cmp.Compare(a.String(), b.String()) })
	for _, id := range ids {
		if t := d.targets.Peek(id); t != nil && t.Count > 0 {
			emit(d.finding(t))
			t.Hits, t.Count = t.Hits[:0], 0
		}
		delete(d.dirty, id)
	}
	if w == event.Forever {
		return
	}
	for {
		k, s, ok := d.sources.Oldest()
		if !ok || s.Last+d.ttl > w {
			break
		}
		d.sources.Delete(k)
	}
	for {
		k, t, ok := d.friends.Oldest()
		if !ok || *t+d.friendTTL > w {
			break
		}
		d.friends.Delete(k)
	}
	for {
		k, p, ok := d.ports.Oldest()
		if !ok || p.Last+d.ttl > w {
			break
		}
		d.ports.Delete(k)
	}
}

func (d *Detector) finding(t *target) *finding.Finding {
	c := &t.Ctx
	account, region := c.Account.String(), c.Region.String()
	key := finding.Key{Account: account, Region: region, Resource: finding.ResourceID(c), Role: finding.RoleTarget}
	f := finding.New(finding.TypePortProbeUnprotectedPort, key, d.env.DetectorID(account, region),
		t.First.UTC(), t.Last.UTC(), t.Count)
	f.Resource.InstanceDetails = finding.InstanceFor(c)
	f.Resource.EcsClusterDetails = finding.ECSFor(c)

	// Details of this report: one per distinct (local address, port,
	// remote), in time order; the finding's merge keeps the latest 100
	// across reports.
	hits := slices.Clone(t.Hits)
	slices.SortStableFunc(hits, func(a, b hit) int { return cmp.Compare(a.T, b.T) })
	type dk struct {
		local  netip.Addr
		port   uint16
		remote netip.Addr
	}
	seen := map[dk]bool{}
	var details []finding.PortProbeDetail
	for i := len(hits) - 1; i >= 0; i-- {
		h := hits[i]
		k := dk{h.Local, h.Port, h.Remote}
		if seen[k] {
			continue
		}
		seen[k] = true
		details = append(details, finding.PortProbeDetail{
			LocalPortDetails: finding.Port(int(h.Port)),
			LocalIPDetails:   finding.LocalIP(h.Local),
			RemoteIPDetails:  finding.RemoteIP(h.Remote),
		})
	}
	slices.Reverse(details)
	if len(details) > finding.MaxPortProbeDetails {
		details = details[len(details)-finding.MaxPortProbeDetails:]
	}
	f.Service.Action.PortProbeAction = &finding.PortProbeAction{Blocked: false, PortProbeDetails: details}

	sev := finding.SeverityLow
	if t.Blocked {
		sev = finding.SeverityMedium
	}
	for _, p := range t.Ports {
		if sensitive[uint16(p)] {
			sev = finding.SeverityHigh
		}
	}
	f.Severity = sev

	// Evidence and explanation, over everything the target has seen.
	remotes := make([]netip.Addr, 0, len(t.Hosts))
	for a := range t.Hosts {
		remotes = append(remotes, a)
	}
	// Confirmed scanners first, then by address.
	slices.SortFunc(remotes, func(a, b netip.Addr) int {
		if ca, cb := t.Hosts[a].Confirmed, t.Hosts[b].Confirmed; ca != cb {
			if ca {
				return -1
			}
			return 1
		}
		return a.Compare(b)
	})
	var intel []finding.ThreatIntelligenceDetail
	var probes, failures, successes, rejected, prior int64
	hosts := make([]string, 0, len(remotes))
	for _, a := range remotes {
		s := t.Hosts[a]
		hosts = append(hosts, a.String())
		probes += int64(s.Probes)
		failures += int64(s.Failures)
		successes += int64(s.Successes)
		rejected += int64(s.Rejected)
		prior += int64(s.Prior)
		if s.Intel != nil {
			intel = append(intel, finding.ThreatIntelligenceDetail{ThreatListName: s.Intel.ListName, ThreatNames: s.Intel.ThreatNames, ThreatFileSha256: s.Intel.FileSHA256})
		}
	}
	if len(intel) > 0 {
		f.Service.Evidence = &finding.Evidence{ThreatIntelligenceDetails: intel}
		// A prober that a threat list names is one level more severe.
		switch f.Severity {
		case finding.SeverityLow:
			f.Severity = finding.SeverityMedium
		case finding.SeverityMedium:
			f.Severity = finding.SeverityHigh
		}
	}
	reasons := make([]string, 0, len(t.Reasons))
	for r := range t.Reasons {
		reasons = append(reasons, r)
	}
	slices.Sort(reasons)
	nhosts := len(remotes) + t.More
	exp := &finding.Explanation{
		Detector: ID,
		Summary: strconv.Itoa(nhosts) + " internet host(s) scanning the estate reached open port(s) " + joinInts(t.Ports) +
			" of interface " + c.Interface.String() + " (decided by " + joinStrings(reasons) + ")",
		Thresholds: []finding.Threshold{
			{Name: "trw_failures_to_decide", Limit: float64(d.test.FailuresToDecide()), Observed: float64(failures), Unit: "failed first contacts", Crossed: failures >= int64(d.test.FailuresToDecide())},
			{Name: "min_probes", Limit: float64(d.minProbe), Observed: float64(probes), Unit: "probe-like contacts", Crossed: probes >= int64(d.minProbe)},
			{Name: "min_sources_per_port", Limit: float64(d.minSrc), Observed: float64(nhosts), Unit: "hosts", Crossed: nhosts >= d.minSrc},
		},
		Counts: map[string]int64{
			"open_port_probes":          t.Total,
			"probe_like_contacts":       probes,
			"failed_first_contacts":     failures,
			"successful_first_contacts": successes,
			"rejected_contacts":         rejected,
			"remote_hosts":              int64(nhosts),
			"probes_before_tracking":    prior,
		},
		Ports:       slices.Clone(t.Ports),
		Hosts:       hosts,
		Samples:     contact.Samples(t.Evidence),
		NetworkPath: contact.NetworkPath(c),
	}
	if len(intel) > 0 {
		exp.ThreatListName = intel[0].ThreatListName
		if len(intel[0].ThreatNames) > 0 {
			exp.ThreatName = intel[0].ThreatNames[0]
		}
	}
	f.Service.AdditionalInfo = &finding.AdditionalInfo{Explanation: exp}
	typ, _ := finding.Lookup(finding.TypePortProbeUnprotectedPort)
	vars := map[string]string{
		"resource": finding.ResourceLabel(c),
		"port":     joinInts(t.Ports),
		"remote":   joinStrings(firstN(hosts, 3)),
	}
	if nhosts > 3 {
		vars["remote"] += " and " + strconv.Itoa(nhosts-3) + " more"
	}
	f.Title = finding.Text(typ.Title, vars)
	f.Description = finding.Text(typ.Description, vars)
	return f
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
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

func joinStrings(v []string) string {
	b := make([]byte, 0, 16*len(v))
	for i, x := range v {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, x...)
	}
	return string(b)
}

type detectorState struct {
	// AccountSources are the sources by account; states saved before
	// they were kept by account (Sources) start without them.
	AccountSources lru.Snapshot[srcKey, source]
	Sketch         sketch.State
	Peers          lru.Snapshot[friendKey, event.Time]
	Ports          lru.Snapshot[portKey, portSources]
	Targets        lru.Snapshot[event.ID, target]
	Dirty          []event.ID
	Refused        uint64
}

var _ detect.Snapshotter = (*Detector)(nil)

// MarshalState saves the detector's tables and sketch.
func (d *Detector) MarshalState() ([]byte, error) {
	st := detectorState{
		AccountSources: d.sources.View(), Sketch: d.sketch.State(), Peers: d.friends.View(),
		Ports: d.ports.View(), Targets: d.targets.View(), Refused: d.refused,
	}
	for id := range d.dirty {
		st.Dirty = append(st.Dirty, id)
	}
	return detect.EncodeState(st)
}

// UnmarshalState restores them.
func (d *Detector) UnmarshalState(b []byte) error {
	var st detectorState
	if err := detect.DecodeState(b, &st); err != nil {
		return err
	}
	d.sources.Restore(st.AccountSources)
	d.sketch.Restore(st.Sketch)
	d.friends.Restore(st.Peers)
	d.ports.Restore(st.Ports)
	d.targets.Restore(st.Targets)
	clear(d.dirty)
	for _, id := range st.Dirty {
		d.dirty[id] = true
	}
	d.refused = st.Refused
	return nil
}
