package awspoll

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"picket/internal/inventory"
)

// fakeAWS answers EC2 and ELBv2 query calls and ECS JSON calls from the
// recorded responses in testdata, and records the calls it saw.
type fakeAWS struct {
	t *testing.T
	// deny is the action answered 403, "*" for every call.
	deny string

	mu     sync.Mutex
	calls  []string        // "DescribeNetworkInterfaces", "DescribeNetworkInterfaces page-2", ...
	scopes map[string]bool // the signatures' credential scopes: "us-east-1/ec2"
}

const ecsTarget = "AmazonEC2ContainerServiceV20141113."

func (f *fakeAWS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.t.Errorf("reading request: %v", err)
		return
	}
	f.recordScope(r.Header.Get("Authorization"))
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		f.ecs(w, strings.TrimPrefix(target, ecsTarget), body)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		f.t.Errorf("parsing request form %q: %v", body, err)
	}
	action, token := form.Get("Action"), form.Get("NextToken")
	f.record(strings.TrimSpace(action + " " + token))
	if f.deny == action || f.deny == "*" {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusForbidden)
		if action == "DescribeLoadBalancers" {
			io.WriteString(w, `<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User is not authorized to perform: elasticloadbalancing:DescribeLoadBalancers</Message></Error><RequestId>4b1f0c3e-0000-4000-8000-000000000001</RequestId></ErrorResponse>`)
			return
		}
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation.</Message></Error></Errors><RequestID>4b1f0c3e-0000-4000-8000-000000000002</RequestID></Response>`)
		return
	}
	name := action
	if token != "" {
		name += "." + token
	}
	f.serveFile(w, "text/xml", name+".xml")
}

func (f *fakeAWS) ecs(w http.ResponseWriter, op string, body []byte) {
	f.record("ecs:" + op)
	if f.deny == "ecs:"+op || f.deny == "*" {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"__type":"AccessDeniedException","message":"User is not authorized to perform: ecs:`+op+`"}`)
		return
	}
	if op == "DescribeTasks" {
		var in struct {
			Cluster string   `json:"cluster"`
			Tasks   []string `json:"tasks"`
			Include []string `json:"include"`
		}
		if err := json.Unmarshal(body, &in); err != nil {
			f.t.Errorf("DescribeTasks request %s: %v", body, err)
		}
		if !slices.Contains(in.Include, "TAGS") || len(in.Tasks) == 0 || len(in.Tasks) > 100 || in.Cluster == "" {
			f.t.Errorf("DescribeTasks request %s: want a cluster, 1 to 100 tasks and include TAGS", body)
		}
	}
	f.serveFile(w, "application/x-amz-json-1.1", op+".json")
}

func (f *fakeAWS) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

// recordScope notes the region and service a request was signed for,
// from "AWS4-HMAC-SHA256 Credential=AKID/20260302/us-east-1/ec2/aws4_request, ...".
func (f *fakeAWS) recordScope(auth string) {
	_, cred, _ := strings.Cut(auth, "Credential=")
	cred, _, _ = strings.Cut(cred, ",")
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		f.t.Errorf("request not signed: Authorization %q", auth)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.scopes == nil {
		f.scopes = map[string]bool{}
	}
	f.scopes[parts[2]+"/"+parts[3]] = true
}

func (f *fakeAWS) serveFile(w http.ResponseWriter, contentType, name string) {
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		f.t.Errorf("no recorded response: %v", err)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Write(data)
}

// newPoller returns a poller of regions (us-east-1 when none) that talks
// to f only.
func newPoller(t *testing.T, f *fakeAWS, regions ...string) *Poller {
	t.Helper()
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "credentials"))
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CA_BUNDLE", "")
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	if len(regions) == 0 {
		regions = []string{"us-east-1"}
	}
	p, err := New(t.Context(), Config{
		Regions:     regions,
		Endpoint:    srv.URL,
		Credentials: credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""),
		HTTPClient:  srv.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var pollTime = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// wantSnapshot is the estate the recorded responses describe.
func wantSnapshot() *inventory.Snapshot {
	s := inventory.NewSnapshot(pollTime)
	s.Sources = []string{
		"us-east-1 ec2:DescribeNetworkInterfaces",
		"us-east-1 ec2:DescribeInstances",
		"us-east-1 ec2:DescribeSecurityGroups",
		"us-east-1 ec2:DescribeNetworkAcls",
		"us-east-1 ec2:DescribeRouteTables",
		"us-east-1 ec2:DescribeNatGateways",
		"us-east-1 ec2:DescribeTransitGatewayAttachments",
		"us-east-1 elasticloadbalancing:DescribeLoadBalancers",
		"us-east-1 ecs:ListClusters",
		"us-east-1 ecs:ListTasks",
		"us-east-1 ecs:DescribeTasks",
	}
	const (
		vpc       = "vpc-0a1b2c3d4e5f60718"
		subnet    = "subnet-0aa11bb22cc33dd44"
		natSubnet = "subnet-0aa11bb22cc33dd00"
		account   = "111122223333"
		taskARN   = "arn:aws:ecs:us-east-1:111122223333:task/prod/0f3e5b2f8c2d4e6a9b1c3d5e7f9a1b2c"
		lbARN     = "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/net/edge/50dc6c495c0c9188"
	)
	addr := netip.MustParseAddr
	s.Interfaces["eni-0a1b2c3d4e5f60001"] = &inventory.Interface{
		ID: "eni-0a1b2c3d4e5f60001", Type: "interface", Description: "web primary", Status: "in-use",
		Owner: account, AZ: "us-east-1a", Subnet: subnet, VPC: vpc, MAC: "0e:12:34:56:78:9a",
		PrivateDNS: "ip-10-0-1-10.ec2.internal",
		Private: []inventory.PrivateAddr{{
			Addr: addr("10.0.1.10"), DNS: "ip-10-0-1-10.ec2.internal", Primary: true,
			Public: addr("203.0.113.10"), PublicDNS: "ec2-203-0-113-10.compute-1.amazonaws.com",
		}},
		Groups:          []inventory.GroupRef{{ID: "sg-0a1b2c3d4e5f60010", Name: "web"}},
		Instance:        "i-0123456789abcdef0",
		SourceDestCheck: true,
	}
	s.Interfaces["eni-0a1b2c3d4e5f60002"] = &inventory.Interface{
		ID: "eni-0a1b2c3d4e5f60002", Type: "interface",
		Description: "arn:aws:ecs:us-east-1:111122223333:attachment/6f2d9c1e-5b7a-4e3c-8d1f-0a2b4c6d8e0f",
		Status:      "in-use", Owner: account, RequesterID: "578734482556", Managed: true,
		AZ: "us-east-1a", Subnet: subnet, VPC: vpc, MAC: "0e:12:34:56:78:9b",
		PrivateDNS:      "ip-10-0-1-20.ec2.internal",
		Private:         []inventory.PrivateAddr{{Addr: addr("10.0.1.20"), DNS: "ip-10-0-1-20.ec2.internal", Primary: true}},
		IPv6:            []netip.Addr{addr("2600:1f18:1234:5601::20")},
		Groups:          []inventory.GroupRef{{ID: "sg-0a1b2c3d4e5f60011", Name: "app"}},
		SourceDestCheck: true,
	}
	s.Interfaces["eni-0a1b2c3d4e5f60003"] = &inventory.Interface{
		ID: "eni-0a1b2c3d4e5f60003", Type: "nat_gateway",
		Description: "Interface for NAT Gateway nat-0a1b2c3d4e5f60020",
		Status:      "in-use", Owner: account, RequesterID: "AIDAEXAMPLEREQUESTER", Managed: true,
		AZ: "us-east-1a", Subnet: natSubnet, VPC: vpc, MAC: "0e:12:34:56:78:9c",
		PrivateDNS: "ip-10-0-0-5.ec2.internal",
		Private: []inventory.PrivateAddr{{
			Addr: addr("10.0.0.5"), DNS: "ip-10-0-0-5.ec2.internal", Primary: true, Public: addr("198.51.100.7"),
		}},
	}
	s.Instances["i-0123456789abcdef0"] = &inventory.Instance{
		ID: "i-0123456789abcdef0", Type: "t3.micro", ImageID: "ami-0abcdef1234567890",
		LaunchTime: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), State: "running", Platform: "Linux/UNIX",
		AZ: "us-east-1a", VPC: vpc, Subnet: subnet,
		PrivateDNS: "ip-10-0-1-10.ec2.internal", PublicDNS: "ec2-203-0-113-10.compute-1.amazonaws.com",
		PublicIP:   addr("203.0.113.10"),
		ProfileARN: "arn:aws:iam::111122223333:instance-profile/web", ProfileID: "AIPAEXAMPLEPROFILEID1",
		Owner:      account,
		Tags:       []inventory.Tag{{Key: "Name", Value: "web-1"}, {Key: "team", Value: "storefront"}},
		Interfaces: []string{"eni-0a1b2c3d4e5f60001"},
		Groups:     []inventory.GroupRef{{ID: "sg-0a1b2c3d4e5f60010", Name: "web"}},
	}
	s.SecurityGroups["sg-0a1b2c3d4e5f60010"] = &inventory.SecurityGroup{
		ID: "sg-0a1b2c3d4e5f60010", Name: "web", VPC: vpc, Owner: account,
		Ingress: []inventory.Permission{
			{
				Proto: "tcp", FromPort: 443, ToPort: 443,
				IPv4: []inventory.CIDR{{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Description: "https from anywhere"}},
				IPv6: []inventory.CIDR{{Prefix: netip.MustParsePrefix("::/0")}},
			},
			{
				Proto: "tcp", FromPort: 22, ToPort: 22,
				PrefixLists: []string{"pl-0a1b2c3d4e5f60013"},
				Groups:      []string{"sg-0a1b2c3d4e5f60012"},
			},
		},
		Egress: []inventory.Permission{{
			Proto: "-1", FromPort: -1, ToPort: -1,
			IPv4: []inventory.CIDR{{Prefix: netip.MustParsePrefix("0.0.0.0/0")}},
		}},
	}
	s.NetworkACLs["acl-0a1b2c3d4e5f60040"] = &inventory.NetworkACL{
		ID: "acl-0a1b2c3d4e5f60040", VPC: vpc, Default: true, Owner: account,
		Subnets: []string{subnet},
		Entries: []inventory.ACLEntry{
			{RuleNumber: 100, Proto: "6", Allow: true, CIDR: netip.MustParsePrefix("0.0.0.0/0"), FromPort: 443, ToPort: 443, ICMPType: -1, ICMPCode: -1},
			{RuleNumber: 32767, Proto: "-1", CIDR: netip.MustParsePrefix("0.0.0.0/0"), ICMPType: -1, ICMPCode: -1},
		},
	}
	s.RouteTables["rtb-0a1b2c3d4e5f60030"] = &inventory.RouteTable{
		ID: "rtb-0a1b2c3d4e5f60030", VPC: vpc, Subnets: []string{subnet},
		Routes: []inventory.Route{
			{Dest: netip.MustParsePrefix("10.0.0.0/16"), Target: "local", State: "active"},
			{Dest: netip.MustParsePrefix("0.0.0.0/0"), Target: "nat-0a1b2c3d4e5f60020", State: "active"},
		},
	}
	s.NATGateways["nat-0a1b2c3d4e5f60020"] = &inventory.NATGateway{
		ID: "nat-0a1b2c3d4e5f60020", VPC: vpc, Subnet: natSubnet, Connectivity: "public", State: "available",
		Addresses: []inventory.NATAddress{{ENI: "eni-0a1b2c3d4e5f60003", Private: addr("10.0.0.5"), Public: addr("198.51.100.7")}},
	}
	s.TGWAttachments["tgw-attach-0a1b2c3d4e5f60050"] = &inventory.TGWAttachment{
		ID: "tgw-attach-0a1b2c3d4e5f60050", TGW: "tgw-0a1b2c3d4e5f60060", ResourceType: "vpc",
		ResourceID: vpc, Owner: account, State: "available",
	}
	s.LoadBalancers[lbARN] = &inventory.LoadBalancer{
		ARN: lbARN, Name: "edge", DNS: "edge-50dc6c495c0c9188.elb.us-east-1.amazonaws.com",
		Type: "network", Scheme: "internet-facing", VPC: vpc, State: "active",
		Groups: []string{"sg-0a1b2c3d4e5f60014"},
		Zones: []inventory.LBZone{
			{Zone: "us-east-1a", Subnet: natSubnet, Addresses: []netip.Addr{addr("203.0.113.50"), addr("10.0.0.50")}},
			{Zone: "us-east-1b", Subnet: "subnet-0aa11bb22cc33dd01", Addresses: []netip.Addr{addr("203.0.113.51"), addr("10.0.16.50")}},
		},
		ClientIPPreserved: true,
	}
	s.Tasks[taskARN] = &inventory.Task{
		ARN: taskARN, ClusterARN: "arn:aws:ecs:us-east-1:111122223333:cluster/prod",
		DefinitionARN: "arn:aws:ecs:us-east-1:111122223333:task-definition/app:7", Version: 3,
		StartedBy: "ecs-svc/1234567890123456789", Group: "service:app", LaunchType: "FARGATE",
		LastStatus: "RUNNING", AZ: "us-east-1a",
		Containers: []inventory.Container{{
			Name:      "app",
			Image:     "111122223333.dkr.ecr.us-east-1.amazonaws.com/app:1.4.2",
			RuntimeID: "0f3e5b2f8c2d4e6a9b1c3d5e7f9a1b2c-1527056392",
			ARN:       "arn:aws:ecs:us-east-1:111122223333:container/prod/0f3e5b2f8c2d4e6a9b1c3d5e7f9a1b2c/1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
		}},
		ENI:       "eni-0a1b2c3d4e5f60002",
		PrivateIP: addr("10.0.1.20"),
		Tags:      []inventory.Tag{{Key: "service", Value: "app"}},
	}
	return s
}

var snapshotOpts = cmp.Options{
	cmpopts.IgnoreUnexported(inventory.Snapshot{}),
	cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{}),
	cmpopts.EquateEmpty(),
}

func TestPoll(t *testing.T) {
	allCalls := []string{
		"DescribeNetworkInterfaces", "DescribeNetworkInterfaces page-2",
		"DescribeInstances", "DescribeSecurityGroups", "DescribeNetworkAcls", "DescribeRouteTables",
		"DescribeNatGateways", "DescribeTransitGatewayAttachments", "DescribeLoadBalancers",
		"ecs:ListClusters", "ecs:ListTasks", "ecs:DescribeTasks",
	}
	tests := []struct {
		name string
		deny string
		// edit turns the full estate into the one expected.
		edit func(*inventory.Snapshot)
		// problems are substrings of the expected report problems, in order.
		problems []string
		// code is the API error code the first problem wraps.
		code string
	}{
		{name: "every call answers"},
		{
			name: "security groups denied",
			deny: "DescribeSecurityGroups",
			edit: func(s *inventory.Snapshot) {
				clear(s.SecurityGroups)
				s.Sources = slices.DeleteFunc(s.Sources, func(src string) bool { return src == "us-east-1 ec2:DescribeSecurityGroups" })
			},
			problems: []string{"us-east-1 ec2:DescribeSecurityGroups: operation error EC2: DescribeSecurityGroups, https response error StatusCode: 403"},
			code:     "UnauthorizedOperation",
		},
		{
			name: "task listing denied",
			deny: "ecs:ListTasks",
			edit: func(s *inventory.Snapshot) {
				clear(s.Tasks)
				s.Sources = slices.DeleteFunc(s.Sources, func(src string) bool {
					return strings.HasPrefix(src, "us-east-1 ecs:") && src != "us-east-1 ecs:ListClusters"
				})
			},
			problems: []string{"us-east-1 ecs:ListTasks: cluster arn:aws:ecs:us-east-1:111122223333:cluster/prod: operation error ECS: ListTasks"},
			code:     "AccessDeniedException",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAWS{t: t, deny: tt.deny}
			got, rep, err := newPoller(t, f).Poll(t.Context(), pollTime)
			if err != nil {
				t.Fatalf("Poll: %v", err)
			}
			want := wantSnapshot()
			if tt.edit != nil {
				tt.edit(want)
			}
			if diff := cmp.Diff(want, got, snapshotOpts); diff != "" {
				t.Errorf("snapshot (-want +got):\n%s", diff)
			}
			var problems []string
			for _, p := range rep.Problems {
				problems = append(problems, p.Error())
			}
			if len(problems) != len(tt.problems) {
				t.Fatalf("problems: got %q, want ones containing %q", problems, tt.problems)
			}
			for i, p := range problems {
				if !strings.Contains(p, tt.problems[i]) {
					t.Errorf("problem %d: got %q, want it to contain %q", i, p, tt.problems[i])
				}
			}
			if tt.code != "" {
				var apiErr smithy.APIError
				if !errors.As(rep.Problems[0], &apiErr) || apiErr.ErrorCode() != tt.code {
					t.Errorf("problem %v: want it to wrap an API error %s", rep.Problems[0], tt.code)
				}
			}
			if rep.Skipped != 0 {
				t.Errorf("%d entities skipped", rep.Skipped)
			}
			wantCalls := allCalls
			if tt.deny == "ecs:ListTasks" {
				wantCalls = slices.DeleteFunc(slices.Clone(allCalls), func(c string) bool { return c == "ecs:DescribeTasks" })
			}
			if diff := cmp.Diff(wantCalls, f.calls, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPollRegions checks that each region's calls are signed for it and
// named by it, in the order of the configuration.
func TestPollRegions(t *testing.T) {
	f := &fakeAWS{t: t}
	s, rep, err := newPoller(t, f, "us-east-1", "eu-west-1").Poll(t.Context(), pollTime)
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	if len(rep.Problems) != 0 {
		t.Errorf("problems: %v", rep.Problems)
	}
	one := wantSnapshot().Sources
	var want []string
	for _, region := range []string{"us-east-1", "eu-west-1"} {
		for _, src := range one {
			want = append(want, region+strings.TrimPrefix(src, "us-east-1"))
		}
	}
	if diff := cmp.Diff(want, s.Sources); diff != "" {
		t.Errorf("sources (-want +got):\n%s", diff)
	}
	wantScopes := map[string]bool{}
	for _, region := range []string{"us-east-1", "eu-west-1"} {
		for _, svc := range []string{"ec2", "ecs", "elasticloadbalancing"} {
			wantScopes[region+"/"+svc] = true
		}
	}
	if diff := cmp.Diff(wantScopes, f.scopes); diff != "" {
		t.Errorf("signing scopes (-want +got):\n%s", diff)
	}
}

func TestPollEveryCallFails(t *testing.T) {
	f := &fakeAWS{t: t, deny: "*"}
	s, rep, err := newPoller(t, f).Poll(t.Context(), pollTime)
	if err == nil {
		t.Fatalf("Poll: no error, snapshot %+v", s)
	}
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Errorf("Poll error %v: want it to wrap the API errors", err)
	}
	// Seven EC2 calls, one ELB call and ListClusters.
	if len(rep.Problems) != 9 {
		t.Errorf("got %d problems, want 9: %v", len(rep.Problems), rep.Problems)
	}
}

func TestNewNeedsRegion(t *testing.T) {
	for _, regions := range [][]string{nil, {""}} {
		if _, err := New(t.Context(), Config{Regions: regions}); err == nil {
			t.Errorf("New with regions %q: no error", regions)
		}
	}
}

// TestCLIJSON checks the JSON an SDK output becomes: member names as the
// CLI prints them, no nulls, RFC 3339 timestamps and enums as strings.
func TestCLIJSON(t *testing.T) {
	started := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	tasks := []ecstypes.Task{{
		TaskArn:    aws.String("arn:aws:ecs:us-east-1:111122223333:task/prod/1"),
		LaunchType: ecstypes.LaunchTypeFargate,
		StartedAt:  &started,
		Version:    4,
		Attachments: []ecstypes.Attachment{{
			Type:    aws.String("ElasticNetworkInterface"),
			Details: []ecstypes.KeyValuePair{{Name: aws.String("networkInterfaceId"), Value: aws.String("eni-1")}},
		}},
		Containers: []ecstypes.Container{{Name: aws.String("app"), RuntimeId: aws.String("r1")}},
		Tags:       []ecstypes.Tag{{Key: aws.String("k"), Value: aws.String("v")}},
	}}
	data, err := cliJSON("tasks", [][]ecstypes.Task{tasks}, true)
	if err != nil {
		t.Fatal(err)
	}
	var got any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	var want any
	if err := json.Unmarshal([]byte(`{"tasks": [{
		"taskArn": "arn:aws:ecs:us-east-1:111122223333:task/prod/1",
		"launchType": "FARGATE",
		"startedAt": "2026-03-02T09:30:00Z",
		"version": 4,
		"enableExecuteCommand": false,
		"attachments": [{"type": "ElasticNetworkInterface", "details": [{"name": "networkInterfaceId", "value": "eni-1"}]}],
		"containers": [{"name": "app", "runtimeId": "r1"}],
		"tags": [{"key": "k", "value": "v"}]
	}]}`), &want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tasks JSON (-want +got):\n%s", diff)
	}
}

// TestTaskShapeHasNoMaps guards cliJSON's lowering of key names, which
// would rename a map's keys: an SDK update that adds a map to the ECS
// Task shape fails here.
func TestTaskShapeHasNoMaps(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var walk func(path string, typ reflect.Type)
	walk = func(path string, typ reflect.Type) {
		if seen[typ] {
			return
		}
		seen[typ] = true
		switch typ.Kind() {
		case reflect.Map:
			t.Errorf("%s is a map (%s); its keys would be lowered", path, typ)
		case reflect.Pointer, reflect.Slice, reflect.Array:
			walk(path, typ.Elem())
		case reflect.Struct:
			for i := range typ.NumField() {
				if fld := typ.Field(i); fld.IsExported() {
					walk(path+"."+fld.Name, fld.Type)
				}
			}
		}
		// An interface is a union, whose members the parser does not read.
	}
	walk("Task", reflect.TypeFor[ecstypes.Task]())
}
