package trail

import (
	"strings"

	"picket/internal/event"
)

// Discovery reports whether an API maps the environment: Describe*,
// List*, Get* and the other read verbs that enumerate resources,
// identities and permissions (GetCallerIdentity, SimulatePrincipalPolicy,
// Search*, Lookup*, HeadBucket), the calls GuardDuty's
// Discovery:IAMUser/AnomalousBehavior and Recon:IAMUser/* findings are
// about.
//
// Read verbs that fetch data or secrets rather than map anything
// (GetObject, GetSecretValue, GetParameters, GetPasswordData, credential
// and token calls) are not discovery: they are collection and credential
// access, which other finding types cover.
func Discovery(api string) bool {
	switch {
	case strings.HasPrefix(api, "Describe"), strings.HasPrefix(api, "List"),
		strings.HasPrefix(api, "Search"), strings.HasPrefix(api, "Lookup"):
		return true
	case strings.HasPrefix(api, "Get"), strings.HasPrefix(api, "BatchGet"):
		return !notDiscovery[api]
	case strings.HasPrefix(api, "Head"), strings.HasPrefix(api, "Simulate"):
		return true
	}
	return false
}

// notDiscovery lists the Get verbs that return data, secrets or
// credentials rather than describe the environment.
var notDiscovery = map[string]bool{
	// Data.
	"GetObject": true, "GetObjectTorrent": true, "GetItem": true, "BatchGetItem": true, "GetRecords": true,
	"GetLogEvents": true, "GetQueryResults": true, "GetMetricData": true, "GetMetricStatistics": true,
	"GetDownloadUrlForLayer": true, "BatchGetImage": true, "GetShardIterator": true, "GetBlob": true,
	"GetFile": true, "GetDocument": true, "GetConsoleOutput": true, "GetConsoleScreenshot": true,
	"GetCostAndUsage": true, "GetCostForecast": true, "GetMetricWidgetImage": true,
	// Secrets and credentials.
	"GetSecretValue": true, "BatchGetSecretValue": true, "GetParameter": true, "GetParameters": true,
	"GetParametersByPath": true, "GetParameterHistory": true, "GetPasswordData": true,
	"GetSessionToken": true, "GetFederationToken": true, "GetAuthorizationToken": true,
	"GetRoleCredentials": true, "GetSigninToken": true, "GetClusterCredentials": true,
	"GetCredentialsForIdentity": true, "GetOpenIdToken": true, "GetOpenIdTokenForDeveloperIdentity": true,
	"GetId": true, "GetServiceBearerToken": true, "GenerateDataKey": true, "GetDataKey": true,
	"GetTemporaryGlueTableCredentials": true, "GetBucketCredentials": true,
}

// Denied reports whether an error code says the caller was not allowed
// to make the call: AccessDenied, AccessDeniedException,
// Client.UnauthorizedOperation, UnauthorizedAccess, AuthorizationError,
// Forbidden and the like, as opposed to errors about the request or the
// resource (NoSuchBucketPolicy, ValidationException, Throttling).
func Denied(code string) bool {
	code = strings.TrimPrefix(code, "Client.")
	switch {
	case strings.HasPrefix(code, "AccessDenied"), strings.HasPrefix(code, "Unauthorized"),
		strings.HasPrefix(code, "AuthorizationError"), strings.HasPrefix(code, "NotAuthorized"),
		strings.HasPrefix(code, "Forbidden"), code == "AuthFailure", code == "OptInRequired":
		return true
	}
	return false
}

// The user-agent families that Family returns besides a tool's own name.
const (
	FamilyConsole    = "console"      // the AWS Management Console, in a browser or on its behalf
	FamilyAWS        = "aws-internal" // "AWS Internal" and service names: AWS calling on a principal's behalf
	FamilyBrowser    = "browser"      // a browser outside the console (Mozilla/...)
	FamilyNone       = "none"         // no user agent
	FamilyTerraform  = "terraform"
	FamilyCloudForm  = "cloudformation"
	familyMaxLength  = 32
	familyProductSep = "/ _;("
)

// Family returns the family of a user agent: the software that made the
// call without its versions, such as "aws-cli", "boto3", "aws-sdk-go",
// "terraform", "console" or a tool's name, lowercased. It reads the first
// product token, after the brackets CloudTrail sometimes adds, and knows
// the agents whose first token misleads (Terraform's "APN/1.0 HashiCorp",
// the console's service endpoints, boto3 behind "Botocore").
//
// A tool run on a penetration-testing distribution is a family of its
// own, the tool's name and the distribution's joined by "+"
// ("aws-cli+kali", "boto3+parrot"): the same CLI on an attacker's Kali
// machine is not the tool a developer's laptop runs.
func Family(ua string) string {
	ua = strings.TrimSpace(strings.TrimLeft(ua, "["))
	if ua == "" {
		return FamilyNone
	}
	lower := strings.ToLower(ua)
	switch {
	case strings.Contains(lower, "terraform"):
		return FamilyTerraform
	case strings.HasPrefix(lower, "cloudformation") || strings.Contains(lower, "cloudformation.amazonaws.com"):
		return FamilyCloudForm
	case lower == "aws internal" || strings.HasPrefix(lower, "aws internal"):
		return FamilyAWS
	case strings.HasPrefix(lower, "console.") || strings.Contains(lower, "console.amazonaws.com") ||
		strings.Contains(lower, "s3console") || strings.Contains(lower, "aws-internal/") || strings.HasPrefix(lower, "signin.amazonaws.com"):
		return FamilyConsole
	case strings.HasPrefix(lower, "mozilla/"):
		return FamilyBrowser
	case strings.HasSuffix(lower, ".amazonaws.com"):
		return FamilyAWS
	}
	// The first product token, without its version.
	end := strings.IndexAny(lower, familyProductSep)
	if end < 0 {
		end = len(lower)
	}
	name := strings.TrimRight(lower[:end], "-.")
	if name == "botocore" && strings.Contains(lower, "boto3/") {
		name = "boto3"
	}
	if name == "" {
		return FamilyNone
	}
	if len(name) > familyMaxLength {
		name = name[:familyMaxLength]
	}
	if d := distribution(lower); d != "" {
		name += "+" + d
	}
	return name
}

// The penetration-testing distributions that Distribution names.
const (
	DistroKali   = "kali"
	DistroParrot = "parrot"
	DistroPentoo = "pentoo"
)

var distroMarkers = []string{DistroKali, DistroParrot, DistroPentoo}

// Distribution returns the penetration-testing distribution a user agent
// shows, "kali", "parrot" or "pentoo", or "" for none. The AWS CLI and
// SDKs write the distribution into the user agent, in the kernel release
// ("Linux/6.5.0-kali3-amd64", "Linux/6.1.0-12parrot1-amd64") or the
// distribution part ("exe/x86_64.kali.2023", "distrib#kali.2023"); the
// name counts only between non-letters, so "kalibrate" is not Kali.
// The pentest detector and the families of Family share this rule.
func Distribution(ua string) string {
	return distribution(strings.ToLower(ua))
}

func distribution(lower string) string {
	for _, m := range distroMarkers {
		if Token(lower, m) {
			return m
		}
	}
	return ""
}

// Token reports whether marker occurs in s with no letter either side.
// Both are lowercase.
func Token(s, marker string) bool {
	for from := 0; ; {
		i := strings.Index(s[from:], marker)
		if i < 0 {
			return false
		}
		i += from
		end := i + len(marker)
		if (i == 0 || !letter(s[i-1])) && (end == len(s) || !letter(s[end])) {
			return true
		}
		from = i + 1
	}
}

func letter(b byte) bool { return b >= 'a' && b <= 'z' }

// The platforms that Platform returns.
const (
	PlatformLinux   = "linux"
	PlatformMacOS   = "macos"
	PlatformWindows = "windows"
	PlatformAndroid = "android"
	PlatformIOS     = "ios"
	PlatformUnknown = "unknown"
)

// Platform returns the operating system a user agent names: "linux",
// "macos", "windows", "android", "ios", or "unknown" when it names none
// (the console, AWS services, most tools). The SDKs write it as a
// product ("Linux/6.1", "Darwin/23.1.0", "Windows/10"), as "os/linux", or
// inside brackets ("(go1.20; linux; amd64)"). A principal's scripts that
// always ran on Linux and now run on Windows are another computer.
func Platform(ua string) string {
	lower := strings.ToLower(ua)
	switch {
	case Token(lower, "android"):
		return PlatformAndroid
	case Token(lower, "iphone") || Token(lower, "ipad") || Token(lower, "ios"):
		return PlatformIOS
	case Token(lower, "windows") || Token(lower, "win32") || Token(lower, "win64"):
		return PlatformWindows
	case Token(lower, "darwin") || Token(lower, "macos") || Token(lower, "macintosh") || strings.Contains(lower, "mac os"):
		return PlatformMacOS
	case Token(lower, "linux"):
		return PlatformLinux
	}
	return PlatformUnknown
}

// maxFamilies bounds a Families cache; when full it starts afresh.
const maxFamilies = 4096

// Families caches Family and Platform by interned user agent: the same
// few user agents make most calls, and a cached answer is one map read
// without the lowercasing that Family allocates for. The zero value is
// ready to use; a Families is not safe for concurrent use.
type Families struct{ m map[event.ID]agentClass }

type agentClass struct{ family, platform event.ID }

// Of returns the family of the user agent ua, interned.
func (f *Families) Of(ua event.ID) event.ID { return f.class(ua).family }

// Classify returns the family and the platform of the user agent ua,
// interned.
func (f *Families) Classify(ua event.ID) (family, platform event.ID) {
	c := f.class(ua)
	return c.family, c.platform
}

func (f *Families) class(ua event.ID) agentClass {
	if v, ok := f.m[ua]; ok {
		return v
	}
	if f.m == nil || len(f.m) >= maxFamilies {
		f.m = make(map[event.ID]agentClass, 64)
	}
	s := ua.String()
	v := agentClass{event.Intern(Family(s)), event.Intern(Platform(s))}
	f.m[ua] = v
	return v
}
