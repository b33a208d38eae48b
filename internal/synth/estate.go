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
// version or custom format and any file layout. The same seed gives the
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
			priv = netip.AddrFrom4([4]byte{10, 0, byte(sub), byte(host)})
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
			// Documentation ranges stand in for the estate's public addresses.
			i.Public = netip.AddrFrom4([4]byte{203, 0, 113, byte(10 + len(e.Interfaces))})
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
