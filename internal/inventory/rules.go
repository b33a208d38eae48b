package inventory

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Verdict is what a snapshot's security groups and network ACL say of
// one inbound (or outbound) packet to (from) an interface.
type Verdict struct {
	// Known reports whether the inventory settles the question. It is
	// false when the inventory lacks the interface, one of its groups or
	// its network ACL and what it does hold does not decide: traffic
	// alone must then decide. A deny by a known ACL, or no admitting rule
	// in a complete set of groups, is a definite block; an admitting rule
	// behind an ACL that allows is a definite admit. When Known is false,
	// Admitted is what the known part says.
	Known    bool
	Admitted bool
	// Group is the security group rule that admits the packet, the first
	// in group order and then permission order; nil when none does.
	Group *RuleRef
	// ACL is the network ACL entry that decided, allow or deny; nil when
	// the ACL is unknown.
	ACL *RuleRef
	// BlockedBy says what blocks the packet when it is not admitted:
	// "security-group" (no rule of any group admits it) or "network-acl".
	BlockedBy string
	// Reason is one sentence saying why.
	Reason string
}

// Values of Verdict.BlockedBy.
const (
	BlockedBySecurityGroup = "security-group"
	BlockedByNetworkACL    = "network-acl"
)

// RuleRef names one security group rule or network ACL entry.
type RuleRef struct {
	ID         string // sg-... or acl-...
	Name       string // the group's name
	RuleNumber int    // the ACL entry's number; 0 for groups
	Proto      string // as AWS writes it
	// FromPort and ToPort as the rule has them: for groups -1 means all,
	// for ACL entries both zero means all ports (for ICMP entries they
	// are the type and code).
	FromPort, ToPort int
	// CIDR is the matching range, or the referenced group's ID (sg-...).
	CIDR        string
	Description string
	Allow       bool
}

// ACLDefaultRule is the number of a network ACL's last entry ("*"),
// which denies everything the numbered entries leave.
const ACLDefaultRule = 32767

// Admits says whether the snapshot's security groups and network ACL let
// a packet of protocol proto (an IANA number) through to (ingress) or from
// (egress) interface iface, with the interface's port port (for ICMP, the
// type) and the other end remote. It evaluates them as AWS does: the
// groups are stateful allow-lists whose rules are united across the
// interface's groups; the ACL is stateless and its entries are tried in
// ascending number, the first match deciding.
func (s *Snapshot) Admits(iface *Interface, ingress bool, proto uint8, port uint16, remote netip.Addr) Verdict {
	remote = remote.Unmap()
	what := describePacket(ingress, proto, port, remote)
	if iface == nil {
		return Verdict{Reason: "the inventory lacks the interface, so nothing is known of " + what}
	}
	var v Verdict

	// The network ACL.
	acl := s.ACLFor(iface.Subnet, iface.VPC)
	aclDenies := false
	var aclPart string
	if acl != nil {
		ref := acl.decide(ingress, proto, port, remote)
		v.ACL = &ref
		aclDenies = !ref.Allow
		verb := "allows"
		if aclDenies {
			verb = "denies"
		}
		aclPart = "network ACL " + acl.ID + " entry " + entryName(ref.RuleNumber) + " " + verb + " it"
	} else {
		aclPart = "the network ACL of " + orUnknown(iface.Subnet, "the subnet") + " is unknown"
	}

	// The security groups.
	known, missing := s.Groups(iface)
	var prefixLists []string
	for _, g := range known {
		perms := g.Ingress
		if !ingress {
			perms = g.Egress
		}
		for i := range perms {
			p := &perms[i]
			if !permissionCovers(p, proto, port) {
				continue
			}
			if r, ok := s.permissionMatch(g, p, remote); ok {
				v.Group = &r
				break
			}
			for _, pl := range p.PrefixLists {
				if !slices.Contains(prefixLists, pl) {
					prefixLists = append(prefixLists, pl)
				}
			}
		}
		if v.Group != nil {
			break
		}
	}

	// Some interfaces AWS makes for a service have no security groups:
	// a network load balancer's created without any, whose listeners take
	// whatever the ACL lets through, and a NAT gateway's. Nothing filters
	// them but the ACL.
	ungrouped := len(iface.Groups) == 0 && groupless(iface.Type)

	var b strings.Builder
	switch {
	case ungrouped:
		b.WriteString("interface " + iface.ID + " (" + iface.Type + ") has no security groups, so only the network ACL filters " + what)
	case v.Group != nil:
		b.WriteString(groupName(v.Group.ID, v.Group.Name) + " admits " + what + " (rule " + ruleText(v.Group) + ")")
	case len(known) > 0:
		b.WriteString("no rule of ")
		for i, g := range known {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(groupName(g.ID, g.Name))
		}
		b.WriteString(" admits " + what)
		if len(prefixLists) > 0 {
			b.WriteString(" (it may be admitted by prefix list " + strings.Join(prefixLists, ", ") + ", whose ranges the inventory lacks)")
		}
	default:
		b.WriteString("no known security group admits " + what)
	}
	if len(missing) > 0 {
		b.WriteString("; the inventory lacks security group " + strings.Join(missing, ", "))
	}
	b.WriteString("; " + aclPart)
	v.Reason = b.String()

	groupsAdmit := v.Group != nil || ungrouped
	complete := len(missing) == 0
	switch {
	case aclDenies:
		v.Known, v.BlockedBy = true, BlockedByNetworkACL
	case !groupsAdmit:
		v.Known, v.BlockedBy = complete, BlockedBySecurityGroup
	default:
		v.Admitted, v.Known = true, acl != nil
	}
	return v
}

// permissionCovers reports whether a permission's protocol and ports
// cover the packet, leaving its sources aside.
func permissionCovers(p *Permission, proto uint8, port uint16) bool {
	n, ok := protoNumber(p.Proto)
	if !ok {
		return false
	}
	if n < 0 {
		return true
	}
	if n != int(proto) {
		return false
	}
	switch proto {
	case 6, 17:
		if p.FromPort < 0 {
			return true
		}
		to := p.ToPort
		if to < 0 {
			to = 65535
		}
		return int(port) >= p.FromPort && int(port) <= to
	case 1, 58:
		return p.FromPort < 0 || p.FromPort == int(port)
	}
	return true
}

// permissionMatch returns the first source of p (an IPv4 or IPv6 range,
// then a referenced group) that holds remote.
func (s *Snapshot) permissionMatch(g *SecurityGroup, p *Permission, remote netip.Addr) (RuleRef, bool) {
	ref := RuleRef{ID: g.ID, Name: g.Name, Proto: p.Proto, FromPort: p.FromPort, ToPort: p.ToPort, Allow: true}
	ranges := p.IPv4
	if remote.Is6() {
		ranges = p.IPv6
	}
	for _, c := range ranges {
		if c.Prefix.Contains(remote) {
			ref.CIDR, ref.Description = c.Prefix.String(), c.Description
			return ref, true
		}
	}
	for _, id := range p.Groups {
		if s.addrInGroup(remote, id) {
			ref.CIDR = id
			return ref, true
		}
	}
	return RuleRef{}, false
}

// addrInGroup reports whether a is a private address of an interface in
// security group id. Group references match traffic from the private
// addresses of the group's members only.
func (s *Snapshot) addrInGroup(a netip.Addr, id string) bool {
	for _, i := range s.byAddr[a] {
		if !slices.ContainsFunc(i.Groups, func(g GroupRef) bool { return g.ID == id }) {
			continue
		}
		if slices.Contains(i.IPv6, a) || slices.ContainsFunc(i.Private, func(p PrivateAddr) bool { return p.Addr == a }) {
			return true
		}
	}
	return false
}

// ordered returns the indexes of the ACL's entries of one direction in
// ascending rule number.
func (a *NetworkACL) ordered(ingress bool) []int {
	var idx []int
	for i := range a.Entries {
		if a.Entries[i].Egress != ingress {
			idx = append(idx, i)
		}
	}
	slices.SortStableFunc(idx, func(x, y int) int { return a.Entries[x].RuleNumber - a.Entries[y].RuleNumber })
	return idx
}

// decide returns the entry that decides a packet, or the implicit final
// deny when no entry matches (as when the inventory omits the "*" entry).
func (a *NetworkACL) decide(ingress bool, proto uint8, port uint16, remote netip.Addr) RuleRef {
	for _, i := range a.ordered(ingress) {
		e := &a.Entries[i]
		if e.Matches(proto, port, remote) {
			return aclRef(a, e)
		}
	}
	all := "0.0.0.0/0"
	if remote.Is6() {
		all = "::/0"
	}
	return RuleRef{ID: a.ID, RuleNumber: ACLDefaultRule, Proto: "-1", CIDR: all}
}

func aclRef(a *NetworkACL, e *ACLEntry) RuleRef {
	r := RuleRef{ID: a.ID, RuleNumber: e.RuleNumber, Proto: e.Proto, FromPort: e.FromPort, ToPort: e.ToPort, Allow: e.Allow}
	if n, _ := protoNumber(e.Proto); n == 1 || n == 58 {
		r.FromPort, r.ToPort = e.ICMPType, e.ICMPCode
	}
	if e.CIDR.IsValid() {
		r.CIDR = e.CIDR.String()
	}
	return r
}

// Matches reports whether an entry covers a packet of protocol proto with
// port port (for ICMP, the type) whose other end is remote. The direction
// is the caller's to check.
func (e *ACLEntry) Matches(proto uint8, port uint16, remote netip.Addr) bool {
	if !e.CIDR.Contains(remote.Unmap()) {
		return false
	}
	n, ok := protoNumber(e.Proto)
	if !ok {
		return false
	}
	if n < 0 {
		return true
	}
	if n != int(proto) {
		return false
	}
	switch proto {
	case 6, 17:
		if e.FromPort == 0 && e.ToPort == 0 {
			return true
		}
		return int(port) >= e.FromPort && int(port) <= e.ToPort
	case 1, 58:
		return e.ICMPType < 0 || e.ICMPType == int(port)
	}
	return true
}

// FirstAllow returns the ACL's first entry of the direction, in rule
// order, that allows the packet, or nil when none does. An earlier deny
// that also matches does not hide it: a caller placing a deny before the
// returned entry needs the allow, whatever precedes it.
func (a *NetworkACL) FirstAllow(ingress bool, proto uint8, port uint16, remote netip.Addr) *ACLEntry {
	if a == nil {
		return nil
	}
	for _, i := range a.ordered(ingress) {
		e := &a.Entries[i]
		if e.Allow && e.Matches(proto, port, remote) {
			return e
		}
	}
	return nil
}

// FreeRuleNumberBefore returns the largest rule number below n that no
// entry of the direction uses, within 1 to 32766, or 0 when there is
// none.
func (a *NetworkACL) FreeRuleNumberBefore(ingress bool, n int) int {
	if a == nil {
		return 0
	}
	used := map[int]bool{}
	for i := range a.Entries {
		if a.Entries[i].Egress != ingress {
			used[a.Entries[i].RuleNumber] = true
		}
	}
	for k := min(n-1, ACLDefaultRule-1); k >= 1; k-- {
		if !used[k] {
			return k
		}
	}
	return 0
}

// protoNumber returns the protocol number of a rule's protocol, -1 for
// all, and false when it is neither a known name nor a number.
func protoNumber(p string) (int, bool) {
	switch strings.ToLower(p) {
	case "-1", "all":
		return -1, true
	case "tcp":
		return 6, true
	case "udp":
		return 17, true
	case "icmp":
		return 1, true
	case "icmpv6":
		return 58, true
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < -1 || n > 255 {
		return 0, false
	}
	return n, true
}

// ProtoName returns the usual name of a protocol number: TCP, UDP, ICMP,
// ICMPv6, else "protocol N".
func ProtoName(proto uint8) string {
	switch proto {
	case 6:
		return "TCP"
	case 17:
		return "UDP"
	case 1:
		return "ICMP"
	case 58:
		return "ICMPv6"
	}
	return "protocol " + strconv.Itoa(int(proto))
}

func describePacket(ingress bool, proto uint8, port uint16, remote netip.Addr) string {
	s := ProtoName(proto)
	switch proto {
	case 6, 17:
		s += " " + strconv.Itoa(int(port))
	case 1, 58:
		s += " type " + strconv.Itoa(int(port))
	}
	if ingress {
		return s + " from " + remote.String()
	}
	return s + " to " + remote.String()
}

// ruleText writes a group rule as "tcp 22-22 0.0.0.0/0".
func ruleText(r *RuleRef) string {
	n, _ := protoNumber(r.Proto)
	proto := strings.ToLower(r.Proto)
	switch {
	case n < 0:
		proto = "all"
	case n == 1 || n == 58:
		switch {
		case r.FromPort < 0:
			proto += " all"
		case r.ToPort < 0:
			proto += " type " + strconv.Itoa(r.FromPort)
		default:
			proto += " type " + strconv.Itoa(r.FromPort) + " code " + strconv.Itoa(r.ToPort)
		}
	case n == 6 || n == 17:
		if r.FromPort < 0 {
			proto += " all"
		} else {
			proto += " " + strconv.Itoa(r.FromPort) + "-" + strconv.Itoa(r.ToPort)
		}
	}
	return proto + " " + r.CIDR
}

func groupName(id, name string) string {
	if name == "" {
		return id
	}
	return id + " (" + name + ")"
}

func entryName(n int) string {
	if n == ACLDefaultRule {
		return "*"
	}
	return strconv.Itoa(n)
}

func orUnknown(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

// groupless reports whether interfaces of a type may lack security groups
// altogether, traffic then being filtered by the network ACL alone.
func groupless(typ string) bool {
	switch typ {
	case "network_load_balancer", "gateway_load_balancer", "gateway_load_balancer_endpoint", "nat_gateway", "transit_gateway":
		return true
	}
	return false
}
