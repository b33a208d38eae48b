package api

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"picket/internal/finding"
	"picket/internal/store/sqlite"
)

// TestDNSFindingsThroughAPI is what the console asks of DNS findings,
// over SQLite: ListFindings filters on service.action.actionType
// DNS_REQUEST and on service.action.dnsRequestAction.domain and
// domainWithSuffix, and GetFindings returns the dnsRequestAction that
// the detail page shows (domain, domainWithSuffix, protocol, blocked).
func TestDNSFindingsThroughAPI(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "picket.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := newFixture(t, st)
	det := f.createDetector(t)
	d := "/detector/" + det

	dns := finding.New(finding.TypeC2ActivityDNS, finding.Key{Account: testAccount, Region: testRegion, Resource: "i-0dns", Role: finding.RoleActor, Actor: "beacon.c2.example"},
		finding.DetectorID(testAccount, testRegion), testNow.Add(-10*time.Minute), testNow, 4)
	dns.Resource.InstanceDetails = &finding.InstanceDetails{InstanceID: "i-0dns"}
	dns.Service.Action.DNSRequestAction = &finding.DNSRequestAction{Domain: "beacon.c2.example", DomainWithSuffix: "c2.example", Protocol: "TCP", Blocked: true}
	network := testFinding(finding.TypePortscan, "i-0net", 2, testNow)
	if err := st.Commit(context.Background(), batchOf(dns, network)); err != nil {
		t.Fatal(err)
	}

	list := func(criterion string) []string {
		t.Helper()
		var out struct {
			FindingIDs []string `json:"findingIds"`
		}
		f.call(t, "POST", d+"/findings", `{"findingCriteria":{"criterion":{`+criterion+`}}}`, &out)
		return out.FindingIDs
	}
	for _, c := range []struct {
		criterion string
		want      []string
	}{
		{`"service.action.actionType":{"equals":["DNS_REQUEST"]}`, []string{dns.ID}},
		{`"service.action.actionType":{"eq":["NETWORK_CONNECTION"]}`, []string{network.ID}},
		{`"service.action.dnsRequestAction.domain":{"equals":["beacon.c2.example"]}`, []string{dns.ID}},
		{`"service.action.dnsRequestAction.domain":{"equals":["c2.example"]}`, nil},
		{`"service.action.dnsRequestAction.domainWithSuffix":{"equals":["c2.example"]}`, []string{dns.ID}},
		{`"service.action.dnsRequestAction.domain":{"neq":["beacon.c2.example"]}`, []string{network.ID}},
	} {
		if got := list(c.criterion); !slices.Equal(got, c.want) {
			t.Errorf("ListFindings %s = %v, want %v", c.criterion, got, c.want)
		}
	}

	var got struct {
		Findings []struct {
			Type    string `json:"type"`
			Service struct {
				Action struct {
					ActionType       string `json:"actionType"`
					DNSRequestAction struct {
						Domain           string `json:"domain"`
						DomainWithSuffix string `json:"domainWithSuffix"`
						Protocol         string `json:"protocol"`
						Blocked          *bool  `json:"blocked"`
					} `json:"dnsRequestAction"`
				} `json:"action"`
			} `json:"service"`
		} `json:"findings"`
	}
	f.call(t, "POST", d+"/findings/get", `{"findingIds":["`+dns.ID+`"]}`, &got)
	if len(got.Findings) != 1 {
		t.Fatalf("GetFindings: %d findings", len(got.Findings))
	}
	a := got.Findings[0].Service.Action
	if got.Findings[0].Type != finding.TypeC2ActivityDNS || a.ActionType != finding.ActionDNSRequest || a.DNSRequestAction.Domain != "beacon.c2.example" ||
		a.DNSRequestAction.DomainWithSuffix != "c2.example" || a.DNSRequestAction.Protocol != "TCP" || a.DNSRequestAction.Blocked == nil || !*a.DNSRequestAction.Blocked {
		t.Errorf("GetFindings: %+v", got.Findings[0])
	}
}
