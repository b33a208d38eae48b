package trail_test

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"picket/internal/finding"
)

// TestScenarioExplanationsAgree runs every CloudTrail scenario and checks
// that each finding's explanation covers all the reports merged into it:
// its activity counts the finding's calls (service.count) and says when
// they began and ended as the finding does, the summary speaks of that
// many calls, the APIs listed and the unlisted calls add up to them, and
// the counts agree with the activity.
func TestScenarioExplanationsAgree(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "scenarios", "*.txtar"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	checked := 0
	for _, path := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txtar"), func(t *testing.T) {
			sc := parseScenario(t, path)
			for _, f := range sc.w.run(t, trailInputs(t, sc.cfg)) {
				if f.Service.FeatureName != finding.FeatureCloudTrail || f.Service.AdditionalInfo == nil || f.Service.AdditionalInfo.Explanation == nil {
					continue
				}
				checked++
				if strings.HasPrefix(f.Type, "AttackSequence:") {
					// A sequence counts the findings it joins, not calls.
					e := f.Service.AdditionalInfo.Explanation
					if !strings.Contains(e.Summary, ": "+strconv.FormatInt(f.Service.Count, 10)+" findings covering") {
						t.Errorf("%s: summary does not speak of the %d findings it joins: %q", f.Type, f.Service.Count, e.Summary)
					}
					continue
				}
				checkActivity(t, f)
			}
		})
	}
	if checked == 0 {
		t.Error("no CloudTrail finding with an explanation in any scenario")
	}
}

func checkActivity(t *testing.T, f *finding.Finding) {
	t.Helper()
	e := f.Service.AdditionalInfo.Explanation
	a := e.Activity
	var listed int64
	for _, c := range e.APICalls {
		listed += c.Count
	}
	switch {
	case a.Calls != f.Service.Count:
		t.Errorf("%s (%s): activity counts %d calls, the finding %d", f.Type, e.Detector, a.Calls, f.Service.Count)
	case !strings.Contains(e.Summary, "in all "+strconv.FormatInt(a.Calls, 10)+" call"):
		t.Errorf("%s (%s): summary does not speak of the %d calls: %q", f.Type, e.Detector, a.Calls, e.Summary)
	case listed+a.Unlisted != a.Calls:
		t.Errorf("%s (%s): %d calls listed and %d unlisted, of %d", f.Type, e.Detector, listed, a.Unlisted, a.Calls)
	case e.Counts[finding.CountAPICalls] != a.Calls || e.Counts[finding.CountFailedCalls] != a.Failed || a.Failed > a.Calls:
		t.Errorf("%s (%s): counts %v against activity %+v", f.Type, e.Detector, e.Counts, a)
	case !a.LastSeen.Equal(f.Service.EventLastSeen.Time):
		t.Errorf("%s (%s): activity ends %v, the finding %v", f.Type, e.Detector, a.LastSeen, f.Service.EventLastSeen)
	case !a.FirstSeen.Equal(f.Service.EventFirstSeen.Time) && e.Detector != "iamanomaly":
		// iamanomaly reports from the start of its window and sets
		// eventFirstSeen to its first discovery call after Build.
		t.Errorf("%s (%s): activity begins %v, the finding %v", f.Type, e.Detector, a.FirstSeen, f.Service.EventFirstSeen)
	}
}

// TestRootUsageListing is the case of a user's report: the root user
// signed in, then listed IAM users, and the finding, reported more than
// once, said "called iam:ListUsers and 0 other call(s)". Its explanation
// now lists both APIs with their counts and speaks of all 24 calls.
func TestRootUsageListing(t *testing.T) {
	sc := parseScenario(t, filepath.Join("testdata", "scenarios", "root-usage-listing.txtar"))
	var root *finding.Finding
	for _, f := range sc.w.run(t, trailInputs(t, sc.cfg)) {
		if f.Type == finding.TypeRootCredentialUsage {
			root = f
		}
	}
	if root == nil {
		t.Fatal("no root credential usage finding")
	}
	if !root.CreatedAt.Before(root.Service.EventLastSeen.Time) {
		t.Fatalf("created at %v, last seen %v: one report, so nothing was merged", root.CreatedAt, root.Service.EventLastSeen)
	}
	e := root.Service.AdditionalInfo.Explanation
	for _, want := range []string{"in all 24 calls to 2 APIs (iam:ListUsers 23, signin:ConsoleLogin 1)", "between 2026-03-02T09:00:00Z and "} {
		if !strings.Contains(e.Summary, want) {
			t.Errorf("summary %q does not say %q", e.Summary, want)
		}
	}
	if root.Service.Count != 24 || strings.Contains(e.Summary, "other call") {
		t.Errorf("count %d, summary %q", root.Service.Count, e.Summary)
	}
	checkActivity(t, root)
}
