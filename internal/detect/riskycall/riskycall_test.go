package riskycall

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"picket/internal/detect"
	"picket/internal/event"
	"picket/internal/finding"
)

const account = "111122223333"

var t0 = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)

// call is an IAM user's call of service:api at t0+sec with params.
func call(user, api, params string, sec int) *event.APICall {
	service, name, _ := strings.Cut(api, ":")
	return &event.APICall{
		Origin:      event.Origin{File: event.Intern("trail.json"), Line: int64(sec + 1)},
		EventTime:   event.TimeOf(t0.Add(time.Duration(sec) * time.Second)),
		EventSource: event.Intern(service + ".amazonaws.com"), EventName: event.Intern(name),
		Region: event.Intern("eu-west-1"), Account: event.Intern(account),
		SourceIP:          netip.MustParseAddr("198.51.100.7"),
		UserAgent:         event.Intern("aws-cli/2.15.0"),
		RequestParameters: []byte(params),
		Identity: event.Identity{
			Type: event.IdentityIAMUser, ARN: event.Intern("arn:aws:iam::" + account + ":user/" + user),
			AccountID: event.Intern(account), UserName: event.Intern(user), PrincipalID: event.Intern("AIDA" + strings.ToUpper(user)),
			AccessKeyID: event.Intern("AKIAEXAMPLE" + strings.ToUpper(user)),
		},
	}
}

// run observes the calls and returns the findings, as "type kind".
func run(t *testing.T, env detect.Env, calls ...*event.APICall) []string {
	t.Helper()
	if env.DetectorID == nil {
		env.DetectorID = finding.DetectorID
	}
	d, err := New(env)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	emit := func(f *finding.Finding) {
		exp := f.Service.AdditionalInfo.Explanation
		out = append(out, f.Type+" "+f.Resource.AccessKeyDetails.UserName+" "+exp.Kind)
		if strings.Contains(f.Description, "{") || !strings.Contains(f.Description, "risky whatever its history") {
			t.Errorf("description %q", f.Description)
		}
	}
	for _, c := range calls {
		d.Observe(c, emit)
	}
	d.Advance(event.Forever, emit)
	return out
}

const backdoorTrust = `{"policyDocument":"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::999988887777:root\"},\"Action\":\"sts:AssumeRole\"}]}","roleName":"ops"}`
const ownTrust = `{"policyDocument":"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::111122223333:root\"},\"Action\":\"sts:AssumeRole\"}]}","roleName":"ops"}`
const conditionedTrust = `{"assumeRolePolicyDocument":{"Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-abc"}}}},"roleName":"ops"}`

func TestRiskyCalls(t *testing.T) {
	secrets := func(n int) []*event.APICall {
		var cs []*event.APICall
		for i := range n {
			cs = append(cs, call("eve", "secretsmanager:GetSecretValue", `{"secretId":"app/secret-`+string(rune('a'+i))+`"}`, i*10))
		}
		return cs
	}
	cases := []struct {
		name  string
		calls []*event.APICall
		want  string // "" for none
	}{
		{"a key for another user", []*event.APICall{call("eve", "iam:CreateAccessKey", `{"userName":"bob"}`, 0)}, "Persistence:IAMUser/AnomalousBehavior eve risky-call"},
		{"a key for oneself", []*event.APICall{call("eve", "iam:CreateAccessKey", `{"userName":"eve"}`, 0)}, ""},
		{"a key with no user named", []*event.APICall{call("eve", "iam:CreateAccessKey", `{}`, 0)}, ""},
		{"a role opened to another account", []*event.APICall{call("eve", "iam:UpdateAssumeRolePolicy", backdoorTrust, 0)}, "Persistence:IAMUser/AnomalousBehavior eve risky-call"},
		{"a role opened to its own account", []*event.APICall{call("eve", "iam:UpdateAssumeRolePolicy", ownTrust, 0)}, ""},
		{"a role opened to everyone in the organization", []*event.APICall{call("eve", "iam:CreateRole", conditionedTrust, 0)}, ""},
		{"AdministratorAccess attached", []*event.APICall{call("eve", "iam:AttachUserPolicy", `{"policyArn":"arn:aws:iam::aws:policy/AdministratorAccess","userName":"x"}`, 0)},
			"PrivilegeEscalation:IAMUser/AnomalousBehavior eve risky-call"},
		{"a read-only policy attached", []*event.APICall{call("eve", "iam:AttachUserPolicy", `{"policyArn":"arn:aws:iam::aws:policy/ReadOnlyAccess","userName":"x"}`, 0)}, ""},
		{"a customer policy named AdministratorAccess", []*event.APICall{call("eve", "iam:AttachRolePolicy", `{"policyArn":"arn:aws:iam::111122223333:policy/AdministratorAccess"}`, 0)}, ""},
		{"a snapshot shared with another account", []*event.APICall{call("eve", "ec2:ModifySnapshotAttribute",
			`{"createVolumePermission":{"add":{"items":[{"userId":"999988887777"}]}},"snapshotId":"snap-1"}`, 0)}, "Exfiltration:IAMUser/AnomalousBehavior eve risky-call"},
		{"a snapshot made public", []*event.APICall{call("eve", "ec2:ModifySnapshotAttribute",
			`{"createVolumePermission":{"add":{"items":[{"group":"all"}]}},"snapshotId":"snap-1"}`, 0)}, "Exfiltration:IAMUser/AnomalousBehavior eve risky-call"},
		{"a snapshot unshared", []*event.APICall{call("eve", "ec2:ModifySnapshotAttribute",
			`{"createVolumePermission":{"remove":{"items":[{"userId":"999988887777"}]}},"snapshotId":"snap-1"}`, 0)}, ""},
		{"a database snapshot shared", []*event.APICall{call("eve", "rds:ModifyDBSnapshotAttribute", `{"attributeName":"restore","valuesToAdd":["999988887777"]}`, 0)},
			"Exfiltration:IAMUser/AnomalousBehavior eve risky-call"},
		{"SSH open to the internet", []*event.APICall{call("eve", "ec2:AuthorizeSecurityGroupIngress",
			`{"groupId":"sg-1","ipPermissions":{"items":[{"ipProtocol":"tcp","fromPort":22,"toPort":22,"ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]}}]}}`, 0)},
			"Exfiltration:IAMUser/AnomalousBehavior eve risky-call"},
		{"HTTPS open to the internet", []*event.APICall{call("eve", "ec2:AuthorizeSecurityGroupIngress",
			`{"groupId":"sg-1","ipPermissions":{"items":[{"ipProtocol":"tcp","fromPort":443,"toPort":443,"ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]}}]}}`, 0)}, ""},
		{"SSH open to the office", []*event.APICall{call("eve", "ec2:AuthorizeSecurityGroupIngress", `{"cidrIp":"198.51.100.0/24","fromPort":22,"toPort":22}`, 0)}, ""},
		{"a public function", []*event.APICall{call("eve", "lambda:AddPermission20150331v2", `{"functionName":"f","principal":"*","action":"lambda:InvokeFunction"}`, 0)},
			"Persistence:IAMUser/AnomalousBehavior eve risky-call"},
		{"a function for one bucket", []*event.APICall{call("eve", "lambda:AddPermission20150331v2",
			`{"functionName":"f","principal":"s3.amazonaws.com","sourceArn":"arn:aws:s3:::b"}`, 0)}, ""},
		{"a federation token with every right", []*event.APICall{call("eve", "sts:GetFederationToken",
			`{"name":"x","policy":"{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}]}"}`, 0)}, "Persistence:IAMUser/AnomalousBehavior eve risky-call"},
		{"ten secrets in minutes", secrets(10), "CredentialAccess:IAMUser/AnomalousBehavior eve risky-call"},
		{"an application's three secrets", secrets(3), ""},
		{"one secret read again and again", func() []*event.APICall {
			var cs []*event.APICall
			for i := range 20 {
				cs = append(cs, call("eve", "secretsmanager:GetSecretValue", `{"secretId":"app/db"}`, i))
			}
			return cs
		}(), ""},
	}
	for _, tc := range cases {
		got := run(t, detect.Env{}, tc.calls...)
		switch {
		case tc.want == "" && len(got) != 0:
			t.Errorf("%s: %v, want nothing", tc.name, got)
		case tc.want != "" && (len(got) != 1 || got[0] != tc.want):
			t.Errorf("%s: %v, want %s", tc.name, got, tc.want)
		}
	}
}

// A console sign-in with a password alone is reported; with MFA, or by
// the root user (rootusage's), it is not. Failed calls are not risky;
// principals on the allowlist are not reported.
func TestSignInsFailuresAllowlist(t *testing.T) {
	login := func(mfa string) *event.APICall {
		c := call("eve", "signin:ConsoleLogin", `null`, 0)
		c.AdditionalEventData = []byte(`{"MFAUsed":"` + mfa + `"}`)
		return c
	}
	if got := run(t, detect.Env{}, login("No")); len(got) != 1 || !strings.HasPrefix(got[0], "InitialAccess:IAMUser/AnomalousBehavior") {
		t.Errorf("password alone: %v", got)
	}
	if got := run(t, detect.Env{}, login("Yes")); len(got) != 0 {
		t.Errorf("with MFA: %v", got)
	}
	failed := call("eve", "iam:CreateAccessKey", `{"userName":"bob"}`, 0)
	failed.ErrorCode = event.Intern("AccessDenied")
	if got := run(t, detect.Env{}, failed); len(got) != 0 {
		t.Errorf("refused: %v", got)
	}
	allowed := detect.Env{Allowlists: map[string][]string{"allowed_principals": {"eve"}}}
	if got := run(t, allowed, call("eve", "iam:CreateAccessKey", `{"userName":"bob"}`, 0)); len(got) != 0 {
		t.Errorf("allowed principal: %v", got)
	}
}

// Refused or not, GetPasswordData again and again is a probe.
func TestProbe(t *testing.T) {
	var cs []*event.APICall
	for i := range 12 {
		c := call("eve", "ec2:GetPasswordData", `{"instanceId":"i-1"}`, i*5)
		c.EventID = []byte{byte(i)}
		c.ErrorCode = event.Intern("Client.UnauthorizedOperation")
		cs = append(cs, c)
	}
	if got := run(t, detect.Env{}, cs...); len(got) != 1 || !strings.HasPrefix(got[0], "CredentialAccess:") {
		t.Errorf("12 refused GetPasswordData: %v", got)
	}
	if got := run(t, detect.Env{}, cs[:3]...); len(got) != 0 {
		t.Errorf("3 GetPasswordData: %v", got)
	}
}

func TestDefaultRules(t *testing.T) {
	rules, err := parseRules(riskyFile, "risky.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) < 25 {
		t.Errorf("%d rules", len(rules))
	}
}

func TestParseRulesErrors(t *testing.T) {
	for _, bad := range []string{
		"Persistence iam CreateUser",
		"Lurking iam CreateUser - why",
		"Persistence iam CreateUser sometimes why",
		"Persistence iam CreateUser - why\nPersistence iam CreateUser - again",
	} {
		if _, err := parseRules([]byte(bad), "bad.txt"); err == nil || !strings.Contains(err.Error(), "bad.txt:") {
			t.Errorf("%q: error %v, want one naming the file and line", bad, err)
		}
	}
}

func FuzzParseRules(f *testing.F) {
	f.Add(riskyFile)
	f.Add([]byte("Persistence iam CreateUser - why\n# comment\n\nImpact bedrock Put* - x"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rules, err := parseRules(data, "fuzz.txt")
		if err != nil {
			return
		}
		for _, r := range rules {
			if r.API == "" || r.Service == "" || !checks[r.Check] || r.Reason == "" {
				t.Fatalf("accepted a malformed rule %+v", r)
			}
		}
	})
}

// Parameters read without decryption are configuration, not secrets.
func TestPlainParameters(t *testing.T) {
	var plain, secure []*event.APICall
	for i := range 12 {
		name := `"/app/param-` + string(rune('a'+i)) + `"`
		plain = append(plain, call("eve", "ssm:GetParameter", `{"name":`+name+`}`, i))
		secure = append(secure, call("eve", "ssm:GetParameter", `{"name":`+name+`,"withDecryption":true}`, i))
	}
	if got := run(t, detect.Env{}, plain...); len(got) != 0 {
		t.Errorf("12 plain parameters: %v", got)
	}
	if got := run(t, detect.Env{}, secure...); len(got) != 1 {
		t.Errorf("12 decrypted parameters: %v", got)
	}
}
