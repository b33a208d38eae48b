package intel

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// ParseError is one entry of a list that could not be read.
type ParseError struct {
	File   string // the list's location
	Line   int    // 1-based line of the entry
	Value  string // the entry as written, cut to 80 bytes
	Reason string // what is wrong with it
}

func (e *ParseError) Error() string {
	if e.Value == "" {
		return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Reason
	}
	return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Reason + ": " + strconv.Quote(e.Value)
}

// Report is what decoding a list found: where it came from, its format,
// how many entries of each kind it gave, and what went wrong.
type Report struct {
	Name     string
	Location string
	Kind     Kind
	Format   Format
	Detected bool   // the format was detected from the content
	SHA256   string // of the bytes as fetched (compressed, if they were)
	Bytes    int64  // bytes as fetched
	Lines    int    // lines read (for XML and JSON, the line of the last object)

	Entries   int // entries read; a range counts once
	Addresses int // single IPv4 and IPv6 addresses
	Networks  int // CIDR networks
	Ranges    int // address ranges (a-b), each stored as the networks that cover it
	Domains   int // domains and URL hosts that are names
	IPv6      int // of the addresses, networks and ranges, those in IPv6

	// Skipped counts rows of indicator types that lists do not match on,
	// such as file hashes and e-mail addresses in OTX or STIX exports.
	Skipped int
	// Refused counts the entries of a threat or Tor list in private,
	// loopback, link-local, multicast or reserved networks, left out
	// unless AllowPrivate; RefusedSample is the first of them.
	Refused       int
	RefusedSample *ParseError
	// AllowPrivate says that such entries were kept, as the list asked.
	AllowPrivate bool
	// Tor says, for a Tor list, which Tor nodes it names.
	Tor TorNodes
	// Category is the threat list's declared category, "" for none.
	Category string `json:",omitempty"`
	// Errors counts entries that could not be read; Samples holds the
	// first few, with their lines.
	Errors  int
	Samples []*ParseError
	// Incomplete says why reading stopped before the end of the list (a
	// truncated download, a syntax error in XML or JSON), or is empty.
	Incomplete string
}

// OK reports whether the list gave entries and was read to its end.
func (r *Report) OK() bool { return r.Entries > 0 && r.Incomplete == "" }

// ListError says that a list could not be used at all: nothing in it was
// an entry, or it could not be read.
type ListError struct {
	Report *Report // what was found; nil when the list could not be fetched
	Name   string
	Where  string
	Kind   Kind
	Reason string
	Err    error // the underlying error, if any
}

func (e *ListError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s list %q (%s): %s", e.Kind, e.Name, e.Where, e.Reason)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *ListError) Unwrap() error { return e.Err }

// DefaultMaxSamples is how many bad entries a Report keeps by default.
const DefaultMaxSamples = 20

// List is a decoded list: its report, and its entries ready to be built
// into a Set.
type List struct {
	Report

	prefixes []netip.Prefix // addresses, networks and the networks of ranges
	pinfo    []uint32       // the Info of each prefix, an index into infos
	domains  []string
	dinfo    []uint32
	infos    []Info // interned; infos[0] is the zero Info
	infoIdx  map[string]uint32
	lastKey  string
	lastIdx  uint32

	maxSamples int
	bogons     []bogon // the networks whose entries are refused; nil: none
}

func newList(opt Options) *List {
	l := &List{
		Report:     Report{Name: opt.Name, Location: opt.Location, Kind: opt.Kind, AllowPrivate: opt.AllowPrivate, Category: opt.Category},
		infos:      []Info{{}},
		infoIdx:    map[string]uint32{"": 0},
		maxSamples: opt.MaxSamples,
	}
	if l.maxSamples == 0 {
		l.maxSamples = DefaultMaxSamples
	}
	if opt.Kind != KindTrusted && !opt.AllowPrivate {
		l.bogons = bogonNets()
	}
	return l
}

// Entry is one entry of a list as stored: a network (an address is a /32
// or /128) or a domain, and what the list says of it.
type Entry struct {
	Prefix netip.Prefix // valid for addresses, networks and ranges
	Domain string       // set for domains
	Info   *Info
}

// Each calls fn with every stored entry, addresses before domains, in list
// order; a range yields the networks that cover it.
func (l *List) Each(fn func(Entry)) {
	for i, p := range l.prefixes {
		fn(Entry{Prefix: p, Info: &l.infos[l.pinfo[i]]})
	}
	for i, d := range l.domains {
		fn(Entry{Domain: d, Info: &l.infos[l.dinfo[i]]})
	}
}

// Len returns the number of stored networks and domains.
func (l *List) Len() int { return len(l.prefixes) + len(l.domains) }

// intern returns the index of info, adding it if new.
func (l *List) intern(info *Info) uint32 {
	if len(info.ThreatNames) == 0 && info.Purpose == "" && info.Score == 0 && len(info.Ports) == 0 {
		return 0
	}
	k := infoKey(info)
	if k == l.lastKey {
		return l.lastIdx
	}
	i, ok := l.infoIdx[k]
	if !ok {
		i = uint32(len(l.infos))
		l.infos = append(l.infos, Info{
			ThreatNames: slices.Clone(info.ThreatNames),
			Purpose:     info.Purpose,
			Score:       info.Score,
			Ports:       slices.Clone(info.Ports),
		})
		l.infoIdx[k] = i
	}
	l.lastKey, l.lastIdx = k, i
	return i
}

func infoKey(info *Info) string {
	var b strings.Builder
	for _, n := range info.ThreatNames {
		b.WriteString(n)
		b.WriteByte(0)
	}
	b.WriteByte(1)
	b.WriteString(info.Purpose)
	b.WriteByte(1)
	b.WriteString(strconv.FormatFloat(info.Score, 'g', -1, 64))
	for _, p := range info.Ports {
		b.WriteByte(1)
		b.WriteString(strconv.Itoa(int(p)))
	}
	return b.String()
}

// add stores one parsed entry with what the list says of it.
func (l *List) add(ind indicator, info *Info) {
	if ind.port != 0 && !slices.Contains(info.Ports, ind.port) {
		withPort := *info
		withPort.Ports = append(slices.Clone(info.Ports), ind.port)
		slices.Sort(withPort.Ports)
		info = &withPort
	}
	i := l.intern(info)
	l.Entries++
	switch ind.kind {
	case indAddr:
		l.Addresses++
		l.prefixes = append(l.prefixes, ind.prefix)
		l.pinfo = append(l.pinfo, i)
		if !ind.prefix.Addr().Is4() {
			l.IPv6++
		}
	case indPrefix:
		l.Networks++
		l.prefixes = append(l.prefixes, ind.prefix)
		l.pinfo = append(l.pinfo, i)
		if !ind.prefix.Addr().Is4() {
			l.IPv6++
		}
	case indRange:
		l.Ranges++
		n := len(l.prefixes)
		l.prefixes = rangePrefixes(l.prefixes, ind.lo, ind.hi)
		for range len(l.prefixes) - n {
			l.pinfo = append(l.pinfo, i)
		}
		if !ind.lo.Is4() {
			l.IPv6++
		}
	case indDomain:
		l.Domains++
		l.domains = append(l.domains, ind.domain)
		l.dinfo = append(l.dinfo, i)
	}
}

// entry parses s and stores it, or records the error at line.
func (l *List) entry(line int, s []byte, info *Info) bool {
	ind, why := parseIndicator(s)
	if why == reasonPath {
		l.Skipped++
		return false
	}
	if why != "" {
		l.fail(line, s, why)
		return false
	}
	if l.refuse(line, s, ind) {
		return false
	}
	l.add(ind, info)
	return true
}

// refuse reports whether the list leaves out ind, an entry in a bogon
// network, and counts it if so.
func (l *List) refuse(line int, value []byte, ind indicator) bool {
	if l.bogons == nil {
		return false
	}
	b, ok := bogonOf(l.bogons, ind)
	if !ok {
		return false
	}
	l.Refused++
	if l.RefusedSample == nil {
		l.RefusedSample = &ParseError{File: l.Location, Line: line, Value: sampleValue(value), Reason: refusedReason(b)}
	}
	return true
}

// fail records a bad entry.
func (l *List) fail(line int, value []byte, reason string) {
	l.Errors++
	if len(l.Samples) >= l.maxSamples {
		return
	}
	l.Samples = append(l.Samples, &ParseError{File: l.Location, Line: line, Value: sampleValue(value), Reason: reason})
}

// sampleValue is an entry as a ParseError shows it: 80 bytes at most, in
// valid UTF-8.
func sampleValue(v []byte) string {
	if len(v) > 80 {
		v = v[:80]
	}
	return strings.ToValidUTF8(string(v), "\uFFFD")
}
