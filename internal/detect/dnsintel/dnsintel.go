// Package dnsintel owns the detector of DNS queries that threat
// intelligence or their answers condemn: Impact:EC2/MaliciousDomainRequest.Custom,
// a query for a name that is, or is a subdomain of, a domain on one of the
// user's threat lists, or the type of the list's declared category
// (Backdoor:EC2/C&CActivity.B!DNS for c2, Trojan:EC2/PhishingDomainRequest!DNS
// for phishing, ...: categoryTypes); Trojan:EC2/BlackholeTraffic!DNS, a
// name answered with an address on a threat list of category blackhole;
// and UnauthorizedAccess:EC2/MetadataDNSRebind, a query whose answers
// point at the instance metadata service (169.254.169.254,
// fd00:ec2::254) for a name that is not the service's own.
//
// It sees event.DNSQuery records (Route 53 Resolver query logs, Zeek
// dns.log) and consults the lists through detect.DomainIntel, which it
// finds on the environment's Intel by type assertion; without it only
// rebinding is reported. A trusted list that names a domain silences both
// findings for it and its subdomains. Each (resource, queried name, type)
// is one finding; the resource is the instance when the log names it,
// else the query's source address. Queries are reported per minute of
// event time, at the watermark after that minute ends, so the reports do
// not depend on arrival order. Only the detector registry (detect/all)
// and tests import it.
package dnsintel

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/net/publicsuffix"

	"picket/internal/detect"
	"picket/internal/event"
	"picket/internal/finding"
	"picket/internal/lru"
)

// ID is the detector's ID.
const ID = "dnsintel"

// Thresholds are the detector's tunables.
var Thresholds = detect.Tunables{
	{Name: "pair_ttl", Unit: "seconds", Default: 86400, Min: 60, Max: 30 * 86400,
		Doc: "how long a (resource, queried name) is remembered after its last query, for the totals in the explanation; later queries still update the same finding"},
	{Name: "max_pairs", Unit: "pairs", Default: 100_000, Min: 10, Max: 1e7,
		Doc: "(resource, queried name) pairs whose totals are kept, about 200 bytes each; the least recently seen are evicted and counted"},
	{Name: "max_pending", Unit: "reports", Default: 100_000, Min: 10, Max: 1e7,
		Doc: "reports waiting for their minute to close, one per (resource, queried name, minute), about 600 bytes each; an evicted one is lost and counted"},
}

// Allowlists are the detector's configurable names.
var Allowlists = detect.Allowlists{
	{Name: "metadata_names", Default: []string{"instance-data", "instance-data.ec2.internal"},
		Doc: "names that belong to the metadata service and may resolve to its address, matched exactly (lower case, no final dot); instance-data.<region>.compute.internal is always allowed"},
}

// The metadata service's addresses.
var (
	metadataV4 = netip.AddrFrom4([4]byte{169, 254, 169, 254})
	metadataV6 = netip.MustParseAddr("fd00:ec2::254")
)

const (
	bucket       = 60 // seconds of event time per report
	pairBytes    = 200
	pendingBytes = 600
)

// categoryTypes maps the category a threat list declares
// (intel.Categories) to the finding type its domains raise; the first
// entry, no category, is the type of an uncategorised list. A category
// this table does not know raises that type too.
var categoryTypes = [...]struct{ category, typ string }{
	{"", finding.TypeMaliciousDomainCustom},
	{"c2", finding.TypeC2ActivityDNS},
	{"blackhole", finding.TypeBlackholeTrafficDNS},
	{"droppoint", finding.TypeDropPointDNS},
	{"phishing", finding.TypePhishingDomainDNS},
	{"bitcoin-tool", finding.TypeBitcoinToolDNS},
	{"abused", finding.TypeAbusedDomainReputation},
	{"bitcoin", finding.TypeBitcoinDomainReputation},
	{"malicious", finding.TypeMaliciousDomainReputation},
	{"suspicious", finding.TypeSuspiciousDomainReputation},
}

// catBlackhole is the index of the category of black-hole addresses.
const catBlackhole = 2

// categoryOf returns the index in categoryTypes of a list's category. It
// runs only for a query a list names, and compares strings without
// allocating.
func categoryOf(c string) uint8 {
	if c == "" {
		return 0
	}
	for i := 1; i < len(categoryTypes); i++ {
		if categoryTypes[i].category == c {
			return uint8(i) //nolint:gosec // i < len(categoryTypes), 10
		}
	}
	return 0
}

// pairKey is one resource's queries for one name, for one finding type:
// rebinding, or the category of the threat list (an index in
// categoryTypes).
type pairKey struct {
	Account, Region event.ID
	Instance        event.ID
	Src             netip.Addr // when Instance is zero
	Name            event.ID
	Rebind          bool
	Category        uint8
}

// slotKey is a pair's queries in one minute, the one ending at End.
type slotKey struct {
	Pair pairKey
	End  event.Time
}

// slot is what a report holds. Fields are exported for saving state.
type slot struct {
	N, Blocked int64
	First      event.Time
	Last       event.Time
	UDP, TCP   bool
	// Of the earliest query (by time, then origin).
	Src    netip.Addr
	VPC    event.ID
	Origin event.Origin
	Sample finding.Sample
	Match  detect.ThreatMatch
	// Answer is the metadata address answered, for rebinding, or the
	// black-hole address a list names, for BlackholeTraffic!DNS from
	// answers; zero for a listed domain.
	Answer netip.Addr
}

// pair holds totals over the reports made. Fields are exported for
// saving state.
type pair struct {
	Queries, Blocked int64
	Seen             event.Time
}

// Detector is the DNS threat intelligence and rebinding detector.
type Detector struct {
	env     detect.Env
	th      detect.Tunables
	al      detect.Allowlists
	ttl     event.Time
	own     map[string]bool // metadata_names
	block   event.ID
	pairs   *lru.Table[pairKey, pair]
	pending *lru.Table[slotKey, slot]
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
	d := &Detector{
		env:   env,
		th:    th,
		al:    al,
		ttl:   event.Time(th.Get("pair_ttl")),
		own:   map[string]bool{},
		block: event.Intern("BLOCK"),
	}
	for _, n := range al.Get("metadata_names") {
		d.own[strings.TrimSuffix(strings.ToLower(n), ".")] = true
	}
	d.pairs = lru.New[pairKey, pair](env.Cap(int(th.Get("max_pairs")), 0.5, pairBytes), nil)
	d.pending = lru.New[slotKey, slot](env.Cap(int(th.Get("max_pending")), 0.5, pendingBytes), nil)
	return d, nil
}

// Definition describes the detector.
func (d *Detector) Definition() detect.Definition {
	return detect.Definition{
		ID:           ID,
		Summary:      "DNS queries for domains on a threat list (typed by the list's category), names answered with a listed black-hole address, and answers that point a name at the instance metadata service",
		FindingTypes: findingTypes(),
		Subscribes:   []event.Kind{event.KindDNSQuery},
		Thresholds:   d.th,
		Allowlists:   d.al,
	}
}

func findingTypes() []string {
	out := make([]string, 0, len(categoryTypes)+1)
	for _, c := range categoryTypes {
		out = append(out, c.typ)
	}
	return append(out, finding.TypeMetadataDNSRebind)
}

// State reports the detector's tables.
func (d *Detector) State() []detect.StateStats {
	return []detect.StateStats{
		{Table: "pairs", Len: d.pairs.Len(), Cap: d.pairs.Cap(), Evicted: d.pairs.Evicted()},
		{Table: "pending", Len: d.pending.Len(), Cap: d.pending.Cap(), Evicted: d.pending.Evicted()},
	}
}

// Observe checks a query's answers and looks its name up.
func (d *Detector) Observe(rec event.Record, _ detect.Emit) {
	q, ok := rec.(*event.DNSQuery)
	if !ok || len(q.Name) == 0 {
		return
	}
	var di detect.DomainIntel
	if d.env.Intel != nil {
		di, _ = d.env.Intel.(detect.DomainIntel)
	}
	// The name is only read during the lookups, never kept: a view
	// avoids copying it for every query.
	name := unsafe.String(&q.Name[0], len(q.Name)) //nolint:gosec // read-only view of the borrowed name
	var hole netip.Addr                            // the first answer on a list of black-hole addresses
	var holeMatch detect.ThreatMatch
	rebind := false
	for _, a := range q.AnswerList() {
		if !a.Addr.IsValid() {
			continue
		}
		if !rebind && (a.Addr == metadataV4 || a.Addr == metadataV6) && !d.metadataName(name) {
			rebind = true
			if di == nil || !di.TrustedDomain(name) {
				d.add(q, true, 0, detect.ThreatMatch{}, a.Addr)
			}
		}
		if !hole.IsValid() && d.env.Intel != nil {
			if m, ok := d.env.Intel.Threat(a.Addr); ok && m.Kind == detect.ThreatCustom && categoryOf(m.Category) == catBlackhole {
				hole, holeMatch = a.Addr, m
			}
		}
	}
	if di == nil {
		// Black-hole addresses are reported without domain lists too,
		// as no trusted domain can silence them.
		if hole.IsValid() {
			d.add(q, false, catBlackhole, holeMatch, hole)
		}
		return
	}
	m, ok := di.ThreatDomain(name)
	listed := ok && m.Kind == detect.ThreatCustom
	if !listed && !hole.IsValid() || di.TrustedDomain(name) {
		return
	}
	cat := uint8(0)
	if listed {
		cat = categoryOf(m.Category)
		d.add(q, false, cat, m, netip.Addr{})
	}
	// A name on a blackhole list that is also answered with a listed
	// black-hole address is one query of one finding, not two.
	if hole.IsValid() && (!listed || cat != catBlackhole) {
		d.add(q, false, catBlackhole, holeMatch, hole)
	}
}

// metadataName reports whether name is one of the metadata service's own.
func (d *Detector) metadataName(name string) bool {
	if d.own[name] {
		return true
	}
	rest, ok := strings.CutPrefix(name, "instance-data.")
	return ok && strings.HasSuffix(rest, ".compute.internal") && strings.Count(rest, ".") == 2
}

// add files a query under its pair's report for the query's minute.
func (d *Detector) add(q *event.DNSQuery, rebind bool, cat uint8, m detect.ThreatMatch, answer netip.Addr) {
	pk := pairKey{Account: q.Account, Region: q.Region, Instance: q.Instance, Name: event.Intern(string(q.Name)), Rebind: rebind, Category: cat}
	if q.Instance.IsZero() {
		pk.Src = q.Src
	}
	end := q.T - q.T%bucket
	if end != q.T {
		end += bucket
	}
	s, created := d.pending.Put(slotKey{Pair: pk, End: end})
	if created || earlier(q, s) {
		s.First, s.Src, s.VPC, s.Origin = q.T, q.Src, q.VPC, q.Origin
		s.Sample, s.Match, s.Answer = sample(q), m, answer
		if created {
			s.Last = q.T
		}
	}
	s.N++
	s.Last = max(s.Last, q.T)
	if q.FirewallAction == d.block {
		s.Blocked++
	}
	switch q.Protocol {
	case event.ProtoTCP:
		s.TCP = true
	default:
		s.UDP = true
	}
}

// earlier reports whether q comes before the query a slot describes.
func earlier(q *event.DNSQuery, s *slot) bool {
	if q.T != s.First {
		return q.T < s.First
	}
	if c := cmp.Compare(q.Origin.File.String(), s.Origin.File.String()); c != 0 {
		return c < 0
	}
	if q.Origin.Line != s.Origin.Line {
		return q.Origin.Line < s.Origin.Line
	}
	return q.Src.Less(s.Src)
}

func sample(q *event.DNSQuery) finding.Sample {
	var b strings.Builder
	b.WriteString(string(q.Name))
	b.WriteString(" from ")
	b.WriteString(q.Src.String())
	if !q.Instance.IsZero() {
		b.WriteString(" (" + q.Instance.String() + ")")
	}
	for i, a := range q.AnswerList() {
		if i == 0 {
			b.WriteString(" ->")
		}
		b.WriteByte(' ')
		if a.Addr.IsValid() {
			b.WriteString(a.Addr.String())
		} else {
			b.Write(a.Data)
		}
	}
	if !q.FirewallAction.IsZero() {
		b.WriteString(" firewall " + q.FirewallAction.String())
	}
	s := finding.Sample{Time: q.T.UTC().Format("2006-01-02T15:04:05Z"), Record: b.String()}
	if !q.Origin.File.IsZero() {
		s.Origin = q.Origin.File.String() + ":" + strconv.FormatInt(q.Origin.Line, 10)
	}
	return s
}

// Advance reports every minute that ended at or before w, oldest first,
// and forgets pairs idle for longer than pair_ttl.
func (d *Detector) Advance(w event.Time, emit detect.Emit) {
	var due []slotKey
	d.pending.All(func(k slotKey, _ *slot) bool {
		if k.End <= w {
			due = append(due, k)
		}
		return true
	})
	slices.SortFunc(due, compareSlots)
	for _, k := range due {
		s := *d.pending.Peek(k)
		d.pending.Delete(k)
		p, _ := d.pairs.Put(k.Pair)
		p.Queries += s.N
		p.Blocked += s.Blocked
		p.Seen = max(p.Seen, s.Last)
		emit(d.finding(k.Pair, &s, p))
	}
	if w == event.Forever {
		return
	}
	for {
		k, p, ok := d.pairs.Oldest()
		if !ok || p.Seen+d.ttl > w {
			break
		}
		d.pairs.Delete(k)
	}
}

func compareSlots(a, b slotKey) int {
	if c := cmp.Compare(a.End, b.End); c != 0 {
		return c
	}
	return comparePairs(a.Pair, b.Pair)
}

func comparePairs(a, b pairKey) int {
	for _, c := range [...]int{
		cmp.Compare(a.Account.String(), b.Account.String()),
		cmp.Compare(a.Region.String(), b.Region.String()),
		cmp.Compare(a.Instance.String(), b.Instance.String()),
		a.Src.Compare(b.Src),
		cmp.Compare(a.Name.String(), b.Name.String()),
	} {
		if c != 0 {
			return c
		}
	}
	switch {
	case a.Rebind != b.Rebind && a.Rebind:
		return 1
	case a.Rebind != b.Rebind:
		return -1
	}
	return cmp.Compare(a.Category, b.Category)
}

// resource returns the finding's resource ID and its label for titles.
func resource(k pairKey, s *slot) (id, label string) {
	if !k.Instance.IsZero() {
		return k.Instance.String(), "EC2 instance " + k.Instance.String()
	}
	return s.Src.String(), "host " + s.Src.String()
}

// instance describes the querying instance with what the query tells:
// its ID, the source address and the VPC.
func instance(k pairKey, s *slot) *finding.InstanceDetails {
	ni := finding.NetworkInterface{VpcID: s.VPC.String()}
	if s.Src.Is4() {
		ni.PrivateIPAddress = s.Src.String()
		ni.PrivateIPAddresses = []finding.PrivateIPAddress{{PrivateIPAddress: ni.PrivateIPAddress}}
	} else if s.Src.IsValid() {
		ni.Ipv6Addresses = []string{s.Src.String()}
	}
	return &finding.InstanceDetails{InstanceID: k.Instance.String(), NetworkInterfaces: []finding.NetworkInterface{ni}}
}

func (d *Detector) finding(k pairKey, s *slot, p *pair) *finding.Finding {
	typeName := categoryTypes[0].typ
	if int(k.Category) < len(categoryTypes) {
		typeName = categoryTypes[k.Category].typ
	}
	if k.Rebind {
		typeName = finding.TypeMetadataDNSRebind
	}
	account, region, name := k.Account.String(), k.Region.String(), k.Name.String()
	rid, label := resource(k, s)
	fk := finding.Key{Account: account, Region: region, Resource: rid, Role: finding.RoleActor, Actor: name}
	f := finding.New(typeName, fk, d.env.DetectorID(account, region), s.First.UTC(), s.Last.UTC(), s.N)
	f.Resource.InstanceDetails = instance(k, s)
	proto := "UDP"
	if s.TCP && !s.UDP {
		proto = "TCP"
	}
	f.Service.Action.DNSRequestAction = &finding.DNSRequestAction{
		Domain:           name,
		DomainWithSuffix: registrable(name),
		Protocol:         proto,
		Blocked:          s.Blocked == s.N,
	}

	what := strconv.FormatInt(s.N, 10) + " quer"
	if s.N == 1 {
		what += "y"
	} else {
		what += "ies"
	}
	if s.Blocked > 0 {
		what += ", " + strconv.FormatInt(s.Blocked, 10) + " blocked by DNS Firewall"
	}
	exp := &finding.Explanation{
		Detector: ID,
		Counts: map[string]int64{
			"queries":             p.Queries,
			"queries_this_report": s.N,
			"blocked":             p.Blocked,
		},
		Hosts:   []string{name},
		Samples: []finding.Sample{s.Sample},
	}
	vars := map[string]string{"resource": label, "domain": name, "detail": what}
	if k.Rebind {
		exp.Summary = label + " resolved " + name + " to the instance metadata address " + s.Answer.String() + ": " + what
		vars["answer"] = s.Answer.String()
	} else {
		m := &s.Match
		f.Service.Evidence = &finding.Evidence{ThreatIntelligenceDetails: []finding.ThreatIntelligenceDetail{m.Detail()}}
		listed := "threat list " + m.ListName
		if len(m.ThreatNames) > 0 {
			listed += " (" + strings.Join(m.ThreatNames, ", ") + ")"
			exp.ThreatName = m.ThreatNames[0]
		}
		if m.Category != "" {
			listed += ", category " + m.Category
		}
		exp.ThreatListName = m.ListName
		if s.Answer.IsValid() {
			// BlackholeTraffic!DNS from an answer: the list names the
			// address, not the name.
			exp.Summary = label + " resolved " + name + " to " + s.Answer.String() + ", a black-hole address on " + listed + ": " + what
			exp.Hosts = append(exp.Hosts, s.Answer.String())
			vars["answer"] = s.Answer.String()
		} else {
			exp.Summary = label + " queried " + name + ", on " + listed + ": " + what
		}
		vars["list"] = m.ListName
	}
	f.Service.AdditionalInfo = &finding.AdditionalInfo{Explanation: exp}
	typ, _ := finding.Lookup(typeName)
	f.Title = finding.Text(typ.Title, vars)
	f.Description = finding.Text(typ.Description, vars)
	return f
}

// registrable returns the registrable domain of a name, as GuardDuty's
// domainWithSuffix gives it: one label under its public suffix
// (example.co.uk for www.example.co.uk), or the name itself when it is
// a public suffix or has none.
func registrable(name string) string {
	if r, err := publicsuffix.EffectiveTLDPlusOne(name); err == nil {
		return r
	}
	return name
}

type detectorState struct {
	Pairs   lru.Snapshot[pairKey, pair]
	Pending lru.Snapshot[slotKey, slot]
}

// MarshalState saves the pairs and the reports not yet made.
func (d *Detector) MarshalState() ([]byte, error) {
	return detect.EncodeState(detectorState{Pairs: d.pairs.View(), Pending: d.pending.View()})
}

// UnmarshalState restores them.
func (d *Detector) UnmarshalState(b []byte) error {
	var st detectorState
	if err := detect.DecodeState(b, &st); err != nil {
		return err
	}
	d.pairs.Restore(st.Pairs)
	d.pending.Restore(st.Pending)
	return nil
}
