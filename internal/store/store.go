// Package store owns what the stores of picket serve keep and how: the
// records of detectors, filters, threat and trusted list records, tags,
// ingest checkpoints and detection state, the batch a commit applies, the
// errors, and the finding criteria, sort and pagination semantics every
// implementation shares. Implementations live below it (store/sqlite, the
// default; store/postgres); store/storetest states the methods a store
// offers and holds the conformance suite both pass. Each consumer
// declares the few methods it calls (api.Store, ingest.Store, live.Store).
//
// The store speaks in finding.Finding values and never in API envelopes;
// the api package maps requests to these calls. It may import finding.
package store

import (
	"errors"
	"time"

	"picket/internal/finding"
)

// The errors stores return; the API maps them to GuardDuty's error shapes.
var (
	ErrNotFound = errors.New("no such resource")
	ErrExists   = errors.New("resource already exists")
	// ErrFenced is returned by a commit whose Fence is older than one
	// already committed under the same name: another process has taken
	// over the work, and the commit wrote nothing.
	ErrFenced = errors.New("fenced off by a newer owner")
)

// Detector is a GuardDuty detector resource: one per account and region.
// picket files the findings of a region under that region's detector.
type Detector struct {
	ID                         string
	Account                    string
	Region                     string
	Enabled                    bool
	FindingPublishingFrequency string // FIFTEEN_MINUTES, ONE_HOUR or SIX_HOURS
	Features                   []Feature
	Tags                       map[string]string
	CreatedAt                  time.Time
	UpdatedAt                  time.Time
}

// Feature is a detector feature setting.
type Feature struct {
	Name       string
	Status     string // ENABLED or DISABLED
	Additional []Feature
	UpdatedAt  time.Time
}

// Filter is a saved finding criteria; with Action ARCHIVE, a suppression
// rule.
type Filter struct {
	DetectorID  string
	Name        string
	Description string
	Action      string // NOOP or ARCHIVE
	Rank        int
	Criteria    Criteria
	Tags        map[string]string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// SetKind is a kind of list: trusted IP sets, threat intel sets and their
// entity-set successors.
type SetKind string

// The kinds of list.
const (
	IPSet            SetKind = "ipset"
	ThreatIntelSet   SetKind = "threatintelset"
	ThreatEntitySet  SetKind = "threatentityset"
	TrustedEntitySet SetKind = "trustedentityset"
)

// Set is a trusted or threat list resource.
type Set struct {
	DetectorID          string
	Kind                SetKind
	ID                  string
	Name                string
	Format              string // TXT, STIX, OTX_CSV, ALIEN_VAULT, PROOF_POINT, FIRE_EYE
	Location            string
	ExpectedBucketOwner string
	Status              string // INACTIVE, ACTIVATING, ACTIVE, DEACTIVATING, ERROR, DELETE_PENDING, DELETED
	ErrorDetails        string
	Tags                map[string]string
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// Page asks for one page of a listing.
type Page struct {
	// Cursor is the store's position after the previous page, "" for the
	// first. The API seals it into an opaque, signed token.
	Cursor string
	Limit  int
}

// Query selects findings.
type Query struct {
	Criteria Criteria
	Sort     Sort
	Page     Page
}

// GroupBy names a statistics grouping.
type GroupBy string

// The groupings of GetFindingsStatistics.
const (
	GroupAccount  GroupBy = "ACCOUNT"
	GroupDate     GroupBy = "DATE"
	GroupType     GroupBy = "FINDING_TYPE"
	GroupResource GroupBy = "RESOURCE"
	GroupSeverity GroupBy = "SEVERITY"
)

// StatsQuery asks for finding statistics: counts by severity when GroupBy
// is empty, else groups ordered by their count (ties by key, ascending).
type StatsQuery struct {
	Criteria Criteria
	GroupBy  GroupBy
	Desc     bool
	Limit    int
}

// Group is one group of finding statistics. The date of a finding is
// the UTC day of its updatedAt; its resource ID is finding.Resource.ID:
// the instance, else its network interface or address when the records
// did not name the instance, else the access key, else the ECS cluster
// (ARN, then name), else the container ID, else "". Findings committed
// before the interface fallback keep "" until they are next updated.
type Group struct {
	Key             string  // account, date (YYYY-MM-DD), type, resource ID or severity as text ("8.0")
	ResourceType    string  // for GroupResource
	AccountID       string  // for GroupResource
	Severity        float64 // the highest in the group
	Total           int
	LastGeneratedAt time.Time // the latest updatedAt in the group
}

// Stats is the answer to a StatsQuery.
type Stats struct {
	BySeverity map[string]int // severity as text -> count, without GroupBy
	Groups     []Group
}

// Usage is what picket read from one resource of an account and region
// in one data source: the records and their bytes (decompressed), and the
// event times of the first and last. Source is a GuardDuty data source
// name (FLOW_LOGS, CLOUD_TRAIL); Resource is the network interface of
// flow records and "" for CloudTrail, and Instance the instance the
// records named last, if any. The ingest loop keeps these counts with its
// committed detection state; the API reports them as usage and coverage.
type Usage struct {
	Account, Region    string
	Source             string
	Resource, Instance string
	Records, Bytes     uint64
	First, Last        time.Time
}

// Checkpoint is how far an ingest source has read; Position is the
// source's own encoding.
type Checkpoint struct {
	Source    string
	Position  []byte
	UpdatedAt time.Time
}

// Batch is one unit of ingest progress, committed atomically: finding
// reports to merge into the stored findings (finding.Merge semantics, ARCHIVE
// filters applied to findings they create), the sources' checkpoints after
// the records that produced them, and a snapshot of the detection state at
// that point. After a crash the service resumes from the last batch: no
// activity is lost and none is counted twice.
type Batch struct {
	Findings []*finding.Finding
	// Early is the complete set of early reports: what the detectors
	// would report, beyond Findings and the reports before them, if the
	// input ended at this batch (detect.Engine.Foresee). A stored finding
	// shows its reports merged with its early report until a batch
	// leaves that out; then it shows its reports alone, and a finding
	// that had nothing but an early report is withdrawn. Each batch
	// replaces the last one's set: nil withdraws every early report.
	Early []*finding.Finding
	// Administrator, when set, is the administrator's account: the
	// suppression rules of its detector in a region archive the new
	// findings of every detector of that region, as their own do.
	Administrator string
	Checkpoints   []Checkpoint
	State         []byte // nil leaves the stored state as it is
	// Fence, when set, makes the commit conditional: it writes nothing
	// and fails with ErrFenced if a commit under the same fence name
	// had a greater epoch, and otherwise records this epoch. A process
	// that owns a share of the work under a lease commits with the
	// lease's number, so one that lost the lease without knowing it
	// (paused, cut off) cannot overwrite its successor's progress.
	Fence *Fence
}

// Fence names a share of work and the epoch of its current owner.
type Fence struct {
	Name  string
	Epoch int64
}
