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
	"errors"
	"io"
	"math/bits"
	"math/rand/v2"
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
	// MaxConversations bounds the open conversations held at once; the
	// stage also keeps at most as many of the conversations it last
	// reported (to mark the ones that continue) and a quarter as many
	// that wait for a direction.
	MaxConversations int
	// MaxInterfaces bounds the interfaces whose context is remembered.
	MaxInterfaces int
	// Budget, when set, lowers MaxConversations so that the stage's
	// tables fit in this many bytes (see entryBytes).
	Budget int64
}

// DefaultConfig holds one-minute buckets, up to a million open
// conversations (about 200 MB at the fullest) and 100,000 interfaces.
var DefaultConfig = Config{Bucket: 60, MaxConversations: 1 << 20, MaxInterfaces: 100_000}

// entryBytes is what one conversation takes in a bucket's table: the
// entry (key, totals and fingerprint, 184 bytes), its share of the index
// (8-byte slots, a quarter to a half full) and of a table's last chunk,
// partly filled. A budget pays for the open conversations, as many
// reported ones and a quarter as many held ones.
const entryBytes = 240

// key identifies a conversation in its bucket. Addresses are kept as two
// integers (see addrKey): the key holds no pointer but the interface's.
type key struct {
	Iface  event.ID
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
// varints instead of sixteen bytes one by one. The zero addrKey stands
// for no address.
type addrKey struct{ Hi, Lo uint64 }

func keyOf(a netip.Addr) addrKey {
	if !a.IsValid() {
		return addrKey{}
	}
	b := a.As16()
	return addrKey{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func (k addrKey) addr() netip.Addr {
	if k == (addrKey{}) {
		return netip.Addr{}
	}
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

// conv is a conversation's totals. Start and End are the earliest start
// and latest end of its records; First and Latest the records that have
// them (ties broken by file and line, see before).
type conv struct {
	Start, End    event.Time
	First, Latest event.Origin
	Out, In       event.Half // from the interface's side, to it
	PktLocal      addrKey
}

// entry is a conversation in its bucket's table.
type entry struct {
	k  key
	c  conv
	fp uint64 // the key's fingerprint, to place it again when the index grows
}

// table is the conversations of one bucket: its entries in the order
// they were made, in chunks of a fixed size that the stage's tables
// share (a table never copies its entries to grow, and a bucket's chunks
// go to the next bucket when it is emitted), and an open-addressing index
// over them. A slot of the index holds the high half of a key's
// fingerprint and one more than the entry's position (zero is an empty
// slot); a lookup starts at the slot the low bits of the fingerprint pick
// and walks on to the next empty one, comparing the full key wherever the
// halves agree, so two keys that share a fingerprint are never confused.
// The index is kept at most half full: a lookup costs one cache line of
// slots and the entry.
type table struct {
	bucket event.Time
	slots  []uint64 // a power of two long, or empty
	chunks []*chunk
	n      int // entries
	pool   *chunkPool
}

// chunkLen is how many entries a chunk holds (about 190 kB).
const chunkLen = 1024

type chunk [chunkLen]entry

// chunkPool keeps the chunks of emitted tables for the next ones, up to
// a bound: what a flood left behind is returned to the system.
type chunkPool struct {
	free []*chunk
	max  int
}

func (p *chunkPool) get() *chunk {
	if n := len(p.free); n > 0 {
		c := p.free[n-1]
		p.free = p.free[:n-1]
		return c
	}
	return new(chunk)
}

func newTable(pool *chunkPool) *table { return &table{pool: pool} }

func (t *table) len() int { return t.n }

// at returns entry i, which must exist.
func (t *table) at(i int) *entry { return &t.chunks[i/chunkLen][i%chunkLen] }

func (t *table) find(fp uint64, k *key) *conv {
	if len(t.slots) == 0 {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	tag := fp >> 32
	for i := fp & mask; ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == 0 {
			return nil
		}
		if s>>32 == tag {
			if e := t.at(int(uint32(s)) - 1); e.k == *k {
				return &e.c
			}
		}
	}
}

// put returns the conversation of key k, making it if it is new.
func (t *table) put(fp uint64, k *key) (*conv, bool) {
	if 2*(t.n+1) > len(t.slots) {
		t.grow()
	}
	mask := uint64(len(t.slots) - 1)
	tag := fp >> 32
	i := fp & mask
	for ; ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == 0 {
			break
		}
		if s>>32 == tag {
			if e := t.at(int(uint32(s)) - 1); e.k == *k {
				return &e.c, false
			}
		}
	}
	if t.n == len(t.chunks)*chunkLen {
		t.chunks = append(t.chunks, t.pool.get())
	}
	e := t.at(t.n)
	e.k, e.fp = *k, fp
	t.n++
	t.slots[i] = tag<<32 | uint64(t.n)
	return &e.c, true
}

// grow doubles the index (or makes its first) and places every entry
// again.
func (t *table) grow() {
	size := max(16, 2*len(t.slots))
	t.slots = make([]uint64, size)
	mask := uint64(size - 1)
	for n := range t.n {
		fp := t.at(n).fp
		i := fp & mask
		for t.slots[i] != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = fp>>32<<32 | uint64(n+1)
	}
}

// empty drops t's entries, giving its chunks back to the pool, and keeps
// its index for the next bucket.
func (t *table) empty() {
	clear(t.slots)
	for i, c := range t.chunks {
		used := min(chunkLen, t.n-i*chunkLen)
		clear(c[:used]) // drop the interface and file handles
		if len(t.pool.free) < t.pool.max {
			t.pool.free = append(t.pool.free, c)
		}
	}
	clear(t.chunks)
	t.chunks, t.n = t.chunks[:0], 0
}

func (t *table) records() uint64 {
	var n uint64
	for i := range t.n {
		c := &t.at(i).c
		n += uint64(c.Out.Records + c.In.Records)
	}
	return n
}

// buckets are the tables of the buckets not yet emitted, and how many
// conversations they hold.
type buckets struct {
	tables map[event.Time]*table
	n      int
	last   *table // the table the previous record went to
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
	secret  [4]uint64 // keys the fingerprints of conversations
	open    buckets   // conversations with a direction
	held    buckets   // conversations of records without a direction
	maxHeld int
	// reported are the tables of the last bucket emitted, kept until a
	// later one is, to mark the conversations that continue into the
	// next bucket.
	reported       []*table
	reportedBucket event.Time
	reportedN      int
	spare          []*table // emptied tables, for reuse
	chunks         chunkPool
	ifaces         *lru.Table[event.ID, iface]
	owners         *lru.Table[owner, event.ID] // the interface each known address belongs to
	ready          []ready                     // reused by emit
	ranks          map[event.ID]ranked         // reused by emit
	names          []event.ID                  // reused by emit
	out            event.Contact               // the contact being dispatched
	stats          Stats
}

type ready struct {
	Start event.Time
	rank  uint32 // the interface's place among the bucket's, by name
	st    *iface // the interface's context, or nil
	e     *entry // valid during emit, which inserts nothing
}

// ranked is an interface's place among a bucket's and its context.
type ranked struct {
	rank uint32
	st   *iface
}

// Stats counts what the stage did.
type Stats struct {
	Flows        uint64 // flow records joined
	Skipped      uint64 // records without traffic, or not between two hosts
	Held         uint64 // records held until their bucket closed, for want of a direction
	Unresolved   uint64 // held records whose direction was still unknown when the bucket closed
	Contacts     uint64 // contacts emitted
	EvictedConv  uint64 // conversations emitted early, their bucket closed to stay within the bound
	EvictedHeld  uint64 // held conversations dropped to stay within the bound
	ForgotReport uint64 // reported conversations forgotten to stay within the bound
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
		cfg.MaxConversations = max(16, min(cfg.MaxConversations, int(cfg.Budget*4/9/entryBytes)))
	}
	s := &Stage{cfg: cfg, maxHeld: max(16, cfg.MaxConversations/4)}
	// Chunks for a quarter of the bound wait for reuse: a bucket's worth in
	// a dense estate, not the whole of a flood.
	s.chunks.max = max(8, cfg.MaxConversations/chunkLen/4)
	for i := range s.secret {
		s.secret[i] = rand.Uint64() | 1
	}
	s.ranks = map[event.ID]ranked{}
	s.open.tables = map[event.Time]*table{}
	s.held.tables = map[event.Time]*table{}
	s.reportedBucket = event.Never
	s.ifaces = lru.New[event.ID, iface](cfg.MaxInterfaces, nil)
	s.owners = lru.New[owner, event.ID](cfg.MaxInterfaces*4, nil)
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
		{Table: "conversations", Len: s.open.n, Cap: s.cfg.MaxConversations, Evicted: s.stats.EvictedConv},
		{Table: "interfaces", Len: s.ifaces.Len(), Cap: s.ifaces.Cap(), Evicted: s.ifaces.Evicted()},
		{Table: "reported conversations", Len: s.reportedN, Cap: s.cfg.MaxConversations, Evicted: s.stats.ForgotReport},
		{Table: "held conversations", Len: s.held.n, Cap: s.maxHeld, Evicted: s.stats.EvictedHeld},
		{Table: "interface addresses", Len: s.owners.Len(), Cap: s.owners.Cap(), Evicted: s.owners.Evicted()},
	}
}

// table returns the table of bucket b in bs, making it if need be.
func (s *Stage) table(bs *buckets, b event.Time) *table {
	if t := bs.last; t != nil && t.bucket == b {
		return t
	}
	t := bs.tables[b]
	if t == nil {
		if len(s.spare) > 0 {
			// The spare with the largest index for the open
			// conversations, the smallest for held ones (usually few):
			// an index that must grow is made again.
			pick := 0
			for i, sp := range s.spare {
				if (bs == &s.open) == (len(sp.slots) > len(s.spare[pick].slots)) {
					pick = i
				}
			}
			t = s.spare[pick]
			s.spare = slices.Delete(s.spare, pick, pick+1)
		} else {
			t = newTable(&s.chunks)
		}
		t.bucket = b
		bs.tables[b] = t
	}
	bs.last = t
	return t
}

// take removes bucket b's table from bs and returns it (nil if none).
func (bs *buckets) take(b event.Time) *table {
	t := bs.tables[b]
	if t == nil {
		return nil
	}
	delete(bs.tables, b)
	bs.n -= t.len()
	if bs.last == t {
		bs.last = nil
	}
	return t
}

// oldest returns the earliest bucket of bs; bs must not be empty.
func (bs *buckets) oldest() event.Time {
	first := true
	var o event.Time
	for b := range bs.tables {
		if first || b < o {
			o, first = b, false
		}
	}
	return o
}

// due returns the buckets of bs that end at or before w, in order.
func (bs *buckets) due(w, size event.Time, into []event.Time) []event.Time {
	into = into[:0]
	for b := range bs.tables {
		if w == event.Forever || b+size <= w {
			into = append(into, b)
		}
	}
	slices.Sort(into)
	return into
}

// maxSpare is how many emptied tables (their indexes) are kept for
// later buckets.
const maxSpare = 8

// recycle empties t and keeps it for a later bucket.
func (s *Stage) recycle(t *table) {
	t.empty()
	if len(s.spare) < maxSpare {
		s.spare = append(s.spare, t)
	}
}

// fingerprint hashes a conversation's addresses, ports and protocol (not
// its interface: the ends of one conversation on two interfaces differ
// in which side is local) with two rounds of a multiply-and-fold mix
// keyed by the stage's secret, so that spoofed sources cannot be chosen
// to share fingerprints and lengthen the chains.
func (s *Stage) fingerprint(k *key) uint64 {
	ports := uint64(k.LPort)<<24 | uint64(k.RPort)<<8 | uint64(k.Proto)
	h := mum(k.Local.Lo^s.secret[0], k.Remote.Lo^s.secret[1])
	return mum(h^k.Local.Hi^s.secret[2], k.Remote.Hi^ports^s.secret[3])
}

// mum multiplies a and b into 128 bits and folds the halves together.
func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
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
	b := t - t%s.cfg.Bucket
	k := key{Iface: f.Interface, Proto: f.Protocol}
	if dir == event.DirectionUnknown {
		if f.Interface.IsZero() {
			s.stats.Skipped++
			return
		}
		s.hold(b, k, f, t)
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
	c, created := s.table(&s.open, b).put(s.fingerprint(&k), &k)
	if created {
		s.open.n++
	}
	if dir == event.Inbound && f.PktDst.IsValid() && f.PktDst != f.Dst {
		c.PktLocal = keyOf(f.PktDst)
	}
	c.fold(f, t, dir == event.Outbound, created)
	s.noteInterface(f, local)
	for s.open.n > s.cfg.MaxConversations {
		// Over the bound: the oldest bucket closes early.
		b := s.open.oldest()
		s.settle(b)
		s.stats.EvictedConv += uint64(s.open.tables[b].len())
		s.emit(b, out)
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
		c.First, c.Latest = f.Origin, f.Origin
	} else {
		if before(t, f.Origin, c.Start, c.First) {
			c.First, c.Start = f.Origin, t
		}
		if before(c.End, c.Latest, end, f.Origin) {
			c.Latest, c.End = f.Origin, end
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
	if before(o.Start, o.First, c.Start, c.First) {
		c.First, c.Start = o.First, o.Start
	}
	if before(c.End, c.Latest, o.End, o.Latest) {
		c.Latest, c.End = o.Latest, o.End
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
// every interface, has taught of the interfaces' addresses.
func (s *Stage) hold(b event.Time, k key, f *event.Flow, t event.Time) {
	s.stats.Held++
	lo, hi, lp, hp := f.Src, f.Dst, f.SrcPort, f.DstPort
	if keyOf(hi).compare(keyOf(lo)) < 0 {
		lo, hi, lp, hp = hi, lo, hp, lp
	}
	k.Local, k.Remote, k.LPort, k.RPort = keyOf(lo), keyOf(hi), lp, hp
	c, created := s.table(&s.held, b).put(s.fingerprint(&k), &k)
	if created {
		s.held.n++
	}
	c.fold(f, t, f.Src == lo, created)
	s.noteInterface(f, netip.Addr{})
	for s.held.n > s.maxHeld {
		// Over the bound: the oldest bucket's held conversations are
		// dropped, their direction unknown.
		t := s.held.take(s.held.oldest())
		s.stats.EvictedHeld += uint64(t.len())
		s.stats.Unresolved += t.records()
		s.recycle(t)
	}
}

// settle resolves the held conversations of bucket b: each joins the
// conversations of its bucket with the interface's side as local, or is
// dropped and counted when nothing tells which side is the interface's.
// Settling teaches nothing, so the outcome does not depend on the order
// of the conversations.
func (s *Stage) settle(b event.Time) {
	held := s.held.take(b)
	if held == nil {
		return
	}
	for i := range held.n {
		e := held.at(i)
		k, h := e.k, e.c
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
		c, created := s.table(&s.open, b).put(s.fingerprint(&k), &k)
		if created {
			s.open.n++
			*c = h
			continue
		}
		c.merge(&h)
	}
	s.recycle(held)
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

// Advance emits the conversations of every bucket that ended at or before
// the watermark, ordered by start time, then interface, addresses, ports
// and protocol.
func (s *Stage) Advance(w event.Time, out func(event.Record)) {
	var due [16]event.Time
	for _, b := range s.held.due(w, s.cfg.Bucket, due[:0]) {
		s.settle(b)
	}
	for _, b := range s.open.due(w, s.cfg.Bucket, due[:0]) {
		s.emit(b, out)
	}
}

// emit passes the conversations of bucket b to out, in order, and drops
// the bucket.
func (s *Stage) emit(b event.Time, out func(event.Record)) {
	t := s.open.take(b)
	if t == nil {
		return
	}
	// Interfaces are ordered by name: rank them once rather than
	// comparing their names at every step of the sort.
	clear(s.ranks)
	s.names = s.names[:0]
	for i := range t.n {
		id := t.at(i).k.Iface
		if _, ok := s.ranks[id]; !ok {
			s.ranks[id] = ranked{}
			s.names = append(s.names, id)
		}
	}
	slices.SortFunc(s.names, func(a, b event.ID) int { return cmp.Compare(a.String(), b.String()) })
	for i, id := range s.names {
		// The interface's context too, looked up once a bucket: the
		// table does not change while the bucket is emitted.
		s.ranks[id] = ranked{uint32(i), s.ifaces.Peek(id)}
	}
	s.ready = s.ready[:0]
	for i := range t.n {
		e := t.at(i)
		r := s.ranks[e.k.Iface]
		s.ready = append(s.ready, ready{e.c.Start, r.rank, r.st, e})
	}
	slices.SortFunc(s.ready, compareReady)
	for _, r := range s.ready {
		s.out = s.contact(r.e, b, r.st)
		s.stats.Contacts++
		out(&s.out)
	}
	s.ready = s.ready[:0]
	s.retire(t)
}

// retire keeps an emitted table as the last bucket reported, for the
// contacts of the next bucket to tell whether they continue one of its
// conversations.
func (s *Stage) retire(t *table) {
	switch {
	case t.bucket > s.reportedBucket || s.reportedBucket == event.Never:
		for _, old := range s.reported {
			s.recycle(old)
		}
		s.reported, s.reportedBucket, s.reportedN = append(s.reported[:0], t), t.bucket, t.len()
	case t.bucket == s.reportedBucket:
		// The bucket closed early, or late records reopened it.
		s.reported = append(s.reported, t)
		s.reportedN += t.len()
	default:
		// Late records of an older bucket: the next bucket's contacts
		// are told apart by the newer one.
		s.recycle(t)
		return
	}
	for s.reportedN > s.cfg.MaxConversations && len(s.reported) > 0 {
		old := s.reported[0]
		s.reported = slices.Delete(s.reported, 0, 1)
		s.reportedN -= old.len()
		s.stats.ForgotReport += uint64(old.len())
		s.recycle(old)
	}
}

// continues reports whether conversation k (of fingerprint fp) was
// reported for the bucket before bucket b.
func (s *Stage) continues(k *key, fp uint64, b event.Time) bool {
	if s.reportedBucket == event.Never || s.reportedBucket != b-s.cfg.Bucket {
		return false
	}
	for _, t := range s.reported {
		if t.find(fp, k) != nil {
			return true
		}
	}
	return false
}

func compareReady(a, b ready) int {
	if c := cmp.Compare(a.Start, b.Start); c != 0 {
		return c
	}
	if c := cmp.Compare(a.rank, b.rank); c != 0 {
		return c
	}
	x, y := &a.e.k, &b.e.k
	if c := x.Local.compare(y.Local); c != 0 {
		return c
	}
	if c := x.Remote.compare(y.Remote); c != 0 {
		return c
	}
	if c := cmp.Compare(x.LPort, y.LPort); c != 0 {
		return c
	}
	if c := cmp.Compare(x.RPort, y.RPort); c != 0 {
		return c
	}
	return cmp.Compare(x.Proto, y.Proto)
}

// contact judges conversation k of bucket b.
func (s *Stage) contact(e *entry, b event.Time, st *iface) event.Contact {
	k, c := &e.k, &e.c
	ct := event.Contact{
		Origin:    c.First,
		Latest:    c.Latest,
		Interface: k.Iface,
		Protocol:  k.Proto,
		Local:     k.localAddr(),
		PktLocal:  c.PktLocal.addr(),
		Start:     c.Start,
		End:       c.End,
	}
	if st != nil {
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
	ct.Continued = s.continues(k, e.fp, b)
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
func initiator(k *key, c *conv) (bool, event.InitiatorBasis) {
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
	Open           savedTables
	Held           savedTables
	Reported       savedTables
	ReportedBucket event.Time
	Ifaces         lru.Snapshot[event.ID, iface]
	Owners         lru.Snapshot[owner, event.ID]
	Stats          Stats
}

var _ detect.Snapshotter = (*Stage)(nil)

// MarshalState saves the open and held conversations, the last reported
// ones and what is known of each interface.
func (s *Stage) MarshalState() ([]byte, error) {
	return detect.EncodeState(stageState{
		Open: savedTables{of: sortedTables(s.open.tables)}, Held: savedTables{of: sortedTables(s.held.tables)},
		Reported: savedTables{of: s.reported}, ReportedBucket: s.reportedBucket,
		Ifaces: s.ifaces.View(), Owners: s.owners.View(), Stats: s.stats,
	})
}

func sortedTables(m map[event.Time]*table) []*table {
	out := make([]*table, 0, len(m))
	for _, t := range m {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *table) int { return cmp.Compare(a.bucket, b.bucket) })
	return out
}

// UnmarshalState restores them.
func (s *Stage) UnmarshalState(b []byte) error {
	var st stageState
	if err := detect.DecodeState(b, &st); err != nil {
		return err
	}
	for _, bs := range []*buckets{&s.open, &s.held} {
		for b := range bs.tables {
			s.recycle(bs.take(b))
		}
	}
	for _, t := range s.reported {
		s.recycle(t)
	}
	s.reported, s.reportedN = s.reported[:0], 0
	restore := func(bs *buckets, saved []savedTable) {
		for _, sv := range saved {
			t := s.table(bs, sv.Bucket)
			for i := range sv.Keys {
				k := sv.Keys[i]
				c, created := t.put(s.fingerprint(&k), &k)
				if created {
					bs.n++
				}
				*c = sv.Convs[i]
			}
		}
	}
	restore(&s.open, st.Open.Tables)
	restore(&s.held, st.Held.Tables)
	for _, sv := range st.Reported.Tables {
		var bs buckets
		bs.tables = map[event.Time]*table{}
		restore(&bs, []savedTable{sv})
		t := bs.take(sv.Bucket)
		s.reported = append(s.reported, t)
		s.reportedN += t.len()
	}
	s.reportedBucket = st.ReportedBucket
	s.ifaces.Restore(st.Ifaces)
	s.owners.Restore(st.Owners)
	s.stats = st.Stats
	return nil
}

// savedTable is one bucket's conversations in saved state.
type savedTable struct {
	Bucket event.Time
	Keys   []key
	Convs  []conv
}

// savedTables are the tables of a stage in saved state. Saving writes
// them from the stage's own tables a part at a time (see EncodeParts):
// Tables is filled only when they are read back.
type savedTables struct {
	Tables []savedTable
	of     []*table
}

// tablesHeader precedes the parts of savedTables.
type tablesHeader struct{ Tables int }

// tablePart is a table's bucket and size, or a part of its entries.
type tablePart struct {
	Bucket event.Time
	Len    int
	Keys   []key
	Convs  []conv
}

// EncodeParts writes the number of tables, then each table as a header
// part (its bucket and size) followed by its entries in parts of at most
// n, in the order they were made.
func (st *savedTables) EncodeParts(n int, encode func(any) error) error {
	n = max(n, 1)
	if err := encode(tablesHeader{Tables: len(st.of)}); err != nil {
		return err
	}
	var p tablePart
	for _, t := range st.of {
		if err := encode(tablePart{Bucket: t.bucket, Len: t.len()}); err != nil {
			return err
		}
		for i := 0; i < t.len(); i += n {
			j := min(i+n, t.len())
			p.Keys, p.Convs = p.Keys[:0], p.Convs[:0]
			for x := i; x < j; x++ {
				e := t.at(x)
				p.Keys = append(p.Keys, e.k)
				p.Convs = append(p.Convs, e.c)
			}
			if err := encode(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// DecodeParts reads what EncodeParts wrote into Tables.
func (st *savedTables) DecodeParts(decode func(any) error) error {
	var h tablesHeader
	if err := decode(&h); err != nil {
		return err
	}
	for range h.Tables {
		var head tablePart
		if err := decode(&head); err != nil {
			return eofUnexpected(err)
		}
		t := savedTable{Bucket: head.Bucket, Keys: make([]key, 0, head.Len), Convs: make([]conv, 0, head.Len)}
		for len(t.Keys) < head.Len {
			var p tablePart
			if err := decode(&p); err != nil {
				return eofUnexpected(err)
			}
			if len(p.Keys) == 0 || len(p.Keys) != len(p.Convs) || len(t.Keys)+len(p.Keys) > head.Len {
				return errBadPart
			}
			t.Keys = append(t.Keys, p.Keys...)
			t.Convs = append(t.Convs, p.Convs...)
		}
		st.Tables = append(st.Tables, t)
	}
	return nil
}

var errBadPart = errors.New("a saved table's part does not match its header")

func eofUnexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
