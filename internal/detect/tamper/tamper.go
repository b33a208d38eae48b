// Package tamper owns the detectors of calls that blind or weaken the
// account's defences:
//
//   - Stealth:IAMUser/CloudTrailLoggingDisabled: a trail stopped
//     (StopLogging) or deleted (DeleteTrail), an UpdateTrail that narrows
//     what a trail records (isMultiRegionTrail or
//     includeGlobalServiceEvents set to false), a PutEventSelectors that
//     drops management events (includeManagementEvents false, read-only
//     selectors, advanced selectors without the Management category), a
//     CloudTrail Lake event data store deleted or its ingestion stopped.
//   - Stealth:IAMUser/PasswordPolicyChange: the account password policy
//     weakened (UpdateAccountPasswordPolicy) or deleted
//     (DeleteAccountPasswordPolicy), with a severity that grows with how
//     much was weakened.
//   - DefenseEvasion:IAMUser/AnomalousBehavior: tampering with detection
//     itself: a GuardDuty detector deleted or disabled, a trusted IP list
//     created or updated (it silences GuardDuty and picket for its
//     addresses), a threat list removed or deactivated, a suppression
//     filter that archives findings, a member account leaving its
//     administrator; VPC flow logs and Route 53 Resolver query logs
//     deleted; AWS Config recording stopped; Security Hub, Inspector,
//     Macie, Detective and IAM Access Analyzer turned off; S3 server
//     access logging turned off; the account leaving its organization.
//   - DefenseEvasion:IAMUser/BedrockLoggingDisabled: Amazon Bedrock model
//     invocation logging deleted.
//
// GuardDuty's DefenseEvasion:IAMUser/AnomalousBehavior comes from a model
// of what is unusual for the principal; picket reports the calls
// themselves, because each of them is rare and worth a look whoever makes
// it, and says which control was touched in service.additionalInfo. A
// call that succeeded is reported at the type's severity (the most
// damaging, such as deleting a GuardDuty detector, at High); a call that
// was denied is an attempt and is reported at Low. Calls of one principal
// fold into one finding per type.
package tamper

import (
	"encoding/json"
	"strings"

	"picket/internal/detect"
	"picket/internal/detect/trail"
	"picket/internal/event"
	"picket/internal/finding"
	"picket/internal/lru"
)

// ID is the detector's ID.
const ID = "tamper"

// Thresholds are the detector's tunables.
var Thresholds = detect.Tunables{
	{Name: "report_denied", Unit: "flag", Default: 1, Min: 0, Max: 1,
		Doc: "1 reports attempts that were denied (AccessDenied and the like) at Low severity; 0 reports only calls that succeeded. Failures for other reasons (the trail did not exist) are never reported"},
	{Name: "baseline_min_length", Unit: "characters", Default: 14, Min: 6, Max: 128,
		Doc: "the minimum password length a policy is held to when the run has not seen the account's earlier policy (CIS AWS Foundations 1.8 asks for 14); a later change is compared with the policy before it"},
	{Name: "baseline_reuse_prevention", Unit: "passwords", Default: 24, Min: 0, Max: 24,
		Doc: "the password reuse prevention a policy is held to when the run has not seen the account's earlier policy (CIS asks for 24)"},
	{Name: "max_accounts", Unit: "accounts", Default: 10_000, Min: 10, Max: 1e7,
		Doc: "accounts whose latest password policy is remembered, about 200 bytes each; the least recently changed are evicted and counted"},
	{Name: "max_pending", Unit: "findings", Default: 10_000, Min: 10, Max: 1e7,
		Doc: "findings noted between two watermarks, about 4 KiB each; calls of findings beyond it are counted as lost until the next watermark"},
}

// kinds names what each type is about, for the explanation.
var kinds = map[string]string{
	finding.TypeCloudTrailLoggingDisabled: "audit-logging",
	finding.TypePasswordPolicyChange:      "password-policy",
	finding.TypeDefenseEvasionAnomalous:   "detection-tampering",
	finding.TypeBedrockLoggingDisabled:    "audit-logging",
}

// maxChanges bounds the changes an explanation lists.
const maxChanges = 16

// verdict is what a rule says of a call.
type verdict struct {
	Type     string
	Control  string // what was touched: "CloudTrail trail", "GuardDuty detector"
	Detail   string // how
	Severity finding.Severity
	Affected map[string]string
}

// rule decides about one API of one service; ok false means the call is
// harmless (an UpdateTrail that keeps the trail whole).
type rule struct {
	service string
	check   func(d *Detector, c *event.APICall) (v verdict, ok bool)
}

// Detector is the tampering detector.
type Detector struct {
	env      detect.Env
	th       detect.Tunables
	denied   bool
	baseline policy
	rules    map[event.ID]rule
	policies *lru.Table[event.ID, policy]
	pending  *trail.Pending
}

var (
	_ detect.Detector    = (*Detector)(nil)
	_ detect.Stater      = (*Detector)(nil)
	_ detect.Snapshotter = (*Detector)(nil)
)

// New builds the detector.
func New(env detect.Env) (*Detector, error) {
	th, err := Thresholds.Apply(ID, env.Thresholds)
	if err != nil {
		return nil, err
	}
	d := &Detector{
		env: env, th: th,
		denied:   th.Get("report_denied") >= 0.5,
		baseline: policy{MinLength: int(th.Get("baseline_min_length")), Reuse: int(th.Get("baseline_reuse_prevention"))},
		rules:    map[event.ID]rule{},
		policies: lru.New[event.ID, policy](env.Cap(int(th.Get("max_accounts")), 0.2, 200), nil),
		pending:  trail.NewPending(env.Cap(int(th.Get("max_pending")), 0.8, 4096)),
	}
	for name, r := range rules {
		d.rules[event.Intern(name)] = r
	}
	return d, nil
}

// Definition describes the detector.
func (d *Detector) Definition() detect.Definition {
	return detect.Definition{
		ID:      ID,
		Summary: "calls that turn off or narrow logging and detection: CloudTrail, GuardDuty, flow and DNS logs, Config, Security Hub, the password policy",
		FindingTypes: []string{finding.TypeCloudTrailLoggingDisabled, finding.TypePasswordPolicyChange,
			finding.TypeDefenseEvasionAnomalous, finding.TypeBedrockLoggingDisabled},
		Subscribes: []event.Kind{event.KindAPICall},
		Thresholds: d.th,
	}
}

// State reports the detector's tables.
func (d *Detector) State() []detect.StateStats {
	return []detect.StateStats{
		{Table: "password_policies", Len: d.policies.Len(), Cap: d.policies.Cap(), Evicted: d.policies.Evicted()},
		d.pending.Stats("pending"),
	}
}

// Observe checks the few APIs that tamper with defences.
func (d *Detector) Observe(rec event.Record, _ detect.Emit) {
	c, ok := rec.(*event.APICall)
	if !ok {
		return
	}
	r, known := d.rules[c.EventName]
	if !known || c.EventSource.String() != r.service || trail.Ignored(&d.env, c) {
		return
	}
	if c.Failed() && (!d.denied || !trail.Denied(c.ErrorCode.String())) {
		return
	}
	v, bad := r.check(d, c)
	if !bad {
		return
	}
	if c.Failed() {
		v.Severity = finding.SeverityLow
		v.Detail = "attempted and denied (" + c.ErrorCode.String() + "): " + v.Detail
	}
	it := d.pending.Note(trail.Key{Type: v.Type, Principal: trail.PrincipalOf(c)}, c)
	if it == nil {
		return
	}
	if v.Severity == 0 {
		t, _ := finding.Lookup(v.Type)
		v.Severity = t.Severity
	}
	it.Severity = max(it.Severity, v.Severity)
	change := v.Control + ": " + v.Detail
	if it.Vars == nil {
		it.Vars = map[string]string{}
	}
	if it.Latest.Origin == c.Origin || it.Vars["detail"] == "" {
		// The finding shows the latest call and says what it did.
		it.Vars["detail"] = change
		it.Affected = v.Affected
	}
	if n := strings.Count(it.Vars["changes"], "\n"); n < maxChanges && !strings.Contains(it.Vars["changes"], change+"\n") {
		it.Vars["changes"] += change + "\n"
	}
	// The denied attempts and the changes made are not counted here: they
	// are the failed and the other calls of the explanation's activity,
	// which adds up over every report of the finding.
}

// Advance reports the calls noted since the last watermark.
func (d *Detector) Advance(_ event.Time, emit detect.Emit) {
	d.pending.Flush(func(k trail.Key, it *trail.Item) {
		changes := strings.Split(strings.TrimSuffix(it.Vars["changes"], "\n"), "\n")
		exp := &finding.Explanation{
			Kind:   kinds[k.Type],
			Lead:   "calls that weaken defences, latest changes: " + strings.Join(changes, "; "),
			Counts: map[string]int64{"report_denied": boolInt(d.denied)},
		}
		r := it.Report(ID, k, exp)
		r.Vars = map[string]string{"detail": it.Vars["detail"]}
		emit(trail.Build(&d.env, r))
	})
}

// params decodes a call's requestParameters into v. Only the few calls
// the rules match get here, so decoding JSON is fine.
func params(c *event.APICall, v any) bool {
	return len(c.RequestParameters) > 0 && json.Unmarshal(c.RequestParameters, v) == nil
}

// str returns a request parameter as a string.
func str(c *event.APICall, path ...string) string {
	s, _ := event.JSONString(c.RequestParameters, path...)
	return s
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func always(typ, control, detail string, sev finding.Severity, resType string, idPath ...string) func(*Detector, *event.APICall) (verdict, bool) {
	return func(_ *Detector, c *event.APICall) (verdict, bool) {
		v := verdict{Type: typ, Control: control, Detail: detail, Severity: sev}
		if resType != "" {
			if id := str(c, idPath...); id != "" {
				v.Affected = map[string]string{resType: id}
				v.Detail += " (" + id + ")"
			}
		}
		return v, true
	}
}

// The rules, by API name.
var rules = map[string]rule{
	// CloudTrail.
	"StopLogging":       {"cloudtrail.amazonaws.com", always(finding.TypeCloudTrailLoggingDisabled, "CloudTrail trail", "logging stopped", 0, "AWS::CloudTrail::Trail", "name")},
	"DeleteTrail":       {"cloudtrail.amazonaws.com", always(finding.TypeCloudTrailLoggingDisabled, "CloudTrail trail", "trail deleted", 0, "AWS::CloudTrail::Trail", "name")},
	"UpdateTrail":       {"cloudtrail.amazonaws.com", checkUpdateTrail},
	"PutEventSelectors": {"cloudtrail.amazonaws.com", checkEventSelectors},
	"DeleteEventDataStore": {"cloudtrail.amazonaws.com", always(finding.TypeCloudTrailLoggingDisabled, "CloudTrail Lake event data store", "event data store deleted", 0,
		"AWS::CloudTrail::EventDataStore", "eventDataStore")},
	"StopEventDataStoreIngestion": {"cloudtrail.amazonaws.com", always(finding.TypeCloudTrailLoggingDisabled, "CloudTrail Lake event data store", "ingestion stopped", 0,
		"AWS::CloudTrail::EventDataStore", "eventDataStore")},

	// The password policy.
	"UpdateAccountPasswordPolicy": {"iam.amazonaws.com", checkPasswordPolicy},
	"DeleteAccountPasswordPolicy": {"iam.amazonaws.com", checkPasswordPolicy},

	// GuardDuty.
	"DeleteDetector": {"guardduty.amazonaws.com", always(finding.TypeDefenseEvasionAnomalous, "GuardDuty detector", "detector deleted", finding.SeverityHigh, "AWS::GuardDuty::Detector", "detectorId")},
	"UpdateDetector": {"guardduty.amazonaws.com", checkUpdateDetector},
	"CreateIPSet":    {"guardduty.amazonaws.com", checkIPSet},
	"UpdateIPSet":    {"guardduty.amazonaws.com", checkIPSet},
	"DeleteThreatIntelSet": {"guardduty.amazonaws.com", always(finding.TypeDefenseEvasionAnomalous, "GuardDuty threat list", "threat list deleted", 0,
		"AWS::GuardDuty::ThreatIntelSet", "threatIntelSetId")},
	"UpdateThreatIntelSet": {"guardduty.amazonaws.com", checkThreatIntelSet},
	"CreateFilter":         {"guardduty.amazonaws.com", checkFilter},
	"UpdateFilter":         {"guardduty.amazonaws.com", checkFilter},
	"DisassociateFromMasterAccount": {"guardduty.amazonaws.com", always(finding.TypeDefenseEvasionAnomalous, "GuardDuty membership",
		"member account left its administrator account", 0, "AWS::GuardDuty::Detector", "detectorId")},
	"DisassociateFromAdministratorAccount": {"guardduty.amazonaws.com", always(finding.TypeDefenseEvasionAnomalous, "GuardDuty membership",
		"member account left its administrator account", 0, "AWS::GuardDuty::Detector", "detectorId")},
	"StopMonitoringMembers": {"guardduty.amazonaws.com", always(finding.TypeDefenseEvasionAnomalous, "GuardDuty membership",
		"monitoring of member accounts stopped", 0, "AWS::GuardDuty::Detector", "detectorId")},
	"DeletePublishingDestination": {"guardduty.amazonaws.com", always(finding.TypeDefenseEvasionAnomalous, "GuardDuty export",
		"findings export deleted", 0, "AWS::GuardDuty::Detector", "detectorId")},

	// Network and DNS logs.
	"DeleteFlowLogs": {"ec2.amazonaws.com", checkFlowLogs},
	"DeleteResolverQueryLogConfig": {"route53resolver.amazonaws.com", always(finding.TypeDefenseEvasionAnomalous, "Route 53 Resolver query logging",
		"query log configuration deleted", 0, "AWS::Route53Resolver::ResolverQueryLoggingConfig", "resolverQueryLogConfigId")},
	"DisassociateResolverQueryLogConfig": {"route53resolver.amazonaws.com", always(finding.TypeDefenseEvasionAnomalous, "Route 53 Resolver query logging",
		"query logging detached from a VPC", 0, "AWS::Route53Resolver::ResolverQueryLoggingConfig", "resolverQueryLogConfigId")},

	// Other detection and audit services.
	"StopConfigurationRecorder": {"config.amazonaws.com", always(finding.TypeDefenseEvasionAnomalous, "AWS Config", "configuration recorder stopped", 0,
		"AWS::Config::ConfigurationRecorder", "configurationRecorderName")},
	"DeleteConfigurationRecorder": {"config.amazonaws.com", always(finding.TypeDefenseEvasionAnomalous, "AWS Config", "configuration recorder deleted", 0,
		"AWS::Config::ConfigurationRecorder", "configurationRecorderName")},
	"DeleteDeliveryChannel": {"config.amazonaws.com", always(finding.TypeDefenseEvasionAnomalous, "AWS Config", "delivery channel deleted", 0,
		"AWS::Config::DeliveryChannel", "deliveryChannelName")},
	"DisableSecurityHub":    {"securityhub.amazonaws.com", always(finding.TypeDefenseEvasionAnomalous, "Security Hub", "Security Hub disabled", 0, "", "")},
	"BatchDisableStandards": {"securityhub.amazonaws.com", always(finding.TypeDefenseEvasionAnomalous, "Security Hub", "security standards disabled", 0, "", "")},
	"DeleteAnalyzer":        {"access-analyzer.amazonaws.com", always(finding.TypeDefenseEvasionAnomalous, "IAM Access Analyzer", "analyzer deleted", 0, "AWS::AccessAnalyzer::Analyzer", "analyzerName")},
	"DeleteGraph":           {"detective.amazonaws.com", always(finding.TypeDefenseEvasionAnomalous, "Amazon Detective", "behavior graph deleted", 0, "AWS::Detective::Graph", "graphArn")},
	"Disable":               {"inspector2.amazonaws.com", always(finding.TypeDefenseEvasionAnomalous, "Amazon Inspector", "scanning disabled", 0, "", "")},
	"DisableMacie":          {"macie2.amazonaws.com", always(finding.TypeDefenseEvasionAnomalous, "Amazon Macie", "Macie disabled", 0, "", "")},
	"PutBucketLogging":      {"s3.amazonaws.com", checkBucketLogging},
	"LeaveOrganization":     {"organizations.amazonaws.com", always(finding.TypeDefenseEvasionAnomalous, "AWS Organizations", "account left its organization and its guardrails", 0, "", "")},
	"DeleteModelInvocationLoggingConfiguration": {"bedrock.amazonaws.com", always(finding.TypeBedrockLoggingDisabled, "Amazon Bedrock",
		"model invocation logging deleted", 0, "", "")},
}

func checkUpdateTrail(_ *Detector, c *event.APICall) (verdict, bool) {
	var narrowed []string
	if v, ok := event.JSONBool(c.RequestParameters, "isMultiRegionTrail"); ok && !v {
		narrowed = append(narrowed, "no longer records other regions (isMultiRegionTrail false)")
	}
	if v, ok := event.JSONBool(c.RequestParameters, "includeGlobalServiceEvents"); ok && !v {
		narrowed = append(narrowed, "no longer records global services such as IAM and STS (includeGlobalServiceEvents false)")
	}
	if v, ok := event.JSONBool(c.RequestParameters, "enableLogFileValidation"); ok && !v {
		narrowed = append(narrowed, "log file validation turned off")
	}
	if len(narrowed) == 0 {
		return verdict{}, false
	}
	name := str(c, "name")
	return verdict{Type: finding.TypeCloudTrailLoggingDisabled, Control: "CloudTrail trail",
		Detail: "trail " + name + " " + strings.Join(narrowed, "; "), Affected: map[string]string{"AWS::CloudTrail::Trail": name}}, true
}

func checkEventSelectors(_ *Detector, c *event.APICall) (verdict, bool) {
	var p struct {
		TrailName      string `json:"trailName"`
		EventSelectors []struct {
			IncludeManagementEvents       *bool    `json:"includeManagementEvents"`
			ReadWriteType                 string   `json:"readWriteType"`
			ExcludeManagementEventSources []string `json:"excludeManagementEventSources"`
		} `json:"eventSelectors"`
		AdvancedEventSelectors []struct {
			FieldSelectors []struct {
				Field  string   `json:"field"`
				Equals []string `json:"equals"`
			} `json:"fieldSelectors"`
		} `json:"advancedEventSelectors"`
	}
	if !params(c, &p) {
		return verdict{}, false
	}
	var dropped []string
	if len(p.EventSelectors) > 0 {
		mgmt, all := false, false
		var excluded []string
		for _, s := range p.EventSelectors {
			if s.IncludeManagementEvents == nil || *s.IncludeManagementEvents {
				mgmt = true
				all = all || s.ReadWriteType == "" || s.ReadWriteType == "All"
				excluded = append(excluded, s.ExcludeManagementEventSources...)
			}
		}
		switch {
		case !mgmt:
			dropped = append(dropped, "management events no longer recorded (includeManagementEvents false)")
		case !all:
			dropped = append(dropped, "only read-only or write-only management events recorded")
		}
		if len(excluded) > 0 {
			dropped = append(dropped, "management events of "+strings.Join(excluded, ", ")+" excluded")
		}
	}
	if len(p.AdvancedEventSelectors) > 0 {
		mgmt := false
		for _, s := range p.AdvancedEventSelectors {
			for _, f := range s.FieldSelectors {
				if f.Field == "eventCategory" && contains(f.Equals, "Management") {
					mgmt = true
				}
			}
		}
		if !mgmt {
			dropped = append(dropped, "advanced event selectors record no management events")
		}
	}
	if len(dropped) == 0 {
		return verdict{}, false
	}
	return verdict{Type: finding.TypeCloudTrailLoggingDisabled, Control: "CloudTrail trail",
		Detail:   "event selectors of " + p.TrailName + " changed: " + strings.Join(dropped, "; "),
		Affected: map[string]string{"AWS::CloudTrail::Trail": p.TrailName}}, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func checkUpdateDetector(_ *Detector, c *event.APICall) (verdict, bool) {
	if v, ok := event.JSONBool(c.RequestParameters, "enable"); !ok || v {
		return verdict{}, false
	}
	id := str(c, "detectorId")
	return verdict{Type: finding.TypeDefenseEvasionAnomalous, Control: "GuardDuty detector", Detail: "detector " + id + " disabled (enable false)",
		Severity: finding.SeverityHigh, Affected: map[string]string{"AWS::GuardDuty::Detector": id}}, true
}

func checkIPSet(_ *Detector, c *event.APICall) (verdict, bool) {
	if v, ok := event.JSONBool(c.RequestParameters, "activate"); ok && !v {
		return verdict{}, false // an inactive list silences nothing
	}
	name := str(c, "name")
	if name == "" {
		name = str(c, "ipSetId")
	}
	what := "trusted IP list " + name + " created"
	if c.EventName.String() == "UpdateIPSet" {
		what = "trusted IP list " + name + " updated"
	}
	if loc := str(c, "location"); loc != "" {
		what += " from " + loc
	}
	return verdict{Type: finding.TypeDefenseEvasionAnomalous, Control: "GuardDuty trusted IP list",
		Detail:   what + "; GuardDuty and picket raise no finding for its addresses",
		Affected: map[string]string{"AWS::GuardDuty::IPSet": name}}, true
}

func checkThreatIntelSet(_ *Detector, c *event.APICall) (verdict, bool) {
	if v, ok := event.JSONBool(c.RequestParameters, "activate"); !ok || v {
		return verdict{}, false
	}
	id := str(c, "threatIntelSetId")
	return verdict{Type: finding.TypeDefenseEvasionAnomalous, Control: "GuardDuty threat list", Detail: "threat list " + id + " deactivated",
		Affected: map[string]string{"AWS::GuardDuty::ThreatIntelSet": id}}, true
}

func checkFilter(_ *Detector, c *event.APICall) (verdict, bool) {
	if str(c, "action") != "ARCHIVE" {
		return verdict{}, false
	}
	name := str(c, "name")
	if name == "" {
		name = str(c, "filterName")
	}
	return verdict{Type: finding.TypeDefenseEvasionAnomalous, Control: "GuardDuty suppression rule",
		Detail: "filter " + name + " archives matching findings as they arrive", Affected: map[string]string{"AWS::GuardDuty::Filter": name}}, true
}

func checkFlowLogs(_ *Detector, c *event.APICall) (verdict, bool) {
	ids := flowLogIDs(c)
	return verdict{Type: finding.TypeDefenseEvasionAnomalous, Control: "VPC flow logs", Detail: "flow logs " + strings.Join(ids, ", ") + " deleted",
		Affected: map[string]string{"AWS::EC2::FlowLog": strings.Join(ids, ",")}}, true
}

// flowLogIDs reads the flow log IDs of a DeleteFlowLogs call, which EC2
// records in its XML-derived shape: {"DeleteFlowLogsRequest":{"FlowLogId":
// {"content":"fl-..."}}} or a list of those, or {"flowLogIds":[...]}.
func flowLogIDs(c *event.APICall) []string {
	var p struct {
		Request struct {
			FlowLogID json.RawMessage `json:"FlowLogId"`
		} `json:"DeleteFlowLogsRequest"`
		IDs []string `json:"flowLogIds"`
	}
	if !params(c, &p) {
		return nil
	}
	if len(p.IDs) > 0 {
		return p.IDs
	}
	type item struct {
		Content string `json:"content"`
	}
	var one item
	if json.Unmarshal(p.Request.FlowLogID, &one) == nil && one.Content != "" {
		return []string{one.Content}
	}
	var many []item
	var out []string
	if json.Unmarshal(p.Request.FlowLogID, &many) == nil {
		for _, i := range many {
			out = append(out, i.Content)
		}
	}
	return out
}

func checkBucketLogging(_ *Detector, c *event.APICall) (verdict, bool) {
	status := event.JSONValue(c.RequestParameters, "BucketLoggingStatus")
	if status == nil || event.JSONValue(status, "LoggingEnabled") != nil {
		return verdict{}, false
	}
	bucket := str(c, "bucketName")
	return verdict{Type: finding.TypeDefenseEvasionAnomalous, Control: "S3 server access logging", Detail: "access logging of bucket " + bucket + " turned off",
		Affected: map[string]string{"AWS::S3::Bucket": bucket}}, true
}
