package sqlite

import (
	"bytes"
	"log/slog"
	"regexp"
	"testing"

	"picket/internal/finding"
	"picket/internal/store"
)

// TestSuppressionRuleLogsNewFindings: when a commit's new findings are
// archived by suppression rules, the store logs each rule with its
// detector and the count it archived, once per commit.
func TestSuppressionRuleLogsNewFindings(t *testing.T) {
	s := openTemp(t)
	var logs bytes.Buffer
	s.SetLogger(slog.New(slog.NewTextHandler(&logs, nil)))
	ctx := t.Context()
	const det = "0123456789abcdef0123456789abcdef"
	if err := s.CreateDetector(ctx, &store.Detector{ID: det, Account: "111122223333", Region: "us-east-1"}); err != nil {
		t.Fatal(err)
	}
	rule := func(name, typ string) *store.Filter {
		return &store.Filter{DetectorID: det, Name: name, Action: "ARCHIVE",
			Criteria: store.Criteria{"type": {Equals: []string{typ}}}}
	}
	for _, f := range []*store.Filter{rule("no-scans", finding.TypePortscan), rule("no-ssh", finding.TypeSSHBruteForce)} {
		if err := s.CreateFilter(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	mk := func(id, typ string) *finding.Finding {
		return &finding.Finding{SchemaVersion: finding.SchemaVersion, AccountID: "111122223333", Region: "us-east-1",
			ID: id, Type: typ, Severity: finding.SeverityMedium,
			Service: finding.Service{DetectorID: det}}
	}
	batch := store.Batch{Findings: []*finding.Finding{
		mk("a1", finding.TypePortscan), mk("a2", finding.TypePortscan),
		mk("b1", finding.TypeSSHBruteForce), mk("c1", finding.TypeRDPBruteForce),
	}}
	if err := s.Commit(ctx, batch); err != nil {
		t.Fatal(err)
	}
	// The same findings again: nothing new, nothing logged.
	if err := s.Commit(ctx, batch); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	for _, want := range []string{
		`msg="suppression rule archived new findings" detector_id=` + det + ` filter=no-scans archived=2`,
		`msg="suppression rule archived new findings" detector_id=` + det + ` filter=no-ssh archived=1`,
	} {
		if n := len(regexp.MustCompile(regexp.QuoteMeta(want)).FindAllString(out, -1)); n != 1 {
			t.Errorf("%d log lines %s, want 1, in\n%s", n, want, out)
		}
	}
	if n := bytes.Count(logs.Bytes(), []byte("\n")); n != 2 {
		t.Errorf("%d log lines, want 2:\n%s", n, out)
	}
}
