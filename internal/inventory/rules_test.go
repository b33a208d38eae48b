package inventory

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func cidrs(ps ...string) []CIDR {
	var out []CIDR
	for _, p := range ps {
		out = append(out, CIDR{Prefix: netip.MustParsePrefix(p)})
	}
	return out
}

// rulesSnapshot is a VPC with a web server (eni-web in sg-web and
// sg-admin), a database (eni-db in sg-db) and a bastion (eni-bastion in
// sg-bastion), its subnet's network ACL acl-web and the VPC's default ACL.
func rulesSnapshot() *Snapshot {
	s := NewSnapshot(time.Time{})
	s.Interfaces["eni-web"] = &Interface{
		ID: "eni-web", Subnet: "subnet-web", VPC: "vpc-1", AZ: "us-east-1a",
		Private: []PrivateAddr{{Addr: netip.MustParseAddr("10.0.1.10"), Primary: true, Public: netip.MustParseAddr("54.1.2.3")}},
		IPv6:    []netip.Addr{netip.MustParseAddr("2600:1f18::10")},
		Groups:  []GroupRef{{ID: "sg-web", Name: "web"}, {ID: "sg-admin", Name: "admin"}},
	}
	s.Interfaces["eni-db"] = &Interface{
		ID: "eni-db", Subnet: "subnet-db", VPC: "vpc-1",
		Private: []PrivateAddr{{Addr: netip.MustParseAddr("10.0.2.20"), Primary: true}},
		Groups:  []GroupRef{{ID: "sg-db", Name: "db"}},
	}
	s.Interfaces["eni-bastion"] = &Interface{
		ID: "eni-bastion", Subnet: "subnet-web", VPC: "vpc-1",
		Private: []PrivateAddr{{Addr: netip.MustParseAddr("10.0.1.99"), Primary: true, Public: netip.MustParseAddr("54.9.9.9")}},
		Groups:  []GroupRef{{ID: "sg-bastion", Name: "bastion"}},
	}
	s.Interfaces["eni-nlb"] = &Interface{
		ID: "eni-nlb", Type: "network_load_balancer", Subnet: "subnet-web", VPC: "vpc-1", Managed: true,
		Private: []PrivateAddr{{Addr: netip.MustParseAddr("10.0.1.60"), Primary: true}},
	}
	s.Interfaces["eni-lost"] = &Interface{
		ID: "eni-lost", Subnet: "subnet-web", VPC: "vpc-1",
		Private: []PrivateAddr{{Addr: netip.MustParseAddr("10.0.1.50"), Primary: true}},
		Groups:  []GroupRef{{ID: "sg-web", Name: "web"}, {ID: "sg-gone", Name: "gone"}},
	}
	s.Interfaces["eni-novpc"] = &Interface{
		ID: "eni-novpc", Subnet: "subnet-x", VPC: "vpc-2",
		Private: []PrivateAddr{{Addr: netip.MustParseAddr("10.9.0.5"), Primary: true}},
		Groups:  []GroupRef{{ID: "sg-web", Name: "web"}},
	}
	s.SecurityGroups["sg-web"] = &SecurityGroup{ID: "sg-web", Name: "web", VPC: "vpc-1",
		Ingress: []Permission{
			{Proto: "tcp", FromPort: 443, ToPort: 443, IPv4: cidrs("0.0.0.0/0"), IPv6: cidrs("::/0")},
			{Proto: "6", FromPort: 8000, ToPort: 8100, IPv4: cidrs("192.0.2.0/24")},
			{Proto: "udp", FromPort: 53, ToPort: 53, IPv4: []CIDR{{Prefix: netip.MustParsePrefix("198.51.100.0/24"), Description: "resolvers"}}},
			{Proto: "icmp", FromPort: 8, ToPort: -1, IPv4: cidrs("0.0.0.0/0")},
			{Proto: "58", FromPort: -1, ToPort: -1, IPv6: cidrs("::/0")},
			{Proto: "tcp", FromPort: 9000, ToPort: 9000, PrefixLists: []string{"pl-123"}},
		},
		Egress: []Permission{{Proto: "-1", FromPort: -1, ToPort: -1, IPv4: cidrs("0.0.0.0/0")}},
	}
	s.SecurityGroups["sg-admin"] = &SecurityGroup{ID: "sg-admin", Name: "admin", VPC: "vpc-1",
		Ingress: []Permission{
			{Proto: "tcp", FromPort: 22, ToPort: 22, IPv4: cidrs("0.0.0.0/0"), Groups: []string{"sg-bastion"}},
			{Proto: "tcp", FromPort: 22, ToPort: 22, Groups: []string{"sg-bastion"}},
			{Proto: "-1", FromPort: -1, ToPort: -1, Groups: []string{"sg-db"}},
		},
	}
	s.SecurityGroups["sg-db"] = &SecurityGroup{ID: "sg-db", Name: "db", VPC: "vpc-1"}
	s.SecurityGroups["sg-bastion"] = &SecurityGroup{ID: "sg-bastion", Name: "bastion", VPC: "vpc-1"}
	all4, all6 := netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")
	s.NetworkACLs["acl-web"] = &NetworkACL{ID: "acl-web", VPC: "vpc-1", Subnets: []string{"subnet-web"},
		Entries: []ACLEntry{
			// Out of order on purpose: evaluation sorts by number.
			{RuleNumber: 200, Proto: "-1", Allow: true, CIDR: all4},
			{RuleNumber: 90, Proto: "6", Allow: false, CIDR: netip.MustParsePrefix("203.0.113.0/24"), FromPort: 22, ToPort: 22},
			{RuleNumber: 100, Proto: "6", Allow: true, CIDR: all4, FromPort: 22, ToPort: 22},
			{RuleNumber: 110, Proto: "17", Allow: false, CIDR: netip.MustParsePrefix("198.51.100.66/32")},
			{RuleNumber: 120, Proto: "1", Allow: false, CIDR: all4, ICMPType: 13, ICMPCode: -1},
			{RuleNumber: 100, Proto: "-1", Allow: true, CIDR: all6},
			{RuleNumber: ACLDefaultRule, Proto: "-1", Allow: false, CIDR: all4},
			{RuleNumber: ACLDefaultRule, Proto: "-1", Allow: false, CIDR: all6},
			{RuleNumber: 100, Egress: true, Proto: "-1", Allow: false, CIDR: netip.MustParsePrefix("192.0.2.66/32")},
			{RuleNumber: 200, Egress: true, Proto: "-1", Allow: true, CIDR: all4},
		},
	}
	s.NetworkACLs["acl-default"] = &NetworkACL{ID: "acl-default", VPC: "vpc-1", Default: true,
		Entries: []ACLEntry{{RuleNumber: 100, Proto: "-1", Allow: true, CIDR: all4}}}
	s.Index()
	return s
}

func TestAdmits(t *testing.T) {
	s := rulesSnapshot()
	ip := netip.MustParseAddr
	tests := []struct {
		name    string
		iface   string
		ingress bool
		proto   uint8
		port    uint16
		remote  string
		want    Verdict
		reason  []string // substrings of Reason
	}{
		{
			name: "tcp from anywhere", iface: "eni-web", ingress: true, proto: 6, port: 443, remote: "203.0.113.9",
			want: Verdict{Known: true, Admitted: true,
				Group: &RuleRef{ID: "sg-web", Name: "web", Proto: "tcp", FromPort: 443, ToPort: 443, CIDR: "0.0.0.0/0", Allow: true},
				ACL:   &RuleRef{ID: "acl-web", RuleNumber: 200, Proto: "-1", CIDR: "0.0.0.0/0", Allow: true}},
			reason: []string{"sg-web (web) admits TCP 443 from 203.0.113.9 (rule tcp 443-443 0.0.0.0/0)", "network ACL acl-web entry 200 allows it"},
		},
		{
			name: "protocol by number and port range", iface: "eni-web", ingress: true, proto: 6, port: 8050, remote: "192.0.2.7",
			want: Verdict{Known: true, Admitted: true,
				Group: &RuleRef{ID: "sg-web", Name: "web", Proto: "6", FromPort: 8000, ToPort: 8100, CIDR: "192.0.2.0/24", Allow: true},
				ACL:   &RuleRef{ID: "acl-web", RuleNumber: 200, Proto: "-1", CIDR: "0.0.0.0/0", Allow: true}},
		},
		{
			name: "load balancer without security groups", iface: "eni-nlb", ingress: true, proto: 6, port: 8080, remote: "203.0.113.9",
			want: Verdict{Known: true, Admitted: true,
				ACL: &RuleRef{ID: "acl-web", RuleNumber: 200, Proto: "-1", CIDR: "0.0.0.0/0", Allow: true}},
			reason: []string{"interface eni-nlb (network_load_balancer) has no security groups, so only the network ACL filters TCP 8080 from 203.0.113.9"},
		},
		{
			name: "port outside range", iface: "eni-web", ingress: true, proto: 6, port: 8101, remote: "192.0.2.7",
			want: Verdict{Known: true, BlockedBy: BlockedBySecurityGroup,
				ACL: &RuleRef{ID: "acl-web", RuleNumber: 200, Proto: "-1", CIDR: "0.0.0.0/0", Allow: true}},
			reason: []string{"no rule of sg-web (web), sg-admin (admin) admits TCP 8101 from 192.0.2.7"},
		},
		{
			name: "udp with description", iface: "eni-web", ingress: true, proto: 17, port: 53, remote: "198.51.100.5",
			want: Verdict{Known: true, Admitted: true,
				Group: &RuleRef{ID: "sg-web", Name: "web", Proto: "udp", FromPort: 53, ToPort: 53, CIDR: "198.51.100.0/24", Description: "resolvers", Allow: true},
				ACL:   &RuleRef{ID: "acl-web", RuleNumber: 200, Proto: "-1", CIDR: "0.0.0.0/0", Allow: true}},
		},
		{
			name: "acl deny entry before allow", iface: "eni-web", ingress: true, proto: 17, port: 53, remote: "198.51.100.66",
			want: Verdict{Known: true, BlockedBy: BlockedByNetworkACL,
				Group: &RuleRef{ID: "sg-web", Name: "web", Proto: "udp", FromPort: 53, ToPort: 53, CIDR: "198.51.100.0/24", Description: "resolvers", Allow: true},
				ACL:   &RuleRef{ID: "acl-web", RuleNumber: 110, Proto: "17", CIDR: "198.51.100.66/32"}},
			reason: []string{"network ACL acl-web entry 110 denies it"},
		},
		{
			name: "acl order: lower deny wins over allow", iface: "eni-web", ingress: true, proto: 6, port: 22, remote: "203.0.113.9",
			want: Verdict{Known: true, BlockedBy: BlockedByNetworkACL,
				Group: &RuleRef{ID: "sg-admin", Name: "admin", Proto: "tcp", FromPort: 22, ToPort: 22, CIDR: "0.0.0.0/0", Allow: true},
				ACL:   &RuleRef{ID: "acl-web", RuleNumber: 90, Proto: "6", FromPort: 22, ToPort: 22, CIDR: "203.0.113.0/24"}},
		},
		{
			name: "acl order: port entry before all", iface: "eni-web", ingress: true, proto: 6, port: 22, remote: "192.0.2.1",
			want: Verdict{Known: true, Admitted: true,
				Group: &RuleRef{ID: "sg-admin", Name: "admin", Proto: "tcp", FromPort: 22, ToPort: 22, CIDR: "0.0.0.0/0", Allow: true},
				ACL:   &RuleRef{ID: "acl-web", RuleNumber: 100, Proto: "6", FromPort: 22, ToPort: 22, CIDR: "0.0.0.0/0", Allow: true}},
		},
		{
			name: "icmp type", iface: "eni-web", ingress: true, proto: 1, port: 8, remote: "192.0.2.1",
			want: Verdict{Known: true, Admitted: true,
				Group: &RuleRef{ID: "sg-web", Name: "web", Proto: "icmp", FromPort: 8, ToPort: -1, CIDR: "0.0.0.0/0", Allow: true},
				ACL:   &RuleRef{ID: "acl-web", RuleNumber: 200, Proto: "-1", CIDR: "0.0.0.0/0", Allow: true}},
			reason: []string{"admits ICMP type 8 from 192.0.2.1 (rule icmp type 8 0.0.0.0/0)"},
		},
		{
			name: "icmp other type", iface: "eni-web", ingress: true, proto: 1, port: 0, remote: "192.0.2.1",
			want: Verdict{Known: true, BlockedBy: BlockedBySecurityGroup,
				ACL: &RuleRef{ID: "acl-web", RuleNumber: 200, Proto: "-1", CIDR: "0.0.0.0/0", Allow: true}},
		},
		{
			name: "icmp type denied by acl", iface: "eni-web", ingress: true, proto: 1, port: 13, remote: "192.0.2.1",
			want: Verdict{Known: true, BlockedBy: BlockedByNetworkACL,
				ACL: &RuleRef{ID: "acl-web", RuleNumber: 120, Proto: "1", FromPort: 13, ToPort: -1, CIDR: "0.0.0.0/0"}},
		},
		{
			name: "ipv6 range", iface: "eni-web", ingress: true, proto: 6, port: 443, remote: "2001:db8::1",
			want: Verdict{Known: true, Admitted: true,
				Group: &RuleRef{ID: "sg-web", Name: "web", Proto: "tcp", FromPort: 443, ToPort: 443, CIDR: "::/0", Allow: true},
				ACL:   &RuleRef{ID: "acl-web", RuleNumber: 100, Proto: "-1", CIDR: "::/0", Allow: true}},
		},
		{
			name: "0.0.0.0/0 does not match ipv6", iface: "eni-web", ingress: true, proto: 6, port: 22, remote: "2001:db8::1",
			want: Verdict{Known: true, BlockedBy: BlockedBySecurityGroup,
				ACL: &RuleRef{ID: "acl-web", RuleNumber: 100, Proto: "-1", CIDR: "::/0", Allow: true}},
		},
		{
			name: "icmpv6 by number", iface: "eni-web", ingress: true, proto: 58, port: 128, remote: "2001:db8::1",
			want: Verdict{Known: true, Admitted: true,
				Group: &RuleRef{ID: "sg-web", Name: "web", Proto: "58", FromPort: -1, ToPort: -1, CIDR: "::/0", Allow: true},
				ACL:   &RuleRef{ID: "acl-web", RuleNumber: 100, Proto: "-1", CIDR: "::/0", Allow: true}},
			reason: []string{"ICMPv6 type 128 from 2001:db8::1"},
		},
		{
			name: "ipv4-mapped remote", iface: "eni-web", ingress: true, proto: 6, port: 443, remote: "::ffff:203.0.113.9",
			want: Verdict{Known: true, Admitted: true,
				Group: &RuleRef{ID: "sg-web", Name: "web", Proto: "tcp", FromPort: 443, ToPort: 443, CIDR: "0.0.0.0/0", Allow: true},
				ACL:   &RuleRef{ID: "acl-web", RuleNumber: 200, Proto: "-1", CIDR: "0.0.0.0/0", Allow: true}},
		},
		{
			name: "referenced group", iface: "eni-web", ingress: true, proto: 17, port: 5000, remote: "10.0.2.20",
			want: Verdict{Known: true, Admitted: true,
				Group: &RuleRef{ID: "sg-admin", Name: "admin", Proto: "-1", FromPort: -1, ToPort: -1, CIDR: "sg-db", Allow: true},
				ACL:   &RuleRef{ID: "acl-web", RuleNumber: 200, Proto: "-1", CIDR: "0.0.0.0/0", Allow: true}},
			reason: []string{"(rule all sg-db)"},
		},
		{
			name: "referenced group ignores public address", iface: "eni-web", ingress: true, proto: 17, port: 5000, remote: "54.9.9.9",
			want: Verdict{Known: true, BlockedBy: BlockedBySecurityGroup,
				ACL: &RuleRef{ID: "acl-web", RuleNumber: 200, Proto: "-1", CIDR: "0.0.0.0/0", Allow: true}},
		},
		{
			name: "referenced group, address outside it", iface: "eni-web", ingress: true, proto: 17, port: 5000, remote: "10.0.1.99",
			want: Verdict{Known: true, BlockedBy: BlockedBySecurityGroup,
				ACL: &RuleRef{ID: "acl-web", RuleNumber: 200, Proto: "-1", CIDR: "0.0.0.0/0", Allow: true}},
		},
		{
			name: "prefix list is not a match", iface: "eni-web", ingress: true, proto: 6, port: 9000, remote: "192.0.2.1",
			want: Verdict{Known: true, BlockedBy: BlockedBySecurityGroup,
				ACL: &RuleRef{ID: "acl-web", RuleNumber: 200, Proto: "-1", CIDR: "0.0.0.0/0", Allow: true}},
			reason: []string{"may be admitted by prefix list pl-123"},
		},
		{
			name: "egress", iface: "eni-web", ingress: false, proto: 6, port: 443, remote: "192.0.2.1",
			want: Verdict{Known: true, Admitted: true,
				Group: &RuleRef{ID: "sg-web", Name: "web", Proto: "-1", FromPort: -1, ToPort: -1, CIDR: "0.0.0.0/0", Allow: true},
				ACL:   &RuleRef{ID: "acl-web", RuleNumber: 200, Proto: "-1", CIDR: "0.0.0.0/0", Allow: true}},
			reason: []string{"admits TCP 443 to 192.0.2.1"},
		},
		{
			name: "egress denied by acl", iface: "eni-web", ingress: false, proto: 6, port: 443, remote: "192.0.2.66",
			want: Verdict{Known: true, BlockedBy: BlockedByNetworkACL,
				Group: &RuleRef{ID: "sg-web", Name: "web", Proto: "-1", FromPort: -1, ToPort: -1, CIDR: "0.0.0.0/0", Allow: true},
				ACL:   &RuleRef{ID: "acl-web", RuleNumber: 100, Proto: "-1", CIDR: "192.0.2.66/32"}},
		},
		{
			name: "egress ipv6 falls to the star entry", iface: "eni-web", ingress: false, proto: 6, port: 443, remote: "2001:db8::1",
			want: Verdict{Known: true, BlockedBy: BlockedByNetworkACL,
				ACL: &RuleRef{ID: "acl-web", RuleNumber: ACLDefaultRule, Proto: "-1", CIDR: "::/0"}},
			reason: []string{"entry * denies it"},
		},
		{
			name: "default acl of the vpc", iface: "eni-db", ingress: true, proto: 6, port: 5432, remote: "10.0.1.10",
			want: Verdict{Known: true, BlockedBy: BlockedBySecurityGroup,
				ACL: &RuleRef{ID: "acl-default", RuleNumber: 100, Proto: "-1", CIDR: "0.0.0.0/0", Allow: true}},
			reason: []string{"no rule of sg-db (db) admits"},
		},
		{
			name: "default acl without a star entry", iface: "eni-db", ingress: true, proto: 6, port: 5432, remote: "2001:db8::1",
			want: Verdict{Known: true, BlockedBy: BlockedByNetworkACL,
				ACL: &RuleRef{ID: "acl-default", RuleNumber: ACLDefaultRule, Proto: "-1", CIDR: "::/0"}},
		},
		{
			name: "missing group, no known rule", iface: "eni-lost", ingress: true, proto: 6, port: 22, remote: "192.0.2.1",
			want: Verdict{BlockedBy: BlockedBySecurityGroup,
				ACL: &RuleRef{ID: "acl-web", RuleNumber: 100, Proto: "6", FromPort: 22, ToPort: 22, CIDR: "0.0.0.0/0", Allow: true}},
			reason: []string{"the inventory lacks security group sg-gone"},
		},
		{
			name: "missing group, known rule admits", iface: "eni-lost", ingress: true, proto: 6, port: 443, remote: "192.0.2.1",
			want: Verdict{Known: true, Admitted: true,
				Group: &RuleRef{ID: "sg-web", Name: "web", Proto: "tcp", FromPort: 443, ToPort: 443, CIDR: "0.0.0.0/0", Allow: true},
				ACL:   &RuleRef{ID: "acl-web", RuleNumber: 200, Proto: "-1", CIDR: "0.0.0.0/0", Allow: true}},
			reason: []string{"the inventory lacks security group sg-gone"},
		},
		{
			name: "missing group, acl denies", iface: "eni-lost", ingress: true, proto: 6, port: 22, remote: "203.0.113.1",
			want: Verdict{Known: true, BlockedBy: BlockedByNetworkACL,
				ACL: &RuleRef{ID: "acl-web", RuleNumber: 90, Proto: "6", FromPort: 22, ToPort: 22, CIDR: "203.0.113.0/24"}},
		},
		{
			name: "unknown acl, group admits", iface: "eni-novpc", ingress: true, proto: 6, port: 443, remote: "192.0.2.1",
			want: Verdict{Admitted: true,
				Group: &RuleRef{ID: "sg-web", Name: "web", Proto: "tcp", FromPort: 443, ToPort: 443, CIDR: "0.0.0.0/0", Allow: true}},
			reason: []string{"the network ACL of subnet-x is unknown"},
		},
		{
			name: "unknown acl, groups block", iface: "eni-novpc", ingress: true, proto: 6, port: 22, remote: "192.0.2.1",
			want:   Verdict{Known: true, BlockedBy: BlockedBySecurityGroup},
			reason: []string{"the network ACL of subnet-x is unknown"},
		},
		{
			name: "no interface", iface: "", ingress: true, proto: 6, port: 22, remote: "192.0.2.1",
			want:   Verdict{},
			reason: []string{"the inventory lacks the interface"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := s.Admits(s.Interface(tt.iface), tt.ingress, tt.proto, tt.port, ip(tt.remote))
			for _, r := range tt.reason {
				if !strings.Contains(got.Reason, r) {
					t.Errorf("Reason %q lacks %q", got.Reason, r)
				}
			}
			if got.Reason == "" {
				t.Error("empty Reason")
			}
			got.Reason = ""
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Admits (-want +got):\n%s\nreason: %s", diff, got.Reason)
			}
		})
	}
}

func TestFirstAllow(t *testing.T) {
	s := rulesSnapshot()
	acl := s.NetworkACLs["acl-web"]
	tests := []struct {
		name    string
		ingress bool
		proto   uint8
		port    uint16
		remote  string
		want    int // rule number; 0 for nil
	}{
		{"port entry first", true, 6, 22, "192.0.2.1", 100},
		{"earlier deny skipped", true, 6, 22, "203.0.113.9", 100},
		{"all entry", true, 17, 53, "192.0.2.1", 200},
		{"ipv6", true, 6, 80, "2001:db8::1", 100},
		{"egress", false, 6, 443, "192.0.2.66", 200},
		{"egress ipv6 none", false, 6, 443, "2001:db8::1", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := acl.FirstAllow(tt.ingress, tt.proto, tt.port, netip.MustParseAddr(tt.remote))
			got := 0
			if e != nil {
				got = e.RuleNumber
				if !e.Allow {
					t.Errorf("entry %d denies", got)
				}
			}
			if got != tt.want {
				t.Errorf("FirstAllow = %d, want %d", got, tt.want)
			}
		})
	}
	if e := (*NetworkACL)(nil).FirstAllow(true, 6, 22, netip.MustParseAddr("192.0.2.1")); e != nil {
		t.Errorf("nil ACL: FirstAllow = %+v", e)
	}
}

func TestFreeRuleNumberBefore(t *testing.T) {
	acl := &NetworkACL{Entries: []ACLEntry{
		{RuleNumber: 1}, {RuleNumber: 2}, {RuleNumber: 99}, {RuleNumber: 100},
		{RuleNumber: 32766}, {RuleNumber: ACLDefaultRule},
		{RuleNumber: 98, Egress: true}, {RuleNumber: 50, Egress: true},
	}}
	tests := []struct {
		name    string
		ingress bool
		n       int
		want    int
	}{
		{"gap below", true, 100, 98},
		{"skips used", true, 99, 98},
		{"egress ignores ingress numbers", false, 100, 99},
		{"egress skips its own", false, 99, 97},
		{"none free", true, 3, 0},
		{"nothing below 1", true, 1, 0},
		{"default rule", true, ACLDefaultRule, 32765},
		{"above the range", false, 40000, 32766},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := acl.FreeRuleNumberBefore(tt.ingress, tt.n); got != tt.want {
				t.Errorf("FreeRuleNumberBefore(%v, %d) = %d, want %d", tt.ingress, tt.n, got, tt.want)
			}
		})
	}
}
