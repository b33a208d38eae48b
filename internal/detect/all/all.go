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
	"picket/internal/detect/consolelogin"
	"picket/internal/detect/contact"
	"picket/internal/detect/credexfil"
	"picket/internal/detect/dga"
	"picket/internal/detect/dnsexfil"
	"picket/internal/detect/dnsflow"
	"picket/internal/detect/dnsintel"
	"picket/internal/detect/enumeration"
	"picket/internal/detect/iamanomaly"
	"picket/internal/detect/ipcaller"
	"picket/internal/detect/pentest"
	"picket/internal/detect/portprobe"
	"picket/internal/detect/riskycall"
	"picket/internal/detect/rootusage"
	"picket/internal/detect/s3policy"
	"picket/internal/detect/scanner"
	"picket/internal/detect/sequence"
	"picket/internal/detect/tamper"
	"picket/internal/detect/threatlist"
	"picket/internal/detect/tor"
)

// Builder makes one detector: New, or Family when the detector shares
// its state with others.
type Builder struct {
	ID     string
	New    func(detect.Env) (detect.Detector, error)
	Family *Family
}

// Family makes detectors that share one state, each still known by its
// own ID, thresholds and findings, and disabled on its own. New gets the
// environments of the detectors named by IDs, in that order, nil for a
// disabled one, and returns their detectors in the same order, nil for a
// disabled one.
type Family struct {
	IDs []string
	New func([]*detect.Env) ([]detect.Detector, error)
}

// scanners are the port scan and port sweep detectors, over one tracker
// of the estate's hosts.
var scanners = &Family{
	IDs: []string{scanner.ScanID, scanner.SweepID},
	New: func(envs []*detect.Env) ([]detect.Detector, error) {
		scan, sweep, err := scanner.New(envs[0], envs[1])
		return []detect.Detector{scan, sweep}, err
	},
}

// Builders lists the built-in detectors in the order the engine runs them.
var Builders = []Builder{
	{ID: portprobe.ID, New: func(e detect.Env) (detect.Detector, error) { return portprobe.New(e) }},
	{ID: scanner.ScanID, Family: scanners},
	{ID: scanner.SweepID, Family: scanners},
	{ID: bruteforce.ID, New: func(e detect.Env) (detect.Detector, error) { return bruteforce.New(e) }},
	{ID: threatlist.ID, New: func(e detect.Env) (detect.Detector, error) { return threatlist.New(e) }},
	{ID: dnsexfil.ID, New: func(e detect.Env) (detect.Detector, error) { return dnsexfil.New(e) }},
	{ID: tor.ID, New: func(e detect.Env) (detect.Detector, error) { return tor.New(e) }},
	{ID: dnsintel.ID, New: func(e detect.Env) (detect.Detector, error) { return dnsintel.New(e) }},
	{ID: dga.ID, New: func(e detect.Env) (detect.Detector, error) { return dga.New(e) }},
	{ID: dnsflow.ID, New: func(e detect.Env) (detect.Detector, error) { return dnsflow.New(e) }},
	{ID: iamanomaly.ID, New: func(e detect.Env) (detect.Detector, error) { return iamanomaly.New(e) }},
	{ID: enumeration.ID, New: func(e detect.Env) (detect.Detector, error) { return enumeration.New(e) }},
	{ID: ipcaller.ID, New: func(e detect.Env) (detect.Detector, error) { return ipcaller.New(e) }},
	{ID: pentest.ID, New: func(e detect.Env) (detect.Detector, error) { return pentest.New(e) }},
	{ID: tamper.ID, New: func(e detect.Env) (detect.Detector, error) { return tamper.New(e) }},
	{ID: rootusage.ID, New: func(e detect.Env) (detect.Detector, error) { return rootusage.New(e) }},
	{ID: credexfil.ID, New: func(e detect.Env) (detect.Detector, error) { return credexfil.New(e) }},
	{ID: s3policy.ID, New: func(e detect.Env) (detect.Detector, error) { return s3policy.New(e) }},
	{ID: consolelogin.ID, New: func(e detect.Env) (detect.Detector, error) { return consolelogin.New(e) }},
	{ID: riskycall.ID, New: func(e detect.Env) (detect.Detector, error) { return riskycall.New(e) }},
	// The correlator of the others' findings (the engine advances it after
	// them, whatever its place here).
	{ID: sequence.ID, New: func(e detect.Env) (detect.Detector, error) { return sequence.New(e) }},
}

// apiCallDetectors are the detectors of CloudTrail API calls. They share
// an eighth of a memory budget: API calls name thousands of principals
// where flows name millions of addresses, and a flood of flows must not
// take their room, nor they the network detectors'.
var apiCallDetectors = map[string]bool{
	iamanomaly.ID: true, enumeration.ID: true, ipcaller.ID: true, pentest.ID: true,
	tamper.ID: true, rootusage.ID: true, credexfil.ID: true,
	s3policy.ID: true, consolelogin.ID: true, riskycall.ID: true, sequence.ID: true,
}

// Options configures the built-in set.
type Options struct {
	Env detect.Env
	// Thresholds overrides thresholds, by detector ID then threshold name.
	Thresholds map[string]map[string]float64
	// Allowlists overrides allowlists, by detector ID then list name.
	Allowlists map[string]map[string][]string
	// Disabled lists detector IDs not to run.
	Disabled []string
	// Contact configures the contact stage.
	Contact contact.Config
	// Budget, when set, is the memory in bytes that the stage and the
	// detectors' keyed state may take together: an eighth shared by the
	// detectors of API calls (when any runs), of the rest half for the
	// contact stage and half shared by the network detectors.
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
	for id := range opt.Allowlists {
		if !known[id] {
			errs = append(errs, fmt.Errorf("allowlist of unknown detector %q (known: %v)", id, IDs()))
		}
	}
	for _, id := range opt.Disabled {
		if !known[id] {
			errs = append(errs, fmt.Errorf("cannot disable unknown detector %q (known: %v)", id, IDs()))
		}
	}
	var dets []detect.Detector
	apiEnabled, networkWeight := 0, 0
	for _, b := range Builders {
		if !slices.Contains(opt.Disabled, b.ID) {
			if apiCallDetectors[b.ID] {
				apiEnabled++
			} else {
				networkWeight += budgetWeight(b.ID)
			}
		}
	}
	var apiBudget, network int64
	if opt.Budget > 0 {
		network = opt.Budget
		if apiEnabled > 0 {
			apiBudget = opt.Budget / 8 / int64(apiEnabled)
			network -= opt.Budget / 8
		}
		opt.Contact.Budget = network / 2
	}
	envs := map[string]*detect.Env{}
	for _, b := range Builders {
		if slices.Contains(opt.Disabled, b.ID) {
			continue
		}
		env := opt.Env
		switch {
		case opt.Budget <= 0:
		case apiCallDetectors[b.ID]:
			env.Budget = apiBudget
		default:
			// The network detectors share half of their part by weight.
			env.Budget = network / 2 * int64(budgetWeight(b.ID)) / int64(max(networkWeight, 1))
		}
		env.Thresholds = opt.Thresholds[b.ID]
		env.Allowlists = opt.Allowlists[b.ID]
		envs[b.ID] = &env
	}
	family := map[string]detect.Detector{} // the detectors of the families built so far
	for _, b := range Builders {
		env := envs[b.ID]
		if env == nil {
			continue
		}
		if b.Family == nil {
			d, err := b.New(*env)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			dets = append(dets, d)
			continue
		}
		if _, built := family[b.ID]; !built {
			fenvs := make([]*detect.Env, len(b.Family.IDs))
			for i, id := range b.Family.IDs {
				fenvs[i] = envs[id]
			}
			ds, err := b.Family.New(fenvs)
			if err != nil {
				errs = append(errs, err)
			}
			for i, id := range b.Family.IDs {
				family[id] = nil
				if err == nil {
					family[id] = ds[i]
				}
			}
		}
		if d := family[b.ID]; d != nil {
			dets = append(dets, d)
		}
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

// budgetWeight is a network detector's share of the memory budget,
// relative to the others: the port probe detector keeps a table of every
// internet host that probes the estate and the sketch that resists
// floods of them, while the others track the estate's own hosts.
func budgetWeight(id string) int {
	if id == portprobe.ID {
		return 6
	}
	return 1
}
