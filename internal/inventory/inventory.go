// Package inventory owns what picket knows of an AWS estate beyond its
// logs: network interfaces, EC2 instances, ECS tasks, security groups,
// network ACLs, route tables, NAT gateways, load balancers and transit
// gateway attachments, read from the JSON the AWS CLI's describe commands
// print (Load) or from the AWS APIs (package inventory/awspoll feeds the
// same parser).
//
// An Inventory is time-versioned: a list of Snapshots, each what was true
// from its time until the next one, so that a replay of old logs is
// explained with the estate as it was then (an address can move from one
// interface to another). The package answers questions about one
// snapshot: which interface holds an address, which instance or task
// owns it, which security group rule or network ACL entry admits a
// packet, which route a subnet's traffic takes. It imports event and the
// standard library only; package explain turns its answers into finding
// details.
package inventory

import (
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"
)

// Inventory is a time-ordered list of snapshots. It is immutable once
// built; a poller makes a new one with Add.
type Inventory struct {
	snaps []*Snapshot // by Time, ascending; an undated snapshot (zero Time) first
}

// New returns an inventory of the snapshots, ordered by time. Each
// snapshot is indexed.
func New(snaps ...*Snapshot) *Inventory {
	inv := &Inventory{}
	for _, s := range snaps {
		s.Index()
		inv.snaps = append(inv.snaps, s)
	}
	sort.SliceStable(inv.snaps, func(i, j int) bool { return inv.snaps[i].Time.Before(inv.snaps[j].Time) })
	return inv
}

// Add returns a new inventory with s added, keeping at most keep
// snapshots (the newest; 0 keeps all). The receiver is unchanged, so
// readers holding it are undisturbed.
func (inv *Inventory) Add(s *Snapshot, keep int) *Inventory {
	var snaps []*Snapshot
	if inv != nil {
		snaps = slices.Clone(inv.snaps)
	}
	out := New(append(snaps, s)...)
	if keep > 0 && len(out.snaps) > keep {
		out.snaps = out.snaps[len(out.snaps)-keep:]
	}
	return out
}

// Snapshots returns the snapshots, oldest first.
func (inv *Inventory) Snapshots() []*Snapshot {
	if inv == nil {
		return nil
	}
	return inv.snaps
}

// Empty reports whether the inventory holds nothing.
func (inv *Inventory) Empty() bool { return inv == nil || len(inv.snaps) == 0 }

// At returns the snapshot that was true at t: the newest taken at or
// before t, or the oldest when every snapshot is newer (the estate as
// first seen is the best guess for earlier times). It returns nil for an
// empty inventory.
func (inv *Inventory) At(t time.Time) *Snapshot {
	if inv.Empty() {
		return nil
	}
	i := sort.Search(len(inv.snaps), func(i int) bool { return inv.snaps[i].Time.After(t) })
	if i == 0 {
		return inv.snaps[0]
	}
	return inv.snaps[i-1]
}

// Snapshot is the estate at one time.
type Snapshot struct {
	// Time is when the snapshot was taken; zero means always.
	Time time.Time
	// Sources name where the snapshot came from (files or API calls).
	Sources []string

	Interfaces      map[string]*Interface     // by ID (eni-...)
	Instances       map[string]*Instance      // by ID (i-...)
	Tasks           map[string]*Task          // by task ARN
	SecurityGroups  map[string]*SecurityGroup // by ID (sg-...)
	NetworkACLs     map[string]*NetworkACL    // by ID (acl-...)
	RouteTables     map[string]*RouteTable    // by ID (rtb-...)
	NATGateways     map[string]*NATGateway    // by ID (nat-...)
	LoadBalancers   map[string]*LoadBalancer  // by ARN
	TGWAttachments  map[string]*TGWAttachment // by ID (tgw-attach-...)
	byAddr          map[netip.Addr][]*Interface
	taskByENI       map[string]*Task
	aclBySubnet     map[string]*NetworkACL
	defaultACL      map[string]*NetworkACL // by VPC
	routesBySubnet  map[string]*RouteTable
	mainRoutes      map[string]*RouteTable // by VPC
	natByENI        map[string]*NATGateway
	lbByName        map[string]*LoadBalancer // by "net/name/hash" as interface descriptions name it
	attachmentByVPC map[string][]*TGWAttachment
}

// NewSnapshot returns an empty snapshot taken at t.
func NewSnapshot(t time.Time) *Snapshot {
	s := &Snapshot{Time: t}
	s.ensureMaps()
	return s
}

// Interface is one elastic network interface
// (describe-network-interfaces).
type Interface struct {
	ID          string
	Type        string // InterfaceType: interface, nat_gateway, network_load_balancer, transit_gateway, ...
	Description string
	Status      string
	Owner       string // account
	RequesterID string
	Managed     bool // RequesterManaged: AWS made it for a service
	AZ          string
	Subnet      string
	VPC         string
	MAC         string
	PrivateDNS  string
	// Private lists the private IPv4 addresses, the primary first, each
	// with its public association, if any.
	Private []PrivateAddr
	IPv6    []netip.Addr
	Groups  []GroupRef
	// Instance is the attached instance, empty when none.
	Instance        string
	DeviceIndex     int
	SourceDestCheck bool
}

// PrivateAddr is one private IPv4 address of an interface and its public
// association.
type PrivateAddr struct {
	Addr      netip.Addr
	DNS       string
	Primary   bool
	Public    netip.Addr // zero when none
	PublicDNS string
}

// PrimaryAddr returns the interface's primary private address.
func (i *Interface) PrimaryAddr() netip.Addr {
	for _, p := range i.Private {
		if p.Primary {
			return p.Addr
		}
	}
	if len(i.Private) > 0 {
		return i.Private[0].Addr
	}
	return netip.Addr{}
}

// PublicFor returns the public address and DNS name associated with the
// private address a (the primary's when a is not one of the interface's).
func (i *Interface) PublicFor(a netip.Addr) (netip.Addr, string) {
	for _, p := range i.Private {
		if p.Addr == a {
			return p.Public, p.PublicDNS
		}
	}
	for _, p := range i.Private {
		if p.Primary {
			return p.Public, p.PublicDNS
		}
	}
	return netip.Addr{}, ""
}

// Region returns the region the interface is in, from its availability
// zone ("us-east-1a" is in "us-east-1"), or "" when unknown.
func (i *Interface) Region() string { return RegionOfZone(i.AZ) }

// RegionOfZone returns the region of an availability zone name.
func RegionOfZone(az string) string {
	if n := len(az); n > 1 && az[n-1] >= 'a' && az[n-1] <= 'z' {
		return az[:n-1]
	}
	return ""
}

// GroupRef names a security group.
type GroupRef struct {
	ID   string
	Name string
}

// Tag is a key-value tag.
type Tag struct {
	Key   string
	Value string
}

// Instance is one EC2 instance (describe-instances).
type Instance struct {
	ID           string
	Type         string
	ImageID      string
	LaunchTime   time.Time
	State        string
	Platform     string // PlatformDetails, else Platform ("windows"), else ""
	AZ           string
	VPC          string
	Subnet       string
	PrivateDNS   string
	PublicDNS    string
	PublicIP     netip.Addr
	ProfileARN   string
	ProfileID    string
	OutpostARN   string
	Owner        string // the reservation's account
	Tags         []Tag
	ProductCodes []ProductCode
	Interfaces   []string // interface IDs, by device index
	Groups       []GroupRef
}

// ProductCode is an AWS Marketplace product code.
type ProductCode struct {
	ID   string
	Type string
}

// Name returns the instance's Name tag.
func (in *Instance) Name() string { return tagValue(in.Tags, "Name") }

func tagValue(tags []Tag, key string) string {
	for _, t := range tags {
		if t.Key == key {
			return t.Value
		}
	}
	return ""
}

// Task is one ECS task (ecs describe-tasks).
type Task struct {
	ARN           string
	ClusterARN    string
	DefinitionARN string
	Version       int64
	StartedBy     string
	Group         string
	LaunchType    string
	LastStatus    string
	AZ            string
	Containers    []Container
	// ENI is the task's awsvpc interface, from its attachment; empty for
	// other network modes.
	ENI       string
	PrivateIP netip.Addr
	Tags      []Tag
}

// ClusterName returns the cluster's name from its ARN.
func (t *Task) ClusterName() string {
	if i := strings.LastIndexByte(t.ClusterARN, '/'); i >= 0 {
		return t.ClusterARN[i+1:]
	}
	return t.ClusterARN
}

// Container is one container of a task.
type Container struct {
	Name      string
	Image     string
	RuntimeID string
	ARN       string
}

// SecurityGroup is one security group (describe-security-groups).
type SecurityGroup struct {
	ID      string
	Name    string
	VPC     string
	Owner   string
	Ingress []Permission
	Egress  []Permission
}

// Permission is one IpPermissions entry: a protocol and port range and the
// sources (ingress) or destinations (egress) it allows.
type Permission struct {
	// Proto is IpProtocol as AWS writes it: "-1" (all), "tcp", "udp",
	// "icmp", "icmpv6", or a protocol number.
	Proto string
	// FromPort and ToPort bound the ports (for ICMP: the type and code);
	// -1 or absent means all.
	FromPort, ToPort int
	IPv4             []CIDR
	IPv6             []CIDR
	PrefixLists      []string // pl-... IDs
	Groups           []string // referenced security group IDs
}

// CIDR is an address range with the rule's description.
type CIDR struct {
	Prefix      netip.Prefix
	Description string
}

// NetworkACL is one network ACL (describe-network-acls).
type NetworkACL struct {
	ID      string
	VPC     string
	Default bool
	Owner   string
	Subnets []string
	Entries []ACLEntry
}

// ACLEntry is one numbered rule of a network ACL.
type ACLEntry struct {
	RuleNumber int
	Egress     bool
	// Proto is the protocol as AWS writes it: "-1" for all, else a
	// protocol number ("6", "17", "1", "58").
	Proto string
	Allow bool
	CIDR  netip.Prefix
	// FromPort and ToPort bound the ports for TCP and UDP; both zero when
	// the entry has no PortRange (all ports).
	FromPort, ToPort int
	// ICMPType and ICMPCode: -1 means all.
	ICMPType, ICMPCode int
}

// RouteTable is one route table (describe-route-tables).
type RouteTable struct {
	ID      string
	VPC     string
	Main    bool // the VPC's main table, used by subnets with no explicit association
	Subnets []string
	Routes  []Route
}

// Route is one route of a table.
type Route struct {
	Dest       netip.Prefix // zero for a prefix-list route
	PrefixList string
	// Target is the ID of where the route sends traffic: "local", igw-,
	// vgw-, nat-, tgw-, pcx-, vpce-, eni-, i-, eigw-, cagw-, lgw-.
	Target string
	State  string // active or blackhole
}

// NATGateway is one NAT gateway (describe-nat-gateways).
type NATGateway struct {
	ID           string
	VPC          string
	Subnet       string
	Connectivity string // public or private
	State        string
	Addresses    []NATAddress
}

// NATAddress is one address set of a NAT gateway.
type NATAddress struct {
	ENI     string
	Private netip.Addr
	Public  netip.Addr
}

// LoadBalancer is one Elastic Load Balancing v2 load balancer
// (elbv2 describe-load-balancers).
type LoadBalancer struct {
	ARN    string
	Name   string
	DNS    string
	Type   string // network, application, gateway
	Scheme string // internet-facing, internal
	VPC    string
	State  string
	Groups []string
	Zones  []LBZone
	// ClientIPPreserved is true unless the inventory says the load
	// balancer's targets see its address rather than the client's. AWS
	// preserves client addresses for instance targets of network load
	// balancers by default.
	ClientIPPreserved bool
}

// LBZone is a load balancer's presence in one availability zone.
type LBZone struct {
	Zone      string
	Subnet    string
	Addresses []netip.Addr // the load balancer's addresses in the zone, public and private
}

// TGWAttachment attaches a VPC (or VPN, peering, Direct Connect gateway)
// to a transit gateway (describe-transit-gateway-attachments).
type TGWAttachment struct {
	ID           string
	TGW          string
	ResourceType string // vpc, vpn, peering, direct-connect-gateway, connect
	ResourceID   string
	Owner        string
	State        string
}

func sortLBs(lbs []*LoadBalancer) {
	sort.Slice(lbs, func(i, j int) bool { return lbs[i].ARN < lbs[j].ARN })
}
