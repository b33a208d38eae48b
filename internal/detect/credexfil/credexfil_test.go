package credexfil

import (
	"net/netip"
	"testing"

	"picket/internal/detect"
	"picket/internal/event"
	"picket/internal/finding"
)

func instanceCall(t event.Time, line int64, from string, aws event.Tri) *event.APICall {
	return &event.APICall{
		EventTime: t, EventName: event.Intern("ListBuckets"), EventSource: event.Intern("s3.amazonaws.com"),
		Account: event.Intern("111122223333"), Region: event.Intern("us-east-1"), SourceIP: netip.MustParseAddr(from),
		SourceInfo: event.IPInfo{AWS: aws}, Origin: event.Origin{File: event.Intern("t.json"), Line: line},
		Identity: event.Identity{Type: event.IdentityAssumedRole, AccountID: event.Intern("111122223333"),
			PrincipalID: event.Intern("AROAWEB:i-0aaa"), ARN: event.Intern("arn:aws:sts::111122223333:assumed-role/web/i-0aaa"),
			Session: event.Session{EC2RoleDelivery: event.Intern("2.0"), Issuer: event.SessionIssuer{
				ARN: event.Intern("arn:aws:iam::111122223333:role/web"), UserName: event.Intern("web")}}},
	}
}

func run(t *testing.T, calls ...*event.APICall) []*finding.Finding {
	t.Helper()
	d, err := New(detect.Env{DetectorID: finding.DetectorID})
	if err != nil {
		t.Fatal(err)
	}
	set := finding.NewSet()
	emit := func(f *finding.Finding) { set.Add(f) }
	for _, c := range calls {
		d.Observe(c, emit)
	}
	d.Advance(event.Forever, emit)
	return set.Sorted()
}

func TestNoRangesNoClaim(t *testing.T) {
	if fs := run(t, instanceCall(100, 1, "3.80.1.10", event.TriUnset), instanceCall(200, 2, "198.51.100.9", event.TriUnset)); len(fs) != 0 {
		t.Errorf("claimed %s without AWS's ranges", fs[0].Type)
	}
}

func TestOutsideAndInside(t *testing.T) {
	fs := run(t,
		instanceCall(100, 1, "3.80.1.10", event.TriTrue),     // the instance: learned
		instanceCall(130, 2, "3.80.1.11", event.TriTrue),     // within learn_window: the instance's too
		instanceCall(500, 3, "198.51.100.9", event.TriFalse), // outside AWS
		instanceCall(900, 4, "3.90.7.7", event.TriTrue),      // another AWS address, later
		instanceCall(950, 5, "3.80.1.11", event.TriTrue),     // home again
	)
	types := map[string]bool{}
	for _, f := range fs {
		types[f.Type] = true
	}
	if len(fs) != 2 || !types[finding.TypeCredentialExfilInsideAWS] || !types[finding.TypeCredentialExfilOutsideAWS] {
		t.Fatalf("findings %v, want one InsideAWS and one OutsideAWS", types)
	}
	for _, f := range fs {
		if f.Service.Count != 1 || f.Severity != finding.SeverityHigh || f.Resource.InstanceDetails.InstanceID != "i-0aaa" {
			t.Errorf("%s: count %d, severity %v", f.Type, f.Service.Count, f.Severity)
		}
	}
}

// TestArrivalOrder: the attacker's call arrives first but is later in
// event time; the instance's own address is still the one learned.
func TestArrivalOrder(t *testing.T) {
	fs := run(t, instanceCall(900, 2, "3.90.7.7", event.TriTrue), instanceCall(100, 1, "3.80.1.10", event.TriTrue))
	if len(fs) != 1 || fs[0].Service.Action.AwsAPICallAction.RemoteIPDetails.IPAddressV4 != "3.90.7.7" {
		t.Fatalf("%d findings", len(fs))
	}
}
