// Package store owns the store contract of picket serve: what a durable
// store of detectors, findings, filters, threat and trusted list records,
// tags, ingest checkpoints and detection state must do, and the finding
// criteria, sort and pagination semantics every implementation shares.
// Implementations live below it (store/sqlite, the default; store/postgres)
// and store/storetest holds the conformance suite both pass.
//
// The store speaks in finding.Finding values and never in API envelopes;
// the api package maps requests to these calls. It may import finding.
package store

import (
	"context"
	"errors"
	"time"

	"picket/internal/finding"
)

// The errors stores return; the API maps them to GuardDuty's error shapes.
var (
	ErrNotFound = errors.New("no such resource")
	ErrExists   = errors.New("resource already exists")
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
// the UTC day of its updatedAt; its resource ID is the instance, else the
// access key, else the ECS cluster (ARN, then name), else the container
// ID, else "".
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
	Findings    []*finding.Finding
	Checkpoints []Checkpoint
	State       []byte // nil leaves the stored state as it is
}

// Store is the contract of a durable store. Every method is safe for
// concurrent use. Listing methods return the IDs or names of one page and
// the cursor of the next ("" after the last).
type Store interface {
	CreateDetector(ctx context.Context, d *Detector) error // ErrExists when the region has one
	Detector(ctx context.Context, id string) (*Detector, error)
	DetectorFor(ctx context.Context, account, region string) (*Detector, error)
	Detectors(ctx context.Context, p Page) ([]string, string, error)
	UpdateDetector(ctx context.Context, d *Detector) error
	// DeleteDetector removes a detector with its findings, filters and sets.
	DeleteDetector(ctx context.Context, id string) error

	// Commit applies a batch atomically. Findings are filed under the
	// detector named by their service.detectorId.
	Commit(ctx context.Context, b Batch) error
	Findings(ctx context.Context, detectorID string, ids []string) ([]*finding.Finding, error)
	ListFindings(ctx context.Context, detectorID string, q Query) ([]string, string, error)
	Statistics(ctx context.Context, detectorID string, q StatsQuery) (Stats, error)
	SetArchived(ctx context.Context, detectorID string, ids []string, archived bool) error
	SetFeedback(ctx context.Context, detectorID string, ids []string, feedback, comments string) error
	// ArchiveMatching archives every current finding that matches c, as an
	// ARCHIVE filter does when it is created or changed.
	ArchiveMatching(ctx context.Context, detectorID string, c Criteria) (int, error)

	CreateFilter(ctx context.Context, f *Filter) error // ErrExists
	UpdateFilter(ctx context.Context, f *Filter) error // ErrNotFound
	Filter(ctx context.Context, detectorID, name string) (*Filter, error)
	Filters(ctx context.Context, detectorID string, p Page) ([]string, string, error)
	DeleteFilter(ctx context.Context, detectorID, name string) error

	CreateSet(ctx context.Context, s *Set) error
	UpdateSet(ctx context.Context, s *Set) error
	Set(ctx context.Context, detectorID string, kind SetKind, id string) (*Set, error)
	Sets(ctx context.Context, detectorID string, kind SetKind, p Page) ([]string, string, error)
	DeleteSet(ctx context.Context, detectorID string, kind SetKind, id string) error

	Tags(ctx context.Context, arn string) (map[string]string, error)
	Tag(ctx context.Context, arn string, tags map[string]string) error
	Untag(ctx context.Context, arn string, keys []string) error

	Checkpoints(ctx context.Context) ([]Checkpoint, error)
	State(ctx context.Context) ([]byte, error)

	Close() error
}
