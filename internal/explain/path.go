package explain

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"picket/internal/event"
	"picket/internal/inventory"
)

// pathFacts is what Path found: the hops, and why the finding should be
// rated down when its "attacker" or its resource stands for many hosts.
type pathFacts struct {
	Hops      []string // each a step of the way, or a fact about an end of it, in a sentence
	RatedDown string
}

// end describes who holds an address in a snapshot.
type end struct {
	addr  netip.Addr
	iface *inventory.Interface
	inst  *inventory.Instance
	task  *inventory.Task
	nat   *inventory.NATGateway
	lb    *inventory.LoadBalancer
}

func (s *scene) endOf(a netip.Addr, vpc string) end {
	e := end{addr: a}
	e.iface = s.snap.InterfaceByAddr(a, vpc)
	if e.iface == nil && vpc != "" {
		e.iface = s.snap.InterfaceByAddr(a, "")
	}
	s.fill(&e)
	return e
}

func (s *scene) fill(e *end) {
	if e.iface == nil {
		return
	}
	e.inst = s.snap.InstanceOf(e.iface)
	e.task = s.snap.TaskOf(e.iface)
	e.nat = s.snap.NATOf(e.iface)
	e.lb = s.snap.LoadBalancerOf(e.iface)
}

// describe names what holds an address: "instance i-0abc (web-1)",
// "ECS task arn:... (cluster c)", "NAT gateway nat-0abc", "network load
// balancer web-nlb", "interface eni-0abc".
func (e end) describe() string {
	switch {
	case e.task != nil:
		return "ECS task " + e.task.ARN + " (cluster " + e.task.ClusterName() + ")"
	case e.inst != nil:
		if n := e.inst.Name(); n != "" {
			return "instance " + e.inst.ID + " (" + n + ")"
		}
		return "instance " + e.inst.ID
	case e.nat != nil:
		return e.nat.Connectivity + " NAT gateway " + e.nat.ID
	case e.lb != nil:
		return e.lb.Type + " load balancer " + e.lb.Name
	case e.iface != nil:
		if e.iface.Type != "" && e.iface.Type != "interface" {
			return "interface " + e.iface.ID + " (" + e.iface.Type + ")"
		}
		return "interface " + e.iface.ID
	}
	return "an address the inventory does not hold"
}

// path explains how the traffic between the resource's interface (local)
// and the remote address went, and whether either end stands for many
// hosts.
func (s *scene) path() pathFacts {
	var p pathFacts
	local, ifc := s.local, s.local.iface
	// What the resource's interface is.
	switch {
	case local.nat != nil:
		p.Hops = append(p.Hops, "interface "+ifc.ID+" belongs to "+local.describe()+
			": its flow records carry the traffic of every host routed through it"+s.natSubnets(local.nat)+
			"; each connection also has a record on this interface whose source is the host behind it, which names that host")
		p.RatedDown = "the resource is " + local.describe() + ", whose address stands for every host routed through it"
	case local.lb != nil:
		p.Hops = append(p.Hops, "interface "+ifc.ID+" belongs to "+local.describe()+
			": it receives its clients' connections and opens its own to the targets")
		p.RatedDown = "the resource is " + local.describe() + ", which relays its clients' traffic"
	case local.task != nil:
		p.Hops = append(p.Hops, "interface "+ifc.ID+" is the awsvpc interface of "+local.describe()+
			containers(local.task)+", in subnet "+ifc.Subnet)
	case local.inst != nil:
		p.Hops = append(p.Hops, "interface "+ifc.ID+" is device "+strconv.Itoa(ifc.DeviceIndex)+" of "+local.describe()+", in subnet "+ifc.Subnet)
	}
	remote := s.remote
	if !event.Internal(remote.addr) {
		p.Hops = append(p.Hops, s.internetHops(&p)...)
	} else {
		p.Hops = append(p.Hops, s.internalHops(&p)...)
	}
	return p
}

// internetHops explains traffic between the interface and an internet
// address.
func (s *scene) internetHops(p *pathFacts) []string {
	ifc := s.local.iface
	pub, pubDNS := ifc.PublicFor(s.localAddr)
	gw := s.routeTarget(s.remote.addr)
	var hops []string
	if !s.inbound {
		switch {
		case strings.HasPrefix(gw, "nat-"):
			n := s.snap.NATGateways[gw]
			via := "NAT gateway " + gw
			if n != nil && len(n.Addresses) > 0 && n.Addresses[0].Public.IsValid() {
				via += ", which rewrites the source to its public address " + n.Addresses[0].Public.String()
			}
			hops = append(hops, "the subnet's route to "+s.remote.addr.String()+" leads through "+via+
				": the far side sees the NAT gateway's address, not "+s.localAddr.String())
		case strings.HasPrefix(gw, "igw-") && pub.IsValid():
			hops = append(hops, "the traffic leaves through internet gateway "+gw+", which translates "+s.localAddr.String()+" to the public address "+pub.String())
		case gw != "":
			hops = append(hops, "the subnet's route to "+s.remote.addr.String()+" leads to "+gw)
		}
		return hops
	}
	if pub.IsValid() {
		h := "the traffic came from the internet to public address " + pub.String()
		if pubDNS != "" {
			h += " (" + pubDNS + ")"
		}
		if strings.HasPrefix(gw, "igw-") {
			h += " through internet gateway " + gw
		}
		h += ", which translates it one to one to the private address " + s.localAddr.String() + " of interface " + ifc.ID +
			": flow logs record the private address because the translation happens before the packet reaches the interface"
		return append(hops, h)
	}
	// No public address: only a load balancer (or a NAT or firewall the
	// inventory does not show) brings internet traffic here.
	var nlbs []string
	for _, lb := range s.snap.LoadBalancersIn(ifc.VPC, "network") {
		if lb.Scheme == "internet-facing" && lb.ClientIPPreserved {
			nlbs = append(nlbs, lb.Name)
		}
	}
	if len(nlbs) > 0 {
		which := "network load balancer " + nlbs[0]
		if len(nlbs) > 1 {
			which = "one of the network load balancers " + strings.Join(nlbs, ", ")
		}
		hops = append(hops, "interface "+ifc.ID+" has no public address, so internet traffic reaches it only through a load balancer: "+
			which+" in "+ifc.VPC+" forwards its clients' connections with their addresses preserved, so "+s.remote.addr.String()+
			" is a client of the load balancer and only the load balancer's listener ports are open to it")
		p.RatedDown = "the remote address reached the resource through " + which + ": it is a client of the load balancer, which exposes only its listener ports"
		return hops
	}
	return append(hops, "interface "+ifc.ID+" has no public address and the inventory holds no internet-facing network load balancer in "+ifc.VPC+
		": the traffic came through a path the inventory does not show (a firewall, a proxy, or an address since moved)")
}

// internalHops explains traffic between the interface and a private
// address.
func (s *scene) internalHops(p *pathFacts) []string {
	r := s.remote
	ifc := s.local.iface
	var hops []string
	who := r.addr.String() + " is " + r.describe()
	if r.iface != nil && r.iface.VPC != "" && r.iface.VPC != ifc.VPC {
		who += " in " + r.iface.VPC
	}
	switch {
	case r.lb != nil:
		hops = append(hops, who+": the load balancer connects to its targets from its own address (for its health checks, and for all traffic when it does not preserve client addresses), so "+
			r.addr.String()+" stands for every client of the load balancer")
		if s.inbound {
			p.RatedDown = "the remote address is " + r.describe() + "'s, which stands for its clients and its health checks"
		}
	case r.nat != nil:
		hops = append(hops, who+": traffic from every host routed through it"+s.natSubnets(r.nat)+" carries this address as its source (fan-in)")
		if s.inbound {
			p.RatedDown = "the remote address is " + r.describe() + "'s, which stands for every host routed through it"
		}
	default:
		hops = append(hops, who)
	}
	gw := s.routeTarget(r.addr)
	switch {
	case gw == "local":
		hops = append(hops, "the traffic stayed inside "+ifc.VPC+" (its local route)")
	case strings.HasPrefix(gw, "tgw-"):
		h := "the traffic crossed transit gateway " + gw
		for _, a := range s.snap.AttachmentsOf(ifc.VPC) {
			if a.TGW == gw {
				h += " (attachment " + a.ID + " of " + ifc.VPC + ")"
				break
			}
		}
		hops = append(hops, h)
	case strings.HasPrefix(gw, "pcx-"):
		hops = append(hops, "the traffic crossed VPC peering connection "+gw)
	case strings.HasPrefix(gw, "nat-"):
		hops = append(hops, "the subnet's route to "+r.addr.String()+" leads through NAT gateway "+gw)
	case gw != "":
		hops = append(hops, "the subnet's route to "+r.addr.String()+" leads to "+gw)
	}
	return hops
}

// routeTarget returns where the interface's subnet routes addr: "local",
// an igw-, nat-, tgw-, pcx-... ID, or "" when the inventory has no route
// table for the subnet.
func (s *scene) routeTarget(a netip.Addr) string {
	ifc := s.local.iface
	rt := s.snap.RoutesFor(ifc.Subnet, ifc.VPC)
	if r := rt.Route(a); r != nil {
		return r.Target
	}
	return ""
}

// natSubnets names the subnets whose route tables send internet traffic
// to the NAT gateway: " (subnets subnet-a, subnet-b)".
func (s *scene) natSubnets(n *inventory.NATGateway) string {
	var subs []string
	for _, rt := range s.snap.RouteTables {
		for _, r := range rt.Routes {
			if r.Target == n.ID {
				subs = append(subs, rt.Subnets...)
				break
			}
		}
	}
	if len(subs) == 0 {
		return ""
	}
	slices.Sort(subs)
	return " (subnets " + strings.Join(subs, ", ") + ")"
}

func containers(t *inventory.Task) string {
	if len(t.Containers) == 0 {
		return ""
	}
	var names []string
	for _, c := range t.Containers {
		names = append(names, c.Name+" "+c.Image)
	}
	return ", containers " + strings.Join(names, ", ")
}
