package enumeration

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"picket/internal/detect"
	"picket/internal/event"
	"picket/internal/finding"
)

func TestTestedPrincipal(t *testing.T) {
	for msg, want := range map[string]string{
		`Invalid principal in policy: "AWS":"arn:aws:iam::444455556666:user/alice"`: "arn:aws:iam::444455556666:user/alice",
		`Invalid principal in policy: 'AWS':'arn:aws:iam::1:role/x' `:               "arn:aws:iam::1:role/x",
		"something else": "something else",
	} {
		if got := testedPrincipal(msg); got != want {
			t.Errorf("testedPrincipal(%q) = %q, want %q", msg, got, want)
		}
	}
}

// calls makes n calls of distinct discovery APIs (and writes every
// writeEvery-th call) by one user, a second apart.
func calls(n, writeEvery int) []*event.APICall {
	var out []*event.APICall
	for i := range n {
		name := "DescribeThing" + string(rune('A'+i%26)) + string(rune('a'+i/26))
		readOnly := event.TriTrue
		if writeEvery > 0 && i%writeEvery == 0 {
			name, readOnly = "CreateThing", event.TriFalse
		}
		out = append(out, &event.APICall{
			EventTime: event.Time(1_700_000_000 + i), EventName: event.Intern(name), EventSource: event.Intern("ec2.amazonaws.com"),
			Account: event.Intern("111122223333"), Region: event.Intern("us-east-1"), SourceIP: netip.MustParseAddr("198.51.100.7"),
			ReadOnly: readOnly, Origin: event.Origin{File: event.Intern("t.json"), Line: int64(i + 1)},
			Identity: event.Identity{Type: event.IdentityIAMUser, UserName: event.Intern("u"), AccountID: event.Intern("111122223333"),
				ARN: event.Intern("arn:aws:iam::111122223333:user/u"), PrincipalID: event.Intern("AIDAU")},
		})
	}
	return out
}

func run(t *testing.T, cs []*event.APICall) []*finding.Finding {
	t.Helper()
	d, err := New(detect.Env{DetectorID: finding.DetectorID})
	if err != nil {
		t.Fatal(err)
	}
	set := finding.NewSet()
	emit := func(f *finding.Finding) { set.Add(f) }
	for _, c := range cs {
		d.Observe(c, emit)
	}
	d.Advance(event.Forever, emit)
	return set.Sorted()
}

func TestBurstThreshold(t *testing.T) {
	if fs := run(t, calls(39, 0)); len(fs) != 0 {
		t.Errorf("39 distinct APIs reported: %s", fs[0].Service.AdditionalInfo.Explanation.Summary)
	}
	fs := run(t, calls(40, 0))
	if len(fs) != 1 || fs[0].Service.AdditionalInfo.Explanation.Kind != "burst" || fs[0].Service.Count != 40 {
		t.Fatalf("40 distinct APIs: %d findings", len(fs))
	}
	// A quarter of the calls writes: infrastructure as code, not a burst.
	if fs := run(t, calls(80, 4)); len(fs) != 0 {
		t.Errorf("a burst with 25%% writes reported: %s", fs[0].Service.AdditionalInfo.Explanation.Summary)
	}
}

// sweepServices are twelve services for sweeps.
var sweepServices = []string{"sts", "iam", "ec2", "s3", "lambda", "rds", "dynamodb", "secretsmanager", "ssm", "kms", "cloudtrail", "guardduty"}

// spec describes calls of one source for a test.
type spec struct {
	from     string
	agent    string
	start    int // seconds after the first call of the test
	every    int // seconds between calls
	apis     int // distinct discovery APIs, spread over services in turn
	services int
	writes   int    // writes, one after each read until they run out
	errCode  string // the writes' error code
}

func (s spec) calls() []*event.APICall {
	var out []*event.APICall
	at := 1_700_000_000 + s.start
	add := func(name, svc string, ro event.Tri, code string) {
		out = append(out, &event.APICall{
			EventTime: event.Time(at), EventName: event.Intern(name), EventSource: event.Intern(svc + ".amazonaws.com"),
			Account: event.Intern("111122223333"), Region: event.Intern("us-east-1"), SourceIP: netip.MustParseAddr(s.from),
			UserAgent: event.Intern(s.agent), ReadOnly: ro, ErrorCode: event.Intern(code),
			Origin: event.Origin{File: event.Intern(s.from + ".json"), Line: int64(len(out) + 1)},
			Identity: event.Identity{Type: event.IdentityIAMUser, UserName: event.Intern("u"), AccountID: event.Intern("111122223333"),
				ARN: event.Intern("arn:aws:iam::111122223333:user/u"), PrincipalID: event.Intern("AIDAU")},
		})
	}
	for i := range s.apis {
		svc := sweepServices[i%s.services]
		add("DescribeThing"+string(rune('A'+i%26))+string(rune('a'+i/26)), svc, event.TriTrue, "")
		if i < s.writes {
			add("CreateThing", svc, event.TriFalse, s.errCode)
		}
		at += s.every
	}
	return out
}

func explanationOf(t *testing.T, fs []*finding.Finding) *finding.Explanation {
	t.Helper()
	if len(fs) != 1 {
		t.Fatalf("%d findings, want 1", len(fs))
	}
	return fs[0].Service.AdditionalInfo.Explanation
}

func TestSweep(t *testing.T) {
	const cli = "aws-cli/2.13.0 Python/3.11.4 Linux/6.5.0-kali3-amd64"
	// The quiet key's sweep: 25 APIs across 12 services in 96 s.
	fs := run(t, spec{from: "203.0.113.45", agent: cli, every: 4, apis: 25, services: 12}.calls())
	exp := explanationOf(t, fs)
	if exp.Kind != "burst" || !strings.Contains(exp.Summary, "fast sweep of 25 distinct discovery APIs across 12 services") ||
		!strings.Contains(exp.Summary, "from 203.0.113.45 (aws-cli") {
		t.Errorf("summary: %s", exp.Summary)
	}
	for name, s := range map[string]spec{
		"few services":             {from: "203.0.113.45", agent: cli, every: 4, apis: 25, services: 9},
		"few APIs":                 {from: "203.0.113.45", agent: cli, every: 4, apis: 19, services: 12},
		"slower than the window":   {from: "203.0.113.45", agent: cli, every: 7, apis: 25, services: 12},
		"a builder's writes (25%)": {from: "203.0.113.45", agent: cli, every: 4, apis: 25, services: 12, writes: 7},
	} {
		if fs := run(t, s.calls()); len(fs) != 0 {
			t.Errorf("%s reported: %s", name, fs[0].Service.AdditionalInfo.Explanation.Summary)
		}
	}
	// Writes refused for lack of permission change nothing and excuse
	// nothing.
	if fs := run(t, spec{from: "203.0.113.45", agent: cli, every: 4, apis: 25, services: 12, writes: 7, errCode: "AccessDenied"}.calls()); len(fs) != 1 {
		t.Errorf("a sweep with refused writes: %d findings, want 1", len(fs))
	}
}

// TestSourcesApart holds each source to its own calls: a Terraform that
// writes from a CI address does not hide the reads of the console, and
// two sources' reads do not add up to a burst.
func TestSourcesApart(t *testing.T) {
	const console = "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.488]"
	const tf = "APN/1.0 HashiCorp/1.0 Terraform/1.5.7"
	recon := spec{from: "10.8.8.10", agent: console, every: 10, apis: 45, services: 3}
	terraform := spec{from: "192.168.10.20", agent: tf, every: 2, apis: 60, services: 4, writes: 60}
	cs := slices.Concat(recon.calls(), terraform.calls())
	slices.SortStableFunc(cs, byTime)
	exp := explanationOf(t, run(t, cs))
	if !strings.Contains(exp.Summary, "from 10.8.8.10 (console)") || strings.Contains(exp.Summary, "192.168.10.20") {
		t.Errorf("summary: %s", exp.Summary)
	}
	// Two sources of 25 APIs each: 50 for the principal, no burst.
	a := spec{from: "198.51.100.7", agent: "aws-cli/2.15.0", every: 10, apis: 25, services: 3}
	b := spec{from: "198.51.100.8", agent: "Boto3/1.34.0 Python/3.12.1", every: 10, apis: 25, services: 3, start: 5}
	cs = slices.Concat(a.calls(), b.calls())
	for _, c := range cs[len(cs)/2:] {
		c.EventName = event.Intern(c.EventName.String() + "X") // other APIs than a's
	}
	slices.SortStableFunc(cs, byTime)
	if fs := run(t, cs); len(fs) != 0 {
		t.Errorf("two sources added up: %s", fs[0].Service.AdditionalInfo.Explanation.Summary)
	}
}

// TestSourcesBounded floods one principal with addresses: it keeps at
// most perPrincipal sources, counts the evictions and saves them.
func TestSourcesBounded(t *testing.T) {
	d, err := New(detect.Env{DetectorID: finding.DetectorID})
	if err != nil {
		t.Fatal(err)
	}
	emit := func(*finding.Finding) {}
	for i := range 100 {
		for _, c := range (spec{from: "203.0.113." + strconv.Itoa(i), agent: "aws-cli/2", start: i, every: 1, apis: 1, services: 1}).calls() {
			d.Observe(c, emit)
		}
	}
	st := d.State()[1]
	if st.Table != "sources" || st.Len != perPrincipal || st.Evicted != uint64(100-perPrincipal) {
		t.Errorf("sources table: %+v", st)
	}
	b, err := d.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	d2, err := New(detect.Env{DetectorID: finding.DetectorID})
	if err != nil {
		t.Fatal(err)
	}
	if err := d2.UnmarshalState(b); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(d.State(), d2.State()); diff != "" {
		t.Errorf("restored tables differ (-saved +restored):\n%s", diff)
	}
}

func byTime(a, b *event.APICall) int {
	switch {
	case a.EventTime < b.EventTime:
		return -1
	case a.EventTime > b.EventTime:
		return 1
	}
	return 0
}

// TestBaseline runs a scanner that sweeps every night from the same
// address: it is reported on the first two nights (a new source, then
// one whose day is being learned), and is the account's normal from the
// third. A sweep of another client is still reported; a wider one of the
// same client too.
func TestBaseline(t *testing.T) {
	const scanner = "Boto3/1.34.0 Python/3.12.1 Linux/6.5.0 Botocore/1.34.0"
	var cs []*event.APICall
	for night := range 4 {
		cs = append(cs, spec{from: "198.51.100.50", agent: scanner, start: night * 86400, every: 2, apis: 30, services: 12}.calls()...)
	}
	third := 2*86400 + 3600
	cs = append(cs, spec{from: "203.0.113.45", agent: "aws-cli/2.13.0", start: third, every: 4, apis: 25, services: 12}.calls()...)
	cs = append(cs, spec{from: "203.0.113.46", agent: scanner, start: third + 7200, every: 2, apis: 45, services: 12}.calls()...)
	for i, c := range cs {
		c.Origin.Line = int64(i + 1)
	}
	slices.SortStableFunc(cs, byTime)
	d, err := New(detect.Env{DetectorID: finding.DetectorID})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	emit := func(f *finding.Finding) {
		exp := f.Service.AdditionalInfo.Explanation
		got = append(got, f.Service.EventLastSeen.Format("02 15")+" "+exp.Summary[strings.Index(exp.Summary, " from ")+6:strings.Index(exp.Summary, " (burst")])
	}
	for i, c := range cs {
		d.Observe(c, emit)
		if i+1 == len(cs) || cs[i+1].EventTime-c.EventTime > 600 {
			d.Advance(c.EventTime, emit)
		}
	}
	d.Advance(event.Forever, emit)
	want := []string{
		"14 22 198.51.100.50 (boto3)", // the first night: a new source
		"15 22 198.51.100.50 (boto3)", // the second: learned, counts from the next day
		"16 23 203.0.113.45 (aws-cli)",
		"17 01 203.0.113.46 (boto3)",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("reports differ (-want +got):\n%s", diff)
	}
}
