package synth_test

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"picket/internal/decode/vpcflow"
	"picket/internal/event"
	"picket/internal/synth"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var cmpFlow = cmp.Options{
	cmp.Comparer(func(a, b event.ID) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
}

// TestFlow checks the flow records that synth makes of its records: the
// fields it derives (direction, packet addresses, traffic path,
// encryption, interface type, address type) and the identifiers it names.
func TestFlow(t *testing.T) {
	app := &synth.Interface{ID: "eni-app", Instance: "i-app", Role: synth.RoleApp, VPC: "vpc-1", Subnet: "subnet-1", AZ: "use1-az1"}
	nat := &synth.Interface{ID: "eni-nat", Role: synth.RoleNAT, VPC: "vpc-1", Subnet: "subnet-2", AZ: "use1-az2"}
	lb := &synth.Interface{ID: "eni-lb", Role: synth.RoleLB, VPC: "vpc-1", Subnet: "subnet-2", AZ: "use1-az2"}
	a := netip.MustParseAddr
	acct, region := event.Intern("123456789012"), event.Intern("us-east-1")
	const all = event.HasVersion | event.HasSrcPort | event.HasDstPort | event.HasProtocol | event.HasPackets |
		event.HasBytes | event.HasStart | event.HasEnd | event.HasTCPFlags
	base := func(ifc *synth.Interface) event.Flow {
		f := event.Flow{
			Has: all, Version: 5, Account: acct, Region: region,
			Interface: event.Intern(ifc.ID), VPC: event.Intern(ifc.VPC), Subnet: event.Intern(ifc.Subnet),
			Instance: event.Intern(ifc.Instance), AZ: event.Intern(ifc.AZ),
			Type: event.AddrIPv4, Basis: event.BasisField, Direction: event.Inbound,
			Action: event.Accept, Status: event.StatusOK, Encryption: event.Intern("0"),
		}
		switch ifc.Role {
		case synth.RoleNAT:
			f.Meta.InterfaceType = event.Intern("nat_gateway")
		case synth.RoleLB:
			f.Meta.InterfaceType = event.Intern("network_load_balancer")
		}
		return f
	}
	tests := []struct {
		name string
		rec  synth.Record
		want func(f *event.Flow)
	}{
		{
			name: "inbound from the internet",
			rec: synth.Record{Iface: app, Src: a("203.0.113.9"), Dst: a("10.0.1.5"), SrcPort: 40000, DstPort: 443, Proto: 6,
				Packets: 3, Bytes: 180, Start: 100, End: 160, Action: event.Reject, Flags: 2, Status: event.StatusOK},
			want: func(f *event.Flow) {
				f.Src, f.Dst, f.PktSrc, f.PktDst = a("203.0.113.9"), a("10.0.1.5"), a("203.0.113.9"), a("10.0.1.5")
				f.SrcPort, f.DstPort, f.Protocol, f.Packets, f.Bytes, f.Start, f.End = 40000, 443, 6, 3, 180, 100, 160
				f.Action, f.TCPFlags = event.Reject, 2
			},
		},
		{
			name: "outbound between private addresses",
			rec: synth.Record{Iface: app, Src: a("10.0.1.5"), Dst: a("10.0.2.7"), SrcPort: 5432, DstPort: 50000, Proto: 6,
				Packets: 1, Bytes: 40, Start: 100, End: 100, Action: event.Accept, Egress: true, Path: 1, Status: event.StatusOK},
			want: func(f *event.Flow) {
				f.Src, f.Dst, f.PktSrc, f.PktDst = a("10.0.1.5"), a("10.0.2.7"), a("10.0.1.5"), a("10.0.2.7")
				f.SrcPort, f.DstPort, f.Protocol, f.Packets, f.Bytes, f.Start, f.End = 5432, 50000, 6, 1, 40, 100, 100
				f.Direction, f.Has, f.TrafficPath, f.Encryption = event.Outbound, all|event.HasTrafficPath, 1, event.Intern("1")
			},
		},
		{
			name: "through the NAT gateway",
			rec: synth.Record{Iface: nat, Src: a("198.51.100.4"), Dst: a("93.184.216.34"), PktSrc: a("10.0.3.3"), SrcPort: 1025, DstPort: 443,
				Proto: 6, Packets: 10, Bytes: 900, Start: 200, End: 230, Action: event.Accept, Egress: true, Path: 8, Status: event.StatusOK},
			want: func(f *event.Flow) {
				f.Src, f.Dst, f.PktSrc, f.PktDst = a("198.51.100.4"), a("93.184.216.34"), a("10.0.3.3"), a("93.184.216.34")
				f.SrcPort, f.DstPort, f.Protocol, f.Packets, f.Bytes, f.Start, f.End = 1025, 443, 6, 10, 900, 200, 230
				f.Direction, f.Has, f.TrafficPath = event.Outbound, all|event.HasTrafficPath, 8
			},
		},
		{
			name: "egress without a path, on the load balancer, over IPv6",
			rec: synth.Record{Iface: lb, Src: a("2001:db8::1"), Dst: a("2001:db8::2"), Proto: 58, Start: 300, End: 300,
				Action: event.Accept, Egress: true, Status: event.StatusOK},
			want: func(f *event.Flow) {
				f.Src, f.Dst, f.PktSrc, f.PktDst = a("2001:db8::1"), a("2001:db8::2"), a("2001:db8::1"), a("2001:db8::2")
				f.Protocol, f.Start, f.End = 58, 300, 300
				f.Direction, f.Type = event.Outbound, event.AddrIPv6
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := base(tt.rec.Iface)
			tt.want(&want)
			var got event.Flow
			tt.rec.Flow(&got, 5, acct, region)
			if d := cmp.Diff(want, got, cmpFlow); d != "" {
				t.Errorf("flow (-want +got):\n%s", d)
			}
		})
	}
}

// golden runs a short generation with a NAT gateway and a load balancer
// at work and returns its first records.
func golden(t *testing.T, n int) []synth.Record {
	t.Helper()
	cfg := synth.DefaultConfig
	cfg.Duration = 5 * 60e9
	for _, spec := range []string{
		"fanout from=worker port=443 hosts=20 nat=true over=2m",
		"healthcheck from=lb targets=web port=80 interval=30s down=web:1",
		"scan from=internet target=bastion:0 ports=top:10 timing=T4",
	} {
		a, err := synth.ParseAttack(spec)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Attacks = append(cfg.Attacks, a)
	}
	g, err := synth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var recs []synth.Record
	if err := g.Run(func(r synth.Record) {
		if len(recs) < n {
			recs = append(recs, r)
		}
	}); err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestGolden holds the text a Writer makes of generated records to
// testdata/writer.golden, in a format of every field synth sets and one it
// leaves absent. Run with -update to rewrite it after a deliberate change.
func TestGolden(t *testing.T) {
	format, err := vpcflow.ParseFormat("version account-id interface-id srcaddr dstaddr srcport dstport protocol " +
		"packets bytes start end action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr " +
		"region az-id sublocation-id flow-direction traffic-path encryption-status interface-type")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := &synth.Writer{Format: format, Header: true, Out: &buf, Account: synth.DefaultConfig.Account, Region: synth.DefaultConfig.Region}
	for _, r := range golden(t, 90) {
		if err := w.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join("testdata", "writer.golden")
	if *update {
		if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(string(want), buf.String()); d != "" {
		t.Errorf("writer output differs from %s (-want +got):\n%s", file, d)
	}
}

// TestRoundTrip checks that what a Writer writes, in every version,
// decodes to the flows that Record.Flow makes.
func TestRoundTrip(t *testing.T) {
	recs := golden(t, 400)
	acct, region := event.Intern(synth.DefaultConfig.Account), event.Intern(synth.DefaultConfig.Region)
	for v := 2; v <= 11; v++ {
		format, err := synth.FormatFor(v)
		if err != nil {
			t.Fatal(err)
		}
		dec := vpcflow.NewDecoder("roundtrip", &format)
		for i := range recs {
			line := synth.AppendRecord(nil, format, &recs[i], synth.DefaultConfig.Account, synth.DefaultConfig.Region)
			var got, want event.Flow
			if _, err := dec.Decode(line, &got); err != nil {
				t.Fatalf("version %d: %q: %v", v, line, err)
			}
			if v < 5 {
				continue // no flow-direction field: the decoded direction is unknown
			}
			recs[i].Flow(&want, max(format.Version(), 2), acct, region)
			want.Origin = got.Origin
			if v < 10 {
				want.Encryption = event.ID{}
			}
			if v < 11 {
				want.Meta = event.Metadata{}
			}
			if d := cmp.Diff(want, got, cmpFlow); d != "" {
				t.Fatalf("version %d: %q decodes differently (-flow +decoded):\n%s", v, line, d)
			}
		}
	}
}
