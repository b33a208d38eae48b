// Package all holds the one list of picket's built-in stages and
// detectors. Adding a detector means adding it here; nothing registers
// itself.
package all

import (
	"errors"
	"fmt"
	"slices"

	"picket/internal/detect"
	"picket/internal/detect/bruteforce"
	"picket/internal/detect/contact"
	"picket/internal/detect/portprobe"
	"picket/internal/detect/portscan"
	"picket/internal/detect/portsweep"
)

// Builder makes one detector.
type Builder struct {
	ID  string
	New func(detect.Env) (detect.Detector, error)
}

// Builders lists the built-in detectors in the order the engine runs them.
var Builders = []Builder{
	{portprobe.ID, func(e detect.Env) (detect.Detector, error) { return portprobe.New(e) }},
	{portscan.ID, func(e detect.Env) (detect.Detector, error) { return portscan.New(e) }},
	{portsweep.ID, func(e detect.Env) (detect.Detector, error) { return portsweep.New(e) }},
	{bruteforce.ID, func(e detect.Env) (detect.Detector, error) { return bruteforce.New(e) }},
}

// Options configures the built-in set.
type Options struct {
	Env detect.Env
	// Thresholds overrides thresholds, by detector ID then threshold name.
	Thresholds map[string]map[string]float64
	// Disabled lists detector IDs not to run.
	Disabled []string
	// Contact configures the contact stage.
	Contact contact.Config
	// Budget, when set, is the memory in bytes that the stage and the
	// detectors' keyed state may take together: half for the contact
	// stage, the rest shared by the detectors.
	Budget int64
}

// IDs returns the IDs of the built-in detectors.
func IDs() []string {
	out := make([]string, len(Builders))
	for i, b := range Builders {
		out[i] = b.ID
	}
	return out
}

// Build makes the stages and the enabled detectors. Every configuration
// problem is reported at once.
func Build(opt Options) ([]detect.Stage, []detect.Detector, error) {
	var errs []error
	known := map[string]bool{}
	for _, b := range Builders {
		if known[b.ID] {
			// A programming error in the list above.
			panic("detect/all: two detectors named " + b.ID)
		}
		known[b.ID] = true
	}
	for id := range opt.Thresholds {
		if !known[id] {
			errs = append(errs, fmt.Errorf("unknown detector %q (known: %v)", id, IDs()))
		}
	}
	for _, id := range opt.Disabled {
		if !known[id] {
			errs = append(errs, fmt.Errorf("cannot disable unknown detector %q (known: %v)", id, IDs()))
		}
	}
	var dets []detect.Detector
	enabled := 0
	for _, b := range Builders {
		if !slices.Contains(opt.Disabled, b.ID) {
			enabled++
		}
	}
	if opt.Budget > 0 {
		opt.Contact.Budget = opt.Budget / 2
		opt.Env.Budget = opt.Budget / 2 / int64(max(enabled, 1))
	}
	for _, b := range Builders {
		if slices.Contains(opt.Disabled, b.ID) {
			continue
		}
		env := opt.Env
		env.Thresholds = opt.Thresholds[b.ID]
		d, err := b.New(env)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		dets = append(dets, d)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	return []detect.Stage{contact.New(opt.Contact)}, dets, nil
}

// Definitions returns the definitions of every built-in detector with
// default settings, for listings and docs.
func Definitions() []detect.Definition {
	defs, err := DefinitionsWith(nil)
	if err != nil {
		panic("detect/all: default configuration is invalid: " + err.Error())
	}
	return defs
}

// DefinitionsWith returns the definitions with thresholds overridden.
func DefinitionsWith(thresholds map[string]map[string]float64) ([]detect.Definition, error) {
	_, dets, err := Build(Options{Env: detect.Env{DetectorID: func(string, string) string { return "" }}, Thresholds: thresholds})
	if err != nil {
		return nil, err
	}
	out := make([]detect.Definition, len(dets))
	for i, d := range dets {
		out[i] = d.Definition()
	}
	return out, nil
}
