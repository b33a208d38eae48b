package trail

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDefaultTactics(t *testing.T) {
	tab, err := ParseTactics(tacticsFile, "tactics.txt")
	if err != nil {
		t.Fatalf("the built-in tactics file: %v", err)
	}
	var per [NumTactics]int
	for _, e := range tab.Entries() {
		per[e.Tactic]++
	}
	for tac, n := range per {
		if n == 0 {
			t.Errorf("no entry for %s", Tactic(tac))
		}
	}
	if DefaultTactics() == nil {
		t.Fatal("DefaultTactics returned nil")
	}
}

func TestTacticsOf(t *testing.T) {
	tab := DefaultTactics()
	tests := []struct {
		name, service, api, params string
		want                       []Tactic
	}{
		{"secret", "secretsmanager", "GetSecretValue", "", []Tactic{TacticCredentialAccess}},
		{"decrypted parameter", "ssm", "GetParameter", `{"name":"/db/password","withDecryption":true}`, []Tactic{TacticCredentialAccess}},
		{"decrypted parameter, as a string", "ssm", "GetParameters", `{"names":["a"],"withDecryption":"true"}`, []Tactic{TacticCredentialAccess}},
		{"plain parameter", "ssm", "GetParameter", `{"name":"/app/region"}`, nil},
		{"stop logging", "cloudtrail", "StopLogging", "", []Tactic{TacticDefenseEvasion}},
		{"describe", "ec2", "DescribeInstances", "", []Tactic{TacticDiscovery}},
		{"get object is data", "s3", "GetObject", "", nil},
		{"shared snapshot", "ec2", "ModifySnapshotAttribute", `{"snapshotId":"snap-1","createVolumePermission":{"add":{"items":[{"userId":"444455556666"}]}}}`, []Tactic{TacticExfiltration}},
		{"unshared snapshot", "ec2", "ModifySnapshotAttribute", `{"snapshotId":"snap-1","createVolumePermission":{"remove":{"items":[{"userId":"444455556666"}]}}}`, nil},
		{"versioning suspended", "s3", "PutBucketVersioning", `{"bucketName":"b","VersioningConfiguration":{"Status":"Suspended"}}`, []Tactic{TacticImpact}},
		{"versioning enabled", "s3", "PutBucketVersioning", `{"bucketName":"b","VersioningConfiguration":{"Status":"Enabled"}}`, nil},
		{"run instances with a role", "ec2", "RunInstances", `{"iamInstanceProfile":{"name":"admin"}}`, []Tactic{TacticImpact, TacticPrivilegeEscalation}},
		{"run instances", "ec2", "RunInstances", `{"instanceType":"p3.16xlarge"}`, []Tactic{TacticImpact}},
		{"console", "signin", "ConsoleLogin", "", []Tactic{TacticInitialAccess}},
		{"federation token", "sts", "GetFederationToken", "", []Tactic{TacticInitialAccess, TacticPersistence}},
		{"own key", "iam", "CreateAccessKey", `{}`, []Tactic{TacticPersistence}},
		{"someone's key", "iam", "CreateAccessKey", `{"userName":"bob"}`, []Tactic{TacticCredentialAccess, TacticPersistence, TacticPrivilegeEscalation}},
		{"lambda's dated name", "lambda", "CreateFunction20150331", "", []Tactic{TacticPersistence, TacticPrivilegeEscalation}},
		{"policy", "iam", "AttachUserPolicy", "", []Tactic{TacticPrivilegeEscalation}},
		{"another service's StopLogging", "example", "StopLogging", "", nil},
		{"write", "s3", "PutObject", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want Tactics
			for _, tac := range tt.want {
				want = want.With(tac)
			}
			if got := tab.Of(tt.service, tt.api, []byte(tt.params)); got != want {
				t.Errorf("Of(%s, %s, %s) = %s, want %s", tt.service, tt.api, tt.params, got, want)
			}
		})
	}
}

// TestTacticsDiscoveryAgrees holds the file's Discovery entries to
// Discovery, the rule the other detectors use.
func TestTacticsDiscoveryAgrees(t *testing.T) {
	tab := DefaultTactics()
	names := []string{"DescribeInstances", "ListBuckets", "GetCallerIdentity", "GetBucketPolicy", "GetAccountAuthorizationDetails",
		"SimulatePrincipalPolicy", "HeadBucket", "LookupEvents", "SearchResources", "BatchGetProjects", "BatchGetImage",
		"PutObject", "CreateUser", "AssumeRole", "StopLogging", "GenerateDataKey", "Decrypt", "ConsoleLogin", "Gettysburg"}
	for api := range notDiscovery {
		names = append(names, api)
	}
	for _, e := range tab.Entries() {
		names = append(names, strings.TrimSuffix(strings.TrimPrefix(e.API, "!"), "*"))
	}
	for _, api := range names {
		if got, want := tab.Of("ec2", api, nil).Has(TacticDiscovery), Discovery(api); got != want {
			t.Errorf("%s: the tactics file says Discovery %v, Discovery() says %v", api, got, want)
		}
	}
}

func TestParseTacticsErrors(t *testing.T) {
	tests := []struct {
		name, file string
		want       []string // substrings of the error, each naming a line
	}{
		{"unknown tactic", "Recon\tec2\tDescribeInstances\t-\tmaps\n", []string{`t.txt:1: tactic "Recon": unknown tactic`}},
		{"too few fields", "# header\n\nImpact\tec2\tTerminateInstances\t-\n", []string{"t.txt:3: want 5 fields"}},
		{"duplicate", "Impact ec2 TerminateInstances - destroys\nImpact  ec2  TerminateInstances  -  again\n", []string{"t.txt:2: duplicate of line 1"}},
		{"bad service", "Impact EC2 TerminateInstances - destroys\n", []string{`t.txt:1: service "EC2"`}},
		{"bad api", "Impact ec2 Terminate-Instances - destroys\n", []string{`t.txt:1: api "Terminate-Instances"`}},
		{"prefix exclusion", "Discovery * !Get* - no\n", []string{`t.txt:1: api "!Get*"`}},
		{"condition on a prefix", "Impact ec2 Run* a=b why\n", []string{`t.txt:1: condition "a=b": only an exact API name`}},
		{"empty value", "Impact ec2 RunInstances a= why\n", []string{`t.txt:1: condition "a="`}},
		{"bad path", "Impact ec2 RunInstances a..b why\n", []string{`t.txt:1: condition "a..b"`}},
		{"every problem", "Nope ec2 X - y\nImpact ec2\n", []string{"t.txt:1:", "t.txt:2:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTactics([]byte(tt.file), "t.txt")
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			var te *TacticError
			if !errors.As(err, &te) || te.Line == 0 {
				t.Errorf("error %v is not a *TacticError with a line", err)
			}
		})
	}
}

func TestFormatTacticsRoundTrip(t *testing.T) {
	tab := DefaultTactics()
	again, err := ParseTactics(FormatTactics(tab.Entries()), "formatted")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(withoutLines(tab.Entries()), withoutLines(again.Entries())); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func withoutLines(es []TacticEntry) []TacticEntry {
	for i := range es {
		es[i].Line = 0
	}
	return es
}

// FuzzParseTactics checks that the parser never panics and that what it
// accepts, written back by FormatTactics, reads back the same.
func FuzzParseTactics(f *testing.F) {
	// A few lines of the built-in file, and the shapes the parser rejects.
	f.Add([]byte("# comment\nImpact\tec2\tTerminateInstances\t-\tdestroys instances\n"))
	f.Add([]byte("Discovery * Describe* - describes\nDiscovery * !GetObject - data\n"))
	f.Add([]byte("CredentialAccess ssm GetParameter withDecryption=true decrypts\r\n"))
	f.Add([]byte("Exfiltration ec2 ModifySnapshotAttribute createVolumePermission.add shares\n"))
	f.Add([]byte("Recon ec2 X - y\nImpact ec2\nImpact ec2 X - a\nImpact ec2 X - b\n"))
	f.Add([]byte(""))
	f.Add(tacticsFile[:min(len(tacticsFile), 4096)])
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := ParseTactics(data, "fuzz")
		if err != nil {
			var te *TacticError
			if !errors.As(err, &te) {
				t.Fatalf("error %v is not a *TacticError", err)
			}
			return
		}
		for _, e := range tab.Entries() {
			tab.Of(e.Service, strings.Trim(e.API, "!*"), data)
		}
		again, err := ParseTactics(FormatTactics(tab.Entries()), "formatted")
		if err != nil {
			t.Fatalf("formatted table does not parse: %v\n%s", err, FormatTactics(tab.Entries()))
		}
		if diff := cmp.Diff(withoutLines(tab.Entries()), withoutLines(again.Entries())); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	})
}
