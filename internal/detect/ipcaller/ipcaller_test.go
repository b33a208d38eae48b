package ipcaller

import (
	"net/netip"
	"strings"
	"testing"

	"picket/internal/detect"
	"picket/internal/event"
	"picket/internal/finding"
)

func TestTypeOf(t *testing.T) {
	for _, tt := range []struct {
		api  string
		kind detect.ThreatKind
		want string
	}{
		{"ListBuckets", detect.ThreatCustom, finding.TypeReconMaliciousIPCustom},
		{"CreateAccessKey", detect.ThreatCustom, finding.TypeUnauthMaliciousIPCustom},
		{"DescribeInstances", detect.ThreatTor, finding.TypeReconTorIPCaller},
		{"GetSecretValue", detect.ThreatTor, finding.TypeUnauthTorIPCaller},
	} {
		if got := TypeOf(tt.api, tt.kind); got != tt.want {
			t.Errorf("TypeOf(%s, %v) = %s, want %s", tt.api, tt.kind, got, tt.want)
		}
	}
}

// lists is a fake detect.Intel: 198.51.100.7 is on a list of every Tor
// relay, 203.0.113.7 on the Tor Project's exit list.
type lists struct{}

func (lists) Trusted(netip.Addr) bool { return false }
func (lists) Threat(a netip.Addr) (detect.ThreatMatch, bool) {
	switch a {
	case netip.MustParseAddr("198.51.100.7"):
		return detect.ThreatMatch{ListName: "tor-relays", Kind: detect.ThreatTor, Purpose: "Tor relay"}, true
	case netip.MustParseAddr("203.0.113.7"):
		return detect.ThreatMatch{ListName: "tor-exits", Kind: detect.ThreatTor, Purpose: "Tor exit node"}, true
	}
	return detect.ThreatMatch{}, false
}

func call(user, from string) *event.APICall {
	return &event.APICall{
		EventTime: 1_700_000_000, EventName: event.Intern("GetSecretValue"), EventSource: event.Intern("secretsmanager.amazonaws.com"),
		Account: event.Intern("111122223333"), Region: event.Intern("us-east-1"), SourceIP: netip.MustParseAddr(from),
		Origin: event.Origin{File: event.Intern("t.json"), Line: 1},
		Identity: event.Identity{Type: event.IdentityIAMUser, UserName: event.Intern(user), AccountID: event.Intern("111122223333"),
			ARN: event.Intern("arn:aws:iam::111122223333:user/" + user), PrincipalID: event.Intern("AIDA" + user)},
	}
}

// Issue 12: a call from an address on a list of all Tor relays was
// described as coming from a Tor exit node.
func TestTorFindingSaysRelayOrExit(t *testing.T) {
	d, err := New(detect.Env{DetectorID: finding.DetectorID, Intel: lists{}})
	if err != nil {
		t.Fatal(err)
	}
	set := finding.NewSet()
	emit := func(f *finding.Finding) { set.Add(f) }
	d.Observe(call("alice", "198.51.100.7"), emit)
	d.Observe(call("bob", "203.0.113.7"), emit)
	d.Advance(event.Forever, emit)
	got := map[string]string{}
	for _, f := range set.Sorted() {
		got[f.Resource.AccessKeyDetails.UserName] = f.Title + " | " + f.Description + " | " + f.Service.AdditionalInfo.Explanation.Summary
	}
	for user, want := range map[string][]string{
		"alice": {"from Tor relay 198.51.100.7", "through the Tor relay 198.51.100.7", "(Tor relay)"},
		"bob":   {"from Tor exit node 203.0.113.7", "through the Tor exit node 203.0.113.7", "(Tor exit node)"},
	} {
		for _, w := range want {
			if !strings.Contains(got[user], w) {
				t.Errorf("%s: %q does not say %q", user, got[user], w)
			}
		}
	}
	if strings.Contains(got["alice"], "exit") {
		t.Errorf("alice: %q calls a relay an exit node", got["alice"])
	}
}
