// Package scanner owns the detectors of the estate's hosts that scan:
// portscan (Recon:EC2/Portscan, many ports of one host) and portsweep
// (Impact:EC2/PortSweep, one port across many hosts), and the one
// per-initiator state both read. Only detect/all imports it.
//
// The Tracker holds, for each host that opens contacts, the set of
// (host, port) pairs it has contacted first, the Threshold Random Walk
// over how those first contacts went, and counts per target and per port
// that tell a vertical port scan (many ports of one host) from a
// horizontal sweep (one port across many hosts). A scanner is a host
// whose first contacts fail often enough that the walk decides it is
// scanning; a scan is such a host reaching min_ports distinct ports of
// one target, a sweep min_hosts distinct hosts on one port, most of those
// contacts failing. Clients of many servers on one port (a NAT gateway, a
// crawler, a load balancer's health checks) and of many ports of one
// server succeed far more often than they fail and stay quiet. A finding
// is about the scanning instance (resource role ACTOR) when its flow logs
// are among the inputs; when only the target's are, about the target
// (role TARGET), naming the scanner.
//
// The two detectors are one family over one tracker, built together by
// New. The engine, the configuration and `picket detectors` know each by
// its ID, thresholds and finding type, and either may be disabled. The
// first that runs is the Detector: it observes each contact once, keeps
// the reports of both finding types, reports the tracker's table in
// State and saves it in MarshalState. The other, when both run, is an
// alias that only names its detector. The tracker's own settings
// (trw_theta0, trw_theta1, host_ttl, max_hosts) are one setting of the
// family: a value given to either detector holds for both, and two
// different values are a configuration error.
//
// Memory per host is small and bounded whatever the host does: the
// first-contact set is exact for the first few dozen pairs and becomes a
// fixed 8 KiB bitmap after that. A target's and a port's counts are
// taken only on first contacts, so the distinct ports of a target and
// hosts on a port are their failures plus successes, with no set of
// their own. The number of hosts and of targets and ports per host are
// capped, evictions counted.
package scanner

import (
	"net/netip"
	"slices"

	"picket/internal/detect"
	"picket/internal/detect/contact"
	"picket/internal/detect/trw"
	"picket/internal/event"
	"picket/internal/lru"
	"picket/internal/sketch"
)

// Config sizes a tracker.
type Config struct {
	Walk          trw.Params
	MaxInitiators int        // hosts tracked at once
	MaxTargets    int        // targets counted per host (most recent kept)
	MaxPorts      int        // ports counted per host (most recent kept)
	TTL           event.Time // forget a host idle this long
}

// Tracker tracks initiators.
type Tracker struct {
	cfg   Config
	test  trw.Test
	inits *lru.Table[HostKey, Initiator]
}

// HostKey names a host: its address in an account. Accounts reuse
// private address space (every default VPC is 172.31.0.0/16), and each
// account's detector judges only its own logs, as GuardDuty's does, so
// hosts of two accounts are two hosts whatever their addresses.
type HostKey struct {
	Account event.ID
	Addr    netip.Addr
}

// NewTracker returns a tracker.
func NewTracker(cfg Config) *Tracker {
	return &Tracker{
		cfg:   cfg,
		test:  trw.New(cfg.Walk),
		inits: lru.New[HostKey, Initiator](cfg.MaxInitiators, nil),
	}
}

// Test returns the walk's test, for explanations.
func (t *Tracker) Test() trw.Test { return t.test }

// Stats describes the tracker's table.
func (t *Tracker) Stats(name string) detect.StateStats {
	return detect.StateStats{Table: name, Len: t.inits.Len(), Cap: t.inits.Cap(), Evicted: t.inits.Evicted()}
}

// Initiator is what is known about one host that opens contacts.
type Initiator struct {
	Walk      trw.State
	Verdict   trw.Verdict
	Failures  uint32 // failed first contacts, counted past the verdict
	Successes uint32
	First     event.Time
	Last      event.Time
	// Ctx is the latest contact the host made from one of the estate's
	// interfaces (for the finding's resource), and HasCtx says whether
	// there is one.
	Ctx    event.Contact
	HasCtx bool
	Seen   contactSet
	// Closed holds the (destination, port) pairs whose first contact was
	// refused, ClosedPairs counts them, and Reasked counts later
	// contacts with those pairs, from other source ports, that were
	// refused again (see Polling). Asked holds the (destination, port,
	// source port) of refused contacts, so that one connection seen by
	// both ends' interfaces counts once.
	Closed      contactSet
	Asked       contactSet
	ClosedPairs uint32
	Reasked     uint32
	Targets     []Target // by most recent contact, newest last
	Ports       []Port
	// Reported are the findings already raised for this host, by
	// whatever key the detector uses, so it reports only what is new.
	Reported map[string]event.Time
}

// Counts are a host's first contacts with one target, or on one port
// across targets.
type Counts struct {
	// Walk and Verdict are the Threshold Random Walk over these first
	// contacts alone: a busy host's successes elsewhere must not dilute a
	// slow scan of one target.
	Walk      trw.State
	Verdict   trw.Verdict
	FirstFail event.Time // the first failed contact, the scan's likely start
	// Evidence holds the first failed contacts, for the finding's
	// samples; most targets and ports never make one, so they are kept
	// as contact.Evidence, which took the state of 500,000 contacts of
	// BenchmarkScanDetectorsState from 10.7 to 10.0 MiB and its saved
	// form from 856 to 785 KiB against their text. A state saved when
	// they were kept as text (the field Samples) restores without them,
	// and its counts and walks intact.
	Evidence  []contact.Evidence
	Failures  uint32
	Successes uint32
	First     event.Time
	Last      event.Time
}

// Distinct returns the distinct pairs counted since the slot was taken:
// each first contact with a target is a port not contacted before, and
// each on a port a host not contacted before. (A false "seen" of the
// first-contact set, rare and only after thousands of pairs, leaves one
// out.)
func (n *Counts) Distinct() int { return int(n.Failures + n.Successes) }

// counts gives room the counts of a Target or a Port.
func (n *Counts) counts() *Counts { return n }

// Target counts the first contacts of one host with one destination.
type Target struct {
	Addr     netip.Addr
	LastPort uint16
	Counts
}

// Ports returns the distinct ports contacted since the target's slot was
// taken.
func (t *Target) Ports() int { return t.Distinct() }

// Port counts the first contacts of one host with one port across
// destinations.
type Port struct {
	Port     uint16
	LastHost netip.Addr
	Counts
}

// Hosts returns the distinct destinations contacted on the port since
// its slot was taken.
func (p *Port) Hosts() int { return p.Distinct() }

// Observation is what Observe learned from one contact.
type Observation struct {
	Init   *Initiator // valid until the tracker is next changed
	First  bool       // the contact was the host's first with (destination, port)
	Target *Target
	Port   *Port
}

// Observe records a contact made by initiator. The contact is judged a
// success (established, data) or a failure (rejected, unanswered,
// refused); contacts of unknown outcome are ignored. local says whether
// the initiator is an interface of the estate (its contact then becomes
// the host's context).
func (t *Tracker) Observe(c *event.Contact, local bool) Observation {
	if c.Outcome == event.OutcomeUnknown {
		return Observation{}
	}
	in, created := t.inits.Put(HostKey{c.Account, c.Initiator})
	if created {
		in.First = c.Start
		in.Reported = map[string]event.Time{}
	}
	in.Last = max(in.Last, c.End)
	if local {
		in.Ctx = *c
		in.HasCtx = true
	}
	obs := Observation{Init: in}
	ok := !c.Outcome.Failed()
	h := t.pairHash(c.Responder, c.RPort)
	if !in.Seen.add(h) {
		if c.Outcome == event.OutcomeRefused && in.Closed.has(h) && in.Asked.add(t.connHash(c)) {
			in.Reasked++
		}
		return obs
	}
	if c.Outcome == event.OutcomeRefused {
		in.Closed.add(h)
		in.Asked.add(t.connHash(c))
		in.ClosedPairs++
	}
	obs.First = true
	if ok {
		in.Successes++
	} else {
		in.Failures++
	}
	if in.Verdict != trw.Scanner {
		if v := t.test.Observe(&in.Walk, ok); v == trw.Scanner {
			in.Verdict = trw.Scanner
		}
	}
	obs.Target = in.target(c.Responder, c.Start, t.cfg.MaxTargets)
	obs.Target.LastPort = c.RPort
	obs.Port = in.port(c.RPort, c.Start, t.cfg.MaxPorts)
	obs.Port.LastHost = c.Responder
	t.count(&obs.Target.Counts, c, ok)
	t.count(&obs.Port.Counts, c, ok)
	return obs
}

// count adds a first contact to a target's or a port's counts.
func (t *Tracker) count(n *Counts, c *event.Contact, ok bool) {
	n.Last = max(n.Last, c.End)
	if ok {
		n.Successes++
	} else {
		n.Failures++
		if n.FirstFail == 0 {
			n.FirstFail = c.Start
		}
		// Evidence: the failed contacts that make up a scan or sweep.
		if len(n.Evidence) < maxTargetSamples {
			n.Evidence = append(n.Evidence, contact.EvidenceOf(c))
		}
	}
	if n.Verdict != trw.Scanner && t.test.Observe(&n.Walk, ok) == trw.Scanner {
		n.Verdict = trw.Scanner
	}
}

// Peek returns a host's state without changing it.
func (t *Tracker) Peek(k HostKey) *Initiator { return t.inits.Peek(k) }

// Expire forgets hosts idle since before w - TTL.
func (t *Tracker) Expire(w event.Time) {
	for {
		k, in, ok := t.inits.Oldest()
		if !ok || in.Last+t.cfg.TTL > w {
			return
		}
		t.inits.Delete(k)
	}
}

func (in *Initiator) target(a netip.Addr, t event.Time, max int) *Target {
	for i := range in.Targets {
		if in.Targets[i].Addr == a {
			return &in.Targets[i]
		}
	}
	in.Targets = append(room(in.Targets, max), Target{Addr: a, Counts: Counts{First: t, Last: t}})
	return &in.Targets[len(in.Targets)-1]
}

// port is target's twin for the host's ports: the two lookups differ
// only in the field they match.
func (in *Initiator) port(p uint16, t event.Time, max int) *Port {
	for i := range in.Ports {
		if in.Ports[i].Port == p {
			return &in.Ports[i]
		}
	}
	in.Ports = append(room(in.Ports, max), Port{Port: p, Counts: Counts{First: t, Last: t}})
	return &in.Ports[len(in.Ports)-1]
}

// room makes room for one more slot: when s holds max, it forgets the
// slot seen least recently.
func room[T any, P interface {
	*T
	counts() *Counts
}](s []T, max int) []T {
	if len(s) < max {
		return s
	}
	i := 0
	for j := range s {
		if P(&s[j]).counts().Last < P(&s[i]).counts().Last {
			i = j
		}
	}
	return slices.Delete(s, i, i+1)
}

// maxTargetSamples is how many failed contacts each target and port keep
// as evidence.
const maxTargetSamples = 6

// connHash identifies one connection of the host: destination, port and
// the host's own port.
func (t *Tracker) connHash(c *event.Contact) uint64 {
	return sketch.Hash(sketch.DefaultSeed, c.Responder, uint64(c.RPort)<<16|uint64(c.IPort))
}

func (t *Tracker) pairHash(a netip.Addr, port uint16) uint64 {
	return sketch.Hash(sketch.DefaultSeed, a, uint64(port))
}

// contactSet remembers first contacts: exactly, up to smallSet pairs, then
// in an 8 KiB bitmap (a false "seen" after thousands of pairs only skips a
// contact the walk has no need of).
type contactSet struct {
	Small []uint64
	Big   []uint64 // 1024 words = 65,536 bits, once Small overflows
}

const smallSet = 48

func (s *contactSet) add(h uint64) bool {
	if s.Big == nil {
		for _, x := range s.Small {
			if x == h {
				return false
			}
		}
		if len(s.Small) < smallSet {
			s.Small = append(s.Small, h)
			return true
		}
		s.Big = make([]uint64, 1024)
		for _, x := range s.Small {
			s.setBit(x)
		}
		s.Small = nil
	}
	return s.setBit(h)
}

// has reports whether h was added.
func (s *contactSet) has(h uint64) bool {
	if s.Big == nil {
		for _, x := range s.Small {
			if x == h {
				return true
			}
		}
		return false
	}
	i := h & 0xffff
	return s.Big[i>>6]&(1<<(i&63)) != 0
}

func (s *contactSet) setBit(h uint64) bool {
	i := h & 0xffff
	w, b := i>>6, uint64(1)<<(i&63)
	if s.Big[w]&b != 0 {
		return false
	}
	s.Big[w] |= b
	return true
}

// FailureRatio returns the share of failures among first contacts.
func FailureRatio(failures, successes uint32) float64 {
	if failures+successes == 0 {
		return 0
	}
	return float64(failures) / float64(failures+successes)
}

// Polling reports whether the host asks again about ports it already
// knows to be closed, at least once per closed port on average: what a
// health checker or a monitor does, every interval, with a service that
// is down. A scanner has its answer at the first reset and moves on
// (nmap, masscan and zmap retry only probes that got no answer), so a
// port scan or sweep by this host is a monitor's work, not
// reconnaissance.
//
// A monitor's list of checks is short, and an attacker who scans the same
// host twice also asks again about closed ports; so a host that found
// more closed ports than nmap's shortest port list (-F, 100 ports) is
// never taken for a monitor.
func (in *Initiator) Polling() bool {
	return in.ClosedPairs > 0 && in.ClosedPairs < maxPolledPorts && in.Reasked >= in.ClosedPairs
}

// maxPolledPorts bounds the closed (destination, port) pairs of a host
// that Polling may call a monitor.
const maxPolledPorts = 100
