package export

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"

	"picket/internal/finding"
)

// RuleLine renders a rule verdict in one line: "TCP 22 from
// 203.0.113.9: admitted: sg-0abc (web) admits TCP 22 from 203.0.113.9
// (rule tcp 22-22 0.0.0.0/0); network ACL acl-0def entry 100 allows it".
func RuleLine(r finding.RuleVerdict) string {
	var b strings.Builder
	b.WriteString(r.Protocol)
	if r.Port != 0 {
		b.WriteString(" " + strconv.Itoa(r.Port))
	}
	b.WriteString(" from " + r.Remote + ": ")
	switch {
	case r.Admitted:
		b.WriteString("admitted")
	case r.BlockedBy != "":
		b.WriteString("blocked by the " + strings.ReplaceAll(r.BlockedBy, "-", " "))
	}
	if !r.Known {
		b.WriteString(" (not settled: the inventory lacks part of the rules)")
	}
	switch {
	case r.Reason != "":
		b.WriteString(": " + r.Reason)
	case r.GroupID != "":
		b.WriteString(": " + r.GroupID + " " + r.Rule)
	}
	if r.Reason == "" && r.ACLID != "" {
		b.WriteString("; network ACL " + r.ACLID + " entry " + aclRule(r.ACLRule))
	}
	return b.String()
}

func aclRule(n int) string {
	if n == 32767 {
		return "*"
	}
	return strconv.Itoa(n)
}

// WriteExplanation writes everything picket knows of one finding, for
// people: what it is, the resource, the path the traffic took, the rules
// that admitted or blocked it, the thresholds crossed, the evidence, and
// the commands that would stop it (which picket never runs).
func WriteExplanation(w io.Writer, f *finding.Finding) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "%s\n%s  %s %s  count %d\n", f.Title, f.Type, f.Severity.Label(), sevNumber(f.Severity), f.Service.Count)
	fmt.Fprintf(bw, "id %s\naccount %s  region %s  %s to %s\n", f.ID, f.AccountID, f.Region,
		f.Service.EventFirstSeen.Format("2006-01-02 15:04:05"), f.Service.EventLastSeen.Format("2006-01-02 15:04:05"))
	fmt.Fprintf(bw, "\n%s\n", f.Description)
	var e finding.Explanation
	if ai := f.Service.AdditionalInfo; ai != nil && ai.Explanation != nil {
		e = *ai.Explanation
	}
	section := func(name string) { fmt.Fprintf(bw, "\n%s\n", name) }
	if e.Summary != "" {
		section("What was seen")
		fmt.Fprintf(bw, "  %s\n", e.Summary)
	}
	section("Resource")
	if e.Resource != "" {
		fmt.Fprintf(bw, "  %s\n", e.Resource)
	} else {
		fmt.Fprintf(bw, "  %s\n", resource(f))
	}
	if e.Inventory != "" {
		fmt.Fprintf(bw, "  (inventory snapshot: %s)\n", e.Inventory)
	} else {
		fmt.Fprintf(bw, "  (no inventory: only what the logs say; give one with --inventory)\n")
	}
	if len(e.NetworkPath) > 0 {
		section("Path")
		for i, p := range e.NetworkPath {
			fmt.Fprintf(bw, "  %d. %s\n", i+1, p)
		}
	}
	if len(e.Rules) > 0 {
		section("Security groups and network ACL")
		for _, r := range e.Rules {
			fmt.Fprintf(bw, "  %s\n", RuleLine(r))
		}
	}
	if e.RatedDown != "" {
		section("Rated down")
		fmt.Fprintf(bw, "  %s\n", e.RatedDown)
	}
	if len(e.Thresholds) > 0 {
		section("Thresholds")
		for _, t := range e.Thresholds {
			mark := "not crossed"
			if t.Crossed {
				mark = "crossed"
			}
			fmt.Fprintf(bw, "  %-28s observed %g, limit %g %s (%s)\n", t.Name, t.Observed, t.Limit, t.Unit, mark)
		}
	}
	if len(e.Samples) > 0 {
		section("Evidence")
		for _, s := range e.Samples {
			fmt.Fprintf(bw, "  %s  %s  %s\n", s.Origin, s.Time, s.Record)
		}
	}
	if len(e.Remediation) > 0 {
		section("Remediation (commands to review and run yourself; picket never runs them)")
		for _, r := range e.Remediation {
			fmt.Fprintf(bw, "  # %s\n  %s\n", r.Why, r.Command)
		}
	}
	return bw.Flush()
}
