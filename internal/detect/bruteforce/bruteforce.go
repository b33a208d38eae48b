// Package bruteforce owns the password-guessing detectors:
// UnauthorizedAccess:EC2/SSHBruteForce (port 22),
// UnauthorizedAccess:EC2/RDPBruteForce (3389) and
// Impact:EC2/WinRMBruteForce (5985, 5986).
//
// It counts password guesses, not connections. Each contact to a login
// port is judged from what flow logs keep of it (segments, bytes and TCP
// flags per direction, duration, outcome): a connect-and-close that sends
// no payload is no attempt; an SSH session in which the client sent no
// more than its identification string stopped before authentication (a
// banner bot or a banner grab); an SSH session that went further carries
// one guess, and one more for each request-and-failure increment (one
// segment and a minimal USERAUTH_REQUEST from the client, one segment and
// a USERAUTH_FAILURE from the server, RFC 4252) by which it exceeds the
// lightest session of the same client to the same server, up to what a
// server allows on one connection (see session.go). Sessions that look
// like working logins (long, heavy, or a server that said more than a
// failing one can) are counted apart and never add up to a finding. RDP
// and WinRM sessions carry one guess each.
//
// Guesses are summed per (attacker, target, service) over a window, and
// per (attacker, service) across targets for password spraying. Sessions
// that stopped before authentication count for one target only, and only
// when they come in a burst that monitoring's polls never make. The
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

// Thresholds are the detector's tunables. The reasoning behind each
// default is in docs/detectors/bruteforce.md.
var Thresholds = detect.Tunables{
	{Name: "min_guesses", Unit: "guesses", Default: 20, Min: 2, Max: 1e6,
		Doc: "estimated password guesses from one host to one service (or, spread over min_spray_targets targets, to the same service) within window. " +
			"Zeek's SSH::password_guesses_limit is 30 failed connections in 30 minutes and fail2ban's sshd jail 5 failures in 10 minutes; " +
			"20 guesses is more than three connections' worth at OpenSSH's MaxAuthTries of 6, far more than a person mistyping, and a few seconds of hydra's work"},
	{Name: "window", Unit: "seconds", Default: 3600, Min: 60, Max: 7 * 86400,
		Doc: "the window over which guesses are counted; an hour catches guessing paced at one guess every three minutes, twice Zeek's SSH::guessing_timeout of 30 minutes"},
	{Name: "max_guesses_per_session", Unit: "guesses", Default: 6, Min: 1, Max: 100,
		Doc: "most guesses one SSH connection is credited with: OpenSSH's MaxAuthTries (default 6) disconnects a client after that many failures " +
			"(Dropbear allows 10, Windows' OpenSSH 6); it bounds what a misjudged session can add"},
	{Name: "max_session_seconds", Unit: "seconds", Default: 120, Min: 1, Max: 3600,
		Doc: "longest session that counts as login attempts: sshd drops a connection that has not authenticated within LoginGraceTime (120 s by default), " +
			"so a failing session never lasts longer; an administrator's session does"},
	{Name: "max_session_bytes", Unit: "bytes", Default: 32768, Min: 512, Max: 1 << 30,
		Doc: "most bytes either side may send in a session that counts as login attempts: a failed SSH, RDP (NLA) or WinRM login exchanges a few kilobytes of handshake and credentials, a working session more"},
	{Name: "ssh_login_server_bytes", Unit: "bytes", Default: 4000, Min: 512, Max: 1 << 30,
		Doc: "payload the SSH server may send in a failing session: its identification string, KEXINIT (about 1.1 KB), key exchange reply with host key and signature " +
			"(0.5 KB with curve25519, up to 2.3 KB with ML-KEM and an RSA-4096 key), EXT_INFO and one USERAUTH_FAILURE of about 50 bytes per guess stay under it; " +
			"a server that sends more has sent what follows a success (host keys, channel replies, command output) and the session is a login, not a guess. " +
			"Bro's SSH analyzer used the same test (authentication_data_size, 4000 bytes)"},
	{Name: "min_client_bytes", Unit: "bytes", Default: 1000, Min: 0, Max: 1 << 20,
		Doc: "fewest bytes an RDP or WinRM client must send in a session for it to count as a guess: a login carries a TLS handshake and NTLM or CredSSP credentials (over a kilobyte), " +
			"a port probe or a health check's connect-and-close a few hundred bytes of headers (SSH sessions are judged by payload instead: see the doc)"},
	{Name: "min_probe_burst", Unit: "sessions", Default: 20, Min: 2, Max: 1e6,
		Doc: "sessions from one host to one service within two adjacent minutes before its SSH sessions that stopped at the identification string count as attempts: " +
			"banner bots reconnect as fast as the server answers, while monitoring that checks the banner polls on a period (Prometheus' blackbox exporter every 15 s is 8 in two minutes, Nagios' check_ssh every minute 2)"},
	{Name: "min_spray_targets", Unit: "hosts", Default: 3, Min: 2, Max: 1e6,
		Doc: "distinct targets over which min_guesses may be spread and still count as one host guessing passwords"},
	{Name: "max_pairs", Unit: "pairs", Default: 100_000, Min: 10, Max: 1e7,
		Doc: "(attacker, target, service) pairs tracked at once, about 350 bytes each with their share of the table; the least recently seen are evicted and counted"},
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

// The keys are per account: accounts reuse private address space, and
// each account's detector judges only its own logs, as GuardDuty's does.
type pairKey struct {
	Account  event.ID
	Attacker netip.Addr
	Target   netip.Addr
	Svc      service
}

// pair is what one host did to one service of one target within the
// window.
type pair struct {
	// Recent holds the client ports of the latest sessions: a connection
	// between two interfaces of the estate is recorded at both, and must
	// count once.
	Recent   [16]uint16
	Nrecent  int
	Guesses  uint32 // estimated guesses in sessions that reached authentication
	Sessions uint32 // those sessions
	Probes   uint32 // sessions that stopped at the identification string
	Logins   uint32 // sessions that looked like working logins
	Blocked  uint32 // rejected attempts
	// Shaped counts the SSH sessions that reached authentication and
	// closed within their minute, Min is the least of each of their
	// measures and Extra the guesses beyond one a session credited to
	// them (see Detector.guesses).
	Shaped uint32
	Min    shape
	Extra  uint32
	// LastPort and LastWeight are the client port and the guesses of
	// the latest session counted: the same connection recorded at its
	// other end adds as much to that end's finding.
	LastPort   uint16
	LastWeight uint32
	// Minute is the start of the latest minute with sessions, Cur their
	// count and Prev the count of the minute before; Burst is the most
	// sessions seen within two adjacent minutes.
	Minute event.Time
	Cur    uint32
	Prev   uint32
	Burst  uint32
	Since  event.Time // start of the current window
	Last   event.Time
}

// attempts is what the pair's guessing amounts to: the estimated guesses,
// and the sessions that stopped before authentication once they came in a
// burst.
func (p *pair) attempts(minBurst uint32) uint32 {
	if p.Burst >= minBurst {
		return p.Guesses + p.Probes
	}
	return p.Guesses
}

// tick counts a session in the minute it started.
func (p *pair) tick(t event.Time) {
	m := t - t%60
	switch {
	case m == p.Minute:
	case m == p.Minute+60:
		p.Prev, p.Cur, p.Minute = p.Cur, 0, m
	case m > p.Minute:
		p.Prev, p.Cur, p.Minute = 0, 0, m
	}
	// A session of an earlier minute (delivered late) counts in the
	// current one: the burst can only be overstated by the lateness the
	// contact stage allows, which is within its bucket.
	p.Cur++
	p.Burst = max(p.Burst, p.Cur+p.Prev)
}

type sprayKey struct {
	Account  event.ID
	Attacker netip.Addr
	Svc      service
}

// spray is what one host did to one service across targets. Only guesses
// in sessions that reached authentication count: a banner grab across
// many hosts is a sweep, not password spraying.
type spray struct {
	Guesses  uint32
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
	Attempts int64         // guesses (and counted early-stopping sessions) reported
	First    event.Time
	Last     event.Time
	Attacker netip.Addr
	Target   netip.Addr
	Port     uint16
	Pair     pair // the latest pair's tallies
	Spray    uint32
	Targets  int
	Samples  []finding.Sample
}

// Detector is the brute force detector.
type Detector struct {
	env           detect.Env
	th            detect.Tunables
	minGuesses    uint32
	window        event.Time
	maxPerSession uint64
	maxSecs       event.Time
	maxBytes      uint64
	loginServer   uint64
	minClient     uint64
	minBurst      uint32
	minTargets    int
	pairs         *lru.Table[pairKey, pair]
	sprays        *lru.Table[sprayKey, spray]
	reports       map[string]*report
	reported      map[string]bool // keys reported before: later reports add to their count
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
	// Measured: about 350 bytes a pair and 400 a spray with their share of
	// the tables' maps.
	pairs := env.Cap(n, 0.5, 350)
	sprays := env.Cap(n, 0.5, 400)
	return &Detector{
		env: env, th: th,
		minGuesses:    uint32(th.Get("min_guesses")),
		window:        event.Time(th.Get("window")),
		maxPerSession: uint64(th.Get("max_guesses_per_session")),
		maxSecs:       event.Time(th.Get("max_session_seconds")),
		maxBytes:      uint64(th.Get("max_session_bytes")),
		loginServer:   uint64(th.Get("ssh_login_server_bytes")),
		minClient:     uint64(th.Get("min_client_bytes")),
		minBurst:      uint32(th.Get("min_probe_burst")),
		minTargets:    int(th.Get("min_spray_targets")),
		pairs:         lru.New[pairKey, pair](pairs, nil),
		sprays:        lru.New[sprayKey, spray](sprays, nil),
		reports:       map[string]*report{},
		reported:      map[string]bool{},
	}, nil
}

// Definition describes the detector.
func (d *Detector) Definition() detect.Definition {
	return detect.Definition{
		ID:           ID,
		Summary:      "repeated password guesses over SSH, RDP or WinRM, estimated per session, against the estate or from it",
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
	pk := pairKey{c.Account, c.Initiator, c.Responder, svc}
	p, _ := d.pairs.Put(pk)
	if p.Since == 0 || c.Start-p.Since > d.window {
		*p = pair{Since: c.Start}
	}
	p.Last = max(p.Last, c.End)
	if c.Outcome == event.OutcomeRejected {
		p.Blocked++
		return
	}
	ss := d.judge(c, svc)
	if ss.kind == kindNone {
		return
	}
	sk := sprayKey{c.Account, c.Initiator, svc}
	if slices.Contains(p.Recent[:min(p.Nrecent, len(p.Recent))], c.IPort) {
		// The same connection, seen at the other end: it counts once,
		// but that end's instance has a finding of its own.
		if s := d.sprays.Peek(sk); s != nil && ss.kind != kindLogin && d.hit(p, s) {
			w := uint32(1)
			if c.IPort == p.LastPort {
				w = p.LastWeight
			}
			d.note(c, svc, p, s, int64(w))
		}
		return
	}
	p.Recent[p.Nrecent%len(p.Recent)] = c.IPort
	p.Nrecent++
	var weight uint32
	switch ss.kind {
	case kindLogin:
		p.Logins++
		return
	case kindProbe:
		before := p.attempts(d.minBurst)
		p.Probes++
		p.tick(c.Start)
		// Once the burst is reached, every early-stopping session of the
		// window counts, this one included.
		weight = p.attempts(d.minBurst) - before
	case kindAuth:
		if svc == svcSSH && !ss.open {
			ss.guesses = d.guesses(p, &ss.shape)
		}
		before := p.attempts(d.minBurst)
		p.Sessions++
		p.Guesses += ss.guesses
		p.tick(c.Start)
		weight = p.attempts(d.minBurst) - before
	}
	p.LastPort, p.LastWeight = c.IPort, weight
	s, _ := d.sprays.Put(sk)
	if s.Since == 0 || c.Start-s.Since > d.window {
		*s = spray{Since: c.Start}
	}
	s.Last = max(s.Last, c.End)
	if ss.kind == kindAuth {
		s.Guesses += ss.guesses
		if !slices.Contains(s.Targets[:min(s.Ntargets, len(s.Targets))], c.Responder) {
			s.Targets[s.Ntargets%len(s.Targets)] = c.Responder
			s.Ntargets++
		}
	}
	if weight == 0 || !d.hit(p, s) {
		return
	}
	d.note(c, svc, p, s, int64(weight))
}

// hit reports whether a pair, or its attacker's spray, crossed the
// thresholds.
func (d *Detector) hit(p *pair, s *spray) bool {
	return p.attempts(d.minBurst) >= d.minGuesses || d.sprayHit(s)
}

func (d *Detector) sprayHit(s *spray) bool {
	return s.Guesses >= d.minGuesses && s.Ntargets >= d.minTargets
}

// note adds weight attempts to the report of the resource they concern.
func (d *Detector) note(c *event.Contact, svc service, p *pair, s *spray, weight int64) {
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
			r.Attempts = int64(max(p.attempts(d.minBurst), s.Guesses)) - weight
			r.First = min(p.Since, s.Since)
		}
	}
	r.Ctx = *c
	r.Attempts += weight
	r.First = min(r.First, c.Start)
	r.Last = max(r.Last, c.End)
	r.Attacker, r.Target, r.Port = c.Initiator, c.Responder, c.RPort
	r.Pair, r.Spray, r.Targets = *p, s.Guesses, s.Ntargets
	// Text, not contact.Evidence: a report is made only once the
	// thresholds are crossed, and is emitted and dropped at the next
	// Advance, so each sample is shown once and its text made once
	// either way.
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
	p := &r.Pair
	attempts := p.attempts(d.minBurst)
	what := "about " + strconv.Itoa(int(p.Guesses)) + " password guesses in " + strconv.Itoa(int(p.Sessions)) + " " + nameOf[r.Svc] + " sessions"
	if r.Svc != svcSSH {
		what = strconv.Itoa(int(p.Sessions)) + " short " + nameOf[r.Svc] + " login sessions (one guess each)"
	}
	if p.Probes > 0 {
		what += " and " + strconv.Itoa(int(p.Probes)) + " sessions that stopped before authentication"
	}
	exp := &finding.Explanation{
		Detector: ID,
		Summary:  r.Attacker.String() + " made " + what + " to " + r.Target.String() + " within " + strconv.Itoa(int(d.window)) + " s",
		Thresholds: []finding.Threshold{
			{Name: "min_guesses", Limit: float64(d.minGuesses), Observed: float64(attempts), Unit: "guesses", Crossed: attempts >= d.minGuesses},
			{Name: "min_spray_targets", Limit: float64(d.minTargets), Observed: float64(r.Targets), Unit: "hosts", Crossed: r.Targets >= d.minTargets && r.Spray >= d.minGuesses},
		},
		Counts: map[string]int64{
			"attempts_reported":         r.Attempts,
			"guesses_to_target":         int64(p.Guesses),
			"sessions_to_target":        int64(p.Sessions),
			"preauth_sessions":          int64(p.Probes),
			"login_sessions":            int64(p.Logins),
			"blocked_attempts":          int64(p.Blocked),
			"peak_sessions_two_minutes": int64(p.Burst),
			"spray_guesses":             int64(r.Spray),
			"targets":                   int64(r.Targets),
		},
		Ports:       []int{int(r.Port)},
		Hosts:       []string{r.Attacker.String(), r.Target.String()},
		Samples:     r.Samples,
		NetworkPath: contact.NetworkPath(c),
	}
	if p.Probes > 0 {
		exp.Thresholds = append(exp.Thresholds, finding.Threshold{Name: "min_probe_burst", Limit: float64(d.minBurst), Observed: float64(p.Burst), Unit: "sessions", Crossed: p.Burst >= d.minBurst})
	}
	f.Service.AdditionalInfo = &finding.AdditionalInfo{Explanation: exp}
	t, _ := finding.Lookup(typ)
	vars := map[string]string{
		"resource": finding.ResourceLabel(c),
		"remote":   remote.String(),
		"detail":   strconv.Itoa(int(attempts)) + " estimated guesses in " + strconv.Itoa(int(p.Sessions+p.Probes)) + " sessions to " + r.Target.String() + " in the window",
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
	st := detectorState{Pairs: d.pairs.View(), Sprays: d.sprays.View(), Reports: map[string]report{}}
	for k, r := range d.reports {
		st.Reports[k] = *r
	}
	for k := range d.reported {
		st.Reported = append(st.Reported, k)
	}
	slices.Sort(st.Reported)
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
		d.reports[k] = &r
	}
	clear(d.reported)
	for _, k := range st.Reported {
		d.reported[k] = true
	}
	return nil
}
