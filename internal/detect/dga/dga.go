// Package dga owns the detector of domain generation algorithms (DGAs):
// malware that derives a long list of domain names from the date or a
// seed and tries them one after another until one resolves to its
// command and control server. It raises Trojan:EC2/DGADomainRequest.B
// for the search itself and Trojan:EC2/DGADomainRequest.C!DNS for a
// generated name that resolved.
//
// It sees DNS queries (Route 53 Resolver query logs, Zeek dns.log). Each
// name's registered-domain label (the label left of the ICANN public
// suffix: example for www.example.co.uk, cloudfront for
// d1x2.cloudfront.net) is scored by a character trigram model of benign
// names shipped with the package (model.txt, counts only): the bits a
// character the model needs to spell it. Labels that score high are
// "generated-looking". Queries for them are filed under their source
// (the instance the log names, else the address) and a tumbling
// event-time window; when the watermark passes a window's end it is
// judged: many distinct generated-looking registered domains, most of
// which did not resolve, are a DGA's search (.B); one of them that did
// resolve, or any resolved name that scores far beyond benign ones, is
// its rendezvous (.C!DNS).
//
// Only the detect/all list and tests import it.
package dga

import (
	"cmp"
	"math"
	"math/bits"
	"net/netip"
	"slices"
	"strconv"

	"picket/internal/detect"
	"picket/internal/event"
	"picket/internal/finding"
	"picket/internal/lru"
)

// ID is the detector's ID.
const ID = "dga"

// Thresholds are the detector's tunables.
var Thresholds = detect.Tunables{
	{Name: "window", Unit: "seconds", Default: 600, Min: 60, Max: 3600,
		Doc: "the tumbling event-time window over which one source's generated-looking names are counted; a DGA tries its list within minutes, and a longer window only gathers more of a benign host's chance look-alikes"},
	{Name: "min_length", Unit: "characters", Default: minLength, Min: 1, Max: 63,
		Doc: "registered-domain labels shorter than this are never judged: short labels are abbreviations and acronyms whose letters follow no spelling, and too few characters to tell a generator from a choice"},
	{Name: "min_score", Unit: "bits/char", Default: 4.6, Min: 0, Max: 16,
		Doc: "a label is generated-looking when the benign-name model needs at least this many bits a character to spell it: 4.6 is what 90% of benign labels held out from training stay under (model.txt's quantile.0.9, 4.58); a generator's letters cost close to the 4.9 bits of uniform random choice"},
	{Name: "min_domains", Unit: "domains", Default: 10, Min: 2, Max: 64,
		Doc: "distinct generated-looking registered domains one source must query in a window for a search (.B): a DGA tries dozens to thousands a day; a benign host reaches ten only if one in ten of its many domains looks generated and ten of them come in one window"},
	{Name: "min_unresolved_share", Unit: "fraction", Default: 0.5, Min: 0, Max: 1,
		Doc: "share of those domains that must have had no answer (NXDOMAIN, an error, or no response) for a search: a DGA's operator registers few of the names it generates, while the look-alikes of benign hosts are real sites that resolve"},
	{Name: "far_score", Unit: "bits/char", Default: 8.3, Min: 0, Max: 16,
		Doc: "a resolved name scoring at least this is reported (.C!DNS) without a search around it: above every benign label held out from training (model.txt's quantile.1, 8.21); uniformly random letters average about 7 bits, so this catches only the most unpronounceable names"},
	{Name: "max_windows", Unit: "windows", Default: 20_000, Min: 16, Max: 1e7,
		Doc: "(source, window) pairs with a generated-looking name open at once, about 500 bytes each; the least recently queried are evicted and counted"},
}

// minLength is min_length's default: the trainer measures the held-out
// scores of labels of at least this many characters.
const minLength = 6

// defaultAllow are registered domains whose labels look generated but
// are not: names never judged.
var defaultAllow = []string{
	"in-addr.arpa", "ip6.arpa", // reverse lookups: numbers, not names
}

// Allowlists are the detector's lists.
var Allowlists = detect.Allowlists{
	{Name: "allow_domains", Default: defaultAllow,
		Doc: "names never judged, matching the name or any name below it: reverse lookups, and your own services whose registered domains look generated"},
}

const (
	// slots is the number of bits of a window's two domain sets: a
	// generated-looking registered domain sets the bit its hash picks in
	// the set of those seen, and in the set of those resolved when a
	// query for it had an answer. Each set's count is estimated from its
	// filled bits (linear counting), so neither depends on the order of
	// the queries; 256 bits count a few hundred domains within a few
	// percent, and the ten of min_domains nearly exactly.
	slots = 256
	// windowBytes is a window's memory.
	windowBytes = 512
	// cacheSize is the number of entries of the registered-label cache.
	cacheSize = 4096
)

// windowKey is one source's generated-looking queries in one window.
type windowKey struct {
	Account, Region, Instance event.ID
	Src                       netip.Addr
	Start                     event.Time
}

// window is what the detector keeps of a windowKey. Fields are exported
// for saving state.
type window struct {
	Src         netip.Addr // the lowest source address seen, for an instance's window
	VPC         event.ID
	Protocol    uint8
	Queries     int64 // queries for generated-looking names
	Blocked     int64 // of them, blocked by DNS Firewall
	First, Last event.Time
	Seen        [slots / 64]uint64 // generated-looking registered domains
	Resolved    [slots / 64]uint64 // those of them that resolved
	Top         float64            // the highest score
	// Samples: a generated-looking query, one that resolved, and a
	// resolved one scoring far_score or more.
	Sample, Resolved1, Far sample
}

// sample is one query of a window, chosen by the smallest hash of its
// registered domain, then the earliest time and line, so that the
// choice does not depend on arrival order. Fields are exported for
// saving state.
type sample struct {
	Hash   uint64
	Domain []byte // the registered domain; nil while there is none
	Name   []byte
	T      event.Time
	Origin event.Origin
	RCode  uint8
	Score  float64
}

// offer makes q the sample if it comes first.
func (s *sample) offer(h uint64, domain []byte, q *event.DNSQuery, score float64) {
	if s.Domain != nil && (h > s.Hash || h == s.Hash && (q.T > s.T || q.T == s.T && q.Origin.Line >= s.Origin.Line)) {
		return
	}
	s.Hash, s.Domain, s.Name = h, append(s.Domain[:0], domain...), append(s.Name[:0], q.Name...)
	s.T, s.Origin, s.RCode, s.Score = q.T, q.Origin, q.RCode, score
}

// record summarises the sample for the explanation.
func (s *sample) record(src netip.Addr) finding.Sample {
	r := string(s.Name) + " from " + src.String() + ": "
	switch s.RCode {
	case event.RCodeNoError:
		r += "NOERROR"
	case event.RCodeNXDomain:
		r += "NXDOMAIN"
	case event.RCodeUnknown:
		r += "no response"
	default:
		r += "rcode " + strconv.Itoa(int(s.RCode))
	}
	r += ", " + strconv.FormatFloat(s.Score, 'f', 2, 64) + " bits a character"
	out := finding.Sample{Time: s.T.UTC().Format("2006-01-02T15:04:05Z"), Record: r}
	if !s.Origin.File.IsZero() {
		out.Origin = s.Origin.File.String() + ":" + strconv.FormatInt(s.Origin.Line, 10)
	}
	return out
}

// cacheEntry is the registered label of a name tail, and its score.
type cacheEntry struct {
	hash  uint64 // of the tail; 0 for an empty entry
	n     uint16 // the tail's length
	label uint16 // the label's length
	dom   uint16 // the registered domain's length, label included
	ok    bool   // the tail has a registered label the model can score
	score float32
}

// Detector is the DGA detector.
type Detector struct {
	env        detect.Env
	th         detect.Tunables
	al         detect.Allowlists
	score      func(label []byte) (float64, bool) // the model's Score
	allow      detect.DomainSuffixes
	span       event.Time
	minLen     int
	minScore   float64
	minDomains float64
	minShare   float64
	farScore   float64
	windows    *lru.Table[windowKey, window]
	due        event.Time // the earliest end of an open window
	cache      []cacheEntry
	block      event.ID
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
	al, err := Allowlists.Apply(ID, env.Allowlists)
	if err != nil {
		return nil, err
	}
	m, err := defaultModel()
	if err != nil {
		return nil, err
	}
	d := &Detector{
		env: env, th: th, al: al, score: m.Score,
		span:       event.Time(th.Get("window")),
		minLen:     int(th.Get("min_length")),
		minScore:   th.Get("min_score"),
		minDomains: th.Get("min_domains"),
		minShare:   th.Get("min_unresolved_share"),
		farScore:   th.Get("far_score"),
		due:        event.Forever,
		cache:      make([]cacheEntry, cacheSize),
		block:      event.Intern("BLOCK"),
	}
	d.allow = detect.NewDomainSuffixes(al.Get("allow_domains"))
	d.windows = lru.New[windowKey, window](env.Cap(int(th.Get("max_windows")), 0.5, windowBytes), nil)
	return d, nil
}

// Definition describes the detector.
func (d *Detector) Definition() detect.Definition {
	return detect.Definition{
		ID:           ID,
		Summary:      "a source querying many generated-looking domains that mostly do not exist (a DGA's search), and such a domain that resolved",
		FindingTypes: []string{finding.TypeDGADomainRequestB, finding.TypeDGADomainRequest},
		Subscribes:   []event.Kind{event.KindDNSQuery},
		Thresholds:   d.th,
		Allowlists:   d.al,
	}
}

// State reports the detector's table.
func (d *Detector) State() []detect.StateStats {
	return []detect.StateStats{{Table: "windows", Len: d.windows.Len(), Cap: d.windows.Cap(), Evicted: d.windows.Evicted()}}
}

// label returns the registered-domain label and domain of name and its
// score, through the cache: most queries repeat a name seen moments
// ago, and the public suffix lookup allocates on every call.
func (d *Detector) label(name []byte) (label, domain []byte, score float64, ok bool) {
	start, dots := len(name), 0
	for start > 0 {
		if name[start-1] == '.' {
			if dots++; dots == maxTail {
				break
			}
		}
		start--
	}
	tail := name[start:]
	if len(tail) > math.MaxUint16 {
		return nil, nil, 0, false
	}
	h := detect.FNV1a(tail) | 1
	e := &d.cache[h%cacheSize]
	if e.hash != h || int(e.n) != len(tail) {
		l, dom, found := Registered(tail)
		*e = cacheEntry{hash: h, n: uint16(len(tail))}
		if found && !idn(l) {
			if s, scored := d.score(l); scored {
				e.ok, e.label, e.dom, e.score = true, uint16(len(l)), uint16(len(dom)), float32(s)
			}
		}
	}
	if !e.ok {
		return nil, nil, 0, false
	}
	n := len(name)
	return name[n-int(e.dom) : n-int(e.dom)+int(e.label)], name[n-int(e.dom):], float64(e.score), true
}

// resolved reports whether q got an answer.
func resolved(q *event.DNSQuery) bool {
	return q.RCode == event.RCodeNoError && q.NumAnswers > 0
}

// Observe scores a query's registered-domain label and files a
// generated-looking one under its source's window.
func (d *Detector) Observe(rec event.Record, _ detect.Emit) {
	q, ok := rec.(*event.DNSQuery)
	if !ok {
		return
	}
	name := q.Name
	if n := len(name); n > 0 && name[n-1] == '.' {
		name = name[:n-1]
	}
	if len(name) == 0 || (q.Instance.IsZero() && !q.Src.IsValid()) {
		return
	}
	label, domain, score, ok := d.label(name)
	if !ok || len(label) < d.minLen || score < d.minScore || d.allow.Match(name) {
		return
	}
	k := windowKey{Account: q.Account, Region: q.Region, Instance: q.Instance, Start: q.T - q.T%d.span}
	if q.Instance.IsZero() {
		k.Src = q.Src
	}
	if q.T < 0 && q.T%d.span != 0 {
		k.Start -= d.span
	}
	w, created := d.windows.Put(k)
	if created {
		*w = window{First: q.T, Last: q.T}
		d.due = min(d.due, k.Start+d.span)
	}
	w.Queries++
	if !w.Src.IsValid() || q.Src.Less(w.Src) {
		w.Src = q.Src
	}
	w.First, w.Last = min(w.First, q.T), max(w.Last, q.T)
	if w.VPC.IsZero() {
		w.VPC = q.VPC
	}
	w.Protocol = max(w.Protocol, q.Protocol)
	if q.FirewallAction == d.block {
		w.Blocked++
	}
	w.Top = max(w.Top, score)
	h := detect.FNV1a(domain)
	word, bit := h%slots/64, uint64(1)<<(h%64)
	w.Seen[word] |= bit
	w.Sample.offer(h, domain, q, score)
	if !resolved(q) {
		return
	}
	w.Resolved[word] |= bit
	w.Resolved1.offer(h, domain, q, score)
	if score >= d.farScore {
		w.Far.offer(h, domain, q, score)
	}
}

// stats are what a window shows.
type stats struct {
	domains    int // distinct generated-looking registered domains, estimated
	unresolved int // of them, estimated, never answered
	share      float64
}

// distinct estimates how many distinct hashes filled n of the slots
// (linear counting: n distinct hashes leave about slots·e^(-n/slots)
// slots empty).
func distinct(filled int) int {
	if filled >= slots {
		return int(math.Round(slots * math.Log(slots)))
	}
	return int(math.Round(-slots * math.Log(1-float64(filled)/slots)))
}

func ones(set *[slots / 64]uint64) int {
	n := 0
	for _, w := range set {
		n += bits.OnesCount64(w)
	}
	return n
}

func (w *window) stats() stats {
	s := stats{domains: distinct(ones(&w.Seen))}
	if s.domains > 0 {
		s.unresolved = max(0, s.domains-distinct(ones(&w.Resolved)))
		s.share = float64(s.unresolved) / float64(s.domains)
	}
	return s
}

// search reports whether a window shows a DGA's search.
func (d *Detector) search(s stats) bool {
	return float64(s.domains) >= d.minDomains && s.share >= d.minShare
}

// Advance judges the windows that end at or before the watermark, in a
// fixed order, and forgets them.
func (d *Detector) Advance(wm event.Time, emit detect.Emit) {
	if wm < d.due {
		return
	}
	type closed struct {
		k windowKey
		w *window
	}
	var done []closed
	d.due = event.Forever
	d.windows.All(func(k windowKey, w *window) bool {
		if end := k.Start + d.span; end <= wm {
			done = append(done, closed{k, w})
		} else {
			d.due = min(d.due, end)
		}
		return true
	})
	slices.SortFunc(done, func(a, b closed) int { return compareKeys(a.k, b.k) })
	for _, c := range done {
		s := c.w.stats()
		searching := d.search(s)
		if searching {
			emit(d.finding(finding.TypeDGADomainRequestB, c.k, c.w, s, &c.w.Sample))
		}
		switch {
		case searching && c.w.Resolved1.Domain != nil:
			emit(d.finding(finding.TypeDGADomainRequest, c.k, c.w, s, &c.w.Resolved1))
		case c.w.Far.Domain != nil:
			emit(d.finding(finding.TypeDGADomainRequest, c.k, c.w, s, &c.w.Far))
		}
	}
	for _, c := range done {
		d.windows.Delete(c.k)
	}
}

func compareKeys(a, b windowKey) int {
	return cmp.Or(
		cmp.Compare(a.Start, b.Start),
		cmp.Compare(a.Account.String(), b.Account.String()),
		cmp.Compare(a.Region.String(), b.Region.String()),
		cmp.Compare(a.Instance.String(), b.Instance.String()),
		a.Src.Compare(b.Src),
	)
}

func (d *Detector) finding(typeName string, k windowKey, w *window, s stats, sm *sample) *finding.Finding {
	domain, score := sm.Domain, sm.Score
	account, region := k.Account.String(), k.Region.String()
	src := w.Src
	resource, label := src.String(), "host "+src.String()
	if !k.Instance.IsZero() {
		resource, label = k.Instance.String(), "EC2 instance "+k.Instance.String()
	}
	fk := finding.Key{Account: account, Region: region, Resource: resource, Role: finding.RoleActor}
	f := finding.New(typeName, fk, d.env.DetectorID(account, region), w.First.UTC(), w.Last.UTC(), w.Queries)
	ni := finding.NetworkInterface{VpcID: w.VPC.String()}
	if src.Is4() {
		ni.PrivateIPAddress = src.String()
		ni.PrivateIPAddresses = []finding.PrivateIPAddress{{PrivateIPAddress: ni.PrivateIPAddress}}
	} else if src.IsValid() {
		ni.Ipv6Addresses = []string{src.String()}
	}
	f.Resource.InstanceDetails = &finding.InstanceDetails{InstanceID: k.Instance.String(), NetworkInterfaces: []finding.NetworkInterface{ni}}
	dom := string(domain)
	da := &finding.DNSRequestAction{Domain: dom, DomainWithSuffix: dom, Blocked: w.Blocked == w.Queries}
	if w.Protocol != 0 {
		da.Protocol = finding.Protocol(w.Protocol)
	}
	f.Service.Action.DNSRequestAction = da

	bitsChar := strconv.FormatFloat(score, 'f', 1, 64)
	var detail string
	switch {
	case typeName == finding.TypeDGADomainRequestB:
		detail = strconv.FormatInt(w.Queries, 10) + " queries in " + strconv.Itoa(int(d.span/60)) + " minutes for about " +
			strconv.Itoa(s.domains) + " distinct generated-looking domains, " + strconv.Itoa(s.unresolved) + " of them unresolved"
	case d.search(s):
		detail = dom + " resolved, " + bitsChar + " bits a character, amid a search of about " + strconv.Itoa(s.domains) +
			" generated-looking domains in " + strconv.Itoa(int(d.span/60)) + " minutes"
	default:
		detail = dom + " resolved, " + bitsChar + " bits a character, beyond the " +
			strconv.FormatFloat(d.farScore, 'f', 1, 64) + " that benign names stay under"
	}
	hosts := []string{}
	if src.IsValid() {
		hosts = append(hosts, src.String())
	}
	f.Service.AdditionalInfo = &finding.AdditionalInfo{Explanation: &finding.Explanation{
		Detector: ID,
		Summary:  label + ": " + detail,
		Counts: map[string]int64{
			"queries":                 w.Queries,
			"generated_domains":       int64(s.domains),
			"unresolved_domains":      int64(s.unresolved),
			"score_millibits":         int64(math.Round(score * 1000)),
			"top_score_millibits":     int64(math.Round(w.Top * 1000)),
			"min_score_millibits":     int64(math.Round(d.minScore * 1000)),
			"min_domains":             int64(d.minDomains),
			"min_unresolved_permille": int64(math.Round(d.minShare * 1000)),
			"far_score_millibits":     int64(math.Round(d.farScore * 1000)),
			"blocked_by_firewall":     w.Blocked,
			"window_seconds":          int64(d.span),
			"window_start_unixtime":   int64(k.Start),
		},
		Hosts:   hosts,
		Samples: []finding.Sample{sm.record(src)},
	}}
	typ, _ := finding.Lookup(typeName)
	vars := map[string]string{"resource": label, "domain": dom, "detail": detail}
	f.Title = finding.Text(typ.Title, vars)
	f.Description = finding.Text(typ.Description, vars)
	return f
}

type detectorState struct {
	Windows lru.Snapshot[windowKey, window]
}

// MarshalState saves the open windows.
func (d *Detector) MarshalState() ([]byte, error) {
	return detect.EncodeState(detectorState{Windows: d.windows.View()})
}

// UnmarshalState restores them.
func (d *Detector) UnmarshalState(b []byte) error {
	var st detectorState
	if err := detect.DecodeState(b, &st); err != nil {
		return err
	}
	d.windows.Restore(st.Windows)
	d.due = event.Forever
	d.windows.All(func(k windowKey, _ *window) bool {
		d.due = min(d.due, k.Start+d.span)
		return true
	})
	return nil
}
