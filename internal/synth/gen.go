package synth

import (
	"container/heap"
	"errors"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"picket/internal/event"
)

// Config configures a generation run.
type Config struct {
	Seed     uint64
	Account  string
	Region   string
	Start    time.Time
	Duration time.Duration // how much traffic time to simulate
	Records  int           // stop once this many records are made (0: no limit)
	Window   int64         // aggregation interval in seconds (60 on Nitro)
	Estate   EstateConfig
	// Load scales the background traffic: 1 is a quiet small estate
	// (about 250 records a minute with DefaultEstate).
	Load float64
	// Noise scales the internet background radiation that reaches public
	// addresses (connection attempts from random internet hosts).
	Noise float64
	// DNSRate is how many names the estate's instances look up a second
	// at Load 1 when RunDNS makes Route 53 Resolver query logs (0: 3, a
	// fifth of a lookup a second for each instance of DefaultEstate);
	// it scales with Load as the flows do.
	DNSRate float64
	// Attacks are embedded in the background.
	Attacks []Attack
}

// DefaultConfig generates an hour of a small estate's traffic.
var DefaultConfig = Config{
	Seed:     1,
	Account:  "123456789012",
	Region:   "us-east-1",
	Start:    time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC),
	Duration: time.Hour,
	Window:   60,
	Estate:   DefaultEstate,
	Load:     1,
	Noise:    1,
}

// Label is the ground truth of one embedded attack: what a detector should
// report.
type Label struct {
	Name     string
	Type     string // the GuardDuty finding type expected
	Resource string // the instance (or interface) the finding is about
	Remote   string // the remote address the finding names ("" for many)
	Role     string // TARGET or ACTOR
	Start    time.Time
	End      time.Time
	Probes   int // conversations (DNS queries) the attack made
	// Domain is the domain a DNS finding names: a tunnel's domain, the
	// algorithmically generated domain that resolved.
	Domain string `json:",omitempty"`
	// Trace lists every conversation the activity scheduled, in the order
	// it scheduled them: the ground truth from which an evaluation counts
	// the probes made before a detection, or the sources that reached an
	// open port. It is left out of the JSON labels file.
	Trace []Probe `json:"-"`
}

// Probe is one conversation of an attack or activity: when it started,
// who opened it with which port, and how it went.
type Probe struct {
	Start   time.Time
	Src     netip.Addr
	Dst     netip.Addr
	Port    uint16
	Proto   uint8
	Outcome Outcome
}

// Opened reports whether the conversation reached a port that answered:
// a half-open or connect probe of an open port, or a session.
func (p Probe) Opened() bool {
	switch p.Outcome {
	case OpenHalf, OpenConnect, Established, Data:
		return true
	}
	return false
}

// trace schedules c and notes it in trace.
func (g *Gen) trace(trace *[]Probe, c Conv) {
	g.Schedule(c)
	*trace = append(*trace, Probe{Start: time.Unix(c.Start, 0).UTC(), Src: c.Client, Dst: c.Server, Port: c.SPort, Proto: c.Proto, Outcome: c.Outcome})
}

// Gen is a generation run in progress.
type Gen struct {
	cfg     Config
	rng     *rand.Rand
	estate  *Estate
	labels  []Label
	queue   convHeap
	records int
	now     int64
	dns     *dnsGen // nil unless RunDNS makes queries
}

// New prepares a run.
func New(cfg Config) (*Gen, error) {
	if cfg.Window <= 0 {
		cfg.Window = 60
	}
	if cfg.Account == "" {
		cfg.Account = DefaultConfig.Account
	}
	if cfg.Region == "" {
		cfg.Region = DefaultConfig.Region
	}
	if cfg.Start.IsZero() {
		cfg.Start = DefaultConfig.Start
	}
	if cfg.Duration <= 0 && cfg.Records <= 0 {
		return nil, errors.New("synth: set a duration or a record count")
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 1000 * 24 * time.Hour
	}
	if cfg.Estate == (EstateConfig{}) {
		cfg.Estate = DefaultEstate
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5eed))
	g := &Gen{cfg: cfg, rng: rng}
	g.estate = NewEstate(rng, cfg.Account, cfg.Region, cfg.Estate)
	return g, nil
}

// Estate returns the generated estate.
func (g *Gen) Estate() *Estate { return g.estate }

// Labels returns the ground truth of the attacks, once Run has returned.
func (g *Gen) Labels() []Label { return g.labels }

// Rand returns the run's random source, for attacks.
func (g *Gen) Rand() *rand.Rand { return g.rng }

// Run generates traffic and hands every record to out in roughly time
// order (exactly ordered within each step of step seconds is not
// promised; writers sort what they batch).
func (g *Gen) Run(out func(Record)) error { return g.RunDNS(out, nil) }

// RunDNS is Run that also makes the Route 53 Resolver query log of the
// estate's instances, handing each query to queries in time order (nil:
// none, as Run). The queries draw on a random source of their own, so
// the flow records are the same with them or without; DNS attacks
// (Tunnel, DGA) need them.
func (g *Gen) RunDNS(out func(Record), queries func(Query)) error {
	start := g.cfg.Start.Unix()
	end := g.cfg.Start.Add(g.cfg.Duration).Unix()
	if queries != nil {
		g.dns = newDNSGen(g, queries)
	}
	acts := g.background()
	for _, a := range g.cfg.Attacks {
		l, err := a.plan(g, start, end)
		if err != nil {
			return err
		}
		g.labels = append(g.labels, l...)
	}
	if g.dns != nil {
		g.dns.planned()
	}
	const step = 60
	count := func(r Record) {
		g.records++
		out(r)
	}
	for t := start; t < end; t += step {
		g.now = t
		for _, a := range acts {
			a(t, min(t+step, end))
		}
		for len(g.queue) > 0 && g.queue[0].Start < t+step {
			c := heap.Pop(&g.queue).(Conv)
			g.expand(c, count)
		}
		if g.dns != nil {
			g.dns.step(t, min(t+step, end))
		}
		if g.cfg.Records > 0 && g.records >= g.cfg.Records {
			break
		}
	}
	return nil
}

// Schedule queues a conversation.
func (g *Gen) Schedule(c Conv) { heap.Push(&g.queue, c) }

type convHeap []Conv

func (h convHeap) Len() int           { return len(h) }
func (h convHeap) Less(i, j int) bool { return h[i].Start < h[j].Start }
func (h convHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *convHeap) Push(x any)        { *h = append(*h, x.(Conv)) }
func (h *convHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// poisson draws how many events of a process with the given rate per
// second happen in dt seconds.
func (g *Gen) poisson(rate float64, dt int64) int { return poisson(g.rng, rate, dt) }

// poisson draws from rng how many events of a process with the given
// rate per second happen in dt seconds.
func poisson(rng *rand.Rand, rate float64, dt int64) int {
	lambda := rate * float64(dt)
	if lambda <= 0 {
		return 0
	}
	if lambda > 50 {
		n := int(math.Round(lambda + math.Sqrt(lambda)*rng.NormFloat64()))
		return max(n, 0)
	}
	l := math.Exp(-lambda)
	k, p := 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

func (g *Gen) ephemeral() uint16 { return uint16(32768 + g.rng.IntN(28232)) }

// internetHost draws a random public address outside the reserved ranges.
func (g *Gen) internetHost() netip.Addr {
	for {
		a := netip.AddrFrom4([4]byte{byte(1 + g.rng.IntN(223)), byte(g.rng.IntN(256)), byte(g.rng.IntN(256)), byte(1 + g.rng.IntN(254))})
		if !a.IsPrivate() && !a.IsLoopback() && !a.IsMulticast() && !isReserved(a) {
			return a
		}
	}
}

var reserved = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"), netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("169.254.0.0/16"), netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("203.0.113.0/24"),
}

func isReserved(a netip.Addr) bool {
	for _, p := range reserved {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// popular internet services the estate's clients talk to: a pool so that
// the same servers recur, as real destinations do.
func (g *Gen) servicePool(n int) []netip.Addr {
	pool := make([]netip.Addr, n)
	for i := range pool {
		pool[i] = g.internetHost()
	}
	return pool
}

// background returns the background activities, each called once per
// step with the step's bounds.
func (g *Gen) background() []func(from, to int64) {
	load := g.cfg.Load
	if load == 0 {
		load = 1
	}
	noise := g.cfg.Noise
	e := g.estate
	pool := g.servicePool(200)
	clients := g.servicePool(2000) // internet users of the web tier
	var acts []func(from, to int64)
	at := func(from, to int64) int64 { return from + g.rng.Int64N(max(to-from, 1)) }

	// Web tier: internet clients through the load balancers and directly
	// to web servers (80 and 443), web to app, app to db.
	acts = append(acts, func(from, to int64) {
		for range g.poisson(0.6*load, to-from) {
			lb := pick(g, e.Role(RoleLB))
			web := pick(g, e.Role(RoleWeb))
			t := at(from, to)
			client := clients[g.rng.IntN(len(clients))]
			port := uint16(443)
			if g.rng.IntN(10) == 0 {
				port = 80
			}
			g.Schedule(Conv{Client: client, Server: lb.Private, CPort: g.ephemeral(), SPort: port, Proto: event.ProtoTCP,
				Start: t, Duration: int64(1 + g.rng.IntN(30)), Outcome: Data, Up: uint64(300 + g.rng.IntN(3000)), Down: uint64(2000 + g.rng.IntN(200000))})
			g.Schedule(Conv{Client: lb.Private, Server: web.Private, CPort: g.ephemeral(), SPort: 80, Proto: event.ProtoTCP,
				Start: t, Duration: int64(1 + g.rng.IntN(20)), Outcome: Data, Up: uint64(400 + g.rng.IntN(3000)), Down: uint64(2000 + g.rng.IntN(200000))})
			if app := e.Role(RoleApp); len(app) > 0 && g.rng.IntN(2) == 0 {
				a := pick(g, app)
				g.Schedule(Conv{Client: web.Private, Server: a.Private, CPort: g.ephemeral(), SPort: 8080, Proto: event.ProtoTCP,
					Start: t, Duration: int64(1 + g.rng.IntN(5)), Outcome: Data, Up: uint64(200 + g.rng.IntN(2000)), Down: uint64(500 + g.rng.IntN(20000))})
				if db := e.Role(RoleDB); len(db) > 0 && g.rng.IntN(2) == 0 {
					g.Schedule(Conv{Client: a.Private, Server: pick(g, db).Private, CPort: g.ephemeral(), SPort: 5432, Proto: event.ProtoTCP,
						Start: t, Duration: int64(1 + g.rng.IntN(3)), Outcome: Data, Up: uint64(100 + g.rng.IntN(1000)), Down: uint64(200 + g.rng.IntN(50000))})
				}
			}
		}
		// Clients that reach the web servers' public addresses directly.
		for range g.poisson(0.15*load, to-from) {
			web := pick(g, e.Role(RoleWeb))
			g.Schedule(Conv{Client: clients[g.rng.IntN(len(clients))], Server: web.Private, CPort: g.ephemeral(), SPort: 443, Proto: event.ProtoTCP,
				Start: at(from, to), Duration: int64(1 + g.rng.IntN(10)), Outcome: Data, Up: uint64(300 + g.rng.IntN(2000)), Down: uint64(1000 + g.rng.IntN(100000))})
		}
	})

	// Load balancer health checks: every target, every 10 seconds, from
	// each load balancer interface; a TCP check connects and closes.
	acts = append(acts, func(from, to int64) {
		for _, lb := range e.Role(RoleLB) {
			for ti, web := range e.Role(RoleWeb) {
				for t := from - from%10 + int64(ti); t < to; t += 10 {
					if t < from {
						continue
					}
					g.Schedule(Conv{Client: lb.Private, Server: web.Private, CPort: g.ephemeral(), SPort: 80, Proto: event.ProtoTCP,
						Start: t, Duration: 0, Outcome: Established, Up: 90, Down: 120})
				}
			}
		}
	})

	// Outbound: workers and app servers call internet services through
	// the NAT gateway; every host resolves names with the VPC resolver
	// and keeps time with NTP.
	acts = append(acts, func(from, to int64) {
		talkers := append(slices.Clone(e.Role(RoleWorker)), e.Role(RoleApp)...)
		for range g.poisson(0.4*load, to-from) {
			src := pick(g, talkers)
			dst := pool[int(math.Min(float64(len(pool)-1), math.Abs(g.rng.NormFloat64())*40))]
			g.Schedule(Conv{Client: src.Private, Server: dst, CPort: g.ephemeral(), SPort: 443, Proto: event.ProtoTCP,
				Start: at(from, to), Duration: int64(1 + g.rng.IntN(60)), Outcome: Data, Up: uint64(500 + g.rng.IntN(20000)), Down: uint64(1000 + g.rng.IntN(2000000)), ViaNAT: true})
		}
		// Web servers fetch from the internet directly.
		for range g.poisson(0.05*load, to-from) {
			src := pick(g, e.Role(RoleWeb))
			g.Schedule(Conv{Client: src.Private, Server: pool[g.rng.IntN(len(pool))], CPort: g.ephemeral(), SPort: 443, Proto: event.ProtoTCP,
				Start: at(from, to), Duration: int64(1 + g.rng.IntN(20)), Outcome: Data, Up: uint64(500 + g.rng.IntN(5000)), Down: uint64(1000 + g.rng.IntN(500000))})
		}
		resolver := netip.AddrFrom4([4]byte{10, 0, 0, 2})
		for range g.poisson(0.5*load, to-from) {
			src := pick(g, e.Interfaces)
			if src.Role == RoleNAT || src.Role == RoleLB {
				continue
			}
			g.Schedule(Conv{Client: src.Private, Server: resolver, CPort: g.ephemeral(), SPort: 53, Proto: event.ProtoUDP,
				Start: at(from, to), Outcome: Data, Up: 40, Down: 120})
		}
	})

	// Administration: an admin's SSH sessions through the bastion to app
	// servers, and RDP to the Windows hosts, now and then.
	admin := g.internetHost()
	acts = append(acts, func(from, to int64) {
		for range g.poisson(0.003*load, to-from) {
			b := e.Role(RoleBastion)
			if len(b) == 0 {
				return
			}
			t := at(from, to)
			g.Schedule(Conv{Client: admin, Server: b[0].Private, CPort: g.ephemeral(), SPort: 22, Proto: event.ProtoTCP,
				Start: t, Duration: int64(120 + g.rng.IntN(1800)), Outcome: Data, Up: uint64(5000 + g.rng.IntN(50000)), Down: uint64(20000 + g.rng.IntN(500000))})
			if app := e.Role(RoleApp); len(app) > 0 {
				g.Schedule(Conv{Client: b[0].Private, Server: pick(g, app).Private, CPort: g.ephemeral(), SPort: 22, Proto: event.ProtoTCP,
					Start: t + 5, Duration: int64(60 + g.rng.IntN(600)), Outcome: Data, Up: uint64(3000 + g.rng.IntN(20000)), Down: uint64(10000 + g.rng.IntN(200000))})
			}
			if win := e.Role(RoleWindows); len(win) > 0 {
				g.Schedule(Conv{Client: b[0].Private, Server: pick(g, win).Private, CPort: g.ephemeral(), SPort: 3389, Proto: event.ProtoTCP,
					Start: t + 10, Duration: int64(300 + g.rng.IntN(1200)), Outcome: Data, Up: uint64(50000 + g.rng.IntN(500000)), Down: uint64(500000 + g.rng.IntN(5000000))})
			}
		}
	})

	// Internet background radiation: random hosts try random and popular
	// ports on every public address, once or twice each. Security groups
	// reject most; open ports answer.
	acts = append(acts, func(from, to int64) {
		if noise == 0 {
			return
		}
		var public []*Interface
		for _, i := range e.Interfaces {
			if i.Public.IsValid() {
				public = append(public, i)
			}
		}
		for range g.poisson(0.02*noise*float64(len(public)), to-from) {
			dst := pick(g, public)
			src := g.internetHost()
			port := popularPorts[g.rng.IntN(len(popularPorts))]
			if g.rng.IntN(3) == 0 {
				port = uint16(1 + g.rng.IntN(65535))
			}
			c := Conv{Client: src, Server: dst.Private, CPort: g.ephemeral(), SPort: port, Proto: event.ProtoTCP, Start: at(from, to), Tries: 1 + g.rng.IntN(2)}
			switch {
			case !dst.Allows(src, port):
				c.Outcome = Rejected
			case port == 80 || port == 443:
				c.Outcome = Established
			default:
				c.Outcome = OpenHalf
			}
			g.Schedule(c)
		}
	})
	return acts
}

// popularPorts are the ports internet scanners try most.
var popularPorts = []uint16{22, 23, 80, 443, 445, 3389, 8080, 21, 25, 3306, 5900, 8443, 6379, 9200, 2375, 5432, 1433, 27017}

func pick[T any](g *Gen, s []T) T { return s[g.rng.IntN(len(s))] }
