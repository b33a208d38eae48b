package trail_test

import (
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"picket/internal/detect"
	"picket/internal/detect/all"
	"picket/internal/event"
	"picket/internal/finding"
)

// engineOf builds every detector for a world.
func (w *world) engine(t *testing.T, set *finding.Set) *detect.Engine {
	t.Helper()
	env := detect.Env{DetectorID: finding.DetectorID, IPInfo: w.lookup}
	if w.intel != nil {
		env.Intel = w.intel
	}
	stages, dets, err := all.Build(all.Options{Env: env, Thresholds: w.thresholds, Allowlists: w.allow})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := detect.NewEngine(stages, dets, detect.DefaultConfig, func(f *finding.Finding) { set.Add(f) })
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// counted is a finding's summary with its count.
func counted(fs []*finding.Finding) []string {
	var out []string
	for _, f := range fs {
		if f.Service.FeatureName == finding.FeatureCloudTrail {
			out = append(out, summary(f)+" count="+strconv.FormatInt(f.Service.Count, 10))
		}
	}
	slices.Sort(out)
	return out
}

// TestStateSurvivesRestart saves the engine's state halfway through each
// scenario, restores it into a new engine, and checks that the rest of the
// run gives the same findings as one run straight through: every
// CloudTrail detector saves what it learned (profiles, recent calls,
// instance addresses, pending reports).
func TestStateSurvivesRestart(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "scenarios", "*.txtar"))
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			sc := parseScenario(t, path)
			calls := decodeAll(t, trailInputs(t, sc.cfg))
			for _, c := range calls {
				if c.SourceIP.IsValid() {
					c.SourceInfo = sc.w.lookup(c.SourceIP)
				}
			}
			want := counted(sc.w.runCalls(t, calls))

			set := finding.NewSet()
			eng := sc.w.engine(t, set)
			for _, f := range sc.w.flows {
				eng.Observe(&f)
			}
			half := len(calls) / 2
			for _, c := range calls[:half] {
				eng.Observe(c)
			}
			b, err := eng.MarshalState()
			if err != nil {
				t.Fatal(err)
			}
			again := sc.w.engine(t, set)
			if err := again.UnmarshalState(b); err != nil {
				t.Fatal(err)
			}
			for _, c := range calls[half:] {
				again.Observe(c)
			}
			again.Flush()
			if got := counted(set.Sorted()); !slices.Equal(got, want) {
				t.Errorf("after a restart (-want +got):\n%s", diffLines(want, got))
			}
		})
	}
}

// TestArrivalOrder delivers each scenario's calls out of order, each up to
// five minutes late (within the engine's 15 minutes of lateness), and
// checks that the findings and their counts do not change: detectors
// decide at the watermark.
func TestArrivalOrder(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "scenarios", "*.txtar"))
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			sc := parseScenario(t, path)
			calls := decodeAll(t, trailInputs(t, sc.cfg))
			want := counted(sc.w.runCalls(t, calls))
			rng := rand.New(rand.NewPCG(1, 2))
			type late struct {
				c  *event.APICall
				at event.Time
			}
			order := make([]late, len(calls))
			for i, c := range calls {
				order[i] = late{c, c.EventTime + event.Time(rng.IntN(300))}
			}
			slices.SortStableFunc(order, func(a, b late) int { return int(a.at - b.at) })
			shuffled := make([]*event.APICall, len(order))
			for i, l := range order {
				shuffled[i] = l.c
			}
			if got := counted(sc.w.runCalls(t, shuffled)); !slices.Equal(got, want) {
				t.Errorf("out of order (-in order +out of order):\n%s", diffLines(want, got))
			}
		})
	}
}
