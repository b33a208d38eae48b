// Package dnsflow owns the detectors of DNS that goes around the VPC's
// resolver, seen in flow records: DefenseEvasion:EC2/UnusualDNSResolver
// (an instance sends DNS on port 53, UDP or TCP, to a public address),
// DefenseEvasion:EC2/UnusualDoHActivity (an instance connects to port 443
// of a public DNS-over-HTTPS resolver on the list shipped with the
// package, doh.txt) and DefenseEvasion:EC2/UnusualDoTActivity (an
// instance connects to port 853, DNS over TLS, or DNS over QUIC on UDP,
// of a public address).
//
// It sees contacts from the contact stage, which joins the two directions
// of a conversation and says which side initiated it. Only conversations
// that the interface started, to the remote side's port 53, 853 or 443,
// that got through and were answered count: over UDP a request and its
// answer, over TCP a connection that carried data past the handshake (a
// port scan's probe of an open port 53 or 853 carries none). Traffic to
// the interface's own port 53, as a resolver instance receives it, is
// never DNS the interface sent. The VPC's own resolvers (169.254.169.253, fd00:ec2::253,
// the VPC network's base address plus two) and every private, shared
// (100.64.0.0/10) or link-local address (an in-VPC or on-premises
// resolver reached over a VPN or Direct Connect) are never unusual, nor
// are the addresses and prefixes of the allowed_resolvers allowlist.
//
// Three kinds of interface send DNS outside the VPC for others, and are
// not reported:
//
//   - A DNS server: an interface that answered conversations to its own
//     port 53 (a resolver or forwarder instance) by the end of the report
//     interval of its outside DNS. Forwarding to upstream servers is its
//     job.
//   - Its path out: an interface that is neither an instance nor an ECS
//     task, whose DNS to a remote resolver falls in the same report
//     interval as a DNS server's DNS to that resolver: a NAT gateway's
//     translated copy of the server's queries. (Flow logs of version 2
//     name no instance, so there every interface may be this path.)
//   - Not a workload: when an account's records name instances (flow
//     logs of version 3 and later, captures with a topology), an
//     interface that names neither an instance nor an ECS task is a NAT
//     gateway, a load balancer or an endpoint, whose outside DNS is some
//     instance's, reported on that instance's own interface.
//
// What "unusual" means here: an instance in a VPC is expected to resolve
// through the VPC's resolver, whose query logs and DNS Firewall see what
// it asks; DNS to anywhere else escapes both. The detector therefore
// learns no baseline (an instance compromised before picket started
// would teach it that its resolver is normal) and reports every
// (resource, finding type, remote resolver) it sees as one finding, whose
// count grows with each later conversation. The allowlist is how a site
// says which outside resolvers are its own.
//
// Conversations are reported per report_interval of event time (five
// minutes by default, whole minutes of the contact stage's buckets), at
// the watermark after the interval ends, so the reports do not depend on
// arrival order.
// Only the detector registry (detect/all) and tests import it.
package dnsflow

import (
	"cmp"
	"fmt"
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
const ID = "dnsflow"

// Thresholds are the detector's tunables.
var Thresholds = detect.Tunables{
	{Name: "report_interval", Unit: "seconds", Default: 300, Min: 60, Max: 3600,
		Doc: "event time each report covers, in whole minutes: a pair's conversations are reported once per interval, at the watermark after it ends; five minutes keeps a resolver used all day to a dozen reports an hour, and the first report of a new one within five minutes plus the lateness"},
	{Name: "pair_ttl", Unit: "seconds", Default: 86400, Min: 60, Max: 30 * 86400,
		Doc: "how long a (resource, remote resolver) is remembered after its last conversation, for the totals in the explanation; later conversations still update the same finding; DNS servers and accounts that name instances are forgotten after the same idle time"},
	{Name: "max_pairs", Unit: "pairs", Default: 100_000, Min: 10, Max: 1e7,
		Doc: "(resource, remote resolver, finding type) totals kept, about 200 bytes each; the least recently seen are evicted and counted"},
	{Name: "max_pending", Unit: "reports", Default: 50_000, Min: 10, Max: 1e7,
		Doc: "reports waiting for their interval to close, one per (resource, remote resolver, finding type, report_interval), about 950 bytes each; an evicted one is lost and counted"},
}

// Allowlists are the detector's configurable lists.
var Allowlists = detect.Allowlists{
	{Name: "allowed_resolvers", Default: nil,
		Doc: "addresses and CIDR prefixes of resolvers outside the VPC that instances may use (a corporate resolver with a public address, a sanctioned public resolver); traffic to them raises none of the three findings"},
}

// The VPC resolver's link-local addresses. Every private, shared and
// link-local address is exempt anyway; these are named for the docs and
// the tests.
var (
	vpcResolverV4 = netip.AddrFrom4([4]byte{169, 254, 169, 253})
	vpcResolverV6 = netip.MustParseAddr("fd00:ec2::253")
)

// The ports of the three kinds of DNS traffic.
const (
	portDNS   = 53
	portHTTPS = 443
	portDoT   = 853
)

// kind is the finding type of a pair.
type kind uint8

const (
	kindResolver kind = iota
	kindDoH
	kindDoT
)

var typeNames = [...]string{finding.TypeUnusualDNSResolver, finding.TypeUnusualDoH, finding.TypeUnusualDoT}

// The sizes of the tables' entries, from unsafe.Sizeof: a pending report
// takes 832 bytes in its table's slice (slot 736, slotKey 88, links 8)
// and about 110 in its index; a pair 112 and about 90; a DNS server or
// an account 64 and about 60.
const (
	maxSamples   = 3 // evidence records per report, the earliest
	pairBytes    = 200
	pendingBytes = 950
	hostBytes    = 120
)

// pairKey is one resource's DNS traffic to one remote resolver, of one
// kind. Local is set only when the records name no interface (a capture),
// so that two hosts of one capture stay apart.
type pairKey struct {
	Account, Region event.ID
	Interface       event.ID
	Local           netip.Addr
	Remote          netip.Addr
	Kind            kind
}

// slotKey is a pair's conversations in one report interval, the one
// that ends before End.
type slotKey struct {
	Pair pairKey
	End  event.Time
}

// slot is what a report holds. Fields are exported for saving state.
type slot struct {
	N         int64 // conversations
	Continued int64 // of which later parts of a longer one
	FwdBytes  int64 // sent by the instance
	RevBytes  int64 // sent back
	First     event.Time
	Last      event.Time
	Ctx       event.Contact // the earliest conversation (by time, then origin)
	Evidence  [maxSamples]contact.Evidence
	NEvidence int
	Protocols uint8 // 1 UDP, 2 TCP
	Workload  bool  // the interface is an instance's or an ECS task's
}

// hostKey is one interface, or one host of a capture that names no
// interface.
type hostKey struct {
	Account   event.ID
	Interface event.ID
	Local     netip.Addr
}

// span is when something was first and last seen.
type span struct {
	First, Last event.Time
}

func (s *span) note(t event.Time, created bool) {
	if created {
		s.First, s.Last = t, t
		return
	}
	s.First, s.Last = min(s.First, t), max(s.Last, t)
}

// pair holds totals over the reports made. Fields are exported for
// saving state.
type pair struct {
	Conversations int64
	FirstSeen     event.Time
	Seen          event.Time
}

// Detector is the DNS evasion detector over flow records.
type Detector struct {
	env      detect.Env
	th       detect.Tunables
	al       detect.Allowlists
	ttl      event.Time
	interval event.Time
	doh      *resolvers
	allowed  *resolvers
	pairs    *lru.Table[pairKey, pair]
	pending  *lru.Table[slotKey, slot]
	servers  *lru.Table[hostKey, span]  // interfaces that answered DNS on port 53
	named    *lru.Table[event.ID, span] // accounts whose records name instances
	// Conversations not reported, by reason, ever.
	byServer, byPath, byNonWorkload int64
}

var (
	_ detect.Detector    = (*Detector)(nil)
	_ detect.Stater      = (*Detector)(nil)
	_ detect.Snapshotter = (*Detector)(nil)
)

// New builds the detector. It fails on an allowlist entry that is not an
// address or prefix.
func New(env detect.Env) (*Detector, error) {
	th, err := Thresholds.Apply(ID, env.Thresholds)
	if err != nil {
		return nil, err
	}
	al, err := Allowlists.Apply(ID, env.Allowlists)
	if err != nil {
		return nil, err
	}
	doh, err := parseDoH(dohList)
	if err != nil {
		// The list ships with the binary; its test keeps it valid.
		return nil, err
	}
	allowed, err := parseAllowed(al.Get("allowed_resolvers"))
	if err != nil {
		return nil, err
	}
	if iv := th.Get("report_interval"); iv != float64(int64(iv)/60*60) {
		return nil, fmt.Errorf("detector %s: threshold report_interval = %g is not a whole number of minutes", ID, iv)
	}
	return &Detector{
		env:      env,
		th:       th,
		al:       al,
		ttl:      event.Time(th.Get("pair_ttl")),
		interval: event.Time(th.Get("report_interval")),
		doh:      doh,
		allowed:  allowed,
		pairs:    lru.New[pairKey, pair](env.Cap(int(th.Get("max_pairs")), 0.3, pairBytes), nil),
		pending:  lru.New[slotKey, slot](env.Cap(int(th.Get("max_pending")), 0.6, pendingBytes), nil),
		servers:  lru.New[hostKey, span](env.Cap(int(th.Get("max_pairs")), 0.05, hostBytes), nil),
		named:    lru.New[event.ID, span](env.Cap(10_000, 0.05, hostBytes), nil),
	}, nil
}

// Definition describes the detector.
func (d *Detector) Definition() detect.Definition {
	return detect.Definition{
		ID:      ID,
		Summary: "instances that send DNS to resolvers other than the VPC's: plain DNS to a public address, DNS over HTTPS to a known public resolver, DNS over TLS",
		FindingTypes: []string{finding.TypeUnusualDNSResolver, finding.TypeUnusualDoH,
			finding.TypeUnusualDoT},
		Subscribes: []event.Kind{event.KindContact},
		Thresholds: d.th,
		Allowlists: d.al,
	}
}

// State reports the detector's tables.
func (d *Detector) State() []detect.StateStats {
	return []detect.StateStats{
		{Table: "pairs", Len: d.pairs.Len(), Cap: d.pairs.Cap(), Evicted: d.pairs.Evicted()},
		{Table: "pending", Len: d.pending.Len(), Cap: d.pending.Cap(), Evicted: d.pending.Evicted()},
		{Table: "servers", Len: d.servers.Len(), Cap: d.servers.Cap(), Evicted: d.servers.Evicted()},
		{Table: "accounts", Len: d.named.Len(), Cap: d.named.Cap(), Evicted: d.named.Evicted()},
	}
}

// classify returns the kind of DNS traffic a contact is, if it is DNS the
// interface sent to a resolver other than the VPC's.
func (d *Detector) classify(c *event.Contact) (kind, bool) {
	if c.Inbound {
		return 0, false
	}
	switch c.Protocol {
	case event.ProtoUDP:
		// A query and its answer.
		if !answered(c) {
			return 0, false
		}
	case event.ProtoTCP:
		// Queries past the handshake: a scan's probe of an open port
		// 53 or 853, or a connection that only opened, is no DNS.
		if c.Outcome != event.OutcomeData {
			return 0, false
		}
	default:
		return 0, false
	}
	var k kind
	switch c.RPort {
	case portDNS:
		k = kindResolver
	case portDoT:
		// TCP is DNS over TLS; UDP on the same port is DNS over QUIC,
		// the same evasion by a newer road.
		k = kindDoT
	case portHTTPS:
		k = kindDoH
	default:
		return 0, false
	}
	r := c.Responder
	if !event.Host(r) || event.Internal(r) || r == vpcResolverV4 || r == vpcResolverV6 {
		return 0, false
	}
	if k == kindDoH && !d.doh.contains(r) {
		return 0, false
	}
	if d.allowed.len() > 0 && d.allowed.contains(r) {
		return 0, false
	}
	return k, true
}

// Observe files a contact that is DNS around the VPC's resolver under its
// pair's report for the contact's interval.
func (d *Detector) Observe(rec event.Record, _ detect.Emit) {
	c, ok := rec.(*event.Contact)
	if !ok {
		return
	}
	if !dnsPort(c.RPort) {
		return
	}
	workload := !c.Instance.IsZero() || !c.ECS.TaskARN.IsZero() || !c.ECS.ClusterName.IsZero()
	if workload {
		t, created := d.named.Put(c.Account)
		t.note(c.Start, created)
	}
	if c.Inbound && c.RPort == portDNS && answered(c) {
		t, created := d.servers.Put(hostOf(c))
		t.note(c.Start, created)
		return
	}
	k, ok := d.classify(c)
	if !ok {
		return
	}
	pk := pairKey{Account: c.Account, Region: c.Region, Interface: c.Interface, Remote: c.Responder, Kind: k}
	if c.Interface.IsZero() {
		pk.Local = c.Local
	}
	// The interval [End-report_interval, End), whole minutes of the
	// contact stage's buckets: every conversation that started in it
	// has been observed when the watermark reaches End.
	end := c.Start - c.Start%d.interval + d.interval
	s, created := d.pending.Put(slotKey{Pair: pk, End: end})
	if created || earlier(c, &s.Ctx) {
		s.Ctx = *c
		if created {
			s.First, s.Last = c.Start, c.End
		}
	}
	s.First = min(s.First, c.Start)
	s.Last = max(s.Last, c.End)
	s.N++
	if c.Continued {
		s.Continued++
	}
	s.FwdBytes += int64(min(c.Fwd.Bytes, 1<<62))
	s.RevBytes += int64(min(c.Rev.Bytes, 1<<62))
	if c.Protocol == event.ProtoTCP {
		s.Protocols |= 2
	} else {
		s.Protocols |= 1
	}
	s.Workload = s.Workload || workload
	s.keepEvidence(c)
}

// dnsPort reports whether a responder's port is one the detector reads.
func dnsPort(p uint16) bool { return p == portDNS || p == portHTTPS || p == portDoT }

// answered reports whether the responder of a contact answered it.
func answered(c *event.Contact) bool {
	return c.Outcome == event.OutcomeEstablished || c.Outcome == event.OutcomeData
}

func hostOf(c *event.Contact) hostKey {
	h := hostKey{Account: c.Account, Interface: c.Interface}
	if c.Interface.IsZero() {
		h.Local = c.Local
	}
	return h
}

// earlier reports whether c comes before the contact ctx, by start, then
// origin, then the initiator's port.
func earlier(c, ctx *event.Contact) bool {
	return compareContacts(c.Start, c.Origin, c.IPort, ctx.Start, ctx.Origin, ctx.IPort) < 0
}

func compareContacts(at event.Time, ao event.Origin, ap uint16, bt event.Time, bo event.Origin, bp uint16) int {
	if at != bt {
		return cmp.Compare(at, bt)
	}
	if ao.File != bo.File {
		return cmp.Compare(ao.File.String(), bo.File.String())
	}
	if ao.Line != bo.Line {
		return cmp.Compare(ao.Line, bo.Line)
	}
	return cmp.Compare(ap, bp)
}

// keepEvidence keeps the contact among the report's earliest maxSamples,
// whatever the order they arrive in. A later part of a longer
// conversation is not kept: its beginning says more.
func (s *slot) keepEvidence(c *event.Contact) {
	if c.Continued {
		return
	}
	ev := contact.EvidenceOf(c)
	at := func(i int) int {
		e := &s.Evidence[i]
		return compareContacts(ev.Start, ev.Origin, ev.IPort, e.Start, e.Origin, e.IPort)
	}
	i := 0
	for i < s.NEvidence && at(i) > 0 {
		i++
	}
	if i < s.NEvidence && at(i) == 0 {
		return // the same record, observed again
	}
	if i == maxSamples {
		return
	}
	n := min(s.NEvidence, maxSamples-1)
	copy(s.Evidence[i+1:n+1], s.Evidence[i:n])
	s.Evidence[i] = ev
	s.NEvidence = n + 1
}

// Advance reports every interval that ended at or before w, oldest first,
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
	// A DNS server's outside DNS, by remote resolver and interval: the
	// same interval's DNS of another interface to that resolver may be
	// the server's queries on their way out.
	type route struct {
		Account, Region event.ID
		Remote          netip.Addr
		Kind            kind
		End             event.Time
	}
	var served map[route]bool
	for _, k := range due {
		if d.isServer(k) {
			if served == nil {
				served = map[route]bool{}
			}
			served[route{k.Pair.Account, k.Pair.Region, k.Pair.Remote, k.Pair.Kind, k.End}] = true
		}
	}
	for _, k := range due {
		s := *d.pending.Peek(k)
		d.pending.Delete(k)
		switch {
		case d.isServer(k):
			d.byServer += s.N
			continue
		case !s.Workload && served[route{k.Pair.Account, k.Pair.Region, k.Pair.Remote, k.Pair.Kind, k.End}]:
			d.byPath += s.N
			continue
		case !s.Workload && d.namesInstances(k.Pair.Account, k.End):
			d.byNonWorkload += s.N
			continue
		}
		p, created := d.pairs.Put(k.Pair)
		if created || s.First < p.FirstSeen {
			p.FirstSeen = s.First
		}
		p.Conversations += s.N
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
	for {
		k, t, ok := d.servers.Oldest()
		if !ok || t.Last+d.ttl > w {
			break
		}
		d.servers.Delete(k)
	}
	for {
		k, t, ok := d.named.Oldest()
		if !ok || t.Last+d.ttl > w {
			break
		}
		d.named.Delete(k)
	}
}

// isServer reports whether the interface of a report had answered DNS on
// its own port 53 by the end of the report's interval. Every conversation
// that started before then has been observed, so the answer does not
// depend on arrival order.
func (d *Detector) isServer(k slotKey) bool {
	t := d.servers.Peek(hostKey{Account: k.Pair.Account, Interface: k.Pair.Interface, Local: k.Pair.Local})
	return t != nil && t.First < k.End
}

// namesInstances reports whether the account's records had named an
// instance or an ECS task by the end of a report's interval.
func (d *Detector) namesInstances(account event.ID, end event.Time) bool {
	t := d.named.Peek(account)
	return t != nil && t.First < end
}

func compareSlots(a, b slotKey) int {
	if c := cmp.Compare(a.End, b.End); c != 0 {
		return c
	}
	for _, c := range [...]int{
		cmp.Compare(a.Pair.Account.String(), b.Pair.Account.String()),
		cmp.Compare(a.Pair.Region.String(), b.Pair.Region.String()),
		cmp.Compare(a.Pair.Interface.String(), b.Pair.Interface.String()),
		a.Pair.Local.Compare(b.Pair.Local),
		a.Pair.Remote.Compare(b.Pair.Remote),
		cmp.Compare(a.Pair.Kind, b.Pair.Kind),
	} {
		if c != 0 {
			return c
		}
	}
	return 0
}

// what describes a kind of traffic for titles and summaries.
var what = [...]string{"DNS (port 53)", "DNS over HTTPS (port 443)", "DNS over TLS (port 853)"}

func (d *Detector) finding(k pairKey, s *slot, p *pair) *finding.Finding {
	c := &s.Ctx
	typeName := typeNames[k.Kind]
	account, region := k.Account.String(), k.Region.String()
	remote := k.Remote.String()
	fk := finding.Key{Account: account, Region: region, Resource: finding.ResourceID(c), Role: finding.RoleActor, Actor: remote}
	f := finding.New(typeName, fk, d.env.DetectorID(account, region), s.First.UTC(), s.Last.UTC(), s.N)
	f.Resource.InstanceDetails = finding.InstanceFor(c)
	f.Resource.EcsClusterDetails = finding.ECSFor(c)
	nc := contact.Connection(c, true, c.Interface)
	if d.env.IPInfo != nil {
		info := d.env.IPInfo(k.Remote)
		nc.RemoteIPDetails = finding.RemoteIPWith(k.Remote, &info)
	}
	f.Service.Action.NetworkConnectionAction = nc

	proto := "UDP"
	switch s.Protocols {
	case 2:
		proto = "TCP"
	case 3:
		proto = "UDP and TCP"
	}
	detail := strconv.FormatInt(s.N, 10) + " " + proto + " conversation(s) in " + strconv.FormatInt(int64(d.interval/60), 10) + " min, " +
		strconv.FormatInt(p.Conversations, 10) + " since " + p.FirstSeen.UTC().Format("2006-01-02T15:04:05Z")
	label := finding.ResourceLabel(c)
	summary := label + " sent " + what[k.Kind] + " to " + remote + ", a resolver outside the VPC"
	hosts := []string{remote}
	exp := &finding.Explanation{
		Detector: ID,
		Counts: map[string]int64{
			"conversations":              p.Conversations,
			"conversations_this_report":  s.N,
			"continued_this_report":      s.Continued,
			"bytes_sent_this_report":     s.FwdBytes,
			"bytes_received_this_report": s.RevBytes,
		},
		Ports:       []int{int(c.RPort)},
		Samples:     contact.Samples(s.Evidence[:s.NEvidence]),
		NetworkPath: contact.NetworkPath(c),
	}
	if k.Kind == kindDoH {
		if r, ok := d.doh.lookup(k.Remote); ok {
			summary += ": " + r.Operator + "'s public DNS-over-HTTPS resolver " + r.Service
			detail += ", " + r.Operator + " " + r.Service
			hosts = append(hosts, r.Service)
		}
	}
	exp.Summary = summary + " (" + detail + ")"
	exp.Hosts = hosts
	f.Service.AdditionalInfo = &finding.AdditionalInfo{Explanation: exp}
	typ, _ := finding.Lookup(typeName)
	vars := map[string]string{"resource": label, "remote": remote, "detail": detail}
	f.Title = finding.Text(typ.Title, vars)
	f.Description = finding.Text(typ.Description, vars)
	return f
}

type detectorState struct {
	Pairs                           lru.Snapshot[pairKey, pair]
	Pending                         lru.Snapshot[slotKey, slot]
	Servers                         lru.Snapshot[hostKey, span]
	Named                           lru.Snapshot[event.ID, span]
	ByServer, ByPath, ByNonWorkload int64
}

// MarshalState saves the pairs, the reports not yet made and what is
// known of the interfaces and accounts.
func (d *Detector) MarshalState() ([]byte, error) {
	return detect.EncodeState(detectorState{Pairs: d.pairs.View(), Pending: d.pending.View(),
		Servers: d.servers.View(), Named: d.named.View(),
		ByServer: d.byServer, ByPath: d.byPath, ByNonWorkload: d.byNonWorkload})
}

// UnmarshalState restores them.
func (d *Detector) UnmarshalState(b []byte) error {
	var st detectorState
	if err := detect.DecodeState(b, &st); err != nil {
		return err
	}
	d.pairs.Restore(st.Pairs)
	d.pending.Restore(st.Pending)
	d.servers.Restore(st.Servers)
	d.named.Restore(st.Named)
	d.byServer, d.byPath, d.byNonWorkload = st.ByServer, st.ByPath, st.ByNonWorkload
	return nil
}

// Suppressed returns how many conversations to outside resolvers were
// not reported, ever, by reason: from a DNS server, on a DNS server's
// path out, from an interface that is not a workload.
func (d *Detector) Suppressed() (server, path, nonWorkload int64) {
	return d.byServer, d.byPath, d.byNonWorkload
}
