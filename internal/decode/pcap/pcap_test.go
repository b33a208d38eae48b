package pcap_test

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"picket/internal/decode/pcap"
	"picket/internal/decode/vpcflow"
	"picket/internal/event"
	"picket/internal/flowmeter"
	"picket/internal/topology"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// The lab of the golden tests: web1 takes SSH from anywhere and anything
// from the VPC; db1 takes PostgreSQL from the VPC only and ICMP.
const labTopology = `{
  "account": "123456789012", "region": "us-east-1", "vpc": "vpc-0a1b2c3d4e5f60001",
  "interfaces": [
    {"id": "eni-0a00000000000010", "instance": "i-0a00000000000010", "subnet": "subnet-0a0000000000000a1",
     "type": "interface", "name": "web1", "addresses": ["10.0.1.10"], "public": ["198.51.100.10"],
     "ingress": [{"proto": "tcp", "from_port": 22, "to_port": 22, "cidr": "0.0.0.0/0"},
                 {"proto": "icmp", "cidr": "10.0.0.0/16"},
                 {"proto": "all", "cidr": "10.0.0.0/16"}],
     "egress": [{"proto": "all", "cidr": "0.0.0.0/0"}]},
    {"id": "eni-0a00000000000020", "instance": "i-0a00000000000020", "subnet": "subnet-0a0000000000000a2",
     "name": "db1", "addresses": ["10.0.2.20"],
     "ingress": [{"proto": "tcp", "from_port": 5432, "to_port": 5432, "cidr": "10.0.0.0/16"},
                 {"proto": "udp", "from_port": 53, "to_port": 53, "cidr": "10.0.0.0/16"},
                 {"proto": "icmp", "cidr": "0.0.0.0/0"}],
     "egress": [{"proto": "all", "cidr": "0.0.0.0/0"}]}
  ]
}`

func lab(t testing.TB) *topology.Topology {
	t.Helper()
	top, err := topology.Decode(strings.NewReader(labTopology))
	if err != nil {
		t.Fatal(err)
	}
	return top
}

// Addresses of the lab.
var (
	web1     = net.IPv4(10, 0, 1, 10).To4()
	db1      = net.IPv4(10, 0, 2, 20).To4()
	attacker = net.IPv4(203, 0, 113, 5).To4()
)

// base is the capture's first second: a minute boundary plus 50 s, so
// that traffic crosses into the next window.
var base = time.Unix(1700000040+50, 0).UTC()

type pkt struct {
	at   time.Duration
	data []byte
}

// tcpPkt builds an Ethernet/IPv4/TCP frame with payload bytes.
func tcpPkt(t testing.TB, at time.Duration, src, dst net.IP, sp, dp uint16, flags string, payload int) pkt {
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), Window: 512}
	for _, f := range flags {
		switch f {
		case 'S':
			tcp.SYN = true
		case 'A':
			tcp.ACK = true
		case 'F':
			tcp.FIN = true
		case 'R':
			tcp.RST = true
		case 'P':
			tcp.PSH = true
		}
	}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
	tcp.SetNetworkLayerForChecksum(ip)
	return frame(t, at, ip, tcp, gopacket.Payload(make([]byte, payload)))
}

func udpPkt(t testing.TB, at time.Duration, src, dst net.IP, sp, dp uint16, payload int) pkt {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src, DstIP: dst}
	udp := &layers.UDP{SrcPort: layers.UDPPort(sp), DstPort: layers.UDPPort(dp)}
	udp.SetNetworkLayerForChecksum(ip)
	return frame(t, at, ip, udp, gopacket.Payload(make([]byte, payload)))
}

// icmpPkt builds an ICMP message; quote, if set, is the packet an error
// message quotes (its IP header and first 8 bytes).
func icmpPkt(t testing.TB, at time.Duration, src, dst net.IP, typ, code uint8, quote []byte) pkt {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: src, DstIP: dst}
	icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code), Id: 7, Seq: 1}
	payload := quote
	if payload == nil {
		payload = make([]byte, 32)
	}
	return frame(t, at, ip, icmp, gopacket.Payload(payload))
}

func frame(t testing.TB, at time.Duration, ls ...gopacket.SerializableLayer) pkt {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, append([]gopacket.SerializableLayer{eth}, ls...)...); err != nil {
		t.Fatal(err)
	}
	return pkt{at: at, data: append([]byte(nil), buf.Bytes()...)}
}

// ipOf returns the IP packet inside an Ethernet frame.
func ipOf(p pkt) []byte { return p.data[14:] }

// capture returns ps as a pcap (or pcapng) file.
func capture(t testing.TB, ps []pkt, snaplen int, ng bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	var write func(gopacket.CaptureInfo, []byte) error
	var flush func() error
	if ng {
		w, err := pcapgo.NewNgWriter(&buf, layers.LinkTypeEthernet)
		if err != nil {
			t.Fatal(err)
		}
		write, flush = w.WritePacket, w.Flush
	} else {
		w := pcapgo.NewWriter(&buf)
		if err := w.WriteFileHeader(uint32(snaplen), layers.LinkTypeEthernet); err != nil {
			t.Fatal(err)
		}
		write, flush = w.WritePacket, func() error { return nil }
	}
	for _, p := range ps {
		data := p.data
		if len(data) > snaplen {
			data = data[:snaplen]
		}
		if err := write(gopacket.CaptureInfo{Timestamp: base.Add(p.at), CaptureLength: len(data), Length: len(p.data)}, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// scenarios are the golden cases: the packets of one exchange each.
func scenarios(t testing.TB) map[string][]pkt {
	s := time.Second
	ms := time.Millisecond
	syn := tcpPkt(t, 0, attacker, web1, 40000, 23, "S", 0)
	udpProbe := udpPkt(t, 0, web1, db1, 41000, 161, 20)
	return map[string][]pkt{
		// A session to SSH: handshake, data both ways, FIN both ways.
		"tcp-session": {
			tcpPkt(t, 0, attacker, web1, 50000, 22, "S", 0),
			tcpPkt(t, 1*ms, web1, attacker, 22, 50000, "SA", 0),
			tcpPkt(t, 2*ms, attacker, web1, 50000, 22, "A", 0),
			tcpPkt(t, 3*ms, attacker, web1, 50000, 22, "PA", 300),
			tcpPkt(t, 4*ms, web1, attacker, 22, 50000, "PA", 1200),
			tcpPkt(t, 5*ms, attacker, web1, 50000, 22, "FA", 0),
			tcpPkt(t, 6*ms, web1, attacker, 22, 50000, "FA", 0),
			tcpPkt(t, 7*ms, attacker, web1, 50000, 22, "A", 0),
		},
		// web1 to db1: both interfaces record it, each its own direction.
		"tcp-closed-port": {
			tcpPkt(t, 0, web1, db1, 42000, 5432, "S", 0),
			tcpPkt(t, 1*ms, db1, web1, 5432, 42000, "RA", 0),
		},
		// The internet to web1's telnet: the security group drops the SYN
		// and its retry, and nothing answers.
		"sg-reject": {syn, tcpPkt(t, 1*s, attacker, web1, 40000, 23, "S", 0)},
		"udp-exchange": {
			udpPkt(t, 0, web1, db1, 41000, 53, 40),
			udpPkt(t, 2*ms, db1, web1, 53, 41000, 120),
		},
		// UDP from db1 to a closed port of web1 (whose group allows all
		// from the VPC): web1 answers port unreachable.
		"udp-unreachable": {
			udpPkt(t, 0, db1, web1, 41001, 161, 20),
			icmpPkt(t, 1*ms, web1, db1, 3, 3, ipOf(udpPkt(t, 0, db1, web1, 41001, 161, 20))[:28]),
		},
		// UDP from web1 to db1's SNMP, which db1's group does not allow.
		"udp-rejected": {udpProbe},
		"icmp-echo": {
			icmpPkt(t, 0, web1, db1, 8, 0, nil),
			icmpPkt(t, 1*ms, db1, web1, 0, 0, nil),
		},
		// An ACK probe from a VPC address: no flags reported, RST back.
		"ack-probe": {
			tcpPkt(t, 0, db1, web1, 43000, 80, "A", 0),
			tcpPkt(t, 1*ms, web1, db1, 80, 43000, "R", 0),
		},
		// A session across a minute boundary: two records per direction.
		"window-crossing": {
			tcpPkt(t, 0, web1, db1, 44000, 5432, "S", 0),
			tcpPkt(t, 1*ms, db1, web1, 5432, 44000, "SA", 0),
			tcpPkt(t, 2*ms, web1, db1, 44000, 5432, "A", 0),
			tcpPkt(t, 5*s, web1, db1, 44000, 5432, "PA", 100),
			tcpPkt(t, 15*s, db1, web1, 5432, 44000, "PA", 1000),
			tcpPkt(t, 16*s, web1, db1, 44000, 5432, "FA", 0),
			tcpPkt(t, 16*s+ms, db1, web1, 5432, 44000, "FA", 0),
		},
	}
}

var v5, _ = vpcflow.ParseFormat("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr region az-id sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path")

// readAll decodes a capture into its records and errors.
func readAll(t testing.TB, data []byte, cfg flowmeter.Config) ([]event.Flow, []error, *pcap.Reader) {
	t.Helper()
	r, err := pcap.NewReader(bytes.NewReader(data), "test.pcap", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out []event.Flow
	var errs []error
	for {
		var f event.Flow
		err := r.Next(&f)
		if errors.Is(err, io.EOF) {
			break
		}
		var pe *pcap.PacketError
		if errors.As(err, &pe) {
			errs = append(errs, err)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
	return out, errs, r
}

func render(fs []event.Flow) string {
	var b []byte
	b = append(b, v5.String()...)
	b = append(b, '\n')
	for i := range fs {
		b = vpcflow.AppendFlow(b, v5, &fs[i])
		b = append(b, '\n')
	}
	return string(b)
}

func TestGolden(t *testing.T) {
	for name, ps := range scenarios(t) {
		t.Run(name, func(t *testing.T) {
			for _, ng := range []bool{false, true} {
				recs, errs, _ := readAll(t, capture(t, ps, 128, ng), flowmeter.Config{Topology: lab(t)})
				if len(errs) > 0 {
					t.Fatalf("errors: %v", errs)
				}
				got := render(recs)
				path := filepath.Join("testdata", name+".golden")
				if *update && !ng {
					if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(string(want), got); diff != "" {
					t.Errorf("pcapng=%v: records differ from %s (-want +got):\n%s", ng, path, diff)
				}
			}
		})
	}
}

// TestSemantics checks the golden outputs' key properties in code, so a
// careless -update cannot bless a regression.
func TestSemantics(t *testing.T) {
	sc := scenarios(t)
	get := func(name string, cfg flowmeter.Config) []event.Flow {
		if cfg.Topology == nil {
			cfg.Topology = lab(t)
		}
		recs, errs, _ := readAll(t, capture(t, sc[name], 128, false), cfg)
		if len(errs) > 0 {
			t.Fatalf("%s: %v", name, errs)
		}
		return recs
	}
	type rec struct {
		Iface, Src     string
		SrcPort, DPort uint16
		Packets        uint64
		Flags          uint8
		Action         string
		Dir            string
	}
	short := func(fs []event.Flow) []rec {
		var out []rec
		for _, f := range fs {
			out = append(out, rec{f.Interface.String(), f.Src.String(), f.SrcPort, f.DstPort, f.Packets, f.TCPFlags, f.Action.String(), f.Direction.String()})
		}
		return out
	}
	const w, d = "eni-0a00000000000010", "eni-0a00000000000020"
	cases := []struct {
		name string
		cfg  flowmeter.Config
		want []rec
	}{
		{"tcp-session", flowmeter.Config{}, []rec{
			{w, "10.0.1.10", 22, 50000, 3, 19, "ACCEPT", "OUTBOUND"},
			{w, "203.0.113.5", 50000, 22, 5, 3, "ACCEPT", "INBOUND"},
		}},
		{"sg-reject", flowmeter.Config{}, []rec{{w, "203.0.113.5", 40000, 23, 2, 2, "REJECT", "INBOUND"}}},
		{"tcp-closed-port", flowmeter.Config{Interface: d}, []rec{
			{d, "10.0.1.10", 42000, 5432, 1, 2, "ACCEPT", "INBOUND"},
			{d, "10.0.2.20", 5432, 42000, 1, 4, "ACCEPT", "OUTBOUND"},
		}},
		{"ack-probe", flowmeter.Config{Interface: w}, []rec{
			{w, "10.0.1.10", 80, 43000, 1, 4, "ACCEPT", "OUTBOUND"},
			{w, "10.0.2.20", 43000, 80, 1, 0, "ACCEPT", "INBOUND"},
		}},
		{"udp-rejected", flowmeter.Config{Interface: d}, []rec{{d, "10.0.1.10", 41000, 161, 1, 0, "REJECT", "INBOUND"}}},
		{"udp-unreachable", flowmeter.Config{Interface: w}, []rec{
			{w, "10.0.1.10", 0, 0, 1, 0, "ACCEPT", "OUTBOUND"},
			{w, "10.0.2.20", 41001, 161, 1, 0, "ACCEPT", "INBOUND"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if diff := cmp.Diff(c.want, short(get(c.name, c.cfg))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	t.Run("window-crossing", func(t *testing.T) {
		recs := get("window-crossing", flowmeter.Config{Interface: w})
		if len(recs) != 4 {
			t.Fatalf("want 4 records (2 per direction, 2 windows), got %d:\n%s", len(recs), render(recs))
		}
		for i := 1; i < len(recs); i++ {
			if recs[i].End < recs[i-1].End {
				t.Errorf("records out of end-time order:\n%s", render(recs))
			}
		}
		for _, f := range recs {
			if f.Start/60 != f.End/60 {
				t.Errorf("record spans windows: %d-%d", f.Start, f.End)
			}
		}
	})
	t.Run("no-topology", func(t *testing.T) {
		recs, _, _ := readAll(t, capture(t, sc["sg-reject"], 128, false), flowmeter.Config{})
		if len(recs) != 1 || recs[0].Interface.String() != flowmeter.AutoID(recs[0].Dst) || recs[0].Action != event.Accept {
			t.Errorf("without a topology the private side records and accepts:\n%s", render(recs))
		}
	})
}

// TestSnaplen checks that bytes come from the IP header, not the
// captured length.
func TestSnaplen(t *testing.T) {
	ps := scenarios(t)["tcp-session"]
	full, _, _ := readAll(t, capture(t, ps, 65535, false), flowmeter.Config{Topology: lab(t)})
	cut, _, _ := readAll(t, capture(t, ps, 60, false), flowmeter.Config{Topology: lab(t)})
	if diff := cmp.Diff(render(full), render(cut)); diff != "" {
		t.Errorf("a 60-byte snap length changed the records:\n%s", diff)
	}
}

// TestBadPackets checks that a corrupt packet is a counted error naming
// the packet and field, and that the packets around it are kept.
func TestBadPackets(t *testing.T) {
	ps := scenarios(t)["udp-exchange"]
	bad := append([]byte(nil), ps[0].data...)
	bad[14] = 0x41 // IPv4 with a 4-byte header
	arp := frame(t, 0, &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		SourceHwAddress: []byte{2, 0, 0, 0, 0, 1}, SourceProtAddress: []byte{10, 0, 1, 10}, DstHwAddress: make([]byte, 6), DstProtAddress: []byte{10, 0, 2, 20}})
	arp.data[12], arp.data[13] = 0x08, 0x06
	in := []pkt{ps[0], arp, {at: 1, data: bad}, ps[1]}
	recs, errs, r := readAll(t, capture(t, in, 128, false), flowmeter.Config{Topology: lab(t)})
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "test.pcap: packet 3: ipv4.ihl") {
		t.Errorf("errors = %v, want one naming packet 3 and ipv4.ihl", errs)
	}
	if s := r.Stats(); s.NonIP != 1 || s.Errors != 1 || s.Frames != 4 {
		t.Errorf("stats = %+v", s)
	}
	if len(recs) != 4 {
		t.Errorf("want the 4 records of the good packets, got:\n%s", render(recs))
	}
}
