package synth

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// The examples of ParseAttack's documentation.
var examples = []string{
	"scan from=internet target=bastion:0 ports=top:100 timing=T4 kind=syn",
	"scan from=app:1 target=10.0.40.9 ports=1-1024 masscan=true",
	"sweep from=worker:0 port=22 hosts=200 network=vpc timing=T3",
	"bruteforce from=internet target=bastion:0 port=22 attempts=60 interval=3s",
	"distributed target=bastion:0 sources=20 ports=top:100 decoy=true",
	"clients from=internet target=web:0 port=443 count=2000 over=30m",
	"sessions from=internet target=bastion:0 port=22 count=4 interval=15m duration=10m",
	"retry from=app:0 target=db:1 port=6379 tries=200 interval=5s outcome=refused",
	"healthcheck from=lb targets=web port=80 interval=10s down=web:1",
	"fanout from=worker port=443 hosts=3000 fail=0.03 nat=true over=30m",
}

func TestParseAttackExamples(t *testing.T) {
	for _, spec := range examples {
		if _, err := ParseAttack(spec); err != nil {
			t.Errorf("%s: %v", spec, err)
		}
	}
	for _, bad := range []string{
		"sessions from=internet",                       // no target
		"retry target=db:0 outcome=maybe",              // unknown outcome
		"fanout port=443",                              // no from
		"fanout from=worker fail=2",                    // share above 1
		"sessions target=db:0 outcome=refused",         // sessions are answered
		"clients target=web:0 bogus=1",                 // unknown setting
		"healthcheck targets=web interval=often",       // not a duration
		"distributed target=bastion:0 decoy=sometimes", // not a bool
	} {
		if _, err := ParseAttack(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func run(t *testing.T, cfg Config) (*Gen, []Record) {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var recs []Record
	if err := g.Run(func(r Record) { recs = append(recs, r) }); err != nil {
		t.Fatal(err)
	}
	return g, recs
}

// TestLabelsTrace checks that every attack and activity reports the
// conversations it made: attacks with a finding type, benign activities
// without one.
func TestLabelsTrace(t *testing.T) {
	cfg := DefaultConfig
	cfg.Duration = 40 * time.Minute
	cfg.Load = 0.1
	for _, spec := range examples {
		a, err := ParseAttack(spec)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Attacks = append(cfg.Attacks, a)
	}
	g, _ := run(t, cfg)
	labels := g.Labels()
	if len(labels) != len(examples) {
		t.Fatalf("%d labels for %d attacks", len(labels), len(examples))
	}
	for i, l := range labels {
		kind := strings.Fields(examples[i])[0]
		benign := i >= 5
		if len(l.Trace) == 0 {
			t.Errorf("%s: empty trace", kind)
		}
		if benign && l.Type != "" {
			t.Errorf("%s: a benign activity has type %q", kind, l.Type)
		}
		for _, p := range l.Trace {
			if p.Start.Before(cfg.Start) || !p.Start.Before(cfg.Start.Add(cfg.Duration)) {
				t.Errorf("%s: probe at %v, outside the run", kind, p.Start)
				break
			}
		}
	}
	// The decoy scan sends every probe from each of its 20 sources.
	if got := len(labels[4].Trace); got != 2000 {
		t.Errorf("decoy scan: %d conversations, want 2000", got)
	}
	// Down targets refuse their health checks; the others answer.
	var refused, answered int
	for _, p := range labels[8].Trace {
		switch p.Outcome {
		case Refused:
			refused++
		case Established:
			answered++
		}
	}
	if refused == 0 || answered < 3*refused {
		t.Errorf("health checks: %d refused, %d answered", refused, answered)
	}
}

// TestSameSeedSameRecords checks that a run is reproducible with the
// benign activities in it: the same seed gives the same records.
func TestSameSeedSameRecords(t *testing.T) {
	cfg := DefaultConfig
	cfg.Duration = 10 * time.Minute
	a, _ := ParseAttack(examples[0])
	b, _ := ParseAttack(examples[6])
	cfg.Attacks = []Attack{a, b}
	format, err := FormatFor(5)
	if err != nil {
		t.Fatal(err)
	}
	render := func() []byte {
		var buf bytes.Buffer
		_, recs := run(t, cfg)
		for i := range recs {
			buf.Write(AppendRecord(nil, format, &recs[i], cfg.Account, cfg.Region))
			buf.WriteByte('\n')
		}
		return buf.Bytes()
	}
	if !bytes.Equal(render(), render()) {
		t.Error("two runs with the same seed differ")
	}
}
