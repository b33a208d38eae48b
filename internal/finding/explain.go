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
