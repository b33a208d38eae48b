// Package flowmeter owns turning observed traffic into flow records the
// way AWS VPC Flow Logs (Nitro) would record it: one record per
// interface, direction and 5-tuple per aggregation window, IP-level packet
// and byte counts, the TCP flags AWS reports (FIN, SYN, RST and SYN-ACK
// only), ICMP without ports, and ACCEPT or REJECT from a stateful model of
// the interfaces' security groups (package topology).
//
// A Meter is fed packets (from a capture) or whole connections (from a
// Zeek conn.log) in roughly increasing time and hands back event.Flow
// records in end-time order. It holds the flows of the open windows only:
// a window is flushed once the input's time passes its end by a slack, and
// when the number of open flows exceeds a cap the oldest window is flushed
// early and the early flushes are counted. It knows nothing of file
// formats; the decoders in decode/pcap and decode/zeek drive it.
//
// It may import event, lru and topology.
package flowmeter

import (
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"strings"

	"picket/internal/event"
	"picket/internal/lru"
	"picket/internal/topology"
)

// Config says which interfaces record traffic and how it is aggregated.
type Config struct {
	// Topology names the interfaces, their addresses and security group
	// rules. Without one, every local address is an interface of its own
	// that accepts everything.
	Topology *topology.Topology
	// Local replaces event.Internal as the test of which addresses are
	// interfaces when there is no topology.
	Local []netip.Prefix
	// Interface, when set, restricts the records to that interface ID (a
	// capture taken on one interface).
	Interface string
	// Window is the aggregation interval in seconds: 60 (the default) or
	// 600, aligned to the epoch.
	Window event.Time
	// Slack is how far, in seconds, input may run out of time order: a
	// window is flushed once the input's time passes its end by Slack
	// (default 10).
	Slack event.Time
	// MaxFlows bounds the flows held in open windows (default 1<<20).
	MaxFlows int
	// MaxConns bounds the connections the security group model tracks
	// (default 1<<20).
	MaxConns int
	// Account and Region fill records when the topology names none.
	Account, Region string
	// Source names the input, for the records' Origin.
	Source string
}

// Tuple is the 5-tuple of a packet. For ICMP and ICMPv6 the ports hold
// the message type (SrcPort) and code (DstPort).
type Tuple struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            uint8
}

// Packet is one IP packet as the meter needs it.
type Packet struct {
	Tuple
	Time   event.Time // seconds since the epoch
	Seq    int64      // its position in the input (packet number), for Origin
	Flags  uint8      // the TCP header's flag byte (FIN 1, SYN 2, RST 4, PSH 8, ACK 16, URG 32)
	Length uint32     // the IP total length: header and payload, as sent
	// Related is set for an ICMP error message whose quoted header was
	// read: Inner is the packet that caused it, as that packet was sent.
	Related bool
	Inner   Tuple
}

// Conn is one connection as Zeek reports it: the originator's packets
// and the responder's, their IP-level bytes and the flags each side sent.
type Conn struct {
	Tuple                  // originator to responder
	Start, End  event.Time // first and last packet
	Seq         int64      // its position in the input (line), for Origin
	OrigPackets uint64
	OrigBytes   uint64
	RespPackets uint64
	RespBytes   uint64
	OrigFlags   uint8 // in flow log form: FIN 1, SYN 2, RST 4, SYN-ACK 18
	RespFlags   uint8
	// LocalOrig and LocalResp say which side is local, when the log
	// knows; Local prefixes and a topology take precedence.
	LocalOrig, LocalResp event.Tri
}

// Stats counts what a meter saw.
type Stats struct {
	Packets  uint64 // packets added
	Conns    uint64 // connections added
	Records  uint64 // records handed out
	Late     uint64 // packets or connection pieces behind an already flushed window
	Evicted  uint64 // flows flushed before their window ended, to stay within MaxFlows
	Unmapped uint64 // packets no interface recorded
	Rejected uint64 // packet records with action REJECT
	ConnsCap uint64 // connections the security group model forgot to stay within MaxConns
}

// AWSFlags maps a TCP header's flag byte to what VPC Flow Logs report:
// FIN, SYN, RST, and SYN-ACK as SYN|ACK (18) only when both are set; ACK,
// PSH and URG alone report nothing.
func AWSFlags(tcp uint8) uint8 {
	f := tcp & (event.TCPFin | event.TCPSyn | event.TCPRst)
	if tcp&event.TCPSyn != 0 && tcp&event.TCPAck != 0 {
		f |= event.TCPAck
	}
	return f
}

// iface is one recording interface.
type iface struct {
	id, instance, subnet, typ event.ID
	ingress, egress           []topology.Rule
	filtered                  bool // has security group rules to apply
	record                    bool // its records are wanted
	name                      string
}

// flowKey identifies one record within a window. netip.Addr holds a
// pointer for the zone of IPv6 addresses, which costs a little in the map
// and nothing in correctness.
type flowKey struct {
	iface    int32
	src, dst netip.Addr
	sport    uint16
	dport    uint16
	proto    uint8
	action   event.Action
	ingress  bool
}

type flowVal struct {
	key        flowKey
	packets    uint64
	bytes      uint64
	start, end event.Time
	flags      uint8
	first      int64 // Seq of the first packet
}

type window struct {
	start event.Time
	index map[flowKey]int32
	flows []flowVal
}

// connKey is a connection as the security group model tracks it: per
// interface, the two endpoints in a canonical order.
type connKey struct {
	iface  int32
	a, b   netip.Addr
	pa, pb uint16
	proto  uint8
}

type connState struct {
	last      event.Time
	responder netip.Addr // for the conversation table (iface -1): the side that did not open
}

// Meter aggregates traffic into flow records. It is not safe for
// concurrent use.
type Meter struct {
	cfg      Config
	source   event.ID
	account  event.ID
	region   event.ID
	vpc      event.ID
	ifaces   []iface
	byAddr   map[netip.Addr]int32
	conns    *lru.Table[connKey, connState]
	windows  []*window // open windows, by start
	spare    []*window
	open     int        // flows in open windows
	horizon  event.Time // the newest input time
	flushed  event.Time // windows that start before this are flushed
	started  bool
	ready    []flowVal
	readyPos int
	stats    Stats
}

// New returns a meter.
func New(cfg Config) *Meter {
	if cfg.Window <= 0 {
		cfg.Window = 60
	}
	if cfg.Slack <= 0 {
		cfg.Slack = 10
	}
	if cfg.MaxFlows <= 0 {
		cfg.MaxFlows = 1 << 20
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 1 << 20
	}
	m := &Meter{cfg: cfg, byAddr: map[netip.Addr]int32{}, source: event.Intern(cfg.Source)}
	m.conns = lru.New[connKey, connState](cfg.MaxConns, func(connKey, *connState) { m.stats.ConnsCap++ })
	account, region := cfg.Account, cfg.Region
	if t := cfg.Topology; t != nil {
		if t.Account != "" {
			account = t.Account
		}
		if t.Region != "" {
			region = t.Region
		}
		m.vpc = event.Intern(t.VPC)
		for i := range t.Interfaces {
			ti := &t.Interfaces[i]
			m.ifaces = append(m.ifaces, iface{
				id: event.Intern(ti.ID), instance: event.Intern(ti.Instance), subnet: event.Intern(ti.Subnet), typ: event.Intern(ti.Type),
				ingress: ti.Ingress, egress: ti.Egress, filtered: ti.Ingress != nil || ti.Egress != nil,
				record: cfg.Interface == "" || cfg.Interface == ti.ID, name: ti.Name,
			})
			for _, a := range ti.Addresses {
				m.byAddr[a] = int32(i)
			}
		}
	}
	m.account, m.region = event.Intern(account), event.Intern(region)
	return m
}

// Stats returns the counts so far.
func (m *Meter) Stats() Stats { return m.stats }

// AutoID returns the interface ID the meter gives the interface of
// address a when there is no topology: "eni-" and the address in 17 hex
// digits for IPv4, a hash of it for IPv6.
func AutoID(a netip.Addr) string {
	if a.Is4() {
		b := a.As4()
		return fmt.Sprintf("eni-%017x", binary.BigEndian.Uint32(b[:]))
	}
	h := fnv.New64a()
	b := a.As16()
	h.Write(b[:])
	var sum [8]byte
	binary.BigEndian.PutUint64(sum[:], h.Sum64())
	return "eni-6" + hex.EncodeToString(sum[:])
}

// local reports whether a is an interface's address when there is no
// topology; hint is what the input says, if anything.
func (m *Meter) local(a netip.Addr, hint event.Tri) bool {
	if len(m.cfg.Local) > 0 {
		for _, p := range m.cfg.Local {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	if hint.IsSet() {
		return hint.True()
	}
	return event.Internal(a)
}

// ifaceOf returns the interface of address a, creating it when there is
// no topology.
func (m *Meter) ifaceOf(a netip.Addr) int32 {
	if i, ok := m.byAddr[a]; ok {
		return i
	}
	if m.cfg.Topology != nil {
		return -1
	}
	id := AutoID(a)
	i := int32(len(m.ifaces))
	m.ifaces = append(m.ifaces, iface{id: event.Intern(id), typ: event.Intern("interface"), record: m.cfg.Interface == "" || m.cfg.Interface == id})
	m.byAddr[a] = i
	return i
}

// route returns the interfaces that see a packet of tp leave (egress) and
// arrive (ingress), or -1. opener tells, for traffic between two
// non-local addresses, whether tp's source opened the conversation.
func (m *Meter) route(tp *Tuple, srcHint, dstHint event.Tri, t event.Time) (egress, ingress int32) {
	if m.cfg.Topology != nil {
		egress, ingress = -1, -1
		if i, ok := m.byAddr[tp.Src]; ok {
			egress = i
		}
		if i, ok := m.byAddr[tp.Dst]; ok {
			ingress = i
		}
		if egress == ingress && egress >= 0 {
			egress = -1 // to itself: it never leaves the interface
		}
		return egress, ingress
	}
	egress, ingress = -1, -1
	ls, ld := m.local(tp.Src, srcHint), m.local(tp.Dst, dstHint)
	if ls {
		egress = m.ifaceOf(tp.Src)
	}
	if ld {
		ingress = m.ifaceOf(tp.Dst)
	}
	if !ls && !ld {
		// Neither side is local: the responder of the conversation is.
		resp := m.responder(tp, t)
		if resp == tp.Dst {
			ingress = m.ifaceOf(tp.Dst)
		} else {
			egress = m.ifaceOf(tp.Src)
		}
	}
	if egress == ingress && egress >= 0 {
		egress = -1
	}
	return egress, ingress
}

// canon returns the connection key of tp at interface i, with the
// endpoints in a canonical order.
func canon(i int32, tp *Tuple) connKey {
	sp, dp := tp.SrcPort, tp.DstPort
	if isICMP(tp.Proto) {
		sp, dp = 0, 0
	}
	k := connKey{iface: i, a: tp.Src, b: tp.Dst, pa: sp, pb: dp, proto: tp.Proto}
	if c := k.a.Compare(k.b); c > 0 || c == 0 && k.pa > k.pb {
		k.a, k.b, k.pa, k.pb = k.b, k.a, k.pb, k.pa
	}
	return k
}

// responder returns the side of tp's conversation that did not send its
// first packet.
func (m *Meter) responder(tp *Tuple, t event.Time) netip.Addr {
	st, created := m.conns.Put(canon(-1, tp))
	if created || t-st.last > idleTimeout(tp.Proto) {
		st.responder = tp.Dst
	}
	st.last = max(st.last, t)
	return st.responder
}

func isICMP(p uint8) bool { return p == event.ProtoICMP || p == event.ProtoICMPv6 }

// idleTimeout is how long the security group model remembers an idle
// connection, after AWS's defaults (TCP established 5 days, UDP 30 s
// and 180 s for streams, which we do not tell apart, other 60 s).
func idleTimeout(proto uint8) event.Time {
	switch proto {
	case event.ProtoTCP:
		return 432000
	case event.ProtoUDP:
		return 180
	}
	return 60
}

// judge decides a packet's action at interface i: ACCEPT when it belongs
// to a tracked connection (or is an ICMP error about one), else when a
// rule of its direction allows it (and then the connection is tracked),
// else REJECT.
func (m *Meter) judge(i int32, ingress bool, tp *Tuple, related *Tuple, t event.Time) event.Action {
	ifc := &m.ifaces[i]
	if !ifc.filtered {
		return event.Accept
	}
	k := canon(i, tp)
	if st := m.conns.Get(k); st != nil && t-st.last <= idleTimeout(tp.Proto) {
		st.last = max(st.last, t)
		return event.Accept
	}
	if related != nil {
		if st := m.conns.Get(canon(i, related)); st != nil && t-st.last <= idleTimeout(related.Proto) {
			return event.Accept
		}
	}
	rules, remote := ifc.egress, tp.Dst
	if ingress {
		rules, remote = ifc.ingress, tp.Src
	}
	port := tp.DstPort
	if isICMP(tp.Proto) {
		port = tp.SrcPort // the type
	}
	if !topology.Allows(rules, tp.Proto, port, remote) {
		return event.Reject
	}
	st, _ := m.conns.Put(k)
	st.last = t
	return event.Accept
}

// Add records one packet.
func (m *Meter) Add(p *Packet) {
	m.stats.Packets++
	t := m.clock(p.Time)
	var related *Tuple
	if p.Related {
		related = &p.Inner
	}
	eg, in := m.route(&p.Tuple, event.TriUnset, event.TriUnset, p.Time)
	if eg < 0 && in < 0 {
		m.stats.Unmapped++
	}
	flags := uint8(0)
	if p.Proto == event.ProtoTCP {
		flags = AWSFlags(p.Flags)
	}
	if eg >= 0 {
		a := m.judge(eg, false, &p.Tuple, related, p.Time)
		m.count(eg, false, &p.Tuple, a, t, t, 1, uint64(p.Length), flags, p.Seq)
		if a == event.Reject {
			in = -1 // it never left
		}
	}
	if in >= 0 {
		a := m.judge(in, true, &p.Tuple, related, p.Time)
		m.count(in, true, &p.Tuple, a, t, t, 1, uint64(p.Length), flags, p.Seq)
	}
	m.advance(p.Time)
}

// AddConn records a connection: the originator's packets, then the
// responder's, each on the interfaces that see them. A connection that
// spans windows is split across them in proportion to the seconds it
// spent in each; opening flags (SYN, SYN-ACK) go to its first piece and
// closing ones (FIN, RST) to its last. One that spans more than a week of
// windows stays whole.
func (m *Meter) AddConn(c *Conn) {
	m.stats.Conns++
	if c.End < c.Start {
		c.End = c.Start
	}
	fwd := c.Tuple
	rev := Tuple{Src: c.Dst, Dst: c.Src, SrcPort: c.DstPort, DstPort: c.SrcPort, Proto: c.Proto}
	if isICMP(c.Proto) {
		rev.SrcPort, rev.DstPort = 0, 0 // an ICMP reply's type is not known
	}
	// The originator's first packet decides whether the connection is
	// allowed; the responder's packets then follow it.
	fe, fi := m.route(&fwd, c.LocalOrig, c.LocalResp, c.Start)
	re, ri := m.route(&rev, c.LocalResp, c.LocalOrig, c.Start)
	if fe < 0 && fi < 0 {
		m.stats.Unmapped++
	}
	if c.OrigPackets > 0 {
		m.connSide(fe, fi, &fwd, c, c.OrigPackets, c.OrigBytes, c.OrigFlags)
	}
	if c.RespPackets > 0 {
		m.connSide(re, ri, &rev, c, c.RespPackets, c.RespBytes, c.RespFlags)
	}
	m.advance(c.Start)
}

func (m *Meter) connSide(eg, in int32, tp *Tuple, c *Conn, packets, bytes uint64, flags uint8) {
	if eg >= 0 {
		a := m.judge(eg, false, tp, nil, c.Start)
		m.spread(eg, false, tp, a, c, packets, bytes, flags)
		if a == event.Reject {
			in = -1
		}
	}
	if in >= 0 {
		a := m.judge(in, true, tp, nil, c.Start)
		m.spread(in, true, tp, a, c, packets, bytes, flags)
	}
}

// maxSplit is the most windows a connection is spread over: a week of
// one-minute windows. A longer one (or a corrupt duration) is one record
// per direction, which holds its true start and end.
const maxSplit = 7 * 24 * 60

// spread counts a connection side over the windows it spans.
func (m *Meter) spread(i int32, ingress bool, tp *Tuple, a event.Action, c *Conn, packets, bytes uint64, flags uint8) {
	w := m.cfg.Window
	first, last := c.Start-mod(c.Start, w), c.End-mod(c.End, w)
	if first == last || (last-first)/w > maxSplit {
		m.count(i, ingress, tp, a, m.clock(c.Start), m.clock(c.End), packets, bytes, flags, c.Seq)
		return
	}
	total := uint64(c.End - c.Start + 1) // seconds, both ends included
	var done uint64                      // seconds before this window
	var pk, by uint64                    // counted so far
	open, closing := flags&(event.TCPSyn|event.TCPAck), flags&(event.TCPFin|event.TCPRst)
	for ws := first; ws <= last; ws += w {
		s, e := max(c.Start, ws), min(c.End, ws+w-1)
		done += uint64(e - s + 1)
		np, nb := packets*done/total-pk, bytes*done/total-by
		if ws == last {
			np, nb = packets-pk, bytes-by
		}
		if np == 0 {
			continue
		}
		pk, by = pk+np, by+nb
		f := open
		if ws == last || pk == packets {
			f |= closing
		}
		open = 0
		m.count(i, ingress, tp, a, m.clock(s), m.clock(e), np, nb, f, c.Seq)
	}
}

func mod(t, w event.Time) event.Time {
	r := t % w
	if r < 0 {
		r += w
	}
	return r
}

// clock returns the time at which input time t is counted: t itself, or
// the first open window's start for input behind the flushed windows.
func (m *Meter) clock(t event.Time) event.Time {
	if m.started && t < m.flushed {
		m.stats.Late++
		return m.flushed
	}
	return t
}

// count adds traffic to the record of its window.
func (m *Meter) count(i int32, ingress bool, tp *Tuple, a event.Action, start, end event.Time, packets, bytes uint64, flags uint8, seq int64) {
	if !m.ifaces[i].record {
		return
	}
	if a == event.Reject {
		m.stats.Rejected++
	}
	key := flowKey{iface: i, src: tp.Src, dst: tp.Dst, sport: tp.SrcPort, dport: tp.DstPort, proto: tp.Proto, action: a, ingress: ingress}
	if isICMP(tp.Proto) {
		key.sport, key.dport = 0, 0
	}
	// The window of the end, which is the start's but for a connection
	// too long to split: records leave in end-time order.
	w := m.window(end - mod(end, m.cfg.Window))
	j, ok := w.index[key]
	if !ok {
		j = int32(len(w.flows))
		w.index[key] = j
		w.flows = append(w.flows, flowVal{key: key, start: start, end: end, first: seq})
		m.open++
	}
	v := &w.flows[j]
	v.packets += packets
	v.bytes += bytes
	v.flags |= flags
	v.start = min(v.start, start)
	v.end = max(v.end, end)
	if m.open > m.cfg.MaxFlows {
		m.evict()
	}
}

// window returns the open window that starts at ws.
func (m *Meter) window(ws event.Time) *window {
	n := len(m.windows)
	if n > 0 && m.windows[n-1].start == ws {
		return m.windows[n-1]
	}
	i, found := slices.BinarySearchFunc(m.windows, ws, func(w *window, t event.Time) int { return cmp.Compare(w.start, t) })
	if found {
		return m.windows[i]
	}
	var w *window
	if k := len(m.spare); k > 0 {
		w, m.spare = m.spare[k-1], m.spare[:k-1]
	} else {
		w = &window{index: map[flowKey]int32{}}
	}
	w.start = ws
	m.windows = slices.Insert(m.windows, i, w)
	return w
}

// advance moves the input time to t and flushes the windows it has
// passed by the slack.
func (m *Meter) advance(t event.Time) {
	if !m.started || t > m.horizon {
		m.horizon = t
	}
	m.started = true
	for len(m.windows) > 0 && m.windows[0].start+m.cfg.Window+m.cfg.Slack <= m.horizon {
		m.flushFirst()
	}
}

// evict flushes the oldest window before its time.
func (m *Meter) evict() {
	if len(m.windows) == 0 {
		return
	}
	m.stats.Evicted += uint64(len(m.windows[0].flows))
	m.flushFirst()
}

// flushFirst moves the oldest open window's flows, sorted, to the ready
// queue.
func (m *Meter) flushFirst() {
	w := m.windows[0]
	m.windows = m.windows[1:]
	if m.readyPos == len(m.ready) {
		m.ready, m.readyPos = m.ready[:0], 0
	}
	n := len(m.ready)
	m.ready = append(m.ready, w.flows...)
	slices.SortFunc(m.ready[n:], m.compare)
	m.open -= len(w.flows)
	m.flushed = max(m.flushed, w.start+m.cfg.Window)
	m.started = true
	w.flows = w.flows[:0]
	clear(w.index)
	m.spare = append(m.spare, w)
}

// compare orders records by end, start, interface, addresses, ports,
// protocol and action.
func (m *Meter) compare(a, b flowVal) int {
	if c := cmp.Compare(a.end, b.end); c != 0 {
		return c
	}
	if c := cmp.Compare(a.start, b.start); c != 0 {
		return c
	}
	if a.key.iface != b.key.iface {
		return strings.Compare(m.ifaces[a.key.iface].id.String(), m.ifaces[b.key.iface].id.String())
	}
	if c := a.key.src.Compare(b.key.src); c != 0 {
		return c
	}
	if c := a.key.dst.Compare(b.key.dst); c != 0 {
		return c
	}
	if c := cmp.Compare(a.key.sport, b.key.sport); c != 0 {
		return c
	}
	if c := cmp.Compare(a.key.dport, b.key.dport); c != 0 {
		return c
	}
	if c := cmp.Compare(a.key.proto, b.key.proto); c != 0 {
		return c
	}
	return cmp.Compare(a.key.action, b.key.action)
}

// Close flushes every open window: after it, Next returns the remaining
// records.
func (m *Meter) Close() {
	for len(m.windows) > 0 {
		m.flushFirst()
	}
}

// Pending reports whether Next has a record to return.
func (m *Meter) Pending() bool { return m.readyPos < len(m.ready) }

// Next fills f with the next finished record and reports whether there
// was one.
func (m *Meter) Next(f *event.Flow) bool {
	if m.readyPos >= len(m.ready) {
		return false
	}
	v := &m.ready[m.readyPos]
	m.readyPos++
	m.stats.Records++
	m.fill(f, v)
	return true
}

func (m *Meter) fill(f *event.Flow, v *flowVal) {
	ifc := &m.ifaces[v.key.iface]
	*f = event.Flow{
		Origin:  event.Origin{File: m.source, Line: v.first},
		Has:     event.HasVersion | event.HasSrcPort | event.HasDstPort | event.HasProtocol | event.HasPackets | event.HasBytes | event.HasStart | event.HasEnd | event.HasTCPFlags,
		Version: 5, Account: m.account, Interface: ifc.id,
		Src: v.key.src, Dst: v.key.dst, SrcPort: v.key.sport, DstPort: v.key.dport, Protocol: v.key.proto,
		Packets: v.packets, Bytes: v.bytes, Start: v.start, End: v.end,
		Action: v.key.action, Status: event.StatusOK,
		VPC: m.vpc, Subnet: ifc.subnet, Instance: ifc.instance, TCPFlags: v.flags,
		PktSrc: v.key.src, PktDst: v.key.dst, Region: m.region,
		Direction: event.Outbound, Basis: event.BasisField,
	}
	f.Meta.InterfaceType = ifc.typ
	f.Type = event.AddrIPv4
	if v.key.src.Is6() {
		f.Type = event.AddrIPv6
	}
	if v.key.ingress {
		f.Direction = event.Inbound
	} else {
		f.Has |= event.HasTrafficPath
		f.TrafficPath = 8 // through an internet gateway
		if event.Internal(v.key.dst) || m.isLocal(v.key.dst) {
			f.TrafficPath = 1 // within the VPC
		}
	}
}

func (m *Meter) isLocal(a netip.Addr) bool {
	if m.cfg.Topology != nil {
		_, ok := m.byAddr[a]
		return ok
	}
	for _, p := range m.cfg.Local {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Interface returns the interface ID the records are restricted to, or "".
func (m *Meter) Interface() string { return m.cfg.Interface }
