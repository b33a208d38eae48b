package synth

import (
	"net/netip"

	"picket/internal/event"
)

// Record is one generated flow record, before rendering.
type Record struct {
	Iface   *Interface
	Src     netip.Addr
	Dst     netip.Addr
	SrcPort uint16
	DstPort uint16
	Proto   uint8
	Packets uint64
	Bytes   uint64
	Start   int64
	End     int64
	Action  event.Action
	Flags   uint8
	Egress  bool
	PktSrc  netip.Addr // differs from Src behind a NAT gateway
	PktDst  netip.Addr
	Path    uint8 // traffic-path of egress records
	Status  event.Status
}

// Outcome is what happens to a conversation.
type Outcome uint8

// The outcomes a conversation can have.
const (
	Data        Outcome = iota // a session that carries data both ways
	OpenHalf                   // SYN, SYN-ACK, RST: a half-open probe of an open port
	OpenConnect                // SYN, SYN-ACK, ACK, RST: a connect probe of an open port
	Refused                    // the host answers with RST: closed port
	Unanswered                 // nothing answers: no host, or a host firewall drops
	Rejected                   // the security group or network ACL blocks
	Established                // connected, a few bytes, closed: a health check or a failed login
)

// Conv is one conversation to render as flow records on the interfaces of
// both ends that belong to the estate.
type Conv struct {
	Client   netip.Addr // private address for the estate's interfaces
	Server   netip.Addr
	CPort    uint16
	SPort    uint16
	Proto    uint8
	Start    int64 // Unix seconds
	Duration int64 // seconds
	Outcome  Outcome
	Up       uint64 // payload bytes client to server (Data, Established)
	Down     uint64 // payload bytes server to client
	Tries    int    // SYNs sent when nothing answers (1 to 6)
	ViaNAT   bool   // the client reaches the internet through the NAT gateway
}

// header sizes of a bare segment or datagram
const (
	tcpHdr = 52 // IPv4 + TCP with timestamps
	synLen = 60 // a SYN with options
	udpHdr = 28
	mss    = 1448
)

// expand renders c into the records of the estate's interfaces at either
// end, split into aggregation windows of window seconds.
func (g *Gen) expand(c Conv, out func(Record)) {
	client := g.estate.At(c.Client)
	server := g.estate.At(c.Server)
	if c.ViaNAT && client != nil {
		g.expandNAT(c, client, out)
		return
	}
	up, down := c.halves()
	// The server end: a rejected conversation shows only the blocked
	// inbound attempt.
	if server != nil {
		if c.Outcome == Rejected {
			g.split(server, c, up, false, event.Reject, out)
		} else {
			g.split(server, c, up, false, event.Accept, out)
			if !down.empty() {
				g.split(server, c, down, true, event.Accept, out)
			}
		}
	}
	if client != nil {
		g.split(client, c, up, true, event.Accept, out)
		if c.Outcome != Rejected && !down.empty() {
			g.split(client, c, down, false, event.Accept, out)
		}
	}
}

// expandNAT renders a conversation from a private client through the NAT
// gateway: the client's records name the internet server; the NAT
// gateway's records show both legs, the outer one from its own address.
func (g *Gen) expandNAT(c Conv, client *Interface, out func(Record)) {
	nat := g.estate.Role(RoleNAT)[0]
	up, down := c.halves()
	g.split(client, c, up, true, event.Accept, out)
	if !down.empty() {
		g.split(client, c, down, false, event.Accept, out)
	}
	// Inner leg at the NAT interface: from the client.
	g.split(nat, c, up, false, event.Accept, out)
	if !down.empty() {
		g.split(nat, c, down, true, event.Accept, out)
	}
	// Outer leg: from the NAT gateway's private address and a port of its
	// own, recorded with the packet-level addresses of the client.
	outer := c
	outer.Client = nat.Private
	outer.CPort = 1024 + uint16(g.rng.IntN(64000))
	recOut := func(r Record) {
		if r.Egress {
			r.PktSrc = c.Client
		} else {
			r.PktDst = c.Client
		}
		out(r)
	}
	g.split(nat, outer, up, true, event.Accept, recOut)
	if !down.empty() {
		g.split(nat, outer, down, false, event.Accept, recOut)
	}
}

// half is one direction of a conversation: its packets, bytes and flags
// by window position.
type half struct {
	fromClient bool
	packets    uint64
	bytes      uint64
	first      uint8 // flags of the first window
	last       uint8 // flags of the last window (FIN, RST)
	mid        uint8 // flags of the windows between
}

func (h half) empty() bool { return h.packets == 0 }

func (c Conv) halves() (up, down half) {
	up.fromClient = true
	tries := uint64(max(c.Tries, 1))
	switch c.Proto {
	case event.ProtoTCP:
		switch c.Outcome {
		case Data:
			up.packets = 3 + c.Up/mss + c.Down/(2*mss)
			up.bytes = synLen + (up.packets-1)*tcpHdr + c.Up
			down.packets = 2 + c.Down/mss + c.Up/(2*mss)
			down.bytes = synLen + (down.packets-1)*tcpHdr + c.Down
			up.first, up.last = event.TCPSyn, event.TCPFin
			down.first, down.last = event.TCPSyn|event.TCPAck, event.TCPFin
		case Established:
			up.packets, up.bytes = 5, synLen+4*tcpHdr+c.Up
			down.packets, down.bytes = 4, synLen+3*tcpHdr+c.Down
			up.first, up.last = event.TCPSyn, event.TCPFin
			down.first, down.last = event.TCPSyn|event.TCPAck, event.TCPFin
		case OpenHalf:
			up.packets, up.bytes = 2, synLen+40
			down.packets, down.bytes = 1, synLen
			up.first, up.last = event.TCPSyn, event.TCPRst
			down.first = event.TCPSyn | event.TCPAck
		case OpenConnect:
			up.packets, up.bytes = 3, synLen+tcpHdr+40
			down.packets, down.bytes = 1, synLen
			up.first, up.last = event.TCPSyn, event.TCPRst
			down.first = event.TCPSyn | event.TCPAck
		case Refused:
			up.packets, up.bytes = 1, synLen
			down.packets, down.bytes = 1, 40
			up.first = event.TCPSyn
			down.first = event.TCPRst
		case Unanswered, Rejected:
			up.packets, up.bytes = tries, tries*synLen
			up.first = event.TCPSyn
		}
	case event.ProtoUDP:
		switch c.Outcome {
		case Data, Established, OpenHalf, OpenConnect:
			up.packets = 1 + c.Up/mss
			up.bytes = up.packets*udpHdr + max(c.Up, 16)
			down.packets = 1 + c.Down/mss
			down.bytes = down.packets*udpHdr + max(c.Down, 16)
		default:
			up.packets, up.bytes = tries, tries*(udpHdr+16)
		}
	default: // ICMP
		up.packets, up.bytes = tries, tries*84
		if c.Outcome == Data || c.Outcome == Established {
			down.packets, down.bytes = up.packets, up.bytes
		}
	}
	return up, down
}

// split renders one half of c at interface iface, one record per
// aggregation window the conversation spans.
func (g *Gen) split(iface *Interface, c Conv, h half, egress bool, action event.Action, out func(Record)) {
	if h.empty() {
		return
	}
	w := g.cfg.Window
	off := g.offset(iface)
	end := c.Start + c.Duration
	first := c.Start - (c.Start-off)%w
	if (c.Start-off)%w < 0 {
		first -= w
	}
	nwin := (end-first)/w + 1
	if nwin < 1 {
		nwin = 1
	}
	if uint64(nwin) > h.packets {
		nwin = int64(h.packets)
	}
	var sentP, sentB uint64
	for k := int64(0); k < nwin; k++ {
		ws := first + k*w
		we := ws + w - 1
		r := Record{
			Iface: iface, Proto: c.Proto, Action: action, Egress: egress, Status: event.StatusOK,
			Start: max(ws, c.Start), End: min(we, end),
		}
		if r.End < r.Start {
			r.End = r.Start
		}
		if h.fromClient {
			r.Src, r.Dst, r.SrcPort, r.DstPort = c.Client, c.Server, c.CPort, c.SPort
		} else {
			r.Src, r.Dst, r.SrcPort, r.DstPort = c.Server, c.Client, c.SPort, c.CPort
		}
		if c.Proto != event.ProtoTCP && c.Proto != event.ProtoUDP {
			r.SrcPort, r.DstPort = 0, 0
		}
		if k == nwin-1 {
			r.Packets, r.Bytes = h.packets-sentP, h.bytes-sentB
		} else {
			r.Packets = h.packets / uint64(nwin)
			r.Bytes = h.bytes / uint64(nwin)
		}
		sentP += r.Packets
		sentB += r.Bytes
		if c.Proto == event.ProtoTCP {
			switch {
			case nwin == 1:
				r.Flags = h.first | h.last
			case k == 0:
				r.Flags = h.first
			case k == nwin-1:
				r.Flags = h.last
			default:
				r.Flags = h.mid
			}
		}
		if egress {
			if g.estate.At(r.Dst) != nil {
				r.Path = 1
			} else {
				r.Path = 8
			}
		}
		out(r)
	}
}

// offset is the interface's capture window phase: windows of different
// interfaces do not line up.
func (g *Gen) offset(i *Interface) int64 {
	var h uint64 = 1469598103934665603
	for k := 0; k < len(i.ID); k++ {
		h ^= uint64(i.ID[k])
		h *= 1099511628211
	}
	return int64(h % uint64(g.cfg.Window))
}
