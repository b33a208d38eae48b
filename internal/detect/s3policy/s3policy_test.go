package s3policy

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"picket/internal/decode/cloudtrail"
	"picket/internal/detect"
	"picket/internal/event"
	"picket/internal/finding"
)

// record writes one CloudTrail event of an S3 call made by the IAM user
// alice with the AWS CLI, in the shape CloudTrail delivers it; extra
// holds further members ("errorCode", "userIdentity" overrides) as raw
// JSON after a comma.
func record(name, params, extra string, second int) string {
	if params == "" {
		params = "null"
	}
	source := "s3.amazonaws.com"
	return `{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLEALICE0001",` +
		`"arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAEXAMPLEALICE0001","userName":"alice"},` +
		`"eventTime":"2026-03-02T10:` + pad(second/60) + `:` + pad(second%60) + `Z","eventSource":"` + source + `","eventName":"` + name + `",` +
		`"awsRegion":"eu-west-1","sourceIPAddress":"198.51.100.23","userAgent":"[aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.ubuntu.22 prompt/off command/s3api]",` +
		`"requestParameters":` + params + `,"responseElements":null,` +
		`"additionalEventData":{"SignatureVersion":"SigV4","CipherSuite":"TLS_AES_128_GCM_SHA256","bytesTransferredIn":0,"AuthenticationMethod":"AuthHeader","x-amz-id-2":"Xk3dExampleId2=","bytesTransferredOut":0},` +
		`"requestID":"8X2KQ9EXAMPLE` + pad(second%60) + `","eventID":"2f6c1b0e-0a3e-4b7a-9c1d-` + pad(second/60) + pad(second%60) + `0000000000",` +
		`"readOnly":false,"resources":[{"accountId":"111122223333","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::reports"}],` +
		`"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management",` +
		`"tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"reports.s3.eu-west-1.amazonaws.com"}` +
		extra + `}`
}

func pad(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// decode reads CloudTrail events as picket analyze does.
func decode(t *testing.T, events ...string) []*event.APICall {
	t.Helper()
	r := cloudtrail.NewReader(strings.NewReader(`{"Records":[`+strings.Join(events, ",")+`]}`), "AWSLogs/111122223333/CloudTrail/eu-west-1/2026/03/02/trail.json.gz")
	var out []*event.APICall
	for {
		var c event.APICall
		err := r.Next(&c)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("decoding: %v", err)
		}
		out = append(out, c.Clone())
	}
}

// run feeds calls to a new detector and returns its findings at the end.
func run(t *testing.T, env detect.Env, calls []*event.APICall) []*finding.Finding {
	t.Helper()
	env.DetectorID = finding.DetectorID
	d, err := New(env)
	if err != nil {
		t.Fatal(err)
	}
	var out []*finding.Finding
	emit := func(f *finding.Finding) { out = append(out, f) }
	for _, c := range calls {
		d.Observe(c, emit)
	}
	d.Advance(event.Forever, emit)
	return out
}

// The request parameters of the calls, as S3 records them.
const (
	bucketBlockOff = `{"publicAccessBlock":"","bucketName":"reports","PublicAccessBlockConfiguration":{"xmlns":"http://s3.amazonaws.com/doc/2006-03-01/",` +
		`"RestrictPublicBuckets":true,"BlockPublicPolicy":false,"BlockPublicAcls":true,"IgnorePublicAcls":true},"Host":"reports.s3.eu-west-1.amazonaws.com"}`
	bucketBlockOn = `{"publicAccessBlock":"","bucketName":"reports","PublicAccessBlockConfiguration":{"xmlns":"http://s3.amazonaws.com/doc/2006-03-01/",` +
		`"RestrictPublicBuckets":"true","BlockPublicPolicy":"true","BlockPublicAcls":"true","IgnorePublicAcls":"true"},"Host":"reports.s3.eu-west-1.amazonaws.com"}`
	accountBlockOff = `{"PublicAccessBlockConfiguration":{"xmlns":"http://s3.amazonaws.com/doc/2006-03-01/",` +
		`"RestrictPublicBuckets":false,"BlockPublicPolicy":false,"BlockPublicAcls":false,"IgnorePublicAcls":false},"Host":"111122223333.s3-control.eu-west-1.amazonaws.com"}`
	accountBlockOn = `{"PublicAccessBlockConfiguration":{"xmlns":"http://s3.amazonaws.com/doc/2006-03-01/",` +
		`"RestrictPublicBuckets":true,"BlockPublicPolicy":true,"BlockPublicAcls":true,"IgnorePublicAcls":true},"Host":"111122223333.s3-control.eu-west-1.amazonaws.com"}`
	aclOwner    = `{"ID":"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"}`
	ownerGrant  = `{"Grantee":{"xsi:type":"CanonicalUser","xmlns:xsi":"http://www.w3.org/2001/XMLSchema-instance","ID":"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"},"Permission":"FULL_CONTROL"}`
	loggingOn   = `{"bucketName":"reports","BucketLoggingStatus":{"xmlns":"http://s3.amazonaws.com/doc/2006-03-01/","LoggingEnabled":{"TargetBucket":"access-logs","TargetPrefix":"reports/"}},"Host":"reports.s3.eu-west-1.amazonaws.com","logging":""}`
	loggingOff  = `{"bucketName":"reports","BucketLoggingStatus":{"xmlns":"http://s3.amazonaws.com/doc/2006-03-01/"},"Host":"reports.s3.eu-west-1.amazonaws.com","logging":""}`
	loggingNone = `{"bucketName":"reports","Host":"reports.s3.eu-west-1.amazonaws.com","logging":""}`
)

func groupGrant(group, perm string) string {
	return `{"Grantee":{"xsi:type":"Group","xmlns:xsi":"http://www.w3.org/2001/XMLSchema-instance","URI":"http://acs.amazonaws.com/groups/` + group + `"},"Permission":"` + perm + `"}`
}

func acl(grants string) string {
	return `{"bucketName":"reports","AccessControlPolicy":{"AccessControlList":{"Grant":` + grants + `},"xmlns":"http://s3.amazonaws.com/doc/2006-03-01/","Owner":` + aclOwner + `},` +
		`"Host":"reports.s3.eu-west-1.amazonaws.com","acl":""}`
}

func headerACL(header, value string) string {
	return `{"bucketName":"reports","` + header + `":` + value + `,"Host":"reports.s3.eu-west-1.amazonaws.com","acl":""}`
}

// policy wraps statements in a PutBucketPolicy's parameters, as an object.
func policy(statements string) string {
	return `{"bucketPolicy":{"Version":"2012-10-17","Statement":` + statements + `},"bucketName":"reports","Host":"reports.s3.eu-west-1.amazonaws.com","policy":""}`
}

// policyString is policy with the document as a string, as some trails
// record it.
func policyString(statements string) string {
	doc := `{"Version":"2012-10-17","Statement":` + statements + `}`
	return `{"bucketPolicy":` + strconv.Quote(doc) + `,"bucketName":"reports","Host":"reports.s3.eu-west-1.amazonaws.com","policy":""}`
}

const publicRead = `{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::reports/*"}`

func withCondition(cond string) string {
	return `[{"Sid":"Scoped","Effect":"Allow","Principal":"*","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::reports/*","Condition":` + cond + `}]`
}

func TestCalls(t *testing.T) {
	type want struct {
		typ         string
		sev         finding.Severity
		read, write bool   // of the grants in s3BucketDetails, when they apply
		detail      string // in the description
	}
	none := want{}
	tests := []struct {
		name, api, params, extra string
		want                     want
	}{
		// Block Public Access.
		{"account block off", "PutAccountPublicAccessBlock", accountBlockOff, "",
			want{typ: finding.TypeS3AccountBlockPublicAccessDisabled, sev: finding.SeverityLow, detail: "BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets"}},
		{"account block deleted", "DeleteAccountPublicAccessBlock", `{"Host":"111122223333.s3-control.eu-west-1.amazonaws.com"}`, "",
			want{typ: finding.TypeS3AccountBlockPublicAccessDisabled, sev: finding.SeverityLow, detail: "deleted"}},
		{"account block off through S3 Control's name", "PutPublicAccessBlock", accountBlockOff, "",
			want{typ: finding.TypeS3AccountBlockPublicAccessDisabled, sev: finding.SeverityLow}},
		{"account block on", "PutAccountPublicAccessBlock", accountBlockOn, "", none},
		{"account block without a readable configuration", "PutAccountPublicAccessBlock", `{"PublicAccessBlockConfiguration":"redacted"}`, "", none},
		{"bucket block partly off", "PutBucketPublicAccessBlock", bucketBlockOff, "",
			want{typ: finding.TypeS3BucketBlockPublicAccessDisabled, sev: finding.SeverityLow, detail: "settings off: BlockPublicPolicy"}},
		{"bucket block deleted", "DeleteBucketPublicAccessBlock", `{"publicAccessBlock":"","bucketName":"reports","Host":"reports.s3.eu-west-1.amazonaws.com"}`, "",
			want{typ: finding.TypeS3BucketBlockPublicAccessDisabled, sev: finding.SeverityLow, detail: "every setting off"}},
		{"bucket block on, booleans as strings", "PutBucketPublicAccessBlock", bucketBlockOn, "", none},
		{"bucket block off, denied", "PutBucketPublicAccessBlock", bucketBlockOff, `,"errorCode":"AccessDenied","errorMessage":"Access Denied"`, none},

		// Bucket policies.
		{"policy public read", "PutBucketPolicy", policy(`[` + publicRead + `]`), "",
			want{typ: finding.TypeS3BucketAnonymousAccessGranted, sev: finding.SeverityHigh, read: true, detail: "statement PublicRead allows read to everyone"}},
		{"policy as a string, AWS wildcard among others", "PutBucketPolicy",
			policyString(`[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:root","*"]},"Action":"s3:*","Resource":["arn:aws:s3:::reports","arn:aws:s3:::reports/*"]}]`), "",
			want{typ: finding.TypeS3BucketAnonymousAccessGranted, sev: finding.SeverityHigh, read: true, write: true, detail: "statement 1 allows read and write"}},
		{"policy single statement object, wildcard action", "PutBucketPolicy", policy(`{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:Put*","Resource":"arn:aws:s3:::reports/*"}`), "",
			want{typ: finding.TypeS3BucketAnonymousAccessGranted, sev: finding.SeverityHigh, write: true}},
		{"policy with NotPrincipal", "PutBucketPolicy", policy(`[{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::reports/*"}]`), "",
			want{typ: finding.TypeS3BucketAnonymousAccessGranted, sev: finding.SeverityHigh, read: true}},
		{"policy only requiring TLS", "PutBucketPolicy", policy(withCondition(`{"Bool":{"aws:SecureTransport":"true"}}`)), "",
			want{typ: finding.TypeS3BucketAnonymousAccessGranted, sev: finding.SeverityHigh, read: true, write: true}},
		{"policy excluding one endpoint only", "PutBucketPolicy", policy(withCondition(`{"StringNotEquals":{"aws:SourceVpce":"vpce-1a2b3c4d"}}`)), "",
			want{typ: finding.TypeS3BucketAnonymousAccessGranted, sev: finding.SeverityHigh, read: true, write: true}},
		{"policy limited to the whole internet", "PutBucketPolicy", policy(withCondition(`{"IpAddress":{"aws:SourceIp":["0.0.0.0/0","::/0"]}}`)), "",
			want{typ: finding.TypeS3BucketAnonymousAccessGranted, sev: finding.SeverityHigh, read: true, write: true}},
		{"policy with an IfExists organization check", "PutBucketPolicy", policy(withCondition(`{"StringEqualsIfExists":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}`)), "",
			want{typ: finding.TypeS3BucketAnonymousAccessGranted, sev: finding.SeverityHigh, read: true, write: true}},
		{"policy limited to a VPC endpoint", "PutBucketPolicy", policy(withCondition(`{"StringEquals":{"aws:SourceVpce":"vpce-1a2b3c4d"}}`)), "", none},
		{"policy limited to the organization", "PutBucketPolicy", policy(withCondition(`{"StringEquals":{"aws:PrincipalOrgID":["o-a1b2c3d4e5"]}}`)), "", none},
		{"policy limited to an office network", "PutBucketPolicy", policy(withCondition(`{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`)), "", none},
		{"policy limited to an account, number", "PutBucketPolicy", policy(withCondition(`{"StringEquals":{"aws:SourceAccount":111122223333}}`)), "", none},
		{"policy denying insecure transport", "PutBucketPolicy",
			policy(`[{"Sid":"TLSOnly","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::reports","arn:aws:s3:::reports/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]`), "", none},
		{"policy for another account", "PutBucketPolicy", policy(`[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::reports/*"}]`), "", none},
		{"policy for the logging service", "PutBucketPolicy",
			policy(`[{"Effect":"Allow","Principal":{"Service":"logging.s3.amazonaws.com"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::reports/*"}]`), "", none},
		{"policy public, denied", "PutBucketPolicy", policy(`[` + publicRead + `]`), `,"errorCode":"AccessDenied","errorMessage":"Access Denied"`, none},
		{"policy that is not JSON", "PutBucketPolicy", `{"bucketName":"reports","bucketPolicy":"{\"Statement\": [","policy":""}`, "", none},
		{"policy of the wrong shapes", "PutBucketPolicy", `{"bucketName":"reports","bucketPolicy":{"Statement":[5,"x",{"Effect":"Allow","Principal":7,"Action":{"a":1}},{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Condition":[1]}]}}`, "",
			want{typ: finding.TypeS3BucketAnonymousAccessGranted, sev: finding.SeverityHigh, read: true}},
		{"policy without a bucket", "PutBucketPolicy", `{"bucketPolicy":{"Statement":[` + publicRead + `]}}`, "", none},

		// ACLs.
		{"ACL grants AllUsers read", "PutBucketAcl", acl(`[` + ownerGrant + `,` + groupGrant("global/AllUsers", "READ") + `]`), "",
			want{typ: finding.TypeS3BucketAnonymousAccessGranted, sev: finding.SeverityHigh, read: true, detail: "the ACL grants READ to AllUsers"}},
		{"ACL with one grant, AllUsers write", "PutBucketAcl", acl(groupGrant("global/AllUsers", "WRITE")), "",
			want{typ: finding.TypeS3BucketAnonymousAccessGranted, sev: finding.SeverityHigh, write: true}},
		{"ACL grants AuthenticatedUsers read", "PutBucketAcl", acl(`[` + ownerGrant + `,` + groupGrant("global/AuthenticatedUsers", "READ") + `]`), "",
			want{typ: finding.TypeS3BucketPublicAccessGranted, sev: finding.SeverityHigh, read: true, detail: "AuthenticatedUsers"}},
		{"canned public-read", "PutBucketAcl", headerACL("x-amz-acl", `["public-read"]`), "",
			want{typ: finding.TypeS3BucketAnonymousAccessGranted, sev: finding.SeverityHigh, read: true, detail: "canned ACL public-read"}},
		{"canned authenticated-read", "PutBucketAcl", headerACL("x-amz-acl", `"authenticated-read"`), "",
			want{typ: finding.TypeS3BucketPublicAccessGranted, sev: finding.SeverityHigh, read: true}},
		{"grant header to AllUsers", "PutBucketAcl", headerACL("x-amz-grant-read", `["uri=\"http://acs.amazonaws.com/groups/global/AllUsers\""]`), "",
			want{typ: finding.TypeS3BucketAnonymousAccessGranted, sev: finding.SeverityHigh, read: true}},
		{"bucket created public-read-write", "CreateBucket",
			`{"CreateBucketConfiguration":{"LocationConstraint":"eu-west-1","xmlns":"http://s3.amazonaws.com/doc/2006-03-01/"},"bucketName":"reports","Host":"s3.eu-west-1.amazonaws.com","x-amz-acl":["public-read-write"]}`, "",
			want{typ: finding.TypeS3BucketAnonymousAccessGranted, sev: finding.SeverityHigh, read: true, write: true}},
		{"ACL private with log delivery", "PutBucketAcl", acl(`[` + ownerGrant + `,` + groupGrant("s3/LogDelivery", "WRITE") + `,` + groupGrant("s3/LogDelivery", "READ_ACP") + `]`), "", none},
		{"canned private", "PutBucketAcl", headerACL("x-amz-acl", `["private"]`), "", none},
		{"bucket created private", "CreateBucket", `{"bucketName":"reports","Host":"s3.eu-west-1.amazonaws.com"}`, "", none},
		{"ACL of the wrong shapes", "PutBucketAcl", `{"bucketName":"reports","AccessControlPolicy":{"AccessControlList":{"Grant":[null,3,{"Grantee":"x"}]}},"x-amz-acl":{"a":1}}`, "", none},

		// Access logging.
		{"logging off", "PutBucketLogging", loggingOff, "",
			want{typ: finding.TypeS3ServerAccessLoggingDisabled, sev: finding.SeverityLow, detail: "without LoggingEnabled"}},
		{"logging on", "PutBucketLogging", loggingOn, "", none},
		{"logging status missing", "PutBucketLogging", loggingNone, "", none},
		{"no parameters", "PutBucketLogging", "", "", none},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := run(t, detect.Env{}, decode(t, record(tt.api, tt.params, tt.extra, 0)))
			if tt.want.typ == "" {
				for _, f := range fs {
					t.Errorf("unexpected %s: %s", f.Type, f.Description)
				}
				return
			}
			if len(fs) != 1 {
				t.Fatalf("%d findings, want one %s", len(fs), tt.want.typ)
			}
			f := fs[0]
			if f.Type != tt.want.typ || f.Severity != tt.want.sev {
				t.Errorf("got %s at %v, want %s at %v", f.Type, f.Severity, tt.want.typ, tt.want.sev)
			}
			if f.Resource.ResourceType != finding.ResourceS3Bucket || f.Resource.AccessKeyDetails == nil || f.Resource.AccessKeyDetails.UserName != "alice" {
				t.Errorf("resource %+v: want an S3Bucket with alice's access key", f.Resource)
			}
			a := f.Service.Action.AwsAPICallAction
			if a == nil || a.API != tt.api || a.ServiceName != "s3.amazonaws.com" || a.RemoteIPDetails == nil || a.RemoteIPDetails.IPAddressV4 != "198.51.100.23" {
				t.Errorf("awsApiCallAction %+v", a)
			}
			if !strings.Contains(f.Description, tt.want.detail) {
				t.Errorf("description %q lacks %q", f.Description, tt.want.detail)
			}
			if strings.Contains(f.Title+f.Description, "{") {
				t.Errorf("placeholder left: %q %q", f.Title, f.Description)
			}
			if tt.want.typ == finding.TypeS3AccountBlockPublicAccessDisabled {
				if len(f.Resource.S3BucketDetails) != 0 || a.AffectedResources["AWS::S3::AccountPublicAccessBlock"] != "111122223333" {
					t.Errorf("account change: s3BucketDetails %+v, affected %v", f.Resource.S3BucketDetails, a.AffectedResources)
				}
				return
			}
			if len(f.Resource.S3BucketDetails) != 1 {
				t.Fatalf("s3BucketDetails %+v, want the bucket", f.Resource.S3BucketDetails)
			}
			b := f.Resource.S3BucketDetails[0]
			if b.Name != "reports" || b.Arn != "arn:aws:s3:::reports" || b.Type != finding.BucketDestination || a.AffectedResources["AWS::S3::Bucket"] != "reports" {
				t.Errorf("bucket %+v, affected %v", b, a.AffectedResources)
			}
			switch tt.want.typ {
			case finding.TypeS3BucketAnonymousAccessGranted, finding.TypeS3BucketPublicAccessGranted:
				lv := b.PublicAccess.PermissionConfiguration.BucketLevelPermissions
				g := lv.BucketPolicy
				if tt.api != "PutBucketPolicy" {
					g = lv.AccessControlList
					if b.Owner != nil && b.Owner.ID == "" {
						t.Errorf("empty owner")
					}
				}
				if g == nil || g.AllowsPublicReadAccess != tt.want.read || g.AllowsPublicWriteAccess != tt.want.write {
					t.Errorf("grants %+v, want read %v write %v", g, tt.want.read, tt.want.write)
				}
			case finding.TypeS3BucketBlockPublicAccessDisabled:
				bpa := b.PublicAccess.PermissionConfiguration.BucketLevelPermissions.BlockPublicAccess
				if bpa == nil || bpa.BlockPublicPolicy || (tt.api == "PutBucketPublicAccessBlock" && !bpa.BlockPublicAcls) {
					t.Errorf("blockPublicAccess %+v", bpa)
				}
			}
		})
	}
}

// TestNotReported covers calls the detector passes over whatever their
// parameters: AWS services acting for the principal, other services'
// APIs of the same name, and buckets on the public_buckets list.
func TestNotReported(t *testing.T) {
	public := policy(`[` + publicRead + `]`)
	tests := []struct {
		name  string
		event string
		env   detect.Env
	}{
		{"made by CloudFormation for the user", strings.Replace(record("PutBucketPolicy", public, "", 0), `"userName":"alice"}`, `"userName":"alice","invokedBy":"cloudformation.amazonaws.com"}`, 1), detect.Env{}},
		{"another service", strings.Replace(record("PutBucketPolicy", public, "", 0), `"eventSource":"s3.amazonaws.com"`, `"eventSource":"s3-outposts-example.amazonaws.com"`, 1), detect.Env{}},
		{"allowlisted bucket", record("PutBucketPolicy", public, "", 0), detect.Env{Allowlists: map[string][]string{"public_buckets": {"www-*", "reports"}}}},
		{"allowlisted by prefix", record("PutBucketPublicAccessBlock", bucketBlockOff, "", 0), detect.Env{Allowlists: map[string][]string{"public_buckets": {"rep*"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, f := range run(t, tt.env, decode(t, tt.event)) {
				t.Errorf("unexpected %s: %s", f.Type, f.Description)
			}
		})
	}
	// Turning logging off is reported on an allowlisted bucket too.
	env := detect.Env{Allowlists: map[string][]string{"public_buckets": {"reports"}}}
	if fs := run(t, env, decode(t, record("PutBucketLogging", loggingOff, "", 0))); len(fs) != 1 {
		t.Errorf("logging off on an allowlisted bucket: %d findings, want 1", len(fs))
	}
	if _, err := New(detect.Env{Allowlists: map[string][]string{"nope": {"x"}}}); err == nil {
		t.Error("an unknown allowlist was accepted")
	}
}

// TestFold checks that the calls of one principal on one bucket fold into
// one finding whose count grows, that another bucket has a finding of its
// own, and that calls wait for the watermark.
func TestFold(t *testing.T) {
	calls := decode(t,
		record("PutBucketAcl", headerACL("x-amz-acl", `"public-read"`), "", 0),
		record("PutBucketPolicy", policy(`[`+publicRead+`]`), "", 30),
		record("PutBucketPolicy", strings.ReplaceAll(policy(`[`+publicRead+`]`), "reports", "archive"), "", 60),
	)
	d, err := New(detect.Env{DetectorID: finding.DetectorID})
	if err != nil {
		t.Fatal(err)
	}
	var fs []*finding.Finding
	emit := func(f *finding.Finding) { fs = append(fs, f) }
	for _, c := range calls {
		d.Observe(c, emit)
	}
	d.Advance(calls[0].EventTime-1, emit)
	if len(fs) != 0 {
		t.Fatalf("%d findings before the watermark passed the calls", len(fs))
	}
	d.Advance(event.Forever, emit)
	if len(fs) != 2 {
		t.Fatalf("%d findings, want one per bucket", len(fs))
	}
	byBucket := map[string]*finding.Finding{}
	for _, f := range fs {
		byBucket[f.Resource.S3BucketDetails[0].Name] = f
	}
	r := byBucket["reports"]
	if r == nil || r.Service.Count != 2 || r.Service.Action.AwsAPICallAction.API != "PutBucketPolicy" {
		t.Fatalf("reports: %+v", r)
	}
	// The latest call is a policy: the bucket details show its grants.
	if lv := r.Resource.S3BucketDetails[0].PublicAccess.PermissionConfiguration.BucketLevelPermissions; lv.BucketPolicy == nil || lv.AccessControlList != nil {
		t.Errorf("bucket details %+v, want the policy's grants", lv)
	}
	if byBucket["archive"] == nil || byBucket["archive"].ID == r.ID {
		t.Error("the archive bucket has no finding of its own")
	}
}

// TestState checks that held calls and pending findings survive a
// restart.
func TestState(t *testing.T) {
	calls := decode(t, record("PutBucketLogging", loggingOff, "", 0), record("PutBucketLogging", loggingOff, "", 10))
	d, _ := New(detect.Env{DetectorID: finding.DetectorID})
	d.Observe(calls[0], nil)
	b, err := d.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	e, _ := New(detect.Env{DetectorID: finding.DetectorID})
	if err := e.UnmarshalState(b); err != nil {
		t.Fatal(err)
	}
	var fs []*finding.Finding
	e.Observe(calls[1], nil)
	e.Advance(event.Forever, func(f *finding.Finding) { fs = append(fs, f) })
	if len(fs) != 1 || fs[0].Service.Count != 2 {
		t.Fatalf("after a restart: %d findings, want one of count 2", len(fs))
	}
}

// FuzzGrants checks that no request parameters make the readers panic,
// and that what they find is described.
func FuzzGrants(f *testing.F) {
	for _, seed := range []string{
		policy(`[` + publicRead + `]`),                                  // a public policy
		policyString(withCondition(`{"IpAddress":{"aws:SourceIp":7}}`)), // a string document with an odd condition
		acl(groupGrant("global/AllUsers", "FULL_CONTROL")),              // an ACL
		headerACL("x-amz-grant-write", `"uri=http://acs.amazonaws.com/groups/global/AuthenticatedUsers"`),
		bucketBlockOff, `{"bucketPolicy":"\"\""}`, `[`, `{"bucketPolicy":{"Statement":{"NotPrincipal":null}}}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, params string) {
		req := []byte(params)
		for _, g := range []grants{first(policyGrants(req)), first(aclGrants(req))} {
			if (g.Anonymous.any() || g.Authenticated.any()) && len(g.How) == 0 {
				t.Errorf("grants %+v without a description", g)
			}
		}
		blockConfigOf(req)
	})
}

func first[A, B any](a A, _ B) A { return a }
