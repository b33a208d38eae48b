package dnsflow

import (
	"bytes"
	_ "embed" // the DoH resolver list
	"fmt"
	"net/netip"
	"strings"
)

// dohList is the list of public DNS-over-HTTPS resolvers shipped with the
// detector; see the file for its format and where the addresses come
// from.
//
//go:embed doh.txt
var dohList []byte

// resolver is one public DoH resolver of the list.
type resolver struct {
	Operator string // such as "Cloudflare"
	Service  string // the DoH service name, such as "cloudflare-dns.com"
}

// resolvers answers whether an address is on a list of prefixes. Single
// addresses (every DoH entry but a handful) are looked up in a map, which
// takes no allocation; the few prefixes are scanned in turn. Most
// addresses asked about are on no list, so a bit set of the first 16 bits
// of every entry (IPv4 and IPv6 apart) answers them first: in
// BenchmarkDNSFlow, HTTPS to random internet servers went from a map
// lookup and a prefix scan each (about half the detector's time) to one
// bit test.
type resolvers struct {
	addrs    map[netip.Addr]int
	prefixes []netip.Prefix
	ofPrefix []int
	info     []resolver
	top      [2][1 << 16 / 64]uint64 // IPv4, IPv6: first 16 bits on the list
}

// top16 returns the set and index of an address's first 16 bits.
func top16(a netip.Addr) (family, bits int) {
	if a.Is4() {
		b := a.As4()
		return 0, int(b[0])<<8 | int(b[1])
	}
	b := a.As16()
	return 1, int(b[0])<<8 | int(b[1])
}

// mark sets the bits of the first 16 bits that p covers.
func (r *resolvers) mark(p netip.Prefix) {
	f, v := top16(p.Addr())
	n := 1
	if p.Bits() < 16 {
		n = 1 << (16 - p.Bits())
	}
	for i := v; i < v+n; i++ {
		r.top[f][i/64] |= 1 << (i % 64)
	}
}

// maybe reports whether a could be on the list.
func (r *resolvers) maybe(a netip.Addr) bool {
	f, v := top16(a)
	return r.top[f][v/64]&(1<<(v%64)) != 0
}

// lookup returns the entry that holds a, if any.
func (r *resolvers) lookup(a netip.Addr) (resolver, bool) {
	if !r.maybe(a) {
		return resolver{}, false
	}
	if i, ok := r.addrs[a]; ok {
		return r.info[i], true
	}
	for j, p := range r.prefixes {
		if p.Contains(a) {
			return r.info[r.ofPrefix[j]], true
		}
	}
	return resolver{}, false
}

// contains reports whether a is on the list.
func (r *resolvers) contains(a netip.Addr) bool {
	if !r.maybe(a) {
		return false
	}
	if _, ok := r.addrs[a]; ok {
		return true
	}
	for _, p := range r.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (r *resolvers) len() int { return len(r.addrs) + len(r.prefixes) }

// add puts an address or prefix (IPv4-mapped IPv6 unmapped) on the list.
func (r *resolvers) add(s string, info resolver) error {
	if r.addrs == nil {
		r.addrs = map[netip.Addr]int{}
	}
	r.info = append(r.info, info)
	i := len(r.info) - 1
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return err
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		p = p.Masked()
		r.mark(p)
		if p.IsSingleIP() {
			r.addrs[p.Addr()] = i
			return nil
		}
		r.prefixes = append(r.prefixes, p)
		r.ofPrefix = append(r.ofPrefix, i)
		return nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return err
	}
	if a.Zone() != "" {
		return fmt.Errorf("address %q has a zone", s)
	}
	a = a.Unmap()
	r.mark(netip.PrefixFrom(a, a.BitLen()))
	r.addrs[a] = i
	return nil
}

// parseDoH reads the DoH list: per line an address or prefix, the
// operator and the service name, separated by blanks; '#' starts a
// comment. It reports the first bad line.
func parseDoH(b []byte) (*resolvers, error) {
	r := &resolvers{}
	for n := 1; len(b) > 0; n++ {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if i := bytes.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(string(line))
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("doh.txt:%d: want an address, an operator and a service name, got %d fields", n, len(f))
		}
		if err := r.add(f[0], resolver{Operator: f[1], Service: f[2]}); err != nil {
			return nil, fmt.Errorf("doh.txt:%d: %w", n, err)
		}
	}
	return r, nil
}

// parseAllowed reads the allowed_resolvers allowlist: addresses and
// prefixes. It reports every bad entry at once.
func parseAllowed(entries []string) (*resolvers, error) {
	r := &resolvers{}
	var bad []string
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if err := r.add(e, resolver{Operator: "allowed"}); err != nil {
			bad = append(bad, fmt.Sprintf("%q", e))
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("detector %s: allowlist allowed_resolvers: not an address or prefix: %s", ID, strings.Join(bad, ", "))
	}
	return r, nil
}
