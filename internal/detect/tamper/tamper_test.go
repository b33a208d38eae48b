package tamper

import (
	"net/netip"
	"strings"
	"testing"

	"picket/internal/detect"
	"picket/internal/event"
	"picket/internal/finding"
)

func call(svc, name, params, errCode string) *event.APICall {
	c := &event.APICall{
		EventTime: 1_700_000_000, EventName: event.Intern(name), EventSource: event.Intern(svc + ".amazonaws.com"),
		Account: event.Intern("111122223333"), Region: event.Intern("us-east-1"), SourceIP: netip.MustParseAddr("198.51.100.7"),
		Origin: event.Origin{File: event.Intern("t.json"), Line: 1}, ErrorCode: event.Intern(errCode),
		Identity: event.Identity{Type: event.IdentityIAMUser, UserName: event.Intern("admin"), AccountID: event.Intern("111122223333"),
			ARN: event.Intern("arn:aws:iam::111122223333:user/admin"), PrincipalID: event.Intern("AIDAADMIN")},
	}
	if params != "" {
		c.RequestParameters = []byte(params)
	}
	return c
}

func TestRules(t *testing.T) {
	tests := []struct {
		name    string
		c       *event.APICall
		typ     string // "" for no finding
		sev     finding.Severity
		contain string
	}{
		{"stop logging", call("cloudtrail", "StopLogging", `{"name":"org"}`, ""), finding.TypeCloudTrailLoggingDisabled, finding.SeverityLow, "logging stopped (org)"},
		{"stop logging of a missing trail", call("cloudtrail", "StopLogging", `{"name":"org"}`, "TrailNotFoundException"), "", 0, ""},
		{"stop logging denied", call("cloudtrail", "StopLogging", `{"name":"org"}`, "AccessDenied"), finding.TypeCloudTrailLoggingDisabled, finding.SeverityLow, "attempted and denied"},
		{"selectors without management events, pretty-printed", call("cloudtrail", "PutEventSelectors",
			"{\n  \"trailName\": \"t\",\n  \"eventSelectors\": [ { \"readWriteType\": \"All\", \"includeManagementEvents\" : false } ]\n}", ""),
			finding.TypeCloudTrailLoggingDisabled, finding.SeverityLow, "management events no longer recorded"},
		{"read-only selectors", call("cloudtrail", "PutEventSelectors", `{"trailName":"t","eventSelectors":[{"readWriteType":"ReadOnly","includeManagementEvents":true}]}`, ""),
			finding.TypeCloudTrailLoggingDisabled, finding.SeverityLow, "read-only or write-only"},
		{"full selectors", call("cloudtrail", "PutEventSelectors", `{"trailName":"t","eventSelectors":[{"readWriteType":"All","includeManagementEvents":true}]}`, ""), "", 0, ""},
		{"advanced selectors, data only", call("cloudtrail", "PutEventSelectors",
			`{"trailName":"t","advancedEventSelectors":[{"fieldSelectors":[{"field":"eventCategory","equals":["Data"]}]}]}`, ""),
			finding.TypeCloudTrailLoggingDisabled, finding.SeverityLow, "advanced event selectors"},
		{"update trail, single region", call("cloudtrail", "UpdateTrail", `{"name":"t","isMultiRegionTrail":false}`, ""), finding.TypeCloudTrailLoggingDisabled, finding.SeverityLow, "other regions"},
		{"update trail, new bucket", call("cloudtrail", "UpdateTrail", `{"name":"t","s3BucketName":"b"}`, ""), "", 0, ""},
		{"detector disabled", call("guardduty", "UpdateDetector", `{"detectorId":"d1","enable":false}`, ""), finding.TypeDefenseEvasionAnomalous, finding.SeverityHigh, "disabled"},
		{"detector kept on", call("guardduty", "UpdateDetector", `{"detectorId":"d1","enable":true}`, ""), "", 0, ""},
		{"inactive IP set", call("guardduty", "CreateIPSet", `{"name":"x","activate":false}`, ""), "", 0, ""},
		{"active IP set", call("guardduty", "CreateIPSet", `{"name":"x","activate":true,"location":"s3://b/k"}`, ""), finding.TypeDefenseEvasionAnomalous, finding.SeverityMedium, "trusted IP list x created from s3://b/k"},
		{"archive filter", call("guardduty", "CreateFilter", `{"name":"q","action":"ARCHIVE"}`, ""), finding.TypeDefenseEvasionAnomalous, finding.SeverityMedium, "archives"},
		{"noop filter", call("guardduty", "CreateFilter", `{"name":"q","action":"NOOP"}`, ""), "", 0, ""},
		{"flow logs", call("ec2", "DeleteFlowLogs", `{"DeleteFlowLogsRequest":{"FlowLogId":[{"content":"fl-1","tag":1},{"content":"fl-2","tag":2}]}}`, ""),
			finding.TypeDefenseEvasionAnomalous, finding.SeverityMedium, "fl-1, fl-2"},
		{"bucket logging off", call("s3", "PutBucketLogging", `{"bucketName":"b","BucketLoggingStatus":{}}`, ""), finding.TypeDefenseEvasionAnomalous, finding.SeverityMedium, "bucket b"},
		{"bucket logging on", call("s3", "PutBucketLogging", `{"bucketName":"b","BucketLoggingStatus":{"LoggingEnabled":{"TargetBucket":"l"}}}`, ""), "", 0, ""},
		{"same name, other service", call("ec2", "StopLogging", `{}`, ""), "", 0, ""},
		{"bedrock", call("bedrock", "DeleteModelInvocationLoggingConfiguration", "", ""), finding.TypeBedrockLoggingDisabled, finding.SeverityMedium, "model invocation logging"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(detect.Env{DetectorID: finding.DetectorID})
			if err != nil {
				t.Fatal(err)
			}
			var fs []*finding.Finding
			d.Observe(tt.c, nil)
			d.Advance(event.Forever, func(f *finding.Finding) { fs = append(fs, f) })
			if tt.typ == "" {
				if len(fs) != 0 {
					t.Fatalf("reported %s: %s", fs[0].Type, fs[0].Service.AdditionalInfo.Explanation.Summary)
				}
				return
			}
			if len(fs) != 1 || fs[0].Type != tt.typ || fs[0].Severity != tt.sev {
				t.Fatalf("findings %v, want one %s at %v", fs, tt.typ, tt.sev)
			}
			if sum := fs[0].Service.AdditionalInfo.Explanation.Summary; !strings.Contains(sum, tt.contain) {
				t.Errorf("summary %q lacks %q", sum, tt.contain)
			}
		})
	}
}

func TestPasswordPolicySeverity(t *testing.T) {
	strong := `{"minimumPasswordLength":14,"requireSymbols":true,"requireNumbers":true,"requireUppercaseCharacters":true,"requireLowercaseCharacters":true,"passwordReusePrevention":24,"maxPasswordAge":90}`
	tests := []struct {
		name   string
		before string // "" when the run saw no earlier policy
		call   *event.APICall
		want   finding.Severity // 0: no finding
	}{
		{"as strong as the baseline", "", call("iam", "UpdateAccountPasswordPolicy", strong, ""), 0},
		{"one rule dropped", strong, call("iam", "UpdateAccountPasswordPolicy",
			`{"minimumPasswordLength":14,"requireSymbols":false,"requireNumbers":true,"requireUppercaseCharacters":true,"requireLowercaseCharacters":true,"passwordReusePrevention":24,"maxPasswordAge":90}`, ""), finding.SeverityLow},
		{"shorter, below 12", strong, call("iam", "UpdateAccountPasswordPolicy",
			`{"minimumPasswordLength":10,"requireSymbols":true,"requireNumbers":true,"requireUppercaseCharacters":true,"requireLowercaseCharacters":true,"passwordReusePrevention":24,"maxPasswordAge":90}`, ""), finding.SeverityMedium},
		{"six characters", strong, call("iam", "UpdateAccountPasswordPolicy", `{"minimumPasswordLength":6,"requireSymbols":true,"requireNumbers":true,"requireUppercaseCharacters":true,"requireLowercaseCharacters":true,"passwordReusePrevention":24,"maxPasswordAge":90}`, ""), finding.SeverityHigh},
		{"deleted", strong, call("iam", "DeleteAccountPasswordPolicy", "", ""), finding.SeverityHigh},
		{"below the baseline, first seen", "", call("iam", "UpdateAccountPasswordPolicy", `{"minimumPasswordLength":12,"passwordReusePrevention":24}`, ""), finding.SeverityLow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(detect.Env{DetectorID: finding.DetectorID})
			if err != nil {
				t.Fatal(err)
			}
			if tt.before != "" {
				d.Observe(call("iam", "UpdateAccountPasswordPolicy", tt.before, ""), nil)
				d.Advance(1, func(*finding.Finding) {})
			}
			var fs []*finding.Finding
			d.Observe(tt.call, nil)
			d.Advance(event.Forever, func(f *finding.Finding) { fs = append(fs, f) })
			switch {
			case tt.want == 0 && len(fs) > 0:
				t.Errorf("reported: %s", fs[0].Service.AdditionalInfo.Explanation.Summary)
			case tt.want != 0 && (len(fs) != 1 || fs[0].Severity != tt.want):
				t.Errorf("findings %d, want one at %v", len(fs), tt.want)
				for _, f := range fs {
					t.Logf("%v: %s", f.Severity, f.Service.AdditionalInfo.Explanation.Summary)
				}
			}
		})
	}
}
