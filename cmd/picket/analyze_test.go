package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestAnalyzeWorkers checks that --workers changes nothing in what
// analyze prints, and that a negative count is a usage error.
func TestAnalyzeWorkers(t *testing.T) {
	examples := filepath.Join(repoRoot, "examples", "flowlogs")
	code, want, stderr := runCLI(t, "", "analyze", "--workers", "1", "-o", "json", examples)
	if code != 0 || !strings.Contains(want, `"findings"`) {
		t.Fatalf("--workers 1: exit %d\n%s", code, stderr)
	}
	for _, n := range []string{"2", "0"} {
		code, got, stderr := runCLI(t, "", "analyze", "--workers", n, "-o", "json", examples)
		if code != 0 || got != want {
			t.Errorf("--workers %s: exit %d, output differs from --workers 1: %v\n%s", n, code, got != want, stderr)
		}
	}
	if code, _, stderr := runCLI(t, "", "analyze", "--workers", "-1", examples); code != 2 || !strings.Contains(stderr, "--workers -1") {
		t.Errorf("--workers -1: exit %d, want 2 and a usage error\n%s", code, stderr)
	}
}
