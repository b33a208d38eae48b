package trail

import (
	"encoding/json"
	"maps"
	"strings"

	"picket/internal/detect"
	"picket/internal/event"
	"picket/internal/finding"
)

// The callerType values of awsApiCallAction.
const (
	CallerRemoteIP   = "Remote IP"   // sourceIPAddress was an address
	CallerDomain     = "Domain"      // it was a service's domain name ("ec2.amazonaws.com"), in domainDetails
	CallerAWSService = "AWS Service" // it was "AWS Internal" or another service name without a domain
)

// Report is what a CloudTrail detector knows when it makes a finding.
type Report struct {
	// Type is the finding type; Detector the detector's ID.
	Type     string
	Detector string
	// Principal is who the finding is about: with Type, and Actor when a
	// detector keeps several findings of one type apart, it makes the
	// finding ID, so that later activity of the principal updates the
	// same finding.
	Principal Principal
	Actor     string
	// Call is the latest call the finding is about (a clone the report
	// owns): the finding shows its API, service, caller and error code,
	// as GuardDuty shows the latest occurrence.
	Call *event.APICall
	// First, Last and Count are the activity this report adds.
	First, Last event.Time
	Count       int64
	// Severity overrides the type's default when not zero.
	Severity finding.Severity
	// Affected fills awsApiCallAction.affectedResources (type to ARN or
	// ID); when nil, the call's resources array fills it.
	Affected map[string]string
	// Affiliated marks the caller's account, when it is not the account
	// called, as one of the user's own (remoteAccountDetails.affiliated).
	Affiliated bool
	// Vars fills the title and description templates beyond principal,
	// api, remote, account and useragent ("detail", "list", "tool").
	Vars map[string]string
	// Explanation goes to service.additionalInfo. Its Lead says what the
	// activity is, without tallies; Build adds the activity (the calls,
	// failures and times of the report) and writes the summary from it,
	// and merging later reports of the finding adds theirs (see
	// finding.Merge). A detector that sets Summary and no Lead has its
	// summary taken as the lead.
	Explanation *finding.Explanation
}

// Build makes the finding of a report.
func Build(env *detect.Env, r *Report) *finding.Finding {
	c := r.Call
	account := c.Account.String()
	if account == "" {
		account = r.Principal.Account.String()
	}
	region := c.Region.String()
	k := finding.Key{Account: account, Region: region, Resource: r.Principal.String(), Role: finding.RoleTarget, Actor: r.Actor}
	detectorID := ""
	if env.DetectorID != nil {
		detectorID = env.DetectorID(account, region)
	}
	f := finding.New(r.Type, k, detectorID, r.First.UTC(), r.Last.UTC(), r.Count)
	if r.Severity != 0 {
		f.Severity = r.Severity
	}
	f.Resource.AccessKeyDetails = &finding.AccessKeyDetails{
		AccessKeyID: c.Identity.AccessKeyID.String(),
		PrincipalID: c.Identity.PrincipalID.String(),
		UserName:    UserName(c),
		UserType:    UserType(c),
	}
	f.Service.Action.AwsAPICallAction = Action(c, r.Affected, r.Affiliated)
	if r.Explanation != nil {
		explain(r)
		f.Service.AdditionalInfo = &finding.AdditionalInfo{Explanation: r.Explanation}
	}
	t, _ := finding.Lookup(r.Type)
	vars := map[string]string{
		"principal": Label(c),
		"api":       c.EventName.String(),
		"remote":    SourceName(c),
		"account":   account,
		"useragent": c.UserAgent.String(),
	}
	maps.Copy(vars, r.Vars)
	f.Title = finding.Text(t.Title, vars)
	f.Description = finding.Text(t.Description, vars)
	return f
}

// explain fills the activity of a report's explanation: the report's
// count (the finding's service.count), first and last seen, the failed
// calls the evidence counted, and the calls whose APIs the bounded list
// leaves out; then it writes the summary from them.
func explain(r *Report) {
	exp := r.Explanation
	if exp.Detector == "" {
		exp.Detector = r.Detector
	}
	if exp.Lead == "" {
		exp.Lead = exp.Summary
	}
	var listed int64
	for _, c := range exp.APICalls {
		listed += c.Count
	}
	exp.Activity = finding.Activity{
		Calls:     r.Count,
		Failed:    min(exp.Counts[finding.CountFailedCalls], r.Count),
		Unlisted:  max(r.Count-listed, 0),
		FirstSeen: finding.Timestamp{Time: r.First.UTC()},
		LastSeen:  finding.Timestamp{Time: r.Last.UTC()},
	}
	exp.Render()
}

// Action returns the awsApiCallAction of a call: the API and service, who
// called (an address with what enrichment knows of it, an AWS service, or
// another account), the error code and user agent, and the resources it
// touched.
func Action(c *event.APICall, affected map[string]string, affiliated bool) *finding.AwsAPICallAction {
	a := &finding.AwsAPICallAction{
		API:         c.EventName.String(),
		ServiceName: c.EventSource.String(),
		ErrorCode:   c.ErrorCode.String(),
		UserAgent:   c.UserAgent.String(),
	}
	switch {
	case c.SourceIP.IsValid():
		a.CallerType = CallerRemoteIP
		a.RemoteIPDetails = finding.RemoteIPWith(c.SourceIP, &c.SourceInfo)
	case Numeric(c.SourceService.String()):
		a.CallerType = CallerRemoteIP // an address the decoder could not read
	case strings.Contains(c.SourceService.String(), "."):
		a.CallerType = CallerDomain
		a.DomainDetails = &finding.DomainDetails{Domain: c.SourceService.String()}
	case !c.SourceService.IsZero():
		a.CallerType = CallerAWSService
	}
	if caller := c.Identity.AccountID; !caller.IsZero() && !c.Account.IsZero() && caller != c.Account {
		a.RemoteAccountDetails = &finding.RemoteAccountDetails{AccountID: caller.String(), Affiliated: affiliated}
	}
	if affected != nil {
		a.AffectedResources = maps.Clone(affected)
	} else {
		a.AffectedResources = Resources(c)
	}
	return a
}

// Resources returns the resources a call names in its resources array, by
// type ("AWS::IAM::Role" to the ARN; the first of each type), or nil.
// It decodes JSON: call it when building a finding, not per record.
func Resources(c *event.APICall) map[string]string {
	if len(c.Resources) == 0 {
		return nil
	}
	var rs []struct {
		ARN  string `json:"ARN"`
		Type string `json:"type"`
	}
	if json.Unmarshal(c.Resources, &rs) != nil {
		return nil
	}
	out := map[string]string{}
	for _, r := range rs {
		if r.Type == "" || r.ARN == "" {
			continue
		}
		if _, dup := out[r.Type]; !dup {
			out[r.Type] = r.ARN
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
