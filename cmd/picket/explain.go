package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"picket/internal/explain"
	"picket/internal/export"
	"picket/internal/finding"
	"picket/internal/inventory"
)

// cmdExplain prints everything known of one finding.
func cmdExplain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("findings", "-", "findings to look in: the output of picket analyze -o json or -o jsonl, or of aws guardduty get-findings; - for stdin")
	invDir := fs.String("inventory", "", "folder of AWS describe outputs to explain the finding with (its resource, path, rules and remediation), in place of what the finding carries")
	asJSON := fs.Bool("json", false, "print the finding as JSON, as GetFindings returns it, rather than for people")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: picket explain [flags] FINDING_ID\n\nPrints what a finding is, the resource, the path the traffic took and why its addresses look\nas they do, the security group and network ACL rules that admitted or blocked it, the\nthresholds crossed, the evidence, and the commands that would stop it (never run by picket).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	ids, err := parse(fs, args)
	if err != nil {
		return usageError(stderr, fs, err)
	}
	if len(ids) != 1 {
		return usageError(stderr, fs, errors.New("give one finding ID"))
	}
	r := stdin
	if *from != "-" {
		f, err := os.Open(*from)
		if err != nil {
			fmt.Fprintf(stderr, "picket explain: %v\n", err)
			return 1
		}
		defer f.Close()
		r = f
	}
	findings, err := readFindings(r)
	if err != nil {
		fmt.Fprintf(stderr, "picket explain: reading findings from %s: %v\n", *from, err)
		return 1
	}
	var f *finding.Finding
	for _, x := range findings {
		if x.ID == ids[0] {
			f = x
			break
		}
	}
	if f == nil {
		fmt.Fprintf(stderr, "picket explain: no finding %s among the %d in %s\n", ids[0], len(findings), *from)
		return 1
	}
	if *invDir != "" {
		inv, err := loadInventory(*invDir, stderr, false)
		if err != nil {
			fmt.Fprintf(stderr, "picket explain: %v\n", err)
			return 1
		}
		a := &explain.Annotator{Inventory: func() *inventory.Inventory { return inv }}
		a.Annotate(f)
	}
	if *asJSON {
		err = export.WriteJSON(stdout, []*finding.Finding{f})
	} else {
		err = export.WriteExplanation(stdout, f)
	}
	if err != nil {
		fmt.Fprintf(stderr, "picket explain: %v\n", err)
		return 1
	}
	return 0
}

// readFindings reads {"findings":[...]} (one document) or one finding
// per line.
func readFindings(r io.Reader) ([]*finding.Finding, error) {
	data, err := io.ReadAll(bufio.NewReader(r))
	if err != nil {
		return nil, err
	}
	trimmed := bytes.TrimSpace(data)
	var doc struct {
		Findings []*finding.Finding `json:"findings"`
		Upper    []*finding.Finding `json:"Findings"`
	}
	if len(trimmed) > 0 && trimmed[0] == '{' {
		if err := json.Unmarshal(trimmed, &doc); err == nil && (doc.Findings != nil || doc.Upper != nil) {
			return append(doc.Findings, doc.Upper...), nil
		}
	}
	var out []*finding.Finding
	for i, line := range bytes.Split(trimmed, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		f := new(finding.Finding)
		if err := json.Unmarshal(line, f); err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		out = append(out, f)
	}
	return out, nil
}

// loadInventory reads an inventory folder, or returns nil for "". It
// reports what it read, and the entities it skipped, on stderr.
func loadInventory(dir string, stderr io.Writer, quiet bool) (*inventory.Inventory, error) {
	if dir == "" {
		return nil, nil
	}
	inv, rep, err := inventory.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	if !quiet && rep != nil {
		kinds := make([]string, 0, len(rep.Counts))
		for k, n := range rep.Counts {
			kinds = append(kinds, fmt.Sprintf("%d %s", n, strings.ReplaceAll(k, "_", " ")))
		}
		sort.Strings(kinds)
		fmt.Fprintf(stderr, "picket: inventory %s: %d files, %d snapshots: %s", dir, rep.Files, len(inv.Snapshots()), strings.Join(kinds, ", "))
		if rep.Skipped > 0 {
			fmt.Fprintf(stderr, "; %d skipped", rep.Skipped)
		}
		fmt.Fprintln(stderr)
		for _, p := range rep.Problems {
			fmt.Fprintf(stderr, "  inventory: %v\n", p)
		}
	}
	return inv, nil
}
