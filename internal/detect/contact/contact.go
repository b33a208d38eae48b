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
package contact

import (
	"bytes"
	"cmp"
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

// key identifies a conversation in one bucket. Addresses are kept as 16
// bytes (IPv4 mapped into IPv6): the key holds no pointer but the
// interface's and is 56 bytes instead of 80.
type key struct {
	iface  event.ID
	bucket event.Time
	local  [16]byte
	remote [16]byte
	lport  uint16
	rport  uint16
	proto  uint8
}

func (k *key) localAddr() netip.Addr  { return netip.AddrFrom16(k.local).Unmap() }
func (k *key) remoteAddr() netip.Addr { return netip.AddrFrom16(k.remote).Unmap() }

// convID is a conversation without its bucket: the same connection over
// time.
type convID struct {
	iface  event.ID
	local  [16]byte
	remote [16]byte
	lport  uint16
	rport  uint16
	proto  uint8
}

type conv struct {
	start, end    event.Time
	first, latest event.Origin
	firstT, lastT event.Time
	out, in       event.Half // from the interface's side, to it
	pktLocal      netip.Addr
	pos           int32 // index of the key in its bucket's list
}

// iface is what the stage remembers about an interface to describe its
// contacts: the identifiers that every record of the interface repeats.
type iface struct {
	account, region, vpc, subnet, instance event.ID
	ecs                                    event.ECS
}

// Stage is the contact stage.
type Stage struct {
	cfg     Config
	convs   *lru.Table[key, conv]
	recent  *lru.Table[convID, event.Time] // bucket each conversation was last reported in
	ifaces  *lru.Table[event.ID, iface]
	buckets map[event.Time][]key // the conversations created in each bucket
	pending []event.Contact      // contacts of evicted conversations, in eviction order
	ready   []ready              // reused by Advance
	out     event.Contact        // the contact being dispatched
	stats   Stats
}

type ready struct {
	start event.Time
	k     key
	c     *conv // valid during Advance, which inserts nothing
}

// Stats counts what the stage did.
type Stats struct {
	Flows       uint64 // flow records joined
	Skipped     uint64 // records without traffic or direction
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
	s := &Stage{cfg: cfg, buckets: map[event.Time][]key{}}
	s.ifaces = lru.New[event.ID, iface](cfg.MaxInterfaces, nil)
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
	}
}

// Observe folds a flow record into its conversation.
func (s *Stage) Observe(rec event.Record, out func(event.Record)) {
	f, ok := rec.(*event.Flow)
	if !ok {
		return
	}
	if !f.HasData() || f.Direction == event.DirectionUnknown {
		s.stats.Skipped++
		return
	}
	s.stats.Flows++
	t := f.Start
	if f.Has&event.HasStart == 0 {
		t = f.Time()
	}
	k := key{iface: f.Interface, bucket: t - t%s.cfg.Bucket, proto: f.Protocol}
	var h *event.Half
	var c *conv
	if f.Direction == event.Outbound {
		k.local, k.remote, k.lport, k.rport = f.Src.As16(), f.Dst.As16(), f.SrcPort, f.DstPort
	} else {
		k.local, k.remote, k.lport, k.rport = f.Dst.As16(), f.Src.As16(), f.DstPort, f.SrcPort
	}
	c, created := s.convs.Put(k)
	if created {
		c.pos = int32(len(s.buckets[k.bucket]))
		s.buckets[k.bucket] = append(s.buckets[k.bucket], k)
	}
	if f.Direction == event.Outbound {
		h = &c.out
	} else {
		h = &c.in
		if f.PktDst.IsValid() && f.PktDst != f.Dst {
			c.pktLocal = f.PktDst
		}
	}
	end := f.Time()
	if created {
		c.start, c.end = t, end
		c.first, c.firstT = f.Origin, t
		c.latest, c.lastT = f.Origin, end
	} else {
		c.start = min(c.start, t)
		c.end = max(c.end, end)
		if before(t, f.Origin, c.firstT, c.first) {
			c.first, c.firstT = f.Origin, t
		}
		if before(c.lastT, c.latest, end, f.Origin) {
			c.latest, c.lastT = f.Origin, end
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
	if !f.Interface.IsZero() {
		st, _ := s.ifaces.Put(f.Interface)
		st.account, st.region = f.Account, f.Region
		if !f.VPC.IsZero() {
			st.vpc = f.VPC
		}
		if !f.Subnet.IsZero() {
			st.subnet = f.Subnet
		}
		if !f.Instance.IsZero() {
			st.instance = f.Instance
		}
		if !f.ECS.TaskARN.IsZero() || !f.ECS.ClusterName.IsZero() {
			st.ecs = f.ECS
		}
	}
	if len(s.pending) > 0 {
		s.flushPending(out)
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
func (s *Stage) unindex(k key, pos int32) {
	list := s.buckets[k.bucket]
	last := len(list) - 1
	if int(pos) < last {
		moved := list[last]
		list[pos] = moved
		if c := s.convs.Peek(moved); c != nil {
			c.pos = pos
		}
	}
	list = list[:last]
	if len(list) == 0 {
		delete(s.buckets, k.bucket)
	} else {
		s.buckets[k.bucket] = list
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
			s.ready = append(s.ready, ready{c.start, k, c})
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
	if c := cmp.Compare(a.start, b.start); c != 0 {
		return c
	}
	if a.k.iface != b.k.iface {
		return cmp.Compare(a.k.iface.String(), b.k.iface.String())
	}
	if c := bytes.Compare(a.k.local[:], b.k.local[:]); c != 0 {
		return c
	}
	if c := bytes.Compare(a.k.remote[:], b.k.remote[:]); c != 0 {
		return c
	}
	if c := cmp.Compare(a.k.lport, b.k.lport); c != 0 {
		return c
	}
	if c := cmp.Compare(a.k.rport, b.k.rport); c != 0 {
		return c
	}
	return cmp.Compare(a.k.proto, b.k.proto)
}

// contact judges a conversation.
func (s *Stage) contact(k key, c *conv) event.Contact {
	ct := event.Contact{
		Origin:    c.first,
		Latest:    c.latest,
		Interface: k.iface,
		Protocol:  k.proto,
		Local:     k.localAddr(),
		PktLocal:  c.pktLocal,
		Start:     c.start,
		End:       c.end,
	}
	if st := s.ifaces.Peek(k.iface); st != nil {
		ct.Account, ct.Region, ct.VPC, ct.Subnet, ct.Instance, ct.ECS = st.account, st.region, st.vpc, st.subnet, st.instance, st.ecs
	}
	outFirst, basis := initiator(k, c)
	ct.Basis = basis
	if outFirst {
		ct.Initiator, ct.IPort, ct.Responder, ct.RPort = ct.Local, k.lport, k.remoteAddr(), k.rport
		ct.Fwd, ct.Rev = c.out, c.in
	} else {
		ct.Initiator, ct.IPort, ct.Responder, ct.RPort = k.remoteAddr(), k.rport, ct.Local, k.lport
		ct.Fwd, ct.Rev = c.in, c.out
		ct.Inbound = true
	}
	bare := uint64(40)
	if ct.Local.Is6() {
		bare = 60
	}
	ct.Outcome = judge(k.proto, &ct.Fwd, &ct.Rev, bare)
	// A conversation reported for the previous bucket continues here.
	id := convID{k.iface, k.local, k.remote, k.lport, k.rport, k.proto}
	last, created := s.recent.Put(id)
	if !created && *last >= k.bucket-s.cfg.Bucket && *last < k.bucket {
		ct.Continued = true
	}
	*last = max(*last, k.bucket)
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
	if k.proto == event.ProtoTCP {
		so, si := synOnly(&c.out), synOnly(&c.in)
		if so && !si {
			return true, event.InitiatorSYN
		}
		if si && !so {
			return false, event.InitiatorSYN
		}
		// A side that answered with SYN-ACK is the responder.
		if c.out.HasFlags && c.out.Flags&tcpSynAck == tcpSynAck && c.in.Flags&tcpSynAck != tcpSynAck {
			return false, event.InitiatorSYN
		}
		if c.in.HasFlags && c.in.Flags&tcpSynAck == tcpSynAck && c.out.Flags&tcpSynAck != tcpSynAck {
			return true, event.InitiatorSYN
		}
	}
	// Ports next: a service port facing an ephemeral one marks the
	// responder even when only one direction was seen, so that replies
	// that arrive after a connection closed (which security groups
	// reject) are not taken for probes of the ephemeral port.
	if k.proto != event.ProtoICMP && k.proto != event.ProtoICMPv6 {
		if lsvc, rsvc := Service(k.lport), Service(k.rport); lsvc != rsvc {
			return rsvc, event.InitiatorPorts
		}
	}
	if c.in.Records == 0 {
		return true, event.InitiatorOneWay
	}
	if c.out.Records == 0 {
		return false, event.InitiatorOneWay
	}
	// Both directions, no flags, ports alike: the lower port serves.
	if k.lport != k.rport {
		return k.rport < k.lport, event.InitiatorPorts
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
		return event.OutcomeData
	}
}

// TCP sizes used when records carry no flags: a segment without options is
// 40 bytes of IPv4 and TCP header (60 for IPv6), 52 to 72 with options; a
// SYN with options is at most 80.
const (
	maxBareSegment = 80
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
