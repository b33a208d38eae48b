package main

import (
	"strings"
	"testing"
)

// TestAnalyzeCloudTrail runs picket analyze on a hand-written trail: the
// events are read and counted by kind in the summary.
func TestAnalyzeCloudTrail(t *testing.T) {
	code, _, stderr := runCLI(t, "", "analyze", "../../internal/decode/cloudtrail/testdata/records.json")
	if code != 0 || !strings.Contains(stderr, "records by kind: api-call 14") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}

// TestAnalyzeDatabaseFlags checks that the enrichment flags load their
// files at start and fail fast, naming the file.
func TestAnalyzeDatabaseFlags(t *testing.T) {
	for _, flag := range []string{"--geoip-city", "--geoip-asn", "--aws-ip-ranges"} {
		code, _, stderr := runCLI(t, "", "analyze", flag, "/nonexistent/db", "../../internal/decode/cloudtrail/testdata/records.json")
		if code != 1 || !strings.Contains(stderr, "/nonexistent/db") {
			t.Errorf("%s: exit %d, stderr:\n%s", flag, code, stderr)
		}
	}
}
