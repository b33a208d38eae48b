package synth

import (
	"fmt"
	"net/netip"
	"time"

	"picket/internal/event"
)

// Attack is an activity to embed, with the ground truth it should yield.
type Attack interface {
	plan(g *Gen, start, end int64) ([]Label, error)
}

// ScanKind is the probe type of a port scan.
type ScanKind uint8

// The probe types: nmap -sS, -sT and -sU.
const (
	SYNScan ScanKind = iota
	ConnectScan
	UDPScan
)

// Timing is an nmap timing template, -T0 to -T5, which sets the delay
// between probes (templates 3 to 5 probe in parallel). The zero Timing is
// T3, nmap's default.
type Timing int

// The templates.
const (
	T0 Timing = iota + 1 // paranoid: one probe every 5 minutes
	T1                   // sneaky: one every 15 seconds
	T2                   // polite: one every 0.4 seconds
	T3                   // normal: parallel
	T4                   // aggressive
	T5                   // insane
)

// TimingOf returns the template -Tn.
func TimingOf(n int) Timing { return Timing(n + 1) }

// Delay returns the average time between probes.
func (t Timing) Delay() time.Duration {
	switch t {
	case T0:
		return 5 * time.Minute
	case T1:
		return 15 * time.Second
	case T2:
		return 400 * time.Millisecond
	case T4:
		return 5 * time.Millisecond
	case T5:
		return 2 * time.Millisecond
	}
	return 10 * time.Millisecond
}

// Scan is a port scan of one host: nmap-like by default (shuffled top
// ports, one retry of unanswered probes), masscan-like with Masscan set
// (random order, one probe each, a fixed rate).
type Scan struct {
	Name     string
	From     string        // "internet" (a random host), an IP address, or an estate reference
	Target   string        // an estate reference, or an IP address outside the estate
	Ports    []uint16      // ports to probe; empty means the TopPorts most popular
	TopPorts int           // how many popular ports (default 100)
	Timing   Timing        // nmap -T template (default 3)
	Kind     ScanKind      //
	Masscan  bool          // masscan: no retries
	At       time.Duration // when the scan starts, after the run's start
	Retries  int           // retries of unanswered probes (nmap: 1)
}

// Sweep probes one port across many hosts.
type Sweep struct {
	Name    string
	From    string // an estate reference (our instance sweeping) or "internet"
	Port    uint16
	Hosts   int    // how many hosts
	Network string // "internet" or "vpc" (the estate's address space)
	Timing  Timing
	At      time.Duration
}

// BruteForce is repeated short logins to one service.
type BruteForce struct {
	Name     string
	From     string // "internet", an IP address, or an estate reference
	Target   string // an estate reference or an IP address
	Port     uint16 // 22 SSH, 3389 RDP, 5985 WinRM
	Attempts int
	Interval time.Duration
	At       time.Duration
}

// Distributed is one scan spread over many sources (or decoys).
type Distributed struct {
	Name    string
	Sources int
	Target  string
	Ports   []uint16
	Timing  Timing
	At      time.Duration
	// Decoy sends every probe from every source, as nmap -D does to hide
	// the real scanner among decoys; otherwise the sources share the
	// ports out between them.
	Decoy bool
}

// endpoint resolves an attacker or target reference: an estate interface
// (its private address), "internet" (a fresh random host) or an address.
func (g *Gen) endpoint(ref string) (netip.Addr, *Interface, error) {
	switch ref {
	case "", "internet":
		return g.internetHost(), nil, nil
	}
	if a, err := netip.ParseAddr(ref); err == nil {
		if i := g.estate.At(a); i != nil {
			return a, i, nil
		}
		for _, i := range g.estate.Interfaces {
			if i.Public == a {
				return i.Private, i, nil
			}
		}
		return a, nil, nil
	}
	i, err := g.estate.Resolve(ref)
	if err != nil {
		return netip.Addr{}, nil, err
	}
	return i.Private, i, nil
}

func resourceOf(i *Interface) string { return i.ResourceID() }

// ResourceID returns the ID a finding about the interface names: its
// instance's, or the interface's own when it belongs to no instance (a NAT
// gateway, a load balancer).
func (i *Interface) ResourceID() string {
	if i.Instance != "" {
		return i.Instance
	}
	return i.ID
}

// probe returns how a probe of port on the target goes, from src.
func probeOutcome(target *Interface, src netip.Addr, port uint16, kind ScanKind) Outcome {
	switch {
	case target == nil:
		return Unanswered
	case !target.Allows(src, port):
		return Rejected
	case !target.Listens(port):
		if kind == UDPScan {
			return Unanswered
		}
		return Refused
	case kind == ConnectScan:
		return OpenConnect
	case kind == UDPScan:
		return Data
	}
	return OpenHalf
}

func (s Scan) plan(g *Gen, start, end int64) ([]Label, error) {
	src, srcIf, err := g.endpoint(s.From)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", s.Name, err)
	}
	dst, dstIf, err := g.endpoint(s.Target)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", s.Name, err)
	}
	ports := s.Ports
	if len(ports) == 0 {
		n := s.TopPorts
		if n <= 0 {
			n = 100
		}
		ports = TopPorts(n)
	}
	ports = append([]uint16(nil), ports...)
	g.rng.Shuffle(len(ports), func(i, j int) { ports[i], ports[j] = ports[j], ports[i] })
	timing := s.Timing
	retries := s.Retries
	if !s.Masscan && retries == 0 {
		retries = 1
	}
	if s.Masscan {
		retries = 0
	}
	proto := event.ProtoTCP
	if s.Kind == UDPScan {
		proto = event.ProtoUDP
	}
	sport := g.ephemeral()
	t0 := float64(start) + s.At.Seconds()
	delay := timing.Delay().Seconds()
	opened := false
	var trace []Probe
	for k, p := range ports {
		t := int64(t0 + float64(k)*delay*(0.5+g.rng.Float64()))
		if t >= end {
			break
		}
		out := probeOutcome(dstIf, src, p, s.Kind)
		c := Conv{Client: src, Server: dst, CPort: sport, SPort: p, Proto: proto, Start: t, Outcome: out, Tries: 1}
		if s.Kind == ConnectScan {
			c.CPort = g.ephemeral()
		}
		if out == Rejected || out == Unanswered {
			c.Tries = 1 + retries
		}
		if (out == OpenHalf || out == OpenConnect) && p != 80 && p != 443 {
			opened = true
		}
		g.trace(&trace, c)
	}
	l := Label{Name: s.Name, Start: time.Unix(int64(t0), 0).UTC(), Probes: len(ports), Trace: trace}
	l.End = time.Unix(int64(t0+float64(len(ports))*delay), 0).UTC()
	switch {
	case srcIf != nil:
		// Our instance scans: outbound or inside the VPC.
		l.Type, l.Resource, l.Remote, l.Role = "Recon:EC2/Portscan", resourceOf(srcIf), dst.String(), "ACTOR"
	case dstIf != nil && opened && dstIf.Public.IsValid():
		l.Type, l.Resource, l.Remote, l.Role = "Recon:EC2/PortProbeUnprotectedPort", resourceOf(dstIf), src.String(), "TARGET"
	default:
		l.Resource = s.Target
		l.Remote = src.String()
	}
	return []Label{l}, nil
}

func (s Sweep) plan(g *Gen, start, end int64) ([]Label, error) {
	src, srcIf, err := g.endpoint(s.From)
	if err != nil {
		return nil, fmt.Errorf("sweep %s: %w", s.Name, err)
	}
	hosts := max(s.Hosts, 1)
	delay := s.Timing.Delay().Seconds()
	t0 := float64(start) + s.At.Seconds()
	var last netip.Addr
	var trace []Probe
	for k := 0; k < hosts; k++ {
		var dst netip.Addr
		var dstIf *Interface
		if s.Network == "vpc" {
			// Walk the estate's private ranges: most addresses hold nothing.
			dst = netip.AddrFrom4([4]byte{10, 0, byte(16 + k/250), byte(4 + k%250)})
			dstIf = g.estate.At(dst)
		} else {
			dst = g.internetHost()
		}
		t := int64(t0 + float64(k)*delay*(0.5+g.rng.Float64()))
		if t >= end {
			break
		}
		out := probeOutcome(dstIf, src, s.Port, SYNScan)
		if dstIf == nil && s.Network != "vpc" && g.rng.IntN(20) == 0 {
			out = OpenHalf // a few internet hosts answer
		}
		g.trace(&trace, Conv{Client: src, Server: dst, CPort: g.ephemeral(), SPort: s.Port, Proto: event.ProtoTCP, Start: t, Outcome: out, Tries: 2})
		last = dst
	}
	l := Label{Name: s.Name, Start: time.Unix(int64(t0), 0).UTC(), End: time.Unix(int64(t0+float64(hosts)*delay), 0).UTC(), Probes: hosts, Trace: trace}
	if srcIf != nil {
		l.Type, l.Resource, l.Remote, l.Role = "Impact:EC2/PortSweep", resourceOf(srcIf), last.String(), "ACTOR"
	}
	return []Label{l}, nil
}

func (b BruteForce) plan(g *Gen, start, end int64) ([]Label, error) {
	src, srcIf, err := g.endpoint(b.From)
	if err != nil {
		return nil, fmt.Errorf("brute force %s: %w", b.Name, err)
	}
	dst, dstIf, err := g.endpoint(b.Target)
	if err != nil {
		return nil, fmt.Errorf("brute force %s: %w", b.Name, err)
	}
	interval := b.Interval
	if interval <= 0 {
		interval = 2 * time.Second
	}
	t0 := start + int64(b.At.Seconds())
	var trace []Probe
	for k := 0; k < b.Attempts; k++ {
		t := t0 + int64(float64(k)*interval.Seconds())
		if t >= end {
			break
		}
		out := Established
		if dstIf != nil && !dstIf.Allows(src, b.Port) {
			out = Rejected
		}
		g.trace(&trace, Conv{Client: src, Server: dst, CPort: g.ephemeral(), SPort: b.Port, Proto: event.ProtoTCP, Start: t,
			Duration: int64(1 + g.rng.IntN(3)), Outcome: out, Up: uint64(1200 + g.rng.IntN(800)), Down: uint64(1500 + g.rng.IntN(900)), Tries: 2})
	}
	l := Label{Name: b.Name, Start: time.Unix(t0, 0).UTC(), End: time.Unix(t0+int64(float64(b.Attempts)*interval.Seconds()), 0).UTC(), Probes: b.Attempts, Trace: trace}
	typ := map[uint16]string{22: "UnauthorizedAccess:EC2/SSHBruteForce", 3389: "UnauthorizedAccess:EC2/RDPBruteForce", 5985: "Impact:EC2/WinRMBruteForce", 5986: "Impact:EC2/WinRMBruteForce"}[b.Port]
	switch {
	case srcIf != nil:
		l.Type, l.Resource, l.Remote, l.Role = typ, resourceOf(srcIf), dst.String(), "ACTOR"
	case dstIf != nil:
		l.Type, l.Resource, l.Remote, l.Role = typ, resourceOf(dstIf), src.String(), "TARGET"
	}
	return []Label{l}, nil
}

func (d Distributed) plan(g *Gen, start, end int64) ([]Label, error) {
	dst, dstIf, err := g.endpoint(d.Target)
	if err != nil {
		return nil, fmt.Errorf("distributed scan %s: %w", d.Name, err)
	}
	n := max(d.Sources, 2)
	srcs := make([]netip.Addr, n)
	for i := range srcs {
		srcs[i] = g.internetHost()
	}
	ports := d.Ports
	if len(ports) == 0 {
		ports = TopPorts(100)
	}
	delay := d.Timing.Delay().Seconds()
	t0 := float64(start) + d.At.Seconds()
	opened := false
	var trace []Probe
	for k, p := range ports {
		from := srcs[k%n : k%n+1]
		if d.Decoy {
			from = srcs
		}
		t := int64(t0 + float64(k)*delay*(0.5+g.rng.Float64()))
		if t >= end {
			break
		}
		for _, src := range from {
			out := probeOutcome(dstIf, src, p, SYNScan)
			if out == OpenHalf && p != 80 && p != 443 {
				opened = true
			}
			g.trace(&trace, Conv{Client: src, Server: dst, CPort: g.ephemeral(), SPort: p, Proto: event.ProtoTCP, Start: t, Outcome: out, Tries: 2})
		}
	}
	probes := len(ports)
	if d.Decoy {
		probes *= n
	}
	l := Label{Name: d.Name, Start: time.Unix(int64(t0), 0).UTC(), End: time.Unix(int64(t0+float64(len(ports))*delay), 0).UTC(), Probes: probes, Trace: trace}
	if dstIf != nil && opened {
		l.Type, l.Resource, l.Role = "Recon:EC2/PortProbeUnprotectedPort", resourceOf(dstIf), "TARGET"
	}
	return []Label{l}, nil
}

// topPorts are the TCP ports nmap tries first, most frequently open
// first, from the frequencies in its nmap-services file.
var topPorts = []uint16{
	80, 23, 443, 21, 22, 25, 3389, 110, 445, 139, 143, 53, 135, 3306, 8080, 1723, 111, 995, 993, 5900,
	1025, 587, 8888, 199, 1720, 465, 548, 113, 81, 6001, 10000, 514, 5060, 179, 1026, 2000, 8443, 8000, 32768, 554,
	26, 1433, 49152, 2001, 515, 8008, 49154, 1027, 5666, 646, 5000, 5631, 631, 49153, 8081, 2049, 88, 79, 5800, 106,
	2121, 1110, 49155, 6000, 513, 990, 5357, 427, 49156, 543, 544, 5101, 144, 7, 389, 8009, 3128, 444, 9999, 5009,
	7070, 5190, 3000, 5432, 1900, 3986, 13, 1029, 9, 5051, 6646, 49157, 1028, 873, 1755, 2717, 4899, 9100, 119, 37,
}

// TopPorts returns the n most popular TCP ports (n up to 100; beyond, the
// rest are the ports from 1 upward that are not already listed).
func TopPorts(n int) []uint16 {
	if n <= len(topPorts) {
		return append([]uint16(nil), topPorts[:n]...)
	}
	out := append([]uint16(nil), topPorts...)
	have := map[uint16]bool{}
	for _, p := range out {
		have[p] = true
	}
	for p := uint16(1); len(out) < n && p != 0; p++ {
		if !have[p] {
			out = append(out, p)
		}
	}
	return out
}
