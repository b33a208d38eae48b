package iamanomaly

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"picket/internal/detect"
	"picket/internal/detect/trail"
	"picket/internal/event"
	"picket/internal/finding"
)

// The tests of this file build an account's calls by hand: principals
// with habits (networks, a tool, working hours, the APIs of their job)
// over days, and one-off activities over them, then run the detector as
// the engine does, advancing the watermark at every window.

const acct = "111122223333"

// The networks the tests' enrichment knows.
var nets = []struct {
	prefix netip.Prefix
	info   event.IPInfo
}{
	{netip.MustParsePrefix("198.51.100.0/24"), event.IPInfo{ASN: 64500, ASOrg: event.Intern("ACME-CORP"), CountryCode: event.Intern("DE")}},
	{netip.MustParsePrefix("3.80.0.0/12"), event.IPInfo{ASN: 16509, ASOrg: event.Intern("AMAZON-02"), CountryCode: event.Intern("US")}},
	{netip.MustParsePrefix("203.0.113.0/24"), event.IPInfo{ASN: 64496, ASOrg: event.Intern("EXAMPLE-VPS"), CountryCode: event.Intern("RU")}},
}

func infoOf(a netip.Addr) event.IPInfo {
	for _, n := range nets {
		if n.prefix.Contains(a) {
			return n.info
		}
	}
	return event.IPInfo{}
}

// The user agents of the tests.
const (
	uaCLI   = "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.ubuntu.22"
	uaBoto  = "Boto3/1.34.0 Python/3.12.1 Linux/6.5.0 Botocore/1.34.0"
	uaGo    = "aws-sdk-go-v2/1.24.0 os/linux lang/go#1.22"
	uaKali  = "aws-cli/2.13.0 Python/3.11.4 Linux/6.5.0-kali3-amd64 exe/x86_64.kali.2023 prompt/off"
	uaKali2 = "aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/linux#6.6.9-kali-amd64 md/arch#x86_64 lang/python#3.11.8 md/installer#exe distrib#kali.2023 md/prompt#off"
)

var (
	office   = netip.MustParseAddr("198.51.100.10")
	aws      = netip.MustParseAddr("3.80.10.5")
	vps      = netip.MustParseAddr("203.0.113.66")
	start    = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC) // a Monday
	attackAt = start.Add(15*24*time.Hour + 3*time.Hour + 5*time.Minute)
)

// api is a call to make: "svc:Name", with request parameters.
type api struct {
	name, params string
}

func apis(names ...string) []api {
	out := make([]api, len(names))
	for i, n := range names {
		out[i] = api{name: n}
	}
	return out
}

// who is a principal of the tests.
type who struct {
	name string
	role bool
}

func (w who) identity() event.Identity {
	if w.role {
		role := "arn:aws:iam::" + acct + ":role/" + w.name
		return event.Identity{Type: event.IdentityAssumedRole, AccountID: event.Intern(acct),
			ARN: event.Intern("arn:aws:sts::" + acct + ":assumed-role/" + w.name + "/run"), PrincipalID: event.Intern("AROAEXAMPLE:run"),
			AccessKeyID: event.Intern("ASIAEXAMPLE"),
			Session:     event.Session{Issuer: event.SessionIssuer{ARN: event.Intern(role), UserName: event.Intern(w.name)}}}
	}
	return event.Identity{Type: event.IdentityIAMUser, AccountID: event.Intern(acct), UserName: event.Intern(w.name),
		ARN: event.Intern("arn:aws:iam::" + acct + ":user/" + w.name), PrincipalID: event.Intern("AIDA" + strings.ToUpper(w.name)),
		AccessKeyID: event.Intern("AKIA" + strings.ToUpper(w.name))}
}

var line int64

func mkCall(w who, t time.Time, a api, src netip.Addr, ua string) *event.APICall {
	svc, name, _ := strings.Cut(a.name, ":")
	line++
	c := &event.APICall{
		Origin: event.Origin{File: event.Intern("trail.json"), Line: line}, EventTime: event.Time(t.Unix()),
		EventSource: event.Intern(svc + ".amazonaws.com"), EventName: event.Intern(name), Region: event.Intern("us-east-1"),
		Account: event.Intern(acct), SourceIP: src, SourceInfo: infoOf(src), UserAgent: event.Intern(ua), Identity: w.identity(),
	}
	if a.params != "" {
		c.RequestParameters = []byte(a.params)
	}
	return c
}

// habit is a principal's routine: perDay calls spread over the hours
// [from, to) of every day (weekdays only if weekdays), cycling through its
// APIs, from its address with its tool.
type habit struct {
	who              who
	apis             []api
	src              netip.Addr
	ua               string
	from, to, perDay int
	days, firstDay   int
	weekdays         bool
}

func (h habit) calls() []*event.APICall {
	var out []*event.APICall
	i := 0
	for day := h.firstDay; day < h.firstDay+h.days; day++ {
		date := start.Add(time.Duration(day) * 24 * time.Hour)
		if wd := date.Weekday(); h.weekdays && (wd == time.Saturday || wd == time.Sunday) {
			continue
		}
		span := time.Duration(h.to-h.from) * time.Hour
		for n := range h.perDay {
			t := date.Add(time.Duration(h.from)*time.Hour + span*time.Duration(n)/time.Duration(h.perDay))
			out = append(out, mkCall(h.who, t, h.apis[i%len(h.apis)], h.src, h.ua))
			i++
		}
	}
	return out
}

// burst is calls of the given APIs, one after the other every step from
// at, repeated reps times.
func burst(w who, at time.Time, step time.Duration, src netip.Addr, ua string, reps int, as []api) []*event.APICall {
	var out []*event.APICall
	for r := range reps {
		for i, a := range as {
			out = append(out, mkCall(w, at.Add(time.Duration(r*len(as)+i)*step), a, src, ua))
		}
	}
	return out
}

// run runs a detector over the calls in event-time order, advancing the
// watermark to the start of each call's window as the engine would.
func run(t *testing.T, d *Detector, calls []*event.APICall) []*finding.Finding {
	t.Helper()
	slices.SortStableFunc(calls, func(a, b *event.APICall) int { return cmp.Compare(a.EventTime, b.EventTime) })
	set := finding.NewSet()
	emit := func(f *finding.Finding) { set.Add(f) }
	var open event.Time
	for _, c := range calls {
		if w := c.EventTime - c.EventTime%d.window; w > open {
			d.Advance(w, emit)
			open = w
		}
		d.Observe(c, emit)
	}
	d.Advance(event.Forever, emit)
	return set.Sorted()
}

func newDetector(t *testing.T, th map[string]float64) *Detector {
	t.Helper()
	d, err := New(detect.Env{DetectorID: finding.DetectorID, Thresholds: th})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// summaries lists findings as "type principal=name kind=K severity=S".
func summaries(fs []*finding.Finding) []string {
	var out []string
	for _, f := range fs {
		kind := ""
		if ai := f.Service.AdditionalInfo; ai != nil && ai.Explanation != nil {
			kind = ai.Explanation.Kind
		}
		out = append(out, fmt.Sprintf("%s principal=%s kind=%s severity=%s", f.Type, f.Resource.AccessKeyDetails.UserName, kind, f.Severity.Label()))
	}
	slices.Sort(out)
	return out
}

// The account's principals: a developer on weekdays, an admin whose job
// is users and policies, and an automation role around the clock.
var (
	dev   = who{name: "alice"}
	admin = who{name: "adam"}
	robot = who{name: "etl", role: true}
)

func routine(days int) []*event.APICall {
	var out []*event.APICall
	out = append(out, habit{who: dev, src: office, ua: uaCLI, from: 8, to: 18, perDay: 60, days: days, weekdays: true,
		apis: apis("ec2:DescribeInstances", "ec2:DescribeSecurityGroups", "s3:ListBuckets", "s3:GetObject", "s3:PutObject",
			"logs:DescribeLogGroups", "logs:GetLogEvents", "lambda:ListFunctions", "lambda:GetFunction", "sts:GetCallerIdentity")}.calls()...)
	out = append(out, habit{who: admin, src: office, ua: uaCLI, from: 9, to: 17, perDay: 30, days: days, weekdays: true,
		apis: []api{{name: "iam:ListUsers"}, {name: "iam:CreateUser"}, {name: "iam:CreateLoginProfile"}, {name: "iam:AttachUserPolicy"},
			{name: "iam:CreateAccessKey", params: `{"userName":"new-hire"}`}, {name: "iam:AddUserToGroup"}, {name: "iam:GetUser"}}}.calls()...)
	out = append(out, habit{who: robot, src: aws, ua: uaGo, from: 0, to: 24, perDay: 96, days: days,
		apis: apis("s3:PutObject", "sqs:SendMessage", "dynamodb:PutItem")}.calls()...)
	return out
}

// attacks are, per tactic, what a stolen key does.
var attacks = map[trail.Tactic][]api{
	trail.TacticCredentialAccess: {{name: "secretsmanager:GetSecretValue"}, {name: "ssm:GetParameter", params: `{"name":"/prod/db","withDecryption":true}`},
		{name: "ec2:GetPasswordData"}},
	trail.TacticDefenseEvasion: {{name: "cloudtrail:StopLogging"}, {name: "guardduty:UpdateDetector", params: `{"enable":false}`}, {name: "ec2:DeleteFlowLogs"}},
	trail.TacticDiscovery: apis("iam:ListUsers", "iam:ListRoles", "iam:ListPolicies", "iam:GetAccountAuthorizationDetails", "ec2:DescribeVpcs",
		"ec2:DescribeSubnets", "rds:DescribeDBInstances", "secretsmanager:ListSecrets", "kms:ListKeys", "organizations:DescribeOrganization"),
	trail.TacticExfiltration: {{name: "ec2:ModifySnapshotAttribute", params: `{"snapshotId":"snap-1","createVolumePermission":{"add":{"items":[{"userId":"444455556666"}]}}}`},
		{name: "s3:PutBucketReplication"}},
	trail.TacticImpact:              {{name: "kms:ScheduleKeyDeletion"}, {name: "s3:DeleteBucket"}},
	trail.TacticInitialAccess:       apis("sts:GetSessionToken"),
	trail.TacticPersistence:         apis("iam:CreateUser", "iam:CreateRole", "ec2:ImportKeyPair"),
	trail.TacticPrivilegeEscalation: apis("iam:AttachRolePolicy", "iam:PutRolePolicy", "iam:AddUserToGroup"),
}

// TestTacticAnomalies: a developer's key, two weeks into a mature
// profile, used at 3 a.m. from a VPS with Kali's aws-cli for the calls of
// one tactic, gets that tactic's finding and no other; the admin, whose
// job those calls are, doing them as usual gets nothing.
func TestTacticAnomalies(t *testing.T) {
	for tac := range trail.NumTactics {
		t.Run(tac.String(), func(t *testing.T) {
			calls := routine(16)
			reps := 3
			calls = append(calls, burst(dev, attackAt, 4*time.Second, vps, uaKali, reps, attacks[tac])...)
			got := summaries(run(t, newDetector(t, nil), calls))
			ft, _ := finding.Lookup(tacticTypes[tac])
			// API, location, user agent and hour: four factors raise the
			// type's severity a level.
			want := []string{tacticTypes[tac] + " principal=alice kind=profile severity=" + raise(ft.Severity).Label()}
			if !slices.Equal(got, want) {
				t.Errorf("findings\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// TestTacticAnomalyExplained checks the explanation and the anomaly of
// a persistence finding.
func TestTacticAnomalyExplained(t *testing.T) {
	calls := append(routine(16), burst(dev, attackAt, 4*time.Second, vps, uaKali, 2, attacks[trail.TacticPersistence])...)
	fs := run(t, newDetector(t, nil), calls)
	if len(fs) != 1 {
		t.Fatalf("findings %v", summaries(fs))
	}
	f := fs[0]
	exp := f.Service.AdditionalInfo.Explanation
	if exp.Counts["persistence_calls"] != 6 || exp.Counts["distinct_persistence_apis"] != 3 || exp.Counts["unusual_factors"] != 4 {
		t.Errorf("counts %v", exp.Counts)
	}
	for _, want := range []string{"API: 3 of 3 persistence APIs never called before", "ASN: network AS64496 EXAMPLE-VPS unseen",
		"userAgent: user agent family aws-cli+kali unseen", "hourOfDay: active at 3:00 UTC"} {
		if !slices.ContainsFunc(exp.Unusual, func(s string) bool { return strings.HasPrefix(s, want) }) {
			t.Errorf("unusual %q lacks %q", exp.Unusual, want)
		}
	}
	an := f.Service.Detection.Anomaly
	ub := an.Unusual.Behavior["identity"]
	for _, feature := range []string{"API", "ASN", "country", "userAgent", "hourOfDay"} {
		if _, ok := ub[feature]; !ok {
			t.Errorf("unusual.behavior lacks %s: %v", feature, ub)
		}
	}
	if got := ub["userAgent"].Observations.Text; !slices.Equal(got, []string{"aws-cli+kali"}) {
		t.Errorf("unusual user agent %v", got)
	}
	if len(an.Profiles["identity"]["userAgent"]) == 0 || an.Profiles["account"] != nil {
		t.Errorf("profiles %v", an.Profiles)
	}
	if f.Service.Action.AwsAPICallAction.API != "ImportKeyPair" {
		t.Errorf("latest API %q", f.Service.Action.AwsAPICallAction.API)
	}
}

// TestUsualBehaviourQuiet: weeks of every principal's routine, including
// the admin creating users and attaching policies every day, raise
// nothing; nor does a new API called from the usual place and tool.
func TestUsualBehaviourQuiet(t *testing.T) {
	calls := routine(28)
	// A new job for the developer, from the office, in working hours.
	calls = append(calls, burst(dev, start.Add(22*24*time.Hour+11*time.Hour), time.Minute, office, uaCLI, 2,
		append(attacks[trail.TacticPersistence], attacks[trail.TacticDiscovery]...))...)
	if got := summaries(run(t, newDetector(t, nil), calls)); len(got) != 0 {
		t.Errorf("findings:\n%s", strings.Join(got, "\n"))
	}
}

// quietStory is the quiet principal's story: a reporting key used 44
// times over ten days from the office with boto3, then, at 3 a.m., from
// a VPS with Kali's aws-cli, 25 distinct discovery APIs across 12
// services in 96 seconds.
func quietStory() []*event.APICall {
	quiet := who{name: "svc-report"}
	calls := routine(20)
	calls = append(calls, habit{who: quiet, src: office, ua: uaBoto, from: 10, to: 11, perDay: 4, days: 11, firstDay: 3,
		apis: apis("s3:ListBuckets", "s3:GetObject", "s3:PutObject", "athena:StartQueryExecution")}.calls()[:44]...)
	recon := apis("sts:GetCallerIdentity", "iam:ListUsers", "iam:ListRoles", "iam:ListPolicies", "iam:GetAccountAuthorizationDetails",
		"ec2:DescribeInstances", "ec2:DescribeVpcs", "ec2:DescribeSecurityGroups", "s3:ListBuckets", "s3:GetBucketPolicy",
		"rds:DescribeDBInstances", "rds:DescribeDBClusters", "lambda:ListFunctions", "lambda:GetFunction", "secretsmanager:ListSecrets",
		"kms:ListKeys", "kms:DescribeKey", "dynamodb:ListTables", "dynamodb:DescribeTable", "cloudtrail:DescribeTrails",
		"cloudtrail:GetTrailStatus", "organizations:DescribeOrganization", "organizations:ListAccounts", "sns:ListTopics", "ec2:DescribeSubnets")
	at := start.Add(16*24*time.Hour + 3*time.Hour + 10*time.Second)
	calls = append(calls, burst(quiet, at, 4*time.Second, vps, uaKali2, 1, recon)...)
	return calls
}

// TestThinHistory: the quiet principal is judged against its account.
func TestThinHistory(t *testing.T) {
	calls := quietStory()
	services := map[string]bool{}
	discovery := map[string]bool{}
	for _, c := range calls {
		if c.Identity.UserName.String() == "svc-report" && c.SourceIP == vps {
			services[c.EventSource.String()] = true
			discovery[c.EventName.String()] = trail.Discovery(c.EventName.String())
		}
	}
	if len(services) != 12 || len(discovery) != 25 {
		t.Fatalf("the story has %d services, %d APIs", len(services), len(discovery))
	}
	d := newDetector(t, nil)
	fs := run(t, d, calls)
	// API, location and user agent: the automation role works around the
	// clock, so 3 a.m. is no rare hour for the account.
	want := []string{finding.TypeDiscoveryAnomalous + " principal=svc-report kind=account-profile severity=Low"}
	if got := summaries(fs); !slices.Equal(got, want) {
		t.Fatalf("findings\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	f := fs[0]
	exp := f.Service.AdditionalInfo.Explanation
	if exp.Counts["profile_calls"] != 44 || exp.Counts["account_profile_calls"] < 1000 {
		t.Errorf("counts %v", exp.Counts)
	}
	for _, want := range []string{"API: ", "ASN: network AS64496 EXAMPLE-VPS never used by the principal nor by any principal of its account",
		"userAgent: user agent family aws-cli+kali never used"} {
		if !slices.ContainsFunc(exp.Unusual, func(s string) bool { return strings.HasPrefix(s, want) }) {
			t.Errorf("unusual %q lacks %q", exp.Unusual, want)
		}
	}
	if f.Service.Detection.Anomaly.Profiles["account"] == nil {
		t.Error("no account profile in the anomaly")
	}
	if got := f.Service.EventLastSeen.Sub(f.Service.EventFirstSeen.Time); got != 96*time.Second {
		t.Errorf("first to last seen %v, want 96s", got)
	}

	t.Run("off", func(t *testing.T) {
		if got := summaries(run(t, newDetector(t, map[string]float64{"thin_principals": 0}), quietStory())); len(got) != 0 {
			t.Errorf("findings with thin_principals=0: %v", got)
		}
	})
	t.Run("usual", func(t *testing.T) {
		// The quiet principal's next use is like its others.
		calls := routine(20)
		calls = append(calls, habit{who: who{name: "svc-report"}, src: office, ua: uaBoto, from: 10, to: 11, perDay: 4, days: 14, firstDay: 3,
			apis: apis("s3:ListBuckets", "s3:GetObject", "s3:PutObject", "athena:StartQueryExecution")}.calls()...)
		if got := summaries(run(t, newDetector(t, nil), calls)); len(got) != 0 {
			t.Errorf("findings: %v", got)
		}
	})
	t.Run("young account", func(t *testing.T) {
		// The same story in an account watched for less than the
		// baseline: nothing to judge against.
		var young []*event.APICall
		cut := event.Time(start.Add(12 * 24 * time.Hour).Unix())
		for _, c := range quietStory() {
			if c.EventTime >= cut {
				young = append(young, c)
			}
		}
		if got := summaries(run(t, newDetector(t, nil), young)); len(got) != 0 {
			t.Errorf("findings: %v", got)
		}
	})
}

// TestAccountsBounded: the table of account profiles keeps its cap and
// counts what it evicts.
func TestAccountsBounded(t *testing.T) {
	d := newDetector(t, map[string]float64{"max_accounts": 1})
	var calls []*event.APICall
	for i := range 40 {
		c := mkCall(dev, start.Add(time.Duration(i)*time.Hour), api{name: "s3:ListBuckets"}, office, uaCLI)
		a := event.Intern(fmt.Sprintf("2222333344%02d", i))
		c.Account, c.Identity.AccountID = a, a
		calls = append(calls, c)
	}
	run(t, d, calls)
	st := d.State()[1]
	if st.Table != "accounts" || st.Len > st.Cap || st.Evicted == 0 {
		t.Errorf("accounts table %+v", st)
	}
}

// TestStateKeepsAccounts: the accounts' profiles survive a save and a
// restore.
func TestStateKeepsAccounts(t *testing.T) {
	d := newDetector(t, nil)
	run(t, d, routine(3))
	b, err := d.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	d2 := newDetector(t, nil)
	if err := d2.UnmarshalState(b); err != nil {
		t.Fatal(err)
	}
	a, a2 := d.accounts.Peek(event.Intern(acct)), d2.accounts.Peek(event.Intern(acct))
	if a == nil || a2 == nil || a.Calls != a2.Calls || a.Calls == 0 {
		t.Errorf("account profile before %v, after %v", a, a2)
	}
}
