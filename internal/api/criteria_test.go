package api

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"

	"picket/internal/finding"
	"picket/internal/store"
)

// TestUnknownFieldRefused: every call that takes criteria or a sort
// refuses a field outside the catalogue, naming it, instead of matching
// it against a field no finding has.
func TestUnknownFieldRefused(t *testing.T) {
	f := newFixture(t, nil)
	det := f.createDetector(t)
	d := "/detector/" + det
	f.call(t, "POST", d+"/filter", `{"name":"exists","findingCriteria":{"criterion":{"severity":{"gte":4}}}}`, nil)
	bad := `{"criterion":{"severty":{"neq":["2.0"]},"type":{"equals":["x"]}}}`
	tests := []struct {
		name, method, path, body, field string
	}{
		{"ListFindings criterion", "POST", d + "/findings", `{"findingCriteria":` + bad + `}`, "severty"},
		{"ListFindings sort", "POST", d + "/findings", `{"sortCriteria":{"attributeName":"severty","orderBy":"ASC"}}`, "severty"},
		{"GetFindings sort", "POST", d + "/findings/get", `{"findingIds":["a"],"sortCriteria":{"attributeName":"service.cuont"}}`, "service.cuont"},
		{"GetFindingsStatistics", "POST", d + "/findings/statistics", `{"groupBy":"SEVERITY","findingCriteria":` + bad + `}`, "severty"},
		{"CreateFilter NOOP", "POST", d + "/filter", `{"name":"noop","findingCriteria":` + bad + `}`, "severty"},
		{"CreateFilter ARCHIVE", "POST", d + "/filter", `{"name":"quiet","action":"ARCHIVE","findingCriteria":` + bad + `}`, "severty"},
		{"UpdateFilter", "POST", d + "/filter/exists", `{"findingCriteria":` + bad + `}`, "severty"},
		{"several named in order", "POST", d + "/findings", `{"findingCriteria":{"criterion":{"zz":{"equals":["a"]},"aa":{"equals":["b"]}}}}`, "aa, zz"},
		{"a path with a typo", "POST", d + "/findings", `{"findingCriteria":{"criterion":{"resource.instanceDetails.instanceID":{"equals":["i-1"]}}}}`, "resource.instanceDetails.instanceID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := errorOf(t, f.serve(f.request(t, tt.method, tt.path, tt.body)))
			if e.Status != 400 || e.Code != "BadRequestException" || e.Type != "InvalidInputException" {
				t.Errorf("answer %d %s %s, want 400 BadRequestException InvalidInputException", e.Status, e.Code, e.Type)
			}
			if !strings.Contains(e.Message, ": "+tt.field+".") {
				t.Errorf("message %q does not name %s", e.Message, tt.field)
			}
		})
	}
	var names struct{ FilterNames []string }
	f.call(t, "GET", d+"/filter", "", &names)
	if !slices.Equal(names.FilterNames, []string{"exists"}) {
		t.Errorf("filters %v, want [exists]", names.FilterNames)
	}
}

// TestKnownFieldsAccepted: the fields of GuardDuty's documented
// criteria, the console's and picket's, and the sort attributes the
// finding has, are all taken.
func TestKnownFieldsAccepted(t *testing.T) {
	f := newFixture(t, nil)
	d := "/detector/" + f.createDetector(t)
	for _, field := range []string{
		"accountId", "severity", "type", "updatedAt", "service.archived",
		"resource.instanceDetails.instanceId",
		"resource.instanceDetails.networkInterfaces.securityGroups.groupId",
		"service.action.networkConnectionAction.remoteIpDetails.ipAddressV4",
		"service.action.awsApiCallAction.remoteIpDetails.organization.asn",
		"service.localIpDetails.ipAddressV4", "resource.instanceDetails.outpostARN",
		"service.action.portProbeAction.portProbeDetails.localPortDetails.port",
		"service.additionalInfo.sample",
	} {
		f.call(t, "POST", d+"/findings", `{"findingCriteria":{"criterion":{"`+field+`":{"equals":["1"]}}}}`, nil)
	}
	for _, attr := range []string{"severity", "updatedAt", "createdAt", "accountId", "title", "service.count", "service.eventLastSeen"} {
		f.call(t, "POST", d+"/findings", `{"sortCriteria":{"attributeName":"`+attr+`","orderBy":"DESC"}}`, nil)
	}
}

// TestCatalogueWellFormed: every catalogue entry is a path the criteria
// accept, and the sort attributes include every criterion field.
func TestCatalogueWellFormed(t *testing.T) {
	for field := range criterionFields {
		if !validPath(field) {
			t.Errorf("criterion field %q is not a path", field)
		}
		if !knownSort(field) {
			t.Errorf("criterion field %q is not a sort attribute", field)
		}
	}
	if len(criterionFields) < 44 {
		t.Errorf("%d criterion fields, fewer than GuardDuty documents", len(criterionFields))
	}
}

// TestMisspeltSuppressionRule is the report of issue 12: a suppression
// rule on a misspelt field answered 200 and archived every finding there
// was and every one that came after. It is refused, and archives nothing.
func TestMisspeltSuppressionRule(t *testing.T) {
	st := newMemStore()
	f := newFixture(t, st)
	det := f.createDetector(t)
	d := "/detector/" + det
	ctx := context.Background()
	if err := st.Commit(ctx, batchOf(
		testFinding(finding.TypePortscan, "i-1", 2, testNow),
		testFinding(finding.TypeSSHBruteForce, "i-2", 5, testNow),
	)); err != nil {
		t.Fatal(err)
	}
	w := f.serve(f.request(t, "POST", d+"/filter", `{"name":"quiet","action":"ARCHIVE","findingCriteria":{"criterion":{"severty":{"neq":["2.0"]}}}}`))
	if e := errorOf(t, w); e.Status != 400 || e.Code != "BadRequestException" || !strings.Contains(e.Message, "severty") {
		t.Fatalf("CreateFilter answered %d %s %q, want 400 BadRequestException naming severty", e.Status, e.Code, e.Message)
	}
	if err := st.Commit(ctx, batchOf(testFinding(finding.TypePortSweep, "i-3", 8, testNow))); err != nil {
		t.Fatal(err)
	}
	var out struct{ FindingIDs []string }
	f.call(t, "POST", d+"/findings", `{"findingCriteria":{"criterion":{"service.archived":{"equals":["true"]}}}}`, &out)
	if len(out.FindingIDs) != 0 {
		t.Errorf("archived %v, want none", out.FindingIDs)
	}
}

// TestSuppressionRuleExplicit: a suppression rule needs an explicit
// criterion. An empty one is refused on create and update, and a filter
// stored with a field outside the catalogue cannot be made one.
func TestSuppressionRuleExplicit(t *testing.T) {
	st := newMemStore()
	f := newFixture(t, st)
	det := f.createDetector(t)
	d := "/detector/" + det
	ctx := context.Background()
	if err := st.Commit(ctx, batchOf(testFinding(finding.TypePortscan, "i-1", 2, testNow))); err != nil {
		t.Fatal(err)
	}
	// A filter from before the catalogue, on a field outside it.
	if err := st.CreateFilter(ctx, &store.Filter{DetectorID: det, Name: "legacy", Action: "NOOP", Rank: 1,
		Criteria: store.Criteria{"severty": {NotEquals: []string{"2.0"}}}, CreatedAt: testNow, UpdatedAt: testNow}); err != nil {
		t.Fatal(err)
	}
	f.call(t, "POST", d+"/filter", `{"name":"view","findingCriteria":{"criterion":{"severity":{"gte":4}}}}`, nil)
	tests := []struct {
		name, path, body, msg string
	}{
		{"create with empty criterion", d + "/filter", `{"name":"all","action":"ARCHIVE","findingCriteria":{"criterion":{}}}`,
			"The request is rejected because the parameter findingCriteria has an invalid value."},
		{"create without criteria", d + "/filter", `{"name":"all","action":"ARCHIVE"}`,
			"The request is rejected because the parameter findingCriteria has an invalid value."},
		{"update to empty criterion", d + "/filter/view", `{"action":"ARCHIVE","findingCriteria":{"criterion":{}}}`,
			"The request is rejected because the parameter findingCriteria has an invalid value."},
		{"legacy filter made a suppression rule", d + "/filter/legacy", `{"action":"ARCHIVE"}`,
			"The request is rejected because findingCriteria names unknown finding fields: severty."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := errorOf(t, f.serve(f.request(t, "POST", tt.path, tt.body)))
			if e.Status != 400 || e.Code != "BadRequestException" || e.Message != tt.msg {
				t.Errorf("answer %d %s %q, want 400 BadRequestException %q", e.Status, e.Code, e.Message, tt.msg)
			}
		})
	}
	var out struct{ FindingIDs []string }
	f.call(t, "POST", d+"/findings", `{"findingCriteria":{"criterion":{"service.archived":{"equals":["true"]}}}}`, &out)
	if len(out.FindingIDs) != 0 {
		t.Errorf("archived %v, want none", out.FindingIDs)
	}
	if fl, _ := st.Filter(ctx, det, "legacy"); fl.Action != "NOOP" {
		t.Errorf("legacy filter's action is %s, want NOOP", fl.Action)
	}
}

// TestSuppressionRuleLogged: archiving by a filter, on create and on
// update, is logged with the filter's name and the count archived.
func TestSuppressionRuleLogged(t *testing.T) {
	st := newMemStore()
	f := newFixture(t, st)
	det := f.createDetector(t)
	d := "/detector/" + det
	if err := st.Commit(context.Background(), batchOf(
		testFinding(finding.TypePortscan, "i-1", 2, testNow),
		testFinding(finding.TypePortscan, "i-2", 2, testNow),
		testFinding(finding.TypeSSHBruteForce, "i-3", 5, testNow),
	)); err != nil {
		t.Fatal(err)
	}
	f.call(t, "POST", d+"/filter", `{"name":"no-scans","action":"ARCHIVE","findingCriteria":{"criterion":{"type":{"equals":["`+finding.TypePortscan+`"]}}}}`, nil)
	f.call(t, "POST", d+"/filter", `{"name":"ssh","findingCriteria":{"criterion":{"type":{"equals":["`+finding.TypeSSHBruteForce+`"]}}}}`, nil)
	f.call(t, "POST", d+"/filter/ssh", `{"action":"ARCHIVE"}`, nil)
	logs := f.logs.String()
	for _, want := range []string{
		`msg="suppression rule archived findings" .*detector_id=` + det + ` filter=no-scans archived=2`,
		`msg="suppression rule archived findings" .*detector_id=` + det + ` filter=ssh archived=1`,
	} {
		if !regexp.MustCompile(want).MatchString(logs) {
			t.Errorf("no log line matching %s in\n%s", want, logs)
		}
	}
}
