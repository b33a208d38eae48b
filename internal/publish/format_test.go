package publish_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"picket/internal/finding"
	"picket/internal/publish"
	"picket/internal/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenFinding is a brute force finding with an instance, a remote
// address and additional information, built without a clock.
func goldenFinding() *finding.Finding {
	first := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	det := finding.DetectorID("123456789012", "eu-west-1")
	f := finding.New(finding.TypeSSHBruteForce, finding.Key{Account: "123456789012", Region: "eu-west-1", Resource: "i-0abc123def4567890", Role: finding.RoleTarget},
		det, first, first.Add(7*time.Minute), 42)
	f.Resource.InstanceDetails = &finding.InstanceDetails{InstanceID: "i-0abc123def4567890", AvailabilityZone: "eu-west-1a"}
	f.Service.Action.NetworkConnectionAction = &finding.NetworkConnectionAction{RemoteIPDetails: &finding.RemoteIPDetails{IPAddressV4: "198.51.100.7"}}
	f.Title = "198.51.100.7 is performing SSH brute force attacks against i-0abc123def4567890."
	f.Description = "198.51.100.7 is repeatedly opening short SSH sessions to i-0abc123def4567890; it may be guessing passwords."
	return f
}

// TestGolden compares each format's encoding of one finding with its
// golden file; go test -update rewrites them.
func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		format publish.Format
		kind   string
	}{
		{publish.FormatEventBridge, store.OutboxNew},
		{publish.FormatOCSF, store.OutboxUpdate},
		{publish.FormatASFF, store.OutboxNew},
	} {
		t.Run(string(tc.format), func(t *testing.T) {
			b, err := publish.Encode(tc.format, publish.Event{Kind: tc.kind, Finding: goldenFinding()})
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := json.Indent(&out, b, "", "  "); err != nil {
				t.Fatal(err)
			}
			out.WriteByte('\n')
			path := filepath.Join("testdata", string(tc.format)+".golden.json")
			if *update {
				if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if diff := cmp.Diff(string(want), out.String()); diff != "" {
				t.Errorf("%s (-want +got):\n%s", path, diff)
			}
		})
	}
}

// A schema check: a path of object keys and what its value must be.
type rule struct {
	path  string
	check func(v any) bool
	what  string
}

func lookup(doc map[string]any, path string) (any, bool) {
	var v any = doc
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

func isInt(v any) bool {
	f, ok := v.(float64)
	return ok && f == float64(int64(f))
}

func oneOf(vals ...float64) func(any) bool {
	return func(v any) bool { f, ok := v.(float64); return ok && slices.Contains(vals, f) }
}

func isString(max int) func(any) bool {
	return func(v any) bool { s, ok := v.(string); return ok && s != "" && len(s) <= max }
}

func matches(re string) func(any) bool {
	r := regexp.MustCompile(re)
	return func(v any) bool { s, ok := v.(string); return ok && r.MatchString(s) }
}

func isRFC3339(v any) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	_, err := time.Parse(time.RFC3339Nano, s)
	return err == nil
}

func checkRules(t *testing.T, doc map[string]any, rules []rule) {
	t.Helper()
	for _, r := range rules {
		v, ok := lookup(doc, r.path)
		if !ok {
			t.Errorf("%s: required, missing", r.path)
			continue
		}
		if !r.check(v) {
			t.Errorf("%s = %v: want %s", r.path, v, r.what)
		}
	}
}

func encodeDoc(t *testing.T, f publish.Format, e publish.Event) map[string]any {
	t.Helper()
	b, err := publish.Encode(f, e)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestOCSFSchema holds the OCSF output to the Detection Finding class of
// the OCSF 1.x schema. The schema is published as the source of a
// compiler (ocsf-schema: base_event.json, events/findings/finding.json and
// detection_finding.json, objects/*.json), not as a JSON Schema that can
// be read offline; these rules restate, from those files, the attributes
// the class requires (required in base_event: activity_id, category_uid,
// class_uid, metadata, severity_id, time, type_uid; in finding:
// finding_info; in metadata: product, version; in finding_info: uid,
// title; in cloud: provider), their types (integers for *_id and
// timestamp_t milliseconds) and their enumerations.
func TestOCSFSchema(t *testing.T) {
	for _, kind := range []string{store.OutboxNew, store.OutboxUpdate} {
		for _, sev := range []finding.Severity{2, 5, 8, 9.5} {
			f := goldenFinding()
			f.Severity = sev
			doc := encodeDoc(t, publish.FormatOCSF, publish.Event{Kind: kind, Finding: f})
			activity := 1.0
			if kind == store.OutboxUpdate {
				activity = 2
			}
			checkRules(t, doc, []rule{
				{"activity_id", oneOf(activity), "1 (Create) for a new finding, 2 (Update) for a change"},
				{"category_uid", oneOf(2), "2, Findings"},
				{"class_uid", oneOf(2004), "2004, Detection Finding"},
				{"type_uid", oneOf(2004*100 + activity), "class_uid*100 + activity_id"},
				{"severity_id", oneOf(0, 1, 2, 3, 4, 5, 6, 99), "a severity_id of the enumeration"},
				{"status_id", oneOf(0, 1, 2, 3, 4, 5, 6, 99), "a status_id of the enumeration"},
				{"time", isInt, "a timestamp_t (integer milliseconds)"},
				{"start_time", isInt, "a timestamp_t"},
				{"end_time", isInt, "a timestamp_t"},
				{"count", isInt, "an integer"},
				{"metadata.version", matches(`^1\.\d+\.\d+$`), "a 1.x schema version"},
				{"metadata.product.vendor_name", isString(256), "a string"},
				{"metadata.product.name", isString(256), "a string"},
				{"finding_info.uid", isString(2048), "a string"},
				{"finding_info.title", isString(2048), "a string"},
				{"finding_info.created_time", isInt, "a timestamp_t"},
				{"cloud.provider", oneOf2("AWS"), "AWS"},
				{"cloud.account.uid", matches(`^\d{12}$`), "the account"},
			})
			want := map[finding.Severity]float64{2: 2, 5: 3, 8: 4, 9.5: 5}[sev]
			if v, _ := lookup(doc, "severity_id"); v != want {
				t.Errorf("severity %v: severity_id %v, want %v", sev, v, want)
			}
			rs, _ := doc["resources"].([]any)
			if len(rs) == 0 {
				t.Errorf("no resources")
			}
			for _, r := range rs {
				checkRules(t, r.(map[string]any), []rule{{"uid", isString(2048), "a string"}, {"type", isString(256), "a string"}})
			}
		}
	}
}

func oneOf2(vals ...string) func(any) bool {
	return func(v any) bool { s, ok := v.(string); return ok && slices.Contains(vals, s) }
}

// TestASFFSchema holds the ASFF output to the AWS Security Finding
// Format's required attributes and their documented constraints (Security
// Hub's "AWS Security Finding Format (ASFF)" syntax pages; no machine
// readable schema is published): SchemaVersion 2018-10-08, Id and
// GeneratorId up to 512 characters, ProductArn, a 12-digit AwsAccountId,
// 1 to 50 Types of namespace/category/classifier in one of the five
// namespaces, ISO 8601 CreatedAt and UpdatedAt, a Severity label, a Title
// of up to 256 characters, a Description of up to 1024, and 1 to 32
// Resources each with a Type and an Id.
func TestASFFSchema(t *testing.T) {
	namespaces := []string{"Software and Configuration Checks", "TTPs", "Effects", "Unusual Behaviors", "Sensitive Data Identifications"}
	for _, ft := range finding.Types() {
		typ := ft.Name
		f := goldenFinding()
		f.Type = typ
		f.Title = strings.Repeat("é", 200) // over 256 bytes: cut at a character
		doc := encodeDoc(t, publish.FormatASFF, publish.Event{Kind: store.OutboxNew, Finding: f})
		checkRules(t, doc, []rule{
			{"SchemaVersion", oneOf2("2018-10-08"), "2018-10-08"},
			{"Id", isString(512), "1 to 512 characters"},
			{"ProductArn", matches(`^arn:aws:securityhub:[a-z0-9-]+:\d{12}:product/\d{12}/default$`), "the account's default product"},
			{"GeneratorId", isString(512), "1 to 512 characters"},
			{"AwsAccountId", matches(`^\d{12}$`), "12 digits"},
			{"CreatedAt", isRFC3339, "ISO 8601"},
			{"UpdatedAt", isRFC3339, "ISO 8601"},
			{"FirstObservedAt", isRFC3339, "ISO 8601"},
			{"LastObservedAt", isRFC3339, "ISO 8601"},
			{"Severity.Label", oneOf2("INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"), "a severity label"},
			{"Title", isString(256), "1 to 256 characters"},
			{"Description", isString(1024), "1 to 1024 characters"},
			{"RecordState", oneOf2("ACTIVE", "ARCHIVED"), "ACTIVE or ARCHIVED"},
			{"Workflow.Status", oneOf2("NEW", "NOTIFIED", "RESOLVED", "SUPPRESSED"), "a workflow status"},
		})
		types, _ := doc["Types"].([]any)
		if len(types) < 1 || len(types) > 50 {
			t.Errorf("%s: %d Types, want 1 to 50", typ, len(types))
		}
		for _, ty := range types {
			parts := strings.SplitN(ty.(string), "/", 3)
			if len(parts) != 3 || !slices.Contains(namespaces, parts[0]) || parts[1] == "" || parts[2] == "" {
				t.Errorf("%s: type %q is not namespace/category/classifier in a known namespace", typ, ty)
			}
		}
		rs, _ := doc["Resources"].([]any)
		if len(rs) < 1 || len(rs) > 32 {
			t.Errorf("%s: %d Resources, want 1 to 32", typ, len(rs))
		}
		for _, r := range rs {
			checkRules(t, r.(map[string]any), []rule{{"Type", isString(256), "a resource type"}, {"Id", isString(512), "a resource ID"}})
		}
	}
}

// TestEventID: the same state gives the same ID; a change, another.
func TestEventID(t *testing.T) {
	a, b := goldenFinding(), goldenFinding()
	if publish.EventID(a) != publish.EventID(b) {
		t.Error("the same finding state has two event IDs")
	}
	b.Service.Count++
	if publish.EventID(a) == publish.EventID(b) {
		t.Error("a changed count kept the event ID")
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(publish.EventID(a)) {
		t.Errorf("event ID %q is not UUID-shaped", publish.EventID(a))
	}
}
