package synth

import (
	"cmp"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// This file generates the estate's DNS: the names each instance looks up
// through the VPC's Route 53 Resolver, as a Resolver query log records
// them. Every role has its habits (AWS service endpoints, the company's
// own names and those of its private hosted zone, package mirrors,
// partner APIs, reverse lookups, Windows' domain and update names), and
// the mistakes every estate makes: typing errors and short names that the
// search domain turns into NXDOMAIN. Attacks (dnsattack.go) add their
// queries to the same stream.

// Query is one DNS query an instance sent to the VPC's Resolver, with its
// response, as a Route 53 Resolver query log records it.
type Query struct {
	Iface   *Interface
	Time    int64  // Unix seconds
	Name    string // lower case, without the final dot
	Type    string // the query type's mnemonic: A, AAAA, PTR, SRV, TXT, NULL, CNAME
	RCode   string // NOERROR, NXDOMAIN, SERVFAIL
	Answers []Answer
	SrcPort uint16
	TCP     bool
}

// Answer is one record of a response.
type Answer struct {
	Data string // an address, a name with its final dot, quoted text
	Type string
}

// The company's domains: its public names, and its private hosted zone,
// which names the estate's instances. Both are under the documentation
// domain, so no real company is meant.
const (
	companyDomain = "example.com"
	privateZone   = "corp.example.com"
)

// lookupKind is how a name is answered.
type lookupKind uint8

const (
	lookPublic      lookupKind = iota // A records of public addresses; AAAA empty
	lookDualStack                     // A and AAAA records
	lookAlias                         // a CNAME to target, then its A records
	lookPrivate                       // an estate instance's name in the private zone: its private address
	lookPTRInternal                   // a reverse lookup of an estate address
	lookPTRClient                     // a reverse lookup of an internet client
	lookSRV                           // an SRV record naming target
	lookTypo                          // a mistyped name: NXDOMAIN
	lookShort                         // a single-label name with the search domain: NXDOMAIN
)

// lookup is one name an instance looks up, with its share of the
// instance's lookups.
type lookup struct {
	kind   lookupKind
	name   string
	target string     // the alias's or SRV record's target
	addr   netip.Addr // lookPrivate, lookPTRInternal: the estate address
	weight float64
}

// dnsClient is one instance and its habits.
type dnsClient struct {
	iface   *Interface
	lookups []lookup
	cum     []float64 // cumulative weights of lookups
}

// dnsGen makes the queries of a run.
type dnsGen struct {
	g        *Gen
	rng      *rand.Rand
	out      func(Query)
	internal string // the Resolver's name for the VPC's hosts: ec2.internal, <region>.compute.internal
	clients  []*dnsClient
	cum      []float64 // cumulative weights of clients
	admin    netip.Addr
	listed   []string // the domains of Listed attacks
	pending  []Query  // attacks' queries, in time order once planned
	next     int
	batch    []Query
}

// dnsRoleWeight is how much each role looks up, relative to the others.
var dnsRoleWeight = map[Role]float64{
	RoleWeb: 1, RoleApp: 1.5, RoleDB: 0.4, RoleBastion: 0.3, RoleWorker: 2, RoleWindows: 1,
}

func newDNSGen(g *Gen, out func(Query)) *dnsGen {
	seed := g.cfg.Seed
	d := &dnsGen{
		g:        g,
		rng:      rand.New(rand.NewPCG(seed^0xd15c0, seed+0x7e5017e7)),
		out:      out,
		internal: internalDomain(g.cfg.Region),
	}
	d.admin = randomPublic(d.rng)
	total := 0.0
	for _, i := range g.estate.Interfaces {
		w := dnsRoleWeight[i.Role]
		if i.Instance == "" || w == 0 {
			continue // NAT gateways and load balancers resolve nothing
		}
		c := &dnsClient{iface: i, lookups: d.habits(i)}
		s := 0.0
		for _, l := range c.lookups {
			s += l.weight
			c.cum = append(c.cum, s)
		}
		total += w
		d.clients = append(d.clients, c)
		d.cum = append(d.cum, total)
	}
	return d
}

// internalDomain is the domain of the Resolver's names for a region's
// hosts: ec2.internal in us-east-1, <region>.compute.internal elsewhere.
func internalDomain(region string) string {
	if region == "us-east-1" {
		return "ec2.internal"
	}
	return region + ".compute.internal"
}

// habits returns the names instance i looks up.
func (d *dnsGen) habits(i *Interface) []lookup {
	r := d.g.cfg.Region
	e := d.g.estate
	aws := func(svc string, w float64) lookup {
		return lookup{kind: lookPublic, name: svc + "." + r + ".amazonaws.com", weight: w}
	}
	pub := func(name string, w float64) lookup { return lookup{kind: lookPublic, name: name, weight: w} }
	alias := func(name, target string, w float64) lookup {
		return lookup{kind: lookAlias, name: name, target: target, weight: w}
	}
	ls := []lookup{
		// Every instance: the SSM agent, the CloudWatch agent, its role's
		// credentials, the package mirror.
		aws("ssm", 3), aws("ec2messages", 2), aws("ssmmessages", 1),
		aws("logs", 2), aws("monitoring", 1), aws("sts", 1.5), aws("ec2", 0.3),
		{kind: lookDualStack, name: "al2023-repos-" + r + "-de612dc2.s3.dualstack." + r + ".amazonaws.com", weight: 0.3},
		alias("http-intake.logs.datadoghq.com", "alb-logs-http-shard0-1776171593.us-east-1.elb.amazonaws.com", 0.8),
		{kind: lookTypo, weight: 0.05},
		{kind: lookShort, name: pickString(d.rng, []string{"redis", "metrics", "consul", "graphite", "kafka"}), weight: 0.1},
	}
	peers := func(role Role, w float64) {
		// A few instances of the role, each under its one name in the
		// private zone, role-n.corp.example.com.
		list := e.Role(role)
		var ks []int
		for _, k := range d.rng.Perm(len(list)) {
			if list[k] != i && len(ks) < 4 {
				ks = append(ks, k)
			}
		}
		for _, k := range ks {
			ls = append(ls, lookup{kind: lookPrivate, name: role.String() + "-" + strconv.Itoa(k) + "." + privateZone, addr: list[k].Private, weight: w / float64(len(ks))})
		}
	}
	switch i.Role {
	case RoleWeb:
		ls = append(ls, aws("s3", 1), pub("assets-"+e.Account+".s3."+r+".amazonaws.com", 1),
			pub("api."+companyDomain, 1), pub("auth."+companyDomain, 0.8),
			lookup{kind: lookPTRClient, weight: 2})
		peers(RoleApp, 3)
	case RoleApp:
		ls = append(ls, aws("secretsmanager", 1), aws("kms", 1), aws("dynamodb", 2), aws("sqs", 1),
			pub("api.stripe.com", 1), alias("hooks.slack.com", "hooks-slack-com.edge.example.net", 0.3),
			pub("sessions.a1b2c3.0001.use1.cache.amazonaws.com", 1))
		peers(RoleDB, 3)
		for _, p := range e.Role(RoleDB)[:min(2, len(e.Role(RoleDB)))] {
			ls = append(ls, lookup{kind: lookPTRInternal, addr: p.Private, weight: 0.2})
		}
	case RoleDB:
		ls = append(ls, aws("s3", 1), pub("backups-"+e.Account+".s3."+r+".amazonaws.com", 1), pub("ntp.ubuntu.com", 0.3),
			pub(r+".ec2.archive.ubuntu.com", 0.3), pub("security.ubuntu.com", 0.2))
	case RoleBastion:
		ls = append(ls, pub("github.com", 0.5), pub("api.github.com", 0.3),
			lookup{kind: lookPTRClient, name: "admin", weight: 0.5})
		peers(RoleApp, 1)
	case RoleWorker:
		ls = append(ls, aws("sqs", 3), aws("s3", 2), pub("data-lake-"+e.Account+".s3."+r+".amazonaws.com", 2),
			pub("pypi.org", 0.5), alias("files.pythonhosted.org", "dualstack.python.map.fastly.net", 0.5),
			pub("github.com", 0.4), alias("objects.githubusercontent.com", "objects-origin.githubusercontent.com", 0.2),
			pub(e.Account+".dkr.ecr."+r+".amazonaws.com", 0.5), pub("registry-1.docker.io", 0.2),
			pub("partner-api.example.net", 1))
		peers(RoleApp, 1)
	case RoleWindows:
		ls = append(ls, alias("time.windows.com", "twc.trafficmanager.net", 0.5),
			alias("settings-win.data.microsoft.com", "atm-settingsfe-prod-geo2.trafficmanager.net", 0.5),
			alias("ctldl.windowsupdate.com", "ctldl.windowsupdate.com.edgesuite.net", 0.4),
			pub("www.msftconnecttest.com", 0.3), pub("dns.msftncsi.com", 0.3),
			alias("login.microsoftonline.com", "login.mso.msidentity.com", 0.3),
			lookup{kind: lookSRV, name: "_ldap._tcp.dc._msdcs." + privateZone, target: "dc-0." + privateZone, weight: 0.5},
			lookup{kind: lookSRV, name: "_kerberos._tcp." + privateZone, target: "dc-0." + privateZone, weight: 0.3},
			lookup{kind: lookShort, name: "wpad", weight: 0.3})
		peers(RoleWindows, 0.5)
	}
	return ls
}

// ThreatDomains returns the domains that Listed attacks resolve, for a
// threat list, once RunDNS has planned them.
func (g *Gen) ThreatDomains() []string {
	if g.dns == nil {
		return nil
	}
	return slices.Clone(g.dns.listed)
}

// planned orders the attacks' queries once every attack is planned.
func (d *dnsGen) planned() {
	slices.SortStableFunc(d.pending, func(a, b Query) int { return cmp.Compare(a.Time, b.Time) })
}

// add queues an attack's query.
func (d *dnsGen) add(q Query) { d.pending = append(d.pending, q) }

// step makes the queries of [from, to) and hands them out in time order.
func (d *dnsGen) step(from, to int64) {
	rate := d.g.cfg.DNSRate
	if rate <= 0 {
		rate = 3
	}
	load := d.g.cfg.Load
	if load == 0 {
		load = 1
	}
	d.batch = d.batch[:0]
	if len(d.clients) > 0 {
		for range poisson(d.rng, rate*load, to-from) {
			c := d.clients[weighted(d.rng, d.cum)]
			l := &c.lookups[weighted(d.rng, c.cum)]
			d.lookup(c.iface, l, from+d.rng.Int64N(max(to-from, 1)))
		}
	}
	for d.next < len(d.pending) && d.pending[d.next].Time < to {
		d.batch = append(d.batch, d.pending[d.next])
		d.next++
	}
	slices.SortStableFunc(d.batch, func(a, b Query) int {
		return cmp.Or(cmp.Compare(a.Time, b.Time), a.Iface.Private.Compare(b.Iface.Private))
	})
	for _, q := range d.batch {
		d.out(q)
	}
}

// weighted picks an index by cumulative weights.
func weighted(rng *rand.Rand, cum []float64) int {
	x := rng.Float64() * cum[len(cum)-1]
	i, _ := slices.BinarySearch(cum, x)
	return min(i, len(cum)-1)
}

// lookup makes the queries of one lookup by i at t: an A query and, for
// most names, an AAAA query alongside, as stub resolvers send both.
func (d *dnsGen) lookup(i *Interface, l *lookup, t int64) {
	q := Query{Iface: i, Time: t, Type: "A", RCode: "NOERROR", SrcPort: d.port()}
	both := d.rng.IntN(2) == 0
	switch l.kind {
	case lookPublic, lookDualStack:
		q.Name = l.name
		q.Answers = addrAnswers(l.name, false)
		d.emit(q)
		if both || l.kind == lookDualStack {
			q.Type, q.Answers = "AAAA", nil
			if l.kind == lookDualStack {
				q.Answers = addrAnswers(l.name, true)
			}
			d.emit(q)
		}
	case lookAlias:
		q.Name = l.name
		q.Answers = append([]Answer{{Data: l.target + ".", Type: "CNAME"}}, addrAnswers(l.target, false)...)
		d.emit(q)
		if both {
			q.Type = "AAAA"
			q.Answers = append([]Answer{{Data: l.target + ".", Type: "CNAME"}}, addrAnswers(l.target, true)...)
			d.emit(q)
		}
	case lookPrivate:
		q.Name = l.name
		q.Answers = []Answer{{Data: l.addr.String(), Type: "A"}}
		d.emit(q)
		if both {
			q.Type, q.Answers = "AAAA", nil
			d.emit(q)
		}
	case lookPTRInternal:
		q.Name, q.Type = reverseName(l.addr), "PTR"
		q.Answers = []Answer{{Data: hostName(l.addr, d.internal) + ".", Type: "PTR"}}
		d.emit(q)
	case lookPTRClient:
		// A web server logging its clients' names, sshd looking up the
		// administrator: most addresses of home and mobile networks have
		// a name, many do not.
		a := d.admin
		if l.name != "admin" {
			a = randomPublic(d.rng)
		}
		q.Name, q.Type = reverseName(a), "PTR"
		if h := hashString(a.String()); h%5 < 2 {
			q.RCode = "NXDOMAIN"
		} else {
			b := a.As4()
			q.Answers = []Answer{{Data: "host-" + strconv.Itoa(int(b[0])) + "-" + strconv.Itoa(int(b[1])) + "-" +
				strconv.Itoa(int(b[2])) + "-" + strconv.Itoa(int(b[3])) + ".dynamic.example.net.", Type: "PTR"}}
		}
		d.emit(q)
	case lookSRV:
		q.Name, q.Type = l.name, "SRV"
		port := "389"
		if strings.HasPrefix(l.name, "_kerberos") {
			port = "88"
		}
		q.Answers = []Answer{{Data: "0 100 " + port + " " + l.target + ".", Type: "SRV"}}
		d.emit(q)
	case lookTypo:
		// A mistyped name: two letters of one of the instance's usual
		// public names swapped.
		q.Name, q.RCode = d.typo(i), "NXDOMAIN"
		d.emit(q)
	case lookShort:
		// A short name the stub resolver tries under the search domain
		// first, then on its own: neither exists.
		q.Name, q.RCode = l.name+"."+d.internal, "NXDOMAIN"
		d.emit(q)
		q.Name = l.name
		d.emit(q)
	}
}

func (d *dnsGen) emit(q Query) { d.batch = append(d.batch, q) }

// port draws the ephemeral source port of a query.
func (d *dnsGen) port() uint16 { return uint16(32768 + d.rng.IntN(28232)) }

// typo returns a mistyped public name: two adjacent letters of its first
// label swapped (a label that cannot change gives a doubled letter).
func (d *dnsGen) typo(i *Interface) string {
	names := []string{"api." + companyDomain, "github.com", "pypi.org", "auth." + companyDomain, "partner-api.example.net"}
	n := []byte(names[d.rng.IntN(len(names))])
	dot := strings.IndexByte(string(n), '.')
	for range 4 {
		k := d.rng.IntN(max(dot-1, 1))
		if n[k] != n[k+1] && n[k] != '-' && n[k+1] != '-' {
			n[k], n[k+1] = n[k+1], n[k]
			return string(n)
		}
	}
	return string(n[:1]) + string(n)
}

// addrAnswers returns the address records a public name answers with:
// one to four addresses that stay the same for the name, drawn from its
// hash (AWS names from Amazon's usual first octets).
func addrAnswers(name string, v6 bool) []Answer {
	h := hashString(name)
	n := 1 + int(h%4)
	out := make([]Answer, 0, n)
	firsts := []byte{13, 34, 35, 104, 140, 142, 151, 157, 185}
	if strings.HasSuffix(name, ".amazonaws.com") {
		firsts = []byte{3, 18, 52, 54}
	}
	for k := range n {
		x := hashString(name + "#" + strconv.Itoa(k))
		if v6 {
			var b [16]byte
			b[0], b[1], b[2], b[3] = 0x26, 0x00, 0x1f, 0x18
			for j := 8; j < 16; j++ {
				b[j] = byte(x >> (8 * (j - 8)))
			}
			out = append(out, Answer{Data: netip.AddrFrom16(b).String(), Type: "AAAA"})
			continue
		}
		a := netip.AddrFrom4([4]byte{firsts[x%uint64(len(firsts))], byte(x >> 8), byte(x >> 16), byte(1 + (x>>24)%254)})
		out = append(out, Answer{Data: a.String(), Type: "A"})
	}
	return out
}

// reverseName returns the in-addr.arpa name of an IPv4 address.
func reverseName(a netip.Addr) string {
	b := a.As4()
	return strconv.Itoa(int(b[3])) + "." + strconv.Itoa(int(b[2])) + "." + strconv.Itoa(int(b[1])) + "." +
		strconv.Itoa(int(b[0])) + ".in-addr.arpa"
}

// hostName returns the Resolver's name of a VPC address: ip-10-0-16-4
// under the internal domain.
func hostName(a netip.Addr, internal string) string {
	return "ip-" + strings.ReplaceAll(a.String(), ".", "-") + "." + internal
}

// randomPublic draws a public IPv4 address outside the reserved ranges.
func randomPublic(rng *rand.Rand) netip.Addr {
	for {
		a := netip.AddrFrom4([4]byte{byte(1 + rng.IntN(223)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(1 + rng.IntN(254))})
		if !a.IsPrivate() && !a.IsLoopback() && !a.IsMulticast() && !isReserved(a) {
			return a
		}
	}
}

func pickString(rng *rand.Rand, s []string) string { return s[rng.IntN(len(s))] }

// hashString is 64-bit FNV-1a with SplitMix64's finalizer, so that every
// bit depends on every byte.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := range len(s) {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	return h ^ h>>31
}
