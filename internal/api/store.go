package api

import (
	"context"

	"picket/internal/finding"
	"picket/internal/store"
)

// Store is the store as the API uses it: the methods of the store
// contract that the handlers call, each as storetest.Store states it.
// The SQLite and PostgreSQL stores satisfy it; the API neither reads
// ingest checkpoints or state nor closes the store. It restates those
// methods rather than embed storetest.Store, so that the API depends on
// what it calls and not on a test package.
type Store interface {
	CreateDetector(ctx context.Context, d *store.Detector) error
	Detector(ctx context.Context, id string) (*store.Detector, error)
	DetectorFor(ctx context.Context, account, region string) (*store.Detector, error)
	Detectors(ctx context.Context, p store.Page) ([]string, string, error)
	UpdateDetector(ctx context.Context, d *store.Detector) error
	DeleteDetector(ctx context.Context, id string) error

	// Commit files the findings of CreateSampleFindings.
	Commit(ctx context.Context, b store.Batch) error
	Findings(ctx context.Context, detectorID string, ids []string) ([]*finding.Finding, error)
	ListFindings(ctx context.Context, detectorID string, q store.Query) ([]string, string, error)
	Statistics(ctx context.Context, detectorID string, q store.StatsQuery) (store.Stats, error)
	SetArchived(ctx context.Context, detectorID string, ids []string, archived bool) error
	SetFeedback(ctx context.Context, detectorID string, ids []string, feedback, comments string) error
	ArchiveMatching(ctx context.Context, detectorID string, c store.Criteria) (int, error)

	CreateFilter(ctx context.Context, f *store.Filter) error
	UpdateFilter(ctx context.Context, f *store.Filter) error
	Filter(ctx context.Context, detectorID, name string) (*store.Filter, error)
	Filters(ctx context.Context, detectorID string, p store.Page) ([]string, string, error)
	DeleteFilter(ctx context.Context, detectorID, name string) error

	CreateSet(ctx context.Context, s *store.Set) error
	UpdateSet(ctx context.Context, s *store.Set) error
	Set(ctx context.Context, detectorID string, kind store.SetKind, id string) (*store.Set, error)
	Sets(ctx context.Context, detectorID string, kind store.SetKind, p store.Page) ([]string, string, error)
	DeleteSet(ctx context.Context, detectorID string, kind store.SetKind, id string) error

	// CreateDestination returns store.ErrExists when the detector has a
	// publishing destination already (storetest.DestinationStore).
	CreateDestination(ctx context.Context, d *store.Destination) error
	UpdateDestination(ctx context.Context, d *store.Destination) error
	Destination(ctx context.Context, detectorID, id string) (*store.Destination, error)
	Destinations(ctx context.Context, detectorID string, p store.Page) ([]string, string, error)
	DeleteDestination(ctx context.Context, detectorID, id string) error

	Tags(ctx context.Context, arn string) (map[string]string, error)
	Tag(ctx context.Context, arn string, tags map[string]string) error
	Untag(ctx context.Context, arn string, keys []string) error
}
