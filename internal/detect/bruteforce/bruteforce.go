// Package bruteforce owns the password-guessing detectors:
// UnauthorizedAccess:EC2/SSHBruteForce (port 22),
// UnauthorizedAccess:EC2/RDPBruteForce (3389) and
// Impact:EC2/WinRMBruteForce (5985, 5986).
//
// A login attempt over these protocols is a short connection that is set
// up, exchanges a few kilobytes of handshake and authentication, and
// closes. Password guessing repeats it: many such sessions from one host
// to one service within a window, or spread over many targets. An
// administrator's sessions are long and carry data; a client retrying a
// port it cannot reach never sets up a connection; neither counts. The
// finding is about the instance that is attacked (resource role TARGET,
// Low severity, all attackers folded into one finding per instance and
// protocol, naming the latest) or about the instance of ours that attacks
// others (ACTOR, High severity: it is likely compromised).
package bruteforce

import (
	"net/netip"
	"slices"
	"strconv"

	"picket/internal/detect"
	"picket/internal/detect/contact"
	"picket/internal/event"
	"picket/internal/finding"
	"picket/internal/lru"
)

// ID is the detector's ID.
const ID = "bruteforce"

// Thresholds are the detector's tunables.
var Thresholds = detect.Tunables{
	{Name: "min_attempts", Unit: "sessions", Default: 20, Min: 2, Max: 1e6,
		Doc: "short sessions from one host to one service (or, spread over several targets, to the same service) within window; password-guessing tools make hundreds a minute, a person a handful"},
	{Name: "window", Unit: "seconds", Default: 3600, Min: 60, Max: 7 * 86400,
		Doc: "the window over which attempts are counted; an hour catches guessing paced at one attempt every three minutes"},
	{Name: "max_session_seconds", Unit: "seconds", Default: 60, Min: 1, Max: 3600,
		Doc: "longest session that counts as one login attempt"},
	{Name: "min_client_bytes", Unit: "bytes", Default: 1000, Min: 0, Max: 1 << 20,
		Doc: "fewest bytes the client must send in a session for it to count as an attempt: a login exchanges keys and credentials (an SSH key exchange alone is over a kilobyte), while a port probe or a health check's connect-and-close sends a few hundred bytes of headers"},
	{Name: "max_session_bytes", Unit: "bytes", Default: 32768, Min: 512, Max: 1 << 30,
		Doc: "most bytes either side may send in a session that counts as an attempt: a failed login exchanges a few kilobytes, a working session more"},
	{Name: "min_spray_targets", Unit: "hosts", Default: 3, Min: 2, Max: 1e6,
		Doc: "distinct targets over which min_attempts may be spread and still count as one host guessing passwords"},
	{Name: "max_pairs", Unit: "pairs", Default: 100_000, Min: 10, Max: 1e7,
		Doc: "(attacker, target, service) pairs tracked at once, about 100 bytes each; the least recently seen are evicted and counted"},
}

// service is a protocol that takes passwords.
type service uint8

const (
	svcNone service = iota
	svcSSH
	svcRDP
	svcWinRM
)

func serviceOf(port uint16) service {
	switch port {
	case 22:
		return svcSSH
	case 3389:
		return svcRDP
	case 5985, 5986:
		return svcWinRM
	}
	return svcNone
}

var typeOf = [...]string{svcSSH: finding.TypeSSHBruteForce, svcRDP: finding.TypeRDPBruteForce, svcWinRM: finding.TypeWinRMBruteForce}
var nameOf = [...]string{svcSSH: "SSH", svcRDP: "RDP", svcWinRM: "WinRM"}

type pairKey struct {
	Attacker netip.Addr
	Target   netip.Addr
	Svc      service
}

type pair struct {
	// Recent holds the client ports of the latest attempts: a connection
	// between two interfaces of the estate is recorded at both, and must
	// count once.
	Recent   [16]uint16
	Nrecent  int
	Attempts uint32
	Blocked  uint32
	Since    event.Time // start of the current window
	Last     event.Time
}

type sprayKey struct {
	Attacker netip.Addr
	Svc      service
}

type spray struct {
	Attempts uint32
	Targets  [8]netip.Addr
	Ntargets int
	Since    event.Time
	Last     event.Time
}

// report is what the next finding about a (resource, role, service)
// says.
type report struct {
	Svc      service
	Role     string
	Ctx      event.Contact // the attacked or attacking interface's contact
	Attempts int64
	First    event.Time
	Last     event.Time
	Attacker netip.Addr
	Target   netip.Addr
	Port     uint16
	PairAtt  uint32
	Blocked  uint32
	Targets  int
	Samples  []finding.Sample
}

// Detector is the brute force detector.
type Detector struct {
	env         detect.Env
	th          detect.Tunables
	minAttempts uint32
	window      event.Time
	maxSecs     event.Time
	maxBytes    uint64
	minClient   uint64
	minTargets  int
	pairs       *lru.Table[pairKey, pair]
	sprays      *lru.Table[sprayKey, spray]
	reports     map[string]*report
	reported    map[string]bool // keys reported before: later reports add to their count
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
	n := env.Keys(int(th.Get("max_pairs")))
	// Measured: about 320 bytes a pair and 400 a spray with their share of
	// the tables' maps.
	pairs := env.Cap(n, 0.5, 320)
	sprays := env.Cap(n, 0.5, 400)
	return &Detector{
		env: env, th: th,
		minAttempts: uint32(th.Get("min_attempts")),
		window:      event.Time(th.Get("window")),
		maxSecs:     event.Time(th.Get("max_session_seconds")),
		maxBytes:    uint64(th.Get("max_session_bytes")),
		minClient:   uint64(th.Get("min_client_bytes")),
		minTargets:  int(th.Get("min_spray_targets")),
		pairs:       lru.New[pairKey, pair](pairs, nil),
		sprays:      lru.New[sprayKey, spray](sprays, nil),
		reports:     map[string]*report{},
		reported:    map[string]bool{},
	}, nil
}

// Definition describes the detector.
func (d *Detector) Definition() detect.Definition {
	return detect.Definition{
		ID:           ID,
		Summary:      "repeated short login sessions to SSH, RDP or WinRM, against the estate or from it",
		FindingTypes: []string{finding.TypeSSHBruteForce, finding.TypeRDPBruteForce, finding.TypeWinRMBruteForce},
		Subscribes:   []event.Kind{event.KindContact},
		Thresholds:   d.th,
	}
}

// State reports the detector's tables.
func (d *Detector) State() []detect.StateStats {
	return []detect.StateStats{
		{Table: "pairs", Len: d.pairs.Len(), Cap: d.pairs.Cap(), Evicted: d.pairs.Evicted()},
		{Table: "sprays", Len: d.sprays.Len(), Cap: d.sprays.Cap(), Evicted: d.sprays.Evicted()},
	}
}

// attempt reports whether a contact looks like one login attempt.
func (d *Detector) attempt(c *event.Contact) bool {
	if c.Outcome != event.OutcomeEstablished && c.Outcome != event.OutcomeData {
		return false
	}
	return c.End-c.Start <= d.maxSecs && c.Fwd.Bytes >= d.minClient && c.Fwd.Bytes <= d.maxBytes && c.Rev.Bytes <= d.maxBytes
}

// Observe counts one contact.
func (d *Detector) Observe(rec event.Record, _ detect.Emit) {
	c, ok := rec.(*event.Contact)
	if !ok || c.Protocol != event.ProtoTCP {
		return
	}
	svc := serviceOf(c.RPort)
	if svc == svcNone || c.Outcome == event.OutcomeUnknown || c.Continued {
		return // a later part of a connection is no new attempt
	}
	if d.env.Intel != nil && (d.env.Intel.Trusted(c.Initiator) || d.env.Intel.Trusted(c.Responder)) {
		return
	}
	pk := pairKey{c.Initiator, c.Responder, svc}
	p, _ := d.pairs.Put(pk)
	if p.Since == 0 || c.Start-p.Since > d.window {
		*p = pair{Since: c.Start}
	}
	p.Last = max(p.Last, c.End)
	if c.Outcome == event.OutcomeRejected {
		p.Blocked++
		return
	}
	if !d.attempt(c) {
		return
	}
	sk := sprayKey{c.Initiator, svc}
	if slices.Contains(p.Recent[:min(p.Nrecent, len(p.Recent))], c.IPort) {
		// The same connection, seen at the other end: it counts once,
		// but that end's instance has a finding of its own.
		if s := d.sprays.Peek(sk); s != nil && (p.Attempts >= d.minAttempts || s.Attempts >= d.minAttempts && s.Ntargets >= d.minTargets) {
			d.note(c, svc, p, s)
		}
		return
	}
	p.Recent[p.Nrecent%len(p.Recent)] = c.IPort
	p.Nrecent++
	p.Attempts++
	s, _ := d.sprays.Put(sk)
	if s.Since == 0 || c.Start-s.Since > d.window {
		*s = spray{Since: c.Start}
	}
	s.Attempts++
	s.Last = max(s.Last, c.End)
	if !slices.Contains(s.Targets[:min(s.Ntargets, len(s.Targets))], c.Responder) {
		s.Targets[s.Ntargets%len(s.Targets)] = c.Responder
		s.Ntargets++
	}
	pairHit := p.Attempts >= d.minAttempts
	sprayHit := s.Attempts >= d.minAttempts && s.Ntargets >= d.minTargets
	if !pairHit && !sprayHit {
		return
	}
	d.note(c, svc, p, s)
}

// note adds an attempt to the report of the resource it concerns.
func (d *Detector) note(c *event.Contact, svc service, p *pair, s *spray) {
	role := finding.RoleTarget
	if !c.Inbound {
		role = finding.RoleActor
	}
	key := strconv.Itoa(int(svc)) + role + c.Interface.String()
	r := d.reports[key]
	if r == nil {
		r = &report{Svc: svc, Role: role, First: c.Start}
		d.reports[key] = r
		if !d.reported[key] {
			// The first report counts every attempt of the window.
			d.reported[key] = true
			r.Attempts = int64(max(p.Attempts, s.Attempts)) - 1
			r.First = min(p.Since, s.Since)
		}
	}
	r.Ctx = *c
	r.Attempts++
	r.First = min(r.First, c.Start)
	r.Last = max(r.Last, c.End)
	r.Attacker, r.Target, r.Port = c.Initiator, c.Responder, c.RPort
	r.PairAtt, r.Blocked, r.Targets = p.Attempts, p.Blocked, s.Ntargets
	if len(r.Samples) < 5 {
		r.Samples = append(r.Samples, contact.Sample(c))
	}
}

// Advance reports what was noted and forgets pairs idle past the window.
func (d *Detector) Advance(w event.Time, emit detect.Emit) {
	keys := make([]string, 0, len(d.reports))
	for k := range d.reports {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		emit(d.finding(d.reports[k]))
		delete(d.reports, k)
	}
	if w == event.Forever {
		return
	}
	for {
		k, p, ok := d.pairs.Oldest()
		if !ok || p.Last+d.window > w {
			break
		}
		d.pairs.Delete(k)
	}
	for {
		k, s, ok := d.sprays.Oldest()
		if !ok || s.Last+d.window > w {
			break
		}
		d.sprays.Delete(k)
	}
}

func (d *Detector) finding(r *report) *finding.Finding {
	c := &r.Ctx
	account, region := c.Account.String(), c.Region.String()
	typ := typeOf[r.Svc]
	k := finding.Key{Account: account, Region: region, Resource: finding.ResourceID(c), Role: r.Role}
	f := finding.New(typ, k, d.env.DetectorID(account, region), r.First.UTC(), r.Last.UTC(), r.Attempts)
	f.Resource.InstanceDetails = finding.InstanceFor(c)
	f.Resource.EcsClusterDetails = finding.ECSFor(c)
	remote := r.Attacker
	f.Severity = finding.SeverityLow
	if r.Role == finding.RoleActor {
		remote = r.Target
		f.Severity = finding.SeverityHigh
	}
	f.Service.Action.NetworkConnectionAction = contact.Connection(c, r.Role == finding.RoleActor, c.Interface)
	exp := &finding.Explanation{
		Detector: ID,
		Summary: r.Attacker.String() + " opened " + strconv.Itoa(int(r.PairAtt)) + " short " + nameOf[r.Svc] + " sessions to " + r.Target.String() +
			" within " + strconv.Itoa(int(d.window)) + " s",
		Thresholds: []finding.Threshold{
			{Name: "min_attempts", Limit: float64(d.minAttempts), Observed: float64(r.PairAtt), Unit: "sessions", Crossed: r.PairAtt >= d.minAttempts},
			{Name: "min_spray_targets", Limit: float64(d.minTargets), Observed: float64(r.Targets), Unit: "hosts", Crossed: r.Targets >= d.minTargets},
		},
		Counts: map[string]int64{
			"attempts_reported":  r.Attempts,
			"attempts_to_target": int64(r.PairAtt),
			"blocked_attempts":   int64(r.Blocked),
			"targets":            int64(r.Targets),
		},
		Ports:       []int{int(r.Port)},
		Hosts:       []string{r.Attacker.String(), r.Target.String()},
		Samples:     r.Samples,
		NetworkPath: contact.NetworkPath(c),
	}
	f.Service.AdditionalInfo = &finding.AdditionalInfo{Explanation: exp}
	t, _ := finding.Lookup(typ)
	vars := map[string]string{
		"resource": finding.ResourceLabel(c),
		"remote":   remote.String(),
		"detail":   strconv.Itoa(int(r.PairAtt)) + " sessions to " + r.Target.String() + " in the window",
	}
	if r.Role == finding.RoleActor {
		// Our instance is the attacker: say so first.
		f.Title = finding.Text("{resource} is performing "+nameOf[r.Svc]+" brute force attacks against {remote}.", vars)
		f.Description = finding.Text("{resource} is repeatedly opening short "+nameOf[r.Svc]+" sessions to {remote} ({detail}); it may be compromised and guessing passwords.", vars)
	} else {
		f.Title = finding.Text(t.Title, vars)
		f.Description = finding.Text(t.Description, vars)
	}
	return f
}

type detectorState struct {
	Pairs    lru.Snapshot[pairKey, pair]
	Sprays   lru.Snapshot[sprayKey, spray]
	Reports  map[string]report
	Reported []string
}

var _ detect.Snapshotter = (*Detector)(nil)

// MarshalState saves the counted attempts and the reports not yet made.
func (d *Detector) MarshalState() ([]byte, error) {
	st := detectorState{Pairs: d.pairs.Snapshot(), Sprays: d.sprays.Snapshot(), Reports: map[string]report{}}
	for k, r := range d.reports {
		st.Reports[k] = *r
	}
	for k := range d.reported {
		st.Reported = append(st.Reported, k)
	}
	return detect.EncodeState(st)
}

// UnmarshalState restores them.
func (d *Detector) UnmarshalState(b []byte) error {
	var st detectorState
	if err := detect.DecodeState(b, &st); err != nil {
		return err
	}
	d.pairs.Restore(st.Pairs)
	d.sprays.Restore(st.Sprays)
	clear(d.reports)
	for k, r := range st.Reports {
		r := r
		d.reports[k] = &r
	}
	clear(d.reported)
	for _, k := range st.Reported {
		d.reported[k] = true
	}
	return nil
}
