// Package scenario owns the labelled scenario corpus and its runner: the
// evaluation of picket's network detectors. Each file
// testdata/*.txtar is one scenario: a seeded synth run (estate, background
// traffic, embedded attacks and benign activities) and the findings it
// must yield. The runner renders the run as flow log files, analyzes them
// with the whole pipeline (app.Analyze: source, decode, enrich, contact
// stage, detectors), in file order and again in shuffled per-interface
// order, and scores recall, false positives, the probes each attack made
// before its finding, and whether the two orders agree.
//
// The package is made of test files only: the runner drives app, which
// only cmd/picket may import from non-test code (meta_test.go), and a
// non-test package would need a row in the import table.
//
//	go test ./internal/scenario -run TestCorpus -v -report       # results table (markdown)
//	go test ./internal/scenario -run TestCorpus -scenario nmap-t0 # some scenarios only
//	go test ./internal/scenario -run 'TestZeek|TestCIC' -v        # real datasets
//
// The real-dataset tests read Zeek conn logs and CIC-IDS2017 samples from
// ../shared/datasets (or $PICKET_DATASETS) in place, and skip when the
// folder is absent.
package scenario

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/tools/txtar"

	"picket/internal/synth"
)

// A scenario file is a txtar archive. Its comment (the text before the
// first file) describes the scenario. Two files:
//
//	-- scenario --
//	seed: 7
//	start: 2026-03-04T10:00:00Z   (default: synth's default start)
//	duration: 40m
//	version: 5                     (flow log version, 2 to 11; default 5)
//	load: 1                        (background traffic scale; 0 for none)
//	noise: 1                       (internet background radiation scale)
//	estate: web=4 app=4 db=2 bastion=1 worker=3 windows=2
//	lateness: 15m                  (engine lateness; default the engine's)
//	attack: scan name=s from=internet target=bastion:0 ports=top:100 timing=T4 at=5m
//	allow: Recon:EC2/PortProbeUnprotectedPort resource=bastion:0
//	known-failure: why the detectors do not pass this one yet
//	known-unstable: why its findings differ between runs or orders
//	-- expect --
//	Recon:EC2/PortProbeUnprotectedPort resource=bastion:0 remote=attacker role=TARGET
//
// attack: lines use synth.ParseAttack's syntax and may be repeated; they
// embed attacks and benign activities alike. Each expect line is one
// finding: its type, then resource=, remote=, role= and optionally
// severity=Low|Medium|High and attack=NAME (the attack it is about; by default the one whose label has
// that type, or the only one). A resource is an estate reference (web:0,
// bastion:0), "label" (the attack label's resource) or an ID; a remote is
// an estate reference (its private address), "attacker" or "label" (the
// remote address of the attack's label; for a distributed scan, every
// source that reached an open port), "target" (any one of the hosts the
// attack contacted: a sweep's finding names the latest), an address, or
// "*". An expect file
// that says "none" declares a benign scenario: any finding fails it, and it
// may have no allow: lines. allow: lines (same form as expectations, every
// key optional) name findings the background may legitimately produce, such
// as the internet's background probing of an exposed SSH port; they are
// neither required nor counted as false positives.
//
// An attack scenario must run for the engine's lateness and three minutes
// past its last attack, so that the watermark passes the attack minute by
// minute as in a stream (else the end of the input flushes it in one
// report and every probe would count as needed); the runner checks it.
// Short scenarios set lateness: 5m (still well above the two minutes the
// shuffled order moves records by); long ones keep the default 15m.

// Scenario is one parsed scenario file.
type Scenario struct {
	File        string
	Name        string
	Description string
	Config      synth.Config
	Version     int
	Lateness    time.Duration // 0: the engine's default
	Attacks     []string
	Expect      []Pattern
	Allow       []Pattern
	Benign      bool
	// KnownFailure excuses every problem of the scenario; KnownUnstable
	// only findings that differ between runs or orders (missed findings
	// and false positives still fail it).
	KnownFailure  string
	KnownUnstable string
}

// Pattern is an expected or allowed finding. Empty fields match anything.
type Pattern struct {
	Text     string
	Type     string
	Resource string
	Remote   string
	Role     string
	Attack   string
	Severity string // Low, Medium or High
}

func (p Pattern) String() string { return p.Text }

// LoadDir parses every scenario in dir.
func LoadDir(dir string) ([]*Scenario, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.txtar"))
	if err != nil {
		return nil, err
	}
	var out []*Scenario
	for _, f := range files {
		s, err := Load(f)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Load parses one scenario file.
func Load(file string) (*Scenario, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	s, err := Parse(strings.TrimSuffix(filepath.Base(file), ".txtar"), b)
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", file, err)
	}
	s.File = file
	return s, nil
}

// Parse parses a scenario archive.
func Parse(name string, data []byte) (*Scenario, error) {
	a := txtar.Parse(data)
	s := &Scenario{Name: name, Description: strings.TrimSpace(string(a.Comment)), Config: synth.DefaultConfig, Version: 5}
	s.Config.Attacks = nil
	var haveScenario, haveExpect bool
	for _, f := range a.Files {
		switch f.Name {
		case "scenario":
			haveScenario = true
			if err := s.parseSettings(f.Data); err != nil {
				return nil, err
			}
		case "expect":
			haveExpect = true
			if err := s.parseExpect(f.Data); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("unknown section %q (scenario, expect)", f.Name)
		}
	}
	switch {
	case !haveScenario:
		return nil, fmt.Errorf("no scenario section")
	case !haveExpect:
		return nil, fmt.Errorf("no expect section (write \"none\" for a benign scenario)")
	case s.Benign && len(s.Allow) > 0:
		return nil, fmt.Errorf("a benign scenario may not allow findings")
	}
	return s, nil
}

// lines yields the meaningful lines of a section with their numbers,
// without comments (from " #") and surrounding space.
func lines(data []byte, fn func(n int, line string) error) error {
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := fn(n, line); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
	}
	return sc.Err()
}

func (s *Scenario) parseSettings(data []byte) error {
	cfg := &s.Config
	return lines(data, func(_ int, line string) error {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			return fmt.Errorf("%q is not key: value", line)
		}
		val = strings.TrimSpace(val)
		var err error
		switch strings.TrimSpace(key) {
		case "name":
			s.Name = val
		case "description":
			s.Description = val
		case "seed":
			cfg.Seed, err = strconv.ParseUint(val, 10, 64)
		case "start":
			cfg.Start, err = time.Parse(time.RFC3339, val)
		case "duration":
			cfg.Duration, err = time.ParseDuration(val)
		case "version":
			s.Version, err = strconv.Atoi(val)
		case "load":
			cfg.Load, err = strconv.ParseFloat(val, 64)
			if err == nil && cfg.Load == 0 {
				cfg.Load = 1e-9 // synth reads 0 as 1
			}
		case "noise":
			cfg.Noise, err = strconv.ParseFloat(val, 64)
		case "window":
			var w int
			w, err = strconv.Atoi(val)
			cfg.Window = int64(w)
		case "estate":
			err = parseEstate(&cfg.Estate, val)
		case "lateness":
			s.Lateness, err = time.ParseDuration(val)
		case "attack":
			var a synth.Attack
			if a, err = synth.ParseAttack(val); err == nil {
				s.Attacks = append(s.Attacks, val)
				cfg.Attacks = append(cfg.Attacks, a)
			}
		case "allow":
			var p Pattern
			if p, err = parsePattern(val, false); err == nil {
				s.Allow = append(s.Allow, p)
			}
		case "known-failure":
			s.KnownFailure = val
		case "known-unstable":
			s.KnownUnstable = val
		default:
			return fmt.Errorf("unknown setting %q", key)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		return nil
	})
}

func parseEstate(e *synth.EstateConfig, val string) error {
	for _, f := range strings.Fields(val) {
		k, v, ok := strings.Cut(f, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 0 {
			return fmt.Errorf("%q is not role=count", f)
		}
		switch k {
		case "web":
			e.Web = n
		case "app":
			e.App = n
		case "db":
			e.DB = n
		case "bastion":
			e.Bastion = n
		case "worker":
			e.Worker = n
		case "windows":
			e.Windows = n
		default:
			return fmt.Errorf("unknown role %q", k)
		}
	}
	return nil
}

func (s *Scenario) parseExpect(data []byte) error {
	return lines(data, func(_ int, line string) error {
		if line == "none" {
			s.Benign = true
			return nil
		}
		p, err := parsePattern(line, true)
		if err != nil {
			return err
		}
		s.Expect = append(s.Expect, p)
		if s.Benign {
			return fmt.Errorf("\"none\" and expected findings together")
		}
		return nil
	})
}

// parsePattern parses "TYPE key=value ...". An expectation needs a type
// and a resource.
func parsePattern(line string, expect bool) (Pattern, error) {
	p := Pattern{Text: line}
	for i, f := range strings.Fields(line) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			if i == 0 {
				p.Type = f
				continue
			}
			return p, fmt.Errorf("%q is not key=value", f)
		}
		switch k {
		case "type":
			p.Type = v
		case "resource":
			p.Resource = v
		case "remote":
			p.Remote = v
		case "role":
			if v != "TARGET" && v != "ACTOR" {
				return p, fmt.Errorf("role=%q: want TARGET or ACTOR", v)
			}
			p.Role = v
		case "attack":
			p.Attack = v
		case "severity":
			if v != "Low" && v != "Medium" && v != "High" {
				return p, fmt.Errorf("severity=%q: want Low, Medium or High", v)
			}
			p.Severity = v
		default:
			return p, fmt.Errorf("unknown key %q (resource, remote, role, attack, severity)", k)
		}
	}
	if expect && (p.Type == "" || p.Resource == "") {
		return p, fmt.Errorf("%q: an expected finding needs a type and resource=", line)
	}
	if p.Remote != "" && p.Remote != "*" && p.Remote != "attacker" && p.Remote != "label" && p.Remote != "target" {
		if _, err := netip.ParseAddr(p.Remote); err != nil && !strings.Contains(p.Remote, ":") {
			return p, fmt.Errorf("remote=%q: want an estate reference, an address, attacker, label or *", p.Remote)
		}
	}
	return p, nil
}
