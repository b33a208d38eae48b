package synth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// This file generates CloudTrail API-call traffic: principals with habits
// (the APIs they call, where from, with what, at which hours) over days,
// and one-off activities laid over them (an attacker's enumeration, a
// logging change, stolen instance credentials), rendered as CloudTrail
// events. Tests, scenarios and benchmarks of the CloudTrail detectors use
// it.

// TrailPrincipal is one principal and its habits.
type TrailPrincipal struct {
	// Name is the IAM user's name, the role's name ("role" and
	// "instance"), or ignored for "root".
	Name string
	// Kind is "user" (long-term keys), "role" (an assumed role; Session
	// names the session), "instance" (an EC2 instance role; Session is
	// the instance ID), "root", or "service" (an AWS service acting on
	// its own; Name is its endpoint, "lambda.amazonaws.com").
	Kind    string
	Session string
	// AccessKey is the access key ID the principal calls with (default:
	// one derived from its name).
	AccessKey string
	// APIs are "service:API" names ("ec2:DescribeInstances"), called in
	// proportion to their weight (Weights; all 1 when nil).
	APIs    []string
	Weights []float64
	// From are the addresses the principal calls from; AWS marks an
	// address as an AWS service's ("ec2.amazonaws.com") when it has no
	// dot-free form.
	From []netip.Addr
	// VPCEndpoint, when set, is the endpoint the calls go through.
	VPCEndpoint string
	// Agent is the user agent.
	Agent string
	// Hours are the UTC hours [from, to) the principal works; both 0
	// means around the clock.
	Hours [2]int
	// Weekdays keeps the principal to Monday to Friday.
	Weekdays bool
	// PerDay is the mean number of calls a working day.
	PerDay int
	// ErrorRate is the share of calls that fail with AccessDenied.
	ErrorRate float64
	// Region is where the calls go ("" means the trail's region).
	Region string
}

// TrailActivity is a one-off burst of calls by a principal (one of the
// TrailConfig's, or a new one described by Principal).
type TrailActivity struct {
	// Name labels the activity.
	Name string
	// Who names a principal of the config; Principal describes one
	// that is not (Who is then ignored).
	Who       string
	Principal *TrailPrincipal
	// At and Over place the calls in [At, At+Over).
	At   time.Time
	Over time.Duration
	// From and Agent override the principal's (zero: its own).
	From  netip.Addr
	Agent string
	// APIs are called in turn, Calls calls in all (at least one each).
	APIs  []string
	Calls int
	// Denied is the share of calls refused with ErrorCode (default
	// AccessDenied).
	Denied    float64
	ErrorCode string
	// Params is the requestParameters object of every call, as JSON.
	Params string
	// ErrorMessage goes with refused calls.
	ErrorMessage string
	// Response is the responseElements object of every call, as JSON.
	Response string
	// VPCEndpoint and VPCEndpointAccount route the calls through a VPC
	// endpoint (of another account, when set).
	VPCEndpoint, VPCEndpointAccount string
	// InvokedBy makes an AWS service (its endpoint) the caller on the
	// principal's behalf.
	InvokedBy string
}

// TrailConfig configures a CloudTrail generation run.
type TrailConfig struct {
	Seed       uint64
	Account    string
	Region     string
	Start      time.Time
	Days       int
	Principals []TrailPrincipal
	Activities []TrailActivity
	// MaxEvents stops the run once this many events are made (0: no
	// limit), for benchmarks.
	MaxEvents int
}

// TrailEvent is one generated CloudTrail event.
type TrailEvent struct {
	Time      time.Time
	Service   string // "ec2.amazonaws.com"
	Name      string
	Region    string
	Account   string
	Source    string // an address or a service name
	Agent     string
	ErrorCode string
	ErrorMsg  string
	ReadOnly  bool
	Params    string // requestParameters, JSON
	Response  string // responseElements, JSON
	VPCE      string
	VPCEAcct  string
	InvokedBy string
	ID        string
	Principal *TrailPrincipal
	// Activity names the activity that made the event, "" for habits.
	Activity string
}

// GenerateTrail makes the events of a run, sorted by time.
func GenerateTrail(cfg TrailConfig) ([]TrailEvent, error) {
	if cfg.Account == "" {
		cfg.Account = "111122223333"
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	byName := map[string]*TrailPrincipal{}
	for i := range cfg.Principals {
		p := &cfg.Principals[i]
		if p.PerDay > 0 && (len(p.APIs) == 0 || len(p.From) == 0) {
			return nil, fmt.Errorf("principal %q makes calls every day: it needs APIs and From", p.Name)
		}
		byName[p.Name] = p
	}
	var out []TrailEvent
	add := func(e TrailEvent) bool {
		if cfg.MaxEvents > 0 && len(out) >= cfg.MaxEvents {
			return false
		}
		if e.Region == "" {
			e.Region = cfg.Region
		}
		e.Account = cfg.Account
		e.ID = eventID(rng)
		out = append(out, e)
		return true
	}
	for day := 0; day < cfg.Days; day++ {
		date := cfg.Start.AddDate(0, 0, day)
		for i := range cfg.Principals {
			p := &cfg.Principals[i]
			if p.Weekdays && (date.Weekday() == time.Saturday || date.Weekday() == time.Sunday) {
				continue
			}
			from, to := p.Hours[0], p.Hours[1]
			if from == 0 && to == 0 {
				to = 24
			}
			n := max(0, int(float64(p.PerDay)*(0.7+0.6*rng.Float64())))
			for range n {
				at := date.Add(time.Duration(from)*time.Hour + time.Duration(rng.Int64N(int64(time.Duration(to-from)*time.Hour))))
				at = at.Truncate(time.Second)
				api := pickAPI(rng, p.APIs, p.Weights)
				e := trailCall(p, api, at, p.From[rng.IntN(len(p.From))].String(), p.Agent)
				if rng.Float64() < p.ErrorRate {
					e.ErrorCode, e.ErrorMsg = "AccessDenied", "User is not authorized to perform this operation"
				}
				if !add(e) {
					break
				}
			}
		}
	}
	for _, a := range cfg.Activities {
		p := a.Principal
		if p == nil {
			if p = byName[a.Who]; p == nil {
				return nil, fmt.Errorf("activity %q: no principal %q", a.Name, a.Who)
			}
		}
		n := max(a.Calls, len(a.APIs))
		from := a.From
		if !from.IsValid() && len(p.From) > 0 {
			from = p.From[0]
		}
		agent := orDefault(a.Agent, p.Agent)
		for i := range n {
			at := a.At
			if a.Over > 0 {
				at = at.Add(time.Duration(int64(a.Over) * int64(i) / int64(n)))
			}
			e := trailCall(p, a.APIs[i%len(a.APIs)], at.Truncate(time.Second), from.String(), agent)
			e.Activity, e.Params, e.Response = a.Name, a.Params, a.Response
			if a.VPCEndpoint != "" {
				e.VPCE, e.VPCEAcct = a.VPCEndpoint, a.VPCEndpointAccount
			}
			if a.InvokedBy != "" {
				e.InvokedBy, e.Source = a.InvokedBy, a.InvokedBy
			}
			if p.Kind == "service" {
				e.Source, e.Agent = p.Name, p.Name
			}
			if a.Denied > 0 && rng.Float64() < a.Denied {
				e.ErrorCode, e.ErrorMsg = orDefault(a.ErrorCode, "AccessDenied"), orDefault(a.ErrorMessage, "not authorized")
			}
			if !add(e) {
				break
			}
		}
	}
	slices.SortStableFunc(out, func(a, b TrailEvent) int { return a.Time.Compare(b.Time) })
	return out, nil
}

func pickAPI(rng *rand.Rand, apis []string, weights []float64) string {
	if len(weights) != len(apis) {
		return apis[rng.IntN(len(apis))]
	}
	var total float64
	for _, w := range weights {
		total += w
	}
	x := rng.Float64() * total
	for i, w := range weights {
		if x < w {
			return apis[i]
		}
		x -= w
	}
	return apis[len(apis)-1]
}

func trailCall(p *TrailPrincipal, api string, at time.Time, from, agent string) TrailEvent {
	svc, name, ok := strings.Cut(api, ":")
	if !ok {
		svc, name = "ec2", api
	}
	return TrailEvent{
		Time: at, Service: svc + ".amazonaws.com", Name: name, Source: from, Agent: agent, Region: p.Region,
		ReadOnly: readVerb(name), VPCE: p.VPCEndpoint, Principal: p,
	}
}

func readVerb(name string) bool {
	for _, v := range []string{"Describe", "List", "Get", "Head", "Lookup", "Search", "BatchGet"} {
		if strings.HasPrefix(name, v) {
			return true
		}
	}
	return false
}

func eventID(rng *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	h := fmt.Sprintf("%x", b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// keyID returns a deterministic access key ID for a principal.
func keyID(prefix, name string) string {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(name); i++ {
		h = (h ^ uint64(name[i])) * 1099511628211
	}
	s := strings.ToUpper(strconv.FormatUint(h, 36))
	return prefix + (s + "QQQQQQQQQQQQQQQQ")[:16]
}

// identity renders the userIdentity of an event.
func identity(e *TrailEvent) map[string]any {
	p := e.Principal
	acct := e.Account
	var id map[string]any
	switch p.Kind {
	case "service":
		return map[string]any{"type": "AWSService", "invokedBy": p.Name}
	case "root":
		id = map[string]any{"type": "Root", "principalId": acct, "arn": "arn:aws:iam::" + acct + ":root", "accountId": acct,
			"accessKeyId": keyID("ASIA", "root"+acct)}
	case "role", "instance":
		roleID := keyID("AROA", p.Name)
		session := p.Session
		if session == "" {
			session = "session"
		}
		sc := map[string]any{
			"sessionIssuer": map[string]any{"type": "Role", "principalId": roleID, "arn": "arn:aws:iam::" + acct + ":role/" + p.Name,
				"accountId": acct, "userName": p.Name},
			"attributes": map[string]any{"creationDate": e.Time.Add(-10 * time.Minute).Format(time.RFC3339), "mfaAuthenticated": "false"},
		}
		if p.Kind == "instance" {
			sc["ec2RoleDelivery"] = "2.0"
		}
		id = map[string]any{"type": "AssumedRole", "principalId": roleID + ":" + session,
			"arn": "arn:aws:sts::" + acct + ":assumed-role/" + p.Name + "/" + session, "accountId": acct,
			"accessKeyId": keyID("ASIA", p.Name+session), "sessionContext": sc}
	default:
		id = map[string]any{"type": "IAMUser", "principalId": keyID("AIDA", p.Name), "arn": "arn:aws:iam::" + acct + ":user/" + p.Name,
			"accountId": acct, "accessKeyId": keyID("AKIA", p.Name), "userName": p.Name}
	}
	if e.InvokedBy != "" {
		id["invokedBy"] = e.InvokedBy
	}
	if p.AccessKey != "" {
		id["accessKeyId"] = p.AccessKey
	}
	return id
}

// AppendTrailEvent appends e as CloudTrail event JSON.
func AppendTrailEvent(b []byte, e *TrailEvent) []byte {
	m := map[string]any{
		"eventVersion": "1.09", "userIdentity": identity(e), "eventTime": e.Time.UTC().Format(time.RFC3339),
		"eventSource": e.Service, "eventName": e.Name, "awsRegion": e.Region, "sourceIPAddress": e.Source,
		"userAgent": e.Agent, "requestParameters": nil, "responseElements": nil, "requestID": e.ID, "eventID": e.ID,
		"readOnly": e.ReadOnly, "eventType": "AwsApiCall", "managementEvent": true, "recipientAccountId": e.Account,
		"eventCategory": "Management",
	}
	if e.Params != "" {
		m["requestParameters"] = json.RawMessage(e.Params)
	}
	if e.ErrorCode != "" {
		m["errorCode"], m["errorMessage"] = e.ErrorCode, e.ErrorMsg
	}
	if e.Response != "" {
		m["responseElements"] = json.RawMessage(e.Response)
	}
	if e.VPCE != "" {
		m["vpcEndpointId"] = e.VPCE
		if e.VPCEAcct != "" {
			m["vpcEndpointAccountId"] = e.VPCEAcct
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		panic("synth: encoding a CloudTrail event: " + err.Error()) // only JSON-safe values above
	}
	return append(b, bytes.TrimRight(buf.Bytes(), "\n")...)
}

// WriteTrail writes events as one CloudTrail log file, as CloudTrail
// delivers them to S3: {"Records":[...]}.
func WriteTrail(w io.Writer, events []TrailEvent) error {
	b := []byte(`{"Records":[`)
	for i := range events {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendTrailEvent(b, &events[i])
		if len(b) > 1<<20 {
			if _, err := w.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	b = append(b, "]}\n"...)
	_, err := w.Write(b)
	return err
}

// DiscoveryAPIs are discovery calls across services, in the order an
// enumeration tool such as Pacu or ScoutSuite makes them.
var DiscoveryAPIs = []string{
	"sts:GetCallerIdentity", "iam:GetAccountAuthorizationDetails", "iam:ListUsers", "iam:ListRoles", "iam:ListGroups",
	"iam:ListPolicies", "iam:ListAttachedUserPolicies", "iam:ListUserPolicies", "iam:GetUser", "iam:ListAccessKeys",
	"iam:ListMFADevices", "iam:GetAccountSummary", "iam:ListInstanceProfiles", "iam:GetAccountPasswordPolicy",
	"ec2:DescribeInstances", "ec2:DescribeSecurityGroups", "ec2:DescribeVpcs", "ec2:DescribeSubnets", "ec2:DescribeRegions",
	"ec2:DescribeSnapshots", "ec2:DescribeVolumes", "ec2:DescribeImages", "ec2:DescribeKeyPairs", "ec2:DescribeNetworkAcls",
	"ec2:DescribeRouteTables", "ec2:DescribeInternetGateways", "ec2:DescribeNatGateways", "ec2:DescribeAddresses",
	"ec2:DescribeLaunchTemplates", "ec2:DescribeFlowLogs", "s3:ListBuckets", "s3:GetBucketPolicy", "s3:GetBucketAcl",
	"s3:GetBucketLocation", "s3:GetBucketLogging", "s3:GetBucketVersioning", "s3:GetPublicAccessBlock", "lambda:ListFunctions",
	"lambda:GetFunction", "lambda:ListLayers", "rds:DescribeDBInstances", "rds:DescribeDBSnapshots", "rds:DescribeDBClusters",
	"dynamodb:ListTables", "dynamodb:DescribeTable", "secretsmanager:ListSecrets", "ssm:DescribeParameters",
	"ssm:DescribeInstanceInformation", "kms:ListKeys", "kms:ListAliases", "cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus",
	"cloudtrail:GetEventSelectors", "guardduty:ListDetectors", "guardduty:GetDetector", "config:DescribeConfigurationRecorders",
	"logs:DescribeLogGroups", "sns:ListTopics", "sqs:ListQueues", "ecr:DescribeRepositories", "ecs:ListClusters",
	"eks:ListClusters", "elasticloadbalancing:DescribeLoadBalancers", "autoscaling:DescribeAutoScalingGroups",
	"cloudformation:ListStacks", "route53:ListHostedZones", "organizations:DescribeOrganization", "acm:ListCertificates",
	"apigateway:GetRestApis", "cloudfront:ListDistributions", "elasticbeanstalk:DescribeEnvironments",
	"sagemaker:ListNotebookInstances", "glue:GetDatabases", "athena:ListWorkGroups", "codebuild:ListProjects",
	"codecommit:ListRepositories", "kinesis:ListStreams", "redshift:DescribeClusters", "es:ListDomainNames",
	"backup:ListBackupVaults", "waf:ListWebACLs", "inspector2:ListFindings", "securityhub:DescribeHub",
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
