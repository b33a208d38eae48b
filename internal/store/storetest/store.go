package storetest

import (
	"context"

	"picket/internal/finding"
	"picket/internal/store"
)

// Store is the contract of a durable store, which the suite tests: every
// method a store offers but Close, which the opener passed to Run
// arranges. Every method is safe for concurrent use. Listing methods
// return the IDs or names of one page and the cursor of the next (""
// after the last).
type Store interface {
	CreateDetector(ctx context.Context, d *store.Detector) error // store.ErrExists when the region has one
	Detector(ctx context.Context, id string) (*store.Detector, error)
	DetectorFor(ctx context.Context, account, region string) (*store.Detector, error)
	Detectors(ctx context.Context, p store.Page) ([]string, string, error)
	UpdateDetector(ctx context.Context, d *store.Detector) error
	// DeleteDetector removes a detector with its findings, filters and sets.
	DeleteDetector(ctx context.Context, id string) error

	// Commit applies a batch atomically. Findings are filed under the
	// detector named by their service.detectorId.
	Commit(ctx context.Context, b store.Batch) error
	Findings(ctx context.Context, detectorID string, ids []string) ([]*finding.Finding, error)
	ListFindings(ctx context.Context, detectorID string, q store.Query) ([]string, string, error)
	Statistics(ctx context.Context, detectorID string, q store.StatsQuery) (store.Stats, error)
	SetArchived(ctx context.Context, detectorID string, ids []string, archived bool) error
	SetFeedback(ctx context.Context, detectorID string, ids []string, feedback, comments string) error
	// ArchiveMatching archives every current finding that matches c, as an
	// ARCHIVE filter does when it is created or changed.
	ArchiveMatching(ctx context.Context, detectorID string, c store.Criteria) (int, error)

	CreateFilter(ctx context.Context, f *store.Filter) error // store.ErrExists
	UpdateFilter(ctx context.Context, f *store.Filter) error // store.ErrNotFound
	Filter(ctx context.Context, detectorID, name string) (*store.Filter, error)
	Filters(ctx context.Context, detectorID string, p store.Page) ([]string, string, error)
	DeleteFilter(ctx context.Context, detectorID, name string) error

	CreateSet(ctx context.Context, s *store.Set) error
	UpdateSet(ctx context.Context, s *store.Set) error
	Set(ctx context.Context, detectorID string, kind store.SetKind, id string) (*store.Set, error)
	Sets(ctx context.Context, detectorID string, kind store.SetKind, p store.Page) ([]string, string, error)
	DeleteSet(ctx context.Context, detectorID string, kind store.SetKind, id string) error

	Tags(ctx context.Context, arn string) (map[string]string, error)
	Tag(ctx context.Context, arn string, tags map[string]string) error
	Untag(ctx context.Context, arn string, keys []string) error

	Checkpoints(ctx context.Context) ([]store.Checkpoint, error)
	State(ctx context.Context) ([]byte, error)
}
