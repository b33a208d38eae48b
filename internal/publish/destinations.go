package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"picket/internal/finding"
	"picket/internal/store"
)

// DestinationStore is what publishing destinations ask of the store.
type DestinationStore interface {
	AllDestinations(ctx context.Context) ([]store.Destination, error)
	Detector(ctx context.Context, id string) (*store.Detector, error)
	SetDestinationStatus(ctx context.Context, d *store.Destination) error
}

// S3API is the S3 client as publishing destinations use it: PutObject
// writes the findings, GetBucketLocation checks a bucket when a
// destination starts (GuardDuty's bucket policy grants both).
type S3API interface {
	PutObjectAPI
	GetBucketLocation(ctx context.Context, in *s3.GetBucketLocationInput, opts ...func(*s3.Options)) (*s3.GetBucketLocationOutput, error)
}

// DestinationPrefix begins the target name of every publishing
// destination: DestinationPrefix + detector ID + "/" + destination ID.
// The configuration's targets may not use it.
const DestinationPrefix = "publishingDestination/"

// Destinations makes a push target of each publishing destination in the
// store (those the API creates); its Targets is a Config.Dynamic. A
// destination's target writes as S3 does, to the bucket and prefix of
// its DestinationARN, and takes the findings of its own detector
// committed since the destination was created; the administrator's
// destinations take those of every account in the detector's region, as
// GuardDuty exports its members' findings to the administrator's
// destination. Each target records the destination's status in the
// store: PUBLISHING after a write, or a bucket check, that worked;
// UNABLE_TO_PUBLISH_FIX_DESTINATION_PROPERTY, with the time of the first
// failure, after one that did not.
type Destinations struct {
	Store DestinationStore
	// Client writes to the buckets of every destination. Nil means that
	// picket has no S3 configuration for destinations: each is then
	// recorded as unable to publish, and runs no target, so the outbox
	// keeps nothing for it.
	Client S3API
	// Administrator is the API's account.
	Administrator string
	// KMS has S3 encrypt each destination's objects with its KMS key
	// (SSE-KMS), for stores that have that key. Without it the key is
	// only kept and shown.
	KMS bool
	// Now is the clock (default time.Now).
	Now func() time.Time
	Log *slog.Logger

	mu        sync.Mutex
	detectors map[string]store.Detector // account and region, which never change
}

// Name of a destination's target.
func destinationTarget(detectorID, id string) string {
	return DestinationPrefix + detectorID + "/" + id
}

// Targets returns a target for each destination picket can write to. It
// is called from one goroutine at a time.
func (d *Destinations) Targets(ctx context.Context) ([]Target, error) {
	all, err := d.Store.AllDestinations(ctx)
	if err != nil {
		return nil, err
	}
	var out []Target
	for _, dest := range all {
		if d.Client == nil {
			d.unable(ctx, dest, "picket has no S3 configuration for publishing destinations (publish.destinations)")
			continue
		}
		det, err := d.detector(ctx, dest.DetectorID)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted since it was listed
		}
		if err != nil {
			return nil, err
		}
		bucket, prefix, err := store.ParseBucketARN(dest.DestinationARN)
		if err != nil {
			d.unable(ctx, dest, err.Error())
			continue
		}
		if prefix != "" {
			prefix += "/"
		}
		t := &destination{
			name: destinationTarget(dest.DetectorID, dest.ID),
			s3:   S3{TargetName: destinationTarget(dest.DetectorID, dest.ID), Client: d.Client, Bucket: bucket, Prefix: prefix},
			dest: dest, region: det.Region, all: det.Account == d.Administrator,
			owner: d,
		}
		if d.KMS {
			t.s3.KMSKeyARN = dest.KMSKeyARN
		}
		out = append(out, t)
	}
	return out, nil
}

func (d *Destinations) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Destinations) log() *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.New(slog.DiscardHandler)
}

// detector returns a detector's account and region.
func (d *Destinations) detector(ctx context.Context, id string) (store.Detector, error) {
	d.mu.Lock()
	det, ok := d.detectors[id]
	d.mu.Unlock()
	if ok {
		return det, nil
	}
	got, err := d.Store.Detector(ctx, id)
	if err != nil {
		return store.Detector{}, err
	}
	det = store.Detector{ID: got.ID, Account: got.Account, Region: got.Region}
	d.mu.Lock()
	if d.detectors == nil {
		d.detectors = map[string]store.Detector{}
	}
	d.detectors[id] = det
	d.mu.Unlock()
	return det, nil
}

// unable records that picket cannot publish to dest, unless that is
// recorded already.
func (d *Destinations) unable(ctx context.Context, dest store.Destination, why string) {
	if dest.Status == store.DestinationUnable {
		return
	}
	if dest.FailureStart.IsZero() {
		dest.FailureStart = d.now().UTC()
	}
	dest.Status = store.DestinationUnable
	d.record(ctx, &dest, why)
}

// record stores dest's status and logs the change.
func (d *Destinations) record(ctx context.Context, dest *store.Destination, why string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	log := d.log().With("detector_id", dest.DetectorID, "destination_id", dest.ID, "destination_arn", dest.DestinationARN)
	if err := d.Store.SetDestinationStatus(ctx, dest); err != nil && !errors.Is(err, store.ErrNotFound) {
		log.Error("recording the status of a publishing destination", "status", dest.Status, "error", err)
		return
	}
	if dest.Status == store.DestinationUnable {
		log.Warn("publishing destination unable to publish", "since", dest.FailureStart, "reason", why)
		return
	}
	log.Info("publishing destination "+dest.Status, "reason", why)
}

// destination is the target of one publishing destination.
type destination struct {
	name   string
	s3     S3
	dest   store.Destination // as loaded, with the status last recorded
	region string            // of the detector
	all    bool              // the administrator's: every account of the region
	owner  *Destinations
}

var (
	_ Target   = (*destination)(nil)
	_ Selector = (*destination)(nil)
	_ Verifier = (*destination)(nil)
	_ Specced  = (*destination)(nil)
	_ S3API    = (*s3.Client)(nil)
)

func (t *destination) Name() string { return t.name }

// Spec is what a change of makes a new target: the properties, and the
// creation (a destination deleted and created again under the same ID).
func (t *destination) Spec() string {
	return t.dest.Type + "\x00" + t.dest.DestinationARN + "\x00" + t.dest.KMSKeyARN + "\x00" + t.dest.CreatedAt.UTC().Format(time.RFC3339Nano)
}

// TakesEntry takes the entries committed since the destination was
// created (to the millisecond the outbox keeps) and, for a member's
// destination, of its detector only.
func (t *destination) TakesEntry(e store.OutboxEntry) bool {
	if e.CreatedAt.Before(t.dest.CreatedAt.Truncate(time.Millisecond)) {
		return false
	}
	return t.all || e.DetectorID == t.dest.DetectorID
}

// Takes takes the findings of the destination's detector, or, for the
// administrator's, of every account in its region.
func (t *destination) Takes(f *finding.Finding) bool {
	if t.all {
		return f.Region == t.region
	}
	return f.Service.DetectorID == t.dest.DetectorID
}

// Verify checks that the bucket is there; S3 refusing to say (access
// denied to GetBucketLocation) leaves the status as it is, for the first
// write to tell.
func (t *destination) Verify(ctx context.Context) {
	_, err := t.owner.Client.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String(t.s3.Bucket)})
	var ae interface{ ErrorCode() string }
	switch {
	case err == nil:
		t.succeeded(ctx, "the bucket is there")
	case errors.Is(ctx.Err(), context.Canceled):
		// Stopped: the destination was deleted or changed, or serve stops.
	case errors.As(err, &ae) && ae.ErrorCode() == "AccessDenied":
		t.owner.log().Info("publishing destination: S3 does not say whether the bucket is there; the first write will", "destination_id", t.dest.ID, "error", err)
	default:
		t.failed(ctx, fmt.Errorf("checking bucket %s: %w", t.s3.Bucket, err))
	}
}

// Send writes the events to the bucket and records the outcome.
func (t *destination) Send(ctx context.Context, events []Event) error {
	err := t.s3.Send(ctx, events)
	switch {
	case err == nil:
		t.succeeded(ctx, "written")
	case !errors.Is(ctx.Err(), context.Canceled): // a timeout is a failure
		t.failed(ctx, err)
	}
	return err
}

func (t *destination) succeeded(ctx context.Context, why string) {
	if t.dest.Status == store.DestinationPublishing && t.dest.FailureStart.IsZero() {
		return
	}
	t.dest.Status, t.dest.FailureStart = store.DestinationPublishing, time.Time{}
	t.owner.record(ctx, &t.dest, why)
}

func (t *destination) failed(ctx context.Context, err error) {
	if t.dest.Status == store.DestinationUnable {
		return
	}
	if t.dest.FailureStart.IsZero() {
		t.dest.FailureStart = t.owner.now().UTC()
	}
	t.dest.Status = store.DestinationUnable
	t.owner.record(ctx, &t.dest, err.Error())
}
