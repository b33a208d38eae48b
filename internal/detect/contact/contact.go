// Package contact owns the contact stage: it joins the two directions of
// each conversation that VPC Flow Logs record separately, decides which
// side initiated it, and judges how it went (rejected, unanswered, refused,
// established, or carrying data). Detectors of network reconnaissance
// subscribe to the contacts it emits instead of raw flow records.
//
// Conversations are grouped into event-time buckets (one minute by
// default, the aggregation interval of Nitro interfaces) and a bucket is
// emitted, in a fixed order, once the watermark has passed its end. The
// contacts a bucket yields therefore depend only on the records whose
// times fall in it, never on the order in which they arrived.
//
// Records that come without a direction (version 2 flow logs between two
// private hosts, before enrich has learned either interface's address)
// are held in conversations keyed by their addresses in order, and
// settled when their bucket closes: by then every record of the bucket,
// on every interface, has taught what it could of the interfaces'
// addresses. What is still undecided is counted and dropped.
package contact

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"

	"picket/internal/detect"
	"picket/internal/event"
	"picket/internal/lru"
)

// Config tunes the stage.
type Config struct {
	// Bucket is the length of a conversation bucket in seconds.
	Bucket event.Time
	// MaxConversations bounds the conversations held at once.
	MaxConversations int
	// MaxInterfaces bounds the interfaces whose context is remembered.
	MaxInterfaces int
	// Budget, when set, lowers MaxConversations so that the stage's
	// tables fit in this many bytes. Measured with the flood test in
	// detect/all: an open conversation takes about 450 bytes with its
	// share of the table's map and index, a reported one about 300 in the
	// table that marks continued conversations.
	Budget int64
}

// DefaultConfig holds one-minute buckets, up to a million open
// conversations (about 200 MB) and 100,000 interfaces.
var DefaultConfig = Config{Bucket: 60, MaxConversations: 1 << 20, MaxInterfaces: 100_000}

// key identifies a conversation in one bucket. Addresses are kept as two
// integers (see addrKey): the key holds no pointer but the interface's and
// is 56 bytes instead of 80.
type key struct {
	Iface  event.ID
	Bucket event.Time
	Local  addrKey
	Remote addrKey
	LPort  uint16
	RPort  uint16
	Proto  uint8
}

func (k *key) localAddr() netip.Addr  { return k.Local.addr() }
func (k *key) remoteAddr() netip.Addr { return k.Remote.addr() }

// addrKey is an address as two integers (IPv4 mapped into IPv6): pointer
// free, ordered like the address, and encoded in saved state as two
// varints instead of sixteen bytes one by one.
type addrKey struct{ Hi, Lo uint64 }

func keyOf(a netip.Addr) addrKey {
	b := a.As16()
	return addrKey{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func (k addrKey) addr() netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], k.Hi)
	binary.BigEndian.PutUint64(b[8:], k.Lo)
	return netip.AddrFrom16(b).Unmap()
}

func (k addrKey) compare(o addrKey) int {
	if c := cmp.Compare(k.Hi, o.Hi); c != 0 {
		return c
	}
	return cmp.Compare(k.Lo, o.Lo)
}

// convID is a conversation without its bucket: the same connection over
// time.
type convID struct {
	Iface  event.ID
	Local  addrKey
	Remote addrKey
	LPort  uint16
	RPort  uint16
	Proto  uint8
}

type conv struct {
	Start, End    event.Time
	First, Latest event.Origin
	FirstT, LastT event.Time
	Out, In       event.Half // from the interface's side, to it
	PktLocal      netip.Addr
	// pos is the index of the key in its bucket's list. It is not
	// saved (gob leaves unexported fields out): UnmarshalState rebuilds
	// the lists in another order, and a saved pos would make a restored
	// stage save other bytes than the stage it was restored from.
	pos int32
}

// iface is what the stage remembers about an interface to describe its
// contacts: the identifiers that every record of the interface repeats.
type iface struct {
	Account, Region, VPC, Subnet, Instance event.ID
	ECS                                    event.ECS
	Local                                  netip.Addr // the interface's address last seen
}

// owner is an address within an account (accounts reuse private ranges).
type owner struct {
	Account event.ID
	Addr    addrKey
}

// Stage is the contact stage.
type Stage struct {
	cfg     Config
	convs   *lru.Table[key, conv]
	recent  *lru.Table[convID, event.Time] // bucket each conversation was last reported in
	ifaces  *lru.Table[event.ID, iface]
	owners  *lru.Table[owner, event.ID] // the interface each known address belongs to
	buckets map[event.Time][]key        // the conversations created in each bucket
	// held are conversations of records that came without a direction,
	// keyed by their addresses in order, and heldBuckets indexes them.
	held        *lru.Table[key, conv]
	heldBuckets map[event.Time][]key
	pending     []event.Contact // contacts of evicted conversations, in eviction order
	ready       []ready         // reused by Advance
	out         event.Contact   // the contact being dispatched
	stats       Stats
}

type ready struct {
	Start event.Time
	k     key
	c     *conv // valid during Advance, which inserts nothing
}

// Stats counts what the stage did.
type Stats struct {
	Flows       uint64 // flow records joined
	Skipped     uint64 // records without traffic, or not between two hosts
	Held        uint64 // records held until their bucket closed, for want of a direction
	Unresolved  uint64 // held records whose direction was still unknown when the bucket closed
	Contacts    uint64 // contacts emitted
	EvictedConv uint64 // conversations emitted early to stay within the bound
}

var _ detect.Stage = (*Stage)(nil)
var _ detect.Stater = (*Stage)(nil)

// New returns a contact stage.
func New(cfg Config) *Stage {
	if cfg.Bucket <= 0 {
		cfg.Bucket = DefaultConfig.Bucket
	}
	if cfg.MaxConversations <= 0 {
		cfg.MaxConversations = DefaultConfig.MaxConversations
	}
	if cfg.MaxInterfaces <= 0 {
		cfg.MaxInterfaces = DefaultConfig.MaxInterfaces
	}
	if cfg.Budget > 0 {
		cfg.MaxConversations = max(16, min(cfg.MaxConversations, int(cfg.Budget*6/10/450)))
	}
	s := &Stage{cfg: cfg, buckets: map[event.Time][]key{}, heldBuckets: map[event.Time][]key{}}
	s.ifaces = lru.New[event.ID, iface](cfg.MaxInterfaces, nil)
	s.owners = lru.New[owner, event.ID](cfg.MaxInterfaces*4, nil)
	s.held = lru.New(max(16, cfg.MaxConversations/4), func(k key, c *conv) {
		s.stats.Unresolved += uint64(c.Out.Records + c.In.Records)
		unindex(s.held, s.heldBuckets, k, c.pos)
	})
	recent := cfg.MaxConversations
	if cfg.Budget > 0 {
		recent = max(16, int(cfg.Budget*4/10/300))
	}
	s.recent = lru.New[convID, event.Time](recent, nil)
	s.convs = lru.New(cfg.MaxConversations, func(k key, c *conv) {
		s.stats.EvictedConv++
		s.pending = append(s.pending, s.contact(k, c))
		s.unindex(k, c.pos)
	})
	return s
}

// Name returns "contact".
func (s *Stage) Name() string { return "contact" }

// Consumes returns the flow kind.
func (s *Stage) Consumes() []event.Kind { return []event.Kind{event.KindFlow} }

// Stats returns the stage's counters.
func (s *Stage) Stats() Stats { return s.stats }

// State reports the stage's tables.
func (s *Stage) State() []detect.StateStats {
	return []detect.StateStats{
		{Table: "conversations", Len: s.convs.Len(), Cap: s.convs.Cap(), Evicted: s.convs.Evicted()},
		{Table: "interfaces", Len: s.ifaces.Len(), Cap: s.ifaces.Cap(), Evicted: s.ifaces.Evicted()},
		{Table: "recent conversations", Len: s.recent.Len(), Cap: s.recent.Cap(), Evicted: s.recent.Evicted()},
		{Table: "held conversations", Len: s.held.Len(), Cap: s.held.Cap(), Evicted: s.held.Evicted()},
		{Table: "interface addresses", Len: s.owners.Len(), Cap: s.owners.Cap(), Evicted: s.owners.Evicted()},
	}
}

// Observe folds a flow record into its conversation.
func (s *Stage) Observe(rec event.Record, out func(event.Record)) {
	f, ok := rec.(*event.Flow)
	if !ok {
		return
	}
	if !f.HasData() || !event.Host(f.Src) || !event.Host(f.Dst) || f.Src == f.Dst {
		s.stats.Skipped++
		return
	}
	dir := f.Direction
	t := f.Start
	if f.Has&event.HasStart == 0 {
		t = f.Time()
	}
	k := key{Iface: f.Interface, Bucket: t - t%s.cfg.Bucket, Proto: f.Protocol}
	if dir == event.DirectionUnknown {
		if f.Interface.IsZero() {
			s.stats.Skipped++
			return
		}
		s.hold(k, f, t, out)
		return
	}
	s.stats.Flows++
	var local netip.Addr
	if dir == event.Outbound {
		local = f.Src
		k.Local, k.Remote, k.LPort, k.RPort = keyOf(f.Src), keyOf(f.Dst), f.SrcPort, f.DstPort
	} else {
		local = f.Dst
		k.Local, k.Remote, k.LPort, k.RPort = keyOf(f.Dst), keyOf(f.Src), f.DstPort, f.SrcPort
	}
	c, created := s.convs.Put(k)
	if created {
		c.pos = int32(len(s.buckets[k.Bucket]))
		s.buckets[k.Bucket] = append(s.buckets[k.Bucket], k)
	}
	if dir == event.Inbound && f.PktDst.IsValid() && f.PktDst != f.Dst {
		c.PktLocal = f.PktDst
	}
	c.fold(f, t, dir == event.Outbound, created)
	s.noteInterface(f, local)
	if len(s.pending) > 0 {
		s.flushPending(out)
	}
}

// fold adds a record to a conversation; fromLocal says whether the
// record's sender is the conversation's local side.
func (c *conv) fold(f *event.Flow, t event.Time, fromLocal, created bool) {
	h := &c.In
	if fromLocal {
		h = &c.Out
	}
	end := f.Time()
	if created {
		c.Start, c.End = t, end
		c.First, c.FirstT = f.Origin, t
		c.Latest, c.LastT = f.Origin, end
	} else {
		c.Start = min(c.Start, t)
		c.End = max(c.End, end)
		if before(t, f.Origin, c.FirstT, c.First) {
			c.First, c.FirstT = f.Origin, t
		}
		if before(c.LastT, c.Latest, end, f.Origin) {
			c.Latest, c.LastT = f.Origin, end
		}
	}
	h.Packets += f.Packets
	h.Bytes += f.Bytes
	h.Records++
	if f.Has&event.HasTCPFlags != 0 {
		h.Flags |= f.TCPFlags
		h.HasFlags = true
	}
	if f.Action == event.Reject {
		h.Rejected = true
	}
}

// merge adds conversation o, whose halves are already oriented like c's,
// to c.
func (c *conv) merge(o *conv) {
	c.Start, c.End = min(c.Start, o.Start), max(c.End, o.End)
	if before(o.FirstT, o.First, c.FirstT, c.First) {
		c.First, c.FirstT = o.First, o.FirstT
	}
	if before(c.LastT, c.Latest, o.LastT, o.Latest) {
		c.Latest, c.LastT = o.Latest, o.LastT
	}
	for _, hs := range [2][2]*event.Half{{&c.Out, &o.Out}, {&c.In, &o.In}} {
		h, x := hs[0], hs[1]
		h.Packets += x.Packets
		h.Bytes += x.Bytes
		h.Records += x.Records
		h.Flags |= x.Flags
		h.HasFlags = h.HasFlags || x.HasFlags
		h.Rejected = h.Rejected || x.Rejected
	}
}

// noteInterface remembers what a record says of its interface: the
// identifiers every record repeats, and its own address, which makes the
// address remote on every other interface (see resolve).
func (s *Stage) noteInterface(f *event.Flow, local netip.Addr) {
	if f.Interface.IsZero() {
		return
	}
	st, _ := s.ifaces.Put(f.Interface)
	st.Account, st.Region = f.Account, f.Region
	if !f.VPC.IsZero() {
		st.VPC = f.VPC
	}
	if !f.Subnet.IsZero() {
		st.Subnet = f.Subnet
	}
	if !f.Instance.IsZero() {
		st.Instance = f.Instance
	}
	if !f.ECS.TaskARN.IsZero() || !f.ECS.ClusterName.IsZero() {
		st.ECS = f.ECS
	}
	if local.IsValid() && local != st.Local {
		st.Local = local
		// Only a record that came with its direction makes the address
		// the interface's as other interfaces see it; directions that
		// were inferred are guesses, and wrong on a NAT gateway's
		// interface (see enrich.Directions).
		if f.Basis == event.BasisField {
			s.claim(f.Account, keyOf(local), f.Interface)
		}
	}
}

// sharedOwner marks an address that more than one interface claimed: a
// NAT gateway's interface records the private addresses of the instances
// behind it, and an address may move. It decides nothing.
var sharedOwner = event.Intern("(shared address)")

// claim records that interface iface claims address a.
func (s *Stage) claim(account event.ID, a addrKey, iface event.ID) {
	o, created := s.owners.Put(owner{account, a})
	if created || *o == iface {
		*o = iface
		return
	}
	*o = sharedOwner
}

// resolve decides the direction of held conversation k: the interface's
// own address, from its records that came with a direction, decides
// first; then an address some interface owns for certain (see claim): the
// interface's own is local, another interface's is remote.
func (s *Stage) resolve(k key) event.Direction {
	st := s.ifaces.Peek(k.Iface)
	if st == nil {
		return event.DirectionUnknown
	}
	switch st.Local {
	case k.localAddr():
		return event.Outbound
	case k.remoteAddr():
		return event.Inbound
	}
	owner := func(a addrKey) *event.ID {
		o := s.owners.Peek(owner{st.Account, a})
		if o == nil || *o == sharedOwner {
			return nil
		}
		return o
	}
	ol, or := owner(k.Local), owner(k.Remote)
	switch {
	case ol != nil && *ol == k.Iface:
		return event.Outbound
	case or != nil && *or == k.Iface:
		return event.Inbound
	case ol != nil && or == nil:
		return event.Inbound
	case or != nil && ol == nil:
		return event.Outbound
	}
	return event.DirectionUnknown
}

// hold keeps a record whose direction is not known yet in a conversation
// keyed by its addresses in order. The conversation is resolved when its
// bucket closes, by then knowing what every record of the bucket, on
// every interface, taught of the interfaces' addresses.
func (s *Stage) hold(k key, f *event.Flow, t event.Time, out func(event.Record)) {
	s.stats.Held++
	lo, hi, lp, hp := f.Src, f.Dst, f.SrcPort, f.DstPort
	if keyOf(hi).compare(keyOf(lo)) < 0 {
		lo, hi, lp, hp = hi, lo, hp, lp
	}
	k.Local, k.Remote, k.LPort, k.RPort = keyOf(lo), keyOf(hi), lp, hp
	c, created := s.held.Put(k)
	if created {
		c.pos = int32(len(s.heldBuckets[k.Bucket]))
		s.heldBuckets[k.Bucket] = append(s.heldBuckets[k.Bucket], k)
	}
	c.fold(f, t, f.Src == lo, created)
	s.noteInterface(f, netip.Addr{})
	if len(s.pending) > 0 {
		s.flushPending(out)
	}
}

// settle resolves the held conversations of bucket b: each joins the
// conversations of its bucket with the interface's side as local, or is
// dropped and counted when nothing tells which side is the interface's.
// Settling teaches nothing, so the outcome does not depend on the order
// of the conversations.
func (s *Stage) settle(b event.Time) {
	keys := s.heldBuckets[b]
	delete(s.heldBuckets, b)
	for _, k := range keys {
		c := s.held.Peek(k)
		if c == nil {
			continue
		}
		h := *c
		s.held.Delete(k)
		switch s.resolve(k) {
		case event.Outbound:
		case event.Inbound:
			k.Local, k.Remote, k.LPort, k.RPort = k.Remote, k.Local, k.RPort, k.LPort
			h.Out, h.In = h.In, h.Out
		default:
			s.stats.Unresolved += uint64(h.Out.Records + h.In.Records)
			continue
		}
		s.stats.Flows += uint64(h.Out.Records + h.In.Records)
		c, created := s.convs.Put(k)
		if created {
			*c = h
			c.pos = int32(len(s.buckets[k.Bucket]))
			s.buckets[k.Bucket] = append(s.buckets[k.Bucket], k)
			continue
		}
		c.merge(&h)
	}
}

// before orders records by time, then file name and line, so that "the
// first record" of a conversation is the same whatever the arrival order.
func before(t1 event.Time, o1 event.Origin, t2 event.Time, o2 event.Origin) bool {
	if t1 != t2 {
		return t1 < t2
	}
	if o1.File != o2.File {
		return o1.File.String() < o2.File.String()
	}
	return o1.Line < o2.Line
}

// unindex removes key k, at position pos, from its bucket's list by moving
// the list's last key into its place, so that the index never holds more
// keys than the table holds conversations.
func (s *Stage) unindex(k key, pos int32) { unindex(s.convs, s.buckets, k, pos) }

// unindex removes key k, at position pos, from the bucket index idx of
// table tbl.
func unindex(tbl *lru.Table[key, conv], idx map[event.Time][]key, k key, pos int32) {
	list := idx[k.Bucket]
	if int(pos) >= len(list) || list[pos] != k {
		return // not indexed (while state is being restored)
	}
	last := len(list) - 1
	if int(pos) < last {
		moved := list[last]
		list[pos] = moved
		if c := tbl.Peek(moved); c != nil {
			c.pos = pos
		}
	}
	list = list[:last]
	if len(list) == 0 {
		delete(idx, k.Bucket)
	} else {
		idx[k.Bucket] = list
	}
}

func (s *Stage) flushPending(out func(event.Record)) {
	for i := range s.pending {
		s.stats.Contacts++
		out(&s.pending[i])
	}
	s.pending = s.pending[:0]
}

// Advance emits the conversations of every bucket that ended at or before
// the watermark, ordered by start time, then interface, addresses, ports
// and protocol.
func (s *Stage) Advance(w event.Time, out func(event.Record)) {
	var settle []event.Time
	for b := range s.heldBuckets {
		if w == event.Forever || b+s.cfg.Bucket <= w {
			settle = append(settle, b)
		}
	}
	slices.Sort(settle)
	for _, b := range settle {
		s.settle(b)
	}
	s.flushPending(out)
	var done []event.Time
	for b := range s.buckets {
		if w == event.Forever || b+s.cfg.Bucket <= w {
			done = append(done, b)
		}
	}
	slices.Sort(done)
	for _, b := range done {
		s.ready = s.ready[:0]
		for _, k := range s.buckets[b] {
			c := s.convs.Peek(k)
			s.ready = append(s.ready, ready{c.Start, k, c})
		}
		delete(s.buckets, b)
		slices.SortFunc(s.ready, compareReady)
		for _, r := range s.ready {
			s.out = s.contact(r.k, r.c)
			s.convs.Delete(r.k)
			s.stats.Contacts++
			out(&s.out)
		}
	}
}

func compareReady(a, b ready) int {
	if c := cmp.Compare(a.Start, b.Start); c != 0 {
		return c
	}
	if a.k.Iface != b.k.Iface {
		return cmp.Compare(a.k.Iface.String(), b.k.Iface.String())
	}
	if c := a.k.Local.compare(b.k.Local); c != 0 {
		return c
	}
	if c := a.k.Remote.compare(b.k.Remote); c != 0 {
		return c
	}
	if c := cmp.Compare(a.k.LPort, b.k.LPort); c != 0 {
		return c
	}
	if c := cmp.Compare(a.k.RPort, b.k.RPort); c != 0 {
		return c
	}
	return cmp.Compare(a.k.Proto, b.k.Proto)
}

// contact judges a conversation.
func (s *Stage) contact(k key, c *conv) event.Contact {
	ct := event.Contact{
		Origin:    c.First,
		Latest:    c.Latest,
		Interface: k.Iface,
		Protocol:  k.Proto,
		Local:     k.localAddr(),
		PktLocal:  c.PktLocal,
		Start:     c.Start,
		End:       c.End,
	}
	if st := s.ifaces.Peek(k.Iface); st != nil {
		ct.Account, ct.Region, ct.VPC, ct.Subnet, ct.Instance, ct.ECS = st.Account, st.Region, st.VPC, st.Subnet, st.Instance, st.ECS
	}
	outFirst, basis := initiator(k, c)
	ct.Basis = basis
	if outFirst {
		ct.Initiator, ct.IPort, ct.Responder, ct.RPort = ct.Local, k.LPort, k.remoteAddr(), k.RPort
		ct.Fwd, ct.Rev = c.Out, c.In
	} else {
		ct.Initiator, ct.IPort, ct.Responder, ct.RPort = k.remoteAddr(), k.RPort, ct.Local, k.LPort
		ct.Fwd, ct.Rev = c.In, c.Out
		ct.Inbound = true
	}
	// A conversation reported for the previous bucket continues here.
	id := convID{k.Iface, k.Local, k.Remote, k.LPort, k.RPort, k.Proto}
	last, created := s.recent.Put(id)
	if !created && *last >= k.Bucket-s.cfg.Bucket && *last < k.Bucket {
		ct.Continued = true
	}
	*last = max(*last, k.Bucket)
	switch {
	case basis == event.InitiatorUnknown:
		// Nothing tells who spoke first (ICMP, whose records carry no
		// type, or both sides on the same port): the contact is evidence
		// of nothing, neither a probe nor a success nor a friendship.
	case ct.Continued && k.Proto == event.ProtoTCP && ct.Fwd.Flags&event.TCPSyn == 0:
		// The tail of a connection reported a minute ago: no new attempt.
	default:
		bare := uint64(40)
		if ct.Local.Is6() {
			bare = 60
		}
		ct.Outcome = judge(k.Proto, &ct.Fwd, &ct.Rev, bare)
	}
	return ct
}

const (
	tcpSynAck = event.TCPSyn | event.TCPAck
)

func synOnly(h *event.Half) bool {
	return h.HasFlags && h.Flags&event.TCPSyn != 0 && h.Flags&event.TCPAck == 0
}

// initiator decides which side opened the conversation. It returns true
// when the interface's side did.
func initiator(k key, c *conv) (bool, event.InitiatorBasis) {
	if k.Proto == event.ProtoTCP {
		so, si := synOnly(&c.Out), synOnly(&c.In)
		if so && !si {
			return true, event.InitiatorSYN
		}
		if si && !so {
			return false, event.InitiatorSYN
		}
		// A side that answered with SYN-ACK is the responder.
		if c.Out.HasFlags && c.Out.Flags&tcpSynAck == tcpSynAck && c.In.Flags&tcpSynAck != tcpSynAck {
			return false, event.InitiatorSYN
		}
		if c.In.HasFlags && c.In.Flags&tcpSynAck == tcpSynAck && c.Out.Flags&tcpSynAck != tcpSynAck {
			return true, event.InitiatorSYN
		}
	}
	// Ports next: a service port facing an ephemeral one marks the
	// responder even when only one direction was seen, so that replies
	// that arrive after a connection closed (which security groups
	// reject) are not taken for probes of the ephemeral port.
	if k.Proto != event.ProtoICMP && k.Proto != event.ProtoICMPv6 {
		if lsvc, rsvc := Service(k.LPort), Service(k.RPort); lsvc != rsvc {
			return rsvc, event.InitiatorPorts
		}
	}
	if c.In.Records == 0 {
		return true, event.InitiatorOneWay
	}
	if c.Out.Records == 0 {
		return false, event.InitiatorOneWay
	}
	// Both directions, no flags, ports alike: the lower port serves.
	if k.LPort != k.RPort {
		return k.RPort < k.LPort, event.InitiatorPorts
	}
	// Nothing to go on: whichever side's first record came first.
	return true, event.InitiatorUnknown
}

// judge decides how the conversation went for the initiator. bare is the
// size of a segment without options: 40 bytes over IPv4, 60 over IPv6.
func judge(proto uint8, fwd, rev *event.Half, bare uint64) event.Outcome {
	if fwd.Records == 0 {
		// Only the responder spoke: a stray reply, such as packets that
		// arrive after their connection closed. It says nothing about
		// either side's intent.
		return event.OutcomeUnknown
	}
	if proto == event.ProtoTCP && fwd.HasFlags && fwd.Flags&(event.TCPSyn|event.TCPRst) == event.TCPRst {
		// A reset without a SYN: the end of a connection, or the answer
		// to someone else's probe, never an attempt to reach a service.
		return event.OutcomeUnknown
	}
	// Segments without a SYN (ACK, FIN, NULL and Xmas probes, nmap's ACK
	// ping) are judged like a SYN: a security group that rejects them, a
	// host that resets them and a port that ignores them all say the
	// initiator reached no service. A late FIN of a connection reported a
	// minute earlier was set aside as a continuation before judging.
	if proto == event.ProtoTCP && rev.Records == 0 && fwd.Bytes > fwd.Packets*(bare+maxOptions) {
		// Segments longer than a SYN with every option carry data, which
		// TCP sends only on a connection that was set up: the answers are
		// in records of another window, and this is no attempt.
		return event.OutcomeUnknown
	}
	if fwd.Rejected && rev.Records == 0 {
		return event.OutcomeRejected
	}
	switch proto {
	case event.ProtoTCP:
		return judgeTCP(fwd, rev, bare)
	default:
		if rev.Records == 0 || rev.Packets == 0 {
			if fwd.Rejected {
				return event.OutcomeRejected
			}
			return event.OutcomeUnanswered
		}
		if rev.Rejected && fwd.Rejected {
			return event.OutcomeRejected
		}
		if fwd.Packets <= maxExchange && rev.Packets <= maxExchange {
			// A request and its answer (a UDP scan's probe of an open
			// port, one DNS lookup): the service answered, as a TCP
			// handshake does, but no conversation followed.
			return event.OutcomeEstablished
		}
		return event.OutcomeData
	}
}

// maxExchange is the most packets each side of a datagram contact may send
// for it to be a single request and answer: a probe and its retry, a reply
// and its duplicate.
const maxExchange = 2

// TCP sizes used when records carry no flags: a segment without options is
// 40 bytes of IPv4 and TCP header (60 for IPv6), 52 to 72 with options; a
// SYN with options is at most 80.
const (
	maxBareSegment = 80
	maxOptions     = 40 // the most TCP options a segment can carry
)

func judgeTCP(fwd, rev *event.Half, bare uint64) event.Outcome {
	if rev.Records == 0 || rev.Packets == 0 {
		if fwd.Rejected {
			return event.OutcomeRejected
		}
		return event.OutcomeUnanswered
	}
	if rev.Rejected && !fwd.Rejected {
		// Our reply was blocked on the way out: the initiator got nothing.
		return event.OutcomeRejected
	}
	if rev.HasFlags {
		switch {
		case rev.Flags&tcpSynAck == tcpSynAck:
			// handshake answered
		case rev.Flags&event.TCPRst != 0:
			return event.OutcomeRefused
		}
	} else if rev.Packets <= 2 && fwd.Packets <= 3 && fwd.Bytes <= 3*maxBareSegment && rev.Bytes <= rev.Packets*bare {
		// One or two segments without options back to a SYN and its
		// retries: a reset (a SYN-ACK carries options and is longer).
		return event.OutcomeRefused
	}
	// The connection was set up. Data flowed if both sides sent more than
	// the handshake and teardown.
	if fwd.Packets > 4 && rev.Packets > 3 || fwd.Bytes > 5*maxBareSegment && rev.Bytes > 4*maxBareSegment {
		return event.OutcomeData
	}
	return event.OutcomeEstablished
}

// services are the registered ports above 1023 that servers commonly
// listen on.
var services = map[uint16]bool{
	1433: true, 1521: true, 2049: true, 2375: true, 2376: true, 3000: true, 3306: true,
	3389: true, 5000: true, 5432: true, 5601: true, 5672: true, 5900: true, 5985: true,
	5986: true, 6379: true, 6443: true, 8000: true, 8008: true, 8080: true, 8081: true,
	8088: true, 8443: true, 8888: true, 9000: true, 9042: true, 9090: true, 9092: true,
	9200: true, 9300: true, 11211: true, 15672: true, 27017: true,
}

// Service reports whether port is one a server listens on: a system port
// (below 1024) or a commonly used registered one. Ports from 32768 up are
// the ephemeral range of Linux and Windows clients.
func Service(port uint16) bool {
	return port < 1024 || services[port]
}

type stageState struct {
	Convs  lru.Snapshot[key, conv]
	Recent lru.Snapshot[convID, event.Time]
	Ifaces lru.Snapshot[event.ID, iface]
	Held   lru.Snapshot[key, conv]
	Owners lru.Snapshot[owner, event.ID]
	Stats  Stats
}

var _ detect.Snapshotter = (*Stage)(nil)

// MarshalState saves the open conversations, the recently reported ones
// and what is known of each interface.
func (s *Stage) MarshalState() ([]byte, error) {
	return detect.EncodeState(stageState{Convs: s.convs.View(), Recent: s.recent.View(), Ifaces: s.ifaces.View(),
		Held: s.held.View(), Owners: s.owners.View(), Stats: s.stats})
}

// UnmarshalState restores them and rebuilds the bucket index.
func (s *Stage) UnmarshalState(b []byte) error {
	var st stageState
	if err := detect.DecodeState(b, &st); err != nil {
		return err
	}
	clear(s.buckets)
	s.pending = s.pending[:0]
	s.convs.Restore(st.Convs)
	s.recent.Restore(st.Recent)
	s.ifaces.Restore(st.Ifaces)
	s.stats = st.Stats
	s.convs.All(func(k key, c *conv) bool {
		c.pos = int32(len(s.buckets[k.Bucket]))
		s.buckets[k.Bucket] = append(s.buckets[k.Bucket], k)
		return true
	})
	clear(s.heldBuckets)
	s.held.Restore(st.Held)
	s.owners.Restore(st.Owners)
	s.held.All(func(k key, c *conv) bool {
		c.pos = int32(len(s.heldBuckets[k.Bucket]))
		s.heldBuckets[k.Bucket] = append(s.heldBuckets[k.Bucket], k)
		return true
	})
	// Conversations that did not fit a smaller table were emitted while
	// restoring; they were reported before the state was saved.
	s.pending = s.pending[:0]
	return nil
}
