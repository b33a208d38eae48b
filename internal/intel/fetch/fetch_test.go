package fetch

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func read(t *testing.T, rc io.ReadCloser) string {
	t.Helper()
	if rc == nil {
		return "<not modified>"
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return "error: " + err.Error()
	}
	return string(b)
}

// listServer serves one list with an ETag, answering 304 to a request
// that names it, and counts full downloads.
func listServer(t *testing.T, body *atomic.Value, etagOf func(string) string) (*httptest.Server, *atomic.Int32) {
	var downloads atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := body.Load().(string)
		etag := etagOf(b)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		switch r.URL.Path {
		case "/missing.txt":
			http.Error(w, "no such list", http.StatusNotFound)
			return
		case "/nodate.txt":
			w.Header().Set("Last-Modified", "Mon, 02 Jan 2026 15:04:05 GMT")
			if r.Header.Get("If-Modified-Since") != "" {
				w.WriteHeader(http.StatusNotModified)
				return
			}
		default:
			w.Header().Set("ETag", etag)
		}
		downloads.Add(1)
		io.WriteString(w, b)
	}))
	t.Cleanup(srv.Close)
	return srv, &downloads
}

func TestHTTP(t *testing.T) {
	var body atomic.Value
	body.Store("192.0.2.1\n")
	srv, downloads := listServer(t, &body, func(b string) string { return `"` + strings.TrimSpace(b) + `"` })
	f := New(Options{})
	ctx := context.Background()

	rc, v, err := f.Fetch(ctx, srv.URL+"/list.txt", "")
	if err != nil || read(t, rc) != "192.0.2.1\n" || v != `etag:"192.0.2.1"` {
		t.Fatalf("first fetch: %v %q", err, v)
	}
	rc, v2, err := f.Fetch(ctx, srv.URL+"/list.txt", v)
	if err != nil || rc != nil || v2 != v {
		t.Fatalf("unchanged: body %v, version %q, err %v", rc != nil, v2, err)
	}
	body.Store("192.0.2.2\n")
	rc, v3, err := f.Fetch(ctx, srv.URL+"/list.txt", v)
	if err != nil || read(t, rc) != "192.0.2.2\n" || v3 == v {
		t.Fatalf("changed: %v %q", err, v3)
	}
	if n := downloads.Load(); n != 2 {
		t.Errorf("%d downloads, want 2", n)
	}

	rc, v, err = f.Fetch(ctx, srv.URL+"/nodate.txt", "")
	if err != nil || read(t, rc) == "" || !strings.HasPrefix(v, "modified:") {
		t.Fatalf("Last-Modified: %v %q", err, v)
	}
	if rc, _, err = f.Fetch(ctx, srv.URL+"/nodate.txt", v); err != nil || rc != nil {
		t.Errorf("If-Modified-Since: %v %v", rc != nil, err)
	}

	_, _, err = f.Fetch(ctx, srv.URL+"/missing.txt?token=secret", "")
	if err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "no such list") || strings.Contains(err.Error(), "secret") {
		t.Errorf("404: %v (want the status and the body, without the query)", err)
	}
}

func TestHTTPTooLarge(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		if r.URL.Path == "/chunked" {
			w.(http.Flusher).Flush() // no Content-Length: the limit applies while reading
		}
		io.WriteString(w, strings.Repeat("192.0.2.1\n", 100))
	}))
	defer srv.Close()
	f := New(Options{MaxBytes: 100})
	if _, _, err := f.Fetch(context.Background(), srv.URL+"/sized", ""); !errors.Is(err, ErrTooLarge) {
		t.Errorf("sized: %v", err)
	}
	rc, _, err := f.Fetch(context.Background(), srv.URL+"/chunked", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(rc); !errors.Is(err, ErrTooLarge) {
		t.Errorf("chunked: %v", err)
	}
}

func TestFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "l.txt")
	os.WriteFile(p, []byte("192.0.2.1\n"), 0o644)
	f := New(Options{})
	rc, v, err := f.Fetch(context.Background(), p, "")
	if err != nil || read(t, rc) != "192.0.2.1\n" {
		t.Fatal(err)
	}
	if rc, _, err := f.Fetch(context.Background(), "file://"+p, v); err != nil || rc != nil {
		t.Errorf("unchanged file fetched again: %v", err)
	}
	if _, _, err := f.Fetch(context.Background(), dir, ""); err == nil {
		t.Error("a directory is not a list")
	}
}

// s3Server speaks just enough S3 for GetObject in path style: it checks
// that requests are signed, serves objects with an ETag and answers 304
// to If-None-Match.
func s3Server(t *testing.T, objects map[string]string) (*httptest.Server, *atomic.Int32) {
	var gets atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=AKIDTEST/") {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
			return
		}
		body, ok := objects[r.URL.Path]
		if !ok {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>`)
			return
		}
		etag := `"e` + string(rune('a'+len(body)%26)) + `"`
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		gets.Add(1)
		w.Header().Set("ETag", etag)
		w.Header().Set("Last-Modified", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Format(http.TimeFormat))
		w.Header().Set("Content-Length", itoa(len(body)))
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &gets
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func TestS3(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	srv, gets := s3Server(t, map[string]string{"/lists/threats/otx.csv": "Indicator type, Indicator, Description\nIPv4, 192.0.2.10, x\n"})
	f := New(Options{S3Endpoint: srv.URL, S3PathStyle: true})
	ctx := context.Background()

	rc, v, err := f.Fetch(ctx, "s3://lists/threats/otx.csv", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, rc); !strings.Contains(got, "192.0.2.10") || !strings.HasPrefix(v, "etag:") {
		t.Fatalf("got %q, version %q", got, v)
	}
	rc, v2, err := f.Fetch(ctx, "s3://lists/threats/otx.csv", v)
	if err != nil || rc != nil || v2 != v {
		t.Fatalf("unchanged object: body %v, version %q, err %v", rc != nil, v2, err)
	}
	if gets.Load() != 1 {
		t.Errorf("%d downloads, want 1", gets.Load())
	}
	_, _, err = f.Fetch(ctx, "s3://lists/missing.csv", "")
	if err == nil || !strings.Contains(err.Error(), "s3://lists/missing.csv") || !strings.Contains(err.Error(), "NoSuchKey") {
		t.Errorf("missing object: %v", err)
	}
	if _, _, err := f.Fetch(ctx, "s3://bucket-only", ""); err == nil {
		t.Error("s3://bucket without a key accepted")
	}
}

func TestS3URL(t *testing.T) {
	tests := []struct {
		in                  string
		bucket, key, region string
		ok                  bool
	}{
		{"https://s3.amazonaws.com/bucket/key/list.txt", "bucket", "key/list.txt", "", true},
		{"https://s3-eu-west-1.amazonaws.com/bucket/list.txt", "bucket", "list.txt", "eu-west-1", true},
		{"https://s3.eu-west-1.amazonaws.com/bucket/list.txt", "bucket", "list.txt", "eu-west-1", true},
		{"https://bucket.s3.amazonaws.com/list.txt", "bucket", "list.txt", "", true},
		{"http://my.bucket.s3-us-west-2.amazonaws.com/a/b.csv", "my.bucket", "a/b.csv", "us-west-2", true},
		{"https://bucket.s3.us-west-2.amazonaws.com/a", "bucket", "a", "us-west-2", true},
		{"https://s3.amazonaws.com/bucket", "", "", "", false},
		{"https://example.com/bucket/key", "", "", "", false},
		{"https://ec2.amazonaws.com/x/y", "", "", "", false},
	}
	for _, tt := range tests {
		b, k, r, ok := S3URL(tt.in)
		if b != tt.bucket || k != tt.key || r != tt.region || ok != tt.ok {
			t.Errorf("S3URL(%q) = %q %q %q %v", tt.in, b, k, r, ok)
		}
	}
}

// TestS3EndpointFromEnvironment reaches the test server through
// AWS_ENDPOINT_URL_S3 alone, in path style.
func TestS3EndpointFromEnvironment(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	srv, _ := s3Server(t, map[string]string{"/b/k.txt": "192.0.2.1\n"})
	t.Setenv("AWS_ENDPOINT_URL_S3", srv.URL)
	rc, _, err := New(Options{}).Fetch(context.Background(), "s3://b/k.txt", "")
	if err != nil || read(t, rc) != "192.0.2.1\n" {
		t.Fatalf("%v", err)
	}
}
