// Package enumeration owns the history-independent enumeration detector:
// Discovery:IAMUser/AnomalousBehavior findings for a principal that maps
// the environment faster than people do, whatever it did before.
//
// A principal's calls are judged per source: one address and one client
// (the user agent's family, with the console's own calls, its service
// endpoints and the browser taken as one client), so that one tool under
// a principal cannot hide or fake another's activity. Terraform writing
// from a CI address does not dilute the reads a stolen key makes from
// elsewhere, and its reads do not add up with a person's console pages
// into a burst neither made. Access keys are not part of the source: the
// console signs each page's calls with a new temporary key, so a key
// would split one person's session into many.
//
// Three patterns, each judged over sliding windows in event time, per
// source:
//
//   - burst: many distinct discovery APIs (Describe, List, Get and the
//     other read verbs that map resources and permissions; see
//     trail.Discovery) within the window from calls that are almost all
//     reads (volume); or a fast sweep: many distinct discovery APIs
//     across many services (eventSource) within a short window (rate).
//     Tools that enumerate (Pacu, ScoutSuite, CloudFox, a script looping
//     over services) only read; infrastructure-as-code tools such as
//     Terraform read what they are about to change and write in the same
//     minutes, so the share of writes tells them apart. Writes refused
//     for lack of permission changed nothing and do not count, so that a
//     stolen key cannot excuse its reads with writes it may not make. The
//     sweep is judged on breadth and speed that neither a person nor
//     infrastructure as code reaches: a console page is one service's
//     console with a few shared calls, and a person moves to another
//     service every minute or so; Terraform reads the few services its
//     configuration manages. A tool asks service after service, a dozen
//     in a minute or two.
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
// calls of every burst it saw, and whose explanation names the sources
// that made them. The detector decides at the watermark, over the calls
// up to it, so the findings do not depend on the order in which calls
// arrived.
//
// State is one bounded record of recent calls per source of a principal,
// kept only for sources that made discovery calls or failed role calls
// within the window: at most max_principals principals and max_sources
// sources in all, 16 sources a principal; the least recently active are
// evicted and counted.
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
		Doc: "the sliding window over which a source's calls are counted for the volume burst, the denied storm and role enumeration (Panther's and the invictus dataset's 10 minutes)"},
	{Name: "min_distinct_apis", Unit: "APIs", Default: 40, Min: 2, Max: 10_000,
		Doc: "distinct discovery APIs from one source within window that make a burst. A console user opening a few pages reaches 15 to 20 (benjamin in the invictus trail: 19); the recon in that trail reaches 63. Elastic's rule (more than 5 within 10 s) fires on every console page"},
	{Name: "max_write_ratio", Unit: "ratio", Default: 0.1, Min: 0, Max: 1,
		Doc: "largest share of writes among the source's calls in window (or sweep_window, for a sweep) for a burst: enumeration reads; Terraform's bursts of 60 distinct reads come with 20 to 25% writes. Writes of the principal's other sources, and writes refused for lack of permission, do not count"},
	{Name: "sweep_window", Unit: "seconds", Default: 120, Min: 10, Max: 3600,
		Doc: "the short window of the fast sweep: long enough to hold a tool's sweep even when it is throttled to a call every few seconds, short enough that a person would have to open a new service's console every 12 s to cover min_sweep_services"},
	{Name: "min_sweep_apis", Unit: "APIs", Default: 20, Min: 2, Max: 10_000,
		Doc: "distinct discovery APIs from one source within sweep_window that, across min_sweep_services services, make a fast sweep: two APIs a service on average, so that a dashboard whose widgets call one API of each of several services does not count"},
	{Name: "min_sweep_services", Unit: "services", Default: 10, Min: 1, Max: 1000,
		Doc: "distinct services (eventSource) among those APIs. A console page is one service's console plus a few shared calls, and a person reading pages moves to another service every minute or so: 2 to 4 services in two minutes (benjamin in the invictus trail: 3). Terraform reads the services its configuration manages, a handful (the invictus warm-up, a lab built for dozens of attack techniques: 8). A tool sweeping the account asks service after service"},
	{Name: "baseline_days", Unit: "days", Default: 7, Min: 0, Max: baselineSlots - 1,
		Doc: "days of the account's own history a burst or sweep is held against: an established source of the account (its address and client seen a day before) teaches, per client, the most distinct discovery APIs it reached within window and within sweep_window, and a later burst or sweep of that client that reaches no more is the account's normal, such as a scanner that runs every night. A source teaches from its second day, and what a day teaches counts from the next, so an intruder's sweep from a new place teaches nothing before it is reported. 0 turns the baseline off"},
	{Name: "min_denied", Unit: "calls", Default: 15, Min: 2, Max: 1e6,
		Doc: "discovery calls refused for lack of permission within window that make a storm (Panther: 15 within 10 minutes)"},
	{Name: "min_roles", Unit: "roles", Default: 5, Min: 2, Max: 1e6,
		Doc: "distinct roles (failed AssumeRole) or principals (failed UpdateAssumeRolePolicy) within window that make an enumeration"},
	{Name: "max_calls", Unit: "entries", Default: 2048, Min: 16, Max: 65536,
		Doc: "calls kept per source within the window, about 130 bytes each (calls of one second to one API share an entry; Terraform's 1,000 calls in 10 minutes take about 400); a faster source keeps its latest and the evidence says how many were dropped"},
	{Name: "max_principals", Unit: "principals", Default: 10_000, Min: 10, Max: 1e7,
		Doc: "principals tracked at once, about 256 bytes each plus their sources; the least recently active are evicted and counted"},
	{Name: "max_sources", Unit: "sources", Default: 20_000, Min: 10, Max: 2e7,
		Doc: "sources (an address and a client of a principal) tracked at once, about 400 bytes each plus their calls: two per principal on average. When full, the least recently active principal's sources make room; a principal keeps at most 16 sources, its least recently active giving way to a new one. Both evictions are counted"},
	{Name: "max_known_sources", Unit: "sources", Default: 50_000, Min: 10, Max: 1e7,
		Doc: "sources whose first call the baseline remembers (about 100 bytes each), so that it learns from established sources only; the least recently seen are forgotten and counted, and come back as new"},
}

// baselineSlots is how many days a baseline keeps: baseline_days and the
// day being learned.
const baselineSlots = 8

// day is the UTC day of a time.
func day(t event.Time) int32 { return int32(t / 86400) }

// knownKey is a source of an account, remembered for the baseline.
type knownKey struct {
	Account event.ID
	Addr    netip.Addr
	Client  event.ID
}

// baselineKey is a client of an account.
type baselineKey struct {
	Account event.ID
	Client  event.ID
}

// baseline is what an account's established sources of one client
// reached, per day: the most distinct discovery APIs within window
// (Volume) and within sweep_window (Sweep), for the bursts and sweeps
// they made.
type baseline struct {
	Day    [baselineSlots]int32
	Volume [baselineSlots]int32
	Sweep  [baselineSlots]int32
}

// before returns the most a baseline holds for the days before d, back
// to d-days.
func (b *baseline) before(d, days int32) (volume, sweep int) {
	if b == nil {
		return 0, 0
	}
	for i := range b.Day {
		if b.Day[i] < d && b.Day[i] >= d-days {
			volume, sweep = max(volume, int(b.Volume[i])), max(sweep, int(b.Sweep[i]))
		}
	}
	return volume, sweep
}

// learn notes what a window ending on day d reached.
func (b *baseline) learn(d int32, volume, sweep int) {
	slot := 0
	for i := range b.Day {
		if b.Day[i] == d {
			slot = i
			break
		}
		if b.Day[i] < b.Day[slot] {
			slot = i
		}
	}
	if b.Day[slot] != d {
		b.Day[slot], b.Volume[slot], b.Sweep[slot] = d, 0, 0
	}
	b.Volume[slot] = max(b.Volume[slot], int32(volume))
	b.Sweep[slot] = max(b.Sweep[slot], int32(sweep))
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
	flagWrite                 // a call that changes something (not refused for lack of permission)
	flagDenied                // refused for lack of permission
	flagRole                  // a failed AssumeRole or UpdateAssumeRolePolicy; Target says which
)

// call is one call of a source, as much as the detector needs of it.
// Fields are exported for saving state.
type call struct {
	T      event.Time
	Origin event.Origin
	API    event.ID // eventName
	Svc    event.ID // eventSource
	Err    event.ID
	Agent  event.ID
	Region event.ID
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

// perPrincipal bounds the sources of one principal: a person and a few
// tools, each from an address or two, at once; a principal calling from
// more places within the window is already spread beyond what one source
// can show, and a flood of addresses must not take the whole table.
const perPrincipal = 16

// sourceKey is where calls come from: one address (invalid when the
// trail gave none that picket can read) and one client, the user agent's
// family with the console's families folded into one.
type sourceKey struct {
	Addr   netip.Addr
	Client event.ID
}

// source is what the detector keeps of one source of a principal.
type source struct {
	Key       sourceKey
	Since     event.Time   // its first call the detector remembers
	Info      event.IPInfo // what enrichment said of the address
	Calls     []call       // sorted by time
	Truncated int64        // calls dropped to stay within max_calls
	Evaluated event.Time   // the watermark the calls were judged up to
	// Active is, per pattern, the end of the window of the burst being
	// reported, or 0: while the pattern holds, later calls extend the
	// same burst.
	Active [numKinds]event.Time
	// Ident describes the source's latest call, for the finding's
	// accessKeyDetails: the key the source used.
	Ident event.Identity
}

func (s *source) lastTime() event.Time {
	if len(s.Calls) == 0 {
		return event.Never
	}
	return s.Calls[len(s.Calls)-1].T
}

// principal is what the detector keeps of one principal.
type principal struct {
	Sources []source
	Bursts  [numKinds]int64
	Account event.ID // the account called, from the latest call
}

// find returns the principal's source k, or nil.
func (p *principal) find(k sourceKey) *source {
	for i := range p.Sources {
		if p.Sources[i].Key == k {
			return &p.Sources[i]
		}
	}
	return nil
}

// report is a burst to report at this watermark.
type report struct {
	Key     trail.Principal
	Kind    kind
	Calls   []noted
	Sources []sourceKey // the sources whose windows held, in order
	Stats   stats       // the window with the most distinct APIs (burst), denied calls or targets
	Sweep   stats       // the widest fast sweep, when one held
	Volume  bool        // a volume burst held
}

// noted is a call of a report and its source.
type noted struct {
	call
	Src sourceKey
}

// stats are the counts in the windows that decided.
type stats struct {
	Distinct, Calls, Writes, Denied, Targets int
	// SweepAPIs, SweepServices, SweepCalls and SweepWrites are the
	// distinct discovery APIs and services, the calls and the writes
	// within sweep_window.
	SweepAPIs, SweepServices, SweepCalls, SweepWrites int
	// BaseVolume and BaseSweep are the account's baseline for the
	// source's client when the window was judged.
	BaseVolume, BaseSweep int
	Start, End            event.Time
	Volume, Sweep         bool // which of the burst's rules held
}

// Detector is the enumeration detector.
type Detector struct {
	env          detect.Env
	th           detect.Tunables
	window       event.Time
	sweepWindow  event.Time
	minAPIs      int
	maxWrite     float64
	minSweepAPIs int
	minSweepSvcs int
	minDenied    int
	minRoles     int
	maxCalls     int
	maxSources   int // sources in all
	nsources     int // sources now
	baseDays     int32
	known        *lru.Table[knownKey, event.Time]
	baselines    *lru.Table[baselineKey, baseline]
	principals   *lru.Table[trail.Principal, principal]
	principalsOf trail.Principals
	families     trail.Families
	console      event.ID // the client of the console's calls
	aws, browser event.ID // families folded into the console's
	dirty        map[trail.Principal]bool
	reports      []report
	lost         uint64 // dirty principals evicted before being judged
	evictedSrcs  uint64 // sources evicted to stay within max_sources
	// Scratch space reused at every watermark.
	keys []trail.Principal
	wd   window
	sw   sweep
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
		window:       event.Time(th.Get("window")),
		sweepWindow:  event.Time(th.Get("sweep_window")),
		minAPIs:      int(th.Get("min_distinct_apis")),
		maxWrite:     th.Get("max_write_ratio"),
		minSweepAPIs: int(th.Get("min_sweep_apis")),
		minSweepSvcs: int(th.Get("min_sweep_services")),
		minDenied:    int(th.Get("min_denied")),
		minRoles:     int(th.Get("min_roles")),
		maxCalls:     int(th.Get("max_calls")),
		baseDays:     int32(th.Get("baseline_days")),
		console:      event.Intern(trail.FamilyConsole),
		aws:          event.Intern(trail.FamilyAWS),
		browser:      event.Intern(trail.FamilyBrowser),
		dirty:        map[trail.Principal]bool{},
	}
	// Sizes (unsafe.Sizeof on amd64): a principal is 56 bytes, about 256
	// with its table entry, index and slice of sources; a source 384 and
	// a call entry 80, 130 with the slack of a growing slice; a known
	// source 48 plus about 50 of table; a baseline 96 plus its key and
	// table. Budgets assume 64 entries a source, one active within the
	// window, and give the sources most of the share.
	d.maxSources = env.Cap(int(th.Get("max_sources")), 0.7, 400+130*64)
	d.known = lru.New[knownKey, event.Time](env.Cap(int(th.Get("max_known_sources")), 0.08, 100), nil)
	// Accounts times clients: a few clients in each of a few accounts.
	d.baselines = lru.New[baselineKey, baseline](env.Cap(4096, 0.02, 200), nil)
	d.principals = lru.New(env.Cap(int(th.Get("max_principals")), 0.2, 256), func(k trail.Principal, p *principal) {
		d.dropped(k, p)
	})
	return d, nil
}

// Definition describes the detector.
func (d *Detector) Definition() detect.Definition {
	return detect.Definition{
		ID:           ID,
		Summary:      "bursts and fast sweeps of distinct discovery APIs, storms of denied discovery calls and role enumeration from one source of a principal, independent of its history",
		FindingTypes: []string{finding.TypeDiscoveryAnomalous},
		Subscribes:   []event.Kind{event.KindAPICall},
		Thresholds:   d.th,
	}
}

// dropped accounts for a principal leaving the table to make room.
func (d *Detector) dropped(k trail.Principal, p *principal) {
	d.nsources -= len(p.Sources)
	d.evictedSrcs += uint64(len(p.Sources))
	if d.dirty[k] {
		d.lost++
		delete(d.dirty, k)
	}
}

// State reports the principal table and the sources within it.
func (d *Detector) State() []detect.StateStats {
	return []detect.StateStats{
		{Table: "principals", Len: d.principals.Len(), Cap: d.principals.Cap(), Evicted: d.principals.Evicted()},
		{Table: "sources", Len: d.nsources, Cap: d.maxSources, Evicted: d.evictedSrcs},
		{Table: "known sources", Len: d.known.Len(), Cap: d.known.Cap(), Evicted: d.known.Evicted()},
		{Table: "baselines", Len: d.baselines.Len(), Cap: d.baselines.Cap(), Evicted: d.baselines.Evicted()},
	}
}

// client returns the client of a user agent: its family, with the
// console, the AWS endpoints that serve its pages and the browser as one.
// The console signs in through the browser and calls services both in
// its own name and through their endpoints, all for one person.
func (d *Detector) client(ua event.ID) event.ID {
	f := d.families.Of(ua)
	if f == d.console || f == d.aws || f == d.browser {
		return d.console
	}
	return f
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
			// A write refused for lack of permission changed nothing:
			// it is no sign of a tool building what it reads, and it is
			// what a stolen key mixing writes into its reads mostly
			// makes. Writes that failed otherwise (throttled, invalid)
			// are a builder's and count.
			f &^= flagWrite
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
	sk := sourceKey{Addr: c.SourceIP, Client: d.client(c.UserAgent)}
	var p *principal
	var s *source
	if f&(flagDiscovery|flagRole) == 0 {
		// Other calls matter only to sources already enumerating: they
		// make the share of writes.
		if p = d.principals.Get(k); p == nil {
			return
		}
		if s = p.find(sk); s == nil {
			return
		}
	} else {
		p, _ = d.principals.Put(k)
		if s = p.find(sk); s == nil {
			s = d.addSource(k, p, sk)
			s.Since = d.remember(knownKey{Account: k.Account, Addr: sk.Addr, Client: sk.Client}, c.EventTime)
		}
	}
	cl := call{T: c.EventTime, Origin: c.Origin, API: c.EventName, Svc: c.EventSource, Err: c.ErrorCode, Agent: c.UserAgent,
		Region: c.Region, Target: target, Flags: f, N: 1}
	i := len(s.Calls)
	for i > 0 && s.Calls[i-1].T > cl.T {
		i--
	}
	for j := i - 1; j >= 0 && s.Calls[j].T == cl.T; j-- {
		if e := &s.Calls[j]; e.merges(&cl) {
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
	s.Calls = slices.Insert(s.Calls, i, cl)
	if len(s.Calls) > d.maxCalls {
		n := len(s.Calls) - d.maxCalls
		for _, c := range s.Calls[:n] {
			s.Truncated += int64(c.N)
		}
		s.Calls = append(s.Calls[:0], s.Calls[n:]...)
	}
	if i == len(s.Calls)-1 || s.Ident.Type == event.IdentityNone {
		s.Ident, p.Account = c.Identity, c.Account
	}
	if c.SourceIP.IsValid() && s.Info.IsZero() {
		s.Info = c.SourceInfo
	}
	d.dirty[k] = true
}

// remember notes a source's call at t and returns the first call
// remembered of it.
func (d *Detector) remember(k knownKey, t event.Time) event.Time {
	if d.baseDays == 0 {
		return t
	}
	first, created := d.known.Put(k)
	if created || t < *first {
		*first = t
	}
	return *first
}

// addSource adds a source to principal pk. When the table is full the
// least recently active other principal makes room; when the principal
// has perPrincipal sources, or is the only one left, its source whose
// latest call is oldest does.
func (d *Detector) addSource(pk trail.Principal, p *principal, k sourceKey) *source {
	for d.nsources >= d.maxSources {
		ok, op, found := d.principals.Oldest()
		if !found || ok == pk {
			break
		}
		d.dropped(ok, op)
		d.principals.Delete(ok)
	}
	if len(p.Sources) > 0 && (len(p.Sources) >= perPrincipal || d.nsources >= d.maxSources) {
		old := 0
		for i := range p.Sources {
			if p.Sources[i].lastTime() < p.Sources[old].lastTime() {
				old = i
			}
		}
		p.Sources = slices.Delete(p.Sources, old, old+1)
		d.nsources--
		d.evictedSrcs++
	}
	p.Sources = append(p.Sources, source{Key: k})
	d.nsources++
	return &p.Sources[len(p.Sources)-1]
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
		judged := true
		for i := range p.Sources {
			s := &p.Sources[i]
			d.judge(k, p, s, w)
			if len(s.Calls) > 0 && s.Calls[len(s.Calls)-1].T > w {
				judged = false
			}
		}
		if judged {
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
	// Forget calls that no window ending after w can hold, sources with
	// none left and principals with no source.
	var empty []trail.Principal
	d.principals.All(func(k trail.Principal, p *principal) bool {
		kept := p.Sources[:0]
		for _, s := range p.Sources {
			cut := 0
			for cut < len(s.Calls) && s.Calls[cut].T <= w-d.window {
				cut++
			}
			if cut > 0 {
				s.Calls = append(s.Calls[:0], s.Calls[cut:]...)
			}
			if len(s.Calls) > 0 {
				kept = append(kept, s)
			}
		}
		clear(p.Sources[len(kept):])
		d.nsources -= len(p.Sources) - len(kept)
		p.Sources = kept
		if len(p.Sources) == 0 && !d.dirty[k] {
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

// sweep is the short window's content: the distinct discovery APIs in
// (end-sweep_window, end] and, per service, how many of them it has.
type sweep struct {
	apis          map[[2]event.ID]int
	svcs          map[event.ID]int
	calls, writes int
}

func (sw *sweep) reset() {
	clear(sw.apis)
	clear(sw.svcs)
	sw.calls, sw.writes = 0, 0
}

func (sw *sweep) add(c *call, sign int) {
	n := sign * int(c.N)
	sw.calls += n
	if c.Flags&flagWrite != 0 {
		sw.writes += n
	}
	if c.Flags&flagDiscovery == 0 {
		return
	}
	k := [2]event.ID{c.Svc, c.API}
	n = sw.apis[k] + sign
	if n == 0 {
		delete(sw.apis, k)
	} else {
		sw.apis[k] = n
	}
	switch {
	case sign > 0 && n == 1:
		sw.svcs[c.Svc]++
	case sign < 0 && n == 0:
		if sw.svcs[c.Svc]--; sw.svcs[c.Svc] <= 0 {
			delete(sw.svcs, c.Svc)
		}
	}
}

// judge slides the windows over a source's calls, ending at each call
// time in (Evaluated, w], and notes the patterns that hold.
func (d *Detector) judge(k trail.Principal, p *principal, s *source, w event.Time) {
	if d.wd.apis == nil {
		d.wd = window{apis: map[[2]event.ID]int{}, targets: map[event.ID]int{}}
		d.sw = sweep{apis: map[[2]event.ID]int{}, svcs: map[event.ID]int{}}
	}
	clear(d.wd.apis)
	clear(d.wd.targets)
	d.sw.reset()
	d.wd.calls, d.wd.writes, d.wd.denied = 0, 0, 0
	wd, sw := &d.wd, &d.sw
	// Windows ending after Evaluated hold only calls after
	// Evaluated-window: start there rather than rescan the window.
	span := max(d.window, d.sweepWindow)
	first, _ := slices.BinarySearchFunc(s.Calls, s.Evaluated-span+1, func(c call, t event.Time) int { return cmp.Compare(c.T, t) })
	if s.Evaluated == event.Never || s.Evaluated == 0 {
		first = 0
	}
	// The sweep's counts are kept only while the long window holds
	// enough distinct APIs for a sweep (when the sweep's window is the
	// shorter, it holds no more than the long one): most sources never
	// get there, and keeping them costs two map updates a call.
	gate := d.sweepWindow <= d.window
	live := !gate
	var base *baseline
	bk := baselineKey{Account: k.Account, Client: s.Key.Client}
	if d.baseDays > 0 {
		base = d.baselines.Peek(bk)
	}
	lo, lo2 := first, first
	for hi := first; hi < len(s.Calls); hi++ {
		end := s.Calls[hi].T
		if end > w {
			break
		}
		wd.add(&s.Calls[hi], 1)
		if live {
			sw.add(&s.Calls[hi], 1)
		}
		for lo <= hi && s.Calls[lo].T <= end-d.window {
			wd.add(&s.Calls[lo], -1)
			lo++
		}
		for lo2 <= hi && s.Calls[lo2].T <= end-d.sweepWindow {
			if live {
				sw.add(&s.Calls[lo2], -1)
			}
			lo2++
		}
		switch enough := len(wd.apis) >= d.minSweepAPIs; {
		case gate && enough && !live:
			for i := lo2; i <= hi; i++ {
				sw.add(&s.Calls[i], 1)
			}
			live = true
		case gate && !enough && live:
			sw.reset()
			live = false
		}
		if end <= s.Evaluated || hi+1 < len(s.Calls) && s.Calls[hi+1].T == end {
			continue // judged before, or more calls at this second
		}
		st := stats{Distinct: len(wd.apis), Calls: wd.calls, Writes: wd.writes, Denied: wd.denied, Targets: len(wd.targets),
			SweepAPIs: len(sw.apis), SweepServices: len(sw.svcs), SweepCalls: sw.calls, SweepWrites: sw.writes,
			Start: end - d.window + 1, End: end}
		st.Volume = st.Distinct >= d.minAPIs && float64(st.Writes) <= d.maxWrite*float64(st.Calls)
		st.Sweep = st.SweepAPIs >= d.minSweepAPIs && st.SweepServices >= d.minSweepSvcs &&
			float64(st.SweepWrites) <= d.maxWrite*float64(st.SweepCalls)
		if d.baseDays > 0 && (st.Volume || st.Sweep) {
			// Held against the account's normal for the client, of the
			// days before; then, from an established source, taught.
			st.BaseVolume, st.BaseSweep = base.before(day(end), d.baseDays)
			learn := s.Since <= end-86400
			if learn {
				if base == nil {
					base, _ = d.baselines.Put(bk)
				}
				base.learn(day(end), st.Distinct*boolInt(st.Volume), st.SweepAPIs*boolInt(st.Sweep))
			}
			st.Volume = st.Volume && st.Distinct > st.BaseVolume
			st.Sweep = st.Sweep && st.SweepAPIs > st.BaseSweep
		}
		holds := [numKinds]bool{
			kindBurst:  st.Volume || st.Sweep,
			kindDenied: st.Denied >= d.minDenied,
			kindRoles:  st.Targets >= d.minRoles,
		}
		for kd := range numKinds {
			switch {
			case holds[kd] && s.Active[kd] == 0:
				// A new burst: report every call of its kind in the window.
				s.Active[kd] = end
				p.Bursts[kd]++
				d.note(k, kd, s, lo, hi, st, event.Never)
			case holds[kd]:
				// The burst goes on: report the calls since.
				d.note(k, kd, s, lo, hi, st, s.Active[kd])
				s.Active[kd] = end
			case s.Active[kd] != 0 && end > s.Active[kd]+d.window:
				s.Active[kd] = 0 // over: the next one is a new burst
			}
		}
	}
	s.Evaluated = max(s.Evaluated, min(w, s.lastTime()))
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

// note adds the calls of a pattern in s.Calls[lo:hi+1] after since to
// this watermark's report of it.
func (d *Detector) note(k trail.Principal, kd kind, s *source, lo, hi int, st stats, since event.Time) {
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
	if !slices.Contains(r.Sources, s.Key) {
		r.Sources = append(r.Sources, s.Key)
	}
	for i := lo; i <= hi; i++ {
		if c := &s.Calls[i]; c.T > since && relevant(kd, c) && !slices.ContainsFunc(r.Calls, func(x noted) bool { return x.Origin == c.Origin }) {
			r.Calls = append(r.Calls, noted{*c, s.Key})
		}
	}
	if st.Distinct >= r.Stats.Distinct && kd == kindBurst || st.Denied >= r.Stats.Denied && kd == kindDenied ||
		st.Targets >= r.Stats.Targets && kd == kindRoles {
		r.Stats = st
	}
	if kd == kindBurst {
		r.Volume = r.Volume || st.Volume
		if st.Sweep && (!r.Sweep.Sweep || st.SweepServices > r.Sweep.SweepServices ||
			st.SweepServices == r.Sweep.SweepServices && st.SweepAPIs > r.Sweep.SweepAPIs) {
			r.Sweep = st
		}
	}
}

// apiCall rebuilds a call of a source for evidence and the finding.
func (p *principal) apiCall(c *call, s *source) event.APICall {
	return event.APICall{
		Origin: c.Origin, EventTime: c.T, EventName: c.API, EventSource: c.Svc, ErrorCode: c.Err, UserAgent: c.Agent,
		Region: c.Region, SourceIP: s.Key.Addr, SourceInfo: s.Info, Identity: s.Ident, Account: p.Account,
	}
}

// sourceName names a source in an explanation: "203.0.113.7 (aws-cli)".
func sourceName(k sourceKey) string {
	addr := "an unknown address"
	if k.Addr.IsValid() {
		addr = k.Addr.String()
	}
	if k.Client.IsZero() {
		return addr
	}
	return addr + " (" + k.Client.String() + ")"
}

func (d *Detector) finding(r *report) *finding.Finding {
	p := d.principals.Peek(r.Key)
	var ev trail.Evidence
	var latest event.APICall
	have := false
	for i := range r.Calls {
		s := p.find(r.Calls[i].Src)
		if s == nil {
			continue
		}
		a := p.apiCall(&r.Calls[i].call, s)
		ev.AddN(&a, int64(r.Calls[i].N))
		if !have || a.EventTime >= latest.EventTime {
			latest, have = a, true
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
		var parts []string
		if r.Volume || !r.Sweep.Sweep {
			parts = append(parts, strconv.Itoa(st.Distinct)+" distinct discovery APIs within "+span+", "+strconv.Itoa(st.Writes)+" of "+
				strconv.Itoa(st.Calls)+" calls writes")
		}
		sw := r.Sweep
		if sw.Sweep {
			parts = append(parts, "a fast sweep of "+strconv.Itoa(sw.SweepAPIs)+" distinct discovery APIs across "+
				strconv.Itoa(sw.SweepServices)+" services within "+strconv.Itoa(int(d.sweepWindow))+" s")
		}
		detail = strings.Join(parts, "; ")
		exp.Thresholds = []finding.Threshold{
			{Name: "min_distinct_apis", Limit: float64(d.minAPIs), Observed: float64(st.Distinct), Unit: "APIs", Crossed: r.Volume},
			{Name: "max_write_ratio", Limit: d.maxWrite, Observed: ratio(st.Writes, st.Calls), Unit: "ratio", Crossed: false},
			{Name: "min_sweep_apis", Limit: float64(d.minSweepAPIs), Observed: float64(max(sw.SweepAPIs, st.SweepAPIs)), Unit: "APIs", Crossed: sw.Sweep},
			{Name: "min_sweep_services", Limit: float64(d.minSweepSvcs), Observed: float64(max(sw.SweepServices, st.SweepServices)), Unit: "services", Crossed: sw.Sweep},
		}
		exp.Counts = map[string]int64{"sweep_window_seconds": int64(d.sweepWindow)}
		if d.baseDays > 0 {
			// The account's normal for the client, which the burst
			// went beyond.
			exp.Counts["baseline_distinct_apis"] = int64(st.BaseVolume)
			exp.Counts["baseline_sweep_apis"] = int64(max(sw.BaseSweep, st.BaseSweep))
		}
		if sw.Sweep && !r.Volume {
			// The sweep decided: its window is the one to show.
			st.Start, st.End = sw.End-d.sweepWindow+1, sw.End
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
	from := make([]string, 0, len(r.Sources))
	for _, k := range r.Sources {
		if len(from) < trail.MaxNames {
			from = append(from, sourceName(k))
		}
	}
	detail += " from " + strings.Join(from, ", ")
	exp.Summary = trail.Label(&latest) + ": " + detail + " (" + kindNames[r.Kind] + ", " + st.Start.String() + " to " + st.End.String() + ")"
	ev.Explain(exp)
	var dropped int64
	for _, s := range p.Sources {
		if slices.Contains(r.Sources, s.Key) {
			dropped += s.Truncated
		}
	}
	exp.Counts["bursts"] = p.Bursts[r.Kind]
	exp.Counts["calls_dropped"] = dropped
	exp.Counts["window_seconds"] = int64(d.window)
	exp.Counts["sources"] = int64(len(r.Sources))
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

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
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
	Evicted    uint64 // sources evicted
	Known      lru.Snapshot[knownKey, event.Time]
	Baselines  lru.Snapshot[baselineKey, baseline]
}

// MarshalState saves the principals' recent calls.
func (d *Detector) MarshalState() ([]byte, error) {
	st := detectorState{Principals: d.principals.View(), Lost: d.lost, Evicted: d.evictedSrcs,
		Known: d.known.View(), Baselines: d.baselines.View()}
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
	d.known.Restore(st.Known)
	d.baselines.Restore(st.Baselines)
	d.nsources = 0
	d.principals.All(func(_ trail.Principal, p *principal) bool {
		d.nsources += len(p.Sources)
		return true
	})
	clear(d.dirty)
	for _, k := range st.Dirty {
		d.dirty[k] = true
	}
	d.lost, d.evictedSrcs = st.Lost, st.Evicted
	return nil
}
