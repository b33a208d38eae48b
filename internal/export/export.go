// Package export owns the ways findings leave picket other than the API:
// the table a person reads, JSON in the shape GetFindings returns, JSON
// lines for log shippers, and later OCSF, ASFF, EventBridge-shaped events,
// webhooks and syslog. It reads findings and never changes them.
package export

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"picket/internal/finding"
)

// Format is an output format.
type Format string

// The formats.
const (
	Table Format = "table"
	JSON  Format = "json"
	JSONL Format = "jsonl"
)

// ParseFormat checks a format name.
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case Table, JSON, JSONL:
		return Format(s), nil
	}
	return "", fmt.Errorf("unknown output format %q (table, json, jsonl)", s)
}

// Write renders findings in format f.
func Write(w io.Writer, f Format, findings []*finding.Finding) error {
	switch f {
	case JSON:
		return WriteJSON(w, findings)
	case JSONL:
		return WriteJSONL(w, findings)
	}
	return WriteTable(w, findings)
}

// WriteJSON writes {"findings":[...]}, the body GetFindings returns,
// indented for reading.
func WriteJSON(w io.Writer, findings []*finding.Finding) error {
	if findings == nil {
		findings = []*finding.Finding{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(struct {
		Findings []*finding.Finding `json:"findings"`
	}{findings})
}

// WriteJSONL writes one finding per line.
func WriteJSONL(w io.Writer, findings []*finding.Finding) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, f := range findings {
		if err := enc.Encode(f); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// WriteTable writes a summary table and, for each finding, why it was
// raised: the thresholds crossed, the counts, the network path and
// samples of the evidence records.
func WriteTable(w io.Writer, findings []*finding.Finding) error {
	bw := bufio.NewWriter(w)
	if len(findings) == 0 {
		fmt.Fprintln(bw, "No findings.")
		return bw.Flush()
	}
	tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tSEVERITY\tTYPE\tRESOURCE\tREMOTE\tCOUNT\tFIRST SEEN\tLAST SEEN")
	for i, f := range findings {
		fmt.Fprintf(tw, "%d\t%s %s\t%s\t%s\t%s\t%d\t%s\t%s\n", i+1,
			f.Severity.Label(), sevNumber(f.Severity), f.Type, resource(f), remote(f), f.Service.Count,
			f.Service.EventFirstSeen.Format("2006-01-02 15:04:05"), f.Service.EventLastSeen.Format("2006-01-02 15:04:05"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for i, f := range findings {
		fmt.Fprintf(bw, "\n[%d] %s\n", i+1, f.Title)
		fmt.Fprintf(bw, "    %s\n", f.Description)
		fmt.Fprintf(bw, "    id %s\n", f.ID)
		writeDetails(bw, f)
		if f.Service.AdditionalInfo == nil || f.Service.AdditionalInfo.Explanation == nil {
			continue
		}
		e := f.Service.AdditionalInfo.Explanation
		if e.Summary != "" {
			fmt.Fprintf(bw, "    why: %s\n", e.Summary)
		}
		for _, t := range e.Thresholds {
			mark := "not crossed"
			if t.Crossed {
				mark = "crossed"
			}
			fmt.Fprintf(bw, "      %-28s observed %g, limit %g %s (%s)\n", t.Name, t.Observed, t.Limit, t.Unit, mark)
		}
		if len(e.Counts) > 0 {
			fmt.Fprintf(bw, "    counts: %s\n", counts(e.Counts))
		}
		if len(e.Ports) > 0 {
			fmt.Fprintf(bw, "    ports: %s\n", ints(e.Ports, 30))
		}
		if len(e.Hosts) > 0 {
			fmt.Fprintf(bw, "    hosts: %s\n", strs(e.Hosts, 10))
		}
		if e.Resource != "" {
			fmt.Fprintf(bw, "    resource: %s\n", e.Resource)
		}
		for _, p := range e.NetworkPath {
			fmt.Fprintf(bw, "    path: %s\n", p)
		}
		for _, r := range e.Rules {
			fmt.Fprintf(bw, "    rules: %s\n", RuleLine(r))
		}
		if e.RatedDown != "" {
			fmt.Fprintf(bw, "    rated down: %s\n", e.RatedDown)
		}
		switch n := len(e.Remediation); n {
		case 0:
		case 1:
			fmt.Fprintf(bw, "    remediation: 1 command (picket explain %s)\n", f.ID)
		default:
			fmt.Fprintf(bw, "    remediation: %d commands (picket explain %s)\n", n, f.ID)
		}
		for _, u := range e.Unusual {
			fmt.Fprintf(bw, "    unusual: %s\n", u)
		}
		for _, l := range []struct {
			name string
			c    []finding.Count
		}{{"apis", e.APICalls}, {"errors", e.ErrorCodes}, {"regions", e.Regions}, {"user agents", e.UserAgents}, {"sources", e.Sources}} {
			if len(l.c) > 0 {
				fmt.Fprintf(bw, "    %s: %s\n", l.name, countList(l.c, 8))
			}
		}
		if f.Service.Evidence != nil {
			for _, t := range f.Service.Evidence.ThreatIntelligenceDetails {
				fmt.Fprintf(bw, "    threat list: %s %s\n", t.ThreatListName, strings.Join(t.ThreatNames, ", "))
			}
		}
		for _, s := range e.Samples {
			fmt.Fprintf(bw, "    evidence: %s  %s\n", s.Origin, s.Record)
		}
	}
	return bw.Flush()
}

// countList renders the first n names with their counts: "ListBuckets
// x12, GetObject x3 (+4 more)".
func countList(c []finding.Count, n int) string {
	parts := make([]string, 0, min(n, len(c)))
	for _, x := range c[:min(n, len(c))] {
		parts = append(parts, x.Name+" x"+strconv.FormatInt(x.Count, 10))
	}
	s := strings.Join(parts, ", ")
	if len(c) > n {
		s += " (+" + strconv.Itoa(len(c)-n) + " more)"
	}
	return s
}

func writeDetails(w io.Writer, f *finding.Finding) {
	a := f.Service.Action
	switch {
	case a.PortProbeAction != nil:
		n := len(a.PortProbeAction.PortProbeDetails)
		fmt.Fprintf(w, "    port probes: %d distinct (local port, remote) pairs, blocked=%t\n", n, a.PortProbeAction.Blocked)
	case a.NetworkConnectionAction != nil:
		c := a.NetworkConnectionAction
		fmt.Fprintf(w, "    connection: %s %s, blocked=%t\n", c.ConnectionDirection, c.Protocol, c.Blocked)
	}
}

func sevNumber(s finding.Severity) string {
	b, _ := s.MarshalJSON()
	return string(b)
}

func resource(f *finding.Finding) string {
	r := f.Resource
	switch {
	case r.InstanceDetails != nil:
		d := r.InstanceDetails
		id := d.InstanceID
		if len(d.NetworkInterfaces) > 0 {
			ni := d.NetworkInterfaces[0]
			if id == "" {
				id = ni.NetworkInterfaceID
			} else if ni.NetworkInterfaceID != "" {
				id += " (" + ni.NetworkInterfaceID + ")"
			}
		}
		return id
	case r.AccessKeyDetails != nil:
		k := r.AccessKeyDetails
		if k.UserName != "" {
			return k.UserType + " " + k.UserName
		}
		return k.AccessKeyID
	}
	return r.ResourceType
}

func remote(f *finding.Finding) string {
	a := f.Service.Action
	ip := func(r *finding.RemoteIPDetails) string {
		if r == nil {
			return ""
		}
		if r.IPAddressV4 != "" {
			return r.IPAddressV4
		}
		return r.IPAddressV6
	}
	switch {
	case a.PortProbeAction != nil:
		seen := map[string]bool{}
		var first string
		for _, d := range a.PortProbeAction.PortProbeDetails {
			s := ip(d.RemoteIPDetails)
			if !seen[s] {
				if first == "" {
					first = s
				}
				seen[s] = true
			}
		}
		if len(seen) > 1 {
			return fmt.Sprintf("%s +%d", first, len(seen)-1)
		}
		return first
	case a.NetworkConnectionAction != nil:
		return ip(a.NetworkConnectionAction.RemoteIPDetails)
	case a.AwsAPICallAction != nil:
		return ip(a.AwsAPICallAction.RemoteIPDetails)
	case a.DNSRequestAction != nil:
		return a.DNSRequestAction.Domain
	}
	return ""
}

func counts(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

func ints(v []int, max int) string {
	parts := make([]string, 0, len(v))
	for i, x := range v {
		if i == max {
			parts = append(parts, fmt.Sprintf("... (%d in all)", len(v)))
			break
		}
		parts = append(parts, fmt.Sprint(x))
	}
	return strings.Join(parts, ", ")
}

func strs(v []string, max int) string {
	if len(v) > max {
		return strings.Join(v[:max], ", ") + fmt.Sprintf(", ... (%d in all)", len(v))
	}
	return strings.Join(v, ", ")
}
