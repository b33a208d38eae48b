package inventory

import (
	"bytes"
	"compress/gzip"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const (
	estateDir = "testdata/estate"
	estateVPC = "vpc-0a1b2c3d4e5f60718"
)

// cmpOpts compares the model's values: addresses by value, snapshots by
// their exported maps.
var cmpOpts = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	cmpopts.IgnoreUnexported(Snapshot{}),
	cmpopts.EquateEmpty(),
}

func mustAddr(s string) netip.Addr     { return netip.MustParseAddr(s) }
func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// parseFiles parses files of the estate into a new snapshot.
func parseFiles(t *testing.T, names ...string) (*Snapshot, *Report) {
	t.Helper()
	s, rep := NewSnapshot(time.Time{}), &Report{}
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(estateDir, n))
		if err != nil {
			t.Fatal(err)
		}
		if err := Parse(s, n, data, rep); err != nil {
			t.Fatalf("Parse(%s): %v", n, err)
		}
	}
	if rep.Skipped != 0 || len(rep.Problems) != 0 {
		t.Fatalf("skipped %d: %v", rep.Skipped, rep.Problems)
	}
	return s, rep
}

func TestParseEstate(t *testing.T) {
	tests := []struct {
		file      string
		got       func(*Snapshot) any
		want      any
		wantCount map[string]int
	}{
		{
			file: "describe-network-interfaces.json",
			got:  func(s *Snapshot) any { return s.Interfaces["eni-0a1b2c3d4e5f00001"] },
			want: &Interface{
				ID: "eni-0a1b2c3d4e5f00001", Type: "interface", Status: "in-use", Owner: "111122223333",
				AZ: "us-east-1a", Subnet: "subnet-0aa1111111111111a", VPC: estateVPC, MAC: "0a:1b:2c:3d:4e:01",
				PrivateDNS: "ip-10-0-0-10.ec2.internal",
				Private: []PrivateAddr{{
					Addr: mustAddr("10.0.0.10"), DNS: "ip-10-0-0-10.ec2.internal", Primary: true,
					Public: mustAddr("54.162.10.20"), PublicDNS: "ec2-54-162-10-20.compute-1.amazonaws.com",
				}},
				Groups:          []GroupRef{{ID: "sg-0a1b2c3d4e5f00001", Name: "web-public"}},
				Instance:        "i-0a1b2c3d4e5f00001",
				SourceDestCheck: true,
			},
			wantCount: map[string]int{"interfaces": 6},
		},
		{
			file: "describe-network-interfaces.json",
			got:  func(s *Snapshot) any { return s.Interfaces["eni-0a1b2c3d4e5f00004"] },
			want: &Interface{
				ID: "eni-0a1b2c3d4e5f00004", Type: "network_load_balancer", Description: "ELB net/web-nlb/50dc6c495c0c9188",
				Status: "in-use", Owner: "111122223333", RequesterID: "amazon-elb", Managed: true,
				AZ: "us-east-1a", Subnet: "subnet-0aa1111111111111a", VPC: estateVPC, MAC: "0a:1b:2c:3d:4e:04",
				PrivateDNS: "ip-10-0-0-50.ec2.internal",
				Private: []PrivateAddr{{
					Addr: mustAddr("10.0.0.50"), DNS: "ip-10-0-0-50.ec2.internal", Primary: true, Public: mustAddr("198.51.100.10"),
				}},
				DeviceIndex:     1,
				SourceDestCheck: true,
			},
			wantCount: map[string]int{"interfaces": 6},
		},
		{
			file: "describe-instances.json",
			got:  func(s *Snapshot) any { return s.Instances },
			want: map[string]*Instance{
				"i-0a1b2c3d4e5f00001": {
					ID: "i-0a1b2c3d4e5f00001", Type: "t3.micro", ImageID: "ami-0abcdef1234567890",
					LaunchTime: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC), State: "running", Platform: "Linux/UNIX",
					AZ: "us-east-1a", VPC: estateVPC, Subnet: "subnet-0aa1111111111111a",
					PrivateDNS: "ip-10-0-0-10.ec2.internal", PublicDNS: "ec2-54-162-10-20.compute-1.amazonaws.com",
					PublicIP:   mustAddr("54.162.10.20"),
					ProfileARN: "arn:aws:iam::111122223333:instance-profile/web", ProfileID: "AIPAEXAMPLEWEBPROFILE1",
					Owner:      "111122223333",
					Tags:       []Tag{{"Name", "web-1"}, {"env", "prod"}},
					Interfaces: []string{"eni-0a1b2c3d4e5f00001"},
					Groups:     []GroupRef{{ID: "sg-0a1b2c3d4e5f00001", Name: "web-public"}},
				},
				"i-0a1b2c3d4e5f00002": {
					ID: "i-0a1b2c3d4e5f00002", Type: "m6i.large", ImageID: "ami-0fedcba9876543210",
					LaunchTime: time.Date(2026, 2, 20, 14, 30, 0, 0, time.UTC), State: "running", Platform: "Linux/UNIX",
					AZ: "us-east-1a", VPC: estateVPC, Subnet: "subnet-0cc3333333333333c",
					PrivateDNS: "ip-10-0-10-25.ec2.internal",
					ProfileARN: "arn:aws:iam::111122223333:instance-profile/app", ProfileID: "AIPAEXAMPLEAPPPROFILE1",
					Owner:        "111122223333",
					Tags:         []Tag{{"Name", "app-1"}},
					ProductCodes: []ProductCode{{ID: "a1b2c3d4e5f6g7h8i9j0k1l2m", Type: "marketplace"}},
					Interfaces:   []string{"eni-0a1b2c3d4e5f00002"},
					Groups:       []GroupRef{{ID: "sg-0a1b2c3d4e5f00002", Name: "app-behind-nlb"}},
				},
			},
			// The instances' interfaces come along.
			wantCount: map[string]int{"instances": 2, "interfaces": 2},
		},
		{
			file: "describe-tasks.json",
			got:  func(s *Snapshot) any { return s.Tasks },
			want: map[string]*Task{
				"arn:aws:ecs:us-east-1:111122223333:task/prod/0f1e2d3c4b5a69788796a5b4c3d2e1f0": {
					ARN:           "arn:aws:ecs:us-east-1:111122223333:task/prod/0f1e2d3c4b5a69788796a5b4c3d2e1f0",
					ClusterARN:    "arn:aws:ecs:us-east-1:111122223333:cluster/prod",
					DefinitionARN: "arn:aws:ecs:us-east-1:111122223333:task-definition/api:42",
					Version:       4, StartedBy: "ecs-svc/1234567890123456789", Group: "service:api",
					LaunchType: "FARGATE", LastStatus: "RUNNING", AZ: "us-east-1a",
					Containers: []Container{
						{
							Name: "api", Image: "111122223333.dkr.ecr.us-east-1.amazonaws.com/api:1.14.2",
							RuntimeID: "0f1e2d3c4b5a69788796a5b4c3d2e1f0-1234567890",
							ARN:       "arn:aws:ecs:us-east-1:111122223333:container/prod/0f1e2d3c4b5a69788796a5b4c3d2e1f0/2b3c4d5e-6f70-4a81-9b2c-3d4e5f607182",
						},
						{
							Name: "log-router", Image: "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable",
							RuntimeID: "0f1e2d3c4b5a69788796a5b4c3d2e1f0-2345678901",
							ARN:       "arn:aws:ecs:us-east-1:111122223333:container/prod/0f1e2d3c4b5a69788796a5b4c3d2e1f0/7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d",
						},
					},
					ENI:       "eni-0a1b2c3d4e5f00006",
					PrivateIP: mustAddr("10.0.0.60"),
					Tags:      []Tag{{"service", "api"}},
				},
			},
			wantCount: map[string]int{"tasks": 1},
		},
		{
			file: "describe-security-groups.json",
			got: func(s *Snapshot) any {
				return []*SecurityGroup{s.SecurityGroups["sg-0a1b2c3d4e5f00001"], s.SecurityGroups["sg-0a1b2c3d4e5f00003"]}
			},
			want: []*SecurityGroup{
				{
					ID: "sg-0a1b2c3d4e5f00001", Name: "web-public", VPC: estateVPC, Owner: "111122223333",
					Ingress: []Permission{
						{Proto: "tcp", FromPort: 22, ToPort: 22, IPv4: []CIDR{{mustPrefix("0.0.0.0/0"), "ssh from anywhere"}}},
						{Proto: "tcp", FromPort: 443, ToPort: 443, IPv4: []CIDR{{Prefix: mustPrefix("0.0.0.0/0")}}, IPv6: []CIDR{{Prefix: mustPrefix("::/0")}}},
					},
					Egress: []Permission{{Proto: "-1", FromPort: -1, ToPort: -1, IPv4: []CIDR{{Prefix: mustPrefix("0.0.0.0/0")}}}},
				},
				{
					ID: "sg-0a1b2c3d4e5f00003", Name: "task-api", VPC: estateVPC, Owner: "111122223333",
					Ingress: []Permission{
						{Proto: "tcp", FromPort: 8080, ToPort: 8080, Groups: []string{"sg-0a1b2c3d4e5f00001"}},
						{Proto: "icmp", FromPort: 8, ToPort: -1, IPv4: []CIDR{{Prefix: mustPrefix("10.0.0.0/16")}}},
					},
					Egress: []Permission{{Proto: "-1", FromPort: -1, ToPort: -1, IPv4: []CIDR{{Prefix: mustPrefix("0.0.0.0/0")}}}},
				},
			},
			wantCount: map[string]int{"security_groups": 4},
		},
		{
			file:      "describe-security-groups.json",
			got:       func(s *Snapshot) any { return s.SecurityGroups["sg-0a1b2c3d4e5f00002"].Egress[1] },
			want:      Permission{Proto: "tcp", FromPort: 443, ToPort: 443, PrefixLists: []string{"pl-0a1b2c3d4e5f60718"}},
			wantCount: map[string]int{"security_groups": 4},
		},
		{
			file: "describe-network-acls.json",
			got:  func(s *Snapshot) any { return s.NetworkACLs["acl-0a1b2c3d4e5f00001"] },
			want: &NetworkACL{
				ID: "acl-0a1b2c3d4e5f00001", VPC: estateVPC, Owner: "111122223333",
				Subnets: []string{"subnet-0aa1111111111111a", "subnet-0bb2222222222222b"},
				Entries: []ACLEntry{
					{RuleNumber: 100, Egress: true, Proto: "-1", Allow: true, CIDR: mustPrefix("0.0.0.0/0"), ICMPType: -1, ICMPCode: -1},
					{RuleNumber: 32767, Egress: true, Proto: "-1", CIDR: mustPrefix("0.0.0.0/0"), ICMPType: -1, ICMPCode: -1},
					{RuleNumber: 50, Proto: "-1", CIDR: mustPrefix("192.0.2.0/24"), ICMPType: -1, ICMPCode: -1},
					{RuleNumber: 100, Proto: "6", Allow: true, CIDR: mustPrefix("0.0.0.0/0"), FromPort: 443, ToPort: 443, ICMPType: -1, ICMPCode: -1},
					{RuleNumber: 110, Proto: "6", Allow: true, CIDR: mustPrefix("0.0.0.0/0"), FromPort: 80, ToPort: 80, ICMPType: -1, ICMPCode: -1},
					{RuleNumber: 120, Proto: "6", Allow: true, CIDR: mustPrefix("0.0.0.0/0"), FromPort: 22, ToPort: 22, ICMPType: -1, ICMPCode: -1},
					{RuleNumber: 130, Proto: "6", Allow: true, CIDR: mustPrefix("0.0.0.0/0"), FromPort: 1024, ToPort: 65535, ICMPType: -1, ICMPCode: -1},
					{RuleNumber: 140, Proto: "1", Allow: true, CIDR: mustPrefix("0.0.0.0/0"), ICMPType: 3, ICMPCode: 4},
					{RuleNumber: 32767, Proto: "-1", CIDR: mustPrefix("0.0.0.0/0"), ICMPType: -1, ICMPCode: -1},
				},
			},
			wantCount: map[string]int{"network_acls": 2},
		},
		{
			file: "describe-route-tables.json",
			got: func(s *Snapshot) any {
				return []*RouteTable{s.RouteTables["rtb-0a1b2c3d4e5f00000"], s.RouteTables["rtb-0a1b2c3d4e5f00002"]}
			},
			want: []*RouteTable{
				{
					ID: "rtb-0a1b2c3d4e5f00000", VPC: estateVPC, Main: true,
					Routes: []Route{{Dest: mustPrefix("10.0.0.0/16"), Target: "local", State: "active"}},
				},
				{
					ID: "rtb-0a1b2c3d4e5f00002", VPC: estateVPC, Subnets: []string{"subnet-0cc3333333333333c"},
					Routes: []Route{
						{Dest: mustPrefix("10.0.0.0/16"), Target: "local", State: "active"},
						{Dest: mustPrefix("0.0.0.0/0"), Target: "nat-0a1b2c3d4e5f67890", State: "active"},
						{Dest: mustPrefix("10.20.0.0/16"), Target: "tgw-0a1b2c3d4e5f60718", State: "active"},
						{PrefixList: "pl-0a1b2c3d4e5f60718", Target: "vpce-0a1b2c3d4e5f60718", State: "active"},
					},
				},
			},
			wantCount: map[string]int{"route_tables": 3},
		},
		{
			file: "describe-nat-gateways.json",
			got:  func(s *Snapshot) any { return s.NATGateways },
			want: map[string]*NATGateway{"nat-0a1b2c3d4e5f67890": {
				ID: "nat-0a1b2c3d4e5f67890", VPC: estateVPC, Subnet: "subnet-0aa1111111111111a",
				Connectivity: "public", State: "available",
				Addresses: []NATAddress{{ENI: "eni-0a1b2c3d4e5f00003", Private: mustAddr("10.0.0.20"), Public: mustAddr("203.0.113.20")}},
			}},
			wantCount: map[string]int{"nat_gateways": 1},
		},
		{
			file: "describe-load-balancers.json",
			got:  func(s *Snapshot) any { return s.LoadBalancers },
			want: map[string]*LoadBalancer{"arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/net/web-nlb/50dc6c495c0c9188": {
				ARN:  "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/net/web-nlb/50dc6c495c0c9188",
				Name: "web-nlb", DNS: "web-nlb-50dc6c495c0c9188.elb.us-east-1.amazonaws.com",
				Type: "network", Scheme: "internet-facing", VPC: estateVPC, State: "active",
				Zones: []LBZone{
					{Zone: "us-east-1a", Subnet: "subnet-0aa1111111111111a", Addresses: []netip.Addr{mustAddr("198.51.100.10"), mustAddr("10.0.0.50")}},
					{Zone: "us-east-1b", Subnet: "subnet-0bb2222222222222b", Addresses: []netip.Addr{mustAddr("198.51.100.11"), mustAddr("10.0.1.50")}},
				},
				ClientIPPreserved: true,
			}},
			wantCount: map[string]int{"load_balancers": 1},
		},
		{
			file: "describe-transit-gateway-attachments.json",
			got:  func(s *Snapshot) any { return s.TGWAttachments },
			want: map[string]*TGWAttachment{"tgw-attach-0a1b2c3d4e5f60718": {
				ID: "tgw-attach-0a1b2c3d4e5f60718", TGW: "tgw-0a1b2c3d4e5f60718", ResourceType: "vpc",
				ResourceID: estateVPC, Owner: "111122223333", State: "available",
			}},
			wantCount: map[string]int{"tgw_attachments": 1},
		},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.file, ".json"), func(t *testing.T) {
			s, rep := parseFiles(t, tt.file)
			if diff := cmp.Diff(tt.want, tt.got(s), cmpOpts); diff != "" {
				t.Errorf("parsed (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantCount, rep.Counts); diff != "" {
				t.Errorf("counts (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseInstanceInterfaces checks that describe-instances supplies
// the interfaces describe-network-interfaces did not, and that the
// latter's wins in either order.
func TestParseInstanceInterfaces(t *testing.T) {
	s, _ := parseFiles(t, "describe-instances.json")
	want := &Interface{
		ID: "eni-0a1b2c3d4e5f00002", Type: "interface", Status: "in-use", Owner: "111122223333",
		AZ: "us-east-1a", Subnet: "subnet-0cc3333333333333c", VPC: estateVPC, MAC: "0a:1b:2c:3d:4e:02",
		PrivateDNS: "ip-10-0-10-25.ec2.internal",
		Private: []PrivateAddr{
			{Addr: mustAddr("10.0.10.25"), DNS: "ip-10-0-10-25.ec2.internal", Primary: true},
			{Addr: mustAddr("10.0.10.26"), DNS: "ip-10-0-10-26.ec2.internal"},
		},
		Groups:          []GroupRef{{ID: "sg-0a1b2c3d4e5f00002", Name: "app-behind-nlb"}},
		Instance:        "i-0a1b2c3d4e5f00002",
		SourceDestCheck: true,
	}
	if diff := cmp.Diff(want, s.Interfaces["eni-0a1b2c3d4e5f00002"], cmpOpts); diff != "" {
		t.Errorf("interface from describe-instances (-want +got):\n%s", diff)
	}

	a, repA := parseFiles(t, "describe-instances.json", "describe-network-interfaces.json")
	b, repB := parseFiles(t, "describe-network-interfaces.json", "describe-instances.json")
	if diff := cmp.Diff(a, b, cmpOpts); diff != "" {
		t.Errorf("order matters (-instances first +interfaces first):\n%s", diff)
	}
	if diff := cmp.Diff(repA.Counts, repB.Counts); diff != "" {
		t.Errorf("counts depend on order (-instances first +interfaces first):\n%s", diff)
	}
	if got := repA.Counts["interfaces"]; got != 6 {
		t.Errorf("interfaces counted %d, want 6", got)
	}
}

func TestParseBadEntities(t *testing.T) {
	tests := []struct {
		name     string
		data     string
		problems []string
		kept     func(*Snapshot) []string
		want     []string
	}{
		{
			name: "bad address",
			data: `{"NetworkInterfaces":[
				{"NetworkInterfaceId":"eni-a","PrivateIpAddresses":[{"Primary":true,"PrivateIpAddress":"10.0.0.1"}]},
				{"NetworkInterfaceId":"eni-b","PrivateIpAddresses":[{"Primary":true,"PrivateIpAddress":"10.0.0.300"}]},
				{"NetworkInterfaceId":"eni-c","PrivateIpAddresses":[{"Primary":true,"PrivateIpAddress":"10.0.0.3"}]}]}`,
			problems: []string{`bad.json: NetworkInterfaces[1] (eni-b): PrivateIpAddresses[0].PrivateIpAddress: "10.0.0.300" is not an IP address`},
			kept:     interfaceIDs,
			want:     []string{"eni-a", "eni-c"},
		},
		{
			name:     "missing ID",
			data:     `{"NetworkInterfaces":[{"PrivateIpAddress":"10.0.0.1"},{"NetworkInterfaceId":"eni-b"}]}`,
			problems: []string{`bad.json: NetworkInterfaces[0]: NetworkInterfaceId: missing`},
			kept:     interfaceIDs,
			want:     []string{"eni-b"},
		},
		{
			name:     "wrong type",
			data:     `{"NetworkInterfaces":[{"NetworkInterfaceId":"eni-a","Attachment":{"InstanceId":"i-1","DeviceIndex":"0"}},{"NetworkInterfaceId":"eni-b"}]}`,
			problems: []string{`bad.json: NetworkInterfaces[0] (eni-a): Attachment.DeviceIndex: got string, want integer`},
			kept:     interfaceIDs,
			want:     []string{"eni-b"},
		},
		{
			name:     "wrong type in an array",
			data:     `{"NetworkInterfaces":[{"NetworkInterfaceId":"eni-a","PrivateIpAddresses":[{"PrivateIpAddress":"10.0.0.1"},{"Primary":"yes"}]}]}`,
			problems: []string{`bad.json: NetworkInterfaces[0] (eni-a): PrivateIpAddresses[1].Primary: got string, want boolean`},
			kept:     interfaceIDs,
		},
		{
			name:     "wrong type in a nested array",
			data:     `{"NetworkInterfaces":[{"NetworkInterfaceId":"eni-a","Groups":[{"GroupId":"sg-1"},{"GroupId":["sg-2"]}]},{"NetworkInterfaceId":"eni-b"}]}`,
			problems: []string{`bad.json: NetworkInterfaces[0] (eni-a): Groups[1].GroupId: got array, want string`},
			kept:     interfaceIDs,
			want:     []string{"eni-b"},
		},
		{
			name:     "fractional port",
			data:     `{"SecurityGroups":[{"GroupId":"sg-1","IpPermissions":[{"IpProtocol":"tcp"},{"IpProtocol":"tcp","FromPort":1.5}]}]}`,
			problems: []string{`bad.json: SecurityGroups[0] (sg-1): IpPermissions[1].FromPort: got number 1.5, want integer`},
			kept:     func(s *Snapshot) []string { return keys(s.SecurityGroups) },
		},
		{
			name:     "boolean for a number",
			data:     `{"NetworkAcls":[{"NetworkAclId":"acl-1","Entries":[{"RuleNumber":100,"PortRange":{"From":80,"To":true}}]}]}`,
			problems: []string{`bad.json: NetworkAcls[0] (acl-1): Entries[0].PortRange.To: got boolean, want integer`},
			kept:     func(s *Snapshot) []string { return keys(s.NetworkACLs) },
		},
		{
			name:     "entity not an object",
			data:     `{"NetworkInterfaces":[7,{"NetworkInterfaceId":"eni-b"}]}`,
			problems: []string{`bad.json: NetworkInterfaces[0]: got number, want object`},
			kept:     interfaceIDs,
			want:     []string{"eni-b"},
		},
		{
			name: "bad interface of an instance",
			data: `{"Reservations":[{"OwnerId":"111122223333","Instances":[
				{"InstanceId":"i-1"},
				{"InstanceId":"i-2","NetworkInterfaces":[{"NetworkInterfaceId":"eni-2","PrivateIpAddresses":[{"PrivateIpAddress":"fe80::1%eth0"}]}]}]}]}`,
			problems: []string{`bad.json: Reservations[0].Instances[1] (i-2): NetworkInterfaces[0].PrivateIpAddresses[0].PrivateIpAddress: "fe80::1%eth0" is not an IP address`},
			kept:     instanceIDs,
			want:     []string{"i-1"},
		},
		{
			name:     "bad launch time",
			data:     `{"Reservations":[{"Instances":[{"InstanceId":"i-1","LaunchTime":"yesterday"},{"InstanceId":"i-2","LaunchTime":"2026-03-01T08:00:00.000Z"}]}]}`,
			problems: []string{`bad.json: Reservations[0].Instances[0] (i-1): LaunchTime: "yesterday" is not an RFC 3339 time`},
			kept:     instanceIDs,
			want:     []string{"i-2"},
		},
		{
			name:     "bad reservation",
			data:     `{"Reservations":[{"Instances":{}},{"Instances":[{"InstanceId":"i-2"}]}]}`,
			problems: []string{`bad.json: Reservations[0]: Instances: got object, want array`},
			kept:     instanceIDs,
			want:     []string{"i-2"},
		},
		{
			name:     "bad CIDR",
			data:     `{"SecurityGroups":[{"GroupId":"sg-1","IpPermissions":[{"IpProtocol":"tcp","FromPort":22,"ToPort":22,"IpRanges":[{"CidrIp":"10.0.0.0/8"},{"CidrIp":"10.0.0.0/33"}]}]},{"GroupId":"sg-2"}]}`,
			problems: []string{`bad.json: SecurityGroups[0] (sg-1): IpPermissions[0].IpRanges[1].CidrIp: "10.0.0.0/33" is not a CIDR block`},
			kept:     func(s *Snapshot) []string { return keys(s.SecurityGroups) },
			want:     []string{"sg-2"},
		},
		{
			name:     "port out of range",
			data:     `{"SecurityGroups":[{"GroupId":"sg-1","IpPermissionsEgress":[{"IpProtocol":"tcp","FromPort":0,"ToPort":70000}]}]}`,
			problems: []string{`bad.json: SecurityGroups[0] (sg-1): IpPermissionsEgress[0].ToPort: "70000" is out of range`},
			kept:     func(s *Snapshot) []string { return keys(s.SecurityGroups) },
		},
		{
			name:     "bad ACL action",
			data:     `{"NetworkAcls":[{"NetworkAclId":"acl-1","Entries":[{"RuleNumber":100,"Protocol":"-1","RuleAction":"permit","CidrBlock":"0.0.0.0/0"}]},{"NetworkAclId":"acl-2"}]}`,
			problems: []string{`bad.json: NetworkAcls[0] (acl-1): Entries[0].RuleAction: "permit" is neither "allow" nor "deny"`},
			kept:     func(s *Snapshot) []string { return keys(s.NetworkACLs) },
			want:     []string{"acl-2"},
		},
		{
			name:     "route without destination",
			data:     `{"RouteTables":[{"RouteTableId":"rtb-1","Routes":[{"GatewayId":"local"}]},{"RouteTableId":"rtb-2"}]}`,
			problems: []string{`bad.json: RouteTables[0] (rtb-1): Routes[0].DestinationCidrBlock: names no destination`},
			kept:     func(s *Snapshot) []string { return keys(s.RouteTables) },
			want:     []string{"rtb-2"},
		},
		{
			name:     "bad NAT address",
			data:     `{"NatGateways":[{"NatGatewayId":"nat-1","NatGatewayAddresses":[{"PrivateIp":"10.0.0.1","PublicIp":"203.0.113.999"}]}]}`,
			problems: []string{`bad.json: NatGateways[0] (nat-1): NatGatewayAddresses[0].PublicIp: "203.0.113.999" is not an IP address`},
			kept:     func(s *Snapshot) []string { return keys(s.NATGateways) },
		},
		{
			name:     "bad task address",
			data:     `{"tasks":[{"taskArn":"arn:t1","attachments":[{"type":"ElasticNetworkInterface","details":[{"name":"networkInterfaceId","value":"eni-1"},{"name":"privateIPv4Address","value":"ten"}]}]},{"taskArn":"arn:t2"}],"failures":[]}`,
			problems: []string{`bad.json: tasks[0] (arn:t1): attachments[0].details[1].value: "ten" is not an IP address`},
			kept:     func(s *Snapshot) []string { return keys(s.Tasks) },
			want:     []string{"arn:t2"},
		},
		{
			name:     "bad load balancer address",
			data:     `{"LoadBalancers":[{"LoadBalancerArn":"arn:lb1","AvailabilityZones":[{"ZoneName":"us-east-1a","LoadBalancerAddresses":[{"IpAddress":"x"}]}]}]}`,
			problems: []string{`bad.json: LoadBalancers[0] (arn:lb1): AvailabilityZones[0].LoadBalancerAddresses[0].IpAddress: "x" is not an IP address`},
			kept:     func(s *Snapshot) []string { return keys(s.LoadBalancers) },
		},
		{
			name:     "missing attachment ID",
			data:     `{"TransitGatewayAttachments":[{"TransitGatewayId":"tgw-1"},{"TransitGatewayAttachmentId":"tgw-attach-2"}]}`,
			problems: []string{`bad.json: TransitGatewayAttachments[0]: TransitGatewayAttachmentId: missing`},
			kept:     func(s *Snapshot) []string { return keys(s.TGWAttachments) },
			want:     []string{"tgw-attach-2"},
		},
		{
			name:     "pages",
			data:     `[{"NetworkInterfaces":[{"NetworkInterfaceId":"eni-a"}],"NextToken":"abc"},{"NetworkInterfaces":[{"NetworkInterfaceId":"eni-b","Ipv6Addresses":[{"Ipv6Address":"2001:db8::1::"}]}]}]`,
			problems: []string{`bad.json: [1].NetworkInterfaces[0] (eni-b): Ipv6Addresses[0].Ipv6Address: "2001:db8::1::" is not an IP address`},
			kept:     interfaceIDs,
			want:     []string{"eni-a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, rep := NewSnapshot(time.Time{}), &Report{}
			if err := Parse(s, "bad.json", []byte(tt.data), rep); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			var got []string
			for _, p := range rep.Problems {
				got = append(got, p.Error())
				var ee *EntityError
				if !errors.As(p, &ee) || ee.File != "bad.json" {
					t.Errorf("problem %v is not an *EntityError of bad.json", p)
				}
			}
			if diff := cmp.Diff(tt.problems, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			if rep.Skipped != len(tt.problems) {
				t.Errorf("skipped %d, want %d", rep.Skipped, len(tt.problems))
			}
			if diff := cmp.Diff(tt.want, tt.kept(s), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("kept (-want +got):\n%s", diff)
			}
			total := 0
			for _, n := range rep.Counts {
				total += n
			}
			if total != len(tt.want) {
				t.Errorf("counts %v, want %d entities", rep.Counts, len(tt.want))
			}
		})
	}
}

func interfaceIDs(s *Snapshot) []string { return keys(s.Interfaces) }
func instanceIDs(s *Snapshot) []string  { return keys(s.Instances) }

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestParseProblemsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"NetworkInterfaces":[`)
	for i := range 30 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"PrivateIpAddress":"10.0.0.1"}`)
	}
	b.WriteString(`,{"NetworkInterfaceId":"eni-ok"}]}`)
	s, rep := NewSnapshot(time.Time{}), &Report{}
	if err := Parse(s, "many.json", []byte(b.String()), rep); err != nil {
		t.Fatal(err)
	}
	if rep.Skipped != 30 || len(rep.Problems) != maxProblems || len(s.Interfaces) != 1 {
		t.Errorf("skipped %d, %d problems, %d interfaces; want 30, %d, 1", rep.Skipped, len(rep.Problems), len(s.Interfaces), maxProblems)
	}
}

func TestParseNotDescribeOutput(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"unknown keys", `{"Vpcs":[],"NextToken":"x"}`, `reading x.json: not a describe output picket reads: top-level keys are "NextToken", "Vpcs"`},
		{"no keys", `{}`, `reading x.json: not a describe output picket reads: no top-level keys`},
		{"list not an array", `{"NetworkInterfaces":{}}`, `reading x.json: NetworkInterfaces: want an array, got object`},
		{"a page unknown", `[{"NetworkInterfaces":[{"NetworkInterfaceId":"eni-a"}]},{"Subnets":[]}]`, `reading x.json: [1]: not a describe output picket reads: top-level keys are "Subnets"`},
		{"empty array", `[]`, `reading x.json: an empty array is no describe output`},
		{"number", `42`, `reading x.json: not a JSON object or array`},
		{"empty", ``, `reading x.json: not a JSON object or array`},
		{"broken", `{"NetworkInterfaces":[`, `reading x.json: unexpected end of JSON input`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, rep := NewSnapshot(time.Time{}), &Report{}
			err := Parse(s, "x.json", []byte(tt.data), rep)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Parse error %v, want %s", err, tt.want)
			}
			if diff := cmp.Diff(NewSnapshot(time.Time{}), s, cmpOpts); diff != "" {
				t.Errorf("snapshot changed:\n%s", diff)
			}
		})
	}
}

func TestParseUnmapsAndVPCAttachments(t *testing.T) {
	s, rep := NewSnapshot(time.Time{}), &Report{}
	data := `{"NetworkInterfaces":[{"NetworkInterfaceId":"eni-a","PrivateIpAddress":"::ffff:10.0.0.5",
		"Association":{"PublicIp":"::ffff:203.0.113.5"}}]}`
	if err := Parse(s, "m.json", []byte(data), rep); err != nil {
		t.Fatal(err)
	}
	data = `{"SecurityGroups":[{"GroupId":"sg-1","IpPermissions":[{"IpProtocol":"-1","IpRanges":[{"CidrIp":"::ffff:10.0.0.0/120"}]}]}]}`
	if err := Parse(s, "m.json", []byte(data), rep); err != nil {
		t.Fatal(err)
	}
	data = `{"TransitGatewayVpcAttachments":[{"TransitGatewayAttachmentId":"tgw-attach-1","TransitGatewayId":"tgw-1",
		"VpcId":"vpc-1","VpcOwnerId":"111122223333","State":"available","SubnetIds":["subnet-1"]}]}`
	if err := Parse(s, "m.json", []byte(data), rep); err != nil {
		t.Fatal(err)
	}
	wantAddrs := []PrivateAddr{{Addr: mustAddr("10.0.0.5"), Primary: true, Public: mustAddr("203.0.113.5")}}
	if diff := cmp.Diff(wantAddrs, s.Interfaces["eni-a"].Private, cmpOpts); diff != "" {
		t.Errorf("addresses (-want +got):\n%s", diff)
	}
	if got := s.SecurityGroups["sg-1"].Ingress[0].IPv4[0].Prefix; got != mustPrefix("10.0.0.0/24") {
		t.Errorf("prefix %v, want 10.0.0.0/24", got)
	}
	wantAtt := &TGWAttachment{ID: "tgw-attach-1", TGW: "tgw-1", ResourceType: "vpc", ResourceID: "vpc-1", Owner: "111122223333", State: "available"}
	if diff := cmp.Diff(wantAtt, s.TGWAttachments["tgw-attach-1"]); diff != "" {
		t.Errorf("attachment (-want +got):\n%s", diff)
	}
	s.Index()
	if got := s.AttachmentsOf("vpc-1"); len(got) != 1 {
		t.Errorf("AttachmentsOf(vpc-1) = %v", got)
	}
}

func TestLoadEstate(t *testing.T) {
	inv, rep, err := Load(estateDir)
	if err != nil {
		t.Fatal(err)
	}
	wantCounts := map[string]int{
		"interfaces": 6, "instances": 2, "tasks": 1, "security_groups": 4, "network_acls": 2,
		"route_tables": 3, "nat_gateways": 1, "load_balancers": 1, "tgw_attachments": 1,
	}
	if diff := cmp.Diff(wantCounts, rep.Counts); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if rep.Files != 9 || rep.Skipped != 0 || len(rep.Problems) != 0 {
		t.Errorf("files %d, skipped %d, problems %v", rep.Files, rep.Skipped, rep.Problems)
	}
	snaps := inv.Snapshots()
	if len(snaps) != 1 || !snaps[0].Time.IsZero() {
		t.Fatalf("snapshots %v, want one undated", snaps)
	}
	wantSources := []string{
		"describe-instances.json", "describe-load-balancers.json", "describe-nat-gateways.json",
		"describe-network-acls.json", "describe-network-interfaces.json", "describe-route-tables.json",
		"describe-security-groups.json", "describe-tasks.json", "describe-transit-gateway-attachments.json",
	}
	for i := range wantSources {
		wantSources[i] = filepath.Join(estateDir, wantSources[i])
	}
	if diff := cmp.Diff(wantSources, snaps[0].Sources); diff != "" {
		t.Errorf("sources (-want +got):\n%s", diff)
	}
}

func TestLookups(t *testing.T) {
	inv, _, err := Load(estateDir)
	if err != nil {
		t.Fatal(err)
	}
	s := inv.At(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	id := func(i *Interface) string {
		if i == nil {
			return ""
		}
		return i.ID
	}
	t.Run("InterfaceByAddr", func(t *testing.T) {
		for _, tt := range []struct {
			addr, vpc, want string
		}{
			{"54.162.10.20", "", "eni-0a1b2c3d4e5f00001"},     // public
			{"10.0.0.10", estateVPC, "eni-0a1b2c3d4e5f00001"}, // private
			{"::ffff:10.0.0.10", "", "eni-0a1b2c3d4e5f00001"}, // mapped
			{"10.0.10.26", "", "eni-0a1b2c3d4e5f00002"},       // secondary
			{"198.51.100.11", "", "eni-0a1b2c3d4e5f00005"},    // load balancer
			{"203.0.113.60", "", "eni-0a1b2c3d4e5f00006"},     // task
			{"10.0.0.10", "vpc-0ffffffffffffffff", ""},        // other VPC
			{"10.0.200.1", "", ""},                            // unknown
		} {
			if got := id(s.InterfaceByAddr(mustAddr(tt.addr), tt.vpc)); got != tt.want {
				t.Errorf("InterfaceByAddr(%s, %q) = %q, want %q", tt.addr, tt.vpc, got, tt.want)
			}
		}
	})
	t.Run("owners", func(t *testing.T) {
		web := s.InterfaceByAddr(mustAddr("54.162.10.20"), "")
		if in := s.InstanceOf(web); in == nil || in.Name() != "web-1" {
			t.Errorf("InstanceOf(web) = %v", in)
		}
		if pub, dns := web.PublicFor(mustAddr("10.0.0.10")); pub != mustAddr("54.162.10.20") || dns != "ec2-54-162-10-20.compute-1.amazonaws.com" {
			t.Errorf("PublicFor = %v %q", pub, dns)
		}
		app := s.InterfaceByAddr(mustAddr("10.0.10.25"), estateVPC)
		if in := s.InstanceOf(app); in == nil || in.ID != "i-0a1b2c3d4e5f00002" || in.PublicIP.IsValid() {
			t.Errorf("InstanceOf(app) = %v", in)
		}
		task := s.TaskOf(s.InterfaceByAddr(mustAddr("203.0.113.60"), ""))
		if task == nil || task.ClusterName() != "prod" || task.PrivateIP != mustAddr("10.0.0.60") {
			t.Errorf("TaskOf = %v", task)
		}
		if got := s.TaskOf(web); got != nil {
			t.Errorf("TaskOf(web) = %v, want nil", got)
		}
		lb := s.LoadBalancerOf(s.Interface("eni-0a1b2c3d4e5f00004"))
		if lb == nil || lb.Name != "web-nlb" || !lb.ClientIPPreserved {
			t.Errorf("LoadBalancerOf = %v", lb)
		}
		if got := s.LoadBalancerOf(web); got != nil {
			t.Errorf("LoadBalancerOf(web) = %v, want nil", got)
		}
		if got := s.LoadBalancersIn(estateVPC, "network"); len(got) != 1 || got[0] != lb {
			t.Errorf("LoadBalancersIn = %v", got)
		}
		if n := s.NATOf(s.InterfaceByAddr(mustAddr("203.0.113.20"), "")); n == nil || n.ID != "nat-0a1b2c3d4e5f67890" {
			t.Errorf("NATOf = %v", n)
		}
		known, unknown := s.Groups(web)
		if len(known) != 1 || known[0].Name != "web-public" || len(unknown) != 0 {
			t.Errorf("Groups(web) = %v, %v", known, unknown)
		}
		if got := s.AttachmentsOf(estateVPC); len(got) != 1 || got[0].TGW != "tgw-0a1b2c3d4e5f60718" {
			t.Errorf("AttachmentsOf = %v", got)
		}
	})
	t.Run("ACLFor", func(t *testing.T) {
		for _, tt := range []struct{ subnet, want string }{
			{"subnet-0aa1111111111111a", "acl-0a1b2c3d4e5f00001"}, // associated
			{"subnet-0dd4444444444444d", "acl-0a1b2c3d4e5f00000"}, // associated with the default
			{"subnet-0ee5555555555555e", "acl-0a1b2c3d4e5f00000"}, // unknown: the default
		} {
			if a := s.ACLFor(tt.subnet, estateVPC); a == nil || a.ID != tt.want {
				t.Errorf("ACLFor(%s) = %v, want %s", tt.subnet, a, tt.want)
			}
		}
		if a := s.ACLFor("subnet-0ee5555555555555e", "vpc-0ffffffffffffffff"); a != nil {
			t.Errorf("ACLFor in an unknown VPC = %v, want nil", a)
		}
	})
	t.Run("RoutesFor", func(t *testing.T) {
		for _, tt := range []struct{ subnet, dest, table, target string }{
			{"subnet-0aa1111111111111a", "8.8.8.8", "rtb-0a1b2c3d4e5f00001", "igw-0e1f2a3b4c5d6e7f8"},
			{"subnet-0aa1111111111111a", "10.0.10.25", "rtb-0a1b2c3d4e5f00001", "local"},
			{"subnet-0cc3333333333333c", "8.8.8.8", "rtb-0a1b2c3d4e5f00002", "nat-0a1b2c3d4e5f67890"},
			{"subnet-0cc3333333333333c", "10.20.3.4", "rtb-0a1b2c3d4e5f00002", "tgw-0a1b2c3d4e5f60718"},
			{"subnet-0dd4444444444444d", "10.0.0.10", "rtb-0a1b2c3d4e5f00000", "local"}, // main table
			{"subnet-0dd4444444444444d", "8.8.8.8", "rtb-0a1b2c3d4e5f00000", ""},        // no route
		} {
			rt := s.RoutesFor(tt.subnet, estateVPC)
			if rt == nil || rt.ID != tt.table {
				t.Errorf("RoutesFor(%s) = %v, want %s", tt.subnet, rt, tt.table)
				continue
			}
			target := ""
			if r := rt.Route(mustAddr(tt.dest)); r != nil {
				target = r.Target
			}
			if target != tt.target {
				t.Errorf("%s: route to %s goes to %q, want %q", tt.table, tt.dest, target, tt.target)
			}
		}
	})
}

// writeTree writes files under dir; a name ending in .gz is gzipped.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		b := []byte(data)
		if strings.HasSuffix(name, ".gz") {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(b)
			zw.Close()
			b = buf.Bytes()
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func eniJSONWith(id, addr string) string {
	return `{"NetworkInterfaces":[{"NetworkInterfaceId":"` + id + `","VpcId":"vpc-1","PrivateIpAddresses":[{"Primary":true,"PrivateIpAddress":"` + addr + `"}]}]}`
}

// TestLoadHistory follows an address that moves from one interface to
// another between two dated snapshots.
func TestLoadHistory(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"2026-03-01T00:00:00Z/describe-network-interfaces.json":    eniJSONWith("eni-a", "10.0.0.99"),
		"2026-03-02T10-00-00Z/describe-network-interfaces.json.gz": eniJSONWith("eni-b", "10.0.0.99"),
		"2026-03-02T10-00-00Z/notes.txt":                           "not read",
		"2026-03-03T00:00:00Z/describe-vpcs.json":                  `{"Vpcs":[]}`,
		"drafts/describe-network-interfaces.json":                  eniJSONWith("eni-c", "10.0.0.99"),
	})
	inv, rep, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var gotTimes []time.Time
	for _, s := range inv.Snapshots() {
		gotTimes = append(gotTimes, s.Time)
	}
	wantTimes := []time.Time{time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
	if diff := cmp.Diff(wantTimes, gotTimes); diff != "" {
		t.Errorf("snapshot times (-want +got):\n%s", diff)
	}
	for _, tt := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), "eni-a"}, // before the first: the first
		{time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), "eni-a"},
		{time.Date(2026, 3, 2, 9, 59, 59, 0, time.UTC), "eni-a"},
		{time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC), "eni-b"},
		{time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), "eni-b"},
	} {
		i := inv.At(tt.at).InterfaceByAddr(mustAddr("10.0.0.99"), "vpc-1")
		if i == nil || i.ID != tt.want {
			t.Errorf("At(%v): 10.0.0.99 is on %v, want %s", tt.at, i, tt.want)
		}
	}
	if rep.Files != 2 || rep.Counts["interfaces"] != 2 {
		t.Errorf("files %d, counts %v", rep.Files, rep.Counts)
	}
	var problems []string
	for _, p := range rep.Problems {
		problems = append(problems, p.Error())
	}
	wantProblems := []string{
		"reading " + filepath.Join(dir, "2026-03-03T00:00:00Z", "describe-vpcs.json") + `: not a describe output picket reads: top-level keys are "Vpcs"`,
		"loading inventory: ignoring folder " + filepath.Join(dir, "2026-03-03T00:00:00Z") + ": it holds no describe output",
		"loading inventory: ignoring folder " + filepath.Join(dir, "drafts") + ": its name is not a UTC time like 2026-03-02T10:00:00Z",
	}
	if diff := cmp.Diff(wantProblems, problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestLoadUndated(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"a.json.gz":   eniJSONWith("eni-a", "10.0.0.1"),
		"b.json":      eniJSONWith("eni-b", "10.0.0.2"),
		"c.json":      `{"Subnets":[]}`,
		"d.json.gz":   "not gzip",
		"README.md":   "# estate",
		"e.json.orig": "{",
	})
	inv, rep, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := inv.At(time.Now())
	if diff := cmp.Diff([]string{"eni-a", "eni-b"}, keys(s.Interfaces)); diff != "" {
		t.Errorf("interfaces (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{filepath.Join(dir, "a.json.gz"), filepath.Join(dir, "b.json")}, s.Sources); diff != "" {
		t.Errorf("sources (-want +got):\n%s", diff)
	}
	if len(rep.Problems) != 2 || !strings.Contains(rep.Problems[0].Error(), "c.json") || !strings.Contains(rep.Problems[1].Error(), "d.json.gz") {
		t.Errorf("problems %v, want c.json and d.json.gz", rep.Problems)
	}
}

func TestLoadErrors(t *testing.T) {
	only := t.TempDir()
	writeTree(t, only, map[string]string{"x.json": `{"Subnets":[]}`, "notes/y.json": "{}"})
	for _, dir := range []string{filepath.Join(t.TempDir(), "missing"), t.TempDir(), only} {
		inv, rep, err := Load(dir)
		if err == nil || inv != nil || rep == nil {
			t.Errorf("Load(%s) = %v, %v, %v; want an error", dir, inv, rep, err)
		}
	}
}
