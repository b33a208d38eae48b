package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"picket/internal/detect/all"
)

func cmdDetectors(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("detectors", flag.ContinueOnError)
	fs.SetOutput(stderr)
	thresholds := thresholdFlags{}
	fs.Var(thresholds, "set", "show the settings with this override, as DETECTOR.THRESHOLD=VALUE (repeatable)")
	if _, err := parse(fs, args); err != nil {
		return usageError(stderr, fs, err)
	}
	defs, err := all.DefinitionsWith(thresholds)
	if err != nil {
		fmt.Fprintf(stderr, "picket detectors: %v\n", err)
		return 2
	}
	for i, d := range defs {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		fmt.Fprintf(stdout, "%s: %s\n", d.ID, d.Summary)
		fmt.Fprintf(stdout, "  finding types: %s\n", strings.Join(d.FindingTypes, ", "))
		subs := make([]string, len(d.Subscribes))
		for i, k := range d.Subscribes {
			subs[i] = k.String()
		}
		fmt.Fprintf(stdout, "  observes: %s\n", strings.Join(subs, ", "))
		for _, t := range d.Thresholds {
			mark := ""
			if t.Value != t.Default {
				mark = fmt.Sprintf(" (default %g)", t.Default)
			}
			fmt.Fprintf(stdout, "  %s.%s = %g %s%s\n      %s\n", d.ID, t.Name, t.Value, t.Unit, mark, t.Doc)
		}
		for _, l := range d.Allowlists {
			fmt.Fprintf(stdout, "  %s.%s = [%s] (allowlist; --allow %s.%s=NAME,...)\n      %s\n", d.ID, l.Name, strings.Join(l.Value, ", "), d.ID, l.Name, l.Doc)
		}
	}
	return 0
}
