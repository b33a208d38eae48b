package trail

import (
	"testing"

	"picket/internal/event"
)

func TestDiscovery(t *testing.T) {
	for api, want := range map[string]bool{
		"DescribeInstances": true, "ListBuckets": true, "GetCallerIdentity": true, "GetBucketPolicy": true,
		"GetAccountAuthorizationDetails": true, "SimulatePrincipalPolicy": true, "HeadBucket": true, "LookupEvents": true,
		"GetObject": false, "GetSecretValue": false, "GetParameters": false, "GetPasswordData": false, "BatchGetSecretValue": false,
		"GetSessionToken": false, "CreateUser": false, "PutObject": false, "AssumeRole": false, "StopLogging": false,
	} {
		if got := Discovery(api); got != want {
			t.Errorf("Discovery(%q) = %v, want %v", api, got, want)
		}
	}
}

func TestDenied(t *testing.T) {
	for code, want := range map[string]bool{
		"AccessDenied": true, "AccessDeniedException": true, "Client.UnauthorizedOperation": true, "UnauthorizedOperation": true,
		"AuthorizationError": true, "Forbidden": true, "NoSuchBucketPolicy": false, "ValidationException": false,
		"TrailNotFoundException": false, "ThrottlingException": false, "": false,
	} {
		if got := Denied(code); got != want {
			t.Errorf("Denied(%q) = %v, want %v", code, got, want)
		}
	}
}

func TestFamily(t *testing.T) {
	for ua, want := range map[string]string{
		"aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.ubuntu.22":                              "aws-cli",
		"[Boto3/1.26.165 Python/3.10.6 Linux/5.19.0-46-generic Botocore/1.29.165]":                 "boto3",
		"Botocore/1.29.165 Python/3.10.6 Boto3/1.26.165":                                           "boto3",
		"APN/1.0 HashiCorp/1.0 Terraform/1.1.2 (+https://www.terraform.io) terraform-provider-aws": "terraform",
		"AWS Internal": "aws-internal",
		"[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.488 Linux/5.10]": "console",
		"console.ec2.amazonaws.com":                                        "console",
		"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:109.0) Gecko/20100101": "browser",
		"stratus-red-team_6a7ec681-49a5-4403-99a2":                         "stratus-red-team",
		"aws-sdk-go-v2/1.17.0 os/linux lang/go/1.18.10":                    "aws-sdk-go-v2",
		"ec2.amazonaws.com":                                                "aws-internal",
		"":                                                                 "none",
	} {
		if got := Family(ua); got != want {
			t.Errorf("Family(%q) = %q, want %q", ua, got, want)
		}
	}
}

func TestPrincipalOf(t *testing.T) {
	acct := event.Intern("111122223333")
	role := event.Intern("arn:aws:iam::111122223333:role/Admin")
	tests := []struct {
		name string
		id   event.Identity
		want string
	}{
		{"IAM user", event.Identity{Type: event.IdentityIAMUser, ARN: event.Intern("arn:aws:iam::111122223333:user/alice"), AccountID: acct},
			"arn:aws:iam::111122223333:user/alice"},
		{"role session with a throwaway name", event.Identity{Type: event.IdentityAssumedRole, PrincipalID: event.Intern("AROA1:aws-go-sdk-1688990082523310002"),
			AccountID: acct, Session: event.Session{Issuer: event.SessionIssuer{ARN: role}}}, "arn:aws:iam::111122223333:role/Admin"},
		{"role session of a person", event.Identity{Type: event.IdentityAssumedRole, PrincipalID: event.Intern("AROA1:alice@example.com"),
			AccountID: acct, Session: event.Session{Issuer: event.SessionIssuer{ARN: role}}}, "arn:aws:iam::111122223333:role/Admin/alice@example.com"},
		{"root without an ARN", event.Identity{Type: event.IdentityRoot, AccountID: acct}, "arn:aws:iam::111122223333:root"},
		{"another account", event.Identity{Type: event.IdentityAWSAccount, AccountID: event.Intern("444455556666"), PrincipalID: event.Intern("AIDAX")},
			"account/444455556666/AIDAX"},
		{"an AWS service", event.Identity{Type: event.IdentityAWSService, InvokedBy: event.Intern("ec2.amazonaws.com")}, ""},
	}
	var cache Principals
	for _, tt := range tests {
		c := &event.APICall{Identity: tt.id, Account: acct}
		if got := PrincipalOf(c).String(); got != tt.want {
			t.Errorf("%s: PrincipalOf = %q, want %q", tt.name, got, tt.want)
		}
		if got := cache.Of(c).String(); got != tt.want {
			t.Errorf("%s: cached = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestByService(t *testing.T) {
	for src, want := range map[string]bool{"ec2.amazonaws.com": true, "AWS Internal": true, "08.1.250.216": false, "255.090.254.5": false} {
		c := &event.APICall{SourceService: event.Intern(src), Identity: event.Identity{Type: event.IdentityIAMUser}}
		if got := ByService(c); got != want {
			t.Errorf("ByService(source %q) = %v, want %v", src, got, want)
		}
	}
}
