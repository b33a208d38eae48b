package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExplain runs analyze on the bundled estate example, then explain on
// one of its findings, with the inventory given to analyze and, for
// findings made without it, to explain.
func TestExplain(t *testing.T) {
	t.Setenv("PICKET_AWS_IP_RANGES", "off")
	const flows, inv = "../../examples/estate/flowlogs", "../../examples/estate/inventory"
	analyze := func(args ...string) (string, []string) {
		var out, errb bytes.Buffer
		if code := run(append([]string{"analyze", "--quiet", "-o", "json"}, append(args, flows)...), nil, &out, &errb); code != 0 {
			t.Fatalf("analyze: exit %d: %s", code, errb.String())
		}
		var doc struct {
			Findings []struct {
				ID   string `json:"id"`
				Type string `json:"type"`
			} `json:"findings"`
		}
		if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), "findings.json")
		if err := os.WriteFile(file, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, f := range doc.Findings {
			if f.Type == "Recon:EC2/PortProbeUnprotectedPort" {
				ids = append(ids, f.ID)
			}
		}
		return file, ids
	}
	explain := func(args ...string) string {
		var out, errb bytes.Buffer
		if code := run(append([]string{"explain"}, args...), nil, &out, &errb); code != 0 {
			t.Fatalf("explain %v: exit %d: %s", args, code, errb.String())
		}
		return out.String()
	}
	want := []string{"Path", "54.162.10.20", "Security groups and network ACL", "admitted: sg-0a1b2c3d4e5f00001",
		"Remediation", "aws ec2 revoke-security-group-ingress", "picket never runs them", "Evidence", "flows.log:"}
	check := func(out string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("explain output lacks %q:\n%s", w, out)
			}
		}
	}

	file, ids := analyze("--inventory", inv)
	if len(ids) == 0 {
		t.Fatal("no port probe finding")
	}
	check(explain("--findings", file, ids[0]))

	file, ids = analyze()
	out := explain("--findings", file, ids[0])
	if !strings.Contains(out, "no inventory") || strings.Contains(out, "Remediation") {
		t.Errorf("a finding made without inventory:\n%s", out)
	}
	check(explain("--findings", file, "--inventory", inv, ids[0]))

	var errb bytes.Buffer
	if code := run([]string{"explain", "--findings", file, "0123"}, nil, &bytes.Buffer{}, &errb); code != 1 || !strings.Contains(errb.String(), "no finding 0123") {
		t.Errorf("unknown ID: exit %d, %s", code, errb.String())
	}
}
