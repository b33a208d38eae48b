// Package synth owns picket's synthetic traffic: a seeded generator that
// builds an AWS estate (a VPC of instances with roles, security groups,
// public addresses, a NAT gateway and a load balancer), simulates the
// traffic a real one carries (internal client/server calls with both
// directions recorded on both interfaces, outbound web traffic through the
// NAT gateway, inbound web clients, load balancer health checks, internet
// background noise) and embeds attacks (port scans shaped like nmap and
// masscan, sweeps, brute force). Each Record it makes becomes the
// event.Flow that VPC Flow Logs would hold (Record.Flow), which the Writer
// encodes with vpcflow.AppendFlow, the one flow log text encoder, in any
// version or custom format and any file layout. Gen.RunDNS also makes the
// Route 53 Resolver query log of the estate's instances (their lookups of
// AWS endpoints, package mirrors, the company's names, reverse lookups,
// the NXDOMAIN of typing errors and search domains) with DNS attacks
// embedded (a tunnel, a DGA burst), which the QueryWriter writes as
// Resolver does, in one stream or the S3 layout. The same seed gives the
// same bytes.
//
// Tests, the bundled examples and the benchmarks use it; `picket generate`
// exposes it. It imports event (for the vocabulary of flows) and
// decode/vpcflow (for flow log formats and their encoding), and nothing
// that detects.
package synth

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
)

// Role is what an instance does in the estate.
type Role uint8

// The roles.
const (
	RoleWeb     Role = iota // serves 80/443 to the internet behind the load balancer and directly
	RoleApp                 // serves 8080 to web servers
	RoleDB                  // serves 5432 to app servers
	RoleBastion             // serves 22 to the internet
	RoleWorker              // batch jobs: calls the internet through the NAT gateway
	RoleNAT                 // the NAT gateway's interface
	RoleLB                  // a load balancer interface
	RoleWindows             // a Windows host serving RDP and WinRM inside the VPC
)

var roleNames = [...]string{"web", "app", "db", "bastion", "worker", "nat", "lb", "windows"}

func (r Role) String() string { return roleNames[r] }

// Interface is one network interface of the estate.
type Interface struct {
	ID       string // eni-...
	Instance string // i-..., "" for the NAT gateway and load balancer
	Role     Role
	Private  netip.Addr
	Public   netip.Addr // invalid when the interface has no public address
	Subnet   string
	VPC      string
	AZ       string // zone ID, such as use1-az1
	Open     map[uint16]Exposure
}

// Exposure says who a port is open to.
type Exposure uint8

// The exposures.
const (
	OpenVPC      Exposure = iota + 1 // reachable from the VPC only
	OpenInternet                     // reachable from anywhere
)

// Allows reports whether traffic from src may reach port on the interface,
// as its security group decides.
func (i *Interface) Allows(src netip.Addr, port uint16) bool {
	e, ok := i.Open[port]
	switch {
	case !ok:
		return false
	case e == OpenInternet:
		return true
	}
	return src.IsPrivate()
}

// Listens reports whether a service answers on port.
func (i *Interface) Listens(port uint16) bool {
	_, ok := i.Open[port]
	return ok
}

// Estate is a VPC of interfaces.
type Estate struct {
	Account    string
	Region     string
	VPC        string
	Interfaces []*Interface
	byRole     map[Role][]*Interface
	byAddr     map[netip.Addr]*Interface
}

// EstateConfig sizes an estate.
type EstateConfig struct {
	Web, App, DB, Bastion, Worker, Windows int
}

// DefaultEstate is a small three-tier application.
var DefaultEstate = EstateConfig{Web: 4, App: 4, DB: 2, Bastion: 1, Worker: 3, Windows: 2}

// NewEstate builds an estate with addresses and IDs drawn from rng.
func NewEstate(rng *rand.Rand, account, region string, cfg EstateConfig) *Estate {
	e := &Estate{
		Account: account, Region: region,
		VPC:    "vpc-" + hex(rng, 17),
		byRole: map[Role][]*Interface{},
		byAddr: map[netip.Addr]*Interface{},
	}
	azs := []string{zoneID(region, 1), zoneID(region, 2)}
	subnets := []string{"subnet-" + hex(rng, 17), "subnet-" + hex(rng, 17), "subnet-" + hex(rng, 17), "subnet-" + hex(rng, 17)}
	// Public subnets 10.0.0.0/24 and 10.0.1.0/24, private 10.0.16.0/20 and 10.0.32.0/20.
	next := map[int]int{0: 10, 1: 10, 2: 10, 3: 10}
	add := func(role Role, tier int, instance bool, public bool) *Interface {
		sub := tier*2 + len(e.byRole[role])%2
		host := next[sub]
		next[sub]++
		var priv netip.Addr
		if tier == 0 {
			// 245 hosts a /24, then the next /24s of the public tier
			// (10.0.2.0 to 10.0.15.255) for large estates.
			n := host - 10
			priv = netip.AddrFrom4([4]byte{10, 0, byte(sub + 2*(n/245)), byte(10 + n%245)})
		} else {
			third := 16 + 16*(sub-2) + host/250
			priv = netip.AddrFrom4([4]byte{10, 0, byte(third), byte(host%250 + 4)})
		}
		i := &Interface{
			ID: "eni-" + hex(rng, 17), Role: role, Private: priv,
			Subnet: subnets[sub], VPC: e.VPC, AZ: azs[sub%2], Open: map[uint16]Exposure{},
		}
		if instance {
			i.Instance = "i-" + hex(rng, 17)
		}
		if public {
			i.Public = publicAddr(len(e.Interfaces))
		}
		e.Interfaces = append(e.Interfaces, i)
		e.byRole[role] = append(e.byRole[role], i)
		e.byAddr[priv] = i
		return i
	}
	lb := add(RoleLB, 0, false, true)
	lb.Open[80] = OpenInternet
	lb.Open[443] = OpenInternet
	lb2 := add(RoleLB, 0, false, true)
	lb2.Open[80] = OpenInternet
	lb2.Open[443] = OpenInternet
	nat := add(RoleNAT, 0, false, true)
	_ = nat
	for n := 0; n < cfg.Web; n++ {
		w := add(RoleWeb, 0, true, true)
		w.Open[80] = OpenInternet
		w.Open[443] = OpenInternet
	}
	for n := 0; n < cfg.Bastion; n++ {
		b := add(RoleBastion, 0, true, true)
		b.Open[22] = OpenInternet
	}
	for n := 0; n < cfg.App; n++ {
		a := add(RoleApp, 1, true, false)
		a.Open[8080] = OpenVPC
		a.Open[22] = OpenVPC
	}
	for n := 0; n < cfg.DB; n++ {
		d := add(RoleDB, 1, true, false)
		d.Open[5432] = OpenVPC
		d.Open[22] = OpenVPC
	}
	for n := 0; n < cfg.Worker; n++ {
		w := add(RoleWorker, 1, true, false)
		w.Open[22] = OpenVPC
	}
	for n := 0; n < cfg.Windows; n++ {
		w := add(RoleWindows, 1, true, false)
		w.Open[3389] = OpenVPC
		w.Open[5985] = OpenVPC
		w.Open[445] = OpenVPC
	}
	for _, w := range e.byRole[RoleWeb] {
		w.Open[22] = OpenVPC
	}
	return e
}

// publicAddr is the public address of the estate's nth interface: a
// documentation range (203.0.113.10 on) for the first 246, then the
// benchmarking range 198.18.0.0/15 for large estates.
func publicAddr(n int) netip.Addr {
	if n < 246 {
		return netip.AddrFrom4([4]byte{203, 0, 113, byte(10 + n)})
	}
	n -= 246
	return netip.AddrFrom4([4]byte{198, 18 + byte(n>>16&1), byte(n >> 8), byte(n)})
}

// ScaledEstate is DefaultEstate grown to about n interfaces (the load
// balancers and the NAT gateway included), every role in the same
// proportion; at least the default.
func ScaledEstate(n int) EstateConfig {
	d := DefaultEstate
	base := d.Web + d.App + d.DB + d.Bastion + d.Worker + d.Windows
	f := max(1, float64(n-3)/float64(base))
	r := func(x int) int { return max(x, int(float64(x)*f+0.5)) }
	return EstateConfig{Web: r(d.Web), App: r(d.App), DB: r(d.DB), Bastion: r(d.Bastion), Worker: r(d.Worker), Windows: r(d.Windows)}
}

// Dense is the dense estate the performance benchmarks use, as
// production sees it: DenseInterfaces interfaces at DenseLoad (about
// 2,000 records a second, both directions of every conversation recorded
// by both ends) with the DenseAttacks embedded.
const (
	DenseInterfaces = 2000
	DenseLoad       = 160
)

// DenseAttacks are twenty attackers spread over the dense estate's first
// 40 minutes: scans from the internet and from inside, a masscan, sweeps,
// brute force and a distributed scan.
var DenseAttacks = []string{
	"scan name=internet-scan-bastion-0 from=internet target=bastion:0 ports=top:100 timing=T4 at=2m",
	"scan name=internet-scan-web-3 from=internet target=web:3 ports=top:1000 timing=T4 at=4m",
	"scan name=internet-masscan-web-40 from=internet target=web:40 ports=1-2000 masscan=true at=6m",
	"scan name=internet-slow-scan-bastion-7 from=internet target=bastion:7 ports=top:50 timing=T3 at=8m",
	"scan name=app-1-scans-db-0 from=app:1 target=db:0 ports=top:200 timing=T4 at=10m",
	"scan name=app-30-scans-db-9 from=app:30 target=db:9 ports=top:100 timing=T4 at=12m",
	"scan name=worker-5-scans-app-60 from=worker:5 target=app:60 ports=1-1024 timing=T4 at=14m",
	"scan name=windows-3-scans-windows-8 from=windows:3 target=windows:8 ports=top:100 timing=T4 at=16m",
	"sweep name=worker-0-sweeps-ssh from=worker:0 port=22 hosts=200 network=vpc timing=T4 at=18m",
	"sweep name=worker-11-sweeps-rdp from=worker:11 port=3389 hosts=150 network=vpc timing=T4 at=20m",
	"sweep name=app-7-sweeps-postgres from=app:7 port=5432 hosts=120 network=vpc timing=T4 at=22m",
	"sweep name=internet-sweeps-ssh from=internet port=22 hosts=300 network=internet timing=T4 at=24m",
	"sweep name=internet-sweeps-https from=internet port=443 hosts=250 network=internet timing=T4 at=26m",
	"bruteforce name=ssh-bruteforce-bastion-0 from=internet target=bastion:0 port=22 attempts=80 interval=3s at=28m",
	"bruteforce name=ssh-bruteforce-bastion-3 from=internet target=bastion:3 port=22 attempts=60 interval=2s at=30m",
	"bruteforce name=rdp-bruteforce-windows-2 from=internet target=windows:2 port=3389 attempts=60 interval=2s at=32m",
	"bruteforce name=ssh-bruteforce-from-worker-9 from=worker:9 target=app:12 port=22 attempts=70 interval=2s at=34m",
	"distributed name=distributed-scan-web-10 target=web:10 sources=20 ports=top:100 at=36m",
	"scan name=internet-scan-web-77 from=internet target=web:77 ports=top:300 timing=T4 at=38m",
	"bruteforce name=rdp-bruteforce-windows-20 from=internet target=windows:20 port=3389 attempts=50 interval=3s at=40m",
}

// Role returns the interfaces of a role.
func (e *Estate) Role(r Role) []*Interface { return e.byRole[r] }

// At returns the interface with private address a, or nil.
func (e *Estate) At(a netip.Addr) *Interface { return e.byAddr[a] }

// Find returns the interface with the given instance or interface ID.
func (e *Estate) Find(id string) *Interface {
	for _, i := range e.Interfaces {
		if i.ID == id || i.Instance == id {
			return i
		}
	}
	return nil
}

// Resolve picks an interface by a reference such as "web", "web:2", an
// instance ID or an interface ID.
func (e *Estate) Resolve(ref string) (*Interface, error) {
	if i := e.Find(ref); i != nil {
		return i, nil
	}
	name, idx := ref, 0
	for k := 0; k < len(ref); k++ {
		if ref[k] == ':' {
			name = ref[:k]
			if _, err := fmt.Sscanf(ref[k+1:], "%d", &idx); err != nil {
				return nil, fmt.Errorf("bad interface reference %q", ref)
			}
		}
	}
	for r, n := range roleNames {
		if n == name {
			list := e.byRole[Role(r)]
			if idx < 0 || idx >= len(list) {
				return nil, fmt.Errorf("interface reference %q: the estate has %d %s interfaces", ref, len(list), name)
			}
			return list[idx], nil
		}
	}
	return nil, fmt.Errorf("unknown interface reference %q (use a role such as web:0, or an instance or interface ID)", ref)
}

// zoneID makes an availability zone ID in AWS's style: us-east-1 gives
// use1-az1, ap-southeast-2 gives apse2-az1.
func zoneID(region string, n int) string {
	parts := strings.Split(region, "-")
	if len(parts) < 3 {
		return region + "-az" + strconv.Itoa(n)
	}
	dir := parts[1]
	for _, w := range []struct{ long, short string }{
		{"northeast", "ne"}, {"northwest", "nw"}, {"southeast", "se"}, {"southwest", "sw"},
		{"north", "n"}, {"south", "s"}, {"east", "e"}, {"west", "w"}, {"central", "c"},
	} {
		if dir == w.long {
			dir = w.short
			break
		}
	}
	return parts[0] + dir + parts[2] + "-az" + strconv.Itoa(n)
}

const hexDigits = "0123456789abcdef"

func hex(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = hexDigits[rng.IntN(16)]
	}
	return string(b)
}
