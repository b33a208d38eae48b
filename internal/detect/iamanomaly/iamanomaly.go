// Package iamanomaly owns the per-principal behaviour profile and its
// Discovery:IAMUser/AnomalousBehavior findings: discovery calls (Describe,
// List, Get and the other calls that map an environment) made in a way
// that departs from how the principal has behaved so far.
//
// The detector learns, for every principal, the APIs it calls, the
// networks (AS, or the /24 or /48 without an AS database) and countries
// it calls from, the families of its user agents (aws-cli, boto3, the
// console, terraform, ...), the hours of the day it is active and how
// often its calls fail. Calls are grouped in fixed windows of event time
// (an hour by default). A principal's profile is mature once it has been
// watched for the baseline (seven days by default, in event time) and has
// made enough calls; from then on each window that holds a burst of
// discovery calls is compared with the profile before the window is
// learned, and the factors in which it departs are:
//
//   - API: many of the discovery APIs were never called before (UNSEEN);
//   - location: a network or country the principal never or rarely used
//     (UNSEEN or RARE; AS and country count as one factor, since a new
//     country brings a new network);
//   - user agent: a family never or rarely used;
//   - hour: an hour of the day the principal is rarely active at (its
//     neighbours too);
//   - error rate: far more failures than usual.
//
// A window with at least min_unusual_factors of them is a finding, which
// lists the factors in service.additionalInfo and in
// service.detection.anomaly: the profile of each feature with its
// FREQUENT, INFREQUENT, RARE and UNSEEN values (profiles["identity"]) and
// what was unusual (unusual.behavior["identity"]), with
// profileType FREQUENCY as GuardDuty writes it. A travelling user (a new
// location at an odd hour) stays quiet; a stolen key enumerating from a
// new network at 3 a.m. with a new tool does not. Every window is learned
// after it is judged, so the same behaviour is reported once.
//
// Each profile is bounded (the most frequent APIs, networks and user
// agents are kept by the space-saving rule), and so is the table of
// profiles; the least recently active principals are evicted and counted.
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
		Doc: "calls a profile must hold before it judges: a principal that has made few calls has no habits yet"},
	{Name: "window", Unit: "seconds", Default: 3600, Min: 60, Max: 86400,
		Doc: "the fixed windows of event time in which calls are grouped, judged and then learned; an hour matches the hour-of-day profile"},
	{Name: "min_discovery_apis", Unit: "APIs", Default: 8, Min: 1, Max: 10_000,
		Doc: "distinct discovery APIs a window must hold to be judged as a burst of discovery"},
	{Name: "min_unseen_apis", Unit: "APIs", Default: 5, Min: 1, Max: 10_000,
		Doc: "discovery APIs of the window the principal never called before for the API factor to count"},
	{Name: "min_unseen_ratio", Unit: "ratio", Default: 0.5, Min: 0, Max: 1,
		Doc: "share of the window's distinct discovery APIs never called before for the API factor to count"},
	{Name: "rare_ratio", Unit: "ratio", Default: 0.01, Min: 0, Max: 0.5,
		Doc: "share of the profile's calls below which a network, country, user-agent family or hour is RARE (above it and below 10 times it, INFREQUENT)"},
	{Name: "min_error_rate", Unit: "ratio", Default: 0.2, Min: 0, Max: 1,
		Doc: "share of the window's calls that failed for the error-rate factor to count, when also 4 times the profile's rate"},
	{Name: "min_unusual_factors", Unit: "factors", Default: 3, Min: 1, Max: 5,
		Doc: "unusual factors (API, location, user agent, hour, error rate) a window needs for a finding; 4 or more make it Medium"},
	{Name: "max_principals", Unit: "principals", Default: 10_000, Min: 10, Max: 1e7,
		Doc: "profiles kept at once, 2 to 30 KiB each (about 4 KiB for a principal that calls 50 APIs); the least recently active are evicted and counted"},
}

// Bounds of one profile.
const (
	maxAPIs      = 512 // APIs a profile counts
	maxSmall     = 32  // networks, countries, user-agent families
	maxSlotAPIs  = 256 // APIs one window counts
	maxSlotSmall = 8
	maxSlots     = 4 // open windows per principal
	maxSamples   = 5
	maxObserved  = 20 // values listed per unusual factor
)

// apiKey is an API of a service.
type apiKey struct {
	Svc, API event.ID
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
	Start             event.Time
	Calls, Errors     int64
	APIs              map[apiKey]uint32 // every API, up to maxSlotAPIs
	Discovery         map[apiKey]bool
	Networks          counts[network]
	ASOrgs            map[network]event.ID
	Countries, Agents counts[event.ID]
	Samples           []call // the earliest discovery calls
	Latest            call   // the latest discovery call
	Ident             event.Identity
	Account           event.ID
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

// profile is what the detector knows of one principal. Fields are
// exported for saving state.
type profile struct {
	Since, Last   event.Time
	Calls, Errors int64
	Windows       int64
	APIs          map[apiKey]uint32
	Networks      counts[network]
	ASOrgs        map[network]event.ID
	Countries     counts[event.ID]
	Agents        counts[event.ID]
	Hours         [24]uint32
	Slots         []slot
	Late          int64      // calls that came after their window was judged
	Judged        event.Time // the end of the latest window judged
	Reported      int64
}

// Detector is the anomaly detector.
type Detector struct {
	env          detect.Env
	th           detect.Tunables
	baseline     event.Time
	minCalls     int64
	window       event.Time
	minAPIs      int
	minUnseen    int
	unseenRatio  float64
	rare         float64
	minErrorRate float64
	minFactors   int
	families     trail.Families
	principalsOf trail.Principals
	profiles     *lru.Table[trail.Principal, profile]
	dirty        map[trail.Principal]bool
	keys         []trail.Principal // scratch for Advance
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
		minUnseen:    int(th.Get("min_unseen_apis")),
		unseenRatio:  th.Get("min_unseen_ratio"),
		rare:         th.Get("rare_ratio"),
		minErrorRate: th.Get("min_error_rate"),
		minFactors:   int(th.Get("min_unusual_factors")),
		// Measured: a profile of 50 APIs, 3 networks and 2 user agents
		// takes about 4 KiB with an open window.
		profiles: lru.New[trail.Principal, profile](env.Cap(int(th.Get("max_principals")), 1, 8<<10), nil),
		dirty:    map[trail.Principal]bool{},
	}, nil
}

// Definition describes the detector.
func (d *Detector) Definition() detect.Definition {
	return detect.Definition{
		ID:           ID,
		Summary:      "discovery bursts that depart from the principal's learned profile: new APIs, location, user agent, hour, error rate",
		FindingTypes: []string{finding.TypeDiscoveryAnomalous},
		Subscribes:   []event.Kind{event.KindAPICall},
		Thresholds:   d.th,
	}
}

// State reports the profile table.
func (d *Detector) State() []detect.StateStats {
	return []detect.StateStats{{Table: "profiles", Len: d.profiles.Len(), Cap: d.profiles.Cap(), Evicted: d.profiles.Evicted()}}
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
		d.learnCall(p, c)
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
		p.learnSlot(&p.Slots[0])
		recycle(spare, p.Slots[0])
		p.Slots = append(p.Slots[:0], p.Slots[1:]...)
	}
	i, _ := slices.BinarySearchFunc(p.Slots, start, func(s slot, t event.Time) int { return cmp.Compare(s.Start, t) })
	var s slot
	if n := len(*spare); n > 0 {
		s, *spare = (*spare)[n-1], (*spare)[:n-1]
	} else {
		s = slot{APIs: make(map[apiKey]uint32, 16), Discovery: make(map[apiKey]bool, 8), Samples: make([]call, 0, maxSamples)}
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
	if len(*spare) >= maxSpare || s.APIs == nil {
		return
	}
	clear(s.APIs)
	clear(s.Discovery)
	clear(s.ASOrgs)
	*spare = append(*spare, slot{APIs: s.APIs, Discovery: s.Discovery, ASOrgs: s.ASOrgs, Samples: s.Samples[:0],
		Networks:  counts[network]{Keys: s.Networks.Keys[:0], N: s.Networks.N[:0]},
		Countries: counts[event.ID]{Keys: s.Countries.Keys[:0], N: s.Countries.N[:0]},
		Agents:    counts[event.ID]{Keys: s.Agents.Keys[:0], N: s.Agents.N[:0]}})
}

// count adds a call to a window.
func (d *Detector) count(s *slot, c *event.APICall) {
	s.Calls++
	if c.Failed() {
		s.Errors++
	}
	k := apiKey{c.EventSource, c.EventName}
	if _, ok := s.APIs[k]; ok || len(s.APIs) < maxSlotAPIs {
		s.APIs[k]++
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
	s.Agents.add(d.families.Of(c.UserAgent), 1, maxSlotSmall)
	if !trail.Discovery(c.EventName.String()) {
		return
	}
	s.Discovery[k] = true
	cl := call{T: c.EventTime, Origin: c.Origin, API: k, Err: c.ErrorCode, Agent: c.UserAgent, Region: c.Region, Src: c.SourceIP, Info: c.SourceInfo}
	if s.Latest.T == 0 || later(&cl, &s.Latest) {
		s.Latest, s.Ident, s.Account = cl, c.Identity, c.Account
	}
	i, _ := slices.BinarySearchFunc(s.Samples, cl, compareCalls)
	if i < maxSamples {
		s.Samples = slices.Insert(s.Samples, i, cl)
		s.Samples = s.Samples[:min(len(s.Samples), maxSamples)]
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

// learnCall adds one late call straight to the profile.
func (d *Detector) learnCall(p *profile, c *event.APICall) {
	s := slot{APIs: map[apiKey]uint32{}, Discovery: map[apiKey]bool{}, Start: c.EventTime - c.EventTime%d.window}
	d.count(&s, c)
	p.learnSlot(&s)
}

// learnSlot adds a window to the profile.
func (p *profile) learnSlot(s *slot) {
	if p.APIs == nil {
		p.APIs = map[apiKey]uint32{}
	}
	p.Calls += s.Calls
	p.Errors += s.Errors
	p.Windows++
	for k, n := range s.APIs {
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
		p.Networks.add(k, s.Networks.N[i], maxSmall)
		if org, ok := s.ASOrgs[k]; ok {
			if p.ASOrgs == nil {
				p.ASOrgs = map[network]event.ID{}
			}
			p.ASOrgs[k] = org
		}
	}
	if len(p.ASOrgs) > 2*maxSmall {
		for k := range p.ASOrgs {
			if p.Networks.get(k) == 0 {
				delete(p.ASOrgs, k)
			}
		}
	}
	for i, k := range s.Countries.Keys {
		p.Countries.add(k, s.Countries.N[i], maxSmall)
	}
	for i, k := range s.Agents.Keys {
		p.Agents.add(k, s.Agents.N[i], maxSmall)
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
// learns them.
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
	for _, k := range keys {
		p := d.profiles.Peek(k)
		if p == nil {
			delete(d.dirty, k)
			continue
		}
		n := 0
		for n < len(p.Slots) && (w == event.Forever || p.Slots[n].Start+d.window <= w) {
			s := &p.Slots[n]
			if f := d.judge(k, p, s); f != nil {
				emit(f)
			}
			p.learnSlot(s)
			p.Judged = max(p.Judged, s.Start+d.window)
			n++
		}
		for _, s := range p.Slots[:n] {
			recycle(&d.spare, s)
		}
		p.Slots = append(p.Slots[:0], p.Slots[n:]...)
		if len(p.Slots) == 0 {
			delete(d.dirty, k)
		}
	}
}

// mature reports whether a profile may judge a window starting at t.
func (d *Detector) mature(p *profile, t event.Time) bool {
	return t-p.Since >= d.baseline && p.Calls >= d.minCalls
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

// judge compares a window with the profile and returns a finding when it
// departs in enough factors.
func (d *Detector) judge(k trail.Principal, p *profile, s *slot) *finding.Finding {
	if len(s.Discovery) < d.minAPIs || !d.mature(p, s.Start) {
		return nil
	}
	var fs []factor
	// API: discovery APIs never called before.
	var unseen []apiKey
	for api := range s.Discovery {
		if p.APIs[api] == 0 {
			unseen = append(unseen, api)
		}
	}
	slices.SortFunc(unseen, compareAPI)
	if len(unseen) >= d.minUnseen && float64(len(unseen)) >= d.unseenRatio*float64(len(s.Discovery)) {
		fs = append(fs, factor{name: "API", counts: true, subtype: subUnseen, observed: apiNames(unseen),
			why: strconv.Itoa(len(unseen)) + " of " + strconv.Itoa(len(s.Discovery)) + " discovery APIs never called before"})
	}
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
	// User agent.
	for _, a := range s.Agents.Keys {
		sub := d.frequency(p.Agents.get(a), p.Calls)
		if unusual(sub) {
			fs = append(fs, factor{name: "userAgent", counts: true, subtype: sub, observed: []string{a.String()},
				why: "user agent family " + a.String() + " " + strings.ToLower(sub)})
			break
		}
	}
	// Hour of the day: rare, and so are the hours either side.
	h := s.Start.UTC().Hour()
	var total int64
	for _, n := range p.Hours {
		total += int64(n)
	}
	around := p.Hours[(h+23)%24] + p.Hours[h] + p.Hours[(h+1)%24]
	if sub := d.frequency(around, total); unusual(sub) {
		fs = append(fs, factor{name: "hourOfDay", counts: true, subtype: sub, observed: []string{strconv.Itoa(h) + ":00 UTC"},
			why: "active at " + strconv.Itoa(h) + ":00 UTC, " + hourWord(sub)})
	}
	// Error rate.
	rate := float64(s.Errors) / float64(max(s.Calls, 1))
	usual := float64(p.Errors) / float64(max(p.Calls, 1))
	if rate >= d.minErrorRate && rate >= 4*usual {
		fs = append(fs, factor{name: "errorRate", counts: true, subtype: subInfrequent,
			observed: []string{strconv.FormatFloat(rate, 'f', 2, 64)},
			why:      strconv.Itoa(int(rate*100)) + "% of calls failed, against " + strconv.FormatFloat(usual*100, 'f', 1, 64) + "% usually"})
	}
	n := 0
	for _, f := range fs {
		if f.counts {
			n++
		}
	}
	if n < d.minFactors {
		return nil
	}
	p.Reported++
	return d.finding(k, p, s, fs, n)
}

func hourWord(sub string) string {
	if sub == subUnseen {
		return "an hour it was never active at"
	}
	return "an hour it is rarely active at"
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

func (d *Detector) finding(k trail.Principal, p *profile, s *slot, fs []factor, n int) *finding.Finding {
	latest := s.apiCall(&s.Latest)
	var ev trail.Evidence
	for i := range s.Samples {
		a := s.apiCall(&s.Samples[i])
		ev.Add(&a)
	}
	exp := &finding.Explanation{Kind: "profile"}
	ev.Explain(exp)
	// The samples are a few calls; the counts are the window's.
	var discoveryCalls int64
	exp.APICalls = nil
	for api, c := range s.APIs {
		if s.Discovery[api] {
			discoveryCalls += int64(c)
			exp.APICalls = append(exp.APICalls, finding.Count{Name: shortService(api.Svc) + ":" + api.API.String(), Count: int64(c)})
		}
	}
	slices.SortFunc(exp.APICalls, func(a, b finding.Count) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	exp.APICalls = exp.APICalls[:min(len(exp.APICalls), trail.MaxNames)]
	exp.Counts = map[string]int64{
		"window_calls": s.Calls, "window_errors": s.Errors, "discovery_calls": discoveryCalls,
		"distinct_discovery_apis": int64(len(s.Discovery)), "profile_calls": p.Calls, "profile_apis": int64(len(p.APIs)),
		"profile_windows": p.Windows, "profile_days": int64((s.Start - p.Since) / 86400), "unusual_factors": int64(n),
	}
	whys := make([]string, len(fs))
	for i, f := range fs {
		whys[i] = f.why
		exp.Unusual = append(exp.Unusual, f.name+": "+f.why)
	}
	exp.Thresholds = []finding.Threshold{
		{Name: "min_unusual_factors", Limit: float64(d.minFactors), Observed: float64(n), Unit: "factors", Crossed: true},
		{Name: "min_discovery_apis", Limit: float64(d.minAPIs), Observed: float64(len(s.Discovery)), Unit: "APIs", Crossed: true},
	}
	detail := strings.Join(whys, "; ")
	exp.Summary = trail.Label(&latest) + " made " + strconv.Itoa(len(s.Discovery)) + " distinct discovery calls between " +
		s.Start.String() + " and " + (s.Start + d.window).String() + " unlike its profile of " +
		strconv.FormatInt(p.Calls, 10) + " calls: " + detail
	sev := finding.SeverityLow
	if n >= 4 {
		sev = finding.SeverityMedium
	}
	f := trail.Build(&d.env, &trail.Report{
		Type: finding.TypeDiscoveryAnomalous, Detector: ID, Principal: k, Actor: "profile",
		Call: &latest, First: s.Start, Last: latest.EventTime, Count: discoveryCalls, Severity: sev,
		Vars: map[string]string{"detail": detail}, Explanation: exp,
	})
	f.Service.EventFirstSeen = finding.Timestamp{Time: firstDiscovery(s).UTC()}
	f.Service.Detection = &finding.Detection{Anomaly: d.anomaly(p, s, fs)}
	return f
}

func firstDiscovery(s *slot) event.Time {
	if len(s.Samples) > 0 {
		return s.Samples[0].T
	}
	return s.Start
}

// anomaly fills service.detection.anomaly: the principal's profile of
// each feature and what was unusual about the window.
func (d *Detector) anomaly(p *profile, s *slot, fs []factor) *finding.Anomaly {
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

	behavior := map[string]finding.AnomalyObject{}
	for _, f := range fs {
		behavior[f.name] = finding.AnomalyObject{ProfileType: "FREQUENCY", ProfileSubtype: f.subtype, Observations: &finding.Observations{Text: f.observed}}
	}
	return &finding.Anomaly{
		Profiles: map[string]map[string][]finding.AnomalyObject{"identity": prof},
		Unusual:  &finding.AnomalyUnusual{Behavior: map[string]map[string]finding.AnomalyObject{"identity": behavior}},
	}
}

type detectorState struct {
	Profiles lru.Snapshot[trail.Principal, profile]
	Dirty    []trail.Principal
}

// MarshalState saves the profiles and their open windows.
func (d *Detector) MarshalState() ([]byte, error) {
	st := detectorState{Profiles: d.profiles.View()}
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
	clear(d.dirty)
	for _, k := range st.Dirty {
		d.dirty[k] = true
	}
	return nil
}
