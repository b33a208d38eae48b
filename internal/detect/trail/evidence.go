package trail

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"picket/internal/event"
	"picket/internal/finding"
)

// Bounds of the evidence a finding carries.
const (
	// MaxNames is how many distinct names a Tally keeps; later ones are
	// counted in Other.
	MaxNames = 64
	// MaxSamples is how many sample events Evidence keeps.
	MaxSamples = 5
	// maxAgent is how much of a user agent a sample quotes.
	maxAgent = 80
)

// Tally counts how often each of a bounded number of names was seen. Its
// fields are exported for saving state.
type Tally struct {
	Names  []string
	Counts []int64
	Other  int64 // occurrences of names beyond MaxNames
}

// Add counts one occurrence of name ("" is not counted).
func (t *Tally) Add(name string) { t.AddN(name, 1) }

// AddN counts n occurrences of name.
func (t *Tally) AddN(name string, n int64) {
	if name == "" {
		return
	}
	if i := slices.Index(t.Names, name); i >= 0 {
		t.Counts[i] += n
		return
	}
	if len(t.Names) >= MaxNames {
		t.Other += n
		return
	}
	t.Names = append(t.Names, name)
	t.Counts = append(t.Counts, n)
}

// Len returns the number of distinct names kept.
func (t *Tally) Len() int { return len(t.Names) }

// Has reports whether name was counted.
func (t *Tally) Has(name string) bool { return slices.Contains(t.Names, name) }

// Sorted returns the names with their counts, most frequent first, then
// by name.
func (t *Tally) Sorted() []finding.Count {
	if len(t.Names) == 0 {
		return nil
	}
	out := make([]finding.Count, len(t.Names))
	for i, n := range t.Names {
		out[i] = finding.Count{Name: n, Count: t.Counts[i]}
	}
	slices.SortFunc(out, func(a, b finding.Count) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return out
}

// Top returns up to n names, most frequent first.
func (t *Tally) Top(n int) []string {
	s := t.Sorted()
	out := make([]string, 0, min(n, len(s)))
	for _, c := range s[:min(n, len(s))] {
		out = append(out, c.Name)
	}
	return out
}

// Evidence accumulates what a finding says about the calls behind it:
// how many, which APIs, error codes, regions, user agents and sources,
// and a few sample events. Its fields are exported for saving state.
type Evidence struct {
	Calls   int64
	Failed  int64
	First   event.Time
	Last    event.Time
	APIs    Tally // "service:API"
	Errors  Tally
	Regions Tally
	Agents  Tally
	Sources Tally // addresses, or the AWS services that called
	Samples []finding.Sample
}

// Add counts a call.
func (e *Evidence) Add(c *event.APICall) { e.AddN(c, 1) }

// AddN counts n calls like c (one sample).
func (e *Evidence) AddN(c *event.APICall, n int64) {
	if e.Calls == 0 || c.EventTime < e.First {
		e.First = c.EventTime
	}
	e.Last = max(e.Last, c.EventTime)
	e.Calls += n
	if c.Failed() {
		e.Failed += n
		e.Errors.AddN(c.ErrorCode.String(), n)
	}
	e.APIs.AddN(APIName(c), n)
	e.Regions.AddN(c.Region.String(), n)
	e.Agents.AddN(c.UserAgent.String(), n)
	e.Sources.AddN(SourceName(c), n)
	if len(e.Samples) < MaxSamples {
		e.Samples = append(e.Samples, Sample(c))
	}
}

// Explain puts the evidence into an explanation: the tallies, the counts
// of calls and failures, and the samples.
func (e *Evidence) Explain(exp *finding.Explanation) {
	if exp.Counts == nil {
		exp.Counts = map[string]int64{}
	}
	exp.Counts["api_calls"] = e.Calls
	exp.Counts["failed_calls"] = e.Failed
	exp.Counts["distinct_apis"] = int64(e.APIs.Len()) + min(e.APIs.Other, 1)
	exp.APICalls = e.APIs.Sorted()
	exp.ErrorCodes = e.Errors.Sorted()
	exp.Regions = e.Regions.Sorted()
	exp.UserAgents = e.Agents.Sorted()
	exp.Sources = e.Sources.Sorted()
	exp.Samples = append(exp.Samples, e.Samples...)
}

// APIName returns "service:API" for a call, as IAM policies name it:
// "ec2:DescribeInstances".
func APIName(c *event.APICall) string {
	return Service(c) + ":" + c.EventName.String()
}

// SourceName returns where a call came from: the address, or the AWS
// service that made it.
func SourceName(c *event.APICall) string {
	if c.SourceIP.IsValid() {
		return c.SourceIP.String()
	}
	return c.SourceService.String()
}

// Sample returns a call as an evidence sample: file:line, time and a
// one-line account of the call.
func Sample(c *event.APICall) finding.Sample {
	return finding.Sample{Origin: c.Origin.String(), Time: c.EventTime.String(), Record: Describe(c)}
}

// Describe summarizes a call in one line: "IAM user alice called
// ec2:DescribeInstances in eu-west-1 from 203.0.113.5 (AS64496 EXAMPLE,
// DE) with aws-cli/2.15.0 ...: AccessDenied".
func Describe(c *event.APICall) string {
	var b strings.Builder
	b.WriteString(Label(c))
	b.WriteString(" called ")
	b.WriteString(APIName(c))
	if !c.Region.IsZero() {
		b.WriteString(" in ")
		b.WriteString(c.Region.String())
	}
	if src := SourceName(c); src != "" {
		b.WriteString(" from ")
		b.WriteString(src)
		if where := Where(&c.SourceInfo); where != "" {
			b.WriteString(" (" + where + ")")
		}
	}
	if !c.VPCEndpointID.IsZero() {
		b.WriteString(" through " + c.VPCEndpointID.String())
	}
	if ua := c.UserAgent.String(); ua != "" {
		if len(ua) > maxAgent {
			ua = ua[:maxAgent] + "..."
		}
		b.WriteString(" with " + ua)
	}
	if c.Failed() {
		b.WriteString(": " + c.ErrorCode.String())
	}
	return b.String()
}

// Where describes what enrichment knows of an address: "AS64496
// EXAMPLE-VPS, DE", "AWS EC2 us-east-1", or "" when nothing.
func Where(i *event.IPInfo) string {
	var parts []string
	if i.ASN != 0 {
		as := "AS" + strconv.FormatUint(uint64(i.ASN), 10)
		if !i.ASOrg.IsZero() {
			as += " " + i.ASOrg.String()
		}
		parts = append(parts, as)
	}
	if !i.CountryCode.IsZero() {
		parts = append(parts, i.CountryCode.String())
	}
	switch i.AWS {
	case event.TriTrue:
		aws := "inside AWS"
		if !i.AWSService.IsZero() {
			aws += " (" + i.AWSService.String() + " " + i.AWSRegion.String() + ")"
		}
		parts = append(parts, aws)
	case event.TriFalse:
		parts = append(parts, "outside AWS")
	}
	return strings.Join(parts, ", ")
}
