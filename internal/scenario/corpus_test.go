package scenario

import (
	"cmp"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	report = flag.Bool("report", false, "print the corpus results as markdown tables")
	only   = flag.String("scenario", "", "run only the scenarios whose name contains this")
)

// TestCorpus runs every scenario of testdata/ and fails on a missed
// expected finding, a false positive, or findings that depend on the order
// of the records, unless the scenario is marked known-failure (then it
// must still fail, so that a fix is noticed and the mark removed).
func TestCorpus(t *testing.T) {
	scenarios, err := LoadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	if len(scenarios) == 0 {
		t.Fatal("no scenarios in testdata")
	}
	var (
		mu      sync.Mutex
		results []*Result
	)
	t.Run("scenarios", func(t *testing.T) {
		for _, s := range scenarios {
			if *only != "" && !strings.Contains(s.Name, *only) {
				continue
			}
			t.Run(s.Name, func(t *testing.T) {
				t.Parallel()
				r, err := Run(s, t.TempDir())
				if err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
				t.Logf("%s: %d records, %d findings, %v", s.Name, r.Records, len(r.Findings), r.Elapsed.Round(1e6))
				problems, unexpected := r.Problems(), r.Unexpected()
				mark := s.KnownFailure + s.KnownUnstable
				switch {
				case len(unexpected) > 0:
					t.Errorf("%s:\n%s", s.File, strings.Join(unexpected, "\n"))
				case len(problems) > 0:
					t.Logf("known problem (%s):\n%s", mark, strings.Join(problems, "\n"))
				case mark != "":
					// Not an error: unstable runs do not show in every run.
					t.Logf("%s passed this run: if it keeps passing, remove its known-failure or known-unstable line (%s)", s.File, mark)
				}
			})
		}
	})
	slices.SortFunc(results, func(a, b *Result) int { return cmp.Compare(a.Scenario.Name, b.Scenario.Name) })
	if *report {
		writeReport(os.Stdout, results)
	}
}

// writeReport prints the results table, the recall and false positives
// per finding type, and the known failures.
func writeReport(w io.Writer, results []*Result) {
	fmt.Fprintln(w, "| scenario | expected type | detected | probes to detect | false positives | order-independent | status |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	type tally struct {
		expected, detected, fps int
		probes                  []int
	}
	byType := map[string]*tally{}
	get := func(typ string) *tally {
		if byType[typ] == nil {
			byType[typ] = &tally{}
		}
		return byType[typ]
	}
	benign, benignQuiet := 0, 0
	for _, r := range results {
		s := r.Scenario
		status := "pass"
		switch {
		case len(r.Unexpected()) > 0:
			status = "FAIL"
		case len(r.Problems()) > 0 && s.KnownFailure != "":
			status = "known failure"
		case len(r.Problems()) > 0:
			status = "known unstable"
		case s.KnownFailure != "":
			status = "pass (marked known failure)"
		case s.KnownUnstable != "":
			status = "pass (marked known unstable)"
		}
		fps := "0"
		if n := len(r.FalsePositives); n > 0 {
			var types []string
			for _, f := range r.FalsePositives {
				types = append(types, shortType(f.Type)+" "+f.Resource)
				get(f.Type).fps++
			}
			fps = fmt.Sprintf("%d (%s)", n, strings.Join(types, "; "))
		}
		if len(r.Allowed) > 0 {
			fps += fmt.Sprintf(" +%d allowed", len(r.Allowed))
		}
		order := "yes"
		switch {
		case r.RepeatDiff != "" && r.OrderDiff != "":
			order = "**no** (and not repeatable)"
		case r.RepeatDiff != "":
			order = "yes, but **not repeatable**"
		case r.OrderDiff != "":
			order = "**no**"
		}
		if s.Benign {
			benign++
			if len(r.FalsePositives) == 0 {
				benignQuiet++
			}
			fmt.Fprintf(w, "| %s | none (benign) | - | - | %s | %s | %s |\n", s.Name, fps, order, status)
			continue
		}
		for i, c := range r.Expected {
			t := get(c.Pattern.Type)
			t.expected++
			det, probes := "**no**", "-"
			switch {
			case c.Detected && c.Label == nil:
				t.detected++
				det = "yes"
			case c.Detected:
				t.detected++
				det = "yes"
				probes = fmt.Sprintf("%d of %d (%s)", c.Probes, c.Total, c.Delay.Round(time.Second))
				t.probes = append(t.probes, c.Probes)
			}
			name, f := s.Name, fps
			if i > 0 {
				name, f = "〃", "〃"
			}
			fmt.Fprintf(w, "| %s | %s %s | %s | %s | %s | %s | %s |\n", name, shortType(c.Pattern.Type), c.Pattern.Role, det, probes, f, order, status)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| detector | finding type | expected | detected | recall | median probes to detect | false positives |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	var types []string
	for k := range byType {
		types = append(types, k)
	}
	slices.SortFunc(types, func(a, b string) int { return cmp.Or(cmp.Compare(detectorOf(a), detectorOf(b)), cmp.Compare(a, b)) })
	for _, k := range types {
		t := byType[k]
		recall, med := "-", "-"
		if t.expected > 0 {
			recall = fmt.Sprintf("%.0f%%", 100*float64(t.detected)/float64(t.expected))
		}
		if len(t.probes) > 0 {
			slices.Sort(t.probes)
			med = fmt.Sprint(t.probes[len(t.probes)/2])
		}
		fmt.Fprintf(w, "| %s | %s | %d | %d | %s | %s | %d |\n", detectorOf(k), k, t.expected, t.detected, recall, med, t.fps)
	}
	fmt.Fprintf(w, "\nbenign scenarios without findings: %d of %d\n", benignQuiet, benign)
	var failing []string
	for _, r := range results {
		if p := r.Problems(); len(p) > 0 {
			mark := "FAIL"
			switch {
			case len(r.Unexpected()) > 0:
			case r.Scenario.KnownFailure != "":
				mark = "known failure: " + r.Scenario.KnownFailure
			case r.Scenario.KnownUnstable != "":
				mark = "known unstable: " + r.Scenario.KnownUnstable
			}
			failing = append(failing, fmt.Sprintf("### %s (%s)\n\n%s\n\n```\n%s\n```", r.Scenario.Name, mark, r.Scenario.Description, strings.Join(p, "\n")))
		}
	}
	if len(failing) > 0 {
		fmt.Fprintf(w, "\n## Failing scenarios\n\n%s\n", strings.Join(failing, "\n\n"))
	}
}

// detectorOf names the detector that reports a finding type.
func detectorOf(typ string) string {
	switch {
	case strings.HasSuffix(typ, "BruteForce"):
		return "bruteforce"
	case strings.HasSuffix(typ, "/PortProbeUnprotectedPort"):
		return "portprobe"
	case strings.HasSuffix(typ, "/Portscan"):
		return "portscan"
	case strings.HasSuffix(typ, "/PortSweep"):
		return "portsweep"
	}
	return "?"
}

func shortType(t string) string {
	if i := strings.LastIndexByte(t, '/'); i >= 0 {
		return t[i+1:]
	}
	return t
}
