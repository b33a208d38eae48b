package event

import (
	"net/netip"
	"unsafe"
)

// ParseAddr parses an IPv4 or IPv6 address from the bytes of a record
// without allocating. IPv4, by far the most common, takes a fast path
// that rejects leading zeros as netip does; IPv4-mapped IPv6 addresses
// are unmapped so that one host has one key.
func ParseAddr(b []byte) (netip.Addr, bool) {
	if a, ok := parseIPv4(b); ok {
		return a, true
	}
	for _, c := range b {
		if c == ':' {
			// netip keeps nothing of the string (a zone is copied when
			// interned), so a view of b is safe here.
			a, err := netip.ParseAddr(unsafe.String(unsafe.SliceData(b), len(b))) //nolint:gosec // read-only view of b for parsing
			if err != nil {
				return netip.Addr{}, false
			}
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

func parseIPv4(b []byte) (netip.Addr, bool) {
	var ip [4]byte
	octet, val, digits := 0, 0, 0
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			if digits == 1 && val == 0 {
				return netip.Addr{}, false // leading zero
			}
			val = val*10 + int(c-'0')
			digits++
			if val > 255 {
				return netip.Addr{}, false
			}
		case c == '.':
			if digits == 0 || octet == 3 {
				return netip.Addr{}, false
			}
			ip[octet] = byte(val)
			octet++
			val, digits = 0, 0
		default:
			return netip.Addr{}, false
		}
	}
	if octet != 3 || digits == 0 {
		return netip.Addr{}, false
	}
	ip[3] = byte(val)
	return netip.AddrFrom4(ip), true
}
