package all

import (
	"cmp"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"picket/internal/event"
)

var dnsFlowWorldOnce = sync.OnceValue(makeDNSFlowWorld)

// dnsFlowWorld is the input of the flow-based DNS detector.
func dnsFlowWorld(*testing.T) *world { return dnsFlowWorldOnce() }

// makeDNSFlowWorld is twenty minutes of version 5 flow records of a few
// instances: lookups through the VPC's resolver, a resolver instance that
// answers its clients and forwards to a public server, ordinary HTTPS,
// and the evasions: plain DNS to a public resolver, DNS over HTTPS to a
// public DoH resolver (IPv4 and IPv6) and DNS over TLS. The flood is
// distinct interfaces each querying a distinct public resolver.
func makeDNSFlowWorld() *world {
	acct, region, vpc := event.Intern("123456789012"), event.Intern("us-east-1"), event.Intern("vpc-0dnsflow")
	t0 := event.TimeOf(time.Date(2026, 3, 5, 12, 0, 0, 0, time.UTC))
	file := event.Intern("dnsflow.log")
	// conv appends a conversation's two records, as its interface logs
	// them: the request out and the answer back, packets and bytes each.
	conv := func(out *[]event.Record, t event.Time, eni, inst string, local, remote netip.Addr, lport, rport uint16, proto uint8,
		inbound bool, pk, by uint64) {
		iface, instance := event.Intern(eni), event.Intern(inst)
		add := func(src, dst netip.Addr, sp, dp uint16, dir event.Direction, flags uint8) {
			f := &event.Flow{Origin: event.Origin{File: file, Line: int64(len(*out) + 1)}, Version: 5,
				Account: acct, Region: region, VPC: vpc, Interface: iface, Instance: instance,
				Src: src, Dst: dst, SrcPort: sp, DstPort: dp, Protocol: proto, Packets: pk, Bytes: by,
				Start: t, End: t + 2, Action: event.Accept, Status: event.StatusOK, Direction: dir, Basis: event.BasisField,
				Has: event.HasStart | event.HasEnd | event.HasPackets | event.HasBytes | event.HasSrcPort | event.HasDstPort | event.HasProtocol}
			if proto == event.ProtoTCP {
				f.TCPFlags, f.Has = flags, f.Has|event.HasTCPFlags
			}
			*out = append(*out, f)
		}
		// A whole connection, each side's flags OR-ed.
		const flags = event.TCPSyn | event.TCPAck | event.TCPPsh | event.TCPFin
		if inbound {
			add(remote, local, rport, lport, event.Inbound, flags)
			add(local, remote, lport, rport, event.Outbound, flags)
			return
		}
		add(local, remote, lport, rport, event.Outbound, flags)
		add(remote, local, rport, lport, event.Inbound, flags)
	}
	addr := netip.MustParseAddr
	var input []event.Record
	web, app, dns := addr("10.0.1.10"), addr("10.0.1.11"), addr("10.0.2.53")
	web6 := addr("2600:1f18:1234::10")
	for i := range 240 {
		t := t0 + event.Time(i*5)
		port := uint16(40000 + i)
		// Lookups through the VPC's resolver and its link-local address.
		conv(&input, t, "eni-0web", "i-0web", web, addr("10.0.0.2"), port, 53, event.ProtoUDP, false, 1, 80)
		conv(&input, t, "eni-0app", "i-0app", app, addr("169.254.169.253"), port, 53, event.ProtoUDP, false, 1, 80)
		switch {
		case i%6 == 0:
			// The app server asks the resolver instance, which asks a
			// public server.
			conv(&input, t, "eni-0dns", "i-0dns", dns, app, 53, port, event.ProtoUDP, true, 1, 80)
			conv(&input, t, "eni-0dns", "i-0dns", dns, addr("192.0.2.53"), port, 53, event.ProtoUDP, false, 1, 90)
		case i%10 == 1:
			// Ordinary HTTPS, and HTTPS to an address next to a DoH
			// resolver's.
			conv(&input, t, "eni-0web", "i-0web", web, addr("93.184.216.34"), port, 443, event.ProtoTCP, false, 12, 4000)
			conv(&input, t, "eni-0web", "i-0web", web, addr("1.1.1.9"), port, 443, event.ProtoTCP, false, 12, 4000)
		case i%17 == 3:
			// Plain DNS to a public resolver, UDP and TCP.
			conv(&input, t, "eni-0app", "i-0app", app, addr("8.8.8.8"), port, 53, event.ProtoUDP, false, 1, 80)
			if i%2 == 1 {
				conv(&input, t, "eni-0app", "i-0app", app, addr("8.8.4.4"), port, 53, event.ProtoTCP, false, 8, 900)
			}
		case i%23 == 5:
			// DNS over HTTPS, over IPv4 and IPv6.
			conv(&input, t, "eni-0web", "i-0web", web, addr("1.1.1.1"), port, 443, event.ProtoTCP, false, 14, 3000)
			conv(&input, t, "eni-0web", "i-0web", web6, addr("2606:4700:4700::1111"), port, 443, event.ProtoTCP, false, 14, 3000)
		case i%29 == 7:
			// DNS over TLS.
			conv(&input, t, "eni-0app", "i-0app", app, addr("9.9.9.9"), port, 853, event.ProtoTCP, false, 10, 2000)
		}
	}
	slices.SortStableFunc(input, func(a, b event.Record) int { return cmp.Compare(a.Time(), b.Time()) })
	var flood []event.Record
	n := 10 * conformanceMaxKeys
	for i := range n {
		t := t0 + event.Time(i*120/n)
		eni := "eni-0f" + netip.AddrFrom4([4]byte{10, 3, byte(i >> 8), byte(i)}).String()
		local := netip.AddrFrom4([4]byte{10, 3, byte(i >> 8), byte(i)})
		remote := netip.AddrFrom4([4]byte{203, 0, byte(113 + i>>8), byte(i)})
		conv(&flood, t, eni, "", local, remote, 50000, 53, event.ProtoUDP, false, 1, 80)
		if i%2 == 0 {
			// Half the interfaces answer a query too: the servers
			// table fills.
			conv(&flood, t, eni, "", local, addr("10.9.9.9"), 53, 50001, event.ProtoUDP, true, 1, 80)
		}
	}
	return &world{input: input, flood: flood, intel: conformanceIntel}
}
