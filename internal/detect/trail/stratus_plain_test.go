package trail_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"picket/internal/awsip"
	"picket/internal/decode"
)

// plainUserAgent stands in for the Stratus Red Team user agent: what an
// attacker who does not announce the tool sends, the AWS CLI on Linux.
const plainUserAgent = "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-1016-aws exe/x86_64.ubuntu.22 prompt/off command/sts.get-caller-identity"

// stratusAgent matches the user agent Stratus Red Team sets on its calls
// (stratus-red-team_<detonation uuid>), inside a JSON string.
var stratusAgent = regexp.MustCompile(`stratus-red-team_[0-9a-fA-F-]+`)

// techniqueTactics maps the tactic word of a Stratus technique name
// (aws.<tactic>.<technique>) to the finding-type prefixes that count as
// flagging it with the right tactic. GuardDuty's CloudTrail types name
// the tactic first (Discovery:, Persistence:, ...); its older types use
// Stealth for defence evasion, Recon for discovery and
// UnauthorizedAccess for stolen instance credentials; a bucket or
// snapshot made public is Policy: or Exfiltration:. GuardDuty has no
// Execution or LateralMovement type for IAM principals: techniques of
// those tactics count when flagged as the effect they have (launching
// instances or running commands is Impact, PrivilegeEscalation or
// Execution if a detector names it so; sending an SSH key to an
// instance is lateral movement, which GuardDuty reports as
// PrivilegeEscalation or Persistence).
var techniqueTactics = map[string][]string{
	"credential-access":    {"CredentialAccess:", "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration"},
	"defense-evasion":      {"DefenseEvasion:", "Stealth:"},
	"discovery":            {"Discovery:", "Recon:"},
	"execution":            {"Execution:", "Impact:", "PrivilegeEscalation:"},
	"exfiltration":         {"Exfiltration:", "Policy:"},
	"impact":               {"Impact:"},
	"initial-access":       {"InitialAccess:", "UnauthorizedAccess:IAMUser/ConsoleLogin", "Policy:IAMUser/RootCredentialUsage"},
	"lateral-movement":     {"LateralMovement:", "PrivilegeEscalation:", "Persistence:"},
	"persistence":          {"Persistence:"},
	"privilege-escalation": {"PrivilegeEscalation:", "Persistence:"},
}

// plainRow is one technique's outcome without the tool's user agent.
type plainRow struct {
	technique, tactic string
	findings          []string
	right             bool // a finding of the technique's tactic
}

// runStratusPlain runs every detector over each Stratus detonation with
// the tool's user agent replaced by plainUserAgent.
func runStratusPlain(t *testing.T) []plainRow {
	t.Helper()
	dir := datasetDir(t)
	ranges, err := awsip.Parse(strings.NewReader(rangesExcerpt))
	if err != nil {
		t.Fatal(err)
	}
	w := &world{aws: ranges}
	var rows []plainRow
	for _, m := range members(t, filepath.Join(dir, "stratus_red_team_detonation_logs.tar.gz")) {
		if decode.Detect(m.data[:min(len(m.data), 4096)]) != decode.CloudTrail {
			continue
		}
		name := strings.TrimSuffix(filepath.Base(m.name), ".json")
		parts := strings.SplitN(name, ".", 3)
		if len(parts) != 3 {
			t.Fatalf("%s: not a Stratus technique name", m.name)
		}
		prefixes, ok := techniqueTactics[parts[1]]
		if !ok {
			t.Fatalf("%s: tactic %q has no finding types", m.name, parts[1])
		}
		plain := input{name: m.name, data: stratusAgent.ReplaceAll(m.data, []byte(plainUserAgent))}
		if stratusAgent.Match(plain.data) {
			t.Fatalf("%s: the Stratus user agent is still there", m.name)
		}
		row := plainRow{technique: name, tactic: parts[1], findings: apiFindings(w.run(t, []input{plain}))}
		for _, f := range row.findings {
			for _, p := range prefixes {
				if strings.HasPrefix(f, p) {
					row.right = true
				}
			}
		}
		rows = append(rows, row)
	}
	slices.SortFunc(rows, func(a, b plainRow) int { return strings.Compare(a.technique, b.technique) })
	return rows
}

// stratusPlainFloor is how many of the 35 detonations must be flagged
// with the right tactic once the tool's user agent is gone: the count
// measured when the floor was last raised, so that a change that loses a
// technique fails here.
const stratusPlainFloor = 28

// TestStratusWithoutItsUserAgent runs the Stratus Red Team detonations
// with the tool's user agent replaced by a plain AWS CLI one, so that
// only the calls themselves can give the technique away, and counts the
// techniques flagged with a finding of their own tactic. It skips when
// the datasets are absent. With -update it writes the table into
// docs/cloudtrail-evaluation.md; without, it fails when the table there
// is out of date.
func TestStratusWithoutItsUserAgent(t *testing.T) {
	rows := runStratusPlain(t)
	right := 0
	for _, r := range rows {
		if r.right {
			right++
		}
	}
	summary := fmt.Sprintf("%d of %d techniques flagged with the right tactic without the Stratus user agent.\n\n", right, len(rows))
	t.Log(summary + stratusPlainTable(rows))
	writeGenerated(t, "stratus-plain", "go test ./internal/detect/trail -run TestStratusWithoutItsUserAgent -update", summary+stratusPlainTable(rows))
	if len(rows) != 35 {
		t.Errorf("%d detonations read, want 35", len(rows))
	}
	if right < stratusPlainFloor {
		t.Errorf("%d techniques flagged with the right tactic, fewer than the %d measured before", right, stratusPlainFloor)
	}
}

// stratusPlainTable renders the rows as a Markdown table.
func stratusPlainTable(rows []plainRow) string {
	var b strings.Builder
	b.WriteString("| technique | right tactic | findings |\n|---|---|---|\n")
	for _, r := range rows {
		mark := "no"
		if r.right {
			mark = "yes"
		}
		fs := "none"
		if len(r.findings) > 0 {
			fs = strings.Join(r.findings, "<br>")
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", r.technique, mark, fs)
	}
	return b.String()
}

// writeGenerated replaces the block of docs/cloudtrail-evaluation.md
// between the markers named name with content under -update, and fails
// the test when the block differs without it; how names the command that
// regenerates it.
func writeGenerated(t *testing.T, name, how, content string) {
	t.Helper()
	path := filepath.Join("..", "..", "..", "docs", "cloudtrail-evaluation.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the evaluation report: %v", err)
	}
	doc := string(b)
	begin, end := "<!-- "+name+":begin (generated by `"+how+"`) -->\n", "<!-- "+name+":end -->"
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("%s: no %s:begin/end markers", path, name)
	}
	want := doc[:i+len(begin)] + content + doc[j:]
	if want == doc {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is out of date; run %s", path, how)
}
