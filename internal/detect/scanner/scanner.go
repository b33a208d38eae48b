// Package scanner owns the per-initiator state that the scan detectors
// share: for each host that opens contacts, the set of (host, port) pairs
// it has contacted first, the Threshold Random Walk over how those first
// contacts went, and windowed distinct counts that tell a vertical port
// scan (many ports of one host) from a horizontal sweep (one port across
// many hosts).
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
	"picket/internal/finding"
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
	inits *lru.Table[netip.Addr, Initiator]
}

// New returns a tracker.
func New(cfg Config) *Tracker {
	return &Tracker{
		cfg:   cfg,
		test:  trw.New(cfg.Walk),
		inits: lru.New[netip.Addr, Initiator](cfg.MaxInitiators, nil),
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

// Target counts the first contacts of one host with one destination.
type Target struct {
	Addr netip.Addr
	// Walk and Verdict are the Threshold Random Walk over this target's
	// first contacts alone: a busy host's successes elsewhere must not
	// dilute a slow scan of one target.
	Walk      trw.State
	Verdict   trw.Verdict
	FirstFail event.Time // the first failed contact, the scan's likely start
	Samples   []finding.Sample
	Failures  uint32
	Successes uint32
	LastPort  uint16
	First     event.Time
	Last      event.Time
}

// Ports returns the distinct ports contacted since the target's slot was
// taken: each first contact with the target is a port not contacted
// before. (A false "seen" of the first-contact set, rare and only after
// thousands of pairs, leaves a port out.)
func (t *Target) Ports() int { return int(t.Failures + t.Successes) }

// Port counts the first contacts of one host with one port across
// destinations.
type Port struct {
	Port uint16
	// Walk and Verdict are the walk over this port's first contacts alone.
	Walk      trw.State
	Verdict   trw.Verdict
	FirstFail event.Time
	Samples   []finding.Sample
	Failures  uint32
	Successes uint32
	LastHost  netip.Addr
	First     event.Time
	Last      event.Time
}

// Hosts returns the distinct destinations contacted on the port since
// its slot was taken, as Target.Ports counts ports.
func (p *Port) Hosts() int { return int(p.Failures + p.Successes) }

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
	in, created := t.inits.Put(c.Initiator)
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
	obs.Target.Last = max(obs.Target.Last, c.End)
	obs.Port = in.port(c.RPort, c.Start, t.cfg.MaxPorts)
	obs.Port.LastHost = c.Responder
	obs.Port.Last = max(obs.Port.Last, c.End)
	if ok {
		obs.Target.Successes++
		obs.Port.Successes++
	} else {
		obs.Target.Failures++
		obs.Port.Failures++
		if obs.Target.FirstFail == 0 {
			obs.Target.FirstFail = c.Start
		}
		if obs.Port.FirstFail == 0 {
			obs.Port.FirstFail = c.Start
		}
		// Evidence: the failed contacts that make up a scan or sweep.
		if len(obs.Target.Samples) < maxTargetSamples {
			obs.Target.Samples = append(obs.Target.Samples, contact.Sample(c))
		}
		if len(obs.Port.Samples) < maxTargetSamples {
			obs.Port.Samples = append(obs.Port.Samples, contact.Sample(c))
		}
	}
	if obs.Target.Verdict != trw.Scanner && t.test.Observe(&obs.Target.Walk, ok) == trw.Scanner {
		obs.Target.Verdict = trw.Scanner
	}
	if obs.Port.Verdict != trw.Scanner && t.test.Observe(&obs.Port.Walk, ok) == trw.Scanner {
		obs.Port.Verdict = trw.Scanner
	}
	return obs
}

// Peek returns a host's state without changing it.
func (t *Tracker) Peek(a netip.Addr) *Initiator { return t.inits.Peek(a) }

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
	if len(in.Targets) >= max {
		// Forget the target seen least recently.
		i := 0
		for j := range in.Targets {
			if in.Targets[j].Last < in.Targets[i].Last {
				i = j
			}
		}
		in.Targets = slices.Delete(in.Targets, i, i+1)
	}
	in.Targets = append(in.Targets, Target{Addr: a, First: t, Last: t})
	return &in.Targets[len(in.Targets)-1]
}

func (in *Initiator) port(p uint16, t event.Time, max int) *Port {
	for i := range in.Ports {
		if in.Ports[i].Port == p {
			return &in.Ports[i]
		}
	}
	if len(in.Ports) >= max {
		i := 0
		for j := range in.Ports {
			if in.Ports[j].Last < in.Ports[i].Last {
				i = j
			}
		}
		in.Ports = slices.Delete(in.Ports, i, i+1)
	}
	in.Ports = append(in.Ports, Port{Port: p, First: t, Last: t})
	return &in.Ports[len(in.Ports)-1]
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

// pending is one report waiting for Advance, as saved.
type pending[K comparable, R any] struct {
	Key    K
	Report R
}

type savedState[K comparable, R any] struct {
	Hosts lru.Snapshot[netip.Addr, Initiator]
	Dirty []pending[K, R]
}

// SaveState encodes a tracker's hosts and a detector's reports waiting for
// Advance, for the detector's MarshalState.
func SaveState[K comparable, R any](t *Tracker, dirty map[K]*R) ([]byte, error) {
	st := savedState[K, R]{Hosts: t.inits.Snapshot()}
	for k, r := range dirty {
		st.Dirty = append(st.Dirty, pending[K, R]{k, *r})
	}
	return detect.EncodeState(st)
}

// LoadState restores what SaveState saved.
func LoadState[K comparable, R any](t *Tracker, dirty map[K]*R, b []byte) error {
	var st savedState[K, R]
	if err := detect.DecodeState(b, &st); err != nil {
		return err
	}
	t.inits.Restore(st.Hosts)
	clear(dirty)
	for _, p := range st.Dirty {
		r := p.Report
		dirty[p.Key] = &r
	}
	return nil
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
