package detecttest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"picket/internal/detect"
	"picket/internal/event"
	"picket/internal/finding"
)

// This file is the conformance suite of detectors and stages: the
// behaviour the engine and the rest of picket count on from every one of
// them, checked by running a pipeline (stages and detectors in one
// detect.Engine) over the same records in several ways that must not
// change what it reports.

// Pipeline is what one engine runs: stages and detectors.
type Pipeline struct {
	Stages    []detect.Stage
	Detectors []detect.Detector
}

// Case is one subject of the suite: a detector with the stages that feed
// it, or a stage on its own.
type Case struct {
	// Build returns a new pipeline every time it is called. The suite
	// sets env.DetectorID to finding.DetectorID and env.MaxKeys to zero,
	// or to MaxKeys for the flood; Build adds what the subject needs
	// (Intel, IPInfo) and bounds the stages' tables by env.MaxKeys too
	// when it is set.
	Build func(env detect.Env) (Pipeline, error)
	// Input is records in arrival order on which the subject has
	// something to say: a detector at least one finding, a stage (with
	// Derived) at least one derived record. None may be late. The suite
	// never changes them.
	Input []event.Record
	// Derived lists the kinds of derived record that are a stage's
	// output; the suite compares them as it compares findings. Empty for
	// a detector.
	Derived []event.Kind
	// Flood is records that name many distinct keys (sources,
	// principals, interfaces), at least ten times MaxKeys of them, so
	// that every table of the subject fills up and evicts.
	Flood []event.Record
	// MaxKeys bounds the pipeline's tables during the flood.
	MaxKeys int
	// Config configures the engine; the zero Config means
	// detect.DefaultConfig.
	Config detect.Config
	// Known names the properties (subtests, such as "Lateness") that
	// the subject is known to fail, each with the reason, which the
	// subtest is skipped with.
	Known map[string]string
}

// Conformance runs the suite on c. Each property is a subtest:
//
//   - Reports: on Input the subject reports something (otherwise every
//     other property holds vacuously), and every finding is well formed:
//     GuardDuty's required fields filled and consistent with the
//     catalogue, a finding type its detector declares, an explanation
//     naming the detector, timestamps within the input's event times, no
//     template placeholder left in the text. The pipeline changes
//     neither the records it observes nor a finding after emitting it.
//   - Empty: no records, nothing reported.
//   - Snapshot: the state saved after part of the input and restored in
//     a new pipeline gives what an uninterrupted run gives; saving
//     changes nothing; the restored tables report the sizes and
//     evictions of the saved ones; a restored component saves the same
//     bytes as the original where saving is deterministic.
//   - Foresee: foreseeing (detect.Engine.Foresee) at points of the input
//     changes nothing of what the pipeline reports after, and at the
//     end of the input the reports so far and the foreseen ones merge
//     into the findings of the reference run: what picket serve shows
//     early is what picket analyze reports over the same records.
//   - Lateness: records that arrive late, but by less than the engine's
//     lateness, give the same findings. The newest event time, and with
//     it the sequence of watermarks, stays (nearly) that of the input.
//   - Reorder: records moved either way by less than the lateness give
//     the same findings, although the engine then advances to other
//     watermarks (it skips ticks when the newest event time jumps).
//   - Borrowed: records overwritten once Observe returns, the input's
//     and the stages', as decoders and the contact stage reuse theirs,
//     change nothing.
//   - Apart: with the detectors on a goroutine of their own
//     (detect.Config.Apart), fed by the one that runs the stages, the
//     pipeline reports the same findings and derived records, in the
//     same order.
//   - WallClock: runs under a fake clock, years away and hours apart,
//     give the same findings as a run under the real one, byte for byte
//     (finding IDs and timestamps included).
//   - BoundedState: during a flood of distinct keys no table of the
//     State report holds more than its cap, no cap exceeds MaxKeys, the
//     subject counts evictions, and a restart keeps the counts.
//
// NoWallClock is the static half of the wall-clock property.
func Conformance(t *testing.T, c Case) {
	if c.Build == nil || len(c.Input) == 0 {
		t.Fatal("detecttest.Conformance: the case needs Build and Input")
	}
	for name := range c.Known {
		if !slices.Contains(properties, name) {
			t.Errorf("Known names %q, which is no property (%v)", name, properties)
		}
	}
	in := c.Input
	pristine := cloneRecords(t, in)
	ref := c.run(t, in)
	if ref.late > 0 {
		t.Fatalf("%d of the %d input records are late: the input must be in arrival order within the engine's lateness (%ds)", ref.late, len(in), c.config().Lateness)
	}
	changed := !reflect.DeepEqual(pristine, cloneRecords(t, in))

	c.property(t, "Reports", func(t *testing.T) {
		if changed {
			t.Error("the pipeline changed records it observed: other detectors see them after it")
		}
		if len(c.Derived) == 0 && len(ref.findings) == 0 {
			t.Fatal("no finding on the input: every other property would hold vacuously")
		}
		if len(c.Derived) > 0 && len(ref.derived) == 0 {
			t.Fatalf("no derived record of kinds %v on the input", c.Derived)
		}
		c.checkReports(t, ref, in)
		types := map[string]int{}
		for _, rep := range ref.reports {
			types[rep.f.Type]++
		}
		t.Logf("%d records: %d reports %v, %d findings, %d derived records", len(in), len(ref.reports), types, len(ref.findings), len(ref.derived))
	})

	c.property(t, "Empty", func(t *testing.T) {
		out := c.run(t, nil)
		if len(out.reports) > 0 || len(out.derived) > 0 {
			t.Errorf("without records the pipeline reported %d findings and %d derived records", len(out.reports), len(out.derived))
		}
	})

	c.property(t, "Snapshot", func(t *testing.T) { c.testSnapshot(t, in, ref) })

	c.property(t, "Foresee", func(t *testing.T) { c.testForesee(t, in, ref) })

	reorder := func(t *testing.T, what string, order func([]event.Record, event.Time, uint64) []event.Record) {
		lateness := c.config().Lateness
		if lateness <= 0 {
			t.Skip("the engine allows no lateness")
		}
		for seed := uint64(1); seed <= 2; seed++ {
			out := c.run(t, order(in, lateness, seed))
			if out.late > 0 {
				t.Fatalf("seed %d: %d records late: the suite moved them too far", seed, out.late)
			}
			compare(t, fmt.Sprintf("%s by less than the lateness, %ds (seed %d)", what, lateness, seed), ref, out)
		}
	}
	c.property(t, "Lateness", func(t *testing.T) { reorder(t, "records delayed", Delay) })
	c.property(t, "Reorder", func(t *testing.T) { reorder(t, "records moved", Shuffle) })

	c.property(t, "Borrowed", func(t *testing.T) {
		compare(t, "records overwritten after Observe", ref, c.runBorrowed(t, in))
	})

	c.property(t, "Apart", func(t *testing.T) {
		apart := c
		apart.Config = c.config()
		apart.Config.Apart = true
		got := apart.run(t, in)
		compare(t, "detectors on a goroutine of their own", ref, got)
		if len(got.reports) != len(ref.reports) {
			t.Fatalf("%d reports, the reference run made %d", len(got.reports), len(ref.reports))
		}
		for i := range got.reports {
			if string(got.reports[i].json) != string(ref.reports[i].json) {
				t.Fatalf("report %d differs from the reference run's:\n%s\n%s", i, ref.reports[i].json, got.reports[i].json)
			}
		}
	})

	c.property(t, "WallClock", func(t *testing.T) {
		// In a synctest bubble time.Now starts at midnight UTC on
		// 2000-01-01 and moves only when the bubble sleeps. Two runs
		// under clocks 1000 hours apart are also two runs of the same
		// input in one process: they show that a run repeats.
		for _, sleep := range []time.Duration{0, 1000 * time.Hour} {
			synctest.Test(t, func(t *testing.T) {
				time.Sleep(sleep) //picket:wallclock the bubble's fake clock, which the property is about
				at := time.Now()  //picket:wallclock the bubble's fake clock
				compare(t, "a run under a fake clock at "+at.UTC().Format(time.RFC3339), ref, c.run(t, in))
			})
		}
	})

	c.property(t, "BoundedState", func(t *testing.T) { c.testBounded(t) })
}

// properties are the names of the suite's subtests.
var properties = []string{"Reports", "Empty", "Snapshot", "Foresee", "Lateness", "Reorder", "Borrowed", "Apart", "WallClock", "BoundedState"}

// property runs one property's subtest, or skips it when it is known to
// fail.
func (c *Case) property(t *testing.T, name string, fn func(t *testing.T)) {
	t.Run(name, func(t *testing.T) {
		if reason, ok := c.Known[name]; ok {
			t.Skip("known failure: " + reason)
		}
		fn(t)
	})
}

func (c *Case) config() detect.Config {
	if c.Config == (detect.Config{}) {
		return detect.DefaultConfig
	}
	return c.Config
}

// report is one finding as a detector emitted it, with its JSON at the
// time of emission.
type report struct {
	f    *finding.Finding
	json []byte
}

// trace is what a pipeline said: the reports and derived records, in
// order. A snapshot test continues one trace in a second pipeline.
type trace struct {
	reports []report
	derived []string
}

// runner is one pipeline in one engine, writing to a trace.
type runner struct {
	t    testing.TB
	p    Pipeline
	eng  *detect.Engine
	tr   *trace
	mine int // reports of tr that this runner emitted start here
}

func (c *Case) start(t testing.TB, maxKeys int, tr *trace) *runner {
	t.Helper()
	p, err := c.Build(detect.Env{DetectorID: finding.DetectorID, MaxKeys: maxKeys})
	if err != nil {
		t.Fatalf("building the pipeline: %v", err)
	}
	r := &runner{t: t, p: p, tr: tr, mine: len(tr.reports)}
	dets := p.Detectors
	if len(c.Derived) > 0 {
		dets = append(slices.Clone(dets), &recorder{kinds: c.Derived, tr: tr})
	}
	r.eng, err = detect.NewEngine(p.Stages, dets, c.config(), r.emit)
	if err != nil {
		t.Fatalf("starting the engine: %v", err)
	}
	return r
}

func (r *runner) emit(f *finding.Finding) {
	b, err := json.Marshal(f)
	if err != nil {
		r.t.Errorf("finding %s %s does not render as JSON: %v", f.Type, f.ID, err)
	}
	r.tr.reports = append(r.tr.reports, report{f, b})
}

func (r *runner) feed(recs []event.Record) {
	for _, rec := range recs {
		r.eng.Observe(rec)
	}
}

// finish flushes the engine and checks that no finding this runner
// emitted was changed or emitted twice.
func (r *runner) finish() {
	r.t.Helper()
	r.eng.Flush()
	seen := map[*finding.Finding]bool{}
	for _, rep := range r.tr.reports[r.mine:] {
		if seen[rep.f] {
			r.t.Errorf("finding %s %s was emitted twice as the same value: a detector must not keep a finding after emitting it", rep.f.Type, rep.f.ID)
		}
		seen[rep.f] = true
		if b, _ := json.Marshal(rep.f); string(b) != string(rep.json) {
			r.t.Errorf("finding %s %s changed after it was emitted:\n%s", rep.f.Type, rep.f.ID, gocmp.Diff(string(rep.json), string(b)))
		}
	}
}

// recorder is a detector that notes the derived records of some kinds.
type recorder struct {
	kinds []event.Kind
	tr    *trace
}

func (d *recorder) Definition() detect.Definition {
	return detect.Definition{ID: "detecttest-recorder", Subscribes: d.kinds}
}

func (d *recorder) Observe(rec event.Record, _ detect.Emit) {
	b, err := json.Marshal(rec)
	if err != nil {
		panic("detecttest: derived record does not render as JSON: " + err.Error())
	}
	d.tr.derived = append(d.tr.derived, string(b))
}

func (d *recorder) Advance(event.Time, detect.Emit) {}

// output is what a run reported, ready to compare.
type output struct {
	reports  []report
	findings []string // merged, as indented JSON, in finding.Set order
	derived  []string
	late     uint64
}

func (tr *trace) output(t testing.TB) output {
	t.Helper()
	set := finding.NewSet()
	for _, rep := range tr.reports {
		// Merge copies: the set changes the findings it keeps.
		var f finding.Finding
		if err := json.Unmarshal(rep.json, &f); err != nil {
			t.Fatalf("finding %s does not read back from its JSON: %v", rep.f.ID, err)
		}
		set.Add(&f)
	}
	out := output{reports: tr.reports, derived: tr.derived}
	for _, f := range set.Sorted() {
		b, err := json.MarshalIndent(f, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		out.findings = append(out.findings, string(b))
	}
	return out
}

// run feeds recs to a new pipeline and flushes it.
func (c *Case) run(t testing.TB, recs []event.Record) output {
	t.Helper()
	r := c.start(t, 0, &trace{})
	r.feed(recs)
	r.finish()
	out := r.tr.output(t)
	out.late = r.eng.Stats().Late
	return out
}

// compare reports how got differs from want, the reference run.
func compare(t testing.TB, what string, want, got output) {
	t.Helper()
	if d := diffFindings(want.findings, got.findings); d != "" {
		t.Errorf("%s: findings differ from the reference run's (-reference +this run):\n%s", what, d)
	}
	if !slices.Equal(want.derived, got.derived) {
		i := 0
		for i < min(len(want.derived), len(got.derived)) && want.derived[i] == got.derived[i] {
			i++
		}
		var w, g string
		if i < len(want.derived) {
			w = want.derived[i]
		}
		if i < len(got.derived) {
			g = got.derived[i]
		}
		t.Errorf("%s: derived records differ from the reference run's: %d against %d; the first difference, at %d:\n%s", what, len(want.derived), len(got.derived), i, gocmp.Diff(w, g))
	}
}

// diffFindings describes the differences between two lists of findings
// as JSON: the findings only one has, then the first few that differ.
func diffFindings(want, got []string) string {
	if slices.Equal(want, got) {
		return ""
	}
	byID := func(fs []string) (map[string]string, []string) {
		m := map[string]string{}
		var ids []string
		for _, s := range fs {
			var k struct {
				ID   string `json:"id"`
				Type string `json:"type"`
			}
			_ = json.Unmarshal([]byte(s), &k)
			id := k.Type + " " + k.ID
			m[id] = s
			ids = append(ids, id)
		}
		return m, ids
	}
	w, wids := byID(want)
	g, gids := byID(got)
	var b strings.Builder
	for _, id := range wids {
		if _, ok := g[id]; !ok {
			fmt.Fprintf(&b, "- missing %s\n", id)
		}
	}
	for _, id := range gids {
		if _, ok := w[id]; !ok {
			fmt.Fprintf(&b, "+ extra %s\n", id)
		}
	}
	shown := 0
	for _, id := range wids {
		if gs, ok := g[id]; ok && gs != w[id] {
			if shown++; shown > 3 {
				b.WriteString("(more differ)\n")
				break
			}
			fmt.Fprintf(&b, "%s:\n%s", id, gocmp.Diff(w[id], gs))
		}
	}
	if b.Len() == 0 {
		b.WriteString("the same findings in another order\n")
	}
	return b.String()
}

// testSnapshot saves the state at two points of the input, restores it
// in a new pipeline and lets both pipelines finish.
func (c *Case) testSnapshot(t *testing.T, in []event.Record, ref output) {
	for _, part := range []int{1, 2} {
		cut := len(in) * part / 3
		what := fmt.Sprintf("after %d of %d records", cut, len(in))
		first := &trace{}
		orig := c.start(t, 0, first)
		orig.feed(in[:cut])
		state, err := orig.eng.MarshalState()
		if err != nil {
			t.Fatalf("%s: saving the state: %v", what, err)
		}
		// Save each component several times: where the bytes always
		// agree, saving is deterministic and a restored component must
		// give the same bytes back. A state holding a small map is saved
		// in one of few orders, which a few saves can all repeat by
		// chance (one in four for three saves of a two-entry map); up to
		// varySaves saves, stopping at the first that differs, make that
		// chance negligible.
		saved := components(orig.p)
		var before [][]byte // nil: the bytes vary
		for _, s := range saved {
			b0, err := s.sn.MarshalState()
			if err != nil {
				t.Fatalf("%s: saving the state of %s: %v", what, s.name, err)
			}
			for range varySaves - 1 {
				b, err := s.sn.MarshalState()
				if err != nil {
					t.Fatalf("%s: saving the state of %s: %v", what, s.name, err)
				}
				if string(b) != string(b0) {
					b0 = nil
					break
				}
			}
			before = append(before, b0)
		}
		second := &trace{reports: slices.Clone(first.reports), derived: slices.Clone(first.derived)}
		restored := c.start(t, 0, second)
		if err := restored.eng.UnmarshalState(state); err != nil {
			t.Fatalf("%s: restoring the state: %v", what, err)
		}
		if d := gocmp.Diff(orig.eng.State(), restored.eng.State()); d != "" {
			t.Errorf("%s: the restored tables differ in size or evictions (-saved +restored):\n%s", what, d)
		}
		for i, s := range components(restored.p) {
			b, err := s.sn.MarshalState()
			if err != nil {
				t.Fatalf("%s: saving the restored state of %s: %v", what, s.name, err)
			}
			if before[i] == nil {
				if part == 1 {
					t.Logf("%s saves its state in varying bytes (a map's order?); not compared", s.name)
				}
				continue
			}
			if string(b) != string(before[i]) {
				t.Errorf("%s: %s saves other bytes once restored (%d bytes, %d before)", what, s.name, len(b), len(before[i]))
			}
		}
		orig.feed(in[cut:])
		orig.finish()
		compare(t, "saving the state "+what+" and going on", ref, first.output(t))
		restored.feed(in[cut:])
		restored.finish()
		compare(t, "restoring the state saved "+what, ref, second.output(t))
	}
}

// testForesee foresees at several points of the input, and at its end,
// in one pipeline that then finishes.
func (c *Case) testForesee(t *testing.T, in []event.Record, ref output) {
	tr := &trace{}
	r := c.start(t, 0, tr)
	const points = 6
	fed := 0
	for p := 1; p <= points; p++ {
		cut := len(in) * p / points
		r.feed(in[fed:cut])
		fed = cut
		what := fmt.Sprintf("after %d of %d records", cut, len(in))
		state, err := r.eng.MarshalState()
		if err != nil {
			t.Fatalf("%s: saving the state: %v", what, err)
		}
		tables := r.eng.State()
		derived := len(tr.derived)
		var foreseen []report
		ok, err := r.eng.Foresee(state, func(f *finding.Finding) {
			b, err := json.Marshal(f)
			if err != nil {
				t.Errorf("foreseen finding %s %s does not render as JSON: %v", f.Type, f.ID, err)
			}
			foreseen = append(foreseen, report{f, b})
		})
		if err != nil {
			t.Fatalf("%s: foreseeing: %v", what, err)
		}
		if !ok && cut > 0 {
			t.Errorf("%s: nothing to foresee after records were observed", what)
		}
		// The stages' derived records of the foresight are not the run's.
		tr.derived = tr.derived[:derived]
		if d := gocmp.Diff(tables, r.eng.State()); d != "" {
			t.Errorf("%s: foreseeing left the tables changed (-before +after):\n%s", what, d)
		}
		if cut == len(in) {
			end := &trace{reports: append(slices.Clone(tr.reports), foreseen...)}
			got := end.output(t)
			if d := diffFindings(ref.findings, got.findings); d != "" {
				t.Errorf("at the end of the input, the reports so far and the foreseen ones differ from the reference run's findings (-reference +foreseen):\n%s", d)
			}
		}
	}
	r.finish()
	compare(t, "foreseeing at points of the input and going on", ref, tr.output(t))
}

// varySaves is how many times the Snapshot property saves a component's
// state to tell whether its bytes vary from one save to the next.
const varySaves = 16

type component struct {
	name string
	sn   detect.Snapshotter
}

// components lists the pipeline's stages and detectors that save state.
func components(p Pipeline) []component {
	var out []component
	for _, s := range p.Stages {
		if sn, ok := s.(detect.Snapshotter); ok {
			out = append(out, component{"stage " + s.Name(), sn})
		}
	}
	for _, d := range p.Detectors {
		if sn, ok := d.(detect.Snapshotter); ok {
			out = append(out, component{"detector " + d.Definition().ID, sn})
		}
	}
	return out
}

// Shuffle returns recs in another arrival order, each record moved by less
// than lateness from its event time: sorted by event time plus a random
// delay under lateness, so that no record is late for an engine allowing
// lateness. The same seed gives the same order.
func Shuffle(recs []event.Record, lateness event.Time, seed uint64) []event.Record {
	return arrive(recs, lateness, seed, 1)
}

// Delay returns recs in event time order, but with about a third of them
// delayed, each by less than lateness: they arrive after newer records,
// yet before an engine allowing lateness takes them for late. The other
// records arrive in event time order, so the newest event time grows as
// without the delays. The same seed gives the same order.
func Delay(recs []event.Record, lateness event.Time, seed uint64) []event.Record {
	return arrive(recs, lateness, seed, 3)
}

// arrive sorts recs by event time plus a random delay under lateness for
// one record in every.
func arrive(recs []event.Record, lateness event.Time, seed uint64, every int) []event.Record {
	rng := rand.New(rand.NewPCG(seed, 0x1a7e))
	type keyed struct {
		at  int64 // event time plus delay, in milliseconds
		rec event.Record
	}
	ks := make([]keyed, len(recs))
	for i, r := range recs {
		ks[i] = keyed{int64(r.Time()) * 1000, r}
		if rng.IntN(every) == 0 {
			ks[i].at += rng.Int64N(int64(lateness) * 1000)
		}
	}
	slices.SortStableFunc(ks, func(a, b keyed) int { return cmp.Compare(a.at, b.at) })
	out := make([]event.Record, len(ks))
	for i, k := range ks {
		out[i] = k.rec
	}
	return out
}

// runBorrowed feeds recs as decoders do, each copied into a record that
// is overwritten, borrowed bytes and all, once Observe returns; and hands
// the detectors the stages' records in the same way.
func (c *Case) runBorrowed(t testing.TB, recs []event.Record) output {
	t.Helper()
	r := c.start(t, 0, &trace{})
	stages := make([]detect.Stage, len(r.p.Stages))
	for i, st := range r.p.Stages {
		stages[i] = lender{st, t}
	}
	dets := r.p.Detectors
	if len(c.Derived) > 0 {
		dets = append(slices.Clone(dets), &recorder{kinds: c.Derived, tr: r.tr})
	}
	var err error
	if r.eng, err = detect.NewEngine(stages, dets, c.config(), r.emit); err != nil {
		t.Fatalf("starting the engine: %v", err)
	}
	for _, rec := range recs {
		lend(t, rec, r.eng.Observe)
	}
	r.finish()
	return r.tr.output(t)
}

// lender is a stage whose records are lent: overwritten once the
// detectors have observed them.
type lender struct {
	detect.Stage
	t testing.TB
}

func (l lender) Observe(rec event.Record, out func(event.Record)) {
	l.Stage.Observe(rec, func(d event.Record) { lend(l.t, d, out) })
}

func (l lender) Advance(w event.Time, out func(event.Record)) {
	l.Stage.Advance(w, func(d event.Record) { lend(l.t, d, out) })
}

// lend hands use a copy of rec, then overwrites the copy.
func lend(t testing.TB, rec event.Record, use func(event.Record)) {
	switch v := rec.(type) {
	case *event.Flow:
		f := *v
		use(&f)
		f = event.Flow{Origin: event.Origin{File: event.Intern("overwritten")}}
	case *event.Contact:
		ct := *v
		use(&ct)
		ct = event.Contact{Origin: event.Origin{File: event.Intern("overwritten")}}
	case *event.APICall:
		call := v.Clone()
		use(call)
		for _, b := range [][]byte{call.EventID, call.RequestID, call.SharedEventID, call.RequestParameters, call.ResponseElements,
			call.Resources, call.AdditionalEventData, call.ServiceEventDetails, call.Raw} {
			for i := range b {
				b[i] = '#'
			}
		}
		*call = event.APICall{Origin: event.Origin{File: event.Intern("overwritten")}}
	case *event.DNSQuery:
		q := v.Clone()
		use(q)
		for i := range q.Name {
			q.Name[i] = '#'
		}
		for _, a := range q.AnswerList() {
			for i := range a.Data {
				a.Data[i] = '#'
			}
		}
		*q = event.DNSQuery{Origin: event.Origin{File: event.Intern("overwritten")}}
	default:
		t.Fatalf("detecttest: no copy for a %T", rec)
	}
}

// cloneRecords copies recs, deeply, for comparison.
func cloneRecords(t testing.TB, recs []event.Record) []any {
	t.Helper()
	out := make([]any, len(recs))
	for i, rec := range recs {
		switch v := rec.(type) {
		case *event.Flow:
			out[i] = *v
		case *event.Contact:
			out[i] = *v
		case *event.APICall:
			out[i] = *v.Clone()
		case *event.DNSQuery:
			out[i] = *v.Clone()
		default:
			t.Fatalf("detecttest: no copy for a %T", rec)
		}
	}
	return out
}

// testBounded floods a pipeline whose tables are bounded by MaxKeys.
func (c *Case) testBounded(t *testing.T) {
	if len(c.Flood) == 0 || c.MaxKeys <= 0 {
		t.Fatal("the case has no Flood and MaxKeys")
	}
	r := c.start(t, c.MaxKeys, &trace{})
	limit := max(c.MaxKeys, 16) // detect.Env.Cap's floor
	detectors := map[string]bool{}
	for _, d := range r.p.Detectors {
		detectors[d.Definition().ID] = true
	}
	bad := map[string]bool{}
	check := func(when string) {
		for name, tables := range r.eng.State() {
			for _, tb := range tables {
				k := name + " " + tb.Table
				switch {
				case bad[k]:
				case tb.Len > tb.Cap:
					bad[k] = true
					t.Errorf("%s: %s table %q holds %d entries, over its cap of %d", when, name, tb.Table, tb.Len, tb.Cap)
				case detectors[name] && tb.Cap > limit:
					// detect.Env.MaxKeys bounds a detector's tables; a
					// stage has a configuration of its own.
					bad[k] = true
					t.Errorf("%s: %s table %q has a cap of %d, over MaxKeys (%d)", when, name, tb.Table, tb.Cap, c.MaxKeys)
				}
			}
		}
	}
	size := func() int {
		b, err := r.eng.MarshalState()
		if err != nil {
			t.Fatalf("saving the state: %v", err)
		}
		return len(b)
	}
	var half int
	for i, rec := range c.Flood {
		r.eng.Observe(rec)
		check(fmt.Sprintf("after %d flood records", i+1))
		if i+1 == len(c.Flood)/2 {
			half = size()
		}
	}
	full := size()
	// Full tables and their eviction counts survive a restart.
	b, err := r.eng.MarshalState()
	if err != nil {
		t.Fatalf("saving the state: %v", err)
	}
	restored := c.start(t, c.MaxKeys, &trace{})
	if err := restored.eng.UnmarshalState(b); err != nil {
		t.Fatalf("restoring the state: %v", err)
	}
	if d := gocmp.Diff(r.eng.State(), restored.eng.State()); d != "" {
		t.Errorf("the tables restored after the flood differ in size or evictions (-saved +restored):\n%s", d)
	}
	r.finish()
	check("at the end of the flood")
	t.Logf("saved state: %d bytes half way through the flood, %d at its end", half, full)

	subjects := detectors
	if len(subjects) == 0 {
		for _, s := range r.p.Stages {
			subjects[s.Name()] = true
		}
	}
	for name, tables := range r.eng.State() {
		if !subjects[name] {
			continue
		}
		var evicted uint64
		for _, tb := range tables {
			evicted += tb.Evicted
			t.Logf("%s %s: %d of %d, %d evicted", name, tb.Table, tb.Len, tb.Cap, tb.Evicted)
		}
		if evicted == 0 {
			t.Errorf("%s counted no eviction in a flood of %d records bounded by MaxKeys %d: its tables are not bounded, or the flood misses them", name, len(c.Flood), c.MaxKeys)
		}
	}
	out := r.tr.output(t)
	c.checkReports(t, out, c.Flood)
}

// placeholder matches a template variable that Text left in a title or
// description.
var placeholder = regexp.MustCompile(`\{[a-z_]+\}`)

var hexID = regexp.MustCompile(`^[0-9a-f]{32}$`)
var accountID = regexp.MustCompile(`^[0-9]{12}$`)

// checkReports checks every report of a run against what GuardDuty and
// picket require of a finding.
func (c *Case) checkReports(t testing.TB, out output, in []event.Record) {
	t.Helper()
	p, err := c.Build(detect.Env{DetectorID: finding.DetectorID})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	types := map[string]bool{}
	for _, d := range p.Detectors {
		def := d.Definition()
		ids[def.ID] = true
		for _, ty := range def.FindingTypes {
			types[ty] = true
		}
	}
	lo, hi := event.Forever, event.Never
	for _, r := range in {
		lo, hi = min(lo, r.Time()), max(hi, r.Time())
	}
	// A flow record's start comes before its time, by up to the longest
	// aggregation interval.
	first, last := (lo - 3600).UTC(), (hi + 3600).UTC()
	shown := 0
	for _, rep := range out.reports {
		var f finding.Finding
		if err := json.Unmarshal(rep.json, &f); err != nil {
			t.Fatal(err)
		}
		problems := wellFormed(&f, ids, types, first, last)
		if len(problems) == 0 {
			continue
		}
		if shown++; shown > 5 {
			t.Errorf("(more reports are malformed)")
			return
		}
		t.Errorf("finding %s %s is malformed:\n  %s\n%s", f.Type, f.ID, strings.Join(problems, "\n  "), rep.json)
	}
}

// wellFormed lists what is wrong with f.
func wellFormed(f *finding.Finding, detectors, types map[string]bool, first, last time.Time) []string {
	var p []string
	need := func(ok bool, format string, args ...any) {
		if !ok {
			p = append(p, fmt.Sprintf(format, args...))
		}
	}
	s := &f.Service
	need(f.SchemaVersion == finding.SchemaVersion, "schemaVersion %q", f.SchemaVersion)
	need(accountID.MatchString(f.AccountID), "accountId %q is not 12 digits", f.AccountID)
	need(f.Region != "", "no region")
	need(f.Partition == finding.Partition(f.Region), "partition %q in region %s", f.Partition, f.Region)
	need(hexID.MatchString(f.ID), "id %q is not 32 lowercase hex digits", f.ID)
	need(s.DetectorID == finding.DetectorID(f.AccountID, f.Region), "detectorId %q is not the account's and region's", s.DetectorID)
	need(f.Arn == finding.ARN(f.Partition, f.Region, f.AccountID, s.DetectorID, f.ID), "arn %q does not name the finding", f.Arn)
	need(types[f.Type], "type %q is not among the detectors' declared types", f.Type)
	ty, ok := finding.Lookup(f.Type)
	need(ok, "type %q is not in the catalogue", f.Type)
	if ok {
		need(f.Resource.ResourceType == ty.ResourceType, "resourceType %q, the catalogue says %q", f.Resource.ResourceType, ty.ResourceType)
		need(s.Action.ActionType == ty.ActionType, "actionType %q, the catalogue says %q", s.Action.ActionType, ty.ActionType)
		need(s.FeatureName == ty.Feature, "featureName %q, the catalogue says %q", s.FeatureName, ty.Feature)
	}
	switch f.Resource.ResourceType {
	case finding.ResourceInstance:
		need(f.Resource.InstanceDetails != nil, "no resource.instanceDetails")
	case finding.ResourceAccessKey:
		need(f.Resource.AccessKeyDetails != nil, "no resource.accessKeyDetails")
	}
	a := &s.Action
	switch a.ActionType {
	case finding.ActionNetworkConnection:
		nc := a.NetworkConnectionAction
		need(nc != nil, "no networkConnectionAction")
		if nc != nil {
			need(slices.Contains([]string{finding.DirectionInbound, finding.DirectionOutbound, finding.DirectionUnknown}, nc.ConnectionDirection),
				"connectionDirection %q", nc.ConnectionDirection)
			need(nc.RemoteIPDetails != nil, "no networkConnectionAction.remoteIpDetails")
		}
	case finding.ActionPortProbe:
		pa := a.PortProbeAction
		need(pa != nil && len(pa.PortProbeDetails) > 0, "no portProbeAction.portProbeDetails")
	case finding.ActionAWSAPICall:
		ac := a.AwsAPICallAction
		need(ac != nil && ac.API != "", "no awsApiCallAction.api")
	case finding.ActionDNSRequest:
		need(a.DNSRequestAction != nil && a.DNSRequestAction.Domain != "", "no dnsRequestAction.domain")
	}
	need(s.ServiceName == "guardduty", "serviceName %q", s.ServiceName)
	need(s.ResourceRole == finding.RoleTarget || s.ResourceRole == finding.RoleActor, "resourceRole %q", s.ResourceRole)
	need(s.Count >= 1, "count %d", s.Count)
	need(f.Severity >= 1 && f.Severity <= 10, "severity %v", f.Severity)
	need(f.Title != "" && !placeholder.MatchString(f.Title), "title %q", f.Title)
	need(f.Description != "" && !placeholder.MatchString(f.Description), "description %q", f.Description)
	var exp *finding.Explanation
	if s.AdditionalInfo != nil {
		exp = s.AdditionalInfo.Explanation
	}
	need(exp != nil && detectors[exp.Detector], "no service.additionalInfo explanation naming the detector")
	within := func(name string, ts finding.Timestamp) {
		need(!ts.Before(first) && !ts.After(last), "%s %s is outside the input's event times [%s, %s]", name,
			ts.UTC().Format(time.RFC3339), first.Format(time.RFC3339), last.Format(time.RFC3339))
	}
	within("eventFirstSeen", s.EventFirstSeen)
	within("eventLastSeen", s.EventLastSeen)
	within("createdAt", f.CreatedAt)
	within("updatedAt", f.UpdatedAt)
	need(!s.EventLastSeen.Before(s.EventFirstSeen.Time), "eventLastSeen before eventFirstSeen")
	need(!f.UpdatedAt.Before(f.CreatedAt.Time), "updatedAt before createdAt")
	return p
}
