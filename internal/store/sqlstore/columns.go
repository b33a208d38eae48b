package sqlstore

import (
	"math"
	"strconv"
	"time"

	"picket/internal/finding"
)

// kind is how a finding column holds its field and so which conditions
// on the field the database can evaluate exactly.
type kind int

const (
	// text holds a single-valued string field; NULL when the finding has no
	// value there or the value is empty (the text sorts treat as missing).
	text kind = iota
	// number holds a numeric or time field every finding has (times in Unix
	// milliseconds); never NULL.
	number
	// flag holds service.archived as 0 or 1.
	flag
)

// column is a finding field kept in a column of its own.
type column struct {
	name string // the SQL column: a fixed identifier, never user input
	kind kind
	// real says a number column holds REAL values (severity) rather than
	// integers.
	real bool
	// canon turns an equality operand into the column value it selects when
	// the operand is exactly the text the finding shows for that value;
	// ok is false for operands no finding can show (such as "8" for
	// severity, which findings render as "8.0"). Only for number columns.
	canon func(string) (v any, ok bool)
}

// columns maps the finding field paths a store keeps in columns to those
// columns. Every field here is single-valued: no path crosses a list.
var columns = map[string]column{
	"id":                                    {name: "id", kind: text},
	"type":                                  {name: "type", kind: text},
	"accountId":                             {name: "account_id", kind: text},
	"region":                                {name: "region", kind: text},
	"resource.resourceType":                 {name: "resource_type", kind: text},
	"resource.instanceDetails.instanceId":   {name: "instance_id", kind: text},
	"resource.accessKeyDetails.accessKeyId": {name: "access_key_id", kind: text},
	"service.resourceRole":                  {name: "resource_role", kind: text},
	"service.action.actionType":             {name: "action_type", kind: text},
	"service.action.networkConnectionAction.remoteIpDetails.ipAddressV4": {name: "remote_ip", kind: text},
	"severity":               {name: "severity", kind: number, real: true, canon: canonSeverity},
	"createdAt":              {name: "created_ms", kind: number, canon: canonTime},
	"updatedAt":              {name: "updated_ms", kind: number, canon: canonTime},
	"service.eventFirstSeen": {name: "first_seen_ms", kind: number, canon: canonTime},
	"service.eventLastSeen":  {name: "last_seen_ms", kind: number, canon: canonTime},
	"service.count":          {name: "event_count", kind: number, canon: canonInt},
	"service.archived":       {name: "archived", kind: flag},
}

// canonSeverity accepts the text a finding shows for a severity ("8.0",
// "7.5") and returns the severity.
func canonSeverity(s string) (any, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, false
	}
	b, err := finding.Severity(f).MarshalJSON()
	if err != nil || string(b) != s {
		return nil, false
	}
	return f, true
}

// canonTime accepts the text a finding shows for a time
// ("2026-03-04T10:00:00.000Z") and returns it in Unix milliseconds.
func canonTime(s string) (any, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil, false
	}
	if t.UTC().Format(finding.TimeFormat) != s {
		return nil, false
	}
	return t.UnixMilli(), true
}

// canonInt accepts an integer as JSON writes it.
func canonInt(s string) (any, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || strconv.FormatInt(n, 10) != s {
		return nil, false
	}
	return n, true
}

// row holds the column values of one finding.
type row struct {
	id           string
	typ          string
	severity     float64
	createdMS    int64
	updatedMS    int64
	firstSeenMS  int64
	lastSeenMS   int64
	count        int64
	archived     bool
	feedback     string
	accountID    string
	region       string
	resourceType string
	resourceRole string
	actionType   string
	instanceID   string
	accessKeyID  string
	remoteIP     string
	resourceID   string
}

// rowOf extracts a finding's column values. They equal the values
// store.Values gives for the same paths (a test holds them to it).
func rowOf(f *finding.Finding) row {
	r := row{
		id:           f.ID,
		typ:          f.Type,
		severity:     float64(f.Severity),
		createdMS:    f.CreatedAt.UnixMilli(),
		updatedMS:    f.UpdatedAt.UnixMilli(),
		firstSeenMS:  f.Service.EventFirstSeen.UnixMilli(),
		lastSeenMS:   f.Service.EventLastSeen.UnixMilli(),
		count:        f.Service.Count,
		archived:     f.Service.Archived,
		feedback:     f.Service.UserFeedback,
		accountID:    f.AccountID,
		region:       f.Region,
		resourceType: f.Resource.ResourceType,
		resourceRole: f.Service.ResourceRole,
		actionType:   f.Service.Action.ActionType,
		resourceID:   resourceID(f),
	}
	if d := f.Resource.InstanceDetails; d != nil {
		r.instanceID = d.InstanceID
	}
	if d := f.Resource.AccessKeyDetails; d != nil {
		r.accessKeyID = d.AccessKeyID
	}
	if a := f.Service.Action.NetworkConnectionAction; a != nil && a.RemoteIPDetails != nil {
		r.remoteIP = a.RemoteIPDetails.IPAddressV4
	}
	return r
}

// resourceID returns the resource a finding is about, as statistics group
// findings by resource (finding.Resource.ID).
func resourceID(f *finding.Finding) string { return f.Resource.ID() }

// findingColumns are the columns a finding row has besides det and body,
// in the order values returns them.
var findingColumns = []string{
	"id", "type", "severity", "created_ms", "updated_ms", "first_seen_ms", "last_seen_ms", "event_count",
	"archived", "feedback", "account_id", "region", "resource_type", "resource_role", "action_type",
	"instance_id", "access_key_id", "remote_ip", "resource_id",
}

// values returns the row's values in the order of findingColumns, empty
// text as NULL.
func (r *row) values() []any {
	return []any{
		r.id, null(r.typ), r.severity, r.createdMS, r.updatedMS, r.firstSeenMS, r.lastSeenMS, r.count,
		boolInt(r.archived), null(r.feedback), null(r.accountID), null(r.region), null(r.resourceType),
		null(r.resourceRole), null(r.actionType), null(r.instanceID), null(r.accessKeyID), null(r.remoteIP),
		null(r.resourceID),
	}
}

// null maps "" to NULL.
func null(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
