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
//	distributed target=bastion:0 sources=20 ports=top:100
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
		if d.Target == "" {
			p.fail("distributed needs target=")
		}
		a = d
	default:
		return nil, fmt.Errorf("attack %q: unknown kind %q (scan, sweep, bruteforce, distributed)", spec, kind)
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

func (p *specParser) bool(k string) bool {
	v, ok := p.get(k)
	if !ok {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(fmt.Sprintf("%s=%q is not true or false", k, v))
	}
	return b
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
