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
// accepted contact of a known prober with an open port of an interface
// (other than 80 and 443, which are meant to be open) becomes a
// portProbeDetail of that interface's finding; blocked contacts of the same
// prober are kept as evidence and raise the severity once it gets through.
package portprobe

import (
	"cmp"
	"hash/maphash"
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
	{Name: "min_probes", Unit: "contacts", Default: 5, Min: 1, Max: 1e6,
		Doc: "probe-like first contacts (failed, or set up without data) with distinct (address, port) pairs of ours that make a remote host a known prober; five distinguishes a scanner from a client that retried"},
	{Name: "min_sources_per_port", Unit: "hosts", Default: 3, Min: 1, Max: 1e6,
		Doc: "distinct internet hosts whose probe-like contacts with one open port of an interface mark that port as being probed, even when no single host crossed min_probes"},
	{Name: "trw_theta0", Unit: "probability", Default: trw.DefaultParams.Theta0, Min: 0.01, Max: 0.99,
		Doc: "probability that a benign host's first contact succeeds (Jung et al. 2004)"},
	{Name: "trw_theta1", Unit: "probability", Default: trw.DefaultParams.Theta1, Min: 0.01, Max: 0.99,
		Doc: "probability that a scanner's first contact succeeds; must be below trw_theta0"},
	{Name: "trw_pd", Unit: "probability", Default: trw.DefaultParams.PD, Min: 0.5, Max: 0.9999,
		Doc: "detection probability the walk aims for"},
	{Name: "trw_pf", Unit: "probability", Default: trw.DefaultParams.PF, Min: 0.00001, Max: 0.5,
		Doc: "false-positive probability the walk tolerates"},
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
	iface   event.ID
	t       event.Time
	local   netip.Addr
	remote  netip.Addr
	origin  event.Origin
	port    uint16
	rport   uint16
	outcome event.Outcome
	fwd     uint32 // packets sent by the prober
	rev     uint32 // packets sent back
}

func (h *hit) sample() finding.Sample {
	c := event.Contact{
		Origin: h.origin, Start: h.t, Protocol: event.ProtoTCP,
		Initiator: h.remote, IPort: h.rport, Responder: h.local, RPort: h.port,
		Outcome: h.outcome, Fwd: event.Half{Packets: uint64(h.fwd)}, Rev: event.Half{Packets: uint64(h.rev)},
	}
	return contact.Sample(&c)
}

type source struct {
	walk      trw.State
	failures  uint32 // failed first contacts, counted past the verdict
	successes uint32
	prior     uint32          // probes the sketch counted before the host was tracked
	seen      [maxSeen]uint64 // hashes of (local address, port) first contacts
	nseen     uint32
	probes    uint32 // probe-like first contacts
	rejected  uint32 // contacts blocked by a security group or ACL
	verdict   trw.Verdict
	reason    string
	intel     *detect.ThreatMatch
	last      event.Time
	pending   []hit
	samples   []finding.Sample
}

func (s *source) firstContact(h uint64) bool {
	n := min(int(s.nseen), maxSeen)
	for i := 0; i < n; i++ {
		if s.seen[i] == h {
			return false
		}
	}
	s.seen[s.nseen%maxSeen] = h
	s.nseen++
	return true
}

type portKey struct {
	iface event.ID
	port  uint16
}

type portSources struct {
	hashes [8]uint64
	n      int
	last   event.Time
}

// target is an interface that probers reached: what its finding says,
// accumulated over every report, and what is new since the last one.
type target struct {
	ctx     event.Contact // the latest contact, for the resource's details
	hosts   map[netip.Addr]snapshot
	more    int // probers beyond maxHosts
	ports   []int
	samples []finding.Sample
	blocked bool // some prober was blocked before it got through
	reasons map[string]bool

	total int64 // open-port probes ever
	hits  []hit // new since the last report
	count int64
	first event.Time
	last  event.Time
}

// snapshot copies what a finding needs of a prober: the source table may
// evict the source or move it in memory.
type snapshot struct {
	probes, failures, successes, rejected, prior uint32
	intel                                        *detect.ThreatMatch
	confirmed                                    bool // a scanner by the walk, the probe count or a threat list
}

// Detector is the port probe detector.
type Detector struct {
	env      detect.Env
	th       detect.Tunables
	test     trw.Test
	minProbe uint32
	minSrc   int
	ttl      event.Time
	seed     maphash.Seed
	sources  *lru.Table[netip.Addr, source]
	sketch   *sketch.Sketch
	refused  uint64 // hosts not admitted to a full table
	friends  *lru.Table[netip.Addr, event.Time]
	ports    *lru.Table[portKey, portSources]
	targets  *lru.Table[event.ID, target]
	dirty    map[event.ID]bool // targets with hits since the last report
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
		env:      env,
		th:       th,
		test:     trw.New(p),
		minProbe: uint32(th.Get("min_probes")),
		minSrc:   int(th.Get("min_sources_per_port")),
		ttl:      event.Time(th.Get("source_ttl")),
		seed:     maphash.MakeSeed(),
		sources:  lru.New[netip.Addr, source](maxSrc, nil),
		sketch:   sketch.New(sketchBytes),
		friends:  lru.New[netip.Addr, event.Time](env.Cap(int(th.Get("max_sources")), 0.1, 300), nil),
		ports:    lru.New[portKey, portSources](env.Cap(int(th.Get("max_sources")), 0.1, 300), nil),
		targets:  lru.New[event.ID, target](env.Cap(100_000, 0.05, 4096), nil),
		dirty:    map[event.ID]bool{},
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
	var h maphash.Hash
	h.SetSeed(d.seed)
	b := a.As16()
	h.Write(b[:])
	h.WriteByte(byte(port >> 8))
	h.WriteByte(byte(port))
	return h.Sum64()
}

// Observe judges one contact.
func (d *Detector) Observe(rec event.Record, emit detect.Emit) {
	c, ok := rec.(*event.Contact)
	if !ok || c.Outcome == event.OutcomeUnknown {
		return
	}
	if !c.Inbound {
		// A host we contacted, and that answered, is a friend: its
		// traffic back to us is not probing.
		if !c.Outcome.Failed() {
			t, _ := d.friends.Put(c.Responder)
			*t = max(*t, c.End)
		}
		return
	}
	r := c.Initiator
	if event.Internal(r) {
		return
	}
	if d.friends.Peek(r) != nil {
		return
	}
	if d.env.Intel != nil && d.env.Intel.Trusted(r) {
		return
	}
	probeLike := c.Outcome.Failed() || c.Outcome == event.OutcomeEstablished
	s := d.sources.Get(r)
	if s == nil {
		var match *detect.ThreatMatch
		if d.env.Intel != nil {
			if m, ok := d.env.Intel.Threat(r); ok {
				match = &m
			}
		}
		var est uint8
		if probeLike {
			est = d.sketch.Add(r)
		}
		if d.sources.Len() >= d.sources.Cap() && est < 2 && match == nil {
			// A full table admits only hosts with a history of probing:
			// a flood of one-off spoofed sources cannot push out the
			// scanners it hides.
			d.refused++
			if probeLike && (c.Outcome == event.OutcomeEstablished) && !never[c.RPort] {
				d.notePort(c, r)
			}
			return
		}
		s, _ = d.sources.Put(r)
		if match != nil {
			s.intel = match
			s.verdict, s.reason = trw.Scanner, "threat list "+match.ListName
		}
		if est > 1 {
			// Probes made while the host was not tracked count as failed
			// first contacts: most probes fail.
			s.prior = uint32(est - 1)
			for range s.prior {
				s.failures++
				if s.verdict != trw.Scanner && d.test.Observe(&s.walk, false) == trw.Scanner {
					s.verdict, s.reason = trw.Scanner, "threshold random walk"
				}
			}
			s.probes += s.prior
		}
	} else if probeLike {
		d.sketch.Add(r)
	}
	s.last = max(s.last, c.End)
	if c.Outcome == event.OutcomeRejected {
		s.rejected++
	}
	first := d.firstContactOf(s, c)
	if first {
		if c.Outcome.Failed() {
			s.failures++
		} else {
			s.successes++
		}
		if s.verdict != trw.Scanner {
			v := d.test.Observe(&s.walk, !c.Outcome.Failed())
			if v == trw.Scanner {
				s.verdict, s.reason = trw.Scanner, "threshold random walk"
			}
		}
		if probeLike {
			s.probes++
			if s.verdict != trw.Scanner && s.probes >= d.minProbe {
				s.verdict, s.reason = trw.Scanner, "probe count"
			}
		}
		if len(s.samples) < maxSamples {
			s.samples = append(s.samples, contact.Sample(c))
		}
	}
	open := c.Outcome == event.OutcomeEstablished || c.Outcome == event.OutcomeData
	if !open || never[c.RPort] || c.Continued {
		return
	}
	h := hit{iface: c.Interface, t: c.Start, local: c.Local, port: c.RPort, rport: c.IPort, remote: r,
		origin: c.Origin, outcome: c.Outcome, fwd: sat32(c.Fwd.Packets), rev: sat32(c.Rev.Packets)}
	portProbed := false
	if probeLike {
		portProbed = d.notePort(c, r)
	}
	switch {
	case s.verdict == trw.Scanner:
		for _, p := range s.pending {
			d.add(p, s, nil)
		}
		s.pending = s.pending[:0]
		d.add(h, s, c)
	case portProbed:
		d.add(h, s, c)
	case probeLike && len(s.pending) < maxPending:
		s.pending = append(s.pending, h)
	}
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
// whether enough distinct hosts have now probed it.
func (d *Detector) notePort(c *event.Contact, r netip.Addr) bool {
	ps, _ := d.ports.Put(portKey{c.Interface, c.RPort})
	ps.last = max(ps.last, c.End)
	h := d.hash(r, 0)
	for i := 0; i < min(ps.n, len(ps.hashes)); i++ {
		if ps.hashes[i] == h {
			return ps.n >= d.minSrc
		}
	}
	ps.hashes[ps.n%len(ps.hashes)] = h
	ps.n++
	return ps.n >= d.minSrc
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
	t, created := d.targets.Put(h.iface)
	if created {
		t.hosts = map[netip.Addr]snapshot{}
		t.reasons = map[string]bool{}
	}
	if c != nil || created {
		if c != nil {
			t.ctx = *c
		} else {
			t.ctx = event.Contact{Interface: h.iface, Local: h.local, Inbound: true, Initiator: h.remote, Responder: h.local}
		}
	}
	if len(t.hits) == 0 {
		t.first, t.last = h.t, h.t
	}
	if len(t.hits) == maxReportHits {
		copy(t.hits, t.hits[1:])
		t.hits = t.hits[:maxReportHits-1]
	}
	t.hits = append(t.hits, h)
	t.count++
	t.total++
	t.first = min(t.first, h.t)
	t.last = max(t.last, h.t)
	snap := snapshot{probes: s.probes, failures: s.failures, successes: s.successes, rejected: s.rejected, prior: s.prior,
		intel: s.intel, confirmed: s.verdict == trw.Scanner}
	_, listed := t.hosts[h.remote]
	if !listed && len(t.hosts) >= maxHosts && snap.confirmed {
		// A confirmed scanner takes the place of a host that only probed
		// a port many others probed too (in a flood, thousands of them):
		// the finding must name the scanners.
		var victim netip.Addr
		for a, x := range t.hosts {
			if !x.confirmed && (!victim.IsValid() || a.Less(victim)) {
				victim = a
			}
		}
		if victim.IsValid() {
			delete(t.hosts, victim)
			t.more++
		}
	}
	if listed || len(t.hosts) < maxHosts {
		if !listed {
			for _, smp := range s.samples {
				t.addSample(smp)
			}
		}
		t.hosts[h.remote] = snap
	} else {
		t.more++
	}
	if i, ok := slices.BinarySearch(t.ports, int(h.port)); !ok && len(t.ports) < maxPorts {
		t.ports = slices.Insert(t.ports, i, int(h.port))
	}
	if len(t.samples) < maxTargetSamps {
		t.addSample(h.sample())
	}
	if s.rejected > 0 {
		t.blocked = true
	}
	reason := s.reason
	if reason == "" {
		reason = "several hosts probed the port"
	}
	t.reasons[reason] = true
	d.dirty[h.iface] = true
}

func (t *target) addSample(smp finding.Sample) {
	if len(t.samples) >= maxTargetSamps {
		return
	}
	for _, x := range t.samples {
		if x.Origin == smp.Origin {
			return
		}
	}
	t.samples = append(t.samples, smp)
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
		if t := d.targets.Peek(id); t != nil && t.count > 0 {
			emit(d.finding(t))
			t.hits, t.count = t.hits[:0], 0
		}
		delete(d.dirty, id)
	}
	if w == event.Forever {
		return
	}
	for {
		k, s, ok := d.sources.Oldest()
		if !ok || s.last+d.ttl > w {
			break
		}
		d.sources.Delete(k)
	}
	for {
		k, t, ok := d.friends.Oldest()
		if !ok || *t+d.ttl > w {
			break
		}
		d.friends.Delete(k)
	}
	for {
		k, p, ok := d.ports.Oldest()
		if !ok || p.last+d.ttl > w {
			break
		}
		d.ports.Delete(k)
	}
}

func (d *Detector) finding(t *target) *finding.Finding {
	c := &t.ctx
	account, region := c.Account.String(), c.Region.String()
	key := finding.Key{Account: account, Region: region, Resource: finding.ResourceID(c), Role: finding.RoleTarget}
	f := finding.New(finding.TypePortProbeUnprotectedPort, key, d.env.DetectorID(account, region),
		t.first.UTC(), t.last.UTC(), t.count)
	f.Resource.InstanceDetails = finding.InstanceFor(c)
	f.Resource.EcsClusterDetails = finding.ECSFor(c)

	// Details of this report: one per distinct (local address, port,
	// remote), in time order; the finding's merge keeps the latest 100
	// across reports.
	hits := slices.Clone(t.hits)
	slices.SortStableFunc(hits, func(a, b hit) int { return cmp.Compare(a.t, b.t) })
	type dk struct {
		local  netip.Addr
		port   uint16
		remote netip.Addr
	}
	seen := map[dk]bool{}
	var details []finding.PortProbeDetail
	for i := len(hits) - 1; i >= 0; i-- {
		h := hits[i]
		k := dk{h.local, h.port, h.remote}
		if seen[k] {
			continue
		}
		seen[k] = true
		details = append(details, finding.PortProbeDetail{
			LocalPortDetails: finding.Port(int(h.port)),
			LocalIPDetails:   finding.LocalIP(h.local),
			RemoteIPDetails:  finding.RemoteIP(h.remote),
		})
	}
	slices.Reverse(details)
	if len(details) > finding.MaxPortProbeDetails {
		details = details[len(details)-finding.MaxPortProbeDetails:]
	}
	f.Service.Action.PortProbeAction = &finding.PortProbeAction{Blocked: false, PortProbeDetails: details}

	sev := finding.SeverityLow
	if t.blocked {
		sev = finding.SeverityMedium
	}
	for _, p := range t.ports {
		if sensitive[uint16(p)] {
			sev = finding.SeverityHigh
		}
	}
	f.Severity = sev

	// Evidence and explanation, over everything the target has seen.
	remotes := make([]netip.Addr, 0, len(t.hosts))
	for a := range t.hosts {
		remotes = append(remotes, a)
	}
	// Confirmed scanners first, then by address.
	slices.SortFunc(remotes, func(a, b netip.Addr) int {
		if ca, cb := t.hosts[a].confirmed, t.hosts[b].confirmed; ca != cb {
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
		s := t.hosts[a]
		hosts = append(hosts, a.String())
		probes += int64(s.probes)
		failures += int64(s.failures)
		successes += int64(s.successes)
		rejected += int64(s.rejected)
		prior += int64(s.prior)
		if s.intel != nil {
			intel = append(intel, finding.ThreatIntelligenceDetail{ThreatListName: s.intel.ListName, ThreatNames: s.intel.ThreatNames, ThreatFileSha256: s.intel.FileSHA256})
		}
	}
	if len(intel) > 0 {
		f.Service.Evidence = &finding.Evidence{ThreatIntelligenceDetails: intel}
	}
	reasons := make([]string, 0, len(t.reasons))
	for r := range t.reasons {
		reasons = append(reasons, r)
	}
	slices.Sort(reasons)
	nhosts := len(remotes) + t.more
	exp := &finding.Explanation{
		Detector: ID,
		Summary: strconv.Itoa(nhosts) + " internet host(s) scanning the estate reached open port(s) " + joinInts(t.ports) +
			" of interface " + c.Interface.String() + " (decided by " + joinStrings(reasons) + ")",
		Thresholds: []finding.Threshold{
			{Name: "trw_failures_to_decide", Limit: float64(d.test.FailuresToDecide()), Observed: float64(failures), Unit: "failed first contacts", Crossed: failures >= int64(d.test.FailuresToDecide())},
			{Name: "min_probes", Limit: float64(d.minProbe), Observed: float64(probes), Unit: "probe-like contacts", Crossed: probes >= int64(d.minProbe)},
			{Name: "min_sources_per_port", Limit: float64(d.minSrc), Observed: float64(nhosts), Unit: "hosts", Crossed: nhosts >= d.minSrc},
		},
		Counts: map[string]int64{
			"open_port_probes":          t.total,
			"probe_like_contacts":       probes,
			"failed_first_contacts":     failures,
			"successful_first_contacts": successes,
			"rejected_contacts":         rejected,
			"remote_hosts":              int64(nhosts),
			"probes_before_tracking":    prior,
		},
		Ports:       slices.Clone(t.ports),
		Hosts:       hosts,
		Samples:     slices.Clone(t.samples),
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
		"port":     joinInts(t.ports),
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
