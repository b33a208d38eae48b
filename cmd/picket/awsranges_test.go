package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"picket/internal/awsip"
)

const (
	testTrail  = "../../internal/decode/cloudtrail/testdata/records.json"
	testRanges = "../../internal/awsip/testdata/ip-ranges.json"
)

// TestAnalyzeAWSRanges runs picket analyze with AWS's ranges fetched
// from a test server into a temporary cache directory, from that copy,
// from a file, and with none, and checks what the summary says.
func TestAnalyzeAWSRanges(t *testing.T) {
	doc, err := os.ReadFile(testRanges)
	if err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.ServeContent(w, r, "ip-ranges.json", time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC), strings.NewReader(string(doc)))
	}))
	defer srv.Close()
	cache := filepath.Join(t.TempDir(), "cache")
	auto := []string{"analyze", "--aws-ip-ranges", "auto", "--aws-ip-ranges-url", srv.URL, "--cache-dir", cache, testTrail}

	code, _, stderr := runCLI(t, "", auto...)
	if code != 0 || !strings.Contains(stderr, "  AWS ip ranges: 8 AWS prefixes published 2024-03-01 (fetched now)\n") {
		t.Errorf("fetch: exit %d, stderr:\n%s", code, stderr)
	}
	if _, err := awsip.Load(filepath.Join(cache, awsip.CacheFile)); err != nil {
		t.Errorf("no copy kept: %v", err)
	}
	code, _, stderr = runCLI(t, "", auto...)
	if code != 0 || !strings.Contains(stderr, "  AWS ip ranges: 8 AWS prefixes published 2024-03-01 (kept copy, checked ") || requests.Load() != 1 {
		t.Errorf("reuse: exit %d after %d requests, stderr:\n%s", code, requests.Load(), stderr)
	}
	if strings.Contains(stderr, "raise nothing") {
		t.Errorf("blind detectors named with ranges:\n%s", stderr)
	}

	code, _, stderr = runCLI(t, "", "analyze", "--aws-ip-ranges", testRanges, testTrail)
	if code != 0 || !strings.Contains(stderr, "  AWS ip ranges: 8 AWS prefixes published 2024-03-01 (from "+testRanges+")\n") {
		t.Errorf("file: exit %d, stderr:\n%s", code, stderr)
	}

	// Offline with no copy: the analysis runs and the summary names the
	// blind detector and its finding types, once.
	srv.Close()
	code, _, stderr = runCLI(t, "", "analyze", "--aws-ip-ranges", "auto", "--aws-ip-ranges-url", srv.URL, "--cache-dir", t.TempDir(), testTrail)
	want := "  AWS ip ranges: none (fetching AWS ip ranges: "
	blind := "    credexfil: UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS, " +
		"UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.InsideAWS, UnauthorizedAccess:IAMUser/ResourceCredentialExfiltration.OutsideAWS\n"
	if code != 0 || strings.Count(stderr, want) != 1 || strings.Count(stderr, blind) != 1 || !strings.Contains(stderr, "--aws-ip-ranges FILE") {
		t.Errorf("offline: exit %d, stderr:\n%s", code, stderr)
	}

	// The tests' default (TestMain sets $PICKET_AWS_IP_RANGES to off).
	code, _, stderr = runCLI(t, "", "analyze", testTrail)
	if code != 0 || !strings.Contains(stderr, "  AWS ip ranges: none (turned off); without them these detectors raise nothing:\n"+blind) {
		t.Errorf("off: exit %d, stderr:\n%s", code, stderr)
	}

	// Flow logs only: the ranges are not for them, and nothing is said.
	code, _, stderr = runCLI(t, "", "analyze", filepath.Join(repoRoot, "examples", "flowlogs"))
	if code != 0 || strings.Contains(stderr, "AWS ip ranges") {
		t.Errorf("flow logs: exit %d, stderr:\n%s", code, stderr)
	}
}

// TestServeAWSRangesFlags checks that serve's ranges flags reach the
// configuration and its validation.
func TestServeAWSRangesFlags(t *testing.T) {
	code, _, stderr := runCLI(t, "", "serve", "--data-dir", t.TempDir(), "--aws-ip-ranges-url", "ip-ranges.amazonaws.com/ip-ranges.json")
	if code != 2 || !strings.Contains(stderr, `enrich.aws_ip_ranges_url: "ip-ranges.amazonaws.com/ip-ranges.json" is not an http:// or https:// URL`) {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}
