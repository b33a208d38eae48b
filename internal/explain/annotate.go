package explain

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"picket/internal/event"
	"picket/internal/finding"
	"picket/internal/inventory"
)

// Annotator fills findings with what an inventory knows. Inventory
// returns the current inventory (serve swaps in a new one after each
// poll); it may return nil, and then Annotate leaves findings as they are.
type Annotator struct {
	Inventory func() *inventory.Inventory
}

// scene is one finding's setting in one snapshot.
type scene struct {
	snap      *inventory.Snapshot
	local     end
	localAddr netip.Addr
	remote    end
	inbound   bool
}

// Annotate fills f from the inventory snapshot of the time of its latest
// event: the instance's or ECS task's details, the path the traffic
// took, the security group and network ACL verdicts, and remediation
// commands. A finding whose source or resource stands for many hosts (a
// load balancer, a NAT gateway) is rated down one severity level, and its
// explanation says why. Findings about resources the inventory does not
// hold are left as they are.
func (a *Annotator) Annotate(f *finding.Finding) {
	if a == nil || a.Inventory == nil {
		return
	}
	inv := a.Inventory()
	if inv.Empty() {
		return
	}
	d := f.Resource.InstanceDetails
	if d == nil {
		return
	}
	snap := inv.At(f.Service.EventLastSeen.Time)
	sc := &scene{snap: snap}
	if len(d.NetworkInterfaces) > 0 {
		ni := d.NetworkInterfaces[0]
		sc.localAddr, _ = netip.ParseAddr(ni.PrivateIPAddress)
		if !sc.localAddr.IsValid() && len(ni.Ipv6Addresses) > 0 {
			sc.localAddr, _ = netip.ParseAddr(ni.Ipv6Addresses[0])
		}
		sc.local.iface = snap.Interface(ni.NetworkInterfaceID)
		if sc.local.iface == nil && sc.localAddr.IsValid() {
			sc.local.iface = snap.InterfaceByAddr(sc.localAddr, ni.VpcID)
		}
	}
	inst := snap.Instances[d.InstanceID]
	if sc.local.iface == nil && inst != nil && len(inst.Interfaces) > 0 {
		sc.local.iface = snap.Interface(inst.Interfaces[0])
	}
	if sc.local.iface == nil && inst == nil {
		return
	}
	sc.fill(&sc.local)
	if sc.local.inst == nil {
		sc.local.inst = inst
	}
	if ifc := sc.local.iface; ifc != nil && !sc.localAddr.IsValid() {
		sc.localAddr = ifc.PrimaryAddr()
	}

	e := explanationOf(f)
	e.Inventory = "undated"
	if !snap.Time.IsZero() {
		e.Inventory = snap.Time.UTC().Format("2006-01-02T15:04:05Z")
	}
	sc.fillResource(f)
	e.Resource = sc.resourceLine()

	flows := trafficOf(f)
	if len(flows) == 0 || sc.local.iface == nil {
		return
	}
	sc.inbound = flows[0].inbound
	vpc := sc.local.iface.VPC
	sc.remote = sc.endOf(flows[0].remote, vpc)
	facts := sc.path()
	e.NetworkPath = facts.Hops
	if facts.RatedDown != "" {
		if lower := rateDown(f.Severity); lower < f.Severity {
			e.RatedDown = facts.RatedDown + "; severity lowered from " + sevString(f.Severity) + " to " + sevString(lower)
			f.Severity = lower
		} else {
			e.RatedDown = facts.RatedDown + "; severity stays " + sevString(f.Severity) + ", the lowest level"
		}
	}

	e.Rules = nil
	var remedies []finding.Remedy
	seen := map[string]bool{}
	add := func(cmds []Command) {
		for _, c := range cmds {
			line := c.String()
			if !seen[line] {
				seen[line] = true
				remedies = append(remedies, finding.Remedy{Why: c.Why, Command: line})
			}
		}
	}
	acl := sc.snap.ACLFor(sc.local.iface.Subnet, vpc)
	for i, fl := range flows {
		if i == finding.MaxRules {
			break
		}
		t := Target{
			Region: regionOf(f, sc.local.iface), Iface: sc.local.iface, Instance: sc.local.inst, Task: sc.local.task,
			Remote: fl.remote, Proto: fl.proto, Port: fl.port, Inbound: fl.inbound, ACL: acl,
		}
		if fl.inbound && fl.port != 0 {
			v := sc.snap.Admits(sc.local.iface, true, fl.proto, fl.port, fl.remote)
			e.Rules = append(e.Rules, verdictOf(fl, v))
			t.Verdict = v
		}
		if len(remedies) < 8 {
			add(Remediate(t))
		}
	}
	if r := flows[0].remote; flows[0].inbound && !event.Internal(r) && sc.remote.iface == nil {
		remedies = append(remedies, finding.Remedy{
			Why: "Adds " + r.String() + " to a plain-text threat list (one address or CIDR a line) for picket to read " +
				"(picket analyze --threat-list FILE, or a threat intel set of picket serve), so that its later traffic is reported as a known-malicious address's",
			Command: "printf '%s\\n' " + r.String() + " >> threat-list.txt",
		})
	}
	e.Remediation = remedies
}

// explanationOf returns f's explanation for writing: a copy, since
// findings may share one, stored back in f.
func explanationOf(f *finding.Finding) *finding.Explanation {
	ai := f.Service.AdditionalInfo
	var e finding.Explanation
	if ai != nil && ai.Explanation != nil {
		e = *ai.Explanation
	}
	if ai == nil {
		ai = &finding.AdditionalInfo{}
	} else {
		c := *ai
		ai = &c
	}
	ai.Explanation = &e
	f.Service.AdditionalInfo = ai
	return &e
}

// flow is one kind of traffic a finding is about, seen from the
// resource.
type flow struct {
	inbound bool
	proto   uint8
	port    uint16 // the resource's port when inbound, the remote's when outbound
	remote  netip.Addr
}

// trafficOf lists the distinct flows of a network finding's action.
func trafficOf(f *finding.Finding) []flow {
	var out []flow
	seen := map[flow]bool{}
	addFlow := func(fl flow) {
		if fl.remote.IsValid() && !seen[fl] {
			seen[fl] = true
			out = append(out, fl)
		}
	}
	act := &f.Service.Action
	if nc := act.NetworkConnectionAction; nc != nil {
		fl := flow{inbound: nc.ConnectionDirection != finding.DirectionOutbound, proto: protoNumber(nc.Protocol), remote: remoteAddr(nc.RemoteIPDetails)}
		if fl.inbound {
			fl.port = portOf(nc.LocalPortDetails)
		} else {
			fl.port = portOf(nc.RemotePortDetails)
		}
		addFlow(fl)
	}
	if pp := act.PortProbeAction; pp != nil {
		for _, d := range pp.PortProbeDetails {
			addFlow(flow{inbound: true, proto: event.ProtoTCP, port: portOf(d.LocalPortDetails), remote: remoteAddr(d.RemoteIPDetails)})
		}
	}
	return out
}

func portOf(p *finding.PortDetails) uint16 {
	if p == nil || p.Port < 0 || p.Port > 65535 {
		return 0
	}
	return uint16(p.Port)
}

func remoteAddr(r *finding.RemoteIPDetails) netip.Addr {
	if r == nil {
		return netip.Addr{}
	}
	s := r.IPAddressV4
	if s == "" {
		s = r.IPAddressV6
	}
	a, _ := netip.ParseAddr(s)
	return a.Unmap()
}

func protoNumber(name string) uint8 {
	switch name {
	case "TCP":
		return event.ProtoTCP
	case "UDP":
		return event.ProtoUDP
	case "ICMP":
		return event.ProtoICMP
	case "ICMPv6":
		return event.ProtoICMPv6
	}
	return event.ProtoTCP
}

func verdictOf(fl flow, v inventory.Verdict) finding.RuleVerdict {
	rv := finding.RuleVerdict{
		Protocol: finding.Protocol(fl.proto), Port: int(fl.port), Remote: fl.remote.String(),
		Known: v.Known, Admitted: v.Admitted, BlockedBy: v.BlockedBy, Reason: v.Reason,
	}
	if g := v.Group; g != nil {
		rv.GroupID = g.ID
		rv.Rule = ruleText(g)
	}
	if a := v.ACL; a != nil {
		rv.ACLID, rv.ACLRule = a.ID, a.RuleNumber
	}
	return rv
}

// ruleText renders a security group rule: "tcp 22 from 0.0.0.0/0".
func ruleText(r *inventory.RuleRef) string {
	proto := r.Proto
	if proto == "-1" {
		proto = "all traffic"
	}
	ports := ""
	switch {
	case r.FromPort < 0 || (r.FromPort == 0 && r.ToPort == 65535):
	case r.FromPort == r.ToPort:
		ports = " " + strconv.Itoa(r.FromPort)
	default:
		ports = " " + strconv.Itoa(r.FromPort) + "-" + strconv.Itoa(r.ToPort)
	}
	return proto + ports + " from " + r.CIDR
}

// rateDown returns the severity one level below s: High to Medium,
// Medium to Low. Low stays Low.
func rateDown(s finding.Severity) finding.Severity {
	switch {
	case s >= 9:
		return finding.SeverityHigh
	case s >= 7:
		return finding.SeverityMedium
	case s >= 4:
		return finding.SeverityLow
	}
	return s
}

func sevString(s finding.Severity) string {
	return s.Label() + " (" + strconv.FormatFloat(float64(s), 'f', -1, 64) + ")"
}

func regionOf(f *finding.Finding, i *inventory.Interface) string {
	if r := i.Region(); r != "" {
		return r
	}
	return f.Region
}

// fillResource writes the inventory's account of the resource into f:
// the instance's details (or the interface's, for an interface with no
// instance) and the ECS task's.
func (s *scene) fillResource(f *finding.Finding) {
	d := f.Resource.InstanceDetails
	ifc, inst := s.local.iface, s.local.inst
	nd := *d
	if inst != nil {
		nd.InstanceID = inst.ID
		nd.AvailabilityZone = inst.AZ
		nd.ImageID = inst.ImageID
		nd.InstanceState = inst.State
		nd.InstanceType = inst.Type
		nd.OutpostArn = inst.OutpostARN
		nd.Platform = inst.Platform
		if !inst.LaunchTime.IsZero() {
			nd.LaunchTime = inst.LaunchTime.UTC().Format(finding.TimeFormat)
		}
		nd.IamInstanceProfile = nil
		if inst.ProfileARN != "" || inst.ProfileID != "" {
			nd.IamInstanceProfile = &finding.IamInstanceProfile{Arn: inst.ProfileARN, ID: inst.ProfileID}
		}
		nd.Tags = tags(inst.Tags)
		nd.ProductCodes = nil
		for _, p := range inst.ProductCodes {
			nd.ProductCodes = append(nd.ProductCodes, finding.ProductCode{Code: p.ID, ProductType: p.Type})
		}
		ids := slices.Clone(inst.Interfaces)
		if ifc != nil {
			ids = slices.DeleteFunc(ids, func(id string) bool { return id == ifc.ID })
			ids = append([]string{ifc.ID}, ids...)
		}
		nd.NetworkInterfaces = nil
		for _, id := range ids {
			if i := s.snap.Interface(id); i != nil {
				nd.NetworkInterfaces = append(nd.NetworkInterfaces, networkInterface(i))
			}
		}
	} else if ifc != nil {
		if nd.AvailabilityZone == "" {
			nd.AvailabilityZone = ifc.AZ
		}
		nd.NetworkInterfaces = []finding.NetworkInterface{networkInterface(ifc)}
	}
	f.Resource.InstanceDetails = &nd
	if t := s.local.task; t != nil {
		f.Resource.EcsClusterDetails = ecsDetails(t, f.Resource.EcsClusterDetails)
	}
}

func networkInterface(i *inventory.Interface) finding.NetworkInterface {
	ni := finding.NetworkInterface{
		NetworkInterfaceID: i.ID, PrivateDNSName: i.PrivateDNS, SubnetID: i.Subnet, VpcID: i.VPC,
	}
	for _, p := range i.Private {
		if p.Primary || ni.PrivateIPAddress == "" {
			ni.PrivateIPAddress = p.Addr.String()
			if p.DNS != "" {
				ni.PrivateDNSName = p.DNS
			}
			if p.Public.IsValid() {
				ni.PublicIP, ni.PublicDNSName = p.Public.String(), p.PublicDNS
			}
		}
		ni.PrivateIPAddresses = append(ni.PrivateIPAddresses, finding.PrivateIPAddress{PrivateIPAddress: p.Addr.String(), PrivateDNSName: p.DNS})
	}
	for _, a := range i.IPv6 {
		ni.Ipv6Addresses = append(ni.Ipv6Addresses, a.String())
	}
	for _, g := range i.Groups {
		ni.SecurityGroups = append(ni.SecurityGroups, finding.SecurityGroup{GroupID: g.ID, GroupName: g.Name})
	}
	return ni
}

func ecsDetails(t *inventory.Task, old *finding.EcsClusterDetails) *finding.EcsClusterDetails {
	d := &finding.EcsClusterDetails{Name: t.ClusterName(), Arn: t.ClusterARN}
	if old != nil {
		d.Status, d.Tags = old.Status, old.Tags
	}
	td := &finding.EcsTaskDetails{
		Arn: t.ARN, DefinitionArn: t.DefinitionARN, StartedBy: t.StartedBy, Group: t.Group, LaunchType: t.LaunchType,
		Tags: tags(t.Tags),
	}
	if t.Version > 0 {
		td.Version = strconv.FormatInt(t.Version, 10)
	}
	for _, c := range t.Containers {
		td.Containers = append(td.Containers, finding.Container{Name: c.Name, Image: c.Image, ID: c.RuntimeID, ImagePrefix: imagePrefix(c.Image)})
	}
	d.TaskDetails = td
	return d
}

// imagePrefix returns the registry part of an image reference, as
// GuardDuty's imagePrefix gives it ("123456789012.dkr.ecr.us-east-1.amazonaws.com"),
// or "" for an image of the default registry.
func imagePrefix(image string) string {
	i := strings.IndexByte(image, '/')
	if i < 0 {
		return ""
	}
	host := image[:i]
	if strings.ContainsAny(host, ".:") || host == "localhost" {
		return host
	}
	return ""
}

func tags(in []inventory.Tag) []finding.Tag {
	if len(in) == 0 {
		return nil
	}
	out := make([]finding.Tag, 0, len(in))
	for _, t := range in {
		out = append(out, finding.Tag{Key: t.Key, Value: t.Value})
	}
	return out
}

// resourceLine says what the resource is, in one line.
func (s *scene) resourceLine() string {
	l := s.local
	var parts []string
	switch {
	case l.task != nil:
		parts = append(parts, "ECS task "+l.task.ARN, "cluster "+l.task.ClusterName())
		if l.task.LaunchType != "" {
			parts = append(parts, l.task.LaunchType)
		}
	case l.inst != nil:
		head := "EC2 instance " + l.inst.ID
		if n := l.inst.Name(); n != "" {
			head += " (" + n + ")"
		}
		parts = append(parts, head)
		for _, p := range []string{l.inst.Type, l.inst.ImageID, l.inst.State} {
			if p != "" {
				parts = append(parts, p)
			}
		}
		if l.inst.ProfileARN != "" {
			parts = append(parts, "profile "+l.inst.ProfileARN)
		}
	default:
		parts = append(parts, l.describe())
	}
	if i := l.iface; i != nil {
		where := "interface " + i.ID + " " + s.localAddr.String()
		if pub, dns := i.PublicFor(s.localAddr); pub.IsValid() {
			where += " (public " + pub.String()
			if dns != "" {
				where += " " + dns
			}
			where += ")"
		}
		parts = append(parts, where, "subnet "+i.Subnet, i.VPC)
		var groups []string
		for _, g := range i.Groups {
			groups = append(groups, g.ID)
		}
		if len(groups) > 0 {
			parts = append(parts, "security groups "+strings.Join(groups, " "))
		}
	}
	return strings.Join(parts, ", ")
}
