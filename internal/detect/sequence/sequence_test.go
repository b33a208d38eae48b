package sequence

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"picket/internal/detect"
	"picket/internal/event"
	"picket/internal/finding"
)

const account = "111122223333"

var t0 = time.Date(2026, 3, 4, 3, 0, 0, 0, time.UTC)

// apiFinding is a CloudTrail finding of typ about a principal at t.
func apiFinding(typ, user, principalID string, at time.Time, api string) *finding.Finding {
	k := finding.Key{Account: account, Region: "eu-west-1", Resource: principalID}
	f := finding.New(typ, k, finding.DetectorID(account, "eu-west-1"), at, at, 1)
	f.Title = typ + " by " + user
	f.Resource.AccessKeyDetails = &finding.AccessKeyDetails{
		AccessKeyID: "AKIAEXAMPLEKEY000001", PrincipalID: principalID, UserName: user, UserType: "IAMUser",
	}
	f.Service.Action.AwsAPICallAction = &finding.AwsAPICallAction{
		API: api, ServiceName: "cloudtrail.amazonaws.com", CallerType: "Remote IP",
		UserAgent: "aws-cli/2.15.0 Python/3.11 Linux/6.5.0-kali3-amd64",
		RemoteIPDetails: &finding.RemoteIPDetails{IPAddressV4: "198.51.100.7",
			Organization: &finding.Organization{Asn: "64500", AsnOrg: "Example Hosting"},
			Country:      &finding.Country{CountryName: "Examplia"}},
	}
	return f
}

// networkFinding is a flow-log finding about an instance at t.
func networkFinding(typ, inst string, at time.Time) *finding.Finding {
	k := finding.Key{Account: account, Region: "eu-west-1", Resource: inst}
	f := finding.New(typ, k, finding.DetectorID(account, "eu-west-1"), at, at, 1)
	f.Title = typ + " on " + inst
	f.Resource.InstanceDetails = &finding.InstanceDetails{InstanceID: inst}
	f.Service.Action.NetworkConnectionAction = &finding.NetworkConnectionAction{
		ConnectionDirection: finding.DirectionOutbound,
		RemoteIPDetails:     &finding.RemoteIPDetails{IPAddressV4: "203.0.113.9"},
	}
	return f
}

// run shows the findings to a new correlator in order, advancing it to
// the end, and returns what it reported.
func run(t *testing.T, th map[string]float64, fs ...*finding.Finding) []*finding.Finding {
	t.Helper()
	d, err := New(detect.Env{Thresholds: th, DetectorID: finding.DetectorID})
	if err != nil {
		t.Fatal(err)
	}
	var out []*finding.Finding
	emit := func(f *finding.Finding) { out = append(out, f) }
	for _, f := range fs {
		d.ObserveFinding(f, emit)
	}
	d.Advance(event.Forever, emit)
	return out
}

// quietPrincipal is the stolen key of a rarely used user: an attack
// distribution's user agent, a sweep of discovery calls, then the trail
// stopped, within minutes at 3 a.m.
func quietPrincipal() []*finding.Finding {
	return []*finding.Finding{
		apiFinding(finding.TypePenTestKali, "ops-reporting", "AIDAEXAMPLEOPS000001", t0, "GetCallerIdentity"),
		apiFinding(finding.TypeDiscoveryAnomalous, "ops-reporting", "AIDAEXAMPLEOPS000001", t0.Add(96*time.Second), "DescribeInstances"),
		apiFinding(finding.TypeCloudTrailLoggingDisabled, "ops-reporting", "AIDAEXAMPLEOPS000001", t0.Add(3*time.Minute), "StopLogging"),
	}
}

func TestQuietPrincipalSequence(t *testing.T) {
	out := run(t, nil, quietPrincipal()...)
	if len(out) != 1 {
		t.Fatalf("%d findings, want 1 attack sequence", len(out))
	}
	f := out[0]
	if f.Type != finding.TypeAttackSequenceIAM || f.Severity.Label() != "Critical" {
		t.Errorf("type %s severity %v, want %s Critical", f.Type, f.Severity, finding.TypeAttackSequenceIAM)
	}
	if f.Resource.AccessKeyDetails == nil || f.Resource.AccessKeyDetails.UserName != "ops-reporting" {
		t.Errorf("resource %+v does not name the user", f.Resource.AccessKeyDetails)
	}
	if a := f.Service.Action.AwsAPICallAction; a == nil || a.API != "StopLogging" {
		t.Errorf("action %+v, want the latest call, StopLogging", a)
	}
	seq := f.Service.Detection.Sequence
	var names []string
	for _, s := range seq.Signals {
		names = append(names, s.Name)
		if !strings.HasPrefix(s.UID, "arn:aws:guardduty:eu-west-1:"+account+":detector/") {
			t.Errorf("signal uid %q is not a finding ARN", s.UID)
		}
	}
	want := []string{finding.TypePenTestKali, finding.TypeDiscoveryAnomalous, finding.TypeCloudTrailLoggingDisabled}
	if !slices.Equal(names, want) {
		t.Errorf("signals %v, want %v in the order they began", names, want)
	}
	var tactics []string
	for _, in := range seq.SequenceIndicators {
		if in.Key == finding.IndicatorAttackTactic {
			tactics = in.Values
		}
	}
	if !slices.Equal(tactics, []string{"Defense Evasion", "Discovery", "Initial Access"}) {
		t.Errorf("tactics %v", tactics)
	}
	if len(seq.Endpoints) != 1 || seq.Endpoints[0].IP != "198.51.100.7" || seq.Endpoints[0].AutonomousSystem == nil ||
		seq.Endpoints[0].AutonomousSystem.Number != 64500 {
		t.Errorf("endpoints %+v", seq.Endpoints)
	}
	if !strings.Contains(seq.Description, "ops-reporting") || !strings.Contains(f.Title, "ops-reporting") {
		t.Errorf("description %q, title %q: the user is not named", seq.Description, f.Title)
	}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"sequence":{"uid":"` + f.ID + `"`, `"signals":[`, `"firstSeenAt":`, `"sequenceIndicators":[`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON lacks %s", key)
		}
	}
}

// Two stages are an administrator's ordinary day; three stages spread
// over more than the window are not one sequence; and the stages of two
// principals do not add up.
func TestNoSequence(t *testing.T) {
	q := quietPrincipal()
	cases := map[string][]*finding.Finding{
		"two stages": q[:2],
		"three stages over two days": {
			q[0], q[1],
			apiFinding(finding.TypeCloudTrailLoggingDisabled, "ops-reporting", "AIDAEXAMPLEOPS000001", t0.Add(48*time.Hour), "StopLogging"),
		},
		"three stages of two principals": {
			q[0], q[1],
			apiFinding(finding.TypeCloudTrailLoggingDisabled, "admin", "AIDAEXAMPLEADMIN0001", t0.Add(time.Minute), "StopLogging"),
		},
	}
	for name, fs := range cases {
		if out := run(t, nil, fs...); len(out) != 0 {
			t.Errorf("%s: %d findings, want none", name, len(out))
		}
	}
}

// The order in which the other detectors report does not change the
// sequence.
func TestOrderIndependent(t *testing.T) {
	q := quietPrincipal()
	a := run(t, nil, q...)
	b := run(t, nil, q[2], q[0], q[1])
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Errorf("reports in another order gave another finding:\n%s\n%s", ja, jb)
	}
}

// A role session named by an instance's ID is that instance's
// credentials: the instance's network findings are a stage of its own.
func TestInstanceSignals(t *testing.T) {
	const inst = "i-0123456789abcdef0"
	role := "AROAEXAMPLEROLE00001:" + inst
	fs := []*finding.Finding{
		networkFinding(finding.TypePortscan, inst, t0),
		apiFinding(finding.TypeDiscoveryAnomalous, "web-role", role, t0.Add(time.Hour), "ListBuckets"),
		apiFinding(finding.TypeCredentialExfilOutsideAWS, "web-role", role, t0.Add(2*time.Hour), "GetObject"),
	}
	for _, f := range fs {
		if f.Resource.AccessKeyDetails != nil {
			f.Resource.AccessKeyDetails.UserType = "AssumedRole"
		}
	}
	out := run(t, nil, fs...)
	if len(out) != 1 {
		t.Fatalf("%d findings, want 1", len(out))
	}
	seq := out[0].Service.Detection.Sequence
	var types []string
	for _, r := range seq.Resources {
		types = append(types, r.ResourceType+" "+r.UID)
	}
	if !slices.Contains(types, "EC2_INSTANCE "+inst) {
		t.Errorf("resources %v lack the instance", types)
	}
	if len(seq.Signals) != 3 || seq.Signals[0].Name != finding.TypePortscan || seq.Signals[0].ResourceUIDs[0] != inst {
		t.Errorf("signals %+v", seq.Signals)
	}
	if seq.Actors[0].Session == nil || seq.Actors[0].Session.UID != inst {
		t.Errorf("actor %+v has no session named by the instance", seq.Actors[0])
	}
	// The instance's findings alone, or with one stage of the
	// principal's, are not a sequence.
	if out := run(t, nil, fs[:2]...); len(out) != 0 {
		t.Errorf("an instance's findings and one stage: %d findings, want none", len(out))
	}
}

// A later signal updates the sequence: one more report of the same
// finding ID, counting the signal it adds; a state saved and restored
// between the two gives the same.
func TestUpdateAndState(t *testing.T) {
	d, err := New(detect.Env{DetectorID: finding.DetectorID})
	if err != nil {
		t.Fatal(err)
	}
	var out []*finding.Finding
	emit := func(f *finding.Finding) { out = append(out, f) }
	for _, f := range quietPrincipal() {
		d.ObserveFinding(f, emit)
	}
	d.Advance(event.TimeOf(t0.Add(time.Hour)), emit)
	saved, err := d.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	later := apiFinding(finding.TypeDefenseEvasionAnomalous, "ops-reporting", "AIDAEXAMPLEOPS000001", t0.Add(10*time.Minute), "DeleteFlowLogs")
	d.ObserveFinding(later, emit)
	d.Advance(event.Forever, emit)
	if len(out) != 2 || out[0].ID != out[1].ID {
		t.Fatalf("%d reports (IDs differ or missing), want 2 of one finding", len(out))
	}
	if out[1].Service.Count != 1 || len(out[1].Service.Detection.Sequence.Signals) != 4 {
		t.Errorf("update: count %d, %d signals; want 1 and 4", out[1].Service.Count, len(out[1].Service.Detection.Sequence.Signals))
	}

	r, _ := New(detect.Env{DetectorID: finding.DetectorID})
	if err := r.UnmarshalState(saved); err != nil {
		t.Fatal(err)
	}
	var again []*finding.Finding
	r.ObserveFinding(later, func(f *finding.Finding) { again = append(again, f) })
	r.Advance(event.Forever, func(f *finding.Finding) { again = append(again, f) })
	ja, _ := json.Marshal(out[1])
	jb, _ := json.Marshal(again)
	if len(again) != 1 || string(ja) != strings.TrimSuffix(strings.TrimPrefix(string(jb), "["), "]") {
		t.Errorf("restored state reported differently:\n%s\n%s", ja, jb)
	}
}

// Findings about many principals stay within the bound, and the evicted
// ones are counted.
func TestBounded(t *testing.T) {
	d, err := New(detect.Env{Thresholds: map[string]float64{"max_principals": 16}, DetectorID: finding.DetectorID})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		id := fmt.Sprintf("AIDAEXAMPLE%09d", i)
		d.ObserveFinding(apiFinding(finding.TypeDiscoveryAnomalous, "u"+strconv.Itoa(i), id, t0, "ListUsers"), func(*finding.Finding) {})
	}
	st := d.State()
	if st[0].Len > 16 || st[0].Evicted != 1000-16 {
		t.Errorf("principals: %+v", st[0])
	}
}
