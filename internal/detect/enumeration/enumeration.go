// Package enumeration owns the history-independent enumeration detector:
// Discovery:IAMUser/AnomalousBehavior findings for a principal that maps
// the environment faster than people do, whatever it did before. Three
// patterns, each judged over a sliding window in event time:
//
//   - burst: many distinct discovery APIs (Describe, List, Get and the
//     other read verbs that map resources and permissions; see
//     trail.Discovery) within the window, from calls that are almost all
//     reads. Tools that enumerate (Pacu, ScoutSuite, CloudFox, a script
//     looping over services) only read; infrastructure-as-code tools such
//     as Terraform read what they are about to change and write in the
//     same minutes, so the share of writes tells them apart.
//   - denied: a storm of discovery calls refused for lack of permission
//     (AccessDenied, UnauthorizedOperation): a stolen key probing what it
//     may do.
//   - roles: role or user enumeration: failed sts:AssumeRole calls
//     against many distinct roles, or failed UpdateAssumeRolePolicy calls
//     whose errors name many distinct principals (the trust-policy trick
//     that tests whether a principal exists).
//
// Each pattern is a finding of its own for the principal (the pattern is
// the finding key's actor and the explanation's kind), whose count is the
// calls of every burst it saw. The detector decides at the watermark,
// over the calls up to it, so the findings do not depend on the order in
// which calls arrived.
//
// State is one bounded record of recent calls per principal, kept only
// for principals that made discovery calls or failed role calls within
// the window; the least recently active are evicted and counted.
package enumeration

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"picket/internal/detect"
	"picket/internal/detect/trail"
	"picket/internal/event"
	"picket/internal/finding"
	"picket/internal/lru"
)

// ID is the detector's ID.
const ID = "enumeration"

// Thresholds are the detector's tunables.
var Thresholds = detect.Tunables{
	{Name: "window", Unit: "seconds", Default: 600, Min: 10, Max: 86400,
		Doc: "the sliding window over which calls are counted (Panther's and the invictus dataset's 10 minutes)"},
	{Name: "min_distinct_apis", Unit: "APIs", Default: 40, Min: 2, Max: 10_000,
		Doc: "distinct discovery APIs within window that make a burst. A console user opening a few pages reaches 15 to 20 (benjamin in the invictus trail: 19); the recon in that trail reaches 62. Elastic's rule (more than 5 within 10 s) fires on every console page"},
	{Name: "max_write_ratio", Unit: "ratio", Default: 0.1, Min: 0, Max: 1,
		Doc: "largest share of writes among the principal's calls in the window for it to count as a burst: enumeration reads; Terraform's bursts of 60 distinct reads come with 20 to 25% writes"},
	{Name: "min_denied", Unit: "calls", Default: 15, Min: 2, Max: 1e6,
		Doc: "discovery calls refused for lack of permission within window that make a storm (Panther: 15 within 10 minutes)"},
	{Name: "min_roles", Unit: "roles", Default: 5, Min: 2, Max: 1e6,
		Doc: "distinct roles (failed AssumeRole) or principals (failed UpdateAssumeRolePolicy) within window that make an enumeration"},
	{Name: "max_calls", Unit: "entries", Default: 2048, Min: 16, Max: 65536,
		Doc: "calls kept per principal within the window, about 130 bytes each (calls of one second to one API share an entry; Terraform's 1,000 calls in 10 minutes take about 400); a faster principal keeps its latest and the evidence says how many were dropped"},
	{Name: "max_principals", Unit: "principals", Default: 10_000, Min: 10, Max: 1e7,
		Doc: "principals tracked at once, about 2 KiB each plus their calls; the least recently active are evicted and counted"},
}

// kind is one of the detector's patterns.
type kind uint8

const (
	kindBurst kind = iota
	kindDenied
	kindRoles
	numKinds
)

var kindNames = [numKinds]string{"burst", "denied", "roles"}

var patternWords = [numKinds]string{"enumeration", "probing for permissions", "role or user enumeration"}

// The flags of a call.
const (
	flagDiscovery = 1 << iota // a discovery API
	flagWrite                 // a call that changes something
	flagDenied                // refused for lack of permission
	flagRole                  // a failed AssumeRole or UpdateAssumeRolePolicy; Target says which
)

// call is one call of a principal, as much as the detector needs of it.
// Fields are exported for saving state.
type call struct {
	T      event.Time
	Origin event.Origin
	API    event.ID // eventName
	Svc    event.ID // eventSource
	Err    event.ID
	Agent  event.ID
	Region event.ID
	Src    netip.Addr
	Target event.ID // the role or principal a failed role call named
	Flags  uint8
	// N is how many calls this entry stands for: calls of one second
	// with the same API and flags (writes and other reads: of any API)
	// share an entry, which keeps Terraform's thousands of calls small.
	N uint32
}

// merges reports whether b can count as another occurrence of a.
func (a *call) merges(b *call) bool {
	if a.T != b.T || a.Flags != b.Flags || a.Target != b.Target {
		return false
	}
	if a.Flags&(flagDiscovery|flagRole) == 0 {
		return true // writes and other reads count, whatever their API
	}
	return a.API == b.API && a.Svc == b.Svc
}

// info is what enrichment said of one of a principal's addresses.
type info struct {
	Addr netip.Addr
	Info event.IPInfo
}

// principal is what the detector keeps of one principal.
type principal struct {
	Calls     []call     // sorted by time
	Truncated int64      // calls dropped to stay within max_calls
	Evaluated event.Time // the watermark the calls were judged up to
	// Active is, per pattern, the end of the window of the burst being
	// reported, or 0: while the pattern holds, later calls extend the
	// same burst.
	Active [numKinds]event.Time
	Bursts [numKinds]int64
	// Ident, Account and Infos describe the latest call, for the
	// finding's accessKeyDetails and remoteIpDetails.
	Ident   event.Identity
	Account event.ID
	Infos   [2]info
}

// report is a burst to report at this watermark.
type report struct {
	Key   trail.Principal
	Kind  kind
	Calls []call
	Stats stats
}

// stats are the counts in the window that decided.
type stats struct {
	Distinct, Calls, Writes, Denied, Targets int
	Start, End                               event.Time
}

// Detector is the enumeration detector.
type Detector struct {
	env          detect.Env
	th           detect.Tunables
	window       event.Time
	minAPIs      int
	maxWrite     float64
	minDenied    int
	minRoles     int
	maxCalls     int
	principals   *lru.Table[trail.Principal, principal]
	principalsOf trail.Principals
	dirty        map[trail.Principal]bool
	reports      []report
	lost         uint64 // dirty principals evicted before being judged
	// Scratch space reused at every watermark.
	keys []trail.Principal
	wd   window
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
		env: env, th: th,
		window:    event.Time(th.Get("window")),
		minAPIs:   int(th.Get("min_distinct_apis")),
		maxWrite:  th.Get("max_write_ratio"),
		minDenied: int(th.Get("min_denied")),
		minRoles:  int(th.Get("min_roles")),
		maxCalls:  int(th.Get("max_calls")),
		dirty:     map[trail.Principal]bool{},
	}
	// Measured with the benchmark's trail: a principal's record is about
	// 2 KiB with its share of the table, plus 130 bytes an entry kept;
	// budgets assume 128 entries, a principal active within the window.
	d.principals = lru.New(env.Cap(int(th.Get("max_principals")), 1, 2048+130*128), func(k trail.Principal, _ *principal) {
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
		Summary:      "bursts of distinct discovery APIs, storms of denied discovery calls and role enumeration by one principal, independent of its history",
		FindingTypes: []string{finding.TypeDiscoveryAnomalous},
		Subscribes:   []event.Kind{event.KindAPICall},
		Thresholds:   d.th,
	}
}

// State reports the principal table.
func (d *Detector) State() []detect.StateStats {
	return []detect.StateStats{{Table: "principals", Len: d.principals.Len(), Cap: d.principals.Cap(), Evicted: d.principals.Evicted()}}
}

// flags classifies a call; 0 is a read that is not discovery.
func flags(c *event.APICall) (uint8, event.ID) {
	name := c.EventName.String()
	var f uint8
	var target event.ID
	if trail.Discovery(name) {
		f |= flagDiscovery
	} else if c.ReadOnly.False() {
		f |= flagWrite
	}
	if c.Failed() {
		code := c.ErrorCode.String()
		if trail.Denied(code) {
			f |= flagDenied
		}
		switch name {
		case "AssumeRole", "AssumeRoleWithWebIdentity", "AssumeRoleWithSAML":
			if f&flagDenied != 0 {
				if arn, ok := event.JSONString(c.RequestParameters, "roleArn"); ok {
					f, target = f|flagRole, event.Intern(arn)
				}
			}
		case "UpdateAssumeRolePolicy":
			if code == "MalformedPolicyDocument" || code == "MalformedPolicyDocumentException" {
				f, target = f|flagRole, event.Intern(testedPrincipal(c.ErrorMessage.String()))
			}
		}
	}
	return f, target
}

// testedPrincipal returns the principal an UpdateAssumeRolePolicy error
// names ("Invalid principal in policy: \"AWS\":\"arn:aws:iam::1:role/x\""),
// or the whole message.
func testedPrincipal(msg string) string {
	if i := strings.Index(msg, "arn:"); i >= 0 {
		end := strings.IndexAny(msg[i:], "\"' ")
		if end < 0 {
			return msg[i:]
		}
		return msg[i : i+end]
	}
	return msg
}

// Observe records a call of a principal.
func (d *Detector) Observe(rec event.Record, _ detect.Emit) {
	c, ok := rec.(*event.APICall)
	if !ok {
		return
	}
	f, target := flags(c)
	if trail.Ignored(&d.env, c) {
		return
	}
	k := d.principalsOf.Of(c)
	if k.IsZero() {
		return
	}
	var p *principal
	if f&(flagDiscovery|flagRole) == 0 {
		// Other calls matter only to principals already enumerating:
		// they make the share of writes.
		if p = d.principals.Get(k); p == nil {
			return
		}
	} else {
		p, _ = d.principals.Put(k)
	}
	cl := call{T: c.EventTime, Origin: c.Origin, API: c.EventName, Svc: c.EventSource, Err: c.ErrorCode, Agent: c.UserAgent,
		Region: c.Region, Src: c.SourceIP, Target: target, Flags: f, N: 1}
	i := len(p.Calls)
	for i > 0 && p.Calls[i-1].T > cl.T {
		i--
	}
	for j := i - 1; j >= 0 && p.Calls[j].T == cl.T; j-- {
		if e := &p.Calls[j]; e.merges(&cl) {
			e.N++
			if compareOrigin(cl.Origin, e.Origin) < 0 {
				// The entry shows the first call of its second.
				n := e.N
				*e = cl
				e.N = n
			}
			d.dirty[k] = true
			return
		}
	}
	p.Calls = slices.Insert(p.Calls, i, cl)
	if len(p.Calls) > d.maxCalls {
		n := len(p.Calls) - d.maxCalls
		for _, c := range p.Calls[:n] {
			p.Truncated += int64(c.N)
		}
		p.Calls = append(p.Calls[:0], p.Calls[n:]...)
	}
	if i == len(p.Calls)-1 || p.Ident.Type == event.IdentityNone {
		p.Ident, p.Account = c.Identity, c.Account
	}
	if c.SourceIP.IsValid() && p.Infos[0].Addr != c.SourceIP {
		p.Infos[1], p.Infos[0] = p.Infos[0], info{c.SourceIP, c.SourceInfo}
	}
	d.dirty[k] = true
}

// Advance judges the windows that end up to the watermark, for every
// principal with new calls, reports the bursts and forgets old calls.
func (d *Detector) Advance(w event.Time, emit detect.Emit) {
	keys := d.keys[:0]
	for k := range d.dirty {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, comparePrincipals)
	d.keys = keys
	for _, k := range keys {
		p := d.principals.Peek(k)
		if p == nil {
			delete(d.dirty, k)
			continue
		}
		d.judge(k, p, w)
		if len(p.Calls) == 0 || p.Calls[len(p.Calls)-1].T <= w {
			delete(d.dirty, k) // every call judged
		}
	}
	for i := range d.reports {
		if len(d.reports[i].Calls) > 0 { // a burst that went on without new calls of its kind adds nothing
			emit(d.finding(&d.reports[i]))
		}
	}
	d.reports = d.reports[:0]
	if w == event.Forever {
		return
	}
	// Forget calls that no window ending after w can hold, and
	// principals with none left.
	var empty []trail.Principal
	d.principals.All(func(k trail.Principal, p *principal) bool {
		cut := 0
		for cut < len(p.Calls) && p.Calls[cut].T <= w-d.window {
			cut++
		}
		if cut > 0 {
			p.Calls = append(p.Calls[:0], p.Calls[cut:]...)
		}
		if len(p.Calls) == 0 && !d.dirty[k] {
			empty = append(empty, k)
		}
		return true
	})
	for _, k := range empty {
		d.principals.Delete(k)
	}
}

func compareOrigin(a, b event.Origin) int {
	if c := cmp.Compare(a.File.String(), b.File.String()); c != 0 {
		return c
	}
	return cmp.Compare(a.Line, b.Line)
}

func comparePrincipals(a, b trail.Principal) int {
	if c := cmp.Compare(a.Account.String(), b.Account.String()); c != 0 {
		return c
	}
	return cmp.Compare(a.ARN.String(), b.ARN.String())
}

// window is the sliding window's content: counts of the calls in
// (end-window, end].
type window struct {
	apis    map[[2]event.ID]int
	targets map[event.ID]int
	calls   int
	writes  int
	denied  int
}

func (wd *window) add(c *call, sign int) {
	n := sign * int(c.N)
	wd.calls += n
	if c.Flags&flagWrite != 0 {
		wd.writes += n
	}
	if c.Flags&flagDiscovery != 0 {
		k := [2]event.ID{c.Svc, c.API}
		if wd.apis[k] += sign; wd.apis[k] == 0 {
			delete(wd.apis, k)
		}
		if c.Flags&flagDenied != 0 {
			wd.denied += n
		}
	}
	if c.Flags&flagRole != 0 {
		if wd.targets[c.Target] += sign; wd.targets[c.Target] == 0 {
			delete(wd.targets, c.Target)
		}
	}
}

// judge slides the window over a principal's calls, ending at each call
// time in (Evaluated, w], and notes the patterns that hold.
func (d *Detector) judge(k trail.Principal, p *principal, w event.Time) {
	if d.wd.apis == nil {
		d.wd = window{apis: map[[2]event.ID]int{}, targets: map[event.ID]int{}}
	}
	clear(d.wd.apis)
	clear(d.wd.targets)
	d.wd.calls, d.wd.writes, d.wd.denied = 0, 0, 0
	wd := &d.wd
	// Windows ending after Evaluated hold only calls after
	// Evaluated-window: start there rather than rescan the window.
	first, _ := slices.BinarySearchFunc(p.Calls, p.Evaluated-d.window+1, func(c call, t event.Time) int { return cmp.Compare(c.T, t) })
	if p.Evaluated == event.Never || p.Evaluated == 0 {
		first = 0
	}
	lo := first
	for hi := first; hi < len(p.Calls); hi++ {
		end := p.Calls[hi].T
		if end > w {
			break
		}
		wd.add(&p.Calls[hi], 1)
		for lo <= hi && p.Calls[lo].T <= end-d.window {
			wd.add(&p.Calls[lo], -1)
			lo++
		}
		if end <= p.Evaluated || hi+1 < len(p.Calls) && p.Calls[hi+1].T == end {
			continue // judged before, or more calls at this second
		}
		st := stats{Distinct: len(wd.apis), Calls: wd.calls, Writes: wd.writes, Denied: wd.denied, Targets: len(wd.targets),
			Start: end - d.window + 1, End: end}
		holds := [numKinds]bool{
			kindBurst:  st.Distinct >= d.minAPIs && float64(st.Writes) <= d.maxWrite*float64(st.Calls),
			kindDenied: st.Denied >= d.minDenied,
			kindRoles:  st.Targets >= d.minRoles,
		}
		for kd := range numKinds {
			switch {
			case holds[kd] && p.Active[kd] == 0:
				// A new burst: report every call of its kind in the window.
				p.Active[kd] = end
				p.Bursts[kd]++
				d.note(k, kd, p, lo, hi, st, event.Never)
			case holds[kd]:
				// The burst goes on: report the calls since.
				d.note(k, kd, p, lo, hi, st, p.Active[kd])
				p.Active[kd] = end
			case p.Active[kd] != 0 && end > p.Active[kd]+d.window:
				p.Active[kd] = 0 // over: the next one is a new burst
			}
		}
	}
	p.Evaluated = max(p.Evaluated, min(w, p.lastTime()))
}

func (p *principal) lastTime() event.Time {
	if len(p.Calls) == 0 {
		return event.Never
	}
	return p.Calls[len(p.Calls)-1].T
}

// relevant reports whether a call counts as evidence of a pattern.
func relevant(kd kind, c *call) bool {
	switch kd {
	case kindBurst:
		return c.Flags&flagDiscovery != 0
	case kindDenied:
		return c.Flags&(flagDiscovery|flagDenied) == flagDiscovery|flagDenied
	}
	return c.Flags&flagRole != 0
}

// note adds the calls of a pattern in p.Calls[lo:hi+1] after since to
// this watermark's report of it.
func (d *Detector) note(k trail.Principal, kd kind, p *principal, lo, hi int, st stats, since event.Time) {
	var r *report
	for i := range d.reports {
		if d.reports[i].Key == k && d.reports[i].Kind == kd {
			r = &d.reports[i]
		}
	}
	if r == nil {
		d.reports = append(d.reports, report{Key: k, Kind: kd})
		r = &d.reports[len(d.reports)-1]
	}
	for i := lo; i <= hi; i++ {
		if c := &p.Calls[i]; c.T > since && relevant(kd, c) && !slices.ContainsFunc(r.Calls, func(x call) bool { return x.Origin == c.Origin }) {
			r.Calls = append(r.Calls, *c)
		}
	}
	if st.Distinct >= r.Stats.Distinct && kd == kindBurst || st.Denied >= r.Stats.Denied && kd == kindDenied ||
		st.Targets >= r.Stats.Targets && kd == kindRoles {
		r.Stats = st
	}
}

// apiCall rebuilds a call for evidence and the finding.
func (p *principal) apiCall(c *call) event.APICall {
	a := event.APICall{
		Origin: c.Origin, EventTime: c.T, EventName: c.API, EventSource: c.Svc, ErrorCode: c.Err, UserAgent: c.Agent,
		Region: c.Region, SourceIP: c.Src, Identity: p.Ident, Account: p.Account,
	}
	for _, in := range p.Infos {
		if in.Addr == c.Src && c.Src.IsValid() {
			a.SourceInfo = in.Info
		}
	}
	return a
}

func (d *Detector) finding(r *report) *finding.Finding {
	p := d.principals.Peek(r.Key)
	var ev trail.Evidence
	var latest event.APICall
	for i := range r.Calls {
		a := p.apiCall(&r.Calls[i])
		ev.AddN(&a, int64(r.Calls[i].N))
		if i == 0 || a.EventTime >= latest.EventTime {
			latest = a
		}
	}
	if latest.SourceInfo.IsZero() && latest.SourceIP.IsValid() && d.env.IPInfo != nil {
		latest.SourceInfo = d.env.IPInfo(latest.SourceIP)
	}
	st := r.Stats
	span := strconv.Itoa(int(d.window)) + " s"
	exp := &finding.Explanation{Kind: kindNames[r.Kind]}
	sev := finding.SeverityLow
	var detail string
	switch r.Kind {
	case kindBurst:
		detail = strconv.Itoa(st.Distinct) + " distinct discovery APIs within " + span + ", " + strconv.Itoa(st.Writes) + " of " +
			strconv.Itoa(st.Calls) + " calls writes"
		exp.Thresholds = []finding.Threshold{
			{Name: "min_distinct_apis", Limit: float64(d.minAPIs), Observed: float64(st.Distinct), Unit: "APIs", Crossed: true},
			{Name: "max_write_ratio", Limit: d.maxWrite, Observed: ratio(st.Writes, st.Calls), Unit: "ratio", Crossed: false},
		}
	case kindDenied:
		sev = finding.SeverityMedium
		detail = strconv.Itoa(st.Denied) + " discovery calls denied within " + span
		exp.Thresholds = []finding.Threshold{{Name: "min_denied", Limit: float64(d.minDenied), Observed: float64(st.Denied), Unit: "calls", Crossed: true}}
	case kindRoles:
		sev = finding.SeverityMedium
		detail = strconv.Itoa(st.Targets) + " distinct roles or principals tried and refused within " + span
		exp.Thresholds = []finding.Threshold{{Name: "min_roles", Limit: float64(d.minRoles), Observed: float64(st.Targets), Unit: "roles", Crossed: true}}
		targets := map[string]bool{}
		for _, c := range r.Calls {
			if !c.Target.IsZero() && !targets[c.Target.String()] && len(exp.Hosts) < trail.MaxNames {
				targets[c.Target.String()] = true
				exp.Hosts = append(exp.Hosts, c.Target.String())
			}
		}
		slices.Sort(exp.Hosts)
	}
	exp.Summary = trail.Label(&latest) + ": " + detail + " (" + kindNames[r.Kind] + ", " + st.Start.String() + " to " + st.End.String() + ")"
	ev.Explain(exp)
	exp.Counts["bursts"] = p.Bursts[r.Kind]
	exp.Counts["calls_dropped"] = p.Truncated
	exp.Counts["window_seconds"] = int64(d.window)
	f := trail.Build(&d.env, &trail.Report{
		Type: finding.TypeDiscoveryAnomalous, Detector: ID, Principal: r.Key, Actor: kindNames[r.Kind],
		Call: &latest, First: ev.First, Last: ev.Last, Count: ev.Calls, Severity: sev,
		Vars: map[string]string{"detail": detail}, Explanation: exp,
	})
	// The pattern needs no history: say so rather than the type's
	// "departs from its history".
	f.Description = trail.Label(&latest) + " called discovery APIs such as " + latest.EventName.String() + " in a pattern of " +
		patternWords[r.Kind] + ": " + detail + "."
	return f
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

type detectorState struct {
	Principals lru.Snapshot[trail.Principal, principal]
	Dirty      []trail.Principal
	Lost       uint64
}

// MarshalState saves the principals' recent calls.
func (d *Detector) MarshalState() ([]byte, error) {
	st := detectorState{Principals: d.principals.View(), Lost: d.lost}
	for k := range d.dirty {
		st.Dirty = append(st.Dirty, k)
	}
	slices.SortFunc(st.Dirty, comparePrincipals)
	return detect.EncodeState(st)
}

// UnmarshalState restores them.
func (d *Detector) UnmarshalState(b []byte) error {
	var st detectorState
	if err := detect.DecodeState(b, &st); err != nil {
		return err
	}
	d.principals.Restore(st.Principals)
	clear(d.dirty)
	for _, k := range st.Dirty {
		d.dirty[k] = true
	}
	d.lost = st.Lost
	return nil
}
