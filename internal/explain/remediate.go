package explain

import (
	"net/netip"
	"strconv"
	"strings"

	"picket/internal/inventory"
)

// QuarantineGroupID stands in the isolation commands for the ID of the
// quarantine group that create-security-group prints; the user replaces
// it before running them. The AWS CLI does not check the form of group
// IDs, so a command still holding it fails at AWS, not silently.
const QuarantineGroupID = "QUARANTINE_GROUP_ID"

// Command is one AWS CLI command that would help stop what a finding
// reports.
type Command struct {
	// Why says in one sentence what the command does and why.
	Why string
	// Args is the argv, starting with "aws".
	Args []string
}

// String returns the command as one shell line, each argument quoted
// with single quotes when the shell would otherwise treat it specially.
func (c Command) String() string {
	var b strings.Builder
	for i, a := range c.Args {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(shellQuote(a))
	}
	return b.String()
}

func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	if strings.IndexFunc(s, needsQuote) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// needsQuote reports whether a shell gives r a meaning of its own in an
// unquoted word.
func needsQuote(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return false
	}
	return !strings.ContainsRune("-_./:=,@%+", r)
}

// Target is what a finding is about, as the inventory knows it.
type Target struct {
	// Region is where the resource is; when empty, the interface's
	// availability zone tells.
	Region   string
	Iface    *inventory.Interface
	Instance *inventory.Instance // nil when none or unknown
	Task     *inventory.Task     // nil when none or unknown
	// Remote is the other end (the attacker, or what our host reached
	// out to); zero when the finding has no single remote address.
	Remote netip.Addr
	// Proto (an IANA number) and Port are the local port probed or
	// attacked; Port is 0 when none.
	Proto uint8
	Port  uint16
	// Inbound is true when the remote end acted on our resource, false
	// when our resource was the actor.
	Inbound bool
	// Verdict is Snapshot.Admits's answer for the inbound traffic.
	Verdict inventory.Verdict
	// ACL is the network ACL of the interface's subnet, nil when unknown.
	ACL *inventory.NetworkACL
}

// Remediate returns the commands that would stop what a finding reports,
// each only when it applies: for inbound traffic, revoking the security
// group rule that admitted it and a network ACL entry denying the remote
// address ahead of the entry that allows it; for either direction,
// isolating the resource (a quarantine security group for an instance or
// a bare interface, stopping an ECS task); for outbound traffic, a
// network ACL entry denying everything toward the remote address.
// Interfaces AWS manages for a service (NAT gateways, load balancers) are
// never isolated.
func Remediate(t Target) []Command {
	region := t.Region
	if region == "" && t.Iface != nil {
		region = t.Iface.Region()
	}
	var cmds []Command
	if t.Inbound {
		if c, ok := revokeIngress(region, t.Verdict); ok {
			cmds = append(cmds, c)
		}
		if c, ok := denyIngress(region, t); ok {
			cmds = append(cmds, c)
		}
		cmds = append(cmds, isolate(region, t)...)
		return cmds
	}
	cmds = append(cmds, isolate(region, t)...)
	if c, ok := denyEgress(region, t); ok {
		cmds = append(cmds, c)
	}
	return cmds
}

// ec2 starts an "aws ec2" command line.
func ec2(op, region string) []string {
	args := []string{"aws", "ec2", op}
	if region != "" {
		args = append(args, "--region", region)
	}
	return args
}

// revokeIngress revokes the security group rule of v that admitted the
// traffic, narrowed to the range that matched the remote address.
func revokeIngress(region string, v inventory.Verdict) (Command, bool) {
	r := v.Group
	if !v.Admitted || r == nil || r.ID == "" {
		return Command{}, false
	}
	perm, ok := permissionShorthand(r)
	if !ok {
		return Command{}, false
	}
	args := append(ec2("revoke-security-group-ingress", region), "--group-id", r.ID, "--ip-permissions", perm)
	group := r.ID
	if r.Name != "" {
		group += " (" + r.Name + ")"
	}
	return Command{
		Why:  "Removes the rule of " + group + " that admitted the traffic (" + r.Proto + " " + portsText(r) + " from " + r.CIDR + "); other rules of the group stay, and anything else the rule admitted loses access too.",
		Args: args,
	}, true
}

// permissionShorthand writes a rule as the AWS CLI's shorthand for
// --ip-permissions: the protocol, the ports where the protocol has them,
// and the one matching source.
func permissionShorthand(r *inventory.RuleRef) (string, bool) {
	var source string
	switch {
	case strings.HasPrefix(r.CIDR, "sg-"):
		source = "UserIdGroupPairs=[{GroupId=" + r.CIDR + "}]"
	default:
		p, err := netip.ParsePrefix(r.CIDR)
		if err != nil {
			return "", false
		}
		if p.Addr().Is4() {
			source = "IpRanges=[{CidrIp=" + p.String() + "}]"
		} else {
			source = "Ipv6Ranges=[{CidrIpv6=" + p.String() + "}]"
		}
	}
	s := "IpProtocol=" + r.Proto + ","
	if hasPorts(r.Proto) {
		s += "FromPort=" + strconv.Itoa(r.FromPort) + ",ToPort=" + strconv.Itoa(r.ToPort) + ","
	}
	return s + source, true
}

// hasPorts reports whether a security group protocol carries ports (or
// ICMP type and code).
func hasPorts(proto string) bool {
	switch strings.ToLower(proto) {
	case "tcp", "udp", "icmp", "icmpv6", "6", "17", "1", "58":
		return true
	}
	return false
}

func portsText(r *inventory.RuleRef) string {
	switch {
	case !hasPorts(r.Proto) || r.FromPort < 0:
		return "all ports"
	case r.FromPort == r.ToPort:
		return "port " + strconv.Itoa(r.FromPort)
	}
	return "ports " + strconv.Itoa(r.FromPort) + "-" + strconv.Itoa(r.ToPort)
}

// denyIngress adds a network ACL entry denying the remote address the
// probed protocol and port, numbered just before the first entry that
// allows it. It is skipped when the ACL already blocks the traffic or has
// no free number there.
func denyIngress(region string, t Target) (Command, bool) {
	if t.ACL == nil || !t.Remote.IsValid() || t.Verdict.BlockedBy == inventory.BlockedByNetworkACL {
		return Command{}, false
	}
	remote := t.Remote.Unmap()
	first := t.ACL.FirstAllow(true, t.Proto, t.Port, remote)
	if first == nil {
		return Command{}, false
	}
	n := t.ACL.FreeRuleNumberBefore(true, first.RuleNumber)
	if n == 0 {
		return Command{}, false
	}
	args := append(ec2("create-network-acl-entry", region), "--network-acl-id", t.ACL.ID, "--ingress", "--rule-number", strconv.Itoa(n))
	what := "all traffic"
	switch t.Proto {
	case 6, 17:
		from, to := int(t.Port), int(t.Port)
		what = inventory.ProtoName(t.Proto) + " port " + strconv.Itoa(from)
		if t.Port == 0 {
			from, to = 0, 65535
			what = "all " + inventory.ProtoName(t.Proto)
		}
		args = append(args, "--protocol", strconv.Itoa(int(t.Proto)), "--port-range", "From="+strconv.Itoa(from)+",To="+strconv.Itoa(to))
	case 1, 58:
		args = append(args, "--protocol", strconv.Itoa(int(t.Proto)), "--icmp-type-code", "Type=-1,Code=-1")
		what = "all " + inventory.ProtoName(t.Proto)
	case 0:
		args = append(args, "--protocol", "-1")
	default:
		args = append(args, "--protocol", strconv.Itoa(int(t.Proto)))
		what = "all " + inventory.ProtoName(t.Proto)
	}
	args = append(args, cidrArgs(remote)...)
	args = append(args, "--rule-action", "deny")
	return Command{
		Why:  "Denies " + what + " from " + remote.String() + " at network ACL " + t.ACL.ID + " with entry " + strconv.Itoa(n) + ", ahead of entry " + strconv.Itoa(first.RuleNumber) + " that allows it; the ACL covers every interface in the subnets it is associated with.",
		Args: args,
	}, true
}

// denyEgress adds a network ACL entry denying all traffic from the
// subnet to the remote address, numbered just before the first outbound
// entry that allows any of it.
func denyEgress(region string, t Target) (Command, bool) {
	if t.ACL == nil || !t.Remote.IsValid() {
		return Command{}, false
	}
	remote := t.Remote.Unmap()
	first := firstAllowTo(t.ACL, remote)
	if first == nil {
		return Command{}, false
	}
	n := t.ACL.FreeRuleNumberBefore(false, first.RuleNumber)
	if n == 0 {
		return Command{}, false
	}
	args := append(ec2("create-network-acl-entry", region), "--network-acl-id", t.ACL.ID, "--egress", "--rule-number", strconv.Itoa(n), "--protocol", "-1")
	args = append(args, cidrArgs(remote)...)
	args = append(args, "--rule-action", "deny")
	return Command{
		Why:  "Denies all outbound traffic to " + remote.String() + " at network ACL " + t.ACL.ID + " with entry " + strconv.Itoa(n) + ", ahead of entry " + strconv.Itoa(first.RuleNumber) + " that allows it; the ACL covers every interface in the subnets it is associated with.",
		Args: args,
	}, true
}

// firstAllowTo returns the lowest-numbered outbound entry that allows any
// traffic to remote, whatever its protocol and ports.
func firstAllowTo(a *inventory.NetworkACL, remote netip.Addr) *inventory.ACLEntry {
	var first *inventory.ACLEntry
	for i := range a.Entries {
		e := &a.Entries[i]
		if e.Egress && e.Allow && e.CIDR.Contains(remote) && (first == nil || e.RuleNumber < first.RuleNumber) {
			first = e
		}
	}
	return first
}

func cidrArgs(a netip.Addr) []string {
	if a.Is4() {
		return []string{"--cidr-block", a.String() + "/32"}
	}
	return []string{"--ipv6-cidr-block", a.String() + "/128"}
}

// isolate cuts the resource off: an ECS task is stopped; an instance or a
// bare interface is moved into a new security group with no rules.
func isolate(region string, t Target) []Command {
	if t.Task != nil && t.Task.ARN != "" {
		args := []string{"aws", "ecs", "stop-task"}
		if region != "" {
			args = append(args, "--region", region)
		}
		cluster := t.Task.ClusterName()
		if cluster != "" {
			args = append(args, "--cluster", cluster)
		}
		args = append(args, "--task", t.Task.ARN, "--reason", "picket: stopped for a security finding")
		return []Command{{
			Why:  "Stops the ECS task; if a service runs it, the service starts a replacement from the same task definition, so fix the image or the task definition too.",
			Args: args,
		}}
	}
	i := t.Iface
	if i == nil || i.Managed || !isolatable(i.Type) {
		return nil
	}
	vpc := i.VPC
	if t.Instance != nil && t.Instance.VPC != "" {
		vpc = t.Instance.VPC
	}
	if vpc == "" {
		return nil
	}
	subject := i.ID
	if t.Instance != nil {
		subject = t.Instance.ID
	}
	cmds := []Command{
		{
			Why: "Creates the empty quarantine security group " + "picket-quarantine-" + subject + " in " + vpc + "; note the GroupId it prints and put it in place of " + QuarantineGroupID + " in the commands that follow.",
			Args: append(ec2("create-security-group", region), "--vpc-id", vpc, "--group-name", "picket-quarantine-"+subject,
				"--description", "picket quarantine for "+subject+": no inbound or outbound rules"),
		},
		{
			Why: "Removes the allow-all outbound rule AWS gives every new security group, so the quarantine group admits nothing either way (replace " + QuarantineGroupID + " with the new group's ID).",
			Args: append(ec2("revoke-security-group-egress", region), "--group-id", QuarantineGroupID,
				"--ip-permissions", "IpProtocol=-1,IpRanges=[{CidrIp=0.0.0.0/0}]"),
		},
	}
	if t.Instance != nil && isPrimary(t.Instance, i) {
		cmds = append(cmds, Command{
			Why:  "Replaces the security groups of instance " + t.Instance.ID + "'s primary interface with the quarantine group alone (replace " + QuarantineGroupID + " with its ID); connections already open may last until they go idle.",
			Args: append(ec2("modify-instance-attribute", region), "--instance-id", t.Instance.ID, "--groups", QuarantineGroupID),
		})
		return cmds
	}
	return append(cmds, Command{
		Why:  "Replaces the security groups of interface " + i.ID + " with the quarantine group alone (replace " + QuarantineGroupID + " with its ID); connections already open may last until they go idle.",
		Args: append(ec2("modify-network-interface-attribute", region), "--network-interface-id", i.ID, "--groups", QuarantineGroupID),
	})
}

// isolatable reports whether an interface of the type belongs to the
// customer's own compute, rather than to a service AWS runs.
func isolatable(typ string) bool {
	switch typ {
	case "", "interface", "efa", "efa-only":
		return true
	}
	return false
}

// isPrimary reports whether i is the instance's primary interface, the
// one modify-instance-attribute --groups changes.
func isPrimary(in *inventory.Instance, i *inventory.Interface) bool {
	if len(in.Interfaces) > 0 {
		return in.Interfaces[0] == i.ID
	}
	return i.DeviceIndex == 0
}
