// Package iamanomaly owns the per-principal behaviour profile and the
// <Tactic>:IAMUser/AnomalousBehavior findings: calls of one tactic
// (Discovery, CredentialAccess, DefenseEvasion, Exfiltration, Impact,
// InitialAccess, Persistence, PrivilegeEscalation, as the tactics file of
// package trail assigns them) made in a way that departs from how the
// principal has behaved so far.
//
// The detector learns, for every principal, the APIs it calls, the
// networks (AS, or the /24 or /48 without an AS database) and countries
// it calls from, the families of its user agents (aws-cli, boto3, the
// console, terraform, aws-cli+kali, ...) and the platforms they name
// (linux, macos, windows), the hours of the day it is active and how
// often its calls fail. Calls are grouped in fixed windows of event time
// (an hour by default). A principal's profile is mature once it has been
// watched for the baseline (seven days by default, in event time) and has
// made enough calls; from then on each window that holds calls of a
// tactic (a burst of them for Discovery, whose calls are many and cheap;
// one is enough for the others, each of which reads secrets or changes
// access, logging or data) is compared with the profile before the
// window is learned, and the factors in which it departs are:
//
//   - API: the tactic's APIs were never called before (UNSEEN);
//   - location: a network or country the principal never or rarely used
//     (UNSEEN or RARE; AS and country count as one factor, since a new
//     country brings a new network);
//   - user agent: a family or a platform never or rarely used (one
//     factor);
//   - hour: an hour of the day the principal is rarely active at (its
//     neighbours too);
//   - error rate: far more failures than usual.
//
// A window with at least min_unusual_factors of them is a finding of the
// tactic's type, which lists the factors in service.additionalInfo and
// in service.detection.anomaly: the profile of each feature with its
// FREQUENT, INFREQUENT, RARE and UNSEEN values (profiles["identity"]) and
// what was unusual (unusual.behavior["identity"]), with profileType
// FREQUENCY as GuardDuty writes it. A travelling user (a new location at
// an odd hour) stays quiet; a stolen key enumerating from a new network
// at 3 a.m. with a new tool does not. Every window is learned after it is
// judged, so the same behaviour is reported once.
//
// A principal whose own profile is not mature yet (a key used a few times
// a month) is judged against its account instead: the account's profile
// pools the windows of all its principals, and a value counts as unusual
// when neither the principal nor any principal of the account used it
// (for the hour, when the principal never and the account rarely is
// active then). The APIs are still the principal's own: which of them it
// never called. The account's profile, mature after the same baseline
// and number of calls, is listed as profiles["account"].
//
// Each profile is bounded (the most frequent APIs, networks and user
// agents are kept by the space-saving rule), and so are the tables of
// principals' and accounts' profiles; the least recently active are
// evicted and counted.
package iamanomaly

import (
	"cmp"
	"maps"
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
const ID = "iamanomaly"

// Thresholds are the detector's tunables.
var Thresholds = detect.Tunables{
	{Name: "baseline", Unit: "seconds", Default: 7 * 86400, Min: 3600, Max: 365 * 86400,
		Doc: "how long, in event time from its first call, a principal is only learned before its windows are judged; a week sees a working week and a weekend"},
	{Name: "min_profile_calls", Unit: "calls", Default: 200, Min: 1, Max: 1e9,
		Doc: "calls a profile must hold before it judges: a principal that has made few calls has no habits yet, and is judged against its account's profile"},
	{Name: "window", Unit: "seconds", Default: 3600, Min: 60, Max: 86400,
		Doc: "the fixed windows of event time in which calls are grouped, judged and then learned; an hour matches the hour-of-day profile"},
	{Name: "min_discovery_apis", Unit: "APIs", Default: 8, Min: 1, Max: 10_000,
		Doc: "distinct discovery APIs a window must hold to be judged as a burst of discovery"},
	{Name: "min_tactic_apis", Unit: "APIs", Default: 1, Min: 1, Max: 10_000,
		Doc: "distinct APIs of one of the other tactics (credential access, persistence, ...) a window must hold to be judged for it; one, since each such call reads secrets or changes access, logging or data, and the factors decide"},
	{Name: "min_unseen_apis", Unit: "APIs", Default: 5, Min: 1, Max: 10_000,
		Doc: "discovery APIs of the window the principal never called before for the API factor to count; for the other tactics, whose APIs are few, one is enough"},
	{Name: "min_unseen_ratio", Unit: "ratio", Default: 0.5, Min: 0, Max: 1,
		Doc: "share of the window's distinct APIs of the tactic never called before for the API factor to count"},
	{Name: "rare_ratio", Unit: "ratio", Default: 0.01, Min: 0, Max: 0.5,
		Doc: "share of the profile's calls below which a network, country, user-agent family, platform or hour is RARE (above it and below 10 times it, INFREQUENT)"},
	{Name: "min_error_rate", Unit: "ratio", Default: 0.2, Min: 0, Max: 1,
		Doc: "share of the window's calls that failed for the error-rate factor to count, when also 4 times the profile's rate"},
	{Name: "min_unusual_factors", Unit: "factors", Default: 3, Min: 1, Max: 5,
		Doc: "unusual factors (API, location, user agent, hour, error rate) a window needs for a finding; 4 or more raise the type's severity a level"},
	{Name: "thin_principals", Unit: "flag", Default: 1, Min: 0, Max: 1,
		Doc: "1 judges a principal whose own profile is not mature (fewer than min_profile_calls calls, or watched for less than the baseline) against its account's profile, once it was seen in an earlier window; 0 leaves such principals unjudged"},
	{Name: "max_principals", Unit: "principals", Default: 10_000, Min: 10, Max: 1e7,
		Doc: "profiles kept at once, 2 to 30 KiB each (about 4 KiB for a principal that calls 50 APIs); the least recently active are evicted and counted"},
	{Name: "max_accounts", Unit: "accounts", Default: 1000, Min: 1, Max: 1e6,
		Doc: "account profiles kept at once, for judging principals with a thin history, up to 60 KiB each; the least recently active are evicted and counted"},
}

// Bounds of one profile.
const (
	maxAPIs      = 512 // APIs a profile counts
	maxSmall     = 32  // networks, countries, user-agent families, platforms
	maxAcctSmall = 256 // the same in an account's profile, which pools many principals
	maxSlotAPIs  = 256 // APIs one window counts, besides those of a tactic
	maxSlotSmall = 8
	maxSlots     = 4  // open windows per principal
	maxSamples   = 5  // per tactic
	maxObserved  = 20 // values listed per unusual factor
	maxMemo      = 4096
)

// tacticTypes are the finding types, by tactic.
var tacticTypes = [trail.NumTactics]string{
	trail.TacticCredentialAccess:    finding.TypeCredentialAccessAnomalous,
	trail.TacticDefenseEvasion:      finding.TypeDefenseEvasionAnomalous,
	trail.TacticDiscovery:           finding.TypeDiscoveryAnomalous,
	trail.TacticExfiltration:        finding.TypeExfiltrationAnomalous,
	trail.TacticImpact:              finding.TypeImpactAnomalous,
	trail.TacticInitialAccess:       finding.TypeInitialAccessAnomalous,
	trail.TacticPersistence:         finding.TypePersistenceAnomalous,
	trail.TacticPrivilegeEscalation: finding.TypePrivilegeEscalationAnomalous,
}

// tacticWords name the tactics in prose and, with "-" as "_", in counts.
var tacticWords = [trail.NumTactics]string{
	"credential access", "defense evasion", "discovery", "exfiltration",
	"impact", "initial access", "persistence", "privilege escalation",
}

func countName(t trail.Tactic, what string) string {
	w := strings.ReplaceAll(tacticWords[t], " ", "_")
	if what == "distinct" {
		return "distinct_" + w + "_apis"
	}
	return w + "_calls"
}

// apiKey is an API of a service.
type apiKey struct {
	Svc, API event.ID
}

// apiStat is what a window holds of one API: its calls, and the tactics
// it belongs to (Always, whatever the parameters; Cond, the tactics that
// depend on them; Seen, those its calls had).
type apiStat struct {
	N                  uint32
	Always, Cond, Seen trail.Tactics
}

// network is where a call came from: an AS when enrichment knows it,
// else the address's /24 (IPv4) or /48 (IPv6).
type network struct {
	ASN    uint32
	Prefix netip.Prefix
}

func networkOf(c *event.APICall) (network, bool) {
	if !c.SourceIP.IsValid() {
		return network{}, false
	}
	if c.SourceInfo.ASN != 0 {
		return network{ASN: c.SourceInfo.ASN}, true
	}
	bits := 24
	if c.SourceIP.Is6() {
		bits = 48
	}
	p, _ := c.SourceIP.Prefix(bits)
	return network{Prefix: p}, true
}

// call is a sample call kept as evidence. Fields are exported for saving
// state.
type call struct {
	T      event.Time
	Origin event.Origin
	API    apiKey
	Err    event.ID
	Agent  event.ID
	Region event.ID
	Src    netip.Addr
	Info   event.IPInfo
}

// slot is one window of a principal's calls.
type slot struct {
	Start         event.Time
	Calls, Errors int64
	// Stats holds every API, up to maxSlotAPIs, and those of a tactic.
	// (Named apart from the APIs of earlier versions, which counted calls
	// only, so that their saved windows still decode.)
	Stats       map[apiKey]apiStat
	TacticCalls [trail.NumTactics]int64
	Networks    counts[network]
	ASOrgs      map[network]event.ID
	Countries   counts[event.ID]
	Agents      counts[event.ID]
	Platforms   counts[event.ID]
	Samples     [trail.NumTactics][]call // the earliest calls of each tactic
	Latest      []call                   // the latest call of each tactic, by tactic; nil until one
	Newest      call                     // the latest call of any tactic, whose identity Ident is
	Ident       event.Identity
	Account     event.ID
}

// counts is a small bounded tally.
type counts[K comparable] struct {
	Keys []K
	N    []uint32
}

func (c *counts[K]) add(k K, n uint32, max int) {
	if i := slices.Index(c.Keys, k); i >= 0 {
		c.N[i] += n
		return
	}
	if len(c.Keys) < max {
		c.Keys = append(c.Keys, k)
		c.N = append(c.N, n)
		return
	}
	// Space-saving: the least counted makes room and lends its count.
	j := 0
	for i := range c.N {
		if c.N[i] < c.N[j] {
			j = i
		}
	}
	c.Keys[j] = k
	c.N[j] += n
}

func (c *counts[K]) get(k K) uint32 {
	if i := slices.Index(c.Keys, k); i >= 0 {
		return c.N[i]
	}
	return 0
}

// profile is what the detector knows of one principal, or of all the
// principals of an account. Fields are exported for saving state.
type profile struct {
	Since, Last   event.Time
	Calls, Errors int64
	Windows       int64
	APIs          map[apiKey]uint32
	Networks      counts[network]
	ASOrgs        map[network]event.ID
	Countries     counts[event.ID]
	Agents        counts[event.ID]
	Platforms     counts[event.ID]
	Hours         [24]uint32
	Slots         []slot
	Late          int64      // calls that came after their window was judged
	Judged        event.Time // the end of the latest window judged
	Reported      int64
}

// tacticMemo is what the tactics table says of an API.
type tacticMemo struct{ always, cond trail.Tactics }

// learnRef is a principal whose first N open windows were judged in an
// Advance and are still to be learned by its account.
type learnRef struct {
	k trail.Principal
	n int
}

// Detector is the anomaly detector.
type Detector struct {
	env          detect.Env
	th           detect.Tunables
	baseline     event.Time
	minCalls     int64
	window       event.Time
	minAPIs      int
	minTactic    int
	minUnseen    int
	unseenRatio  float64
	rare         float64
	minErrorRate float64
	minFactors   int
	thin         bool
	tactics      *trail.TacticTable
	memo         map[apiKey]tacticMemo // bounded, cleared when full
	families     trail.Families
	principalsOf trail.Principals
	profiles     *lru.Table[trail.Principal, profile]
	accounts     *lru.Table[event.ID, profile]
	dirty        map[trail.Principal]bool
	keys         []trail.Principal // scratch for Advance
	learned      []learnRef        // scratch for Advance
	spare        []slot            // judged windows, for reuse
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
	return &Detector{
		env: env, th: th,
		baseline:     event.Time(th.Get("baseline")),
		minCalls:     int64(th.Get("min_profile_calls")),
		window:       event.Time(th.Get("window")),
		minAPIs:      int(th.Get("min_discovery_apis")),
		minTactic:    int(th.Get("min_tactic_apis")),
		minUnseen:    int(th.Get("min_unseen_apis")),
		unseenRatio:  th.Get("min_unseen_ratio"),
		rare:         th.Get("rare_ratio"),
		minErrorRate: th.Get("min_error_rate"),
		minFactors:   int(th.Get("min_unusual_factors")),
		thin:         th.Get("thin_principals") >= 0.5,
		tactics:      trail.DefaultTactics(),
		memo:         make(map[apiKey]tacticMemo, 256),
		// Measured: a profile of 50 APIs, 3 networks and 2 user agents
		// takes about 4 KiB with an open window.
		profiles: lru.New[trail.Principal, profile](env.Cap(int(th.Get("max_principals")), 1, 8<<10), nil),
		// An account's profile holds up to 512 APIs and 256 networks,
		// countries, families and platforms: at most about 60 KiB.
		accounts: lru.New[event.ID, profile](env.Cap(int(th.Get("max_accounts")), 0.1, 60<<10), nil),
		dirty:    map[trail.Principal]bool{},
	}, nil
}

// Definition describes the detector.
func (d *Detector) Definition() detect.Definition {
	return detect.Definition{
		ID:           ID,
		Summary:      "calls of a tactic (discovery, credential access, persistence, ...) that depart from the principal's learned profile, or its account's for a principal with little history: new APIs, location, user agent, hour, error rate",
		FindingTypes: tacticTypes[:],
		Subscribes:   []event.Kind{event.KindAPICall},
		Thresholds:   d.th,
	}
}

// State reports the profile tables.
func (d *Detector) State() []detect.StateStats {
	return []detect.StateStats{
		{Table: "profiles", Len: d.profiles.Len(), Cap: d.profiles.Cap(), Evicted: d.profiles.Evicted()},
		{Table: "accounts", Len: d.accounts.Len(), Cap: d.accounts.Cap(), Evicted: d.accounts.Evicted()},
	}
}

// Observe counts a call into its principal's window.
func (d *Detector) Observe(rec event.Record, _ detect.Emit) {
	c, ok := rec.(*event.APICall)
	if !ok || trail.Ignored(&d.env, c) {
		return
	}
	k := d.principalsOf.Of(c)
	if k.IsZero() {
		return
	}
	p, created := d.profiles.Put(k)
	if created || c.EventTime < p.Since {
		p.Since = c.EventTime
	}
	p.Last = max(p.Last, c.EventTime)
	start := c.EventTime - c.EventTime%d.window
	s := p.slot(start, &d.spare)
	if s == nil {
		p.Late++
		d.learnCall(k, p, c)
		return
	}
	d.count(s, c)
	d.dirty[k] = true
}

// slot returns the open window that starts at start, opening it if need
// be, or nil when that window was judged already.
func (p *profile) slot(start event.Time, spare *[]slot) *slot {
	for i := range p.Slots {
		if p.Slots[i].Start == start {
			return &p.Slots[i]
		}
	}
	if start < p.Judged {
		return nil
	}
	if len(p.Slots) >= maxSlots {
		if start < p.Slots[0].Start {
			return nil
		}
		// Too many open windows (records far apart in one run): the
		// oldest is learned without being judged.
		p.learnSlot(&p.Slots[0], maxSmall)
		recycle(spare, p.Slots[0])
		p.Slots = append(p.Slots[:0], p.Slots[1:]...)
	}
	i, _ := slices.BinarySearchFunc(p.Slots, start, func(s slot, t event.Time) int { return cmp.Compare(s.Start, t) })
	var s slot
	if n := len(*spare); n > 0 {
		s, *spare = (*spare)[n-1], (*spare)[:n-1]
	} else {
		s = slot{Stats: make(map[apiKey]apiStat, 16)}
	}
	s.Start = start
	p.Slots = slices.Insert(p.Slots, i, s)
	return &p.Slots[i]
}

// maxSpare bounds the judged windows kept for reuse.
const maxSpare = 256

// recycle keeps a judged window's maps and slices, emptied, for the next
// window: one opens for every active principal every hour, and reusing
// them keeps the detector from allocating per window (measured with
// BenchmarkCloudTrail: from 0.33 to about 0.05 allocations per event).
func recycle(spare *[]slot, s slot) {
	if len(*spare) >= maxSpare || s.Stats == nil {
		return
	}
	clear(s.Stats)
	clear(s.ASOrgs)
	r := slot{Stats: s.Stats, ASOrgs: s.ASOrgs,
		Networks:  counts[network]{Keys: s.Networks.Keys[:0], N: s.Networks.N[:0]},
		Countries: counts[event.ID]{Keys: s.Countries.Keys[:0], N: s.Countries.N[:0]},
		Agents:    counts[event.ID]{Keys: s.Agents.Keys[:0], N: s.Agents.N[:0]},
		Platforms: counts[event.ID]{Keys: s.Platforms.Keys[:0], N: s.Platforms.N[:0]}}
	for t := range s.Samples {
		r.Samples[t] = s.Samples[t][:0]
	}
	if s.Latest != nil {
		clear(s.Latest)
		r.Latest = s.Latest
	}
	*spare = append(*spare, r)
}

// tacticsOf returns the tactics of a call, asking the table once per API.
func (d *Detector) tacticsOf(k apiKey) tacticMemo {
	if m, ok := d.memo[k]; ok {
		return m
	}
	if len(d.memo) >= maxMemo {
		clear(d.memo)
	}
	var m tacticMemo
	m.always, m.cond = d.tactics.Lookup(shortService(k.Svc), k.API.String())
	d.memo[k] = m
	return m
}

// count adds a call to a window.
func (d *Detector) count(s *slot, c *event.APICall) {
	s.Calls++
	if c.Failed() {
		s.Errors++
	}
	k := apiKey{c.EventSource, c.EventName}
	if s.Stats == nil {
		s.Stats = make(map[apiKey]apiStat, 16)
	}
	st, seen := s.Stats[k]
	if !seen {
		m := d.tacticsOf(k)
		st.Always, st.Cond = m.always, m.cond
	}
	tac := st.Always
	if st.Cond != 0 {
		tac |= d.tactics.Conditional(shortService(k.Svc), k.API.String(), c.RequestParameters)
	}
	// A window counts its first maxSlotAPIs APIs, and every API of a
	// tactic up to twice as many.
	if seen || len(s.Stats) < maxSlotAPIs || tac != 0 && len(s.Stats) < 2*maxSlotAPIs {
		st.N++
		st.Seen |= tac
		s.Stats[k] = st
	}
	if n, ok := networkOf(c); ok {
		s.Networks.add(n, 1, maxSlotSmall)
		if org := c.SourceInfo.ASOrg; !org.IsZero() {
			if s.ASOrgs == nil {
				s.ASOrgs = make(map[network]event.ID, 2)
			}
			if _, named := s.ASOrgs[n]; !named && len(s.ASOrgs) < maxSlotSmall {
				s.ASOrgs[n] = org
			}
		}
	}
	if !c.SourceInfo.CountryCode.IsZero() {
		s.Countries.add(c.SourceInfo.CountryCode, 1, maxSlotSmall)
	}
	fam, plat := d.families.Classify(c.UserAgent)
	s.Agents.add(fam, 1, maxSlotSmall)
	s.Platforms.add(plat, 1, maxSlotSmall)
	if tac == 0 {
		return
	}
	cl := call{T: c.EventTime, Origin: c.Origin, API: k, Err: c.ErrorCode, Agent: c.UserAgent, Region: c.Region, Src: c.SourceIP, Info: c.SourceInfo}
	if s.Newest.T == 0 || later(&cl, &s.Newest) {
		s.Newest, s.Ident, s.Account = cl, c.Identity, c.Account
	}
	if s.Latest == nil {
		s.Latest = make([]call, trail.NumTactics)
	}
	for t := range trail.NumTactics {
		if !tac.Has(t) {
			continue
		}
		s.TacticCalls[t]++
		if s.Latest[t].T == 0 || later(&cl, &s.Latest[t]) {
			s.Latest[t] = cl
		}
		i, _ := slices.BinarySearchFunc(s.Samples[t], cl, compareCalls)
		if i < maxSamples {
			if s.Samples[t] == nil {
				s.Samples[t] = make([]call, 0, maxSamples+1)
			}
			s.Samples[t] = slices.Insert(s.Samples[t], i, cl)
			s.Samples[t] = s.Samples[t][:min(len(s.Samples[t]), maxSamples)]
		}
	}
}

func compareCalls(a, b call) int {
	if c := cmp.Compare(a.T, b.T); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Origin.File.String(), b.Origin.File.String()); c != 0 {
		return c
	}
	return cmp.Compare(a.Origin.Line, b.Origin.Line)
}

func later(a, b *call) bool { return compareCalls(*a, *b) > 0 }

// netName names a network: "AS64496 EXAMPLE-VPS", or its prefix.
func netName(n network, orgs map[network]event.ID) string {
	if n.ASN != 0 {
		s := "AS" + strconv.FormatUint(uint64(n.ASN), 10)
		if org := orgs[n]; !org.IsZero() {
			s += " " + org.String()
		}
		return s
	}
	return n.Prefix.String()
}

// learnCall adds one late call straight to the profile and its
// account's.
func (d *Detector) learnCall(k trail.Principal, p *profile, c *event.APICall) {
	s := slot{Start: c.EventTime - c.EventTime%d.window}
	d.count(&s, c)
	p.learnSlot(&s, maxSmall)
	d.learnAccount(k.Account, &s)
}

// learnAccount adds a principal's window to its account's profile.
func (d *Detector) learnAccount(acct event.ID, s *slot) {
	a, created := d.accounts.Put(acct)
	if created || s.Start < a.Since {
		a.Since = s.Start
	}
	a.Last = max(a.Last, s.Start)
	a.learnSlot(s, maxAcctSmall)
}

// learnSlot adds a window to the profile; small bounds its networks,
// countries, families and platforms.
func (p *profile) learnSlot(s *slot, small int) {
	if p.APIs == nil {
		p.APIs = map[apiKey]uint32{}
	}
	p.Calls += s.Calls
	p.Errors += s.Errors
	p.Windows++
	for k, st := range s.Stats {
		n := st.N
		if _, ok := p.APIs[k]; !ok && len(p.APIs) >= maxAPIs {
			// Space-saving: the least called API makes room.
			var low apiKey
			lowN := ^uint32(0)
			for k2, n2 := range p.APIs {
				if n2 < lowN || n2 == lowN && compareAPI(k2, low) < 0 {
					low, lowN = k2, n2
				}
			}
			delete(p.APIs, low)
			n += lowN
		}
		p.APIs[k] += n
	}
	for i, k := range s.Networks.Keys {
		p.Networks.add(k, s.Networks.N[i], small)
		if org, ok := s.ASOrgs[k]; ok {
			if p.ASOrgs == nil {
				p.ASOrgs = map[network]event.ID{}
			}
			p.ASOrgs[k] = org
		}
	}
	if len(p.ASOrgs) > 2*small {
		for k := range p.ASOrgs {
			if p.Networks.get(k) == 0 {
				delete(p.ASOrgs, k)
			}
		}
	}
	for i, k := range s.Countries.Keys {
		p.Countries.add(k, s.Countries.N[i], small)
	}
	for i, k := range s.Agents.Keys {
		p.Agents.add(k, s.Agents.N[i], small)
	}
	for i, k := range s.Platforms.Keys {
		p.Platforms.add(k, s.Platforms.N[i], small)
	}
	p.Hours[s.Start.UTC().Hour()] += uint32(min(s.Calls, 1<<31))
}

func compareAPI(a, b apiKey) int {
	if c := cmp.Compare(a.Svc.String(), b.Svc.String()); c != 0 {
		return c
	}
	return cmp.Compare(a.API.String(), b.API.String())
}

// Advance judges the windows that end at or before the watermark, then
// learns them: each principal's into its own profile as it goes, and all
// of them into their accounts' profiles once every window was judged, so
// that principals of one account judged in the same Advance are judged
// against the same account profile whatever their order.
func (d *Detector) Advance(w event.Time, emit detect.Emit) {
	keys := d.keys[:0]
	for k := range d.dirty {
		keys = append(keys, k)
	}
	d.keys = keys
	slices.SortFunc(keys, func(a, b trail.Principal) int {
		if c := cmp.Compare(a.Account.String(), b.Account.String()); c != 0 {
			return c
		}
		return cmp.Compare(a.ARN.String(), b.ARN.String())
	})
	learned := d.learned[:0]
	for _, k := range keys {
		p := d.profiles.Peek(k)
		if p == nil {
			delete(d.dirty, k)
			continue
		}
		n := 0
		for n < len(p.Slots) && (w == event.Forever || p.Slots[n].Start+d.window <= w) {
			s := &p.Slots[n]
			d.judge(k, p, s, emit)
			p.learnSlot(s, maxSmall)
			p.Judged = max(p.Judged, s.Start+d.window)
			n++
		}
		switch {
		case n > 0:
			learned = append(learned, learnRef{k, n})
		case len(p.Slots) == 0:
			delete(d.dirty, k)
		}
	}
	d.learned = learned
	for _, l := range learned {
		p := d.profiles.Peek(l.k)
		for i := range p.Slots[:l.n] {
			d.learnAccount(l.k.Account, &p.Slots[i])
			recycle(&d.spare, p.Slots[i])
		}
		p.Slots = append(p.Slots[:0], p.Slots[l.n:]...)
		if len(p.Slots) == 0 {
			delete(d.dirty, l.k)
		}
	}
}

// mature reports whether a profile may judge a window starting at t.
func (d *Detector) mature(p *profile, t event.Time) bool {
	return t-p.Since >= d.baseline && p.Calls >= d.minCalls
}

// minAPIsOf returns the distinct APIs of tactic t a window needs to be
// judged for it.
func (d *Detector) minAPIsOf(t trail.Tactic) int {
	if t == trail.TacticDiscovery {
		return d.minAPIs
	}
	return d.minTactic
}

// factor is one feature's verdict.
type factor struct {
	name     string // "API", "ASN", ...
	counts   bool   // counts towards min_unusual_factors
	subtype  string // UNSEEN, RARE, INFREQUENT
	observed []string
	why      string
}

// The profile subtypes.
const (
	subFrequent   = "FREQUENT"
	subInfrequent = "INFREQUENT"
	subRare       = "RARE"
	subUnseen     = "UNSEEN"
)

// frequency grades how often the profile has seen a value.
func (d *Detector) frequency(n uint32, total int64) string {
	switch {
	case n == 0:
		return subUnseen
	case float64(n) < d.rare*float64(total):
		return subRare
	case float64(n) < 10*d.rare*float64(total):
		return subInfrequent
	}
	return subFrequent
}

// unusual reports whether a subtype is unusual.
func unusual(sub string) bool { return sub == subUnseen || sub == subRare }

// judge compares a window with the principal's profile, or with its
// account's when the principal's own is not mature, and emits a finding
// for each tactic whose calls depart from it in enough factors.
func (d *Detector) judge(k trail.Principal, p *profile, s *slot, emit detect.Emit) {
	var distinct [trail.NumTactics]int
	judged := false
	for _, st := range s.Stats {
		if st.Seen == 0 {
			continue
		}
		for t := range trail.NumTactics {
			if st.Seen.Has(t) {
				distinct[t]++
				judged = judged || distinct[t] == d.minAPIsOf(t)
			}
		}
	}
	if !judged {
		return
	}
	var acct *profile // the account's profile, for a thin principal
	if !d.mature(p, s.Start) {
		if !d.thin || p.Windows == 0 {
			return
		}
		if acct = d.accounts.Peek(k.Account); acct == nil || !d.mature(acct, s.Start) {
			return
		}
	}
	var shared []factor
	if acct == nil {
		shared = d.factors(p, s)
	} else {
		shared = d.thinFactors(p, acct, s)
	}
	for t := range trail.NumTactics {
		if distinct[t] < d.minAPIsOf(t) {
			continue
		}
		fs := shared
		if f, ok := d.apiFactor(p, acct, s, t, distinct[t]); ok {
			fs = append([]factor{f}, shared...)
		}
		n := 0
		for _, f := range fs {
			if f.counts {
				n++
			}
		}
		if n < d.minFactors {
			continue
		}
		p.Reported++
		emit(d.finding(k, p, acct, s, t, fs, n, distinct[t]))
	}
}

// apiFactor judges the APIs of tactic t in the window: unusual when
// enough of them were never called by the principal.
func (d *Detector) apiFactor(p, acct *profile, s *slot, t trail.Tactic, distinct int) (factor, bool) {
	var unseen []apiKey
	for api, st := range s.Stats {
		if st.Seen.Has(t) && p.APIs[api] == 0 {
			unseen = append(unseen, api)
		}
	}
	least := 1
	if t == trail.TacticDiscovery {
		least = d.minUnseen
	}
	if len(unseen) < least || float64(len(unseen)) < d.unseenRatio*float64(distinct) {
		return factor{}, false
	}
	slices.SortFunc(unseen, compareAPI)
	why := strconv.Itoa(len(unseen)) + " of " + strconv.Itoa(distinct) + " " + tacticWords[t] + " APIs never called before"
	if acct != nil {
		why += " by the principal, whose history holds " + strconv.FormatInt(p.Calls, 10) + " calls"
	}
	return factor{name: "API", counts: true, subtype: subUnseen, observed: apiNames(unseen), why: why}, true
}

// factors judges the location, user agent, hour and error rate of a
// window against a mature principal's profile.
func (d *Detector) factors(p *profile, s *slot) []factor {
	var fs []factor
	// Location: a network or a country the principal (almost) never used.
	loc := false
	for i, n := range s.Networks.Keys {
		sub := d.frequency(p.Networks.get(n), p.Calls)
		if unusual(sub) && s.Networks.N[i] > 0 {
			name := netName(n, s.ASOrgs)
			fs = append(fs, factor{name: "ASN", counts: !loc, subtype: sub, observed: []string{name},
				why: "network " + name + " " + strings.ToLower(sub)})
			loc = true
			break
		}
	}
	for _, c := range s.Countries.Keys {
		sub := d.frequency(p.Countries.get(c), p.Calls)
		if unusual(sub) {
			fs = append(fs, factor{name: "country", counts: !loc, subtype: sub, observed: []string{c.String()},
				why: "country " + c.String() + " " + strings.ToLower(sub)})
			break
		}
	}
	// User agent: a family, or a platform, the principal (almost) never
	// used; one factor.
	ua := false
	for _, a := range s.Agents.Keys {
		sub := d.frequency(p.Agents.get(a), p.Calls)
		if unusual(sub) {
			fs = append(fs, factor{name: "userAgent", counts: true, subtype: sub, observed: []string{a.String()},
				why: "user agent family " + a.String() + " " + strings.ToLower(sub)})
			ua = true
			break
		}
	}
	for _, pl := range s.Platforms.Keys {
		if pl.String() == trail.PlatformUnknown {
			continue
		}
		sub := d.frequency(p.Platforms.get(pl), p.Calls)
		if unusual(sub) {
			fs = append(fs, factor{name: "platform", counts: !ua, subtype: sub, observed: []string{pl.String()},
				why: "platform " + pl.String() + " " + strings.ToLower(sub)})
			break
		}
	}
	// Hour of the day: rare, and so are the hours either side.
	h := s.Start.UTC().Hour()
	if sub := d.frequency(around(p, h), hoursTotal(p)); unusual(sub) {
		fs = append(fs, factor{name: "hourOfDay", counts: true, subtype: sub, observed: []string{strconv.Itoa(h) + ":00 UTC"},
			why: "active at " + strconv.Itoa(h) + ":00 UTC, " + hourWord(sub)})
	}
	if f, ok := d.errorFactor(p, s, ""); ok {
		fs = append(fs, f)
	}
	return fs
}

// thinFactors judges the location, user agent, hour and error rate of a
// thin principal's window against its account's profile. The account
// pools many principals, so a value one colleague uses every day is a
// small share of it: for networks, countries, families and platforms
// only what no principal of the account used (and the principal neither)
// is unusual; for the hour, an hour the principal never and the account
// rarely is active at.
func (d *Detector) thinFactors(p, acct *profile, s *slot) []factor {
	const nobody = " never used by the principal nor by any principal of its account"
	var fs []factor
	loc := false
	for _, n := range s.Networks.Keys {
		if p.Networks.get(n) == 0 && acct.Networks.get(n) == 0 {
			name := netName(n, s.ASOrgs)
			fs = append(fs, factor{name: "ASN", counts: true, subtype: subUnseen, observed: []string{name},
				why: "network " + name + nobody})
			loc = true
			break
		}
	}
	for _, c := range s.Countries.Keys {
		if p.Countries.get(c) == 0 && acct.Countries.get(c) == 0 {
			fs = append(fs, factor{name: "country", counts: !loc, subtype: subUnseen, observed: []string{c.String()},
				why: "country " + c.String() + nobody})
			break
		}
	}
	ua := false
	for _, a := range s.Agents.Keys {
		if p.Agents.get(a) == 0 && acct.Agents.get(a) == 0 {
			fs = append(fs, factor{name: "userAgent", counts: true, subtype: subUnseen, observed: []string{a.String()},
				why: "user agent family " + a.String() + nobody})
			ua = true
			break
		}
	}
	for _, pl := range s.Platforms.Keys {
		if pl.String() != trail.PlatformUnknown && p.Platforms.get(pl) == 0 && acct.Platforms.get(pl) == 0 {
			fs = append(fs, factor{name: "platform", counts: !ua, subtype: subUnseen, observed: []string{pl.String()},
				why: "platform " + pl.String() + nobody})
			break
		}
	}
	h := s.Start.UTC().Hour()
	if around(p, h) == 0 {
		if sub := d.frequency(around(acct, h), hoursTotal(acct)); unusual(sub) {
			fs = append(fs, factor{name: "hourOfDay", counts: true, subtype: sub, observed: []string{strconv.Itoa(h) + ":00 UTC"},
				why: "active at " + strconv.Itoa(h) + ":00 UTC, an hour it was never active at and its account " + acctHourWord(sub)})
		}
	}
	if f, ok := d.errorFactor(acct, s, " in its account"); ok {
		fs = append(fs, f)
	}
	return fs
}

// errorFactor judges the window's failures against the usual rate of
// the profile p.
func (d *Detector) errorFactor(p *profile, s *slot, where string) (factor, bool) {
	rate := float64(s.Errors) / float64(max(s.Calls, 1))
	usual := float64(p.Errors) / float64(max(p.Calls, 1))
	if rate < d.minErrorRate || rate < 4*usual {
		return factor{}, false
	}
	return factor{name: "errorRate", counts: true, subtype: subInfrequent,
		observed: []string{strconv.FormatFloat(rate, 'f', 2, 64)},
		why:      strconv.Itoa(int(rate*100)) + "% of calls failed, against " + strconv.FormatFloat(usual*100, 'f', 1, 64) + "% usually" + where}, true
}

// around returns the calls of a profile in hour h and the hours either
// side.
func around(p *profile, h int) uint32 {
	return p.Hours[(h+23)%24] + p.Hours[h] + p.Hours[(h+1)%24]
}

func hoursTotal(p *profile) int64 {
	var total int64
	for _, n := range p.Hours {
		total += int64(n)
	}
	return total
}

func hourWord(sub string) string {
	if sub == subUnseen {
		return "an hour it was never active at"
	}
	return "an hour it is rarely active at"
}

func acctHourWord(sub string) string {
	if sub == subUnseen {
		return "never was"
	}
	return "rarely is"
}

func apiNames(keys []apiKey) []string {
	out := make([]string, 0, min(len(keys), maxObserved))
	for _, k := range keys[:min(len(keys), maxObserved)] {
		out = append(out, shortService(k.Svc)+":"+k.API.String())
	}
	return out
}

func shortService(svc event.ID) string {
	s := svc.String()
	if i := strings.IndexByte(s, '.'); i > 0 {
		return s[:i]
	}
	return s
}

// apiCall rebuilds a sample call.
func (s *slot) apiCall(c *call) event.APICall {
	return event.APICall{Origin: c.Origin, EventTime: c.T, EventName: c.API.API, EventSource: c.API.Svc, ErrorCode: c.Err,
		UserAgent: c.Agent, Region: c.Region, SourceIP: c.Src, SourceInfo: c.Info, Identity: s.Ident, Account: s.Account}
}

// raise returns the severity a level above sev, up to High.
func raise(sev finding.Severity) finding.Severity {
	switch {
	case sev < finding.SeverityMedium:
		return finding.SeverityMedium
	case sev < finding.SeverityHigh:
		return finding.SeverityHigh
	}
	return sev
}

func (d *Detector) finding(k trail.Principal, p, acct *profile, s *slot, t trail.Tactic, fs []factor, n, distinct int) *finding.Finding {
	typ := tacticTypes[t]
	latest := s.apiCall(&s.Latest[t])
	var ev trail.Evidence
	for i := range s.Samples[t] {
		a := s.apiCall(&s.Samples[t][i])
		ev.Add(&a)
	}
	exp := &finding.Explanation{Kind: "profile"}
	if acct != nil {
		exp.Kind = "account-profile"
	}
	ev.Explain(exp)
	// The samples are a few calls; the counts are the window's.
	exp.APICalls = nil
	for api, st := range s.Stats {
		if st.Seen.Has(t) {
			exp.APICalls = append(exp.APICalls, finding.Count{Name: shortService(api.Svc) + ":" + api.API.String(), Count: int64(st.N)})
		}
	}
	slices.SortFunc(exp.APICalls, func(a, b finding.Count) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	exp.APICalls = exp.APICalls[:min(len(exp.APICalls), trail.MaxNames)]
	calls := s.TacticCalls[t]
	exp.Counts = map[string]int64{
		"window_calls": s.Calls, "window_errors": s.Errors, countName(t, "calls"): calls,
		countName(t, "distinct"): int64(distinct), "profile_calls": p.Calls, "profile_apis": int64(len(p.APIs)),
		"profile_windows": p.Windows, "profile_days": int64((s.Start - p.Since) / 86400), "unusual_factors": int64(n),
	}
	if acct != nil {
		exp.Counts["account_profile_calls"] = acct.Calls
		exp.Counts["account_profile_days"] = int64((s.Start - acct.Since) / 86400)
	}
	whys := make([]string, len(fs))
	for i, f := range fs {
		whys[i] = f.why
		exp.Unusual = append(exp.Unusual, f.name+": "+f.why)
	}
	minName, minAPIs := "min_tactic_apis", d.minTactic
	if t == trail.TacticDiscovery {
		minName, minAPIs = "min_discovery_apis", d.minAPIs
	}
	exp.Thresholds = []finding.Threshold{
		{Name: "min_unusual_factors", Limit: float64(d.minFactors), Observed: float64(n), Unit: "factors", Crossed: true},
		{Name: minName, Limit: float64(minAPIs), Observed: float64(distinct), Unit: "APIs", Crossed: true},
	}
	detail := strings.Join(whys, "; ")
	against := "its profile of " + strconv.FormatInt(p.Calls, 10) + " calls"
	if acct != nil {
		against = "its account's profile of " + strconv.FormatInt(acct.Calls, 10) + " calls (its own holds " + strconv.FormatInt(p.Calls, 10) + ")"
	}
	exp.Summary = trail.Label(&latest) + " made " + strconv.Itoa(distinct) + " distinct " + tacticWords[t] + " calls between " +
		s.Start.String() + " and " + (s.Start + d.window).String() + " unlike " + against + ": " + detail
	ft, _ := finding.Lookup(typ)
	sev := ft.Severity
	if n >= 4 {
		sev = raise(sev)
	}
	f := trail.Build(&d.env, &trail.Report{
		Type: typ, Detector: ID, Principal: k, Actor: "profile",
		Call: &latest, First: s.Start, Last: latest.EventTime, Count: calls, Severity: sev,
		Vars: map[string]string{"detail": describe(typ, detail)}, Explanation: exp,
	})
	f.Service.EventFirstSeen = finding.Timestamp{Time: firstOf(s, t).UTC()}
	f.Service.Detection = &finding.Detection{Anomaly: d.anomaly(p, acct, s, fs)}
	return f
}

func firstOf(s *slot, t trail.Tactic) event.Time {
	if len(s.Samples[t]) > 0 {
		return s.Samples[t][0].T
	}
	return s.Start
}

// anomaly fills service.detection.anomaly: the principal's profile of
// each feature (and its account's, for a thin principal) and what was
// unusual about the window.
func (d *Detector) anomaly(p, acct *profile, s *slot, fs []factor) *finding.Anomaly {
	profiles := map[string]map[string][]finding.AnomalyObject{"identity": d.profileObjects(p)}
	if acct != nil {
		profiles["account"] = d.profileObjects(acct)
	}
	behavior := map[string]finding.AnomalyObject{}
	for _, f := range fs {
		behavior[f.name] = finding.AnomalyObject{ProfileType: "FREQUENCY", ProfileSubtype: f.subtype, Observations: &finding.Observations{Text: f.observed}}
	}
	return &finding.Anomaly{
		Profiles: profiles,
		Unusual:  &finding.AnomalyUnusual{Behavior: map[string]map[string]finding.AnomalyObject{"identity": behavior}},
	}
}

// profileObjects lists a profile's features grouped by frequency.
func (d *Detector) profileObjects(p *profile) map[string][]finding.AnomalyObject {
	prof := map[string][]finding.AnomalyObject{}
	add := func(feature, sub string, values []string) {
		if len(values) == 0 {
			return
		}
		slices.Sort(values)
		prof[feature] = append(prof[feature], finding.AnomalyObject{ProfileType: "FREQUENCY", ProfileSubtype: sub,
			Observations: &finding.Observations{Text: values[:min(len(values), maxObserved)]}})
	}
	bySub := func(feature string, n func(i int) (string, uint32), count int) {
		groups := map[string][]string{}
		for i := range count {
			name, c := n(i)
			sub := d.frequency(c, p.Calls)
			if feature == "API" {
				// A principal spreads its calls over many APIs: an API is
				// frequent from a tenth of what a network is.
				sub = d.frequency(c*10, p.Calls)
			}
			groups[sub] = append(groups[sub], name)
		}
		for _, sub := range []string{subFrequent, subInfrequent, subRare} {
			add(feature, sub, groups[sub])
		}
	}
	bySub("ASN", func(i int) (string, uint32) {
		return netName(p.Networks.Keys[i], p.ASOrgs), p.Networks.N[i]
	}, len(p.Networks.Keys))
	bySub("country", func(i int) (string, uint32) { return p.Countries.Keys[i].String(), p.Countries.N[i] }, len(p.Countries.Keys))
	bySub("userAgent", func(i int) (string, uint32) { return p.Agents.Keys[i].String(), p.Agents.N[i] }, len(p.Agents.Keys))
	bySub("platform", func(i int) (string, uint32) { return p.Platforms.Keys[i].String(), p.Platforms.N[i] }, len(p.Platforms.Keys))
	bySub("hourOfDay", func(i int) (string, uint32) { return strconv.Itoa(i) + ":00 UTC", p.Hours[i] }, 24)
	// The APIs: the most called ones as FREQUENT, the rest by frequency.
	apis := slices.SortedFunc(maps.Keys(p.APIs), func(a, b apiKey) int {
		if c := cmp.Compare(p.APIs[b], p.APIs[a]); c != 0 {
			return c
		}
		return compareAPI(a, b)
	})
	bySub("API", func(i int) (string, uint32) {
		return shortService(apis[i].Svc) + ":" + apis[i].API.String(), p.APIs[apis[i]]
	}, min(len(apis), 3*maxObserved))
	rate := float64(p.Errors) / float64(max(p.Calls, 1))
	add("errorRate", subFrequent, []string{strconv.FormatFloat(rate, 'f', 3, 64)})
	return prof
}

type detectorState struct {
	Profiles lru.Snapshot[trail.Principal, profile]
	Accounts lru.Snapshot[event.ID, profile]
	Dirty    []trail.Principal
}

// MarshalState saves the profiles, their open windows and the accounts'
// profiles.
func (d *Detector) MarshalState() ([]byte, error) {
	st := detectorState{Profiles: d.profiles.View(), Accounts: d.accounts.View()}
	for k := range d.dirty {
		st.Dirty = append(st.Dirty, k)
	}
	slices.SortFunc(st.Dirty, func(a, b trail.Principal) int { return cmp.Compare(a.ARN.String(), b.ARN.String()) })
	return detect.EncodeState(st)
}

// UnmarshalState restores them.
func (d *Detector) UnmarshalState(b []byte) error {
	var st detectorState
	if err := detect.DecodeState(b, &st); err != nil {
		return err
	}
	d.profiles.Restore(st.Profiles)
	d.accounts.Restore(st.Accounts)
	clear(d.dirty)
	for _, k := range st.Dirty {
		d.dirty[k] = true
	}
	return nil
}

// describe is the detail a finding's description gives: the
// AnomalousBehavior types of the tactics other than Discovery and
// DefenseEvasion, which the riskycall detector raises too, say that the
// calls departed from a history.
func describe(typ, detail string) string {
	if typ == finding.TypeDiscoveryAnomalous || typ == finding.TypeDefenseEvasionAnomalous {
		return detail
	}
	return "in a way that departs from its history: " + detail
}
