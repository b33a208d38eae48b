package store

import (
	"testing"
	"time"

	"picket/internal/finding"
)

func testFinding() *finding.Finding {
	f := finding.New(finding.TypePortscan, finding.Key{Account: "123456789012", Region: "us-east-1", Resource: "i-0abc", Role: finding.RoleActor},
		"det", time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC), time.Date(2026, 3, 4, 11, 0, 0, 0, time.UTC), 7)
	f.Resource.InstanceDetails = &finding.InstanceDetails{
		InstanceID: "i-0abc",
		Tags:       []finding.Tag{{Key: "Name", Value: "web-1"}, {Key: "env", Value: "prod"}},
		NetworkInterfaces: []finding.NetworkInterface{{NetworkInterfaceID: "eni-1", SubnetID: "subnet-1",
			SecurityGroups: []finding.SecurityGroup{{GroupID: "sg-1"}, {GroupID: "sg-2"}}}},
	}
	f.Service.Action.NetworkConnectionAction = &finding.NetworkConnectionAction{
		ConnectionDirection: "OUTBOUND", Protocol: "TCP", Blocked: false,
		LocalPortDetails:  finding.Port(40000),
		RemoteIPDetails:   &finding.RemoteIPDetails{IPAddressV4: "198.51.100.7"},
		RemotePortDetails: finding.Port(22),
	}
	f.Service.AdditionalInfo = &finding.AdditionalInfo{Explanation: &finding.Explanation{Detector: "portscan", ThreatListName: "my-list"}}
	return f
}

func i64(v int64) *int64 { return &v }

func TestCriteriaMatch(t *testing.T) {
	f := testFinding()
	ms := func(t time.Time) *int64 { return i64(t.UnixMilli()) }
	tests := []struct {
		name string
		c    Criteria
		want bool
	}{
		{"type equals", Criteria{"type": {Equals: []string{"Recon:EC2/Portscan", "x"}}}, true},
		{"type not equals", Criteria{"type": {NotEquals: []string{"Recon:EC2/Portscan"}}}, false},
		{"severity is a number", Criteria{"severity": {GreaterThanOrEqual: i64(5)}}, true},
		{"severity below", Criteria{"severity": {LessThan: i64(5)}}, false},
		{"archived as text", Criteria{"service.archived": {Equals: []string{"false"}}}, true},
		{"port as text", Criteria{"service.action.networkConnectionAction.remotePortDetails.port": {Equals: []string{"22"}}}, true},
		{"updatedAt in milliseconds", Criteria{"updatedAt": {GreaterThan: ms(time.Date(2026, 3, 4, 10, 59, 0, 0, time.UTC))}}, true},
		{"updatedAt too early", Criteria{"updatedAt": {LessThan: ms(time.Date(2026, 3, 4, 10, 59, 0, 0, time.UTC))}}, false},
		{"any element of a list", Criteria{"resource.instanceDetails.networkInterfaces.securityGroups.groupId": {Equals: []string{"sg-2"}}}, true},
		{"tags", Criteria{"resource.instanceDetails.tags.value": {Equals: []string{"prod"}}}, true},
		{"additionalInfo key", Criteria{"service.additionalInfo.threatListName": {Equals: []string{"my-list"}}}, true},
		{"ANDed", Criteria{"type": {Equals: []string{"Recon:EC2/Portscan"}}, "severity": {GreaterThan: i64(7)}}, false},
		{"missing field never equals", Criteria{"resource.accessKeyDetails.userName": {Equals: []string{"x"}}}, false},
		{"missing field is never an unwanted value", Criteria{"resource.accessKeyDetails.userName": {NotEquals: []string{"x"}}}, true},
		{"wildcard", Criteria{"resource.instanceDetails.tags.value": {Matches: []string{"web-*"}}}, true},
		{"wildcard across slashes", Criteria{"arn": {Matches: []string{"arn:aws:guardduty:*/finding/*"}}}, true},
		{"not matches", Criteria{"resource.instanceDetails.tags.value": {NotMatches: []string{"*prod*"}}}, false},
		{"empty criteria", Criteria{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.Match(f); got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCriteriaValidate(t *testing.T) {
	bad := []Criteria{
		{"type": {}},
		{"bad path!": {Equals: []string{"x"}}},
		{"type": {Matches: []string{"x*"}}}, // without allowMatches
		{"a..b": {Equals: []string{"x"}}},
	}
	for _, c := range bad {
		if err := c.Validate(false); err == nil {
			t.Errorf("%v accepted", c)
		}
	}
	if err := (Criteria{"type": {Matches: []string{"Recon:*"}}}).Validate(true); err != nil {
		t.Errorf("matches in a filter rejected: %v", err)
	}
	many := Criteria{}
	for i := 0; i < 51; i++ {
		many["f"+string(rune('a'+i%26))+string(rune('a'+i/26))] = Condition{Equals: []string{"x"}}
	}
	if err := many.Validate(false); err == nil {
		t.Error("51 attributes accepted")
	}
}

func TestGlob(t *testing.T) {
	for _, tt := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"a*c", "abbbc", true}, {"a*c", "abbb", false}, {"?b", "ab", true},
		{"*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac", false}, {"a[b]", "a[b]", true},
	} {
		if got := Glob(tt.p, tt.s); got != tt.want {
			t.Errorf("Glob(%q, %q) = %v", tt.p, tt.s, got)
		}
	}
}

func TestSortLess(t *testing.T) {
	a, b := Values(testFinding()), Values(testFinding())
	b["severity"] = []string{"8.0"}
	s := Sort{Attribute: "severity"}
	if !s.Less(a, b) || s.Less(b, a) {
		t.Error("numeric ascending order wrong")
	}
	s.Desc = true
	if !s.Less(b, a) {
		t.Error("descending order wrong")
	}
	delete(b, "severity")
	if !(Sort{Attribute: "severity"}).Less(a, b) {
		t.Error("a finding without the attribute must sort last")
	}
}

// TestCriteriaDNS checks the criteria GuardDuty clients use for DNS
// findings: service.action.actionType DNS_REQUEST and the fields of
// service.action.dnsRequestAction, which a network finding lacks.
func TestCriteriaDNS(t *testing.T) {
	dns := finding.New(finding.TypeC2ActivityDNS, finding.Key{Account: "123456789012", Region: "us-east-1", Resource: "i-0abc", Role: finding.RoleActor, Actor: "beacon.c2.example"},
		"det", time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC), time.Date(2026, 3, 4, 11, 0, 0, 0, time.UTC), 2)
	dns.Service.Action.DNSRequestAction = &finding.DNSRequestAction{Domain: "beacon.c2.example", DomainWithSuffix: "c2.example", Protocol: "UDP", Blocked: true}
	network := testFinding()
	tests := []struct {
		name           string
		c              Criteria
		dnsWant, nWant bool
	}{
		{"actionType", Criteria{"service.action.actionType": {Equals: []string{finding.ActionDNSRequest}}}, true, false},
		{"not DNS", Criteria{"service.action.actionType": {NotEquals: []string{finding.ActionDNSRequest}}}, false, true},
		{"domain", Criteria{"service.action.dnsRequestAction.domain": {Equals: []string{"beacon.c2.example"}}}, true, false},
		{"other domain", Criteria{"service.action.dnsRequestAction.domain": {Equals: []string{"c2.example"}}}, false, false},
		{"domainWithSuffix", Criteria{"service.action.dnsRequestAction.domainWithSuffix": {Equals: []string{"c2.example"}}}, true, false},
		{"domain wildcard", Criteria{"service.action.dnsRequestAction.domain": {Matches: []string{"*.c2.example"}}}, true, false},
		{"blocked", Criteria{"service.action.dnsRequestAction.blocked": {Equals: []string{"true"}}}, true, false},
		{"protocol", Criteria{"service.action.dnsRequestAction.protocol": {Equals: []string{"UDP"}}}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.c.Validate(true); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if got := tt.c.Match(dns); got != tt.dnsWant {
				t.Errorf("DNS finding: Match = %v, want %v", got, tt.dnsWant)
			}
			if got := tt.c.Match(network); got != tt.nWant {
				t.Errorf("network finding: Match = %v, want %v", got, tt.nWant)
			}
		})
	}
}
