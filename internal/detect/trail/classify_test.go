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
		"aws-cli/2.13.0 Python/3.11.4 Linux/6.5.0-kali3-amd64 exe/x86_64.kali.2023 prompt/off":           "aws-cli+kali",
		"aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/linux#6.6.9-amd64 md/arch#x86_64 distrib#kali.2023": "aws-cli+kali",
		"Boto3/1.26.0 Python/3.11 Linux/6.1.0-12parrot1-amd64 Botocore/1.29.0":                           "boto3+parrot",
		"aws-cli/2.9 Python/3.10 Linux/6.1.9-pentoo":                                                     "aws-cli+pentoo",
		"kalibrate-rtl/0.4": "kalibrate-rtl",
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

func TestDistribution(t *testing.T) {
	for ua, want := range map[string]string{
		"aws-cli/1.18.69 Python/3.8.6 Linux/5.9.0-kali1-amd64 botocore/1.17.44":    DistroKali,
		"aws-cli/2.13.0 Python/3.11.4 Linux/6.5.0 exe/x86_64.kali.2023 prompt/off": DistroKali,
		"aws-cli/2.15.30 ua/2.0 os/linux#6.6.9-amd64 distrib#kali.2023":            DistroKali,
		"Boto3/1.26.0 Python/3.11 Linux/6.1.0-12parrot1-amd64":                     DistroParrot,
		"aws-cli/2.9 Python/3.10 Linux/6.1.9-pentoo":                               DistroPentoo,
		"aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.ubuntu.22":              "",
		"kalibrate-rtl/0.4":                            "", // kali inside a word
		"Mozilla/5.0 (X11; Linux x86_64) Parrotfish/1": "",
	} {
		if got := Distribution(ua); got != want {
			t.Errorf("Distribution(%q) = %q, want %q", ua, got, want)
		}
	}
}

func TestPlatform(t *testing.T) {
	for ua, want := range map[string]string{
		"aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.ubuntu.22":                 PlatformLinux,
		"aws-cli/2.15.0 Python/3.11.6 Darwin/23.1.0 exe/x86_64":                       PlatformMacOS,
		"aws-cli/2.15.0 Python/3.11.6 Windows/10 exe/AMD64":                           PlatformWindows,
		"Boto3/1.34.0 Python/3.12.1 Windows/11 Botocore/1.34.0":                       PlatformWindows,
		"aws-sdk-go-v2/1.17.0 os/linux lang/go/1.18.10":                               PlatformLinux,
		"aws-sdk-go/1.44.0 (go1.20; linux; amd64) amazon-ssm-agent/3.2":               PlatformLinux,
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15":        PlatformMacOS,
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36":                 PlatformAndroid,
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15": PlatformIOS,
		"console.ec2.amazonaws.com":                                                   PlatformUnknown,
		"AWS Internal":                                                                PlatformUnknown,
		"":                                                                            PlatformUnknown,
	} {
		if got := Platform(ua); got != want {
			t.Errorf("Platform(%q) = %q, want %q", ua, got, want)
		}
	}
}

func TestFamiliesCache(t *testing.T) {
	var f Families
	ua := event.Intern("Boto3/1.26.0 Python/3.11 Windows/10 Botocore/1.29.0")
	for range 2 {
		fam, plat := f.Classify(ua)
		if fam.String() != "boto3" || plat.String() != PlatformWindows || f.Of(ua) != fam {
			t.Errorf("Classify = %s, %s", fam, plat)
		}
	}
}
