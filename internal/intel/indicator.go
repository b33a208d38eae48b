package intel

import (
	"bytes"
	"net/netip"
	"strconv"
)

// indicatorKind says what one list entry is.
type indicatorKind uint8

const (
	indAddr   indicatorKind = iota + 1 // one address
	indPrefix                          // a network in CIDR notation
	indRange                           // an inclusive range lo-hi
	indDomain                          // a domain and its subdomains
)

// indicator is one parsed entry.
type indicator struct {
	kind   indicatorKind
	prefix netip.Prefix // indAddr (as a /32 or /128) and indPrefix
	lo, hi netip.Addr   // indRange
	domain string       // indDomain, lowercase, without a trailing dot
	port   uint16       // a port given with the entry (ip:port, URL), or 0
}

// The reasons an entry is rejected, used in ParseError.
const (
	reasonEmpty      = "empty entry"
	reasonNotEntry   = "not an IP address, network, range, domain or URL"
	reasonBadPrefix  = "bad network"
	reasonBadRange   = "bad range"
	reasonZone       = "address with a zone"
	reasonNonASCII   = "non-ASCII domain (give it in punycode, xn--...)"
	reasonBadURL     = "URL without a host"
	reasonFamilyMix  = "range mixes IPv4 and IPv6"
	reasonRangeOrder = "range ends before it starts"
	// reasonPath marks a URL path without a host (maltrail's HTTP
	// trails): not an error, but nothing an address or name matches.
	reasonPath = "URL path without a host"
)

// parseIndicator parses one entry: an IPv4 or IPv6 address (optionally
// with :port, IPv6 as [addr]:port), a network (a/bits, or a/netmask for
// IPv4), a range (a-b), a URL (its host counts), or a domain (a leading
// "*." or "." is allowed and changes nothing: a domain always matches its
// subdomains). It returns the reason when s is none of these.
func parseIndicator(s []byte) (indicator, string) {
	s = bytes.TrimSpace(s)
	if len(s) == 0 {
		return indicator{}, reasonEmpty
	}
	if s[0] == '/' && (len(s) == 1 || s[1] != '/') {
		return indicator{}, reasonPath
	}
	if i := bytes.Index(s, []byte("://")); i > 0 && isScheme(s[:i]) {
		return parseURL(s[i+3:])
	}
	if i := bytes.IndexByte(s, '-'); i > 0 && looksNumeric(s) {
		// a-b, unless it is a domain made of hex letters (dead-beef.cafe)
		if ind, why := parseRange(s, i); why == "" || bytes.IndexByte(s, ':') >= 0 || looksAddr(s[:i]) {
			return ind, why
		}
	}
	if i := bytes.IndexByte(s, '/'); i >= 0 {
		rest := s[i+1:]
		if len(rest) > 0 && allDigitsOrDots(rest) {
			return parsePrefix(s[:i], rest)
		}
		// host/path without a scheme, as malware trails give them
		return parseURL(s)
	}
	return parseHost(s, true)
}

// parseHost parses an address, an address with a port, or a domain.
func parseHost(s []byte, allowPort bool) (indicator, string) {
	if len(s) == 0 {
		return indicator{}, reasonEmpty
	}
	if s[0] == '[' {
		// [v6] or [v6]:port
		j := bytes.IndexByte(s, ']')
		if j < 0 {
			return indicator{}, reasonNotEntry
		}
		a, err := netip.ParseAddr(string(s[1:j]))
		if err != nil || !a.Is6() {
			return indicator{}, reasonNotEntry
		}
		ind, why := addrIndicator(a)
		if why == "" && j+1 < len(s) {
			p, ok := parsePort(s[j+1:])
			if !ok || !allowPort {
				return indicator{}, reasonNotEntry
			}
			ind.port = p
		}
		return ind, why
	}
	if a, ok := parseAddr(s); ok {
		return addrIndicator(a)
	}
	if i := bytes.LastIndexByte(s, ':'); i > 0 && allowPort && bytes.IndexByte(s[:i], ':') < 0 {
		// host:port
		p, ok := parsePort(s[i:])
		if !ok {
			return indicator{}, reasonNotEntry
		}
		ind, why := parseHost(s[:i], false)
		ind.port = p
		return ind, why
	}
	if bytes.IndexByte(s, '%') >= 0 && bytes.IndexByte(s, ':') >= 0 {
		return indicator{}, reasonZone
	}
	return parseDomain(s)
}

func addrIndicator(a netip.Addr) (indicator, string) {
	if a.Zone() != "" {
		return indicator{}, reasonZone
	}
	a = unmap(a)
	return indicator{kind: indAddr, prefix: netip.PrefixFrom(a, a.BitLen())}, ""
}

// parsePort parses ":port".
func parsePort(s []byte) (uint16, bool) {
	if len(s) < 2 || s[0] != ':' {
		return 0, false
	}
	n, err := strconv.ParseUint(string(s[1:]), 10, 16)
	if err != nil {
		return 0, false
	}
	return uint16(n), true
}

func parsePrefix(addr, bits []byte) (indicator, string) {
	a, ok := parseAddr(bytes.TrimSpace(addr))
	if !ok {
		return indicator{}, reasonBadPrefix
	}
	if a.Zone() != "" {
		return indicator{}, reasonZone
	}
	var n int
	if bytes.IndexByte(bits, '.') >= 0 {
		// a dotted netmask: 192.0.2.0/255.255.255.0
		m, err := netip.ParseAddr(string(bits))
		if err != nil || !m.Is4() || !a.Unmap().Is4() {
			return indicator{}, reasonBadPrefix
		}
		n = maskBits(m.As4())
		if n < 0 {
			return indicator{}, reasonBadPrefix
		}
	} else {
		v, err := strconv.Atoi(string(bits))
		if err != nil {
			return indicator{}, reasonBadPrefix
		}
		n = v
	}
	if a.Is4In6() {
		// ::ffff:192.0.2.0/120 is 192.0.2.0/24
		if n < 96 {
			return indicator{}, reasonBadPrefix
		}
		a, n = a.Unmap(), n-96
	}
	if n < 0 || n > a.BitLen() {
		return indicator{}, reasonBadPrefix
	}
	p := netip.PrefixFrom(a, n).Masked()
	if n == a.BitLen() {
		return indicator{kind: indAddr, prefix: p}, ""
	}
	return indicator{kind: indPrefix, prefix: p}, ""
}

// maskBits returns the length of a contiguous netmask, or -1.
func maskBits(m [4]byte) int {
	v := uint32(m[0])<<24 | uint32(m[1])<<16 | uint32(m[2])<<8 | uint32(m[3])
	n := 0
	for v&0x80000000 != 0 {
		n++
		v <<= 1
	}
	if v != 0 {
		return -1
	}
	return n
}

func parseRange(s []byte, i int) (indicator, string) {
	lo, ok1 := parseAddr(bytes.TrimSpace(s[:i]))
	hi, ok2 := parseAddr(bytes.TrimSpace(s[i+1:]))
	if !ok1 || !ok2 {
		return indicator{}, reasonBadRange
	}
	if lo.Zone() != "" || hi.Zone() != "" {
		return indicator{}, reasonZone
	}
	lo, hi = unmap(lo), unmap(hi)
	if lo.Is4() != hi.Is4() {
		return indicator{}, reasonFamilyMix
	}
	if hi.Less(lo) {
		return indicator{}, reasonRangeOrder
	}
	if lo == hi {
		return indicator{kind: indAddr, prefix: netip.PrefixFrom(lo, lo.BitLen())}, ""
	}
	return indicator{kind: indRange, lo: lo, hi: hi}, ""
}

// parseURL takes the host of a URL whose scheme has been removed:
// [user@]host[:port][/path][?query][#fragment].
func parseURL(s []byte) (indicator, string) {
	end := len(s)
	for i, c := range s {
		if c == '/' || c == '?' || c == '#' {
			end = i
			break
		}
	}
	host := s[:end]
	if i := bytes.LastIndexByte(host, '@'); i >= 0 {
		host = host[i+1:]
	}
	if len(host) == 0 {
		return indicator{}, reasonBadURL
	}
	return parseHost(host, true)
}

// parseDomain validates and normalizes a domain name.
func parseDomain(s []byte) (indicator, string) {
	explicit := false // a leading "*." or "." marks a suffix on purpose
	switch {
	case bytes.HasPrefix(s, []byte("*.")):
		s, explicit = s[2:], true
	case len(s) > 0 && s[0] == '.':
		s, explicit = s[1:], true
	}
	// "192.0.2.1-0" is a broken range, not a name, and so is ".192.0.2.1-5"
	// once its suffix mark is gone: a name whose labels are an address and
	// a number could never be looked up.
	if i := bytes.IndexByte(s, '-'); i > 0 && looksNumeric(s) && looksAddr(s[:i]) {
		return indicator{}, reasonBadRange
	}
	if len(s) > 0 && s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	if len(s) == 0 || len(s) > 253 {
		return indicator{}, reasonNotEntry
	}
	labels, labelLen := 1, 0
	lastNumeric, numeric := true, true
	upper := false
	var prev byte
	for _, c := range s {
		if c == '-' && labelLen == 0 || c == '.' && prev == '-' {
			return indicator{}, reasonNotEntry // a label starts or ends with a hyphen
		}
		prev = c
		switch {
		case c == '.':
			if labelLen == 0 {
				return indicator{}, reasonNotEntry
			}
			labels++
			labelLen = 0
			numeric = true
			continue
		case c >= 'a' && c <= 'z', c == '-', c == '_':
			numeric = false
		case c >= 'A' && c <= 'Z':
			numeric, upper = false, true
		case c >= '0' && c <= '9':
		case c >= 0x80:
			return indicator{}, reasonNonASCII
		default:
			return indicator{}, reasonNotEntry
		}
		labelLen++
		if labelLen > 63 {
			return indicator{}, reasonNotEntry
		}
		lastNumeric = numeric
	}
	if labelLen == 0 || lastNumeric || prev == '-' {
		// an empty last label, or a numeric one: "1.2.3" is a broken
		// address, not a domain
		return indicator{}, reasonNotEntry
	}
	if labels < 2 && !explicit {
		return indicator{}, reasonNotEntry
	}
	d := string(s)
	if upper {
		d = string(bytes.ToLower(s))
	}
	return indicator{kind: indDomain, domain: d}, ""
}

func isScheme(s []byte) bool {
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return len(s) > 0
}

// looksNumeric reports whether s could be an address range: hex digits,
// dots, colons, dashes and spaces only (a domain has other letters).
func looksNumeric(s []byte) bool {
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F', c == '.', c == ':', c == '-', c == ' ', c == '\t':
		default:
			return false
		}
	}
	return bytes.IndexByte(s, '.') >= 0 || bytes.IndexByte(s, ':') >= 0
}

// looksAddr reports whether s, trimmed, parses as an address.
func looksAddr(s []byte) bool {
	_, ok := parseAddr(bytes.TrimSpace(s))
	return ok
}

// parseAddr parses an address. Dotted-quad IPv4, the bulk of every list,
// is parsed here without allocating (as net/netip does it: four decimal
// fields of at most three digits, no leading zeros); the rest goes to
// netip.ParseAddr.
func parseAddr(s []byte) (netip.Addr, bool) {
	if bytes.IndexByte(s, ':') >= 0 {
		a, err := netip.ParseAddr(string(s))
		return a, err == nil
	}
	var b [4]byte
	field, n, digits := 0, 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if digits > 0 && n == 0 {
				return netip.Addr{}, false // a leading zero
			}
			n = n*10 + int(c-'0')
			digits++
			if n > 255 {
				return netip.Addr{}, false
			}
		case c == '.':
			if digits == 0 || field == 3 {
				return netip.Addr{}, false
			}
			b[field] = byte(n)
			field, n, digits = field+1, 0, 0
		default:
			return netip.Addr{}, false
		}
	}
	if field != 3 || digits == 0 {
		return netip.Addr{}, false
	}
	b[3] = byte(n)
	return netip.AddrFrom4(b), true
}

func allDigitsOrDots(s []byte) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && c != '.' {
			return false
		}
	}
	return true
}

// rangePrefixes appends the fewest prefixes that cover [lo, hi] exactly.
func rangePrefixes(dst []netip.Prefix, lo, hi netip.Addr) []netip.Prefix {
	for {
		bits := lo.BitLen()
		for bits > 0 {
			p := netip.PrefixFrom(lo, bits-1)
			if p.Masked().Addr() != lo || hi.Less(lastAddr(p)) {
				break
			}
			bits--
		}
		p := netip.PrefixFrom(lo, bits)
		dst = append(dst, p)
		last := lastAddr(p)
		if last == hi {
			return dst
		}
		lo = last.Next()
		if !lo.IsValid() {
			return dst
		}
	}
}

// lastAddr returns the last address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr()
	if a.Is4() {
		b := a.As4()
		for i := p.Bits(); i < 32; i++ {
			b[i/8] |= 0x80 >> (i % 8)
		}
		return netip.AddrFrom4(b)
	}
	b := a.As16()
	for i := p.Bits(); i < 128; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom16(b)
}
