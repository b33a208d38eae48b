package scenario

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	s, err := Parse("x", []byte(`A scan.
-- scenario --
seed: 9
duration: 90m   # a comment
version: 2
load: 0
estate: web=2 bastion=0
lateness: 5m
attack: scan name=a from=internet target=web:0 ports=top:10
allow: Recon:EC2/PortProbeUnprotectedPort resource=bastion:0
known-unstable: why
-- expect --
# comment
Recon:EC2/Portscan resource=app:1 remote=db:0 role=ACTOR severity=Medium attack=a
`))
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case s.Description != "A scan.", s.Config.Seed != 9, s.Config.Duration != 90*time.Minute, s.Version != 2,
		s.Config.Estate.Web != 2, s.Config.Estate.Bastion != 0, s.Config.Estate.App != 4, s.Lateness != 5*time.Minute,
		len(s.Config.Attacks) != 1, len(s.Allow) != 1, s.KnownUnstable != "why", s.Benign:
		t.Errorf("parsed %+v", s)
	}
	if len(s.Expect) != 1 || s.Expect[0] != (Pattern{Text: s.Expect[0].Text, Type: "Recon:EC2/Portscan", Resource: "app:1", Remote: "db:0", Role: "ACTOR", Attack: "a", Severity: "Medium"}) {
		t.Errorf("expect %+v", s.Expect)
	}

	for _, bad := range []struct{ text, err string }{
		{"-- expect --\nnone\n", "no scenario section"},
		{"-- scenario --\nseed: 1\n", "no expect section"},
		{"-- scenario --\nseed: x\n-- expect --\nnone\n", "seed"},
		{"-- scenario --\ncolour: red\n-- expect --\nnone\n", "unknown setting"},
		{"-- scenario --\nattack: scan target=\n-- expect --\nnone\n", "attack"},
		{"-- scenario --\nallow: X resource=web:0\n-- expect --\nnone\n", "benign scenario may not allow"},
		{"-- scenario --\n-- expect --\nRecon:EC2/Portscan role=ACTOR\n", "needs a type and resource"},
		{"-- scenario --\n-- expect --\nRecon:EC2/Portscan resource=app:0 role=ME\n", "role"},
		{"-- scenario --\n-- expect --\nnone\nRecon:EC2/Portscan resource=app:0\n", "together"},
		{"-- scenario --\n-- expect --\n-- other --\n", "unknown section"},
	} {
		_, err := Parse("bad", []byte(bad.text))
		if err == nil || !strings.Contains(err.Error(), bad.err) {
			t.Errorf("%q: got error %v, want one containing %q", bad.text, err, bad.err)
		}
	}
}
