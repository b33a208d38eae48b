package sqlstore

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"picket/internal/finding"
	"picket/internal/store"
	"picket/internal/store/storetest"
)

// TestColumnsMatchValues holds the column values a finding is indexed by
// to the values store.Values gives at their paths: the push-down is exact
// only if they agree.
func TestColumnsMatchValues(t *testing.T) {
	c := storetest.NewCorpus(finding.DetectorID("111122223333", "us-east-1"), 1)
	for range 500 {
		f := c.Next()
		if f.Service.Count%3 == 0 {
			f.Service.Archived = true
		}
		r := rowOf(f)
		vals := store.Values(f)
		got := map[string]string{
			"id": r.id, "type": r.typ, "accountId": r.accountID, "region": r.region, "resource.resourceType": r.resourceType,
			"resource.instanceDetails.instanceId": r.instanceID, "resource.accessKeyDetails.accessKeyId": r.accessKeyID,
			"service.resourceRole": r.resourceRole, "service.action.actionType": r.actionType,
			"service.action.networkConnectionAction.remoteIpDetails.ipAddressV4": r.remoteIP,
		}
		for path, v := range got {
			want := ""
			if vs := vals[path]; len(vs) > 1 {
				t.Fatalf("%s has %d values: a column holds one", path, len(vs))
			} else if len(vs) == 1 {
				want = vs[0]
			}
			if v != want {
				t.Errorf("%s: column %q, values %q", path, v, want)
			}
		}
		nums := map[string]float64{
			"severity": r.severity, "createdAt": float64(r.createdMS), "updatedAt": float64(r.updatedMS),
			"service.eventFirstSeen": float64(r.firstSeenMS), "service.eventLastSeen": float64(r.lastSeenMS),
			"service.count": float64(r.count),
		}
		for path, v := range nums {
			vs := vals[path]
			if len(vs) != 1 {
				t.Fatalf("%s has %d values, want 1", path, len(vs))
			}
			n, ok := store.Number(path, vs[0])
			if !ok || n != v {
				t.Errorf("%s: column %v, value %q", path, v, vs[0])
			}
			// The text the finding shows is canonical for its column.
			cv, ok := columns[path].canon(vs[0])
			if !ok {
				t.Errorf("%s: %q is not canonical", path, vs[0])
			} else if f, isF := cv.(float64); isF && f != v {
				t.Errorf("%s: canon(%q) = %v", path, vs[0], cv)
			} else if i, isI := cv.(int64); isI && float64(i) != v {
				t.Errorf("%s: canon(%q) = %v", path, vs[0], cv)
			}
		}
		if want := strconv.FormatBool(r.archived); vals["service.archived"][0] != want {
			t.Errorf("archived: column %v, value %q", r.archived, vals["service.archived"])
		}
	}
}

// TestPushDownPlaceholders checks that criteria reach SQL only as
// placeholder arguments, whatever their text.
func TestPushDownPlaceholders(t *testing.T) {
	hostile := []string{"' OR 1=1 --", "x'); DROP TABLE findings; --", `"`, "?", "$1", "\x00", "8.0", "true", "2026-03-01T00:00:00.000Z"}
	for _, d := range []*Dialect{{Name: "sqlite"}, {Name: "postgres", Numbered: true}} {
		for path := range columns {
			for _, v := range hostile {
				b := &builder{d: d}
				b.WriteString("SELECT id FROM findings WHERE det = " + b.arg(int64(1)))
				residual := pushDown(b, store.Criteria{path: {Equals: []string{v, "a"}, NotEquals: []string{v}, GreaterThan: ptr(int64(5)), Matches: []string{v}}})
				q := b.String()
				if v != "8.0" && v != "true" && strings.Contains(q, v) && v != "?" && v != "$1" {
					t.Errorf("%s: operand %q in the SQL: %s", path, v, q)
				}
				n := strings.Count(q, "?")
				if d.Numbered {
					n = strings.Count(q, "$")
				}
				if n != len(b.args) {
					t.Errorf("%s: %d placeholders for %d arguments: %s", path, n, len(b.args), q)
				}
				if residual == nil || len(residual[path].Matches) != 1 {
					t.Errorf("%s: matches was not left to Go: %+v", path, residual)
				}
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestPrefilterAdmitsMatches checks the prefilter's promise: a finding
// whose values include an operand of an equals condition passes it, also
// when text inside the finding spells the value with escapes.
func TestPrefilterAdmitsMatches(t *testing.T) {
	c := storetest.NewCorpus(finding.DetectorID("111122223333", "us-east-1"), 2)
	var fs []*finding.Finding
	for range 300 {
		fs = append(fs, c.Next())
	}
	odd := c.Next()
	odd.Service.AdditionalInfo = &finding.AdditionalInfo{Value: `{"threatListName":"\u0070rod","path":"a\/b","n":22}`, Type: "default"}
	fs = append(fs, odd)
	tagged := c.Next()
	tagged.Resource.InstanceDetails = &finding.InstanceDetails{InstanceID: "i-1", Tags: []finding.Tag{{Key: `C:\dir`, Value: "a<b&c"}}}
	fs = append(fs, tagged)
	checked := 0
	for _, f := range fs {
		body, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		for path, vals := range store.Values(f) {
			for _, v := range vals {
				p := prefilterOf(store.Criteria{path: {Equals: []string{"absent", v}}})
				if !p.admits(body) {
					t.Errorf("%s = %q: the prefilter rejects a finding that has it", path, v)
				}
				checked++
			}
		}
	}
	if checked < 1000 {
		t.Errorf("only %d values checked", checked)
	}
	// And it does reject findings without the value.
	body, _ := json.Marshal(fs[0])
	if prefilterOf(store.Criteria{"resource.instanceDetails.tags.value": {Equals: []string{"no-such-tag"}}}).admits(body) {
		t.Error("the prefilter admits a finding without the value")
	}
}
