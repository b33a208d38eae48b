package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// repoRoot is where the README's commands run.
const repoRoot = "../.."

func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// TestReadmeCommands runs the set-up commands the README gives: the
// analysis of the bundled examples must work as written and print
// findings, and the test command must be what .ci/run calls.
func TestReadmeCommands(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	setup := string(readme)
	setup = setup[strings.Index(setup, "## Set up"):]
	setup = setup[:strings.Index(setup[3:], "\n## ")+3]
	blocks := regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(setup, -1)
	if len(blocks) != 2 {
		t.Fatalf("the README's set-up section has %d commands, want exactly 2", len(blocks))
	}
	analyze := strings.Fields(strings.TrimSpace(blocks[0][1]))
	if len(analyze) < 4 || strings.Join(analyze[:3], " ") != "go run ./cmd/picket" {
		t.Fatalf("first set-up command %q should run picket", analyze)
	}
	testCmd := strings.TrimSpace(blocks[1][1])
	ci, err := os.ReadFile(filepath.Join(repoRoot, ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ci), "exec "+testCmd) {
		t.Errorf(".ci/run does not call the README's test command %q", testCmd)
	}

	wd, _ := os.Getwd()
	if err := os.Chdir(repoRoot); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	code, stdout, stderr := runCLI(t, "", analyze[3:]...)
	if code != 0 {
		t.Fatalf("%s: exit %d\n%s", strings.Join(analyze, " "), code, stderr)
	}
	if !strings.Contains(stdout, "Recon:EC2/PortProbeUnprotectedPort") || !strings.Contains(stdout, "evidence:") {
		t.Errorf("the example analysis printed no explained finding:\n%s", stdout)
	}
	if !strings.Contains(stderr, "findings:") || !strings.Contains(stderr, "records") {
		t.Errorf("no summary on stderr:\n%s", stderr)
	}
}

func TestJSONOutputIsGetFindingsShaped(t *testing.T) {
	code, stdout, stderr := runCLI(t, "", "analyze", "--output", "json", filepath.Join(repoRoot, "examples", "flowlogs"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var resp struct {
		Findings []map[string]any `json:"findings"`
	}
	if err := json.Unmarshal([]byte(stdout), &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.Findings) == 0 {
		t.Fatal("no findings")
	}
	for _, k := range []string{"schemaVersion", "accountId", "region", "id", "arn", "type", "resource", "service", "severity", "createdAt", "updatedAt", "title", "description"} {
		if _, ok := resp.Findings[0][k]; !ok {
			t.Errorf("finding lacks %s", k)
		}
	}
	code, stdout, _ = runCLI(t, "", "analyze", "-o", "jsonl", filepath.Join(repoRoot, "examples", "flowlogs"))
	if lines := strings.Count(stdout, "\n"); code != 0 || lines != len(resp.Findings) {
		t.Errorf("jsonl: exit %d, %d lines for %d findings", code, lines, len(resp.Findings))
	}
}

func TestExitStatus(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.log")
	os.WriteFile(good, []byte("2 111122223333 eni-1 198.51.100.7 10.0.0.5 40000 22 6 1 60 1767225600 1767225660 REJECT OK\n"), 0o644)
	bad := filepath.Join(dir, "bad.log")
	os.WriteFile(bad, []byte("2 111122223333 eni-1 198.51.100.7 10.0.0.5 40000 99999 6 1 60 1767225600 1767225660 REJECT OK\n"), 0o644)
	// A gzip stream cut in the middle.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	for i := 0; i < 2000; i++ {
		zw.Write([]byte("2 111122223333 eni-1 198.51.100.7 10.0.0.5 40000 22 6 1 60 1767225600 1767225660 REJECT OK\n"))
	}
	zw.Close()
	truncated := filepath.Join(dir, "cut.log.gz")
	os.WriteFile(truncated, gz.Bytes()[:gz.Len()/2], 0o644)
	// Issue 12: a CloudTrail event before flow lines, a junk first line,
	// and a pretty-printed document after flow lines.
	flows := "2 111122223333 eni-1 198.51.100.7 10.0.0.5 40000 22 6 1 60 1767225600 1767225660 REJECT OK\n" +
		"2 111122223333 eni-1 198.51.100.7 10.0.0.5 40001 22 6 1 60 1767225600 1767225660 REJECT OK\n"
	trailFirst := filepath.Join(dir, "trail-first.log")
	os.WriteFile(trailFirst, []byte(`{"eventVersion":"1.09","eventTime":"2026-01-01T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","awsRegion":"us-east-1","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/a"}}`+"\n"+flows), 0o644)
	junkFirst := filepath.Join(dir, "junk-first.log")
	os.WriteFile(junkFirst, []byte("junk\n"+flows), 0o644)
	docAfter := filepath.Join(dir, "doc-after.log")
	os.WriteFile(docAfter, []byte(flows+flows+"{\n  \"Records\": []\n}\n"), 0o644)

	tests := []struct {
		name   string
		stdin  string
		args   []string
		code   int
		stderr string
	}{
		{"no arguments", "", nil, 2, "Usage"},
		{"unknown command", "", []string{"frobnicate"}, 2, "unknown command"},
		{"no input", "", []string{"analyze"}, 2, "no input"},
		{"bad output format", "", []string{"analyze", "-o", "xml", good}, 2, "unknown output format"},
		{"bad threshold", "", []string{"analyze", "--set", "portprobe.min_probes=0", good}, 1, "out of range"},
		{"good input", "", []string{"analyze", good}, 0, "1 records"},
		{"memory budget", "", []string{"analyze", "--memory-budget", "64MiB", good}, 0, "1 records"},
		{"bad memory budget", "", []string{"analyze", "--memory-budget", "lots", good}, 2, "not a size"},
		{"a bad record is skipped, not fatal", "", []string{"analyze", bad, good}, 0, "skipped 1 bad record(s): range 1"},
		{"strict makes it fatal", "", []string{"analyze", "--strict", bad}, 1, "bad.log:1: field \"dstport\""},
		{"missing file, the rest still read", "", []string{"analyze", filepath.Join(dir, "nope.log"), good}, 1, "nope.log"},
		{"truncated gzip keeps what came before", "", []string{"analyze", truncated}, 1, "cut.log.gz"},
		{"stdin", "2 111122223333 eni-1 198.51.100.7 10.0.0.5 40000 22 6 1 60 1767225600 1767225660 REJECT OK\n", []string{"analyze", "-"}, 0, "1 records"},
		{"empty stdin", "", []string{"analyze", "-"}, 1, "empty"},
		{"a CloudTrail event before flow lines", "", []string{"analyze", trailFirst}, 0, "records by kind: api-call 1, flow 2"},
		{"a junk first line", "", []string{"analyze", junkFirst}, 0, "2 records"},
		{"a junk first line is counted", "", []string{"analyze", junkFirst}, 0, "skipped 1 bad record(s): no-format 1"},
		{"a document among flow lines is counted", "", []string{"analyze", docAfter}, 0, "skipped 3 bad record(s): other-format 3"},
		{"and explained", "", []string{"analyze", docAfter}, 0, "give such a document as a file of its own"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tt.stdin, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("exit %d, want %d; stderr should contain %q:\n%s", code, tt.code, tt.stderr, stderr)
			}
		})
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	args := []string{"generate", "--seed", "7", "--duration", "10m", "--version", "5"}
	_, a, _ := runCLI(t, "", args...)
	_, b, _ := runCLI(t, "", args...)
	if a == "" || a != b {
		t.Fatalf("two runs with one seed differ (%d and %d bytes)", len(a), len(b))
	}
	_, c, _ := runCLI(t, "", "generate", "--seed", "8", "--duration", "10m", "--version", "5")
	if a == c {
		t.Error("different seeds gave the same output")
	}
	if code, _, stderr := runCLI(t, "", "generate", "--attack", "scan target=nowhere:9"); code != 2 || !strings.Contains(stderr, "nowhere") {
		t.Errorf("bad attack: exit %d, %s", code, stderr)
	}
}

func TestDetectorsListing(t *testing.T) {
	code, stdout, _ := runCLI(t, "", "detectors")
	if code != 0 || !strings.Contains(stdout, "portprobe.min_probes = 4 contacts") {
		t.Errorf("exit %d:\n%s", code, stdout)
	}
	code, stdout, _ = runCLI(t, "", "detectors", "--set", "portprobe.min_probes=3")
	if code != 0 || !strings.Contains(stdout, "portprobe.min_probes = 3 contacts (default 4)") {
		t.Errorf("override not shown: exit %d:\n%s", code, stdout)
	}
}
