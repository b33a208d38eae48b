package finding

// Explanation is picket's account of why a finding exists. It travels in
// service.additionalInfo (a JSON string on the wire, so the keys below are
// picket's own and every GuardDuty consumer still parses the finding), and
// the table output prints it.
type Explanation struct {
	// Detector is the ID of the detector that raised the finding.
	Detector string `json:"detector"`
	// Summary says in one sentence what was seen.
	Summary string `json:"summary,omitempty"`
	// Thresholds lists each test the activity was held against.
	Thresholds []Threshold `json:"thresholds,omitempty"`
	// Counts holds the tallies behind the decision, such as failed and
	// successful first contacts.
	Counts map[string]int64 `json:"counts,omitempty"`
	// Ports and Hosts list the distinct local ports and remote or local
	// hosts involved (bounded; see the counts for totals).
	Ports []int    `json:"ports,omitempty"`
	Hosts []string `json:"hosts,omitempty"`
	// Samples are evidence records: where they are and what they said.
	Samples []Sample `json:"samples,omitempty"`
	// NetworkPath explains how the traffic reached the resource, such as
	// a public address translated to the interface's private one.
	NetworkPath []string `json:"networkPath,omitempty"`
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
	// how often, most frequent first (bounded; Counts has the totals).
	APICalls   []Count `json:"apiCalls,omitempty"`
	ErrorCodes []Count `json:"errorCodes,omitempty"`
	Regions    []Count `json:"regions,omitempty"`
	UserAgents []Count `json:"userAgents,omitempty"`
	Sources    []Count `json:"sources,omitempty"`
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
