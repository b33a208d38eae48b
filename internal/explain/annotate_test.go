package explain

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"picket/internal/finding"
	"picket/internal/inventory"
)

// testEstate is an interface of an instance in a public subnet, an
// interface of a network load balancer, and the groups, ACL and routes
// around them.
func testEstate(t time.Time) *inventory.Snapshot {
	s := inventory.NewSnapshot(t)
	s.Interfaces["eni-web"] = &inventory.Interface{
		ID: "eni-web", Type: "interface", Subnet: "subnet-pub", VPC: "vpc-1", AZ: "eu-west-1a", Instance: "i-web",
		Private: []inventory.PrivateAddr{{Addr: netip.MustParseAddr("10.0.0.10"), Primary: true, Public: netip.MustParseAddr("198.51.100.10"), PublicDNS: "web.example"}},
		Groups:  []inventory.GroupRef{{ID: "sg-web", Name: "web"}},
	}
	s.Interfaces["eni-nlb"] = &inventory.Interface{
		ID: "eni-nlb", Type: "network_load_balancer", Description: "ELB net/front/abc", Subnet: "subnet-pub", VPC: "vpc-1", Managed: true,
		Private: []inventory.PrivateAddr{{Addr: netip.MustParseAddr("10.0.0.50"), Primary: true}},
	}
	s.Instances["i-web"] = &inventory.Instance{ID: "i-web", Type: "t3.small", ImageID: "ami-1", AZ: "eu-west-1a", State: "running",
		Tags: []inventory.Tag{{Key: "Name", Value: "web"}}, Interfaces: []string{"eni-web"}}
	s.LoadBalancers["arn:aws:elasticloadbalancing:eu-west-1:111122223333:loadbalancer/net/front/abc"] = &inventory.LoadBalancer{
		ARN: "arn:aws:elasticloadbalancing:eu-west-1:111122223333:loadbalancer/net/front/abc", Name: "front", Type: "network",
		Scheme: "internet-facing", VPC: "vpc-1", ClientIPPreserved: true}
	s.SecurityGroups["sg-web"] = &inventory.SecurityGroup{ID: "sg-web", Name: "web", VPC: "vpc-1",
		Ingress: []inventory.Permission{{Proto: "tcp", FromPort: 3389, ToPort: 3389, IPv4: []inventory.CIDR{{Prefix: netip.MustParsePrefix("0.0.0.0/0")}}}}}
	s.NetworkACLs["acl-1"] = &inventory.NetworkACL{ID: "acl-1", VPC: "vpc-1", Default: true, Entries: []inventory.ACLEntry{
		{RuleNumber: 100, Proto: "-1", Allow: true, CIDR: netip.MustParsePrefix("0.0.0.0/0")},
		{RuleNumber: 32767, Proto: "-1", CIDR: netip.MustParsePrefix("0.0.0.0/0")},
	}}
	s.RouteTables["rtb-1"] = &inventory.RouteTable{ID: "rtb-1", VPC: "vpc-1", Main: true, Routes: []inventory.Route{
		{Dest: netip.MustParsePrefix("10.0.0.0/16"), Target: "local"}, {Dest: netip.MustParsePrefix("0.0.0.0/0"), Target: "igw-1"}}}
	return s
}

// rdpFinding is an inbound RDP finding about eni-web from remote.
func rdpFinding(remote string, sev finding.Severity, at time.Time) *finding.Finding {
	f := &finding.Finding{
		Type: "UnauthorizedAccess:EC2/RDPBruteForce", Region: "eu-west-1", Severity: sev,
		Resource: finding.Resource{ResourceType: "Instance", InstanceDetails: &finding.InstanceDetails{
			InstanceID:        "i-web",
			NetworkInterfaces: []finding.NetworkInterface{{NetworkInterfaceID: "eni-web", PrivateIPAddress: "10.0.0.10", VpcID: "vpc-1"}},
		}},
		Service: finding.Service{
			EventLastSeen: finding.Timestamp{Time: at},
			Action: finding.Action{ActionType: finding.ActionNetworkConnection, NetworkConnectionAction: &finding.NetworkConnectionAction{
				ConnectionDirection: finding.DirectionInbound, Protocol: "TCP",
				LocalPortDetails: finding.Port(3389), RemotePortDetails: finding.Port(50000),
				RemoteIPDetails: &finding.RemoteIPDetails{IPAddressV4: remote},
			}},
			AdditionalInfo: &finding.AdditionalInfo{Explanation: &finding.Explanation{Detector: "bruteforce", Summary: "guesses"}},
		},
	}
	return f
}

func annotator(snaps ...*inventory.Snapshot) *Annotator {
	inv := inventory.New(snaps...)
	return &Annotator{Inventory: func() *inventory.Inventory { return inv }}
}

func TestAnnotateInbound(t *testing.T) {
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	f := rdpFinding("203.0.113.5", finding.SeverityLow, at)
	shared := f.Service.AdditionalInfo.Explanation
	annotator(testEstate(time.Time{})).Annotate(f)

	if shared.Resource != "" || len(shared.Rules) != 0 {
		t.Error("Annotate wrote into the explanation the finding shared")
	}
	d := f.Resource.InstanceDetails
	if d.InstanceType != "t3.small" || d.ImageID != "ami-1" || d.NetworkInterfaces[0].PublicIP != "198.51.100.10" || d.NetworkInterfaces[0].PublicDNSName != "web.example" {
		t.Errorf("instance details: %+v", d)
	}
	e := f.Service.AdditionalInfo.Explanation
	if e.Inventory != "undated" || !strings.HasPrefix(e.Resource, "EC2 instance i-web (web), t3.small") {
		t.Errorf("inventory %q, resource %q", e.Inventory, e.Resource)
	}
	want := []finding.RuleVerdict{{Protocol: "TCP", Port: 3389, Remote: "203.0.113.5", Known: true, Admitted: true,
		GroupID: "sg-web", Rule: "tcp 3389 from 0.0.0.0/0", ACLID: "acl-1", ACLRule: 100}}
	got := e.Rules
	for i := range got {
		got[i].Reason = ""
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
	if len(e.NetworkPath) < 2 || !strings.Contains(e.NetworkPath[1], "198.51.100.10") || !strings.Contains(e.NetworkPath[1], "igw-1") {
		t.Errorf("path: %q", e.NetworkPath)
	}
	if len(e.Remediation) == 0 || !strings.Contains(e.Remediation[0].Command, "revoke-security-group-ingress") {
		t.Errorf("remediation: %+v", e.Remediation)
	}
	if e.RatedDown != "" || f.Severity != finding.SeverityLow {
		t.Errorf("rated down: %q, %v", e.RatedDown, f.Severity)
	}
}

// TestAnnotateFromLoadBalancer: the remote address is the load
// balancer's, which stands for its clients and health checks.
func TestAnnotateFromLoadBalancer(t *testing.T) {
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		sev, want finding.Severity
		says      string
	}{
		{finding.SeverityHigh, finding.SeverityMedium, "lowered from High (8) to Medium (5)"},
		{finding.SeverityLow, finding.SeverityLow, "stays Low (2)"},
	} {
		f := rdpFinding("10.0.0.50", tc.sev, at)
		annotator(testEstate(time.Time{})).Annotate(f)
		e := f.Service.AdditionalInfo.Explanation
		if f.Severity != tc.want || !strings.Contains(e.RatedDown, tc.says) || !strings.Contains(e.RatedDown, "network load balancer front") {
			t.Errorf("severity %v, rated down %q", f.Severity, e.RatedDown)
		}
	}
}

// TestAnnotateLeavesAlone: no inventory, a resource the inventory does not
// hold, and a finding without an instance are left as they are.
func TestAnnotateLeavesAlone(t *testing.T) {
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	for name, a := range map[string]*Annotator{
		"nil":               nil,
		"no function":       {},
		"empty":             annotator(),
		"unknown interface": annotator(inventory.NewSnapshot(time.Time{})),
	} {
		f := rdpFinding("203.0.113.5", finding.SeverityLow, at)
		want := *f
		a.Annotate(f)
		if diff := cmp.Diff(&want, f); diff != "" {
			t.Errorf("%s: changed (-want +got):\n%s", name, diff)
		}
	}
	f := &finding.Finding{Type: "Discovery:IAMUser/AnomalousBehavior"}
	annotator(testEstate(time.Time{})).Annotate(f)
	if f.Service.AdditionalInfo != nil {
		t.Error("an API finding got an explanation")
	}
}

// TestAnnotateUsesSnapshotOfTheTime: a finding is explained with the
// estate as it was at its last event.
func TestAnnotateUsesSnapshotOfTheTime(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	old, cur := testEstate(t0), testEstate(t0.Add(24*time.Hour))
	cur.Instances["i-web"].Type = "m7g.large"
	a := annotator(old, cur)
	for at, want := range map[time.Time]string{t0.Add(time.Hour): "t3.small", t0.Add(25 * time.Hour): "m7g.large"} {
		f := rdpFinding("203.0.113.5", finding.SeverityLow, at)
		a.Annotate(f)
		if got := f.Resource.InstanceDetails.InstanceType; got != want {
			t.Errorf("at %v: instance type %q, want %q", at, got, want)
		}
		if e := f.Service.AdditionalInfo.Explanation; e.Inventory == "undated" {
			t.Errorf("at %v: the dated snapshot is not named", at)
		}
	}
}
