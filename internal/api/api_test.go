package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"picket/internal/finding"
	"picket/internal/store"
)

func TestRouting(t *testing.T) {
	arn := "arn%3Aaws%3Aguardduty%3Aus-east-1%3A123456789012%3Adetector%2Fabc"
	tests := []struct {
		method, path string
		op           string
		labels       []string
	}{
		{"POST", "/detector", "CreateDetector", nil},
		{"GET", "/detector", "ListDetectors", nil},
		{"GET", "/detector/d1", "GetDetector", []string{"d1"}},
		{"POST", "/detector/d1", "UpdateDetector", []string{"d1"}},
		{"DELETE", "/detector/d1", "DeleteDetector", []string{"d1"}},
		{"POST", "/detector/d1/findings", "ListFindings", []string{"d1"}},
		{"POST", "/detector/d1/findings/get", "GetFindings", []string{"d1"}},
		{"POST", "/detector/d1/findings/statistics", "GetFindingsStatistics", []string{"d1"}},
		{"POST", "/detector/d1/findings/archive", "ArchiveFindings", []string{"d1"}},
		{"POST", "/detector/d1/findings/unarchive", "UnarchiveFindings", []string{"d1"}},
		{"POST", "/detector/d1/findings/feedback", "UpdateFindingsFeedback", []string{"d1"}},
		{"POST", "/detector/d1/findings/create", "CreateSampleFindings", []string{"d1"}},
		{"POST", "/detector/d1/filter", "CreateFilter", []string{"d1"}},
		{"GET", "/detector/d1/filter", "ListFilters", []string{"d1"}},
		{"GET", "/detector/d1/filter/my.filter", "GetFilter", []string{"d1", "my.filter"}},
		{"POST", "/detector/d1/filter/my.filter", "UpdateFilter", []string{"d1", "my.filter"}},
		{"DELETE", "/detector/d1/filter/my.filter", "DeleteFilter", []string{"d1", "my.filter"}},
		{"POST", "/detector/d1/ipset", "CreateIPSet", []string{"d1"}},
		{"GET", "/detector/d1/ipset", "ListIPSets", []string{"d1"}},
		{"GET", "/detector/d1/ipset/s1", "GetIPSet", []string{"d1", "s1"}},
		{"POST", "/detector/d1/ipset/s1", "UpdateIPSet", []string{"d1", "s1"}},
		{"DELETE", "/detector/d1/ipset/s1", "DeleteIPSet", []string{"d1", "s1"}},
		{"POST", "/detector/d1/threatintelset", "CreateThreatIntelSet", []string{"d1"}},
		{"GET", "/detector/d1/threatintelset", "ListThreatIntelSets", []string{"d1"}},
		{"GET", "/detector/d1/threatintelset/s1", "GetThreatIntelSet", []string{"d1", "s1"}},
		{"POST", "/detector/d1/threatintelset/s1", "UpdateThreatIntelSet", []string{"d1", "s1"}},
		{"DELETE", "/detector/d1/threatintelset/s1", "DeleteThreatIntelSet", []string{"d1", "s1"}},
		{"POST", "/detector/d1/threatentityset", "CreateThreatEntitySet", []string{"d1"}},
		{"GET", "/detector/d1/threatentityset", "ListThreatEntitySets", []string{"d1"}},
		{"GET", "/detector/d1/threatentityset/s1", "GetThreatEntitySet", []string{"d1", "s1"}},
		{"POST", "/detector/d1/threatentityset/s1", "UpdateThreatEntitySet", []string{"d1", "s1"}},
		{"DELETE", "/detector/d1/threatentityset/s1", "DeleteThreatEntitySet", []string{"d1", "s1"}},
		{"POST", "/detector/d1/trustedentityset", "CreateTrustedEntitySet", []string{"d1"}},
		{"GET", "/detector/d1/trustedentityset", "ListTrustedEntitySets", []string{"d1"}},
		{"GET", "/detector/d1/trustedentityset/s1", "GetTrustedEntitySet", []string{"d1", "s1"}},
		{"POST", "/detector/d1/trustedentityset/s1", "UpdateTrustedEntitySet", []string{"d1", "s1"}},
		{"DELETE", "/detector/d1/trustedentityset/s1", "DeleteTrustedEntitySet", []string{"d1", "s1"}},
		{"GET", "/tags/" + arn, "ListTagsForResource", []string{"arn:aws:guardduty:us-east-1:123456789012:detector/abc"}},
		{"POST", "/tags/" + arn, "TagResource", []string{"arn:aws:guardduty:us-east-1:123456789012:detector/abc"}},
		{"DELETE", "/tags/" + arn, "UntagResource", []string{"arn:aws:guardduty:us-east-1:123456789012:detector/abc"}},
		// Labels are unescaped after matching: an escaped '/' stays in the label.
		{"GET", "/detector/d1/filter/a%2Fb", "GetFilter", []string{"d1", "a/b"}},
		// Operations of features picket does not offer route to their
		// not-offered answers (offRoutes).
		{"GET", "/detector/d1/malware-scan-settings", "GetMalwareScanSettings", []string{"d1"}},
		{"PATCH", "/malware-protection-plan/p1", "UpdateMalwareProtectionPlan", []string{"p1"}},
		{"GET", "/organization/statistics", "GetOrganizationStatistics", nil},
		// Paths outside the model, and nonsense.
		{"GET", "/detector/d1/nonsense", "", nil},
		{"POST", "/malware-scan-settings", "", nil},
		{"POST", "/usage/statistics", "", nil},
		{"PUT", "/detector", "", nil},
		{"GET", "/detector/", "", nil},
		{"GET", "/detector//filter", "", nil},
		{"GET", "/", "", nil},
		{"POST", "/detector/d1/findings/get/extra", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rt, labels, err := match(tt.method, tt.path)
			if tt.op == "" {
				var ae *apiError
				if !errors.As(err, &ae) || ae.status != 400 || ae.message != msgUnsupported {
					t.Fatalf("got %s, %v; want the unsupported-operation 400", rt.op, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rt.op != tt.op {
				t.Errorf("operation %s, want %s", rt.op, tt.op)
			}
			if diff := cmp.Diff(tt.labels, labels); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEveryOperationIsRouted(t *testing.T) {
	// The operation index of the reference (40 operations), usage and
	// coverage (3), publishing destinations (5), and the 19 of members,
	// administrator, invitations and organization that accountRoutes
	// serves.
	ops := map[string]bool{}
	for _, r := range routes {
		if ops[r.op] {
			t.Errorf("operation %s routed twice", r.op)
		}
		ops[r.op] = true
	}
	if len(ops) != 40+3+5+len(accountRoutes) || len(accountRoutes) != 19 {
		t.Errorf("%d operations routed, want 40 + 3 + 5 + 19", len(ops))
	}
	for _, r := range routes {
		want := http.StatusOK
		if r.op == "TagResource" || r.op == "UntagResource" {
			want = http.StatusNoContent
		}
		if r.status != want {
			t.Errorf("%s answers %d, want %d", r.op, r.status, want)
		}
	}
}

func TestErrorShape(t *testing.T) {
	f := newFixture(t, nil)
	w := f.serve(f.request(t, "GET", "/detector/0123456789abcdef0123456789abcdef", ""))
	if w.Code != 400 {
		t.Fatalf("status %d, want 400", w.Code)
	}
	for k, want := range map[string]string{
		"X-Amzn-Errortype": "BadRequestException",
		"Content-Type":     "application/json",
	} {
		if got := w.Header().Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if id := w.Header().Get("X-Amzn-Requestid"); len(id) != 36 {
		t.Errorf("request ID %q, want a UUID", id)
	}
	want := `{"message":"The request is rejected because the input detectorId is not owned by the current account.","__type":"InvalidInputException","type":"InvalidInputException"}`
	if got := w.Body.String(); got != want {
		t.Errorf("body\n got %s\nwant %s", got, want)
	}
}

func TestRequestIDOnEveryResponse(t *testing.T) {
	f := newFixture(t, nil)
	seen := map[string]bool{}
	for _, r := range []*http.Request{
		f.request(t, "GET", "/detector", ""),      // 200
		f.request(t, "GET", "/detector/nope", ""), // 400
		f.request(t, "GET", "/nowhere", ""),       // 400
		func() *http.Request {
			r := f.request(t, "GET", "/detector", "")
			r.Header.Del("Authorization")
			return r
		}(), // 403
	} {
		w := f.serve(r)
		id := w.Header().Get("X-Amzn-Requestid")
		if id == "" || seen[id] {
			t.Errorf("%s %s (%d): request ID %q missing or repeated", r.Method, r.URL, w.Code, id)
		}
		seen[id] = true
		if w.Header().Get("Date") == "" {
			t.Errorf("%s %s: no Date header", r.Method, r.URL)
		}
	}
}

// TestValidation checks the model's constraints: each case is a request
// and the error it must get.
func TestValidation(t *testing.T) {
	f := newFixture(t, nil)
	det := f.createDetector(t)
	d := "/detector/" + det
	long := strings.Repeat("x", 301)
	tests := []struct {
		name, method, path, body string
		code                     string // x-amzn-ErrorType
		msg                      string // message, or a prefix ending in "..."
	}{
		{"create detector without enable", "POST", "/detector", `{}`, "BadRequestException", "The request is rejected because the parameter enable has an invalid value."},
		{"second detector", "POST", "/detector", `{"enable":true}`, "BadRequestException", msgDetectorExist},
		{"frequency enum", "POST", "/detector", `{"enable":true,"findingPublishingFrequency":"HOURLY"}`, "BadRequestException", "The request is rejected because the parameter findingPublishingFrequency has an invalid value."},
		{"feature enum", "POST", d, `{"features":[{"name":"FLOW_LOGS","status":"ENABLED"}]}`, "BadRequestException", "The request is rejected because the parameter features.name has an invalid value."},
		{"both runtime monitorings", "POST", d, `{"features":[{"name":"RUNTIME_MONITORING"},{"name":"EKS_RUNTIME_MONITORING"}]}`, "BadRequestException", "The request is rejected because the parameter features has an invalid value."},
		{"features and dataSources", "POST", d, `{"features":[{"name":"S3_DATA_EVENTS"}],"dataSources":{"s3Logs":{"enable":true}}}`, "BadRequestException", "The request is rejected because the parameter dataSources has an invalid value."},
		{"malformed detector id", "GET", "/detector/bad%20id", ``, "BadRequestException", msgDetectorID},
		{"detector id too long", "GET", "/detector/" + long, ``, "BadRequestException", msgDetectorID},
		{"unknown detector", "GET", "/detector/0123456789abcdef0123456789abcdef", ``, "BadRequestException", msgNotOwned},
		{"list findings: maxResults 0", "POST", d + "/findings", `{"maxResults":0}`, "BadRequestException", msgRange},
		{"list findings: maxResults 51", "POST", d + "/findings", `{"maxResults":51}`, "BadRequestException", msgRange},
		{"list findings: huge maxResults", "POST", d + "/findings", `{"maxResults":99999999999999999999999}`, "BadRequestException", msgJSON},
		{"list findings: maxResults not a number", "POST", d + "/findings", `{"maxResults":"5"}`, "BadRequestException", msgJSON},
		{"list findings: bad token", "POST", d + "/findings", `{"nextToken":"garbage"}`, "BadRequestException", msgToken},
		{"list findings: matches not allowed", "POST", d + "/findings", `{"findingCriteria":{"criterion":{"type":{"matches":["Recon*"]}}}}`, "BadRequestException", msgJSON},
		{"list findings: bad field", "POST", d + "/findings", `{"findingCriteria":{"criterion":{"type;drop table":{"equals":["x"]}}}}`, "BadRequestException", msgJSON},
		{"list findings: empty condition", "POST", d + "/findings", `{"findingCriteria":{"criterion":{"type":{}}}}`, "BadRequestException", msgJSON},
		{"list findings: eq and equals disagree", "POST", d + "/findings", `{"findingCriteria":{"criterion":{"type":{"eq":["a"],"equals":["b"]}}}}`, "BadRequestException", msgJSON},
		{"list findings: sort order", "POST", d + "/findings", `{"sortCriteria":{"attributeName":"severity","orderBy":"UP"}}`, "BadRequestException", "The request is rejected because the parameter sortCriteria.orderBy has an invalid value."},
		{"list findings: sort attribute", "POST", d + "/findings", `{"sortCriteria":{"attributeName":"severity desc; --"}}`, "BadRequestException", "The request is rejected because the parameter sortCriteria.attributeName has an invalid value."},
		{"get findings: ids required", "POST", d + "/findings/get", `{}`, "BadRequestException", "The request is rejected because the parameter findingIds has an invalid value."},
		{"get findings: 51 ids", "POST", d + "/findings/get", `{"findingIds":[` + strings.TrimSuffix(strings.Repeat(`"x",`, 51), ",") + `]}`, "BadRequestException", msgRange},
		{"get findings: empty id", "POST", d + "/findings/get", `{"findingIds":[""]}`, "BadRequestException", msgRange},
		{"archive: ids required", "POST", d + "/findings/archive", `{}`, "BadRequestException", "The request is rejected because the parameter findingIds has an invalid value."},
		{"feedback enum", "POST", d + "/findings/feedback", `{"findingIds":["a"],"feedback":"MEH"}`, "BadRequestException", "The request is rejected because the parameter feedback has an invalid value."},
		{"feedback required", "POST", d + "/findings/feedback", `{"findingIds":["a"]}`, "BadRequestException", "The request is rejected because the parameter feedback has an invalid value."},
		{"statistics: nothing asked", "POST", d + "/findings/statistics", `{}`, "BadRequestException", "The request is rejected because the parameter groupBy has an invalid value."},
		{"statistics: type enum", "POST", d + "/findings/statistics", `{"findingStatisticTypes":["COUNT_BY_TYPE"]}`, "BadRequestException", "The request is rejected because the parameter findingStatisticTypes has an invalid value."},
		{"statistics: groupBy enum", "POST", d + "/findings/statistics", `{"groupBy":"REGION"}`, "BadRequestException", "The request is rejected because the parameter groupBy has an invalid value."},
		{"statistics: maxResults 101", "POST", d + "/findings/statistics", `{"groupBy":"SEVERITY","maxResults":101}`, "BadRequestException", msgRange},
		{"statistics: orderBy without groupBy", "POST", d + "/findings/statistics", `{"findingStatisticTypes":["COUNT_BY_SEVERITY"],"orderBy":"ASC"}`, "BadRequestException", "The request is rejected because the parameter orderBy has an invalid value."},
		{"samples: unknown type", "POST", d + "/findings/create", `{"findingTypes":["Backdoor:EC2/C&CActivity.B"]}`, "BadRequestException", "The request is rejected because the parameter findingTypes has an invalid value."},
		{"filter: name too short", "POST", d + "/filter", `{"name":"ab","findingCriteria":{"criterion":{"type":{"equals":["x"]}}}}`, "BadRequestException", msgRange},
		{"filter: name pattern", "POST", d + "/filter", `{"name":"has space","findingCriteria":{"criterion":{"type":{"equals":["x"]}}}}`, "BadRequestException", "The request is rejected because the parameter name has an invalid value."},
		{"filter: criteria required", "POST", d + "/filter", `{"name":"abc"}`, "BadRequestException", "The request is rejected because the parameter findingCriteria has an invalid value."},
		{"filter: empty criteria", "POST", d + "/filter", `{"name":"abc","findingCriteria":{"criterion":{}}}`, "BadRequestException", "The request is rejected because the parameter findingCriteria has an invalid value."},
		{"filter: action enum", "POST", d + "/filter", `{"name":"abc","action":"DELETE","findingCriteria":{"criterion":{"type":{"equals":["x"]}}}}`, "BadRequestException", "The request is rejected because the parameter action has an invalid value."},
		{"filter: rank 0", "POST", d + "/filter", `{"name":"abc","rank":0,"findingCriteria":{"criterion":{"type":{"equals":["x"]}}}}`, "BadRequestException", msgRange},
		{"filter: six patterns", "POST", d + "/filter", `{"name":"abc","findingCriteria":{"criterion":{"type":{"matches":["a","b","c","d","e","f"]}}}}`, "BadRequestException", msgJSON},
		{"filter: description too long", "POST", d + "/filter", `{"name":"abc","description":"` + strings.Repeat("d", 513) + `","findingCriteria":{"criterion":{"type":{"equals":["x"]}}}}`, "BadRequestException", msgRange},
		{"filter: unknown", "GET", d + "/filter/nosuchfilter", ``, "BadRequestException", msgNoResource},
		{"filter: tag key aws:", "POST", d + "/filter", `{"name":"abc","tags":{"aws:x":"y"},"findingCriteria":{"criterion":{"type":{"equals":["x"]}}}}`, "BadRequestException", "The request is rejected because the parameter tags has an invalid value."},
		{"filter: empty tags", "POST", d + "/filter", `{"name":"abc","tags":{},"findingCriteria":{"criterion":{"type":{"equals":["x"]}}}}`, "BadRequestException", msgRange},
		{"ipset: format enum", "POST", d + "/ipset", `{"name":"n","format":"CSV","location":"s3://b/k","activate":true}`, "BadRequestException", "The request is rejected because the parameter format has an invalid value."},
		{"ipset: activate required", "POST", d + "/ipset", `{"name":"n","format":"TXT","location":"s3://b/k"}`, "BadRequestException", "The request is rejected because the parameter activate has an invalid value."},
		{"ipset: name pattern", "POST", d + "/ipset", `{"name":"n/1","format":"TXT","location":"s3://b/k","activate":true}`, "BadRequestException", "The request is rejected because the parameter name has an invalid value."},
		{"ipset: location too long", "POST", d + "/ipset", `{"name":"n","format":"TXT","location":"` + long + `","activate":true}`, "BadRequestException", msgRange},
		{"ipset: bucket owner", "POST", d + "/ipset", `{"name":"n","format":"TXT","location":"s3://b/k","activate":true,"expectedBucketOwner":"12345"}`, "BadRequestException", "The request is rejected because the parameter expectedBucketOwner has an invalid value."},
		{"ipset: unknown", "GET", d + "/ipset/0123456789abcdef0123456789abcdef", ``, "BadRequestException", msgNoResource},
		{"ipset: list maxResults", "GET", d + "/ipset?maxResults=51", ``, "BadRequestException", msgRange},
		{"ipset: list maxResults text", "GET", d + "/ipset?maxResults=ten", ``, "BadRequestException", "The request is rejected because the parameter maxResults has an invalid value."},
		{"filters: list token", "GET", d + "/filter?nextToken=AAAA", ``, "BadRequestException", msgToken},
		{"tags: bad arn", "GET", "/tags/arn%3Aaws%3As3%3A%3A%3Abucket", ``, "BadRequestException", "The request is rejected because the parameter resourceArn has an invalid value."},
		{"tags: other account", "GET", "/tags/arn%3Aaws%3Aguardduty%3Aus-east-1%3A999999999999%3Adetector%2F" + det, ``, "AccessDeniedException", "User: 123456789012 is not authorized to perform: guardduty:ListTagsForResource on resource: arn:aws:guardduty:us-east-1:999999999999:detector/" + det},
		{"tags: other region", "GET", "/tags/arn%3Aaws%3Aguardduty%3Aus-west-2%3A123456789012%3Adetector%2F" + det, ``, "BadRequestException", msgNotOwned},
		{"tags: unknown detector", "GET", "/tags/arn%3Aaws%3Aguardduty%3Aus-east-1%3A123456789012%3Adetector%2F0123456789abcdef0123456789abcdef", ``, "BadRequestException", msgNotOwned},
		{"tags: unknown filter", "GET", "/tags/arn%3Aaws%3Aguardduty%3Aus-east-1%3A123456789012%3Adetector%2F" + det + "%2Ffilter%2Fnope1", ``, "BadRequestException", msgNoResource},
		{"tags: a finding is not taggable", "GET", "/tags/arn%3Aaws%3Aguardduty%3Aus-east-1%3A123456789012%3Adetector%2F" + det + "%2Ffinding%2Fabc", ``, "BadRequestException", "The request is rejected because the parameter resourceArn has an invalid value."},
		{"tag: tags required", "POST", "/tags/arn%3Aaws%3Aguardduty%3Aus-east-1%3A123456789012%3Adetector%2F" + det, `{}`, "BadRequestException", "The request is rejected because the parameter tags has an invalid value."},
		{"tag: value too long", "POST", "/tags/arn%3Aaws%3Aguardduty%3Aus-east-1%3A123456789012%3Adetector%2F" + det, `{"tags":{"k":"` + strings.Repeat("v", 257) + `"}}`, "BadRequestException", msgRange},
		{"untag: keys required", "DELETE", "/tags/arn%3Aaws%3Aguardduty%3Aus-east-1%3A123456789012%3Adetector%2F" + det, ``, "BadRequestException", "The request is rejected because the parameter tagKeys has an invalid value."},
		{"unsupported operation", "GET", d + "/nonsense", ``, "BadRequestException", msgUnsupported},
		{"operation of a feature not offered", "POST", d + "/malware-scans", `{}`, "BadRequestException", notOffered(featureMalware)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := f.serve(f.request(t, tt.method, tt.path, tt.body))
			e := errorOf(t, w)
			if e.Code != tt.code {
				t.Errorf("error type %q (%d, %q), want %q", e.Code, e.Status, e.Message, tt.code)
			}
			if e.Message != tt.msg {
				t.Errorf("message\n got %q\nwant %q", e.Message, tt.msg)
			}
			wantStatus := 400
			if tt.code == "AccessDeniedException" {
				wantStatus = 403
			}
			if e.Status != wantStatus {
				t.Errorf("status %d, want %d", e.Status, wantStatus)
			}
		})
	}
}

func TestInternalErrorsAreLoggedNotReturned(t *testing.T) {
	st := newMemStore()
	f := newFixture(t, st)
	det := f.createDetector(t)
	st.fail = func(method string) error {
		if method == "ListFindings" {
			return errors.New("disk on fire at /var/lib/picket/secret-path")
		}
		return nil
	}
	w := f.serve(f.request(t, "POST", "/detector/"+det+"/findings", `{}`))
	e := errorOf(t, w)
	want := errorAnswer{Status: 500, Code: "InternalServerErrorException", Message: msgInternal,
		Type: "InternalServerErrorException", SubType: "InternalServerErrorException", Request: e.Request}
	if diff := cmp.Diff(want, e); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
	if strings.Contains(w.Body.String(), "disk on fire") {
		t.Error("the internal error leaked into the response")
	}
	if !strings.Contains(f.logs.String(), "disk on fire") || !strings.Contains(f.logs.String(), e.Request) {
		t.Errorf("the internal error and request ID are not in the log:\n%s", f.logs)
	}
}

func TestPanicIs500(t *testing.T) {
	st := newMemStore()
	f := newFixture(t, st)
	det := f.createDetector(t)
	st.fail = func(method string) error {
		if method == "Findings" {
			panic("boom")
		}
		return nil
	}
	w := f.serve(f.request(t, "POST", "/detector/"+det+"/findings/get", `{"findingIds":["a"]}`))
	if e := errorOf(t, w); e.Status != 500 || e.Code != "InternalServerErrorException" {
		t.Errorf("got %+v, want a 500", e)
	}
}

func TestShapeOfStoreErrors(t *testing.T) {
	tests := []struct {
		err    error
		status int
		msg    string
	}{
		{fmt.Errorf("x: %w", store.ErrNotFound), 400, msgNoResource},
		{fmt.Errorf("x: %w", store.ErrExists), 400, msgExists},
		{fmt.Errorf("x: %w", store.ErrCriteria), 400, msgJSON},
		{invalidParam("foo", nil), 400, "The request is rejected because the parameter foo has an invalid value."},
		{errors.New("anything else"), 500, msgInternal},
	}
	for _, tt := range tests {
		e := shape(tt.err)
		if e.status != tt.status || e.message != tt.msg {
			t.Errorf("shape(%v) = %d %q, want %d %q", tt.err, e.status, e.message, tt.status, tt.msg)
		}
	}
}

func TestDetectorLifecycle(t *testing.T) {
	f := newFixture(t, nil)
	var list struct {
		DetectorIDs []string `json:"detectorIds"`
	}
	f.call(t, "GET", "/detector", "", &list)
	if list.DetectorIDs == nil || len(list.DetectorIDs) != 0 {
		t.Fatalf("detectorIds %v, want []", list.DetectorIDs)
	}
	var created struct {
		DetectorID string `json:"detectorId"`
	}
	f.call(t, "POST", "/detector", `{"enable":true,"clientToken":"t1","findingPublishingFrequency":"FIFTEEN_MINUTES","tags":{"team":"sec"},
		"features":[{"name":"RUNTIME_MONITORING","status":"ENABLED","additionalConfiguration":[{"name":"EC2_AGENT_MANAGEMENT","status":"ENABLED"}]}]}`, &created)
	if created.DetectorID != finding.DetectorID(testAccount, testRegion) {
		t.Errorf("detector ID %s, want finding.DetectorID's", created.DetectorID)
	}
	f.call(t, "GET", "/detector", "", &list)
	if diff := cmp.Diff([]string{created.DetectorID}, list.DetectorIDs); diff != "" {
		t.Errorf("ListDetectors (-want +got):\n%s", diff)
	}
	var got map[string]any
	f.call(t, "GET", "/detector/"+created.DetectorID, "", &got)
	ts := float64(testNow.Unix())
	want := map[string]any{
		"createdAt":                  "2026-03-04T12:00:00.000Z",
		"updatedAt":                  "2026-03-04T12:00:00.000Z",
		"findingPublishingFrequency": "FIFTEEN_MINUTES",
		"serviceRole":                "arn:aws:iam::123456789012:role/aws-service-role/guardduty.amazonaws.com/AWSServiceRoleForAmazonGuardDuty",
		"status":                     "ENABLED",
		"tags":                       map[string]any{"team": "sec"},
		// Only what picket reads is ENABLED, whatever the request asked.
		"dataSources": map[string]any{
			"cloudTrail": map[string]any{"status": "ENABLED"},
			"dnsLogs":    map[string]any{"status": "DISABLED"},
			"flowLogs":   map[string]any{"status": "ENABLED"},
			"s3Logs":     map[string]any{"status": "DISABLED"},
			"kubernetes": map[string]any{"auditLogs": map[string]any{"status": "DISABLED"}},
			"malwareProtection": map[string]any{
				"scanEc2InstanceWithFindings": map[string]any{"ebsVolumes": map[string]any{"status": "DISABLED"}},
				"serviceRole":                 "arn:aws:iam::123456789012:role/aws-service-role/malware-protection.guardduty.amazonaws.com/AWSServiceRoleForAmazonGuardDutyMalwareProtection",
			},
		},
		"features": []any{
			map[string]any{"name": "FLOW_LOGS", "status": "ENABLED", "updatedAt": ts},
			map[string]any{"name": "CLOUD_TRAIL", "status": "ENABLED", "updatedAt": ts},
			map[string]any{"name": "DNS_LOGS", "status": "DISABLED", "updatedAt": ts},
			map[string]any{"name": "S3_DATA_EVENTS", "status": "DISABLED", "updatedAt": ts},
			map[string]any{"name": "EKS_AUDIT_LOGS", "status": "DISABLED", "updatedAt": ts},
			map[string]any{"name": "EBS_MALWARE_PROTECTION", "status": "DISABLED", "updatedAt": ts},
			map[string]any{"name": "RDS_LOGIN_EVENTS", "status": "DISABLED", "updatedAt": ts},
			map[string]any{"name": "EKS_RUNTIME_MONITORING", "status": "DISABLED", "updatedAt": ts, "additionalConfiguration": []any{
				map[string]any{"name": "EKS_ADDON_MANAGEMENT", "status": "DISABLED", "updatedAt": ts}}},
			map[string]any{"name": "LAMBDA_NETWORK_LOGS", "status": "DISABLED", "updatedAt": ts},
			map[string]any{"name": "RUNTIME_MONITORING", "status": "DISABLED", "updatedAt": ts, "additionalConfiguration": []any{
				map[string]any{"name": "EKS_ADDON_MANAGEMENT", "status": "DISABLED", "updatedAt": ts},
				map[string]any{"name": "ECS_FARGATE_AGENT_MANAGEMENT", "status": "DISABLED", "updatedAt": ts},
				map[string]any{"name": "EC2_AGENT_MANAGEMENT", "status": "DISABLED", "updatedAt": ts}}},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetDetector (-want +got):\n%s", diff)
	}

	// Suspend, turn S3 off through the deprecated dataSources, then delete.
	f.clock.Set(testNow.Add(time.Minute))
	f.call(t, "POST", "/detector/"+created.DetectorID, `{"enable":false,"dataSources":{"s3Logs":{"enable":false}}}`, nil)
	f.call(t, "GET", "/detector/"+created.DetectorID, "", &got)
	if got["status"] != "DISABLED" || got["updatedAt"] != "2026-03-04T12:01:00.000Z" {
		t.Errorf("after UpdateDetector: status %v, updatedAt %v", got["status"], got["updatedAt"])
	}
	if s3 := got["dataSources"].(map[string]any)["s3Logs"]; !cmp.Equal(s3, map[string]any{"status": "DISABLED"}) {
		t.Errorf("s3Logs %v, want DISABLED", s3)
	}
	f.call(t, "DELETE", "/detector/"+created.DetectorID, "", nil)
	f.call(t, "GET", "/detector", "", &list)
	if len(list.DetectorIDs) != 0 {
		t.Errorf("detectors after delete: %v", list.DetectorIDs)
	}
	if tags, _ := f.store.Tags(t.Context(), "arn:aws:guardduty:us-east-1:123456789012:detector/"+created.DetectorID); len(tags) != 0 {
		t.Errorf("tags left after delete: %v", tags)
	}
}

func TestFilterCriteriaRoundTrip(t *testing.T) {
	f := newFixture(t, nil)
	d := "/detector/" + f.createDetector(t)
	f.call(t, "POST", d+"/filter", `{"name":"old-names","findingCriteria":{"criterion":{
		"type":{"eq":["Recon:EC2/Portscan"]},"severity":{"gte":4,"greaterThanOrEqual":5},
		"updatedAt":{"greaterThan":1767225600000},"resource.instanceDetails.tags.value":{"matches":["web-*"]}}}}`, nil)
	var got struct {
		Name            string `json:"name"`
		Action          string `json:"action"`
		Rank            int    `json:"rank"`
		FindingCriteria struct {
			Criterion map[string]map[string]any `json:"criterion"`
		} `json:"findingCriteria"`
		Tags map[string]string `json:"tags"`
	}
	f.call(t, "GET", d+"/filter/old-names", "", &got)
	want := map[string]map[string]any{
		"type":                                {"eq": []any{"Recon:EC2/Portscan"}, "equals": []any{"Recon:EC2/Portscan"}},
		"severity":                            {"gte": 5.0, "greaterThanOrEqual": 5.0},
		"updatedAt":                           {"greaterThan": 1767225600000.0},
		"resource.instanceDetails.tags.value": {"matches": []any{"web-*"}},
	}
	if diff := cmp.Diff(want, got.FindingCriteria.Criterion); diff != "" {
		t.Errorf("criterion (-want +got):\n%s", diff)
	}
	if got.Action != "NOOP" || got.Rank != 1 || got.Tags == nil {
		t.Errorf("action %q rank %d tags %v, want NOOP, 1, {}", got.Action, got.Rank, got.Tags)
	}
	// What GetFilter returns is accepted back as it is.
	b, _ := json.Marshal(map[string]any{"findingCriteria": map[string]any{"criterion": got.FindingCriteria.Criterion}})
	f.call(t, "POST", d+"/filter/old-names", string(b), nil)
}
