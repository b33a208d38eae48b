package enumeration

import (
	"net/netip"
	"testing"

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
