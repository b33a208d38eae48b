package finding

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Explanation is picket's account of why a finding exists. It travels in
// service.additionalInfo (a JSON string on the wire, so the keys below are
// picket's own and every GuardDuty consumer still parses the finding), and
// the table output prints it.
type Explanation struct {
	// Detector is the ID of the detector that raised the finding.
	Detector string `json:"detector"`
	// Summary says in one sentence what was seen. For an API-call
	// finding it is written by Render from Lead and Activity, so that it
	// covers every occurrence the finding counts.
	Summary string `json:"summary,omitempty"`
	// Lead is the detector's account of what the activity is, without
	// tallies ("calls that weaken defences: ..."): the latest report's.
	// Render puts it before the tallies in Summary.
	Lead string `json:"lead,omitempty"`
	// Activity is the account of every call behind an API-call finding,
	// from all the reports merged into it (see Activity).
	Activity Activity `json:"activity,omitzero"`
	// Thresholds lists each test the activity was held against.
	Thresholds []Threshold `json:"thresholds,omitempty"`
	// Counts holds the tallies behind the decision, such as failed and
	// successful first contacts. In an API-call finding the counts
	// api_calls, failed_calls and distinct_apis are Activity's, over every
	// report; the others are the latest report's.
	Counts map[string]int64 `json:"counts,omitempty"`
	// Ports and Hosts list the distinct local ports and remote or local
	// hosts involved (bounded; see the counts for totals).
	Ports []int    `json:"ports,omitempty"`
	Hosts []string `json:"hosts,omitempty"`
	// Samples are evidence records: where they are and what they said.
	// When Activity is set they are the earliest MaxSamples of every
	// report merged into the finding.
	Samples []Sample `json:"samples,omitempty"`
	// NetworkPath explains how the traffic reached the resource, such as
	// a public address translated to the interface's private one.
	NetworkPath []string `json:"networkPath,omitempty"`
	// Inventory names the inventory snapshot that the resource details,
	// path, rules and remediation come from: its time, or "undated".
	// Empty when no inventory was given.
	Inventory string `json:"inventory,omitempty"`
	// Resource says what the inventory knows the resource is, such as
	// "EC2 instance i-0abc (web-1, t3.micro, ami-0123) in subnet-...".
	Resource string `json:"resource,omitempty"`
	// Rules are the security group and network ACL verdicts on the
	// finding's traffic, one per protocol, local port and remote address
	// (bounded to MaxRules).
	Rules []RuleVerdict `json:"rules,omitempty"`
	// Remediation lists commands that would stop the activity. picket
	// prints them and never runs them.
	Remediation []Remedy `json:"remediation,omitempty"`
	// RatedDown says why the severity is below the finding type's, such
	// as a "scan" whose source is a load balancer's or a NAT gateway's
	// address, which stands for many hosts.
	RatedDown string `json:"ratedDown,omitempty"`
	// ThreatListName and ThreatName are set, as GuardDuty sets them, when a
	// threat list matched.
	ThreatListName string `json:"threatListName,omitempty"`
	ThreatName     string `json:"threatName,omitempty"`
	// Sample marks a finding made by CreateSampleFindings.
	Sample bool `json:"sample,omitempty"`

	// Kind names the pattern a finding is, when one finding type covers
	// several (an enumeration burst, a storm of denied calls, role
	// enumeration).
	Kind string `json:"kind,omitempty"`
	// Unusual lists the factors in which behaviour departed from the
	// principal's profile (anomaly findings).
	Unusual []string `json:"unusual,omitempty"`
	// APICalls, ErrorCodes, Regions, UserAgents and Sources are the
	// evidence of API-call findings: the APIs called
	// ("ec2:DescribeInstances"), the error codes returned, the regions,
	// the user agents and the source addresses or services, each with
	// how often, most frequent first (bounded to MaxListed; Activity and
	// Counts have the totals). When Activity is set they cover every
	// report merged into the finding.
	APICalls   []Count `json:"apiCalls,omitempty"`
	ErrorCodes []Count `json:"errorCodes,omitempty"`
	Regions    []Count `json:"regions,omitempty"`
	UserAgents []Count `json:"userAgents,omitempty"`
	Sources    []Count `json:"sources,omitempty"`
}

// RuleVerdict is what the security groups and the network ACL of the
// resource's interface say of one kind of traffic.
type RuleVerdict struct {
	Protocol string `json:"protocol"`
	Port     int    `json:"port,omitempty"`
	Remote   string `json:"remote"`
	// Known is false when the inventory lacks the interface's groups or
	// ACL, so that traffic alone decides.
	Known    bool `json:"known"`
	Admitted bool `json:"admitted"`
	// GroupID and Rule name the security group rule that admits the
	// traffic ("tcp 22 from 0.0.0.0/0"); ACLID and ACLRule the network
	// ACL entry that decided. BlockedBy is "security-group" or
	// "network-acl" when the traffic is not admitted.
	GroupID   string `json:"groupId,omitempty"`
	Rule      string `json:"rule,omitempty"`
	ACLID     string `json:"networkAclId,omitempty"`
	ACLRule   int    `json:"networkAclRule,omitempty"`
	BlockedBy string `json:"blockedBy,omitempty"`
	// Reason says it in a sentence.
	Reason string `json:"reason"`
}

// MaxRules bounds the rule verdicts of an explanation.
const MaxRules = 16

// Remedy is one command that would stop a finding's activity.
type Remedy struct {
	// Why says what the command does.
	Why string `json:"why"`
	// Command is the command line, quoted for a POSIX shell.
	Command string `json:"command"`
}

// Count is a name and how often it was seen.
type Count struct {
	Name  string `json:"name"`
	Count int64  `json:"count"`
}

// Threshold is one test: the configured limit, the observed value and
// whether the observation crossed it.
type Threshold struct {
	Name     string  `json:"name"`
	Limit    float64 `json:"limit"`
	Observed float64 `json:"observed"`
	Unit     string  `json:"unit,omitempty"`
	Crossed  bool    `json:"crossed"`
}

// Sample is one evidence record.
type Sample struct {
	Origin string `json:"origin"` // file:line
	Time   string `json:"time,omitempty"`
	Record string `json:"record"` // the record, summarized
}

// MaxListed bounds each of the lists of names with counts (APICalls,
// ErrorCodes, Regions, UserAgents, Sources) that reports of an API-call
// finding add up to when they merge: the most frequent are kept.
const MaxListed = 64

// MaxSamples bounds the samples that reports of an API-call finding add
// up to when they merge: the earliest are kept.
const MaxSamples = 5

// The counts of an API-call explanation that Render writes from Activity.
const (
	CountAPICalls     = "api_calls"
	CountFailedCalls  = "failed_calls"
	CountDistinctAPIs = "distinct_apis"
)

// Activity is the account of every call behind an API-call finding. The
// rest of an explanation is the latest report's, but Activity, with the
// lists of APIs, error codes, regions, user agents and sources and the
// samples, adds up when reports of the finding merge (see Merge), and
// Render writes Summary from it, so that the summary agrees with
// service.count, eventFirstSeen and eventLastSeen. It is zero in the
// explanations of other findings.
type Activity struct {
	// Calls is the number of calls: the finding's service.count.
	Calls int64 `json:"calls"`
	// Failed is how many of them returned an error code.
	Failed int64 `json:"failedCalls,omitempty"`
	// Unlisted is how many of them were of APIs that APICalls, bounded,
	// does not list.
	Unlisted int64 `json:"unlistedCalls,omitempty"`
	// FirstSeen and LastSeen are the times of the first and the last
	// call: the finding's eventFirstSeen and eventLastSeen.
	FirstSeen Timestamp `json:"firstSeen"`
	LastSeen  Timestamp `json:"lastSeen"`
}

// How many names of each list the summary quotes.
const (
	summaryAPIs    = 5
	summaryErrors  = 3
	summaryNames   = 3
	summaryAgents  = 2
	summaryAgentLn = 80
)

// Render writes what an API-call explanation derives from its Activity
// and lists: the counts api_calls, failed_calls and distinct_apis, and
// Summary, Lead followed by the tallies:
//
//	the root user's credentials were used, with no AWS service acting
//	for it; in all 26 calls to 2 APIs (iam:ListUsers 25,
//	signin:ConsoleLogin 1), 1 failed (AccessDenied 1), in us-east-1,
//	from 198.51.100.20, with aws-cli/2.15.0, between
//	2026-03-02T09:00:00Z and 2026-03-02T09:34:00Z
//
// It leaves an explanation without activity (Activity.Calls zero) as it
// is. Render replaces Counts with a new map rather than writing into the
// one it has, which other findings may share.
func (e *Explanation) Render() {
	a := &e.Activity
	if a.Calls == 0 {
		return
	}
	counts := make(map[string]int64, len(e.Counts)+3)
	for k, v := range e.Counts {
		counts[k] = v
	}
	distinct := int64(len(e.APICalls)) + min(a.Unlisted, 1)
	counts[CountAPICalls] = a.Calls
	counts[CountFailedCalls] = a.Failed
	counts[CountDistinctAPIs] = distinct
	e.Counts = counts

	var b strings.Builder
	if e.Lead != "" {
		b.WriteString(e.Lead)
		b.WriteString("; in all ")
	}
	b.WriteString(plural(a.Calls, "call", "calls"))
	if distinct > 0 {
		b.WriteString(" to ")
		if a.Unlisted > 0 {
			b.WriteString("at least ")
		}
		b.WriteString(plural(distinct, "API", "APIs"))
		b.WriteString(" (")
		writeCounts(&b, e.APICalls, summaryAPIs, a.Unlisted)
		b.WriteString(")")
	}
	if a.Failed > 0 {
		b.WriteString(", " + strconv.FormatInt(a.Failed, 10) + " failed")
		if len(e.ErrorCodes) > 0 {
			b.WriteString(" (")
			writeCounts(&b, e.ErrorCodes, summaryErrors, 0)
			b.WriteString(")")
		}
	}
	writeNames(&b, ", in ", e.Regions, summaryNames, 0)
	writeNames(&b, ", from ", e.Sources, summaryNames, 0)
	writeNames(&b, ", with ", e.UserAgents, summaryAgents, summaryAgentLn)
	first, last := a.FirstSeen.UTC(), a.LastSeen.UTC()
	switch {
	case a.FirstSeen.IsZero() || a.LastSeen.IsZero():
	case first.Equal(last):
		b.WriteString(", at " + first.Format(time.RFC3339))
	default:
		b.WriteString(", between " + first.Format(time.RFC3339) + " and " + last.Format(time.RFC3339))
	}
	e.Summary = b.String()
}

// plural returns n with the singular or plural noun.
func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.FormatInt(n, 10) + " " + many
}

// writeCounts writes up to n names of cs with their counts, then how many
// more names there are and how many calls are unlisted.
func writeCounts(b *strings.Builder, cs []Count, n int, unlisted int64) {
	for i, c := range cs[:min(n, len(cs))] {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.Name + " " + strconv.FormatInt(c.Count, 10))
	}
	more := len(cs) - min(n, len(cs))
	if more > 0 {
		b.WriteString(" and " + strconv.Itoa(more) + " more")
	}
	if unlisted > 0 {
		if len(cs) > 0 {
			b.WriteString(", ")
		}
		b.WriteString(plural(unlisted, "call", "calls") + " of APIs not listed")
	}
}

// writeNames writes prefix and up to n names of cs (each cut to maxLen
// bytes when maxLen is not zero), then how many more there are; nothing
// when cs is empty.
func writeNames(b *strings.Builder, prefix string, cs []Count, n, maxLen int) {
	if len(cs) == 0 {
		return
	}
	b.WriteString(prefix)
	for i, c := range cs[:min(n, len(cs))] {
		if i > 0 {
			b.WriteString(", ")
		}
		name := c.Name
		if maxLen > 0 && len(name) > maxLen {
			cut := maxLen
			for cut > 0 && !utf8.RuneStart(name[cut]) {
				cut--
			}
			name = name[:cut] + "..."
		}
		b.WriteString(name)
	}
	if more := len(cs) - min(n, len(cs)); more > 0 {
		b.WriteString(" and " + strconv.Itoa(more) + " more")
	}
}
