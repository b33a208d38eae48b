package synth

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseAttack parses an attack written as a kind and key=value settings,
// the form scenario files and `picket generate --attack` use:
//
//	scan from=internet target=bastion:0 ports=top:100 timing=T4 kind=syn
//	scan from=app:1 target=10.0.40.9 ports=1-1024 masscan=true
//	sweep from=worker:0 port=22 hosts=200 network=vpc timing=T3
//	bruteforce from=internet target=bastion:0 port=22 attempts=60 interval=3s
//	distributed target=bastion:0 sources=20 ports=top:100 decoy=true
//
// the DNS attacks, which need the Resolver query log (Gen.RunDNS):
//
//	tunnel from=worker:1 domain=example.net rate=8 duration=20m
//	dga from=app:2 count=120 resolving=1 over=2m tlds=com,net,org
//	listed from=web:1 domain=example.org count=5 over=10m
//
// and the benign activities, which embed traffic the detectors must stay
// quiet on (their labels have no finding type):
//
//	clients from=internet target=web:0 port=443 count=2000 over=30m
//	sessions from=internet target=bastion:0 port=22 count=4 interval=15m duration=10m
//	retry from=app:0 target=db:1 port=6379 tries=200 interval=5s outcome=refused
//	healthcheck from=lb targets=web port=80 interval=10s down=web:1
//	fanout from=worker port=443 hosts=3000 fail=0.03 nat=true over=30m
//
// Every kind takes name= and at= (a delay after the run starts, such as
// 10m). Ports are a list (22,80,443), a range (1-1024), or top:N.
func ParseAttack(spec string) (Attack, error) {
	fields := strings.Fields(spec)
	if len(fields) == 0 {
		return nil, fmt.Errorf("empty attack")
	}
	kind := fields[0]
	kv := map[string]string{}
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("attack %q: %q is not key=value", spec, f)
		}
		kv[k] = v
	}
	p := &specParser{kv: kv, used: map[string]bool{}}
	var a Attack
	switch kind {
	case "scan":
		s := Scan{Name: p.str("name", "scan"), From: p.str("from", "internet"), Target: p.str("target", "")}
		s.Ports, s.TopPorts = p.ports("ports")
		s.Timing = p.timing("timing")
		s.Kind = p.scanKind("kind")
		s.Masscan = p.bool("masscan")
		s.At = p.dur("at")
		s.Retries = p.int("retries", 0)
		if s.Target == "" {
			p.fail("scan needs target=")
		}
		a = s
	case "sweep":
		s := Sweep{Name: p.str("name", "sweep"), From: p.str("from", ""), Network: p.str("network", "internet")}
		s.Port = uint16(p.int("port", 22))
		s.Hosts = p.int("hosts", 100)
		s.Timing = p.timing("timing")
		s.At = p.dur("at")
		if s.From == "" {
			p.fail("sweep needs from=")
		}
		if s.Network != "internet" && s.Network != "vpc" {
			p.fail("network must be internet or vpc")
		}
		a = s
	case "bruteforce":
		b := BruteForce{Name: p.str("name", "bruteforce"), From: p.str("from", "internet"), Target: p.str("target", "")}
		b.Port = uint16(p.int("port", 22))
		b.Attempts = p.int("attempts", 50)
		b.Interval = p.durOr("interval", 2*time.Second)
		b.At = p.dur("at")
		if b.Target == "" {
			p.fail("bruteforce needs target=")
		}
		a = b
	case "distributed":
		d := Distributed{Name: p.str("name", "distributed"), Target: p.str("target", "")}
		d.Sources = p.int("sources", 10)
		ports, top := p.ports("ports")
		if len(ports) == 0 {
			ports = TopPorts(top)
		}
		d.Ports = ports
		d.Timing = p.timing("timing")
		d.At = p.dur("at")
		d.Decoy = p.bool("decoy")
		if d.Target == "" {
			p.fail("distributed needs target=")
		}
		a = d
	case "clients":
		c := Clients{Name: p.str("name", "clients"), From: p.str("from", "internet"), Target: p.str("target", "")}
		c.Port = uint16(p.int("port", 443))
		c.Count = p.int("count", 100)
		c.Sessions = p.int("sessions", 1)
		c.At, c.Over = p.dur("at"), p.dur("over")
		if c.Target == "" {
			p.fail("clients needs target=")
		}
		a = c
	case "sessions":
		s := Sessions{Name: p.str("name", "sessions"), From: p.str("from", "internet"), Target: p.str("target", "")}
		s.Ports, _ = p.ports("ports")
		if port := p.int("port", 0); port > 0 {
			s.Ports = append(s.Ports, uint16(port))
		}
		s.Count = p.int("count", 1)
		s.Interval = p.durOr("interval", 10*time.Minute)
		s.Duration = p.durOr("duration", 10*time.Minute)
		s.Up, s.Down = uint64(p.int("up", 0)), uint64(p.int("down", 0))
		s.Outcome = p.outcome("outcome", Data)
		s.At = p.dur("at")
		if s.Target == "" {
			p.fail("sessions needs target=")
		}
		if s.Outcome != Data && s.Outcome != Established {
			p.fail("sessions: outcome must be data or established")
		}
		a = s
	case "retry":
		r := Retry{Name: p.str("name", "retry"), From: p.str("from", "internet"), Target: p.str("target", "")}
		r.Port = uint16(p.int("port", 443))
		r.Tries = p.int("tries", 20)
		r.Interval = p.durOr("interval", 5*time.Second)
		r.Outcome = p.outcome("outcome", Data)
		r.At = p.dur("at")
		if r.Target == "" {
			p.fail("retry needs target=")
		}
		a = r
	case "healthcheck":
		h := HealthCheck{Name: p.str("name", "healthcheck"), From: p.str("from", "lb"), Targets: p.str("targets", "web"), Down: p.str("down", "")}
		h.Checkers = p.int("checkers", 3)
		h.Port = uint16(p.int("port", 80))
		h.Interval = p.durOr("interval", 10*time.Second)
		h.HTTP = p.bool("http")
		h.At, h.Over = p.dur("at"), p.dur("over")
		a = h
	case "fanout":
		f := Fanout{Name: p.str("name", "fanout"), From: p.str("from", "")}
		f.Port = uint16(p.int("port", 443))
		f.Hosts = p.int("hosts", 1000)
		f.Fail = p.float("fail", 0.02)
		f.NAT = p.boolOr("nat", true)
		f.At, f.Over = p.dur("at"), p.dur("over")
		if f.From == "" {
			p.fail("fanout needs from=")
		}
		a = f
	case "tunnel":
		t := Tunnel{Name: p.str("name", "tunnel"), From: p.str("from", ""), Domain: strings.TrimSuffix(strings.ToLower(p.str("domain", "")), ".")}
		t.Rate = p.rate("rate", 8)
		t.Duration = p.durOr("duration", 20*time.Minute)
		t.At = p.dur("at")
		if t.From == "" {
			p.fail("tunnel needs from=")
		}
		a = t
	case "dga":
		d := DGA{Name: p.str("name", "dga"), From: p.str("from", "")}
		d.Count = p.int("count", 120)
		d.Resolving = p.int("resolving", 1)
		if d.Resolving == 0 {
			d.Resolving = -1
		}
		if tlds := p.str("tlds", ""); tlds != "" {
			d.TLDs = strings.Split(tlds, ",")
		}
		d.Over = p.durOr("over", 2*time.Minute)
		d.At = p.dur("at")
		if d.From == "" {
			p.fail("dga needs from=")
		}
		if d.Count == 0 {
			p.fail("dga needs count= of at least 1")
		}
		a = d
	case "listed":
		l := Listed{Name: p.str("name", "listed"), From: p.str("from", ""), Domain: strings.TrimSuffix(strings.ToLower(p.str("domain", "")), ".")}
		l.Count = p.int("count", 5)
		l.Over = p.durOr("over", 10*time.Minute)
		l.At = p.dur("at")
		if l.From == "" {
			p.fail("listed needs from=")
		}
		if l.Count == 0 {
			p.fail("listed needs count= of at least 1")
		}
		a = l
	default:
		return nil, fmt.Errorf("attack %q: unknown kind %q (scan, sweep, bruteforce, distributed; DNS: tunnel, dga, listed; benign: clients, sessions, retry, healthcheck, fanout)", spec, kind)
	}
	for k := range kv {
		if !p.used[k] {
			p.fail(fmt.Sprintf("unknown setting %q for %s", k, kind))
		}
	}
	if p.err != nil {
		return nil, fmt.Errorf("attack %q: %w", spec, p.err)
	}
	return a, nil
}

type specParser struct {
	kv   map[string]string
	used map[string]bool
	err  error
}

func (p *specParser) fail(msg string) {
	if p.err == nil {
		p.err = fmt.Errorf("%s", msg)
	}
}

func (p *specParser) get(k string) (string, bool) {
	v, ok := p.kv[k]
	p.used[k] = true
	return v, ok
}

func (p *specParser) str(k, def string) string {
	if v, ok := p.get(k); ok {
		return v
	}
	return def
}

func (p *specParser) int(k string, def int) int {
	v, ok := p.get(k)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		p.fail(fmt.Sprintf("%s=%q is not a count", k, v))
	}
	return n
}

func (p *specParser) bool(k string) bool { return p.boolOr(k, false) }

func (p *specParser) boolOr(k string, def bool) bool {
	v, ok := p.get(k)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(fmt.Sprintf("%s=%q is not true or false", k, v))
	}
	return b
}

func (p *specParser) float(k string, def float64) float64 {
	v, ok := p.get(k)
	if !ok {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 1 {
		p.fail(fmt.Sprintf("%s=%q is not a share from 0 to 1", k, v))
	}
	return f
}

// rate parses a positive rate.
func (p *specParser) rate(k string, def float64) float64 {
	v, ok := p.get(k)
	if !ok {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f > 0) || f > 1000 {
		p.fail(fmt.Sprintf("%s=%q is not a rate from above 0 to 1000 a second", k, v))
	}
	return f
}

// outcome parses how a benign activity's connections go.
func (p *specParser) outcome(k string, def Outcome) Outcome {
	v, ok := p.get(k)
	if !ok {
		return def
	}
	switch v {
	case "auto", "data":
		return Data
	case "established":
		return Established
	case "refused":
		return Refused
	case "unanswered":
		return Unanswered
	case "rejected":
		return Rejected
	}
	p.fail(fmt.Sprintf("%s=%q: want auto, data, established, refused, unanswered or rejected", k, v))
	return def
}

func (p *specParser) dur(k string) time.Duration { return p.durOr(k, 0) }

func (p *specParser) durOr(k string, def time.Duration) time.Duration {
	v, ok := p.get(k)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		p.fail(fmt.Sprintf("%s=%q is not a duration", k, v))
	}
	return d
}

func (p *specParser) timing(k string) Timing {
	v, ok := p.get(k)
	if !ok {
		return T3
	}
	v = strings.TrimPrefix(strings.TrimPrefix(v, "-"), "T")
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 5 {
		p.fail(fmt.Sprintf("%s: want T0 to T5", k))
		return T3
	}
	return TimingOf(n)
}

func (p *specParser) scanKind(k string) ScanKind {
	switch v := p.str(k, "syn"); v {
	case "syn", "sS":
		return SYNScan
	case "connect", "sT":
		return ConnectScan
	case "udp", "sU":
		return UDPScan
	default:
		p.fail(fmt.Sprintf("%s=%q: want syn, connect or udp", k, v))
	}
	return SYNScan
}

// ports parses a port list, a range or top:N.
func (p *specParser) ports(k string) ([]uint16, int) {
	v, ok := p.get(k)
	if !ok {
		return nil, 100
	}
	if n, ok := strings.CutPrefix(v, "top:"); ok {
		c, err := strconv.Atoi(n)
		if err != nil || c <= 0 || c > 65535 {
			p.fail(fmt.Sprintf("%s=%q: top:N needs 1 to 65535", k, v))
		}
		return nil, c
	}
	var out []uint16
	for _, part := range strings.Split(v, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 1 || b > 65535 || a > b {
			p.fail(fmt.Sprintf("%s=%q: bad port or range %q", k, v, part))
			return nil, 0
		}
		for x := a; x <= b; x++ {
			out = append(out, uint16(x))
		}
	}
	return out, 0
}
