package inventory

import (
	"net/netip"
	"strings"
)

// Index builds the snapshot's lookup tables from its maps. New calls it;
// call it again after changing a snapshot's maps.
func (s *Snapshot) Index() {
	s.byAddr = map[netip.Addr][]*Interface{}
	for _, i := range s.Interfaces {
		for _, p := range i.Private {
			s.byAddr[p.Addr] = append(s.byAddr[p.Addr], i)
			if p.Public.IsValid() {
				s.byAddr[p.Public] = append(s.byAddr[p.Public], i)
			}
		}
		for _, a := range i.IPv6 {
			s.byAddr[a] = append(s.byAddr[a], i)
		}
	}
	s.taskByENI = map[string]*Task{}
	for _, t := range s.Tasks {
		if t.ENI != "" {
			s.taskByENI[t.ENI] = t
		}
	}
	s.aclBySubnet, s.defaultACL = map[string]*NetworkACL{}, map[string]*NetworkACL{}
	for _, a := range s.NetworkACLs {
		for _, sub := range a.Subnets {
			s.aclBySubnet[sub] = a
		}
		if a.Default {
			s.defaultACL[a.VPC] = a
		}
	}
	s.routesBySubnet, s.mainRoutes = map[string]*RouteTable{}, map[string]*RouteTable{}
	for _, r := range s.RouteTables {
		for _, sub := range r.Subnets {
			s.routesBySubnet[sub] = r
		}
		if r.Main {
			s.mainRoutes[r.VPC] = r
		}
	}
	s.natByENI = map[string]*NATGateway{}
	for _, n := range s.NATGateways {
		for _, a := range n.Addresses {
			if a.ENI != "" {
				s.natByENI[a.ENI] = n
			}
		}
	}
	s.lbByName = map[string]*LoadBalancer{}
	for _, lb := range s.LoadBalancers {
		if i := strings.Index(lb.ARN, ":loadbalancer/"); i >= 0 {
			s.lbByName[lb.ARN[i+len(":loadbalancer/"):]] = lb
		}
	}
	s.attachmentByVPC = map[string][]*TGWAttachment{}
	for _, a := range s.TGWAttachments {
		if a.ResourceType == "vpc" {
			s.attachmentByVPC[a.ResourceID] = append(s.attachmentByVPC[a.ResourceID], a)
		}
	}
}

// InterfaceByAddr returns the interface that holds address a, private or
// public, in VPC vpc (any VPC when vpc is ""). Private addresses repeat
// across VPCs, so an address held by interfaces of several VPCs with vpc
// "" is ambiguous and gives nil.
func (s *Snapshot) InterfaceByAddr(a netip.Addr, vpc string) *Interface {
	var found *Interface
	for _, i := range s.byAddr[a.Unmap()] {
		if vpc != "" && i.VPC != vpc {
			continue
		}
		if found != nil && found != i {
			return nil
		}
		found = i
	}
	return found
}

// Interface returns the interface with the ID, or nil.
func (s *Snapshot) Interface(id string) *Interface { return s.Interfaces[id] }

// InstanceOf returns the instance an interface is attached to, or nil.
func (s *Snapshot) InstanceOf(i *Interface) *Instance {
	if i == nil || i.Instance == "" {
		return nil
	}
	return s.Instances[i.Instance]
}

// TaskOf returns the ECS task whose awsvpc interface i is, or nil.
func (s *Snapshot) TaskOf(i *Interface) *Task {
	if i == nil {
		return nil
	}
	return s.taskByENI[i.ID]
}

// NATOf returns the NAT gateway an interface belongs to, or nil.
func (s *Snapshot) NATOf(i *Interface) *NATGateway {
	if i == nil {
		return nil
	}
	return s.natByENI[i.ID]
}

// LoadBalancerOf returns the load balancer an interface belongs to (its
// description is "ELB net/name/hash" or "ELB app/name/hash"), or nil.
func (s *Snapshot) LoadBalancerOf(i *Interface) *LoadBalancer {
	if i == nil {
		return nil
	}
	name, ok := strings.CutPrefix(i.Description, "ELB ")
	if !ok {
		return nil
	}
	return s.lbByName[name]
}

// LoadBalancersIn returns the load balancers of a VPC of type typ
// ("network", "application"; "" for all).
func (s *Snapshot) LoadBalancersIn(vpc, typ string) []*LoadBalancer {
	var out []*LoadBalancer
	for _, lb := range s.LoadBalancers {
		if lb.VPC == vpc && (typ == "" || lb.Type == typ) {
			out = append(out, lb)
		}
	}
	sortLBs(out)
	return out
}

// ACLFor returns the network ACL of a subnet: the one associated with it,
// else the VPC's default. Nil when the inventory has neither.
func (s *Snapshot) ACLFor(subnet, vpc string) *NetworkACL {
	if a := s.aclBySubnet[subnet]; a != nil {
		return a
	}
	return s.defaultACL[vpc]
}

// RoutesFor returns the route table of a subnet: the one associated with
// it, else the VPC's main table. Nil when the inventory has neither.
func (s *Snapshot) RoutesFor(subnet, vpc string) *RouteTable {
	if r := s.routesBySubnet[subnet]; r != nil {
		return r
	}
	return s.mainRoutes[vpc]
}

// AttachmentsOf returns the transit gateway attachments of a VPC.
func (s *Snapshot) AttachmentsOf(vpc string) []*TGWAttachment { return s.attachmentByVPC[vpc] }

// Route returns the most specific active route of a table to address a
// (the longest prefix wins, as in VPC routing), or nil.
func (r *RouteTable) Route(a netip.Addr) *Route {
	if r == nil {
		return nil
	}
	var best *Route
	for i := range r.Routes {
		rt := &r.Routes[i]
		if !rt.Dest.IsValid() || !rt.Dest.Contains(a) {
			continue
		}
		if best == nil || rt.Dest.Bits() > best.Dest.Bits() {
			best = rt
		}
	}
	return best
}

// Groups returns the security groups an interface is in that the
// snapshot knows, and the IDs of those it does not.
func (s *Snapshot) Groups(i *Interface) (known []*SecurityGroup, unknown []string) {
	for _, g := range i.Groups {
		if sg := s.SecurityGroups[g.ID]; sg != nil {
			known = append(known, sg)
		} else {
			unknown = append(unknown, g.ID)
		}
	}
	return known, unknown
}
