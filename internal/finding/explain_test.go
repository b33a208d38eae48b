package finding_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"picket/internal/finding"
)

// call is one API call of a test report.
type call struct {
	api, region, agent, source, errCode string
	at                                  time.Time
}

// report builds a finding of the calls as trail.Build does: the count and
// the activity window are the calls', the explanation tallies them, keeps
// their earliest samples and is rendered.
func report(t *testing.T, lead string, calls ...call) *finding.Finding {
	t.Helper()
	first, last := calls[0].at, calls[0].at
	tally := func(list *[]finding.Count, name string) {
		if name == "" {
			return
		}
		for i := range *list {
			if (*list)[i].Name == name {
				(*list)[i].Count++
				return
			}
		}
		*list = append(*list, finding.Count{Name: name, Count: 1})
	}
	exp := &finding.Explanation{Detector: "rootusage", Lead: lead, Counts: map[string]int64{"report_failed": 1}}
	for i, c := range calls {
		if c.at.Before(first) {
			first = c.at
		}
		if c.at.After(last) {
			last = c.at
		}
		tally(&exp.APICalls, c.api)
		tally(&exp.Regions, c.region)
		tally(&exp.UserAgents, c.agent)
		tally(&exp.Sources, c.source)
		if c.errCode != "" {
			exp.Activity.Failed++
			tally(&exp.ErrorCodes, c.errCode)
		}
		if len(exp.Samples) < finding.MaxSamples {
			exp.Samples = append(exp.Samples, finding.Sample{Origin: "trail.json:" + strconv.Itoa(i+1), Time: c.at.Format(time.RFC3339), Record: "root called " + c.api})
		}
	}
	k := finding.Key{Account: "111122223333", Region: "us-east-1", Resource: "arn:aws:iam::111122223333:root", Role: finding.RoleTarget}
	f := finding.New(finding.TypeRootCredentialUsage, k, "d0", first, last, int64(len(calls)))
	f.Service.Action.AwsAPICallAction = &finding.AwsAPICallAction{API: calls[len(calls)-1].api, ServiceName: "iam.amazonaws.com"}
	exp.Activity.Calls = int64(len(calls))
	exp.Activity.FirstSeen = finding.Timestamp{Time: first}
	exp.Activity.LastSeen = finding.Timestamp{Time: last}
	exp.Render()
	f.Service.AdditionalInfo = &finding.AdditionalInfo{Explanation: exp}
	return f
}

func repeat(n int, c call, step time.Duration) []call {
	out := make([]call, n)
	for i := range out {
		out[i] = c
		out[i].at = c.at.Add(time.Duration(i) * step)
	}
	return out
}

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// TestMergeExplanationAddsUp merges a report of 3 calls and a later one
// of 23: the explanation and its summary speak of 26 calls, the APIs,
// errors, regions, user agents and sources of both, and the first call
// of the one and the last of the other, as service.count and the
// activity window do.
func TestMergeExplanationAddsUp(t *testing.T) {
	early := report(t, "the root user's credentials were used",
		call{api: "signin:ConsoleLogin", region: "us-east-1", agent: "Mozilla/5.0", source: "198.51.100.20", at: t0},
		call{api: "account:PutAlternateContact", region: "us-east-1", agent: "Mozilla/5.0", source: "198.51.100.20", at: t0.Add(time.Minute)},
		call{api: "iam:ListUsers", region: "us-east-1", agent: "Mozilla/5.0", source: "198.51.100.20", errCode: "AccessDenied", at: t0.Add(2 * time.Minute)},
	)
	late := report(t, "the root user's credentials were used",
		repeat(23, call{api: "iam:ListUsers", region: "eu-west-1", agent: "aws-cli/2.15.0", source: "203.0.113.9", at: t0.Add(time.Hour)}, time.Minute)...)
	if s := early.Service.AdditionalInfo.Explanation.Summary; !strings.Contains(s, "in all 3 calls to 3 APIs") {
		t.Fatalf("report of 3 calls says %q", s)
	}

	finding.Merge(early, late)
	e := early.Service.AdditionalInfo.Explanation
	if early.Service.Count != 26 || e.Activity.Calls != 26 || e.Counts[finding.CountAPICalls] != 26 {
		t.Errorf("count %d, activity %d calls, api_calls %d; want 26 each", early.Service.Count, e.Activity.Calls, e.Counts[finding.CountAPICalls])
	}
	want := "the root user's credentials were used; in all 26 calls to 3 APIs (iam:ListUsers 24, account:PutAlternateContact 1, signin:ConsoleLogin 1), " +
		"1 failed (AccessDenied 1), in eu-west-1, us-east-1, from 203.0.113.9, 198.51.100.20, with aws-cli/2.15.0, Mozilla/5.0, " +
		"between 2026-03-02T09:00:00Z and 2026-03-02T10:22:00Z"
	if diff := cmp.Diff(want, e.Summary); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	wantAPIs := []finding.Count{{Name: "iam:ListUsers", Count: 24}, {Name: "account:PutAlternateContact", Count: 1}, {Name: "signin:ConsoleLogin", Count: 1}}
	if diff := cmp.Diff(wantAPIs, e.APICalls); diff != "" {
		t.Errorf("apiCalls (-want +got):\n%s", diff)
	}
	if e.Counts[finding.CountFailedCalls] != 1 || e.Counts[finding.CountDistinctAPIs] != 3 || e.Counts["report_failed"] != 1 {
		t.Errorf("counts %v", e.Counts)
	}
	if !e.Activity.FirstSeen.Equal(early.Service.EventFirstSeen.Time) || !e.Activity.LastSeen.Equal(early.Service.EventLastSeen.Time) ||
		!e.Activity.FirstSeen.Equal(t0) || !e.Activity.LastSeen.Equal(t0.Add(82*time.Minute)) {
		t.Errorf("activity %v to %v, finding %v to %v", e.Activity.FirstSeen, e.Activity.LastSeen, early.Service.EventFirstSeen, early.Service.EventLastSeen)
	}
	if len(e.Samples) != finding.MaxSamples || e.Samples[0].Record != "root called signin:ConsoleLogin" || e.Samples[3].Time != "2026-03-02T10:00:00Z" {
		t.Errorf("samples are not the earliest five of both reports: %+v", e.Samples)
	}
	// The report merged in is left as it was.
	if s := late.Service.AdditionalInfo.Explanation.Summary; !strings.Contains(s, "in all 23 calls to 1 API (iam:ListUsers 23)") {
		t.Errorf("the later report changed: %q", s)
	}
}

// TestMergeExplanationAnyOrder merges the same reports in every order,
// two of them ending at the same time, and through a JSON round trip as
// the stores do: the findings are byte for byte the same.
func TestMergeExplanationAnyOrder(t *testing.T) {
	reports := func() []*finding.Finding {
		return []*finding.Finding{
			report(t, "lead a", call{api: "signin:ConsoleLogin", region: "us-east-1", source: "198.51.100.20", at: t0}),
			report(t, "lead b", repeat(4, call{api: "iam:ListUsers", region: "us-east-1", source: "198.51.100.21", errCode: "AccessDenied", at: t0.Add(time.Hour)}, time.Minute)...),
			report(t, "lead c", repeat(2, call{api: "iam:ListRoles", region: "eu-west-1", source: "198.51.100.22", at: t0.Add(time.Hour + time.Minute)}, 2*time.Minute)...),
			report(t, "lead d", repeat(7, call{api: "s3:ListBuckets", region: "eu-west-1", agent: "aws-cli/2.15.0", source: "198.51.100.20", at: t0.Add(30 * time.Minute)}, time.Second)...),
		}
	}
	orders := [][]int{{0, 1, 2, 3}, {3, 2, 1, 0}, {1, 0, 3, 2}, {2, 3, 0, 1}, {1, 2, 0, 3}, {2, 1, 3, 0}}
	var want string
	for _, order := range orders {
		rs := reports()
		set := finding.NewSet()
		for _, i := range order {
			set.Add(rs[i])
		}
		got := encode(t, set.Sorted()[0])
		if want == "" {
			want = got
			e := set.Sorted()[0].Service.AdditionalInfo.Explanation
			if e.Activity.Calls != 14 || e.Activity.Failed != 4 || !strings.HasPrefix(e.Summary, "lead c; in all 14 calls to 4 APIs") {
				t.Fatalf("merged explanation: %+v", e)
			}
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("order %v gives another finding (-first order +this one):\n%s", order, diff)
		}

		// A store keeps the merged finding as JSON and merges the next
		// report into what it reads back.
		rs = reports()
		var stored *finding.Finding
		for _, i := range order {
			if stored == nil {
				stored = rs[i]
				continue
			}
			var back finding.Finding
			if err := json.Unmarshal([]byte(encode(t, stored)), &back); err != nil {
				t.Fatal(err)
			}
			finding.Merge(&back, rs[i])
			stored = &back
		}
		if diff := cmp.Diff(want, encode(t, stored)); diff != "" {
			t.Errorf("order %v through JSON gives another finding (-in memory +through JSON):\n%s", order, diff)
		}
	}
}

func encode(t *testing.T, f *finding.Finding) string {
	t.Helper()
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestMergeExplanationBounded merges reports with more names than the
// lists keep: the lists keep the most frequent, the calls of the APIs
// left out are counted as unlisted, and the summary says so.
func TestMergeExplanationBounded(t *testing.T) {
	var a, b []call
	for i := range finding.MaxListed {
		a = append(a, call{api: "svc:API" + strconv.Itoa(100+i), region: "us-east-1", at: t0.Add(time.Duration(i) * time.Second)})
		b = append(b, call{api: "svc:API" + strconv.Itoa(100+finding.MaxListed+i), region: "us-east-1", at: t0.Add(time.Hour + time.Duration(i)*time.Second)})
	}
	b = append(b, call{api: "svc:API100", region: "us-east-1", at: t0.Add(2 * time.Hour)})
	f := report(t, "", a...)
	finding.Merge(f, report(t, "", b...))
	e := f.Service.AdditionalInfo.Explanation
	if len(e.APICalls) != finding.MaxListed || e.APICalls[0] != (finding.Count{Name: "svc:API100", Count: 2}) {
		t.Fatalf("%d APIs listed, first %+v", len(e.APICalls), e.APICalls[0])
	}
	var listed int64
	for _, c := range e.APICalls {
		listed += c.Count
	}
	calls := int64(2*finding.MaxListed + 1)
	if e.Activity.Calls != calls || listed+e.Activity.Unlisted != calls || e.Counts[finding.CountDistinctAPIs] != finding.MaxListed+1 {
		t.Errorf("calls %d, listed %d, unlisted %d, distinct_apis %d", e.Activity.Calls, listed, e.Activity.Unlisted, e.Counts[finding.CountDistinctAPIs])
	}
	want := "129 calls to at least 65 APIs (svc:API100 2, svc:API101 1, svc:API102 1, svc:API103 1, svc:API104 1 and 59 more, 64 calls of APIs not listed), in us-east-1, "
	if !strings.HasPrefix(e.Summary, want) {
		t.Errorf("summary %q, want it to begin %q", e.Summary, want)
	}
}

// TestRender covers the wording of the summary: singular and plural, the
// names beyond those quoted, long user agents, one instant, and an
// explanation without activity, which Render leaves alone.
func TestRender(t *testing.T) {
	// The cut at 80 bytes falls inside the "é", which is left out whole.
	long := strings.Repeat("a", 79) + "é" + "tail"
	tests := []struct {
		name string
		e    finding.Explanation
		want string
	}{
		{
			name: "one call",
			e: finding.Explanation{Lead: "lead", Activity: finding.Activity{Calls: 1, FirstSeen: finding.Timestamp{Time: t0}, LastSeen: finding.Timestamp{Time: t0}},
				APICalls: []finding.Count{{Name: "iam:ListUsers", Count: 1}}, Regions: []finding.Count{{Name: "us-east-1", Count: 1}}},
			want: "lead; in all 1 call to 1 API (iam:ListUsers 1), in us-east-1, at 2026-03-02T09:00:00Z",
		},
		{
			name: "many names",
			e: finding.Explanation{Activity: finding.Activity{Calls: 9, Failed: 9, FirstSeen: finding.Timestamp{Time: t0}, LastSeen: finding.Timestamp{Time: t0.Add(time.Second)}},
				APICalls:   []finding.Count{{Name: "a:A", Count: 4}, {Name: "a:B", Count: 1}, {Name: "a:C", Count: 1}, {Name: "a:D", Count: 1}, {Name: "a:E", Count: 1}, {Name: "a:F", Count: 1}},
				ErrorCodes: []finding.Count{{Name: "E1", Count: 6}, {Name: "E2", Count: 1}, {Name: "E3", Count: 1}, {Name: "E4", Count: 1}},
				Sources:    []finding.Count{{Name: "s1", Count: 6}, {Name: "s2", Count: 1}, {Name: "s3", Count: 1}, {Name: "s4", Count: 1}},
				UserAgents: []finding.Count{{Name: long, Count: 8}, {Name: "short", Count: 1}}},
			want: "9 calls to 6 APIs (a:A 4, a:B 1, a:C 1, a:D 1, a:E 1 and 1 more), 9 failed (E1 6, E2 1, E3 1 and 1 more), from s1, s2, s3 and 1 more, with " +
				strings.Repeat("a", 79) + "..., short, between 2026-03-02T09:00:00Z and 2026-03-02T09:00:01Z",
		},
		{
			name: "no activity",
			e:    finding.Explanation{Summary: "a network finding", Counts: map[string]int64{"accepted": 3}},
			want: "a network finding",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.e.Render()
			if diff := cmp.Diff(tt.want, tt.e.Summary); diff != "" {
				t.Errorf("summary (-want +got):\n%s", diff)
			}
			if tt.e.Activity.Calls != 0 && tt.e.Counts[finding.CountAPICalls] != tt.e.Activity.Calls {
				t.Errorf("api_calls %d, want %d", tt.e.Counts[finding.CountAPICalls], tt.e.Activity.Calls)
			}
		})
	}
}

// TestMergeExplanationWithoutActivity checks that the explanations of
// other findings still take the latest report's, and that an API-call
// explanation merged with one that has no activity (a finding stored
// before explanations had any) still agrees with the finding's count.
func TestMergeExplanationWithoutActivity(t *testing.T) {
	k := finding.Key{Account: "111122223333", Region: "us-east-1", Resource: "i-0a1b2c3d4e5f60718", Role: finding.RoleTarget}
	net := func(at time.Time, summary string) *finding.Finding {
		f := finding.New(finding.TypePortProbeUnprotectedPort, k, "d0", at, at, 5)
		f.Service.AdditionalInfo = &finding.AdditionalInfo{Explanation: &finding.Explanation{Detector: "portprobe", Summary: summary, Counts: map[string]int64{"accepted": 5}}}
		return f
	}
	f := net(t0, "first")
	finding.Merge(f, net(t0.Add(time.Hour), "second"))
	if e := f.Service.AdditionalInfo.Explanation; e.Summary != "second" || e.Counts["accepted"] != 5 || e.Activity != (finding.Activity{}) {
		t.Errorf("network explanation after merge: %+v", e)
	}

	old := report(t, "lead", call{api: "iam:ListUsers", at: t0})
	old.Service.AdditionalInfo.Explanation.Activity = finding.Activity{}
	old.Service.Count = 4
	finding.Merge(old, report(t, "lead", call{api: "iam:ListRoles", at: t0.Add(time.Hour)}))
	e := old.Service.AdditionalInfo.Explanation
	if e.Activity.Calls != 5 || e.Activity.Unlisted != 4 || !strings.Contains(e.Summary, "in all 5 calls to at least 2 APIs (iam:ListRoles 1, 4 calls of APIs not listed)") {
		t.Errorf("explanation after merging into one without activity: %+v", e)
	}
}
