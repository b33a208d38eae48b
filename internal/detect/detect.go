// Package detect owns the detection engine: the contract every detector
// implements, the thresholds they declare, and the Engine that dispatches
// records to detectors by kind and drives them with an event-time
// watermark. The detectors themselves live in one package each under
// detect/ (detect/portprobe, ...), and detect/all holds the one list of
// built-in detectors.
//
// Detectors import event, finding, lru and this package, never store, api,
// source or a message bus: the same detectors run in `picket analyze`, in
// `picket serve` and in distributed workers.
//
// Event time is the only clock. A detector never reads the wall clock: it
// learns time from the records it observes and from Advance. Replaying old
// logs therefore gives the same findings as streaming them live.
package detect

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"picket/internal/event"
	"picket/internal/finding"
)

// Emit hands a finding report to the engine's consumer, which merges it
// with earlier reports of the same finding ID. A detector must not keep or
// change a finding after emitting it.
type Emit func(*finding.Finding)

// Detector is the contract between the engine and a detector.
//
// Observe is called with every record of a kind the detector subscribes
// to, in arrival order. It updates the detector's keyed state and may emit
// findings. Advance is called when the watermark moves forward: every
// record with an event time at or before the watermark has been observed
// (records that arrive later than that are counted as late). Advance closes
// the windows that end at or before the watermark, emits what they show,
// and expires state. The final call is Advance(event.Forever).
//
// For replay and live streaming to agree, a detector decides in Advance,
// over activity up to the watermark, not on the order in which records
// happened to arrive.
type Detector interface {
	Definition() Definition
	Observe(rec event.Record, emit Emit)
	Advance(watermark event.Time, emit Emit)
}

// Definition is what a detector declares about itself: docs and `picket
// detectors` are generated from it.
type Definition struct {
	// ID names the detector in config and in findings' explanations,
	// such as "portprobe".
	ID string
	// Summary is one sentence for listings.
	Summary string
	// FindingTypes lists the types the detector can raise.
	FindingTypes []string
	// Subscribes lists the record kinds the detector observes.
	Subscribes []event.Kind
	// Thresholds are the detector's tunable settings with their current
	// values.
	Thresholds []Threshold
	// Allowlists are the detector's configurable lists of names (such as
	// the principals allowed to run security scanners), with their
	// current values.
	Allowlists []Allowlist
}

// Allowlist is one configurable list of names that a detector exempts or
// treats specially: principal ARNs, account IDs, user-agent markers.
type Allowlist struct {
	Name    string   // config key, lower_snake_case
	Doc     string   // what the names are and how they match
	Default []string // value when not configured
	Value   []string // value in effect
}

// Allowlists is a detector's list of allowlists.
type Allowlists []Allowlist

// Apply returns a copy of l with Value set to Default and then to the
// overrides, keyed by list name (an override replaces the default). It
// reports every unknown name at once.
func (l Allowlists) Apply(detector string, overrides map[string][]string) (Allowlists, error) {
	out := slices.Clone(l)
	byName := make(map[string]int, len(out))
	for i := range out {
		out[i].Value = slices.Clone(out[i].Default)
		byName[out[i].Name] = i
	}
	names := make([]string, 0, len(overrides))
	for n := range overrides {
		names = append(names, n)
	}
	slices.Sort(names)
	var errs []error
	for _, n := range names {
		i, ok := byName[n]
		if !ok {
			known := make([]string, len(l))
			for j, a := range l {
				known[j] = a.Name
			}
			errs = append(errs, fmt.Errorf("detector %s: unknown allowlist %q (known: %s)", detector, n, strings.Join(known, ", ")))
			continue
		}
		out[i].Value = slices.Clone(overrides[n])
	}
	return out, errors.Join(errs...)
}

// Get returns the value of the named list. It panics if there is no such
// list: detectors ask only for names they declared.
func (l Allowlists) Get(name string) []string {
	for _, a := range l {
		if a.Name == name {
			return a.Value
		}
	}
	panic("detect: no allowlist " + name)
}

// Threshold is one tunable setting of a detector.
type Threshold struct {
	Name    string  // config key, lower_snake_case
	Unit    string  // "contacts", "seconds", "ports", "ratio", ...
	Default float64 // value when not configured
	Value   float64 // value in effect
	Min     float64 // smallest accepted value
	Max     float64 // largest accepted value
	Doc     string  // what it controls and why the default
}

// Tunables is a detector's list of thresholds.
type Tunables []Threshold

// Apply returns a copy of t with Value set to Default and then to the
// overrides, keyed by threshold name. It reports every unknown name and
// out-of-range value at once.
func (t Tunables) Apply(detector string, overrides map[string]float64) (Tunables, error) {
	out := slices.Clone(t)
	byName := make(map[string]int, len(out))
	for i := range out {
		out[i].Value = out[i].Default
		byName[out[i].Name] = i
	}
	var errs []error
	names := make([]string, 0, len(overrides))
	for n := range overrides {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		v := overrides[n]
		i, ok := byName[n]
		if !ok {
			errs = append(errs, fmt.Errorf("detector %s: unknown threshold %q (known: %s)", detector, n, strings.Join(t.names(), ", ")))
			continue
		}
		th := &out[i]
		if v < th.Min || v > th.Max {
			errs = append(errs, fmt.Errorf("detector %s: threshold %s = %g is out of range [%g, %g] %s", detector, n, v, th.Min, th.Max, th.Unit))
			continue
		}
		th.Value = v
	}
	return out, errors.Join(errs...)
}

// Get returns the value of the named threshold. It panics if there is no
// such threshold: detectors ask only for names they declared.
func (t Tunables) Get(name string) float64 {
	for _, th := range t {
		if th.Name == name {
			return th.Value
		}
	}
	panic("detect: no threshold " + name)
}

func (t Tunables) names() []string {
	out := make([]string, len(t))
	for i, th := range t {
		out[i] = th.Name
	}
	return out
}

// StateStats describes one piece of a detector's keyed state.
type StateStats struct {
	Table   string // what the table holds, such as "sources"
	Len     int    // entries now
	Cap     int    // entries at most
	Evicted uint64 // entries evicted to make room, ever
}

// Stater is implemented by detectors that keep keyed state, which is
// every detector that keeps state at all: the engine reports sizes and
// evictions in the summary and in metrics.
type Stater interface {
	State() []StateStats
}
