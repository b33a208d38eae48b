package intel

import "net/netip"

// Bogons: networks that are never the public address of a remote host.
// A threat or Tor list entry in one of them would turn an instance's
// traffic with its own neighbours (an internal scan, a health check) into
// threat findings, so such entries are refused unless the list allows
// them (Spec.AllowPrivate). Trusted lists may hold them: trusting a VPC's
// own ranges is normal. The documentation networks (192.0.2.0/24,
// 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) are not bogons here:
// examples and tests use them as stand-ins for public addresses.

// bogon is one refused network, with its first and last address.
type bogon struct {
	lo, hi netip.Addr
	prefix netip.Prefix
	what   string // private, loopback, link-local, multicast, reserved
	note   string // which of them, or ""
}

// bogonNets returns the refused networks, IPv4 then IPv6, from the IANA
// special-purpose registries.
func bogonNets() []bogon {
	nets := []struct{ p, what, note string }{
		{"0.0.0.0/8", "reserved", "this network"},
		{"10.0.0.0/8", "private", ""},
		{"100.64.0.0/10", "private", "carrier-grade NAT"},
		{"127.0.0.0/8", "loopback", ""},
		{"169.254.0.0/16", "link-local", ""},
		{"172.16.0.0/12", "private", ""},
		{"192.0.0.0/24", "reserved", "IETF protocol assignments"},
		{"192.168.0.0/16", "private", ""},
		{"198.18.0.0/15", "reserved", "benchmarking"},
		{"224.0.0.0/4", "multicast", ""},
		{"240.0.0.0/4", "reserved", ""},
		{"::/127", "reserved", "unspecified and loopback"},
		{"64:ff9b:1::/48", "private", "local-use NAT64"},
		{"100::/64", "reserved", "discard-only"},
		{"fc00::/7", "private", "unique local"},
		{"fe80::/10", "link-local", ""},
		{"ff00::/8", "multicast", ""},
	}
	out := make([]bogon, len(nets))
	for i, n := range nets {
		p := netip.MustParsePrefix(n.p)
		out[i] = bogon{lo: p.Addr(), hi: lastAddr(p), prefix: p, what: n.what, note: n.note}
	}
	return out
}

// bogonOf returns the first refused network that the entry overlaps, or
// false. Only addresses, networks and ranges can.
func bogonOf(nets []bogon, ind indicator) (bogon, bool) {
	var lo, hi netip.Addr
	switch ind.kind {
	case indAddr:
		lo = ind.prefix.Addr()
		hi = lo
	case indPrefix:
		lo, hi = ind.prefix.Addr(), lastAddr(ind.prefix)
	case indRange:
		lo, hi = ind.lo, ind.hi
	default:
		return bogon{}, false
	}
	for _, b := range nets {
		if b.lo.Is4() == lo.Is4() && !hi.Less(b.lo) && !b.hi.Less(lo) {
			return b, true
		}
	}
	return bogon{}, false
}

// refusedReason says why an entry was refused.
func refusedReason(b bogon) string {
	r := "in " + b.what + " network " + b.prefix.String()
	if b.note != "" {
		r += " (" + b.note + ")"
	}
	return r
}
