package app

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"picket/internal/decode/vpcflow"
	"picket/internal/detect"
	"picket/internal/detect/all"
	"picket/internal/enrich"
	"picket/internal/event"
	"picket/internal/finding"
	"picket/internal/synth"
)

// generatedFlows decodes an hour of generated traffic with the default
// attacks into flows, resolved the way the pipeline resolves them.
func generatedFlows(t *testing.T) []event.Flow {
	t.Helper()
	cfg := synth.DefaultConfig
	g := attackGen(t, cfg, testAttacks...)
	var buf bytes.Buffer
	format, _ := synth.FormatFor(2)
	w := &synth.Writer{Format: format, Header: true, Out: &buf, Account: cfg.Account, Region: cfg.Region}
	g.Run(func(r synth.Record) { w.Add(r) })
	w.Close()
	r := vpcflow.NewReader(&buf, "gen.log", nil)
	var flows []event.Flow
	var f event.Flow
	for {
		err := r.Next(&f)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		flows = append(flows, f)
	}
	return flows
}

type runner struct {
	dirs *enrich.Directions
	eng  *detect.Engine
	set  *finding.Set
}

func newRunner(t *testing.T, set *finding.Set) *runner {
	stages, dets, err := all.Build(all.Options{Env: detect.Env{DetectorID: finding.DetectorID}})
	if err != nil {
		t.Fatal(err)
	}
	r := &runner{dirs: enrich.NewDirections(1000), set: set}
	r.eng, err = detect.NewEngine(stages, dets, detect.DefaultConfig, func(f *finding.Finding) { set.Add(f) })
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *runner) feed(flows []event.Flow) {
	for i := range flows {
		f := flows[i]
		r.dirs.Resolve(&f)
		r.eng.Observe(&f)
	}
}

// TestRestoreResumesExactly runs the detectors over a stream in one go,
// and again stopping halfway, saving the state, and resuming in a fresh
// engine from the saved state: the findings must be identical.
func TestRestoreResumesExactly(t *testing.T) {
	flows := generatedFlows(t)
	whole := newRunner(t, finding.NewSet())
	whole.feed(flows)
	whole.eng.Flush()
	want := whole.set.Sorted()
	if len(want) < 4 {
		t.Fatalf("only %d findings in the uninterrupted run", len(want))
	}
	for _, cut := range []int{len(flows) / 3, len(flows) / 2, len(flows) - 10} {
		set := finding.NewSet()
		first := newRunner(t, set)
		first.feed(flows[:cut])
		began := time.Now()
		engState, err := first.eng.MarshalState()
		encoded := time.Since(began)
		if err != nil {
			t.Fatal(err)
		}
		dirState, err := first.dirs.MarshalState()
		if err != nil {
			t.Fatal(err)
		}
		second := newRunner(t, set)
		if err := second.eng.UnmarshalState(engState); err != nil {
			t.Fatal(err)
		}
		if err := second.dirs.UnmarshalState(dirState); err != nil {
			t.Fatal(err)
		}
		second.feed(flows[cut:])
		second.eng.Flush()
		got := set.Sorted()
		if len(got) != len(want) {
			t.Fatalf("cut at %d: %d findings, want %d", cut, len(got), len(want))
		}
		for i := range want {
			a, b := want[i], got[i]
			if a.ID != b.ID || a.Service.Count != b.Service.Count || !a.Service.EventFirstSeen.Equal(b.Service.EventFirstSeen.Time) ||
				!a.Service.EventLastSeen.Equal(b.Service.EventLastSeen.Time) || a.Severity != b.Severity {
				t.Errorf("cut at %d: finding %d differs: %s count %d [%v %v] vs %s count %d [%v %v]", cut, i,
					a.Type, a.Service.Count, a.Service.EventFirstSeen, a.Service.EventLastSeen,
					b.Type, b.Service.Count, b.Service.EventFirstSeen, b.Service.EventLastSeen)
			}
		}
		t.Logf("cut at %d of %d: engine state %d KiB, encoded in %s", cut, len(flows), len(engState)>>10, encoded)
	}
}
