package api

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// TestSignatureVector checks the signature arithmetic against the worked
// example of AWS's Signature Version 4 documentation (IAM ListUsers).
func TestSignatureVector(t *testing.T) {
	r := httptest.NewRequest("GET", "/?Action=ListUsers&Version=2010-05-08", nil)
	r.Host = "iam.amazonaws.com"
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	r.Header.Set("X-Amz-Date", "20150830T123600Z")
	signed := []string{"content-type", "host", "x-amz-date"}
	emptyHash := "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	path, query := requestTarget(r)
	creq := canonicalRequest(r, path, query, signed, emptyHash)
	wantCreq := "GET\n/\nAction=ListUsers&Version=2010-05-08\ncontent-type:application/x-www-form-urlencoded; charset=utf-8\nhost:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n" + emptyHash
	if creq != wantCreq {
		t.Fatalf("canonical request\n%s\nwant\n%s", creq, wantCreq)
	}
	a := authorization{accessKeyID: "AKIDEXAMPLE", date: "20150830", region: "us-east-1", service: "iam", terminator: "aws4_request"}
	got := signature("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", a, "20150830T123600Z", creq)
	if want := "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"; got != want {
		t.Errorf("signature %s, want %s", got, want)
	}
}

// TestSignatureDifferential signs requests with awkward paths, queries,
// headers and bodies with the AWS SDK's signer and checks that the
// verifier accepts each one, and rejects it once any signed part changes.
func TestSignatureDifferential(t *testing.T) {
	f := newFixture(t, nil)
	rng := rand.New(rand.NewPCG(1, 2))
	paths := []string{
		"/detector",
		"/detector/0123456789abcdef0123456789abcdef/findings",
		"/tags/" + url.PathEscape("arn:aws:guardduty:us-east-1:123456789012:detector/0123456789abcdef0123456789abcdef/filter/a.b_c-d"),
		"/detector/d/filter/" + url.PathEscape("name with spaces & ünïcode/+"),
		"/detector/d/filter/%7Etilde",
	}
	queries := []string{
		"",
		"maxResults=5",
		"tagKeys=b&tagKeys=a&tagKeys=a%20b&tagKeys=%2B%2F%3D",
		"nextToken=abc-_DEF&maxResults=50",
		"empty=&flag",
	}
	bodies := []string{"", `{}`, `{"findingIds":["a","b"]}`, `{"name":"ü ✓ \u0000"}`}
	for i := range 200 {
		method := []string{"GET", "POST", "DELETE"}[rng.IntN(3)]
		target := paths[rng.IntN(len(paths))]
		if q := queries[rng.IntN(len(queries))]; q != "" {
			target += "?" + q
		}
		body := bodies[rng.IntN(len(bodies))]
		build := func() *http.Request {
			r := httptest.NewRequest(method, target, strings.NewReader(body))
			r.Host = "127.0.0.1:8080"
			r.Header.Set("Content-Type", "application/json")
			r.Header.Add("X-Custom", "  a   b  ")
			r.Header.Add("X-Custom", "c")
			sign(t, r, []byte(body), testNow.Add(time.Duration(rng.IntN(1700)-850)*time.Second), testCreds)
			return r
		}
		name := fmt.Sprintf("%d %s %s %q", i, method, target, body)
		if _, err := f.h.authenticate(build(), []byte(body)); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		for what, tamper := range map[string]func(r *http.Request) []byte{
			"method": func(r *http.Request) []byte { r.Method = "PUT"; return []byte(body) },
			"path":   func(r *http.Request) []byte { r.RequestURI = "/x" + r.RequestURI; return []byte(body) },
			"query": func(r *http.Request) []byte {
				r.RequestURI += map[bool]string{true: "&z=1", false: "?z=1"}[strings.Contains(r.RequestURI, "?")]
				return []byte(body)
			},
			"host":   func(r *http.Request) []byte { r.Host = "evil.example"; return []byte(body) },
			"body":   func(*http.Request) []byte { return []byte(body + " ") },
			"header": func(r *http.Request) []byte { r.Header.Set("Content-Type", "text/plain"); return []byte(body) },
		} {
			r := build()
			b := tamper(r)
			_, err := f.h.authenticate(r, b)
			if e := shape(err); err == nil || e.code != codeInvalidSig || e.message != msgBadSignature {
				t.Errorf("%s: tampered %s: %v, want InvalidSignatureException", name, what, err)
			}
		}
	}
}

func TestAuthErrors(t *testing.T) {
	sessionCreds := aws.Credentials{AccessKeyID: "AKIDSESSION", SecretAccessKey: "s3cr3t", SessionToken: "tok-1"}
	f := newFixture(t, nil, func(c *Config) {
		c.Credentials = StaticCredentials(
			Credential{AccessKeyID: testKeyID, Secret: testSecret, Account: testAccount},
			Credential{AccessKeyID: "AKIDSESSION", Secret: "s3cr3t", SessionToken: "tok-1", Account: testAccount},
		)
	})
	signedAt := func(at time.Time, creds aws.Credentials) *http.Request {
		r := httptest.NewRequest("GET", "/detector", nil)
		sign(t, r, nil, at, creds)
		return r
	}
	tests := []struct {
		name string
		req  func() *http.Request
		code string // "" for success
		msg  string
	}{
		{"valid", func() *http.Request { return signedAt(testNow, testCreds) }, "", ""},
		{"14 minutes slow", func() *http.Request { return signedAt(testNow.Add(-14*time.Minute), testCreds) }, "", ""},
		{"14 minutes fast", func() *http.Request { return signedAt(testNow.Add(14*time.Minute), testCreds) }, "", ""},
		{"no authorization", func() *http.Request { return httptest.NewRequest("GET", "/detector", nil) }, codeMissingAuth, msgMissingAuth},
		{"other scheme", func() *http.Request {
			r := httptest.NewRequest("GET", "/detector", nil)
			r.Header.Set("Authorization", "Bearer abc")
			return r
		}, codeIncomplete, "Unsupported AWS 'algorithm': 'Bearer'; picket accepts 'AWS4-HMAC-SHA256'."},
		{"no signature", func() *http.Request {
			r := signedAt(testNow, testCreds)
			h := r.Header.Get("Authorization")
			r.Header.Set("Authorization", h[:strings.Index(h, ", Signature=")])
			return r
		}, codeIncomplete, "Authorization header requires 'Signature' parameter. Authorization=AWS4-HMAC-SHA256 Credential=AKIDPICKETTEST/20260304/us-east-1/guardduty/aws4_request, SignedHeaders=host;x-amz-date"},
		{"no x-amz-date", func() *http.Request {
			r := signedAt(testNow, testCreds)
			r.Header.Del("X-Amz-Date")
			return r
		}, codeIncomplete, "..."},
		{"unknown key", func() *http.Request {
			return signedAt(testNow, aws.Credentials{AccessKeyID: "AKIDNOBODY", SecretAccessKey: testSecret})
		}, codeUnrecognized, msgUnknownKey},
		{"wrong secret", func() *http.Request {
			return signedAt(testNow, aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: "not-the-secret"})
		}, codeInvalidSig, msgBadSignature},
		{"expired", func() *http.Request { return signedAt(testNow.Add(-16*time.Minute), testCreds) }, codeInvalidSig,
			"Signature expired: 20260304T114400Z is now earlier than 20260304T114500Z (20260304T120000Z - 15 min.)"},
		{"not yet current", func() *http.Request { return signedAt(testNow.Add(16*time.Minute), testCreds) }, codeInvalidSig,
			"Signature not yet current: 20260304T121600Z is still later than 20260304T121500Z (20260304T120000Z + 15 min.)"},
		{"wrong service", func() *http.Request {
			r := signedAt(testNow, testCreds)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/guardduty/", "/s3/", 1))
			return r
		}, codeInvalidSig, "Credential should be scoped to correct service: 'guardduty'. "},
		{"scope date is not the request date", func() *http.Request {
			r := signedAt(testNow, testCreds)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/20260304/", "/20260303/", 1))
			return r
		}, codeInvalidSig, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20260303' != '20260304', from '20260304T120000Z'."},
		{"bad region", func() *http.Request {
			r := signedAt(testNow, testCreds)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/us-east-1/", "/US EAST/", 1))
			return r
		}, codeInvalidSig, "Credential should be scoped to a valid region. "},
		{"host not signed", func() *http.Request {
			r := signedAt(testNow, testCreds)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "SignedHeaders=host;x-amz-date", "SignedHeaders=x-amz-date", 1))
			return r
		}, codeInvalidSig, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."},
		{"session token", func() *http.Request { return signedAt(testNow, sessionCreds) }, "", ""},
		{"session token missing", func() *http.Request {
			c := sessionCreds
			c.SessionToken = ""
			return signedAt(testNow, c)
		}, codeUnrecognized, msgUnknownKey},
		{"session token wrong", func() *http.Request {
			c := sessionCreds
			c.SessionToken = "tok-2"
			return signedAt(testNow, c)
		}, codeUnrecognized, msgUnknownKey},
		{"session token not configured", func() *http.Request {
			c := testCreds
			c.SessionToken = "tok-1"
			return signedAt(testNow, c)
		}, codeUnrecognized, msgUnknownKey},
		{"payload hash header lies", func() *http.Request {
			r := httptest.NewRequest("POST", "/detector", strings.NewReader(`{"enable":true}`))
			r.Header.Set("X-Amz-Content-Sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
			sign(t, r, []byte(`{"enable":true}`), testNow, testCreds)
			return r
		}, codeInvalidSig, msgUnsignedBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := f.serve(tt.req())
			if tt.code == "" {
				if w.Code != 200 {
					t.Fatalf("%d %s, want 200", w.Code, w.Body)
				}
				return
			}
			e := errorOf(t, w)
			if e.Status != 403 || e.Code != tt.code || e.Type != tt.code {
				t.Errorf("got %d %s (__type %s), want 403 %s", e.Status, e.Code, e.Type, tt.code)
			}
			if tt.msg != "..." && e.Message != tt.msg {
				t.Errorf("message\n got %q\nwant %q", e.Message, tt.msg)
			}
		})
	}
	if logs := f.logs.String(); strings.Contains(logs, testSecret) || strings.Contains(logs, "s3cr3t") || strings.Contains(logs, "tok-1") {
		t.Errorf("a secret is in the log:\n%s", logs)
	}
}

func TestInsecureNoAuth(t *testing.T) {
	f := newFixture(t, nil, func(c *Config) {
		c.Credentials = nil
		c.InsecureNoAuth = true
		c.Account = "111122223333"
	})
	var out struct {
		DetectorID string `json:"detectorId"`
	}
	w := f.serve(httptest.NewRequest("POST", "/detector", strings.NewReader(`{"enable":true}`)))
	if w.Code != 200 {
		t.Fatalf("unsigned request: %d %s", w.Code, w.Body)
	}
	_ = jsonDecode(w.Body.Bytes(), &out)
	d, err := f.store.Detector(t.Context(), out.DetectorID)
	if err != nil || d.Account != "111122223333" || d.Region != "us-east-1" {
		t.Errorf("detector %+v, %v; want account 111122223333 in us-east-1", d, err)
	}
	// A signed request, even with a wrong secret, acts in its scope's region.
	r := httptest.NewRequest("POST", "/detector", strings.NewReader(`{"enable":true}`))
	sum := []byte(`{"enable":true}`)
	sign(t, r, sum, testNow, aws.Credentials{AccessKeyID: "x", SecretAccessKey: "y"})
	r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/us-east-1/", "/eu-west-1/", 1))
	if w := f.serve(r); w.Code != 200 {
		t.Fatalf("signed request: %d %s", w.Code, w.Body)
	}
	if _, err := f.store.DetectorFor(t.Context(), "111122223333", "eu-west-1"); err != nil {
		t.Errorf("no detector in eu-west-1: %v", err)
	}
}

func TestNewNeedsCredentials(t *testing.T) {
	if _, err := New(Config{Store: newMemStore()}); err == nil {
		t.Error("New without credentials or InsecureNoAuth succeeded")
	}
	if _, err := New(Config{Store: newMemStore(), InsecureNoAuth: true, TokenKey: []byte("short")}); err == nil {
		t.Error("New with a short token key succeeded")
	}
	if _, err := New(Config{Store: newMemStore(), InsecureNoAuth: true, Account: "12"}); err == nil {
		t.Error("New with a bad account succeeded")
	}
}

func TestSecretRedaction(t *testing.T) {
	c := Credential{AccessKeyID: "AKID", Secret: "very-secret", SessionToken: "very-token"}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("credential", "cred", c, "secret", c.Secret)
	log.Info("as text", slog.Any("secret", c.Secret))
	slog.New(slog.NewTextHandler(&buf, nil)).Info("text", "cred", c, "secret", c.Secret)
	for _, s := range []string{
		buf.String(),
		fmt.Sprintf("%v %+v %#v %s %q", c, c, c, c.Secret, c.Secret),
		fmt.Sprint(c.Secret, c.SessionToken),
	} {
		if strings.Contains(s, "very-") {
			t.Errorf("secret in output: %s", s)
		}
		if !strings.Contains(s, "REDACTED") {
			t.Errorf("no REDACTED in output: %s", s)
		}
	}
	if string(c.Secret) != "very-secret" {
		t.Error("the secret is not usable as a string")
	}
}
