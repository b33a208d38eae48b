package intel

import (
	"net/netip"
	"slices"

	"github.com/gaissmai/bart"
)

// Set is the immutable lookup table of a set of lists: the networks of the
// threat and Tor lists in one routing table (longest-prefix match), the
// trusted networks in another, and domains in suffix maps. Build makes
// one off the hot path; lookups are safe from any number of goroutines,
// never allocate and never fail. A nil *Set is empty.
type Set struct {
	threats        *bart.Table[uint32] // value: index into matches; IPv6 only when v4 is set
	v4             *dir24              // the IPv4 networks of a large set, flattened
	v4Size         int
	trusted        bart.Lite
	domains        map[string]uint32
	trustedDomains map[string]struct{}
	matches        []Match
	lists          []Report
	hasTrusted     bool
	maxLabels      int // labels of the longest listed domain
}

// Build makes the lookup table of lists. When several entries cover an
// address, the most specific network wins; when several lists give the
// same network, a threat list wins over a Tor list, and an earlier list
// over a later one, except that entries of one list merge (a relay
// listed with two ports has both). Trusted lists go to their own tables:
// Threat and ThreatDomain consult them first.
func Build(lists []*List) *Set {
	s := &Set{threats: new(bart.Table[uint32]), domains: map[string]uint32{}, trustedDomains: map[string]struct{}{}}
	b := builder{s: s, idx: map[matchKey]uint32{}}
	for li, l := range lists {
		s.lists = append(s.lists, l.Report)
		if l.Kind == KindTrusted {
			for _, p := range l.prefixes {
				s.trusted.Insert(p)
				s.hasTrusted = true
			}
			for _, d := range l.domains {
				s.trustedDomains[d] = struct{}{}
				s.maxLabels = max(s.maxLabels, labels(d))
			}
			continue
		}
		for i, p := range l.prefixes {
			m := b.match(li, l, l.pinfo[i])
			s.threats.Modify(p, func(old uint32, ok bool) (uint32, bool) {
				if !ok {
					return m, false
				}
				return b.merge(old, m), false
			})
		}
		for i, d := range l.domains {
			m := b.match(li, l, l.dinfo[i])
			if old, ok := s.domains[d]; ok {
				m = b.merge(old, m)
			}
			s.domains[d] = m
			s.maxLabels = max(s.maxLabels, labels(d))
		}
	}
	if n := s.threats.Size4(); n >= dir24Min {
		if s.v4 = buildDir24(s.threats); s.v4 == nil {
			return s
		}
		s.v4Size = n
		v6 := new(bart.Table[uint32])
		for p, v := range s.threats.All6() {
			v6.Insert(p, v)
		}
		s.threats = v6
	}
	return s
}

type matchKey struct {
	list int
	info uint32
}

type builder struct {
	s      *Set
	idx    map[matchKey]uint32
	listOf []int // list index of each match
	merged map[[2]uint32]uint32
}

// match returns the index of the Match for an entry of list li.
func (b *builder) match(li int, l *List, info uint32) uint32 {
	k := matchKey{li, info}
	if i, ok := b.idx[k]; ok {
		return i
	}
	m := Match{List: l.Name, Kind: KindThreat, SHA256: l.SHA256, Category: l.Category, Info: l.infos[info]}
	if l.Kind == KindTor {
		// what detectors describe the address as; a category the
		// format gives (FireHOL's) says less than this
		m.Kind, m.Tor, m.Purpose = KindTor, l.Tor, l.Tor.Purpose()
	}
	i := uint32(len(b.s.matches))
	b.s.matches = append(b.s.matches, m)
	b.listOf = append(b.listOf, li)
	b.idx[k] = i
	return i
}

// merge decides between two matches for the same network or domain.
func (b *builder) merge(old, cur uint32) uint32 {
	if old == cur {
		return old
	}
	mo, mc := &b.s.matches[old], &b.s.matches[cur]
	if b.listOf[old] != b.listOf[cur] {
		if mo.Kind == KindTor && mc.Kind == KindThreat {
			return cur
		}
		return old
	}
	// The same list names it twice: union what it says.
	if b.merged == nil {
		b.merged = map[[2]uint32]uint32{}
	}
	if i, ok := b.merged[[2]uint32{old, cur}]; ok {
		return i
	}
	m := *mo
	m.ThreatNames = union(mo.ThreatNames, mc.ThreatNames)
	m.Ports = union(mo.Ports, mc.Ports)
	m.Score = max(mo.Score, mc.Score)
	if m.Purpose == "" {
		m.Purpose = mc.Purpose
	}
	i := uint32(len(b.s.matches))
	b.s.matches = append(b.s.matches, m)
	b.listOf = append(b.listOf, b.listOf[old])
	b.merged[[2]uint32{old, cur}] = i
	return i
}

func union[T interface{ ~string | ~uint16 }](a, b []T) []T {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

func labels(d string) int {
	n := 1
	for i := 0; i < len(d); i++ {
		if d[i] == '.' {
			n++
		}
	}
	return n
}

// Trusted reports whether a trusted list covers addr.
func (s *Set) Trusted(addr netip.Addr) bool {
	if s == nil || !s.hasTrusted {
		return false
	}
	return s.trusted.Contains(unmap(addr))
}

// Threat returns what the threat and Tor lists say of addr: the match of
// the most specific entry that covers it. An address that a trusted list
// covers has no threat.
func (s *Set) Threat(addr netip.Addr) (*Match, bool) {
	if s == nil {
		return nil, false
	}
	addr = unmap(addr)
	var i uint32
	var ok bool
	if s.v4 != nil && addr.Is4() {
		i, ok = s.v4.lookup(addr)
	} else {
		i, ok = s.threats.Lookup(addr)
	}
	if !ok || s.hasTrusted && s.trusted.Contains(addr) {
		return nil, false
	}
	return &s.matches[i], true
}

// TrustedDomain reports whether a trusted list names domain or a domain
// it is a subdomain of.
func (s *Set) TrustedDomain(domain string) bool {
	if s == nil || len(s.trustedDomains) == 0 {
		return false
	}
	var buf [256]byte
	return s.trustedName(lowerName(buf[:0], domain))
}

func (s *Set) trustedName(d []byte) bool {
	for it := newSuffixes(d, s.maxLabels); ; {
		suffix, ok := it.next()
		if !ok {
			return false
		}
		if _, ok := s.trustedDomains[string(suffix)]; ok {
			return true
		}
	}
}

// ThreatDomain returns what the threat lists say of domain: the match of
// the longest listed domain that it is, or is a subdomain of. Names are
// compared case-insensitively, without a trailing dot. A trusted domain
// has no threat.
func (s *Set) ThreatDomain(domain string) (*Match, bool) {
	if s == nil || len(s.domains) == 0 {
		return nil, false
	}
	var buf [256]byte
	d := lowerName(buf[:0], domain)
	for it := newSuffixes(d, s.maxLabels); ; {
		suffix, ok := it.next()
		if !ok {
			return nil, false
		}
		if i, ok := s.domains[string(suffix)]; ok {
			if len(s.trustedDomains) > 0 && s.trustedName(d) {
				return nil, false
			}
			return &s.matches[i], true
		}
	}
}

// lowerName appends name to dst in lowercase without a trailing dot, or
// returns nil if it does not fit.
func lowerName(dst []byte, name string) []byte {
	if len(name) > 0 && name[len(name)-1] == '.' {
		name = name[:len(name)-1]
	}
	if len(name) == 0 || len(name) > cap(dst) {
		return nil
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// suffixes iterates over a domain and its parent domains, longest first,
// skipping those with more labels than any listed domain.
type suffixes struct {
	d         []byte
	start     int
	n         int // labels of d[start:]
	maxLabels int
}

func newSuffixes(d []byte, maxLabels int) suffixes {
	n := 0
	if len(d) > 0 {
		n = 1
	}
	for _, c := range d {
		if c == '.' {
			n++
		}
	}
	return suffixes{d: d, n: n, maxLabels: maxLabels}
}

func (it *suffixes) next() ([]byte, bool) {
	for it.start < len(it.d) {
		cur, n := it.d[it.start:], it.n
		i := it.start
		for i < len(it.d) && it.d[i] != '.' {
			i++
		}
		it.start = i + 1
		it.n--
		if n <= it.maxLabels {
			return cur, true
		}
	}
	return nil, false
}

// Lists returns the reports of the lists the set was built from.
func (s *Set) Lists() []Report {
	if s == nil {
		return nil
	}
	return slices.Clone(s.lists)
}

// Size returns the number of distinct networks and domains in the threat
// and Tor tables, and in the trusted ones.
func (s *Set) Size() (threat, trusted int) {
	if s == nil {
		return 0, 0
	}
	return s.threats.Size() + s.v4Size + len(s.domains), s.trusted.Size() + len(s.trustedDomains)
}
