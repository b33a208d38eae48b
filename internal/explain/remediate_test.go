package explain

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"picket/internal/finding"
	"picket/internal/inventory"
)

const (
	taskARN    = "arn:aws:ecs:us-east-1:111122223333:task/prod/0123456789abcdef0123456789abcdef"
	clusterARN = "arn:aws:ecs:us-east-1:111122223333:cluster/prod"
)

// remedySnapshot is one VPC: a web instance (eni-web, primary, and
// eni-web2, secondary), a bare interface, a NAT gateway's interface, an
// ECS task's interface and a database in sg-db; subnet-a's ACL acl-a
// allows SSH at 100 and everything at 200, with 99 taken; subnet-full's
// ACL acl-full has no free number before its allow.
func remedySnapshot() *inventory.Snapshot {
	s := inventory.NewSnapshot(time.Time{})
	addr := netip.MustParseAddr
	iface := func(id, subnet, ip string, groups ...string) *inventory.Interface {
		i := &inventory.Interface{ID: id, Type: "interface", Subnet: subnet, VPC: "vpc-1", AZ: "us-east-1a",
			Private: []inventory.PrivateAddr{{Addr: addr(ip), Primary: true}}}
		for _, g := range groups {
			i.Groups = append(i.Groups, inventory.GroupRef{ID: g, Name: strings.TrimPrefix(g, "sg-")})
		}
		s.Interfaces[id] = i
		return i
	}
	web := iface("eni-web", "subnet-a", "10.0.1.10", "sg-web")
	web.Instance, web.IPv6 = "i-web", []netip.Addr{addr("2600:1f18::10")}
	web2 := iface("eni-web2", "subnet-a", "10.0.1.11", "sg-web")
	web2.Instance, web2.DeviceIndex = "i-web", 1
	iface("eni-bare", "subnet-a", "10.0.1.12", "sg-web")
	nat := iface("eni-nat", "subnet-a", "10.0.1.13")
	nat.Type, nat.Managed = "nat_gateway", true
	iface("eni-task", "subnet-a", "10.0.1.14", "sg-web")
	iface("eni-db", "subnet-a", "10.0.1.20", "sg-db")
	iface("eni-full", "subnet-full", "10.0.2.10", "sg-web")
	s.Instances["i-web"] = &inventory.Instance{ID: "i-web", VPC: "vpc-1", Interfaces: []string{"eni-web", "eni-web2"}}
	s.Tasks[taskARN] = &inventory.Task{ARN: taskARN, ClusterARN: clusterARN, ENI: "eni-task"}
	s.SecurityGroups["sg-web"] = &inventory.SecurityGroup{ID: "sg-web", Name: "web", VPC: "vpc-1",
		Ingress: []inventory.Permission{
			{Proto: "tcp", FromPort: 22, ToPort: 22, IPv4: []inventory.CIDR{{Prefix: netip.MustParsePrefix("0.0.0.0/0")}},
				IPv6: []inventory.CIDR{{Prefix: netip.MustParsePrefix("::/0")}}},
			{Proto: "-1", FromPort: -1, ToPort: -1, Groups: []string{"sg-db"}},
			{Proto: "icmp", FromPort: -1, ToPort: -1, IPv4: []inventory.CIDR{{Prefix: netip.MustParsePrefix("0.0.0.0/0")}}},
		},
		Egress: []inventory.Permission{{Proto: "-1", FromPort: -1, ToPort: -1, IPv4: []inventory.CIDR{{Prefix: netip.MustParsePrefix("0.0.0.0/0")}}}},
	}
	s.SecurityGroups["sg-db"] = &inventory.SecurityGroup{ID: "sg-db", Name: "db", VPC: "vpc-1"}
	all4, all6 := netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")
	s.NetworkACLs["acl-a"] = &inventory.NetworkACL{ID: "acl-a", VPC: "vpc-1", Subnets: []string{"subnet-a"},
		Entries: []inventory.ACLEntry{
			{RuleNumber: 99, Proto: "-1", Allow: false, CIDR: netip.MustParsePrefix("198.51.100.0/24")},
			{RuleNumber: 100, Proto: "6", Allow: true, CIDR: all4, FromPort: 22, ToPort: 22},
			{RuleNumber: 200, Proto: "-1", Allow: true, CIDR: all4},
			{RuleNumber: 200, Proto: "-1", Allow: true, CIDR: all6},
			{RuleNumber: 32767, Proto: "-1", CIDR: all4},
			{RuleNumber: 50, Egress: true, Proto: "6", Allow: true, CIDR: all4, FromPort: 443, ToPort: 443},
			{RuleNumber: 100, Egress: true, Proto: "-1", Allow: true, CIDR: all4},
			{RuleNumber: 32767, Egress: true, Proto: "-1", CIDR: all4},
		},
	}
	s.NetworkACLs["acl-full"] = &inventory.NetworkACL{ID: "acl-full", VPC: "vpc-1", Subnets: []string{"subnet-full"},
		Entries: []inventory.ACLEntry{
			{RuleNumber: 1, Proto: "-1", Allow: true, CIDR: all4},
		},
	}
	s.Index()
	return s
}

// target builds the Target the annotator would for traffic on interface
// id, with the verdict of Admits for inbound traffic.
func target(s *inventory.Snapshot, id string, inbound bool, proto uint8, port uint16, remote string) Target {
	i := s.Interface(id)
	t := Target{Iface: i, Instance: s.InstanceOf(i), Task: s.TaskOf(i), Proto: proto, Port: port, Inbound: inbound,
		ACL: s.ACLFor(i.Subnet, i.VPC)}
	if remote != "" {
		t.Remote = netip.MustParseAddr(remote)
	}
	if inbound {
		t.Verdict = s.Admits(i, true, proto, port, t.Remote)
	}
	return t
}

var (
	quarantineInstance = [][]string{
		{"aws", "ec2", "create-security-group", "--region", "us-east-1", "--vpc-id", "vpc-1", "--group-name", "picket-quarantine-i-web",
			"--description", "picket quarantine for i-web: no inbound or outbound rules"},
		{"aws", "ec2", "revoke-security-group-egress", "--region", "us-east-1", "--group-id", "QUARANTINE_GROUP_ID",
			"--ip-permissions", "IpProtocol=-1,IpRanges=[{CidrIp=0.0.0.0/0}]"},
		{"aws", "ec2", "modify-instance-attribute", "--region", "us-east-1", "--instance-id", "i-web", "--groups", "QUARANTINE_GROUP_ID"},
	}
	stopTask = [][]string{
		{"aws", "ecs", "stop-task", "--region", "us-east-1", "--cluster", "prod", "--task", taskARN, "--reason", "picket: stopped for a security finding"},
	}
)

func quarantineInterface(eni, subject string) [][]string {
	return [][]string{
		{"aws", "ec2", "create-security-group", "--region", "us-east-1", "--vpc-id", "vpc-1", "--group-name", "picket-quarantine-" + subject,
			"--description", "picket quarantine for " + subject + ": no inbound or outbound rules"},
		{"aws", "ec2", "revoke-security-group-egress", "--region", "us-east-1", "--group-id", "QUARANTINE_GROUP_ID",
			"--ip-permissions", "IpProtocol=-1,IpRanges=[{CidrIp=0.0.0.0/0}]"},
		{"aws", "ec2", "modify-network-interface-attribute", "--region", "us-east-1", "--network-interface-id", eni, "--groups", "QUARANTINE_GROUP_ID"},
	}
}

func concat(parts ...[][]string) [][]string {
	var out [][]string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// remedyCases are the targets both the argv test and the AWS CLI test
// run.
func remedyCases(s *inventory.Snapshot) []struct {
	name   string
	target Target
	want   [][]string
} {
	return []struct {
		name   string
		target Target
		want   [][]string
	}{
		{
			name:   "ssh to an instance",
			target: target(s, "eni-web", true, 6, 22, "203.0.113.9"),
			want: concat([][]string{
				{"aws", "ec2", "revoke-security-group-ingress", "--region", "us-east-1", "--group-id", "sg-web",
					"--ip-permissions", "IpProtocol=tcp,FromPort=22,ToPort=22,IpRanges=[{CidrIp=0.0.0.0/0}]"},
				{"aws", "ec2", "create-network-acl-entry", "--region", "us-east-1", "--network-acl-id", "acl-a", "--ingress",
					"--rule-number", "98", "--protocol", "6", "--port-range", "From=22,To=22", "--cidr-block", "203.0.113.9/32", "--rule-action", "deny"},
			}, quarantineInstance),
		},
		{
			name:   "ssh over ipv6",
			target: target(s, "eni-web", true, 6, 22, "2001:db8::9"),
			want: concat([][]string{
				{"aws", "ec2", "revoke-security-group-ingress", "--region", "us-east-1", "--group-id", "sg-web",
					"--ip-permissions", "IpProtocol=tcp,FromPort=22,ToPort=22,Ipv6Ranges=[{CidrIpv6=::/0}]"},
				{"aws", "ec2", "create-network-acl-entry", "--region", "us-east-1", "--network-acl-id", "acl-a", "--ingress",
					"--rule-number", "199", "--protocol", "6", "--port-range", "From=22,To=22", "--ipv6-cidr-block", "2001:db8::9/128", "--rule-action", "deny"},
			}, quarantineInstance),
		},
		{
			name:   "referenced group",
			target: target(s, "eni-web", true, 17, 5000, "10.0.1.20"),
			want: concat([][]string{
				{"aws", "ec2", "revoke-security-group-ingress", "--region", "us-east-1", "--group-id", "sg-web",
					"--ip-permissions", "IpProtocol=-1,UserIdGroupPairs=[{GroupId=sg-db}]"},
				{"aws", "ec2", "create-network-acl-entry", "--region", "us-east-1", "--network-acl-id", "acl-a", "--ingress",
					"--rule-number", "199", "--protocol", "17", "--port-range", "From=5000,To=5000", "--cidr-block", "10.0.1.20/32", "--rule-action", "deny"},
			}, quarantineInstance),
		},
		{
			name:   "icmp",
			target: target(s, "eni-bare", true, 1, 8, "203.0.113.9"),
			want: concat([][]string{
				{"aws", "ec2", "revoke-security-group-ingress", "--region", "us-east-1", "--group-id", "sg-web",
					"--ip-permissions", "IpProtocol=icmp,FromPort=-1,ToPort=-1,IpRanges=[{CidrIp=0.0.0.0/0}]"},
				{"aws", "ec2", "create-network-acl-entry", "--region", "us-east-1", "--network-acl-id", "acl-a", "--ingress",
					"--rule-number", "199", "--protocol", "1", "--icmp-type-code", "Type=-1,Code=-1", "--cidr-block", "203.0.113.9/32", "--rule-action", "deny"},
			}, quarantineInterface("eni-bare", "eni-bare")),
		},
		{
			name:   "ecs task",
			target: target(s, "eni-task", true, 6, 22, "203.0.113.9"),
			want: concat([][]string{
				{"aws", "ec2", "revoke-security-group-ingress", "--region", "us-east-1", "--group-id", "sg-web",
					"--ip-permissions", "IpProtocol=tcp,FromPort=22,ToPort=22,IpRanges=[{CidrIp=0.0.0.0/0}]"},
				{"aws", "ec2", "create-network-acl-entry", "--region", "us-east-1", "--network-acl-id", "acl-a", "--ingress",
					"--rule-number", "98", "--protocol", "6", "--port-range", "From=22,To=22", "--cidr-block", "203.0.113.9/32", "--rule-action", "deny"},
			}, stopTask),
		},
		{
			name:   "secondary interface of an instance",
			target: target(s, "eni-web2", false, 6, 0, ""),
			want:   quarantineInterface("eni-web2", "i-web"),
		},
		{
			name:   "outbound",
			target: target(s, "eni-web", false, 6, 443, "192.0.2.80"),
			want: concat(quarantineInstance, [][]string{
				{"aws", "ec2", "create-network-acl-entry", "--region", "us-east-1", "--network-acl-id", "acl-a", "--egress",
					"--rule-number", "49", "--protocol", "-1", "--cidr-block", "192.0.2.80/32", "--rule-action", "deny"},
			}),
		},
	}
}

func TestRemediate(t *testing.T) {
	s := remedySnapshot()
	tests := remedyCases(s)
	more := []struct {
		name   string
		target Target
		want   [][]string
	}{
		{
			name:   "nat gateway is never isolated",
			target: target(s, "eni-nat", false, 6, 443, ""),
		},
		{
			name:   "acl already denies",
			target: target(s, "eni-web", true, 6, 22, "198.51.100.7"),
			want:   quarantineInstance,
		},
		{
			name:   "not admitted by groups: no revoke",
			target: target(s, "eni-bare", true, 6, 3389, "203.0.113.9"),
			want: concat([][]string{
				{"aws", "ec2", "create-network-acl-entry", "--region", "us-east-1", "--network-acl-id", "acl-a", "--ingress",
					"--rule-number", "199", "--protocol", "6", "--port-range", "From=3389,To=3389", "--cidr-block", "203.0.113.9/32", "--rule-action", "deny"},
			}, quarantineInterface("eni-bare", "eni-bare")),
		},
		{
			name:   "no free rule number",
			target: target(s, "eni-full", true, 6, 22, "203.0.113.9"),
			want: concat([][]string{
				{"aws", "ec2", "revoke-security-group-ingress", "--region", "us-east-1", "--group-id", "sg-web",
					"--ip-permissions", "IpProtocol=tcp,FromPort=22,ToPort=22,IpRanges=[{CidrIp=0.0.0.0/0}]"},
			}, quarantineInterface("eni-full", "eni-full")),
		},
		{
			name: "region given, acl unknown",
			target: func() Target {
				t := target(s, "eni-task", true, 6, 22, "203.0.113.9")
				t.Region, t.ACL = "eu-west-1", nil
				return t
			}(),
			want: [][]string{
				{"aws", "ec2", "revoke-security-group-ingress", "--region", "eu-west-1", "--group-id", "sg-web",
					"--ip-permissions", "IpProtocol=tcp,FromPort=22,ToPort=22,IpRanges=[{CidrIp=0.0.0.0/0}]"},
				{"aws", "ecs", "stop-task", "--region", "eu-west-1", "--cluster", "prod", "--task", taskARN, "--reason", "picket: stopped for a security finding"},
			},
		},
		{
			name:   "no interface",
			target: Target{Inbound: true, Remote: netip.MustParseAddr("203.0.113.9"), Proto: 6, Port: 22},
		},
	}
	for _, tt := range append(tests, more...) {
		t.Run(tt.name, func(t *testing.T) {
			cmds := Remediate(tt.target)
			var got [][]string
			for _, c := range cmds {
				got = append(got, c.Args)
				if c.Why == "" || !strings.HasSuffix(c.Why, ".") {
					t.Errorf("%s: Why %q is not a sentence", c.Args[2], c.Why)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Remediate (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCommandString(t *testing.T) {
	c := Command{Args: []string{"aws", "ec2", "revoke-security-group-ingress", "--group-id", "sg-1",
		"--ip-permissions", "IpProtocol=tcp,FromPort=22,ToPort=22,IpRanges=[{CidrIp=0.0.0.0/0}]",
		"--description", "it's quarantine", "--rule-number", "-1", "--empty", ""}}
	want := `aws ec2 revoke-security-group-ingress --group-id sg-1 --ip-permissions 'IpProtocol=tcp,FromPort=22,ToPort=22,IpRanges=[{CidrIp=0.0.0.0/0}]' --description 'it'\''s quarantine' --rule-number -1 --empty ''`
	if got := c.String(); got != want {
		t.Errorf("String:\n got %s\nwant %s", got, want)
	}
}

// awsCLI returns the AWS CLI to test with: $PICKET_AWSCLI, else aws on
// PATH. Without one the test skips, unless PICKET_REQUIRE_AWSCLI=1 (CI)
// makes that a failure.
func awsCLI(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PICKET_AWSCLI"); p != "" {
		return p
	}
	p, err := exec.LookPath("aws")
	if err != nil {
		if os.Getenv("PICKET_REQUIRE_AWSCLI") == "1" {
			t.Fatal("the AWS CLI (aws) is not installed and PICKET_REQUIRE_AWSCLI=1: run scripts/install-test-deps")
		}
		t.Skip("the AWS CLI (aws) is not installed: run scripts/install-test-deps to test with it")
	}
	return p
}

// fakeAWS answers EC2 query API and ECS JSON calls with minimal
// successful responses and records them.
type fakeAWS struct {
	mu   sync.Mutex
	reqs []awsRequest
}

type awsRequest struct {
	Action string // EC2's Action, or ECS's X-Amz-Target
	Body   string
}

func (f *fakeAWS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		f.record(awsRequest{Action: target, Body: string(body)})
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		io.WriteString(w, `{"task":{}}`)
		return
	}
	form, err := url.ParseQuery(string(body))
	action := form.Get("Action")
	if err != nil || action == "" {
		http.Error(w, "no Action", http.StatusBadRequest)
		return
	}
	f.record(awsRequest{Action: action, Body: string(body)})
	var extra string
	if action == "CreateSecurityGroup" {
		extra = "<groupId>sg-1</groupId>"
	}
	w.Header().Set("Content-Type", "text/xml")
	io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<`+action+`Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>1</requestId><return>true</return>`+extra+`</`+action+`Response>`)
}

func (f *fakeAWS) record(r awsRequest) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, r)
}

func (f *fakeAWS) take() []awsRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.reqs
	f.reqs = nil
	return out
}

// cliCalls says, for each operation Remediate uses, the API action the
// AWS CLI must call and the parameters it must send (query-encoded for
// EC2, JSON for ECS), for the command at hand.
func cliCalls(c Command) (action string, params []string) {
	arg := func(name string) string {
		for i, a := range c.Args {
			if a == name && i+1 < len(c.Args) {
				return c.Args[i+1]
			}
		}
		return ""
	}
	q := url.QueryEscape
	switch c.Args[2] {
	case "revoke-security-group-ingress":
		params = []string{"GroupId=" + arg("--group-id"), "IpPermissions.1.IpProtocol="}
		perm := arg("--ip-permissions")
		switch {
		case strings.Contains(perm, "CidrIp="):
			cidr := perm[strings.Index(perm, "CidrIp=")+len("CidrIp=") : strings.Index(perm, "}]")]
			params = append(params, "IpPermissions.1.IpRanges.1.CidrIp="+q(cidr))
		case strings.Contains(perm, "CidrIpv6="):
			cidr := perm[strings.Index(perm, "CidrIpv6=")+len("CidrIpv6=") : strings.Index(perm, "}]")]
			params = append(params, "IpPermissions.1.Ipv6Ranges.1.CidrIpv6="+q(cidr))
		case strings.Contains(perm, "GroupId="):
			params = append(params, "IpPermissions.1.Groups.1.GroupId=")
		}
		if strings.Contains(perm, "FromPort=") {
			params = append(params, "IpPermissions.1.FromPort=", "IpPermissions.1.ToPort=")
		}
		return "RevokeSecurityGroupIngress", params
	case "revoke-security-group-egress":
		return "RevokeSecurityGroupEgress", []string{"GroupId=QUARANTINE_GROUP_ID", "IpPermissions.1.IpProtocol=-1", "IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0%2F0"}
	case "create-network-acl-entry":
		params = []string{"NetworkAclId=" + arg("--network-acl-id"), "RuleNumber=" + arg("--rule-number"), "Protocol=" + arg("--protocol"), "RuleAction=deny"}
		if b := arg("--cidr-block"); b != "" {
			params = append(params, "CidrBlock="+q(b))
		} else {
			params = append(params, "Ipv6CidrBlock="+q(arg("--ipv6-cidr-block")))
		}
		if slices.Contains(c.Args, "--ingress") {
			params = append(params, "Egress=false")
		} else {
			params = append(params, "Egress=true")
		}
		if arg("--port-range") != "" {
			params = append(params, "PortRange.From=", "PortRange.To=")
		}
		if arg("--icmp-type-code") != "" {
			params = append(params, "Icmp.Type=-1", "Icmp.Code=-1")
		}
		return "CreateNetworkAclEntry", params
	case "create-security-group":
		return "CreateSecurityGroup", []string{"VpcId=" + arg("--vpc-id"), "GroupName=" + q(arg("--group-name")), "GroupDescription="}
	case "modify-instance-attribute":
		return "ModifyInstanceAttribute", []string{"InstanceId=" + arg("--instance-id"), "GroupId.1=QUARANTINE_GROUP_ID"}
	case "modify-network-interface-attribute":
		return "ModifyNetworkInterfaceAttribute", []string{"NetworkInterfaceId=" + arg("--network-interface-id"), "SecurityGroupId.1=QUARANTINE_GROUP_ID"}
	case "stop-task":
		return "AmazonEC2ContainerServiceV20141113.StopTask", []string{`"cluster": "prod"`, `"task": "` + taskARN + `"`, `"reason": `}
	}
	return "", nil
}

// sent reports whether a request carries a parameter: for EC2, a field
// equal to p, or starting with p when p ends in "=" (any value); for ECS,
// p anywhere in the JSON.
func sent(r awsRequest, p string) bool {
	if strings.Contains(r.Action, ".") {
		return strings.Contains(r.Body, p)
	}
	for field := range strings.SplitSeq(r.Body, "&") {
		if field == p || strings.HasSuffix(p, "=") && strings.HasPrefix(field, p) {
			return true
		}
	}
	return false
}

// TestCommandsAcceptedByAWSCLI runs every command Remediate makes with
// the real AWS CLI against a local fake of the EC2 and ECS APIs, to show
// the CLI accepts their parameters and sends the API call meant.
// cliEnv returns the environment the AWS CLI runs in: test credentials,
// no configuration files, no instance metadata, one attempt.
func cliEnv(t *testing.T) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	return append(env, "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_MAX_ATTEMPTS=1", "HOME="+t.TempDir())
}

// shellWords splits a command line as a POSIX shell would for what
// Command.String writes: words separated by spaces, single-quoted
// stretches taken literally, backslash escaping one character outside
// quotes.
func shellWords(line string) []string {
	var words []string
	var w strings.Builder
	in, quoted := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quoted:
			if c == '\'' {
				quoted = false
			} else {
				w.WriteByte(c)
			}
		case c == '\'':
			quoted, in = true, true
		case c == '\\' && i+1 < len(line):
			i++
			w.WriteByte(line[i])
			in = true
		case c == ' ':
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteByte(c)
			in = true
		}
	}
	if in {
		words = append(words, w.String())
	}
	return words
}

// TestEstateCommandsAcceptedByAWSCLI runs the remediation commands of the
// bundled estate example's findings (the golden file of internal/app's
// scenario), as they are printed, with the AWS CLI against a local
// endpoint: each must be accepted and make one request.
func TestEstateCommandsAcceptedByAWSCLI(t *testing.T) {
	bin := awsCLI(t)
	fake := &fakeAWS{}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	env := cliEnv(t)
	data, err := os.ReadFile("../app/testdata/estate.golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Findings []*finding.Finding }
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range doc.Findings {
		for _, r := range f.Service.AdditionalInfo.Explanation.Remediation {
			args := shellWords(r.Command)
			if args[0] != "aws" || seen[strings.Join(args[1:3], " ")] {
				continue // one command of each kind: the CLI is slow to start
			}
			seen[strings.Join(args[1:3], " ")] = true
			cmd := exec.CommandContext(t.Context(), bin, append(args[1:], "--endpoint-url", srv.URL)...)
			cmd.Env = env
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				t.Errorf("%s: %v\n%s", r.Command, err, stderr.String())
				continue
			}
			if reqs := fake.take(); len(reqs) != 1 {
				t.Errorf("%s: the server got %d requests, want 1", r.Command, len(reqs))
			}
		}
	}
	for _, kind := range []string{"ec2 revoke-security-group-ingress", "ec2 create-network-acl-entry", "ec2 modify-instance-attribute", "ecs stop-task"} {
		if !seen[kind] {
			t.Errorf("the example's findings have no %s command", kind)
		}
	}
}

func TestCommandsAcceptedByAWSCLI(t *testing.T) {
	bin := awsCLI(t)
	fake := &fakeAWS{}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	env := cliEnv(t)

	s := remedySnapshot()
	for _, tc := range remedyCases(s) {
		t.Run(tc.name, func(t *testing.T) {
			cmds := Remediate(tc.target)
			if len(cmds) == 0 {
				t.Fatal("no commands")
			}
			for _, c := range cmds {
				args := append(append([]string{}, c.Args[1:]...), "--endpoint-url", srv.URL)
				cmd := exec.CommandContext(t.Context(), bin, args...)
				cmd.Env = env
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				if err := cmd.Run(); err != nil {
					t.Errorf("%s: %v\n%s", c, err, stderr.String())
					continue
				}
				reqs := fake.take()
				if len(reqs) != 1 {
					t.Errorf("%s: the server got %d requests, want 1", c, len(reqs))
					continue
				}
				action, params := cliCalls(c)
				if reqs[0].Action != action {
					t.Errorf("%s: action %s, want %s", c, reqs[0].Action, action)
				}
				for _, p := range params {
					if !sent(reqs[0], p) {
						t.Errorf("%s: request lacks %q:\n%s", c, p, reqs[0].Body)
					}
				}
			}
		})
	}
}
