package rootusage

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"picket/internal/detect"
	"picket/internal/event"
	"picket/internal/finding"
)

// rootCall is a call of the root user of account 111122223333.
func rootCall(at event.Time, line int, source, api string) *event.APICall {
	return &event.APICall{EventTime: at, EventName: event.Intern(api), EventSource: event.Intern(source),
		Account: event.Intern("111122223333"), Region: event.Intern("us-east-1"), SourceIP: netip.MustParseAddr("198.51.100.20"),
		UserAgent: event.Intern("aws-cli/2.15.0"), Origin: event.Origin{File: event.Intern("trail.json"), Line: int64(line)},
		Identity: event.Identity{Type: event.IdentityRoot, AccountID: event.Intern("111122223333")}}
}

// session is the root user signing in, then listing IAM users 25 times
// half an hour later, one of them denied.
func session() []*event.APICall {
	const start = 1_772_442_000 // 2026-03-02T09:00:00Z
	calls := []*event.APICall{rootCall(start, 1, "signin.amazonaws.com", "ConsoleLogin")}
	for i := range 25 {
		calls = append(calls, rootCall(start+1800+event.Time(i*10), 2+i, "iam.amazonaws.com", "ListUsers"))
	}
	calls[5].ErrorCode = event.Intern("AccessDenied")
	return calls
}

// run feeds the calls to a new detector, advancing after the calls whose
// indices are in advanceAfter and at the end, and merges what it reports
// as picket analyze does.
func run(t *testing.T, calls []*event.APICall, advanceAfter ...int) (*finding.Finding, int) {
	t.Helper()
	d, err := New(detect.Env{DetectorID: finding.DetectorID})
	if err != nil {
		t.Fatal(err)
	}
	set := finding.NewSet()
	reports := 0
	emit := func(f *finding.Finding) { reports++; set.Add(f) }
	for i, c := range calls {
		d.Observe(c, emit)
		for _, a := range advanceAfter {
			if a == i {
				d.Advance(c.EventTime, emit)
			}
		}
	}
	d.Advance(event.Forever, emit)
	fs := set.Sorted()
	if len(fs) != 1 {
		t.Fatalf("%d findings, want 1", len(fs))
	}
	return fs[0], reports
}

// TestRootUsageExplainsEveryReport is the case of a user's report: the
// root user signed in, and its ListUsers calls came in a later report.
// The finding's explanation used to be the latest report's, saying the
// root user "called iam:ListUsers and 24 other call(s)" or, with one call
// a report, "0 other call(s)", whatever the count. Now it counts and
// lists the calls of every report.
func TestRootUsageExplainsEveryReport(t *testing.T) {
	f, reports := run(t, session(), 0)
	if reports != 2 {
		t.Fatalf("%d reports, want 2: the sign-in, then the listing", reports)
	}
	e := f.Service.AdditionalInfo.Explanation
	want := "the root user's credentials were used, with no AWS service acting for it; in all 26 calls to 2 APIs " +
		"(iam:ListUsers 25, signin:ConsoleLogin 1), 1 failed (AccessDenied 1), in us-east-1, from 198.51.100.20, with aws-cli/2.15.0, " +
		"between 2026-03-02T09:00:00Z and 2026-03-02T09:34:00Z"
	if diff := cmp.Diff(want, e.Summary); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	if f.Service.Count != 26 || e.Activity.Calls != 26 || e.Counts[finding.CountAPICalls] != 26 || e.Counts[finding.CountFailedCalls] != 1 {
		t.Errorf("count %d, activity %+v, counts %v", f.Service.Count, e.Activity, e.Counts)
	}
	if strings.Contains(e.Summary, "other call") {
		t.Errorf("summary still speaks of one report: %q", e.Summary)
	}
}

// TestRootUsageExplanationSameHoweverReported checks that the merged
// explanation does not depend on how the calls were split into reports
// (one report, one a call, or a few), which depends on the watermarks:
// the tallies add up and the samples are the earliest of all.
func TestRootUsageExplanationSameHoweverReported(t *testing.T) {
	calls := session()
	explanation := func(f *finding.Finding) string {
		b, err := json.MarshalIndent(f.Service.AdditionalInfo.Explanation, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	one, _ := run(t, calls)
	want := explanation(one)
	every := make([]int, len(calls))
	for i := range every {
		every[i] = i
	}
	for name, splits := range map[string][]int{"after sign-in": {0}, "every call": every, "a few": {2, 3, 17}} {
		f, _ := run(t, calls, splits...)
		if diff := cmp.Diff(want, explanation(f)); diff != "" {
			t.Errorf("%s: explanation differs from that of one report (-one report +split):\n%s", name, diff)
		}
		if f.Service.Count != one.Service.Count || !f.Service.EventFirstSeen.Equal(one.Service.EventFirstSeen.Time) {
			t.Errorf("%s: count %d from %v, want %d from %v", name, f.Service.Count, f.Service.EventFirstSeen, one.Service.Count, one.Service.EventFirstSeen)
		}
	}
}
