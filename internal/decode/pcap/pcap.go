// Package pcap decodes packet captures (pcap and pcapng, as tcpdump,
// Wireshark and dumpcap write them) into the flow records that AWS VPC
// Flow Logs would have written for the same packets. It owns the link,
// IP and transport header parsing; the aggregation into records, the
// interfaces and the security group model belong to package flowmeter.
//
// Headers are read by hand from the captured bytes, without allocating
// per packet. Byte counts come from the IP total length, so captures cut
// short by a small snap length (tcpdump -s 128) count what was sent, not
// what was kept. Frames that do not carry IP (ARP, LLDP, ...) are counted
// and skipped; a packet whose headers make no sense is a *PacketError,
// counted and skipped by the caller, and reading goes on.
//
// It may import event, flowmeter and topology.
package pcap

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"picket/internal/event"
	"picket/internal/flowmeter"
)

// PacketError describes one packet that could not be read: where it is
// and which header field is wrong.
type PacketError struct {
	File   string
	Packet int64  // 1-based packet number in the file
	Field  string // such as "ipv4.ihl" or "tcp"
	Why    string // short and stable, such as "truncated"
}

// Error renders the error as "file: packet N: field: why".
func (e *PacketError) Error() string {
	return fmt.Sprintf("%s: packet %d: %s: %s", e.File, e.Packet, e.Field, e.Why)
}

// Reason returns a short, stable name for the error, for counting.
func (e *PacketError) Reason() string { return "pcap-" + e.Why }

// Stats counts what a reader saw.
type Stats struct {
	Frames  int64 // frames read
	NonIP   int64 // frames without IP (ARP, ...), skipped
	Errors  int64 // frames with bad headers, skipped
	Links   map[layers.LinkType]int64
	Meter   flowmeter.Stats
	Snaplen uint32 // of the first interface; 0 when unknown
}

// packetSource is pcapgo's Reader or NgReader.
type packetSource interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

// Reader decodes the packets of one capture into flow records.
type Reader struct {
	name   string
	src    packetSource
	ng     *pcapgo.NgReader
	link   layers.LinkType // of a pcap file
	links  []layers.LinkType
	meter  *flowmeter.Meter
	pkt    flowmeter.Packet
	stats  Stats
	done   bool
	endErr error
}

// Magic numbers of the two file formats, as the first four bytes.
var (
	magicPcap = [][4]byte{
		{0xd4, 0xc3, 0xb2, 0xa1}, {0xa1, 0xb2, 0xc3, 0xd4}, // microseconds
		{0x4d, 0x3c, 0xb2, 0xa1}, {0xa1, 0xb2, 0x3c, 0x4d}, // nanoseconds
	}
	magicPcapng = [4]byte{0x0a, 0x0d, 0x0d, 0x0a}
)

// isCapture reports whether head starts like a pcap or pcapng file.
func isCapture(head []byte) bool {
	if len(head) < 4 {
		return false
	}
	m := [4]byte(head[:4])
	if m == magicPcapng {
		return true
	}
	for _, p := range magicPcap {
		if m == p {
			return true
		}
	}
	return false
}

// NewReader returns a reader of the capture r, called name, whose packets
// cfg's meter turns into records. It reads the file header and fails if
// r is not a capture or its link type is not one picket reads.
func NewReader(r io.Reader, name string, cfg flowmeter.Config) (*Reader, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	head, _ := br.Peek(4)
	if !isCapture(head) {
		return nil, fmt.Errorf("reading capture %s: not a pcap or pcapng file", name)
	}
	rd := &Reader{name: name, stats: Stats{Links: map[layers.LinkType]int64{}}}
	if [4]byte(head) == magicPcapng {
		ng, err := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{WantMixedLinkType: true, SkipUnknownVersion: true})
		if err != nil {
			return nil, fmt.Errorf("reading capture %s: %w", name, err)
		}
		rd.ng, rd.src = ng, ng
		if ng.NInterfaces() > 0 {
			in, _ := ng.Interface(0)
			rd.stats.Snaplen = in.SnapLength
			if cfg.Interface == "" && cfg.Topology != nil {
				cfg.Interface = cfg.Topology.Match(in.Name)
			}
		}
	} else {
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("reading capture %s: %w", name, err)
		}
		rd.src, rd.link = pr, pr.LinkType()
		rd.stats.Snaplen = pr.Snaplen()
		if !supported(rd.link) {
			return nil, fmt.Errorf("reading capture %s: link type %s (%d) is not one picket reads (Ethernet, Linux cooked, raw IP, loopback)", name, rd.link, uint32(rd.link))
		}
	}
	if cfg.Interface == "" && cfg.Topology != nil {
		cfg.Interface = cfg.Topology.Match(name)
	}
	cfg.Source = name
	rd.meter = flowmeter.New(cfg)
	return rd, nil
}

// Stats returns the counts so far.
func (r *Reader) Stats() Stats {
	s := r.stats
	s.Meter = r.meter.Stats()
	return s
}

// Interface returns the interface ID the records are restricted to, if
// any (given, or matched from the file or capture interface name).
func (r *Reader) Interface() string { return r.meter.Interface() }

// Next fills f with the next flow record. It returns nil for a record, a
// *PacketError for a bad packet (after which Next may be called again),
// io.EOF at the end, or another error when the capture cannot be read
// further; the records of the packets before it are delivered first.
// Records come in the order of their end time.
func (r *Reader) Next(f *event.Flow) error {
	for {
		if r.meter.Next(f) {
			return nil
		}
		if r.done {
			err := r.endErr
			r.endErr = io.EOF
			return err
		}
		data, ci, err := r.src.ZeroCopyReadPacketData()
		if err != nil {
			r.done = true
			r.meter.Close()
			switch {
			case errors.Is(err, io.EOF):
				r.endErr = io.EOF
			case errors.Is(err, io.ErrUnexpectedEOF):
				r.stats.Errors++
				r.endErr = &PacketError{File: r.name, Packet: r.stats.Frames + 1, Field: "record", Why: "truncated-file"}
			default:
				r.endErr = fmt.Errorf("reading capture %s after packet %d: %w", r.name, r.stats.Frames, err)
			}
			continue
		}
		r.stats.Frames++
		link := r.link
		if r.ng != nil {
			link = r.ngLink(ci.InterfaceIndex)
		}
		r.stats.Links[link]++
		p := &r.pkt
		*p = flowmeter.Packet{Time: event.Time(ci.Timestamp.Unix()), Seq: r.stats.Frames}
		ip, field, why := r.parse(data, ci.Length, link, p)
		switch {
		case why != "":
			r.stats.Errors++
			return &PacketError{File: r.name, Packet: r.stats.Frames, Field: field, Why: why}
		case !ip:
			r.stats.NonIP++
			continue
		}
		r.meter.Add(p)
	}
}

// ngLink returns the link type of a pcapng interface.
func (r *Reader) ngLink(i int) layers.LinkType {
	for len(r.links) <= i && len(r.links) < r.ng.NInterfaces() {
		in, _ := r.ng.Interface(len(r.links))
		r.links = append(r.links, in.LinkType)
	}
	if i < len(r.links) {
		return r.links[i]
	}
	return layers.LinkType(0xffff)
}

// Link types beyond gopacket's names.
const (
	linkRawOpenBSD = layers.LinkType(12)
	linkRawBSD     = layers.LinkType(14)
)

func supported(l layers.LinkType) bool {
	switch l {
	case layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2, layers.LinkTypeRaw, linkRawOpenBSD, linkRawBSD,
		layers.LinkTypeIPv4, layers.LinkTypeIPv6, layers.LinkTypeNull, layers.LinkTypeLoop:
		return true
	}
	return false
}

// Ethernet types.
const (
	etherIPv4 = 0x0800
	etherIPv6 = 0x86dd
)

// parse reads one frame into p. It reports whether the frame carries IP,
// and for a bad frame the field and a short reason. wire is the frame's
// length on the wire.
func (r *Reader) parse(b []byte, wire int, link layers.LinkType, p *flowmeter.Packet) (ip bool, field, why string) {
	var etype uint16
	off := 0
	switch link {
	case layers.LinkTypeEthernet:
		if len(b) < 14 {
			return false, "ethernet", "truncated"
		}
		etype, off = binary.BigEndian.Uint16(b[12:]), 14
		for etype == 0x8100 || etype == 0x88a8 || etype == 0x9100 {
			if len(b) < off+4 {
				return false, "vlan", "truncated"
			}
			etype, off = binary.BigEndian.Uint16(b[off+2:]), off+4
		}
	case layers.LinkTypeLinuxSLL:
		if len(b) < 16 {
			return false, "sll", "truncated"
		}
		etype, off = binary.BigEndian.Uint16(b[14:]), 16
	case layers.LinkTypeLinuxSLL2:
		if len(b) < 20 {
			return false, "sll2", "truncated"
		}
		etype, off = binary.BigEndian.Uint16(b[0:]), 20
	case layers.LinkTypeRaw, linkRawOpenBSD, linkRawBSD, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		if len(b) < 1 {
			return false, "ip", "truncated"
		}
		switch b[0] >> 4 {
		case 4:
			etype = etherIPv4
		case 6:
			etype = etherIPv6
		default:
			return false, "ip.version", "unknown"
		}
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		if len(b) < 4 {
			return false, "loopback", "truncated"
		}
		fam := binary.LittleEndian.Uint32(b)
		if link == layers.LinkTypeLoop || fam > 0xffff {
			fam = binary.BigEndian.Uint32(b)
		}
		off = 4
		switch fam {
		case 2:
			etype = etherIPv4
		case 10, 24, 28, 30:
			etype = etherIPv6
		}
	default:
		return false, "link", "unsupported-link-type"
	}
	switch etype {
	case etherIPv4:
		return r.ipv4(b[off:], wire-off, p)
	case etherIPv6:
		return r.ipv6(b[off:], wire-off, p)
	}
	return false, "", ""
}

func (r *Reader) ipv4(b []byte, wire int, p *flowmeter.Packet) (bool, string, string) {
	if len(b) < 20 {
		return false, "ipv4", "truncated"
	}
	if b[0]>>4 != 4 {
		return false, "ipv4.version", "not-4"
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < 20 {
		return false, "ipv4.ihl", "too-small"
	}
	total := int(binary.BigEndian.Uint16(b[2:]))
	if total == 0 {
		// Segmentation offload: the kernel fills the length in later.
		total = wire
	}
	if total < ihl {
		return false, "ipv4.total_length", "below-header-length"
	}
	p.Length = uint32(total)
	p.Proto = b[9]
	p.Src = netip.AddrFrom4([4]byte(b[12:16]))
	p.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	if binary.BigEndian.Uint16(b[6:])&0x1fff != 0 {
		return true, "", "" // a later fragment: no transport header
	}
	if len(b) < ihl {
		return false, "ipv4.options", "truncated"
	}
	return r.transport(b[ihl:], p)
}

func (r *Reader) ipv6(b []byte, wire int, p *flowmeter.Packet) (bool, string, string) {
	if len(b) < 40 {
		return false, "ipv6", "truncated"
	}
	if b[0]>>4 != 6 {
		return false, "ipv6.version", "not-6"
	}
	plen := int(binary.BigEndian.Uint16(b[4:]))
	total := 40 + plen
	if plen == 0 && wire > 40 {
		total = wire // a jumbogram or segmentation offload
	}
	p.Length = uint32(total)
	p.Src = netip.AddrFrom16([16]byte(b[8:24])).Unmap()
	p.Dst = netip.AddrFrom16([16]byte(b[24:40])).Unmap()
	next := b[6]
	b = b[40:]
	for {
		switch next {
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(b) < 2 {
				return false, "ipv6.extension", "truncated"
			}
			n := (int(b[1]) + 1) * 8
			if len(b) < n {
				return false, "ipv6.extension", "truncated"
			}
			next, b = b[0], b[n:]
			continue
		case 51: // authentication header
			if len(b) < 2 {
				return false, "ipv6.ah", "truncated"
			}
			n := (int(b[1]) + 2) * 4
			if len(b) < n {
				return false, "ipv6.ah", "truncated"
			}
			next, b = b[0], b[n:]
			continue
		case 44: // fragment
			if len(b) < 8 {
				return false, "ipv6.fragment", "truncated"
			}
			later := binary.BigEndian.Uint16(b[2:])>>3 != 0
			next, b = b[0], b[8:]
			if later {
				p.Proto = next
				return true, "", ""
			}
			continue
		}
		break
	}
	p.Proto = next
	return r.transport(b, p)
}

// transport reads ports (or ICMP type and code) and TCP flags.
func (r *Reader) transport(b []byte, p *flowmeter.Packet) (bool, string, string) {
	switch p.Proto {
	case event.ProtoTCP:
		if len(b) < 14 {
			return false, "tcp", "truncated"
		}
		p.SrcPort, p.DstPort = binary.BigEndian.Uint16(b), binary.BigEndian.Uint16(b[2:])
		p.Flags = b[13]
	case event.ProtoUDP, 132, 33, 136: // UDP, SCTP, DCCP, UDP-Lite
		if len(b) < 4 {
			return false, "udp", "truncated"
		}
		p.SrcPort, p.DstPort = binary.BigEndian.Uint16(b), binary.BigEndian.Uint16(b[2:])
	case event.ProtoICMP:
		if len(b) < 2 {
			return false, "icmp", "truncated"
		}
		p.SrcPort, p.DstPort = uint16(b[0]), uint16(b[1])
		switch b[0] {
		case 3, 4, 5, 11, 12: // errors that quote the packet that caused them
			if len(b) >= 8+20 {
				p.Related = quoted4(b[8:], &p.Inner)
			}
		}
	case event.ProtoICMPv6:
		if len(b) < 2 {
			return false, "icmpv6", "truncated"
		}
		p.SrcPort, p.DstPort = uint16(b[0]), uint16(b[1])
		if b[0] >= 1 && b[0] <= 4 && len(b) >= 8+40 {
			p.Related = quoted6(b[8:], &p.Inner)
		}
	}
	return true, "", ""
}

// quoted4 reads the IPv4 header (and ports) an ICMP error quotes.
func quoted4(b []byte, t *flowmeter.Tuple) bool {
	ihl := int(b[0]&0x0f) * 4
	if b[0]>>4 != 4 || ihl < 20 {
		return false
	}
	t.Proto = b[9]
	t.Src = netip.AddrFrom4([4]byte(b[12:16]))
	t.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	if len(b) >= ihl+4 && (t.Proto == event.ProtoTCP || t.Proto == event.ProtoUDP) {
		t.SrcPort, t.DstPort = binary.BigEndian.Uint16(b[ihl:]), binary.BigEndian.Uint16(b[ihl+2:])
	}
	return true
}

// quoted6 reads the IPv6 header (and ports) an ICMPv6 error quotes.
func quoted6(b []byte, t *flowmeter.Tuple) bool {
	if b[0]>>4 != 6 {
		return false
	}
	t.Proto = b[6]
	t.Src = netip.AddrFrom16([16]byte(b[8:24])).Unmap()
	t.Dst = netip.AddrFrom16([16]byte(b[24:40])).Unmap()
	if len(b) >= 44 && (t.Proto == event.ProtoTCP || t.Proto == event.ProtoUDP) {
		t.SrcPort, t.DstPort = binary.BigEndian.Uint16(b[40:]), binary.BigEndian.Uint16(b[42:])
	}
	return true
}
