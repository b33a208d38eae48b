package all

import (
	"slices"
	"testing"

	"picket/internal/detect"
	"picket/internal/finding"
)

// The port scan and port sweep detectors share one tracker: the engine
// reports its table once, under the first of the two that runs, and each
// may still be disabled on its own.
func TestScannersShareOneTable(t *testing.T) {
	for _, tt := range []struct {
		disabled []string
		owner    string // the detector that reports the table
		run      []string
	}{
		{nil, "portscan", []string{"portscan", "portsweep"}},
		{[]string{"portscan"}, "portsweep", []string{"portsweep"}},
		{[]string{"portsweep"}, "portscan", []string{"portscan"}},
	} {
		stages, dets, err := Build(Options{Env: detect.Env{DetectorID: finding.DetectorID}, Disabled: tt.disabled})
		if err != nil {
			t.Fatal(err)
		}
		eng, err := detect.NewEngine(stages, dets, detect.DefaultConfig, func(*finding.Finding) {})
		if err != nil {
			t.Fatal(err)
		}
		var run []string
		for _, d := range dets {
			if id := d.Definition().ID; id == "portscan" || id == "portsweep" {
				run = append(run, id)
			}
		}
		if !slices.Equal(run, tt.run) {
			t.Errorf("disabled %v: running %v, want %v", tt.disabled, run, tt.run)
		}
		var tables []string
		for id, st := range eng.State() {
			if id == "portscan" || id == "portsweep" {
				for _, s := range st {
					tables = append(tables, id+" "+s.Table)
				}
			}
		}
		if want := []string{tt.owner + " hosts"}; !slices.Equal(tables, want) {
			t.Errorf("disabled %v: tables %v, want %v", tt.disabled, tables, want)
		}
	}
}

// A tracker setting given to one of the two holds for both, and one given
// differently to each is a configuration error.
func TestScannerSettingsAreShared(t *testing.T) {
	defs, err := DefinitionsWith(map[string]map[string]float64{"portscan": {"max_hosts": 1000}})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range defs {
		if d.ID != "portscan" && d.ID != "portsweep" {
			continue
		}
		if v := detect.Tunables(d.Thresholds).Get("max_hosts"); v != 1000 {
			t.Errorf("%s.max_hosts = %g, want 1000", d.ID, v)
		}
	}
	_, err = DefinitionsWith(map[string]map[string]float64{"portscan": {"host_ttl": 600}, "portsweep": {"host_ttl": 900}})
	if err == nil {
		t.Error("different host_ttl for portscan and portsweep accepted")
	}
}
