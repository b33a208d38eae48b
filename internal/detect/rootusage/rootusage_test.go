package rootusage

import (
	"net/netip"
	"testing"

	"picket/internal/detect"
	"picket/internal/event"
	"picket/internal/finding"
)

func TestRootUsage(t *testing.T) {
	root := func(invokedBy string, assumedRoot bool) *event.APICall {
		c := &event.APICall{EventTime: 1_700_000_000, EventName: event.Intern("PutAlternateContact"), EventSource: event.Intern("account.amazonaws.com"),
			Account: event.Intern("111122223333"), Region: event.Intern("us-east-1"), SourceIP: netip.MustParseAddr("198.51.100.7"),
			Origin:   event.Origin{File: event.Intern("t.json"), Line: 1},
			Identity: event.Identity{Type: event.IdentityRoot, AccountID: event.Intern("111122223333"), InvokedBy: event.Intern(invokedBy)}}
		if assumedRoot {
			c.Identity.Session.AssumedRoot = event.TriTrue
		}
		return c
	}
	d, err := New(detect.Env{DetectorID: finding.DetectorID})
	if err != nil {
		t.Fatal(err)
	}
	var fs []*finding.Finding
	emit := func(f *finding.Finding) { fs = append(fs, f) }
	d.Observe(root("", false), emit)
	d.Observe(root("cloudtrail.amazonaws.com", false), emit) // a service on root's behalf
	d.Observe(root("", true), emit)
	d.Advance(event.Forever, emit)
	if len(fs) != 2 || fs[0].Type != finding.TypeRootCredentialUsage || fs[1].Type != finding.TypeShortTermRootCredentialUsage ||
		fs[0].Service.Count != 1 || fs[0].Resource.AccessKeyDetails.UserName != "Root" {
		for _, f := range fs {
			t.Logf("%s count %d", f.Type, f.Service.Count)
		}
		t.Fatalf("%d findings, want one of each type, the service's call left out", len(fs))
	}
}
