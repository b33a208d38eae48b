package synth

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"picket/internal/event"
)

// The benign activities below embed traffic that looks busy, or fails
// now and then, but is no attack: the patterns the detectors must stay
// quiet on. Each yields a Label with an empty Type, which says that no
// finding is expected of it.

// Clients is many distinct clients using one service: a busy web server
// (whose replies go from its port to thousands of client ephemeral
// ports), or many hosts of a VPC using one database.
type Clients struct {
	Name     string
	From     string // "internet" (default), "vpc" (hosts of a peered network whose flow logs are not read), or estate interfaces: a role such as "app" or references such as "app:0,app:1"
	Target   string
	Port     uint16
	Count    int // distinct clients
	Sessions int // sessions per client (default 1)
	At       time.Duration
	Over     time.Duration // how long the activity lasts (default: to the end of the run)
}

// Sessions is one client's ordinary sessions with one host: an
// administrator's SSH or HTTPS sessions, or an FTP client's data
// connections to many ports that all answer.
type Sessions struct {
	Name     string
	From     string // "internet" (one host), an IP address, or an estate reference
	Target   string
	Ports    []uint16      // each session opens one connection per port (default 22)
	Count    int           // sessions (default 1)
	Interval time.Duration // between session starts (default 10 minutes)
	Duration time.Duration // of each connection (default 10 minutes)
	Up       uint64        // bytes client to server per connection (default: 20 per second of duration)
	Down     uint64        // bytes server to client (default: 200 per second of duration)
	Outcome  Outcome       // Data (default) or Established
	At       time.Duration
}

// Retry is a client that keeps trying one port it cannot reach: a
// misconfigured service, a client of a host that went down. Every try is
// a new connection from a new ephemeral port.
type Retry struct {
	Name     string
	From     string
	Target   string
	Port     uint16
	Tries    int
	Interval time.Duration
	// Outcome of every try: Refused, Unanswered or Rejected; Data (the
	// zero value) means what the target's security group and listening
	// ports decide, as for a probe.
	Outcome Outcome
	At      time.Duration
}

// HealthCheck is a health checker connecting to every target at a fixed
// interval: a load balancer's target group, or external uptime checkers.
type HealthCheck struct {
	Name     string
	From     string // an estate reference or role (default "lb": every load balancer interface), or "internet"
	Checkers int    // with From "internet": how many checker hosts (default 3)
	Targets  string // a role or a list of references (default "web")
	Port     uint16
	Interval time.Duration
	Down     string // targets whose service is down: the checks are refused
	HTTP     bool   // an HTTP check (request and response) rather than connect-and-close
	At       time.Duration
	Over     time.Duration
}

// Fanout is clients of the estate reaching many distinct internet hosts
// on one port, through the NAT gateway by default: a crawler, a package
// mirror sync, the fan-out (and, with several clients, fan-in) of a NAT
// gateway. A small share of the hosts do not answer.
type Fanout struct {
	Name  string
	From  string // an estate reference, list or role
	Port  uint16
	Hosts int
	Fail  float64 // share of hosts that do not answer
	NAT   bool    // through the NAT gateway
	At    time.Duration
	Over  time.Duration
}

// span returns the activity's time range within the run.
func span(start, end int64, at, over time.Duration) (int64, int64) {
	t0 := start + int64(at.Seconds())
	t1 := end
	if over > 0 {
		t1 = min(end, t0+int64(over.Seconds()))
	}
	return t0, max(t1, t0+1)
}

// group resolves a role name ("web": every web interface) or a list of
// references ("web:0,web:2").
func (g *Gen) group(ref string) ([]*Interface, error) {
	for r, n := range roleNames {
		if n == ref {
			list := g.estate.Role(Role(r))
			if len(list) == 0 {
				return nil, fmt.Errorf("the estate has no %s interfaces", ref)
			}
			return list, nil
		}
	}
	var out []*Interface
	for _, part := range strings.Split(ref, ",") {
		i, err := g.estate.Resolve(part)
		if err != nil {
			return nil, err
		}
		out = append(out, i)
	}
	return out, nil
}

func benignLabel(name, resource string, t0, t1 int64, trace []Probe) []Label {
	return []Label{{Name: name, Resource: resource, Start: time.Unix(t0, 0).UTC(), End: time.Unix(t1, 0).UTC(), Probes: len(trace), Trace: trace}}
}

// peerHost draws an address of a peered network whose flow logs are not
// read: private, outside the estate's 10.0.0.0/16.
func (g *Gen) peerHost() netip.Addr {
	return netip.AddrFrom4([4]byte{10, 1, byte(g.rng.IntN(256)), byte(1 + g.rng.IntN(254))})
}

func (c Clients) plan(g *Gen, start, end int64) ([]Label, error) {
	dst, _, err := g.endpoint(c.Target)
	if err != nil {
		return nil, fmt.Errorf("clients %s: %w", c.Name, err)
	}
	var local []*Interface
	switch c.From {
	case "", "internet", "vpc":
	default:
		if local, err = g.group(c.From); err != nil {
			return nil, fmt.Errorf("clients %s: %w", c.Name, err)
		}
	}
	t0, t1 := span(start, end, c.At, c.Over)
	n := max(c.Count, 1)
	sessions := max(c.Sessions, 1)
	var trace []Probe
	for k := 0; k < n; k++ {
		var src netip.Addr
		switch {
		case local != nil:
			src = local[k%len(local)].Private
		case c.From == "vpc":
			src = g.peerHost()
		default:
			src = g.internetHost()
		}
		for range sessions {
			t := t0 + g.rng.Int64N(t1-t0)
			g.trace(&trace, Conv{Client: src, Server: dst, CPort: g.ephemeral(), SPort: c.Port, Proto: event.ProtoTCP, Start: t,
				Duration: int64(1 + g.rng.IntN(30)), Outcome: Data, Up: uint64(300 + g.rng.IntN(3000)), Down: uint64(2000 + g.rng.IntN(200000))})
		}
	}
	return benignLabel(c.Name, c.Target, t0, t1, trace), nil
}

func (s Sessions) plan(g *Gen, start, end int64) ([]Label, error) {
	src, _, err := g.endpoint(s.From)
	if err != nil {
		return nil, fmt.Errorf("sessions %s: %w", s.Name, err)
	}
	dst, _, err := g.endpoint(s.Target)
	if err != nil {
		return nil, fmt.Errorf("sessions %s: %w", s.Name, err)
	}
	ports := s.Ports
	if len(ports) == 0 {
		ports = []uint16{22}
	}
	interval := s.Interval
	if interval <= 0 {
		interval = 10 * time.Minute
	}
	dur := int64(s.Duration.Seconds())
	if s.Duration <= 0 {
		dur = 600
	}
	up, down := s.Up, s.Down
	if up == 0 {
		up = uint64(20 * max(dur, 1))
	}
	if down == 0 {
		down = uint64(200 * max(dur, 1))
	}
	t0 := start + int64(s.At.Seconds())
	var trace []Probe
	for k := 0; k < max(s.Count, 1); k++ {
		t := t0 + int64(float64(k)*interval.Seconds())
		if t >= end {
			break
		}
		for i, p := range ports {
			jitter := func(v uint64) uint64 { return v - v/10 + uint64(g.rng.Int64N(int64(v/5)+1)) }
			g.trace(&trace, Conv{Client: src, Server: dst, CPort: g.ephemeral(), SPort: p, Proto: event.ProtoTCP, Start: t + int64(i),
				Duration: dur, Outcome: s.Outcome, Up: jitter(up), Down: jitter(down)})
		}
	}
	return benignLabel(s.Name, s.Target, t0, t0+int64(float64(max(s.Count, 1))*interval.Seconds()), trace), nil
}

func (r Retry) plan(g *Gen, start, end int64) ([]Label, error) {
	src, _, err := g.endpoint(r.From)
	if err != nil {
		return nil, fmt.Errorf("retry %s: %w", r.Name, err)
	}
	dst, dstIf, err := g.endpoint(r.Target)
	if err != nil {
		return nil, fmt.Errorf("retry %s: %w", r.Name, err)
	}
	interval := r.Interval
	if interval <= 0 {
		interval = 5 * time.Second
	}
	out := r.Outcome
	if out == Data {
		out = probeOutcome(dstIf, src, r.Port, ConnectScan)
		if out == OpenConnect {
			out = Established
		}
	}
	t0 := start + int64(r.At.Seconds())
	var trace []Probe
	for k := 0; k < max(r.Tries, 1); k++ {
		t := t0 + int64(float64(k)*interval.Seconds())
		if t >= end {
			break
		}
		// A connect() that nothing answers sends its SYN three times
		// before the client gives up.
		g.trace(&trace, Conv{Client: src, Server: dst, CPort: g.ephemeral(), SPort: r.Port, Proto: event.ProtoTCP, Start: t, Outcome: out, Tries: 3,
			Up: 100, Down: 100})
	}
	return benignLabel(r.Name, r.Target, t0, t0+int64(float64(max(r.Tries, 1))*interval.Seconds()), trace), nil
}

func (h HealthCheck) plan(g *Gen, start, end int64) ([]Label, error) {
	targets, err := g.group(cmpOr(h.Targets, "web"))
	if err != nil {
		return nil, fmt.Errorf("healthcheck %s: %w", h.Name, err)
	}
	var checkers []netip.Addr
	if h.From == "internet" {
		for range max(h.Checkers, 1) {
			checkers = append(checkers, g.internetHost())
		}
	} else {
		from, err := g.group(cmpOr(h.From, "lb"))
		if err != nil {
			return nil, fmt.Errorf("healthcheck %s: %w", h.Name, err)
		}
		for _, i := range from {
			checkers = append(checkers, i.Private)
		}
	}
	down := map[*Interface]bool{}
	if h.Down != "" {
		list, err := g.group(h.Down)
		if err != nil {
			return nil, fmt.Errorf("healthcheck %s: %w", h.Name, err)
		}
		for _, i := range list {
			down[i] = true
		}
	}
	interval := int64(h.Interval.Seconds())
	if interval <= 0 {
		interval = 10
	}
	t0, t1 := span(start, end, h.At, h.Over)
	var trace []Probe
	for t := t0; t < t1; t += interval {
		for ci, from := range checkers {
			for ti, target := range targets {
				c := Conv{Client: from, Server: target.Private, CPort: g.ephemeral(), SPort: h.Port, Proto: event.ProtoTCP,
					Start: t + int64(ci+ti)%interval, Outcome: Established, Up: 0, Down: 0, Tries: 3}
				switch {
				case !target.Allows(from, h.Port):
					c.Outcome = Rejected
				case down[target]:
					c.Outcome = Refused
				case h.HTTP:
					c.Outcome, c.Up, c.Down = Data, uint64(90+g.rng.IntN(40)), uint64(200+g.rng.IntN(400))
				}
				g.trace(&trace, c)
			}
		}
	}
	return benignLabel(h.Name, h.Targets, t0, t1, trace), nil
}

func (f Fanout) plan(g *Gen, start, end int64) ([]Label, error) {
	from, err := g.group(f.From)
	if err != nil {
		return nil, fmt.Errorf("fanout %s: %w", f.Name, err)
	}
	t0, t1 := span(start, end, f.At, f.Over)
	var trace []Probe
	for k := 0; k < max(f.Hosts, 1); k++ {
		src := from[k%len(from)]
		c := Conv{Client: src.Private, Server: g.internetHost(), CPort: g.ephemeral(), SPort: f.Port, Proto: event.ProtoTCP,
			Start: t0 + g.rng.Int64N(t1-t0), Duration: int64(1 + g.rng.IntN(20)), Outcome: Data,
			Up: uint64(300 + g.rng.IntN(2000)), Down: uint64(2000 + g.rng.IntN(500000)), ViaNAT: f.NAT, Tries: 3}
		if g.rng.Float64() < f.Fail {
			c.Outcome = Unanswered
		}
		g.trace(&trace, c)
	}
	return benignLabel(f.Name, f.From, t0, t1, trace), nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
