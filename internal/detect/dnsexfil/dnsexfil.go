// Package dnsexfil owns the Trojan:EC2/DNSDataExfiltration detector: a
// host that sends data out encoded in the names it asks a resolver for,
// as DNS tunnels (iodine, dns2tcp, dnscat2, dnscapy) and exfiltration
// malware do.
//
// It sees DNS queries (Route 53 Resolver query logs, Zeek dns.log). Each
// query is filed under its source (the instance the log names, else the
// address it came from), its registered domain (the public suffix and
// one label more) and a tumbling event-time window. A tunnel has to make
// every name unique, or resolvers answer from their cache and the data
// never reaches its server, and it packs as many bytes into each name as
// the 63-byte label limit lets it; a benign client asks for the few short
// names a domain's operators publish, over and over. So a window is
// judged on the bytes of distinct subdomain text it carried, how many
// distinct names those were, their mean length and the Shannon entropy
// of their characters; it raises when all four are high. Domains whose
// ordinary use looks like this (reverse lookups, DNS blocklists,
// anti-virus reputation lookups, AWS's own names) are on an allowlist.
//
// Only the detect/all list and tests import it.
package dnsexfil

import (
	"cmp"
	"math"
	"net/netip"
	"slices"
	"strconv"

	"golang.org/x/net/publicsuffix"

	"picket/internal/detect"
	"picket/internal/event"
	"picket/internal/finding"
	"picket/internal/lru"
)

// ID is the detector's ID.
const ID = "dnsexfil"

// Thresholds are the detector's tunables.
var Thresholds = detect.Tunables{
	{Name: "window", Unit: "seconds", Default: 600, Min: 60, Max: 3600,
		Doc: "the tumbling event-time window over which one source's queries to one registered domain are judged; ten minutes holds thousands of a tunnel's queries while a person's browsing of one site stays a few dozen names"},
	{Name: "min_unique_bytes", Unit: "bytes", Default: 4096, Min: 256, Max: 1 << 24,
		Doc: "distinct subdomain text a window must carry, the encoded payload: 4 KiB in ten minutes is about 2.5 KiB of data after base32, more than the names of any one site a client resolves, and far below what a usable tunnel moves"},
	{Name: "min_distinct_names", Unit: "names", Default: 32, Min: 2, Max: 1000,
		Doc: "distinct subdomains a window must hold: a payload spread over many unique names, not a handful of long ones a service publishes"},
	{Name: "min_mean_length", Unit: "bytes", Default: 16, Min: 1, Max: 253,
		Doc: "mean length of the distinct subdomains: names people and services choose are short words (www, mail, api-eu), while encoders fill labels towards the 63-byte limit to carry more per query"},
	{Name: "min_entropy", Unit: "bits/char", Default: 3.5, Min: 0, Max: 8,
		Doc: "Shannon entropy of the subdomain characters: above the 3.32 bits of a decimal alphabet (counters, reversed addresses, blocklist queries) and below the 4 bits of hex, the poorest encoding a tunnel uses (base32 gives 5)"},
	{Name: "max_windows", Unit: "windows", Default: 20_000, Min: 16, Max: 1e7,
		Doc: "(source, registered domain) windows open at once, about 1.5 KiB each; the least recently queried are evicted and counted"},
}

// defaultAllow are registered domains, and names below them, that make
// many unique names by design.
var defaultAllow = []string{
	"in-addr.arpa", "ip6.arpa", // reverse lookups
	"amazonaws.com", "aws", "internal", // AWS service endpoints and Resolver-internal names
	"spamhaus.org", "spamcop.net", "sorbs.net", "barracudacentral.org", "surbl.org", "uribl.com", "mailspike.net", "senderbase.org", // DNS blocklists and mail reputation
	"avts.mcafee.com", "avqs.mcafee.com", "sophosxl.net", "cymru.com", // anti-virus and hash reputation lookups
}

// Allowlists are the detector's lists.
var Allowlists = detect.Allowlists{
	{Name: "allow_domains", Default: defaultAllow,
		Doc: "names never judged, matching the name or any name below it: reverse lookups, DNS blocklists, anti-virus reputation lookups and AWS names encode addresses and hashes in unique names by design"},
}

const (
	// slots is the number of length slots of a window's name set: a
	// distinct name lands in the slot its hash picks, which keeps the
	// longest length it saw. Sums over slots do not depend on the order
	// of the queries, and 1,024 slots count up to a few thousand names
	// per window, far past the thresholds.
	slots = 1024
	// classes is the number of character classes of the entropy
	// histogram: the 26 letters, 10 digits, '-', '_', the base64 '+',
	// '/' and '=', and the rest of the bytes folded into 23.
	classes = 64
	// windowBytes is a window's memory with its slots and histogram
	// allocated (1 KiB of slots, 256 bytes of histogram, the rest).
	windowBytes = 1536
	// maxTail is the number of labels handed to the public suffix
	// lookup: the longest rules of the list have five labels.
	maxTail = 6
)

// windowKey is one source's queries to one registered domain in one
// window.
type windowKey struct {
	Account, Region, Instance event.ID
	Src                       netip.Addr
	Domain                    uint64 // hash of the registered domain
	Start                     event.Time
}

// window is what the detector keeps of a windowKey. Fields are exported
// for saving state.
type window struct {
	Domain      string // the registered domain
	VPC         event.ID
	Protocol    uint8
	Queries     int64
	Special     int64 // TXT, NULL, CNAME and MX queries
	Blocked     int64 // queries DNS Firewall blocked
	First, Last event.Time
	Longest     int      // longest subdomain label
	Lengths     []uint8  // the name set's slots; nil until a subdomain comes
	Chars       []uint32 // character histogram of every subdomain queried
	Sample      []byte   // the name with the smallest hash: a stable example
	SampleHash  uint64
}

// Detector is the DNS data exfiltration detector.
type Detector struct {
	env        detect.Env
	th         detect.Tunables
	al         detect.Allowlists
	allow      detect.DomainSuffixes
	span       event.Time
	minBytes   float64
	minNames   float64
	minMean    float64
	minEntropy float64
	windows    *lru.Table[windowKey, window]
	due        event.Time // the earliest end of an open window
}

var (
	_ detect.Detector    = (*Detector)(nil)
	_ detect.Stater      = (*Detector)(nil)
	_ detect.Snapshotter = (*Detector)(nil)
)

// New builds the detector.
func New(env detect.Env) (*Detector, error) {
	th, err := Thresholds.Apply(ID, env.Thresholds)
	if err != nil {
		return nil, err
	}
	al, err := Allowlists.Apply(ID, env.Allowlists)
	if err != nil {
		return nil, err
	}
	d := &Detector{
		env: env, th: th, al: al,
		span:       event.Time(th.Get("window")),
		minBytes:   th.Get("min_unique_bytes"),
		minNames:   th.Get("min_distinct_names"),
		minMean:    th.Get("min_mean_length"),
		minEntropy: th.Get("min_entropy"),
		due:        event.Forever,
	}
	d.allow = detect.NewDomainSuffixes(al.Get("allow_domains"))
	d.windows = lru.New[windowKey, window](env.Cap(int(th.Get("max_windows")), 1, windowBytes), nil)
	return d, nil
}

// Definition describes the detector.
func (d *Detector) Definition() detect.Definition {
	return detect.Definition{
		ID:           ID,
		Summary:      "a source sending many long, unique, high-entropy names under one domain: data encoded in DNS queries",
		FindingTypes: []string{finding.TypeDNSDataExfiltration},
		Subscribes:   []event.Kind{event.KindDNSQuery},
		Thresholds:   d.th,
		Allowlists:   d.al,
	}
}

// State reports the detector's table.
func (d *Detector) State() []detect.StateStats {
	return []detect.StateStats{{Table: "windows", Len: d.windows.Len(), Cap: d.windows.Cap(), Evicted: d.windows.Evicted()}}
}

// registered returns the registered domain of name (lower case, no
// final dot), or "" when it has none: a single label, a public suffix.
func registered(name []byte) string {
	start, dots := len(name), 0
	for start > 0 {
		if name[start-1] == '.' {
			if dots++; dots == maxTail {
				break
			}
		}
		start--
	}
	reg, err := publicsuffix.EffectiveTLDPlusOne(string(name[start:]))
	if err != nil {
		return ""
	}
	return reg
}

// Observe files a query under its window.
func (d *Detector) Observe(rec event.Record, _ detect.Emit) {
	q, ok := rec.(*event.DNSQuery)
	if !ok {
		return
	}
	name := q.Name
	if n := len(name); n > 0 && name[n-1] == '.' {
		name = name[:n-1]
	}
	if len(name) == 0 || (q.Instance.IsZero() && !q.Src.IsValid()) || d.allow.Match(name) {
		return
	}
	reg := registered(name)
	if reg == "" {
		return
	}
	k := windowKey{Account: q.Account, Region: q.Region, Instance: q.Instance, Src: q.Src,
		Domain: detect.FNV1a(reg), Start: q.T - q.T%d.span}
	if q.T < 0 && q.T%d.span != 0 {
		k.Start -= d.span
	}
	w, created := d.windows.Put(k)
	if created {
		*w = window{Domain: reg, First: q.T, Last: q.T}
		d.due = min(d.due, k.Start+d.span)
	}
	w.Queries++
	w.First, w.Last = min(w.First, q.T), max(w.Last, q.T)
	if w.VPC.IsZero() {
		w.VPC = q.VPC
	}
	w.Protocol = max(w.Protocol, q.Protocol)
	switch q.QType {
	case event.DNSTypeTXT, event.DNSTypeNULL, event.DNSTypeCNAME, event.DNSTypeMX:
		w.Special++
	}
	if q.FirewallAction == blockAction {
		w.Blocked++
	}
	h := detect.FNV1a(name)
	if w.Sample == nil || h < w.SampleHash {
		w.Sample, w.SampleHash = append(w.Sample[:0], name...), h
	}
	sub := len(name) - len(reg) - 1
	if sub <= 0 {
		return
	}
	if w.Lengths == nil {
		w.Lengths, w.Chars = make([]uint8, slots), make([]uint32, classes)
	}
	s := &w.Lengths[h%slots]
	*s = max(*s, uint8(min(sub, 255)))
	label := 0
	for _, c := range name[:sub] {
		if c == '.' {
			w.Longest, label = max(w.Longest, label), 0
			continue
		}
		label++
		w.Chars[class[c]]++
	}
	w.Longest = max(w.Longest, label)
}

var blockAction = event.Intern("BLOCK")

// class maps a byte to its character class.
var class = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case c >= 'a' && c <= 'z':
			t[c] = uint8(c - 'a')
		case c >= 'A' && c <= 'Z':
			t[c] = uint8(c - 'A')
		case c >= '0' && c <= '9':
			t[c] = uint8(26 + c - '0')
		case c == '-':
			t[c] = 36
		case c == '_':
			t[c] = 37
		case c == '+':
			t[c] = 38
		case c == '/':
			t[c] = 39
		case c == '=':
			t[c] = 40
		default:
			t[c] = uint8(41 + c%23)
		}
	}
	return t
}()

// stats are what a window shows.
type stats struct {
	names   int     // distinct names, estimated from the filled slots
	bytes   int     // distinct subdomain bytes
	mean    float64 // bytes per distinct name
	entropy float64 // bits per character
}

func (w *window) stats() stats {
	var s stats
	filled := 0
	for _, l := range w.Lengths {
		if l > 0 {
			filled++
			s.bytes += int(l)
		}
	}
	if filled == 0 {
		return s
	}
	s.mean = float64(s.bytes) / float64(filled)
	// Linear counting: n distinct hashes leave about slots·e^(-n/slots)
	// slots empty.
	if filled < slots {
		s.names = int(math.Round(-slots * math.Log(1-float64(filled)/slots)))
	} else {
		s.names = int(slots * math.Log(slots))
	}
	var total float64
	for _, c := range w.Chars {
		total += float64(c)
	}
	for _, c := range w.Chars {
		if c > 0 {
			p := float64(c) / total
			s.entropy -= p * math.Log2(p)
		}
	}
	return s
}

func (d *Detector) encoded(s stats) bool {
	return float64(s.bytes) >= d.minBytes && float64(s.names) >= d.minNames &&
		s.mean >= d.minMean && s.entropy >= d.minEntropy
}

// Advance judges the windows that end at or before the watermark, in a
// fixed order, and forgets them.
func (d *Detector) Advance(wm event.Time, emit detect.Emit) {
	if wm < d.due {
		return
	}
	type closed struct {
		k windowKey
		w *window
	}
	var done []closed
	d.due = event.Forever
	d.windows.All(func(k windowKey, w *window) bool {
		if end := k.Start + d.span; end <= wm {
			done = append(done, closed{k, w})
		} else {
			d.due = min(d.due, end)
		}
		return true
	})
	slices.SortFunc(done, func(a, b closed) int { return compareWindows(a.k, a.w, b.k, b.w) })
	for _, c := range done {
		if s := c.w.stats(); d.encoded(s) {
			emit(d.finding(c.k, c.w, s))
		}
	}
	for _, c := range done {
		d.windows.Delete(c.k)
	}
}

func compareWindows(ak windowKey, a *window, bk windowKey, b *window) int {
	return cmp.Or(
		cmp.Compare(ak.Start, bk.Start),
		cmp.Compare(ak.Account.String(), bk.Account.String()),
		cmp.Compare(ak.Region.String(), bk.Region.String()),
		cmp.Compare(ak.Instance.String(), bk.Instance.String()),
		ak.Src.Compare(bk.Src),
		cmp.Compare(a.Domain, b.Domain),
	)
}

func (d *Detector) finding(k windowKey, w *window, s stats) *finding.Finding {
	account, region := k.Account.String(), k.Region.String()
	resource, label := k.Src.String(), "host "+k.Src.String()
	if !k.Instance.IsZero() {
		resource, label = k.Instance.String(), "EC2 instance "+k.Instance.String()
	}
	fk := finding.Key{Account: account, Region: region, Resource: resource, Role: finding.RoleActor, Actor: w.Domain}
	f := finding.New(finding.TypeDNSDataExfiltration, fk, d.env.DetectorID(account, region), w.First.UTC(), w.Last.UTC(), w.Queries)
	ni := finding.NetworkInterface{VpcID: w.VPC.String()}
	if k.Src.Is4() {
		ni.PrivateIPAddress = k.Src.String()
		ni.PrivateIPAddresses = []finding.PrivateIPAddress{{PrivateIPAddress: ni.PrivateIPAddress}}
	} else if k.Src.IsValid() {
		ni.Ipv6Addresses = []string{k.Src.String()}
	}
	f.Resource.InstanceDetails = &finding.InstanceDetails{InstanceID: k.Instance.String(), NetworkInterfaces: []finding.NetworkInterface{ni}}
	da := &finding.DNSRequestAction{
		Domain:           string(w.Sample),
		DomainWithSuffix: w.Domain,
		Blocked:          w.Blocked == w.Queries,
	}
	if w.Protocol != 0 {
		da.Protocol = finding.Protocol(w.Protocol)
	}
	f.Service.Action.DNSRequestAction = da

	entropy := strconv.FormatFloat(s.entropy, 'f', 1, 64)
	detail := strconv.FormatInt(w.Queries, 10) + " queries in " + strconv.Itoa(int(d.span/60)) + " minutes, about " +
		strconv.Itoa(s.names) + " distinct names carrying " + strconv.Itoa(s.bytes) + " bytes, " +
		strconv.FormatFloat(s.mean, 'f', 0, 64) + " bytes a name, " + entropy + " bits a character"
	if w.Special > 0 {
		detail += ", " + strconv.FormatInt(w.Special, 10) + " of type TXT, NULL, CNAME or MX"
	}
	hosts := []string{}
	if k.Src.IsValid() {
		hosts = append(hosts, k.Src.String())
	}
	f.Service.AdditionalInfo = &finding.AdditionalInfo{Explanation: &finding.Explanation{
		Detector: ID,
		Summary:  label + " sent " + detail + " under " + w.Domain,
		Counts: map[string]int64{
			"queries":               w.Queries,
			"distinct_names":        int64(s.names),
			"distinct_name_bytes":   int64(s.bytes),
			"mean_name_bytes":       int64(math.Round(s.mean)),
			"longest_label":         int64(w.Longest),
			"entropy_millibits":     int64(math.Round(s.entropy * 1000)),
			"txt_null_cname_mx":     w.Special,
			"blocked_by_firewall":   w.Blocked,
			"window_seconds":        int64(d.span),
			"window_start_unixtime": int64(k.Start),
		},
		Hosts: hosts,
	}}
	typ, _ := finding.Lookup(finding.TypeDNSDataExfiltration)
	vars := map[string]string{"resource": label, "domain": w.Domain, "detail": detail}
	f.Title = finding.Text(typ.Title, vars)
	f.Description = finding.Text(typ.Description, vars)
	return f
}

type detectorState struct {
	Windows lru.Snapshot[windowKey, window]
}

// MarshalState saves the open windows.
func (d *Detector) MarshalState() ([]byte, error) {
	return detect.EncodeState(detectorState{Windows: d.windows.View()})
}

// UnmarshalState restores them.
func (d *Detector) UnmarshalState(b []byte) error {
	var st detectorState
	if err := detect.DecodeState(b, &st); err != nil {
		return err
	}
	d.windows.Restore(st.Windows)
	d.due = event.Forever
	d.windows.All(func(k windowKey, _ *window) bool {
		d.due = min(d.due, k.Start+d.span)
		return true
	})
	return nil
}
