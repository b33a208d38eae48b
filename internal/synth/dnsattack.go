package synth

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Tunnel is a DNS tunnel client on an instance, shaped like iodine: it
// sends its data upstream encoded in base32 labels of unique names under
// the tunnel's subdomain of the attacker's domain (t1.<domain>), filling
// labels toward the 63-byte limit, and polls for data downstream without
// pause, asking mostly for NULL records, then TXT and CNAME, whose
// answers carry the data back.
type Tunnel struct {
	Name     string
	From     string        // the estate reference of the instance running the client
	Domain   string        // the attacker's domain ("": one made up from the seed)
	Rate     float64       // queries a second (default 8)
	Duration time.Duration // how long it runs (default 20 minutes)
	At       time.Duration
}

// DGA is malware on an instance looking for its command server among
// algorithmically generated domains: a burst of names that a seeded
// generator makes for the day, asked for once each; all but Resolving of
// them are not registered (NXDOMAIN).
type DGA struct {
	Name      string
	From      string        // the estate reference of the infected instance
	Count     int           // domains asked for (default 120)
	Resolving int           // how many of them resolve (default 1; negative: none)
	TLDs      []string      // the top-level domains it uses (default com, net, org, info, biz)
	Over      time.Duration // how long the burst lasts (default 2 minutes)
	At        time.Duration
}

// dnsSource resolves the instance an attack's queries come from.
func (g *Gen) dnsSource(kind, name, ref string) (*Interface, error) {
	if g.dns == nil {
		return nil, fmt.Errorf("%s %s: DNS queries are not being generated", kind, name)
	}
	i, err := g.estate.Resolve(ref)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", kind, name, err)
	}
	if i.Instance == "" {
		return nil, fmt.Errorf("%s %s: %s is not an instance, and only instances' queries are logged", kind, name, ref)
	}
	return i, nil
}

// base32 is iodine's base32 alphabet.
const base32 = "abcdefghijklmnopqrstuvwxyz012345"

func (t Tunnel) plan(g *Gen, start, end int64) ([]Label, error) {
	src, err := g.dnsSource("tunnel", t.Name, t.From)
	if err != nil {
		return nil, err
	}
	d := g.dns
	domain := t.Domain
	if domain == "" {
		domain = madeUpDomain(d.rng.Uint64(), "net")
	}
	rate := t.Rate
	if rate <= 0 {
		rate = 8
	}
	dur := t.Duration
	if dur <= 0 {
		dur = 20 * time.Minute
	}
	t0 := start + int64(t.At.Seconds())
	t1 := min(t0+int64(dur.Seconds()), end)
	zone := "t1." + domain
	user := base32[d.rng.IntN(16)]
	port := d.port()
	queries := 0
	var seq uint16
	for s := t0; s < t1; s++ {
		for range poisson(d.rng, rate, 1) {
			seq++
			// Upstream: a fragment of up to 110 bytes, the most a name
			// carries in base32; when idle, a short poll.
			n := 60 + d.rng.IntN(51)
			if d.rng.IntN(5) == 0 {
				n = 4 + d.rng.IntN(6)
			}
			payload := d.encode(n)
			var b strings.Builder
			b.WriteByte(user)
			b.WriteString(strconv.FormatUint(uint64(seq), 32))
			for k := 0; k < len(payload); k += 60 {
				b.WriteByte('.')
				b.WriteString(payload[k:min(k+60, len(payload))])
			}
			b.WriteByte('.')
			b.WriteString(zone)
			q := Query{Iface: src, Time: s, Name: b.String(), RCode: "NOERROR", SrcPort: port}
			switch x := d.rng.IntN(20); {
			case x < 12:
				raw := make([]byte, 40+d.rng.IntN(160))
				for k := range raw {
					raw[k] = byte(d.rng.IntN(256))
				}
				q.Type = "NULL"
				q.Answers = []Answer{{Data: `\# ` + strconv.Itoa(len(raw)) + " " + hexString(raw), Type: "NULL"}}
			case x < 17:
				q.Type = "TXT"
				q.Answers = []Answer{{Data: `"` + d.encode(60+d.rng.IntN(120)) + `"`, Type: "TXT"}}
			default:
				q.Type = "CNAME"
				q.Answers = []Answer{{Data: d.encode(30+d.rng.IntN(30)) + "." + zone + ".", Type: "CNAME"}}
			}
			d.add(q)
			queries++
		}
	}
	return []Label{{
		Name: t.Name, Type: "Trojan:EC2/DNSDataExfiltration", Resource: resourceOf(src), Role: "ACTOR", Domain: domain,
		Start: time.Unix(t0, 0).UTC(), End: time.Unix(t1, 0).UTC(), Probes: queries,
	}}, nil
}

// hexString returns b in lower-case hexadecimal.
func hexString(b []byte) string {
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return string(out)
}

// encode returns n bytes of random data in base32 (without padding).
func (d *dnsGen) encode(n int) string {
	out := make([]byte, (n*8+4)/5)
	for k := range out {
		out[k] = base32[d.rng.IntN(32)]
	}
	return string(out)
}

// madeUpDomain makes a pronounceable domain name from x: syllables of a
// consonant and a vowel, under tld.
func madeUpDomain(x uint64, tld string) string {
	const cons, vows = "bcdfghklmnprstvz", "aeiou"
	var b []byte
	for range 3 + x%3 {
		b = append(b, cons[x%16], vows[x/16%5])
		x /= 80
	}
	return string(b) + "-" + strconv.FormatUint(x%90+10, 10) + "." + tld
}

func (a DGA) plan(g *Gen, start, end int64) ([]Label, error) {
	src, err := g.dnsSource("dga", a.Name, a.From)
	if err != nil {
		return nil, err
	}
	d := g.dns
	count := a.Count
	if count <= 0 {
		count = 120
	}
	resolving := a.Resolving
	switch {
	case resolving == 0:
		resolving = 1
	case resolving < 0:
		resolving = 0
	}
	resolving = min(resolving, count-count/2)
	tlds := a.TLDs
	if len(tlds) == 0 {
		tlds = []string{"com", "net", "org", "info", "biz"}
	}
	over := a.Over
	if over <= 0 {
		over = 2 * time.Minute
	}
	t0 := start + int64(a.At.Seconds())
	// The family's seed and the day: every infected host of the family
	// makes the same names that day.
	day := time.Unix(t0, 0).UTC()
	state := uint32(d.rng.Uint64()) ^ uint32(day.Year()*10000+int(day.Month())*100+day.Day())
	lcg := func() uint32 {
		state = state*1103515245 + 12345
		return state >> 8
	}
	// The ones that resolve are in the second half: the first domains
	// of the day are rarely the registered ones.
	hits := map[int]bool{}
	for len(hits) < resolving {
		hits[count/2+d.rng.IntN(count-count/2)] = true
	}
	var found string
	queries := 0
	for k := range count {
		n := 10 + int(lcg()%9)
		name := make([]byte, n)
		for j := range name {
			name[j] = byte('a' + lcg()%26)
		}
		domain := string(name) + "." + tlds[lcg()%uint32(len(tlds))]
		t := t0 + int64(float64(k)*over.Seconds()/float64(count))
		if t >= end {
			break
		}
		q := Query{Iface: src, Time: t, Name: domain, Type: "A", RCode: "NXDOMAIN", SrcPort: d.port()}
		if hits[k] {
			q.RCode = "NOERROR"
			q.Answers = []Answer{{Data: randomPublic(d.rng).String(), Type: "A"}}
			if found == "" {
				found = domain
			}
		}
		d.add(q)
		queries++
	}
	return []Label{{
		Name: a.Name, Type: "Trojan:EC2/DGADomainRequest.C!DNS", Resource: resourceOf(src), Role: "ACTOR", Domain: found,
		Start: time.Unix(t0, 0).UTC(), End: time.Unix(t0+int64(over.Seconds()), 0).UTC(), Probes: queries,
	}}, nil
}

// Listed is an instance resolving a domain that a threat list names (a
// command server's, say) now and then: ordinary lookups of a name under
// it that answer, which only the list condemns. Gen.ThreatDomains
// returns the domains, for writing the list.
type Listed struct {
	Name   string
	From   string        // the estate reference of the instance
	Domain string        // the listed domain ("": one made up from the seed)
	Count  int           // lookups (default 5)
	Over   time.Duration // spread over this long (default 10 minutes)
	At     time.Duration
}

func (l Listed) plan(g *Gen, start, end int64) ([]Label, error) {
	src, err := g.dnsSource("listed", l.Name, l.From)
	if err != nil {
		return nil, err
	}
	d := g.dns
	domain := l.Domain
	if domain == "" {
		domain = madeUpDomain(d.rng.Uint64(), "com")
	}
	count := l.Count
	if count <= 0 {
		count = 5
	}
	over := l.Over
	if over <= 0 {
		over = 10 * time.Minute
	}
	name := "update." + domain
	addr := randomPublic(d.rng)
	t0 := start + int64(l.At.Seconds())
	queries := 0
	for k := range count {
		t := t0 + int64(float64(k)*over.Seconds()/float64(count))
		if t >= end {
			break
		}
		d.add(Query{Iface: src, Time: t, Name: name, Type: "A", RCode: "NOERROR", SrcPort: d.port(),
			Answers: []Answer{{Data: addr.String(), Type: "A"}}})
		queries++
	}
	d.listed = append(d.listed, domain)
	return []Label{{
		Name: l.Name, Type: "Impact:EC2/MaliciousDomainRequest.Custom", Resource: resourceOf(src), Role: "ACTOR", Domain: domain,
		Start: time.Unix(t0, 0).UTC(), End: time.Unix(t0+int64(over.Seconds()), 0).UTC(), Probes: queries,
	}}, nil
}
