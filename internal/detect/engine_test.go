package detect

import (
	"strings"
	"testing"

	"picket/internal/event"
	"picket/internal/finding"
)

type probeRec struct{ t event.Time }

func (r *probeRec) Kind() event.Kind     { return event.KindFlow }
func (r *probeRec) Time() event.Time     { return r.t }
func (r *probeRec) Source() event.Origin { return event.Origin{} }

type recorder struct {
	id       string
	kinds    []event.Kind
	observed []event.Time
	advances []event.Time
}

func (r *recorder) Definition() Definition {
	return Definition{ID: r.id, Subscribes: r.kinds}
}
func (r *recorder) Observe(rec event.Record, _ Emit) { r.observed = append(r.observed, rec.Time()) }
func (r *recorder) Advance(w event.Time, _ Emit)     { r.advances = append(r.advances, w) }

func TestWatermarkTrailsByLateness(t *testing.T) {
	d := &recorder{id: "r", kinds: []event.Kind{event.KindFlow}}
	e, err := NewEngine(nil, []Detector{d}, Config{Lateness: 300, Tick: 60}, func(*finding.Finding) {})
	if err != nil {
		t.Fatal(err)
	}
	for _, ts := range []event.Time{1000, 1100, 1200, 1320, 1300, 1500} {
		e.Observe(&probeRec{ts})
	}
	// Max 1320 gives watermark 1020, truncated to the tick: 1020.
	// Max 1500 gives 1200.
	want := []event.Time{1020, 1200}
	if len(d.advances) != len(want) || d.advances[0] != want[0] || d.advances[1] != want[1] {
		t.Fatalf("advances %v, want %v", d.advances, want)
	}
	e.Observe(&probeRec{900}) // older than the watermark
	if e.Stats().Late != 1 {
		t.Errorf("late = %d, want 1", e.Stats().Late)
	}
	if len(d.observed) != 7 {
		t.Errorf("late records are still observed: %d of 7", len(d.observed))
	}
	e.Flush()
	if last := d.advances[len(d.advances)-1]; last != event.Forever {
		t.Errorf("Flush advanced to %v, want forever", last)
	}
}

func TestDispatchByKindAndStages(t *testing.T) {
	flows := &recorder{id: "flows", kinds: []event.Kind{event.KindFlow}}
	contacts := &recorder{id: "contacts", kinds: []event.Kind{event.KindContact}}
	st := &doubler{}
	e, err := NewEngine([]Stage{st}, []Detector{flows, contacts}, DefaultConfig, func(*finding.Finding) {})
	if err != nil {
		t.Fatal(err)
	}
	e.Observe(&probeRec{10})
	e.Flush()
	if len(flows.observed) != 1 {
		t.Errorf("flow detector saw %d records", len(flows.observed))
	}
	if len(contacts.observed) != 2 {
		t.Errorf("contact detector saw %d derived records, want 2 (one from Observe, one from Advance)", len(contacts.observed))
	}
	if got := e.Stats().Records[event.KindContact]; got != 2 {
		t.Errorf("derived records counted %d, want 2", got)
	}
}

type doubler struct{}

func (doubler) Name() string                                   { return "doubler" }
func (doubler) Consumes() []event.Kind                         { return []event.Kind{event.KindFlow} }
func (doubler) Observe(r event.Record, out func(event.Record)) { out(&event.Contact{Start: r.Time()}) }
func (doubler) Advance(w event.Time, out func(event.Record)) {
	if w == event.Forever {
		out(&event.Contact{})
	}
}

func TestDuplicateIDs(t *testing.T) {
	a := &recorder{id: "same"}
	b := &recorder{id: "same"}
	if _, err := NewEngine(nil, []Detector{a, b}, DefaultConfig, nil); err == nil {
		t.Error("two detectors with one ID were accepted")
	}
}

func TestTunables(t *testing.T) {
	tt := Tunables{{Name: "a", Default: 5, Min: 1, Max: 10}, {Name: "b", Default: 0.5, Min: 0, Max: 1}}
	got, err := tt.Apply("x", map[string]float64{"a": 7})
	if err != nil || got.Get("a") != 7 || got.Get("b") != 0.5 {
		t.Fatalf("Apply: %v %v", got, err)
	}
	if tt[0].Value != 0 {
		t.Error("Apply changed its receiver")
	}
	_, err = tt.Apply("x", map[string]float64{"a": 11, "c": 1})
	if err == nil {
		t.Fatal("out of range and unknown accepted")
	}
	for _, want := range []string{"out of range", "unknown threshold \"c\""} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q: every problem must be reported at once", err, want)
		}
	}
}

func TestCatchUp(t *testing.T) {
	d := &recorder{id: "r", kinds: []event.Kind{event.KindFlow}}
	e, err := NewEngine(nil, []Detector{d}, Config{Lateness: 300, Tick: 60}, func(*finding.Finding) {})
	if err != nil {
		t.Fatal(err)
	}
	if e.CatchUp() {
		t.Error("caught up with nothing seen")
	}
	e.Observe(&probeRec{1000})
	e.Observe(&probeRec{1130})
	if len(d.advances) != 0 {
		t.Fatalf("advances %v before the lateness passed", d.advances)
	}
	if !e.CatchUp() || e.Watermark() != 1130 || len(d.advances) != 1 || d.advances[0] != 1130 {
		t.Errorf("after CatchUp: watermark %v, advances %v; want 1130 once", e.Watermark(), d.advances)
	}
	if e.CatchUp() {
		t.Error("caught up twice with nothing new")
	}
	// Event time goes on from there as before.
	e.Observe(&probeRec{1500})
	if last := d.advances[len(d.advances)-1]; last != 1200 {
		t.Errorf("advances %v, want 1200 next", d.advances)
	}
}
