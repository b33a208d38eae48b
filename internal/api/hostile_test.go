package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"picket/internal/finding"
)

func TestTokens(t *testing.T) {
	s := tokenSealer{key: bytes.Repeat([]byte{1}, 32)}
	tok := s.seal("ListFindings\x00d1\x00q", "cursor-42")
	if strings.Contains(tok, "cursor") {
		t.Errorf("token %q shows the cursor in clear", tok)
	}
	if got, err := s.open("ListFindings\x00d1\x00q", tok); err != nil || got != "cursor-42" {
		t.Fatalf("open = %q, %v", got, err)
	}
	if s.seal("x", "") != "" {
		t.Error("the end of a listing has a token")
	}
	for _, tt := range []struct{ name, scope, token string }{
		{"other listing", "ListFindings\x00d2\x00q", tok},
		{"other query", "ListFindings\x00d1\x00r", tok},
		{"other key", "", tokenSealer{key: bytes.Repeat([]byte{2}, 32)}.seal("ListFindings\x00d1\x00q", "cursor-42")},
		{"not base64", "", "!!!"},
		{"too short", "", base64.RawURLEncoding.EncodeToString([]byte{1, 2, 3})},
		{"too long", "", strings.Repeat("A", maxTokenLength+1)},
	} {
		scope := tt.scope
		if scope == "" {
			scope = "ListFindings\x00d1\x00q"
		}
		if _, err := s.open(scope, tt.token); err == nil {
			t.Errorf("%s: opened", tt.name)
		}
	}
	// Every single-byte change of the sealed bytes is caught.
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	for i := range raw {
		b := bytes.Clone(raw)
		b[i] ^= 0x20
		if _, err := s.open("ListFindings\x00d1\x00q", base64.RawURLEncoding.EncodeToString(b)); err == nil {
			t.Errorf("byte %d flipped: opened", i)
		}
	}
}

// TestHostileInput sends what an attacker or a broken client might and
// checks that each gets GuardDuty's 400 and that nothing changes.
func TestHostileInput(t *testing.T) {
	st := newMemStore()
	f := newFixture(t, st)
	det := f.createDetector(t)
	d := "/detector/" + det
	if err := st.Commit(t.Context(), batchOf(testFinding(finding.TypePortscan, "i-1", 5, testNow))); err != nil {
		t.Fatal(err)
	}
	snapshot := func() string {
		st.mu.Lock()
		defer st.mu.Unlock()
		b, _ := json.Marshal([]any{st.detectors, st.findings, st.filters, st.sets, st.tags})
		return string(b)
	}
	before := snapshot()
	deep := strings.Repeat(`{"a":`, 100) + `1` + strings.Repeat(`}`, 100)
	tests := []struct {
		name, method, path, body string
		msg                      string
	}{
		{"oversized body", "POST", d + "/filter", `{"name":"big","description":"` + strings.Repeat("x", 2<<20) + `"}`, msgTooLarge},
		{"deep JSON", "POST", d + "/findings", `{"findingCriteria":` + deep + `}`, msgJSON},
		{"deep JSON in an unknown member", "POST", d + "/findings", `{"x":` + deep + `}`, msgJSON},
		{"deep arrays", "POST", d + "/findings", `{"findingCriteria":{"criterion":{"type":{"equals":` + strings.Repeat("[", 50) + strings.Repeat("]", 50) + `}}}}`, msgJSON},
		{"unknown member", "POST", d + "/findings", `{"maxResults":5,"admin":true}`, msgJSON},
		{"unknown nested member", "POST", d + "/findings", `{"findingCriteria":{"criterion":{"type":{"equals":["x"],"regex":".*"}}}}`, msgJSON},
		{"PascalCase member", "POST", d + "/findings", `{"MaxResults":5}`, msgJSON},
		{"PascalCase criterion", "POST", d + "/findings", `{"findingCriteria":{"Criterion":{"type":{"Eq":["x"]}}}}`, msgJSON},
		{"member twice", "POST", d + "/findings", `{"maxResults":5,"maxResults":50}`, msgJSON},
		{"invalid UTF-8", "POST", d + "/filter", "{\"name\":\"abc\xff\xfe\",\"findingCriteria\":{\"criterion\":{\"type\":{\"equals\":[\"x\"]}}}}", msgJSON},
		{"not an object", "POST", d + "/findings", `[1,2,3]`, msgJSON},
		{"trailing data", "POST", d + "/findings", `{} {}`, msgJSON},
		{"truncated", "POST", d + "/findings", `{"maxResults":`, msgJSON},
		{"wrong type", "POST", d + "/findings/archive", `{"findingIds":"abc"}`, msgJSON},
		{"huge maxResults", "POST", d + "/findings", `{"maxResults":2147483648}`, msgRange},
		{"negative maxResults", "POST", d + "/findings", `{"maxResults":-1}`, msgRange},
		{"fractional maxResults", "POST", d + "/findings", `{"maxResults":1.5}`, msgJSON},
		{"malformed token", "POST", d + "/findings", `{"nextToken":"../../etc/passwd"}`, msgToken},
		{"forged token", "POST", d + "/findings", `{"nextToken":"` + base64.RawURLEncoding.EncodeToString(append([]byte{1}, make([]byte, 40)...)) + `"}`, msgToken},
		{"huge token", "POST", d + "/findings", `{"nextToken":"` + strings.Repeat("A", 10000) + `"}`, msgToken},
		{"criterion field injection", "POST", d + "/findings", `{"findingCriteria":{"criterion":{"type') OR 1=1 --":{"equals":["x"]}}}}`, msgJSON},
		{"archive a filter of everything", "POST", d + "/filter", `{"name":"all","action":"ARCHIVE","findingCriteria":{"criterion":{}}}`, "The request is rejected because the parameter findingCriteria has an invalid value."},
		{"control characters in a location", "POST", d + "/ipset", `{"name":"n","format":"TXT","location":"s3://b/k\u0000;rm -rf /","activate":true}`, "The request is rejected because the parameter location has an invalid value."},
		{"path traversal in a label", "GET", d + "/filter/..%2F..%2Fetc", ``, msgNoResource},
		{"query maxResults overflow", "GET", d + "/filter?maxResults=99999999999999999999", ``, "The request is rejected because the parameter maxResults has an invalid value."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := f.serve(f.request(t, tt.method, tt.path, tt.body))
			e := errorOf(t, w)
			if e.Status != 400 || e.Code != "BadRequestException" || e.Message != tt.msg {
				t.Errorf("got %d %s %q, want 400 BadRequestException %q", e.Status, e.Code, e.Message, tt.msg)
			}
			if after := snapshot(); after != before {
				t.Errorf("the store changed")
			}
		})
	}

	// Injection attempts in criteria values are data: they match nothing.
	for _, v := range []string{`' OR '1'='1`, `"); DROP TABLE findings; --`, `%`, `*`, `\`, "\u0000", `$where`} {
		var out struct {
			FindingIDs []string `json:"findingIds"`
		}
		body, _ := json.Marshal(map[string]any{"findingCriteria": map[string]any{"criterion": map[string]any{
			"type": map[string]any{"equals": []string{v}}, "resource.instanceDetails.instanceId": map[string]any{"notEquals": []string{v}}}}})
		f.call(t, "POST", d+"/findings", string(body), &out)
		if len(out.FindingIDs) != 0 {
			t.Errorf("value %q matched %v", v, out.FindingIDs)
		}
	}
	if after := snapshot(); after != before {
		t.Errorf("the store changed")
	}
}

// TestBodyLimitWithoutLength checks the limit on a body of unknown length
// (chunked): it is cut at the limit, not read to its end.
func TestBodyLimitWithoutLength(t *testing.T) {
	f := newFixture(t, nil, func(c *Config) { c.MaxBodyBytes = 1000 })
	body := `{"findingIds":["` + strings.Repeat("a", 2000) + `"]}`
	r := f.request(t, "POST", "/detector/x/findings/get", body)
	r.ContentLength = -1
	w := f.serve(r)
	if e := errorOf(t, w); e.Status != 400 || e.Message != msgTooLarge {
		t.Errorf("got %+v", e)
	}
}

func TestDecodeBody(t *testing.T) {
	var in struct {
		A *int64            `json:"a"`
		M map[string]string `json:"m"`
		L []struct {
			X string `json:"x"`
		} `json:"l"`
	}
	for _, ok := range []string{``, `  `, `{}`, `{"a":1}`, `{"a":null}`, `{"m":{"any":"thing","Other":"x"}}`, `{"l":[{"x":"1"},{"x":"2"}]}`} {
		if err := decodeBody([]byte(ok), &in); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{`{"A":1}`, `{"l":[{"X":"1"}]}`, `{"l":[{"x":"1","y":2}]}`, `{"a":1,"a":2}`, `null`, `{"a":"1"}`, "{\"m\":{\"k\":\"\xc3\x28\"}}"} {
		if err := decodeBody([]byte(bad), &in); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}

func TestUnsignedHostileRequestsAreRefusedFirst(t *testing.T) {
	f := newFixture(t, nil)
	r := httptest.NewRequest("POST", "/detector/x/findings", strings.NewReader(`{"findingCriteria":`+strings.Repeat("[", 10000)+`}`))
	if e := errorOf(t, f.serve(r)); e.Status != 403 || e.Code != codeMissingAuth {
		t.Errorf("got %+v, want 403 %s", e, codeMissingAuth)
	}
	_ = time.Second
}
