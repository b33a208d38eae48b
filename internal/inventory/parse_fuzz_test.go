package inventory

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// FuzzParse checks that Parse never panics, that every entity it keeps
// is filed under its own non-empty ID, that the kept snapshot can be
// indexed and queried, and that it is deterministic: the same data
// parsed into two snapshots gives equal snapshots and equal reports.
func FuzzParse(f *testing.F) {
	// Every sample describe output of the estate.
	files, err := filepath.Glob(filepath.Join(estateDir, "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no samples in %s: %v", estateDir, err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, seed := range []string{
		// Pages of one output, with a NextToken.
		`[{"NetworkInterfaces":[{"NetworkInterfaceId":"eni-a","PrivateIpAddress":"10.0.0.1"}],"NextToken":"x"},{"NetworkInterfaces":[]}]`,
		// A bad address between good interfaces.
		`{"NetworkInterfaces":[{"NetworkInterfaceId":"eni-a"},{"NetworkInterfaceId":"eni-b","PrivateIpAddresses":[{"PrivateIpAddress":"10.0.0.300"}]},{"NetworkInterfaceId":"eni-c"}]}`,
		// Wrong JSON types deep in an entity.
		`{"Reservations":[{"Instances":[{"InstanceId":"i-1","NetworkInterfaces":[{"NetworkInterfaceId":"eni-1","Attachment":{"DeviceIndex":"0"}}]}]}]}`,
		// The same ID twice, mapped and zoned addresses.
		`{"NetworkInterfaces":[{"NetworkInterfaceId":"eni-a","PrivateIpAddress":"::ffff:10.0.0.1"},{"NetworkInterfaceId":"eni-a","Ipv6Addresses":[{"Ipv6Address":"fe80::1%eth0"}]}]}`,
		// Members whose names differ only in case.
		`{"SecurityGroups":[{"GroupId":"sg-1","groupid":"","IpPermissions":[{"IpProtocol":"tcp","FromPort":-1,"ToPort":65536}]}]}`,
		// Entries without ports or ICMP codes, and out of range.
		`{"NetworkAcls":[{"NetworkAclId":"acl-1","Entries":[{"RuleNumber":0,"Protocol":"-1","RuleAction":"allow","Ipv6CidrBlock":"::/0","IcmpTypeCode":{"Type":256}}]}]}`,
		// Routes without destination or target.
		`{"RouteTables":[{"RouteTableId":"rtb-1","Associations":[{"Main":true}],"Routes":[{"DestinationPrefixListId":"pl-1"},{}]}]}`,
		// ECS attachment details in any order.
		`{"tasks":[{"taskArn":"arn:t","attachments":[{"type":"ElasticNetworkInterface","details":[{"name":"privateIPv4Address","value":"10.0.0.9"}]}]}],"failures":[]}`,
		// Two kinds in one object, and null lists.
		`{"NatGateways":null,"LoadBalancers":[{"LoadBalancerArn":"arn:lb","Type":"network"}],"TransitGatewayVpcAttachments":[{"TransitGatewayAttachmentId":"tgw-attach-1"}]}`,
		// Not describe outputs.
		`{"Vpcs":[]}`,
		`[]`,
		`null`,
		`{"NetworkInterfaces":{}}`,
		`{"NetworkInterfaces":[`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, repA := NewSnapshot(time.Time{}), &Report{}
		errA := Parse(a, "fuzz.json", data, repA)
		b, repB := NewSnapshot(time.Time{}), &Report{}
		errB := Parse(b, "fuzz.json", data, repB)

		if (errA == nil) != (errB == nil) || errA != nil && errA.Error() != errB.Error() {
			t.Fatalf("errors differ: %v and %v", errA, errB)
		}
		if diff := cmp.Diff(a, b, cmpOpts); diff != "" {
			t.Fatalf("snapshots differ:\n%s", diff)
		}
		if diff := cmp.Diff(reportStrings(repA), reportStrings(repB)); diff != "" {
			t.Fatalf("reports differ:\n%s", diff)
		}
		if errA != nil && len(a.Sources)+len(a.Interfaces)+len(a.Instances)+len(a.Tasks)+len(a.SecurityGroups)+
			len(a.NetworkACLs)+len(a.RouteTables)+len(a.NATGateways)+len(a.LoadBalancers)+len(a.TGWAttachments) != 0 {
			t.Fatalf("Parse failed with %v but kept entities", errA)
		}
		if len(repA.Problems) > maxProblems || len(repA.Problems) > repA.Skipped {
			t.Fatalf("%d problems for %d skipped", len(repA.Problems), repA.Skipped)
		}

		checkIDs(t, "interface", a.Interfaces, func(v *Interface) string { return v.ID })
		checkIDs(t, "instance", a.Instances, func(v *Instance) string { return v.ID })
		checkIDs(t, "task", a.Tasks, func(v *Task) string { return v.ARN })
		checkIDs(t, "security group", a.SecurityGroups, func(v *SecurityGroup) string { return v.ID })
		checkIDs(t, "network ACL", a.NetworkACLs, func(v *NetworkACL) string { return v.ID })
		checkIDs(t, "route table", a.RouteTables, func(v *RouteTable) string { return v.ID })
		checkIDs(t, "NAT gateway", a.NATGateways, func(v *NATGateway) string { return v.ID })
		checkIDs(t, "load balancer", a.LoadBalancers, func(v *LoadBalancer) string { return v.ARN })
		checkIDs(t, "transit gateway attachment", a.TGWAttachments, func(v *TGWAttachment) string { return v.ID })

		// Every kept address is valid and unmapped, and the index finds
		// an interface by each of them.
		a.Index()
		for _, i := range a.Interfaces {
			for _, p := range i.Private {
				if !p.Addr.IsValid() || p.Addr.Is4In6() || p.Public.Is4In6() {
					t.Fatalf("interface %s: address %v (public %v)", i.ID, p.Addr, p.Public)
				}
				if a.InterfaceByAddr(p.Addr, i.VPC) == nil && len(a.byAddr[p.Addr]) == 1 {
					t.Fatalf("interface %s: %v not found", i.ID, p.Addr)
				}
			}
			a.LoadBalancerOf(i)
			a.TaskOf(i)
			a.NATOf(i)
			a.RoutesFor(i.Subnet, i.VPC).Route(i.PrimaryAddr())
			a.ACLFor(i.Subnet, i.VPC)
		}
	})
}

func checkIDs[V any](t *testing.T, kind string, m map[string]V, id func(V) string) {
	t.Helper()
	for k, v := range m {
		if k == "" || id(v) != k {
			t.Fatalf("%s filed under %q has ID %q", kind, k, id(v))
		}
	}
}

// reportStrings renders a report for comparison.
func reportStrings(r *Report) []string {
	var counts []string
	for k, n := range r.Counts {
		counts = append(counts, k+"="+strconv.Itoa(n))
	}
	slices.Sort(counts)
	out := append(counts, "files="+strconv.Itoa(r.Files), "skipped="+strconv.Itoa(r.Skipped))
	for _, p := range r.Problems {
		out = append(out, p.Error())
	}
	return out
}
