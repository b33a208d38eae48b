package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"picket/internal/decode/pcap"
	"picket/internal/decode/vpcflow"
	"picket/internal/event"
	"picket/internal/flowmeter"
	"picket/internal/topology"
)

const convertTopology = `{"account": "123456789012", "region": "eu-west-1", "vpc": "vpc-0a1b2c3d4e5f60001",
 "interfaces": [{"id": "eni-0a00000000000010", "instance": "i-0a00000000000010", "subnet": "subnet-0a0000000000000a1",
   "name": "web1", "addresses": ["10.0.1.10"],
   "ingress": [{"proto": "tcp", "from_port": 22, "to_port": 22, "cidr": "0.0.0.0/0"}], "egress": null}]}`

// testCapture writes a pcap of a scan of web1 from the internet over
// three minutes: SYNs to ports 20 to 99 (22 answered, the rest dropped
// by the security group), UDP and ICMP probes.
func testCapture(t *testing.T, path string) {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(128, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	web1, scanner := net.IPv4(10, 0, 1, 10).To4(), net.IPv4(198, 51, 100, 7).To4()
	start := time.Unix(1700000000, 0)
	add := func(at time.Duration, src, dst net.IP, l4 gopacket.SerializableLayer, proto layers.IPProtocol) {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: src, DstIP: dst}
		if c, ok := l4.(interface {
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}); ok {
			c.SetNetworkLayerForChecksum(ip)
		}
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		sb := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, l4, gopacket.Payload(make([]byte, 10))); err != nil {
			t.Fatal(err)
		}
		data := sb.Bytes()
		keep := data[:min(len(data), 128)]
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: start.Add(at), CaptureLength: len(keep), Length: len(data)}, keep); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 80 {
		at := time.Duration(i) * 2 * time.Second
		port := layers.TCPPort(20 + i)
		add(at, scanner, web1, &layers.TCP{SrcPort: 40000, DstPort: port, SYN: true}, layers.IPProtocolTCP)
		if port == 22 {
			add(at+time.Millisecond, web1, scanner, &layers.TCP{SrcPort: port, DstPort: 40000, SYN: true, ACK: true}, layers.IPProtocolTCP)
			add(at+2*time.Millisecond, scanner, web1, &layers.TCP{SrcPort: 40000, DstPort: port, RST: true}, layers.IPProtocolTCP)
		}
		add(at+time.Second, scanner, web1, &layers.UDP{SrcPort: 40001, DstPort: layers.UDPPort(port)}, layers.IPProtocolUDP)
		add(at+time.Second, scanner, web1, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)}, layers.IPProtocolICMPv4)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestConvertRoundTrip converts a capture to v2 and v5 text and decodes
// the text: the records equal the converter's, for the fields each
// format holds.
func TestConvertRoundTrip(t *testing.T) {
	dir := t.TempDir()
	in, topo := filepath.Join(dir, "scan.pcap"), filepath.Join(dir, "topology.json")
	testCapture(t, in)
	if err := os.WriteFile(topo, []byte(convertTopology), 0o644); err != nil {
		t.Fatal(err)
	}
	top, err := topology.Load(topo)
	if err != nil {
		t.Fatal(err)
	}
	// The converter's records, straight from the reader.
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcap.NewReader(f, in, flowmeter.Config{Topology: top})
	if err != nil {
		t.Fatal(err)
	}
	var want []event.Flow
	for {
		var fl event.Flow
		if err := r.Next(&fl); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		want = append(want, fl)
	}
	if len(want) < 100 {
		t.Fatalf("only %d records", len(want))
	}
	for _, format := range []string{"v2", "v5"} {
		t.Run(format, func(t *testing.T) {
			out := filepath.Join(dir, format+".log")
			code, _, stderr := runCLI(t, "", "convert", "--format", format, "--topology", topo, "--out", out, in)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			text, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			vr := vpcflow.NewReader(bytes.NewReader(text), out, nil)
			var got []event.Flow
			for {
				var fl event.Flow
				if err := vr.Next(&fl); errors.Is(err, io.EOF) {
					break
				} else if err != nil {
					t.Fatal(err)
				}
				got = append(got, fl)
			}
			format := vr.Decoder().Format()
			exp := make([]event.Flow, len(want))
			for i, w := range want {
				exp[i] = only(format, w)
				exp[i].Version = uint8(max(format.Version(), 2))
				got[i].Origin = event.Origin{}
				got[i] = only(format, got[i])
			}
			if len(got) != len(exp) {
				t.Fatalf("decoded %d records, the converter gave %d", len(got), len(exp))
			}
			all, _ := vpcflow.ParseFormat(v5Format)
			for i := range exp {
				if exp[i] != got[i] {
					t.Errorf("record %d differs:\nconverter %s\ndecoded   %s\n%+v\n%+v", i, vpcflow.AppendFlow(nil, all, &exp[i]), vpcflow.AppendFlow(nil, all, &got[i]), exp[i], got[i])
				}
			}
			if !strings.HasPrefix(string(text), format.String()+"\n") {
				t.Errorf("no header line")
			}
		})
	}
}

// only keeps the fields of f that format holds.
func only(format vpcflow.Format, f event.Flow) event.Flow {
	var o event.Flow
	o.Version, o.Account, o.Interface = f.Version, f.Account, f.Interface
	o.Src, o.Dst, o.SrcPort, o.DstPort, o.Protocol = f.Src, f.Dst, f.SrcPort, f.DstPort, f.Protocol
	o.Packets, o.Bytes, o.Start, o.End, o.Action, o.Status = f.Packets, f.Bytes, f.Start, f.End, f.Action, f.Status
	o.Has = f.Has &^ (event.HasTCPFlags | event.HasTrafficPath)
	if format.Has(vpcflow.FieldVPCID) {
		o.VPC, o.Subnet, o.Instance, o.TCPFlags, o.Type, o.PktSrc, o.PktDst, o.Region = f.VPC, f.Subnet, f.Instance, f.TCPFlags, f.Type, f.PktSrc, f.PktDst, f.Region
		o.Direction, o.Basis, o.TrafficPath = f.Direction, f.Basis, f.TrafficPath
		o.Has = f.Has
	}
	return o
}

// TestConvertS3Layout writes the S3 delivery layout and reads it back
// through analyze's path expansion.
func TestConvertS3Layout(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "scan.pcap")
	testCapture(t, in)
	out := filepath.Join(dir, "out")
	code, _, stderr := runCLI(t, "", "convert", "--layout", "s3", "--format", "v5", "--out", out, in)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	objs, _ := filepath.Glob(filepath.Join(out, "AWSLogs", "000000000000", "vpcflowlogs", "us-east-1", "2023", "11", "14", "000000000000_vpcflowlogs_us-east-1_fl-*_2023111*Z_*.log.gz"))
	if len(objs) == 0 {
		t.Fatalf("no S3 layout objects under %s", out)
	}
}
