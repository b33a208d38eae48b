package all

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"picket/internal/detect"
	"picket/internal/finding"
)

var update = flag.Bool("update", false, "rewrite the generated sections of the detector docs")

func TestEveryDetectorIsWellFormed(t *testing.T) {
	_, dets, err := Build(Options{Env: detect.Env{DetectorID: finding.DetectorID}})
	if err != nil {
		t.Fatal(err)
	}
	for _, det := range dets {
		d := det.Definition()
		// A detector observes records, or the findings of the others.
		_, correlates := det.(detect.Correlator)
		if d.ID == "" || d.Summary == "" || (len(d.Subscribes) == 0 && !correlates) || len(d.FindingTypes) == 0 {
			t.Errorf("detector %q: incomplete definition %+v", d.ID, d)
		}
		for _, ty := range d.FindingTypes {
			if _, ok := finding.Lookup(ty); !ok {
				t.Errorf("detector %s raises %s, which the finding catalogue lacks", d.ID, ty)
			}
		}
		for _, th := range d.Thresholds {
			if th.Unit == "" || th.Doc == "" || th.Default < th.Min || th.Default > th.Max {
				t.Errorf("detector %s threshold %s: needs a unit, a doc and a default within [min, max]", d.ID, th.Name)
			}
		}
	}
}

func TestBuildReportsEveryProblem(t *testing.T) {
	_, _, err := Build(Options{
		Env:        detect.Env{DetectorID: finding.DetectorID},
		Thresholds: map[string]map[string]float64{"nope": {"x": 1}, "portprobe": {"min_probes": -1}},
		Disabled:   []string{"ghost"},
	})
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	for _, want := range []string{`unknown detector "nope"`, `unknown detector "ghost"`, "min_probes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// TestDetectorDocs checks that each detector has a page in docs/detectors
// whose thresholds table matches the definition; -update rewrites it.
func TestDetectorDocs(t *testing.T) {
	for _, d := range Definitions() {
		path := filepath.Join("..", "..", "..", "docs", "detectors", d.ID+".md")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("detector %s has no doc page: %v", d.ID, err)
			continue
		}
		doc := string(b)
		begin := strings.Index(doc, "<!-- thresholds:begin")
		end := strings.Index(doc, "<!-- thresholds:end -->")
		if begin < 0 || end < begin {
			t.Errorf("%s: no thresholds:begin/end markers", path)
			continue
		}
		begin += strings.Index(doc[begin:], "-->") + len("-->\n")
		want := thresholdTable(d)
		if doc[begin:end] == want {
			continue
		}
		if *update {
			if err := os.WriteFile(path, []byte(doc[:begin]+want+doc[end:]), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Errorf("%s: the thresholds table is out of date; run go test ./internal/detect/all -update", path)
	}
}

func thresholdTable(d detect.Definition) string {
	var b strings.Builder
	b.WriteString("| threshold | default | unit | range | what it controls |\n|---|---|---|---|---|\n")
	for _, th := range d.Thresholds {
		fmt.Fprintf(&b, "| `%s` | %g | %s | %g to %g | %s |\n", th.Name, th.Default, th.Unit, th.Min, th.Max, th.Doc)
	}
	for _, l := range d.Allowlists {
		def := "(empty)"
		if len(l.Default) > 0 {
			def = strings.Join(l.Default, ", ")
		}
		fmt.Fprintf(&b, "| `%s` | %s | list | names | %s |\n", l.Name, def, l.Doc)
	}
	return b.String()
}
