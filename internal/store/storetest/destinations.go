package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"picket/internal/store"
)

// DestinationStore is a Store with publishing destinations: at most one
// per detector, listed per detector and all at once (for the publisher),
// with a status the publisher records for the properties it tried.
type DestinationStore interface {
	Store
	// CreateDestination returns store.ErrExists when the detector has a
	// destination already, whatever its ID.
	CreateDestination(ctx context.Context, d *store.Destination) error
	UpdateDestination(ctx context.Context, d *store.Destination) error // store.ErrNotFound
	Destination(ctx context.Context, detectorID, id string) (*store.Destination, error)
	Destinations(ctx context.Context, detectorID string, p store.Page) ([]string, string, error)
	DeleteDestination(ctx context.Context, detectorID, id string) error
	// AllDestinations returns every detector's destinations, ordered by
	// detector and ID.
	AllDestinations(ctx context.Context) ([]store.Destination, error)
	// SetDestinationStatus stores d's Status and FailureStart unless the
	// stored destination's properties differ from d's.
	SetDestinationStatus(ctx context.Context, d *store.Destination) error
}

// RunDestinations tests publishing destinations: create, read, the one
// per detector, update, status, listing, tags, delete, and that they go
// with their detector.
func RunDestinations(t *testing.T, s DestinationStore) {
	a := newDetector(t, s, "111122223333", "us-east-1")
	b := newDetector(t, s, "444455556666", "us-east-1")
	id := func(n int) string { return fmt.Sprintf("%032x", n) }
	da := &store.Destination{DetectorID: a.ID, ID: id(1), Type: "S3", DestinationARN: "arn:aws:s3:::exports/picket",
		KMSKeyARN: "arn:aws:kms:us-east-1:111122223333:key/k1", Status: store.DestinationPending,
		Tags: map[string]string{"team": "sec"}, CreatedAt: epoch, UpdatedAt: epoch}
	must(t, "CreateDestination", s.CreateDestination(ctx(t), da))
	got, err := s.Destination(ctx(t), a.ID, da.ID)
	must(t, "Destination", err)
	if d := cmp.Diff(da, got); d != "" {
		t.Errorf("Destination (-want +got):\n%s", d)
	}

	// One per detector: another ID is refused as the same one is.
	for _, n := range []int{1, 2} {
		again := *da
		again.ID = id(n)
		wantErr(t, fmt.Sprintf("a second CreateDestination (ID %d)", n), s.CreateDestination(ctx(t), &again), store.ErrExists)
	}
	db := &store.Destination{DetectorID: b.ID, ID: id(3), Type: "S3", DestinationARN: "arn:aws:s3:::other",
		Status: store.DestinationPending, CreatedAt: epoch, UpdatedAt: epoch}
	must(t, "CreateDestination of another detector", s.CreateDestination(ctx(t), db))
	_, err = s.Destination(ctx(t), a.ID, db.ID)
	wantErr(t, "Destination of another detector's ID", err, store.ErrNotFound)
	_, err = s.Destination(ctx(t), "0123456789abcdef0123456789abcdef", da.ID)
	wantErr(t, "Destination of an unknown detector", err, store.ErrNotFound)
	missing := &store.Destination{DetectorID: "0123456789abcdef0123456789abcdef", ID: id(9), Type: "S3", DestinationARN: "arn:aws:s3:::x"}
	wantErr(t, "CreateDestination of an unknown detector", s.CreateDestination(ctx(t), missing), store.ErrNotFound)

	// A set of the same ID is another resource.
	must(t, "CreateSet", s.CreateSet(ctx(t), &store.Set{DetectorID: a.ID, Kind: store.IPSet, ID: da.ID, Name: "ip", Format: "TXT", Status: "INACTIVE"}))
	if ids, _, err := s.Sets(ctx(t), a.ID, store.IPSet, store.Page{Limit: 50}); err != nil || len(ids) != 1 {
		t.Errorf("Sets beside a destination = %v, %v; want the IP set only", ids, err)
	}

	// Update replaces all but the creation time.
	up := *da
	up.DestinationARN, up.KMSKeyARN, up.Status, up.UpdatedAt = "arn:aws:s3:::exports/moved", "", store.DestinationPending, epoch.Add(time.Hour)
	up.CreatedAt = epoch.Add(time.Minute)
	must(t, "UpdateDestination", s.UpdateDestination(ctx(t), &up))
	got, err = s.Destination(ctx(t), a.ID, da.ID)
	must(t, "Destination", err)
	up.CreatedAt = epoch
	if d := cmp.Diff(&up, got); d != "" {
		t.Errorf("updated destination (-want +got):\n%s", d)
	}
	unknown := up
	unknown.ID = id(7)
	wantErr(t, "UpdateDestination of an unknown ID", s.UpdateDestination(ctx(t), &unknown), store.ErrNotFound)

	// The status of the properties stored is recorded; that of older
	// properties is not.
	failed := epoch.Add(2 * time.Hour)
	stale := *da // the properties before the update
	stale.Status, stale.FailureStart = store.DestinationUnable, failed
	must(t, "SetDestinationStatus of old properties", s.SetDestinationStatus(ctx(t), &stale))
	got, err = s.Destination(ctx(t), a.ID, da.ID)
	must(t, "Destination", err)
	if got.Status != store.DestinationPending || !got.FailureStart.IsZero() {
		t.Errorf("a status of replaced properties was stored: %s since %v", got.Status, got.FailureStart)
	}
	cur := *got
	cur.Status, cur.FailureStart = store.DestinationUnable, failed
	must(t, "SetDestinationStatus", s.SetDestinationStatus(ctx(t), &cur))
	got, err = s.Destination(ctx(t), a.ID, da.ID)
	must(t, "Destination", err)
	if got.Status != store.DestinationUnable || !got.FailureStart.Equal(failed) || got.DestinationARN != up.DestinationARN || got.Tags["team"] != "sec" {
		t.Errorf("after SetDestinationStatus: %+v", got)
	}
	cur.Status, cur.FailureStart = store.DestinationPublishing, time.Time{}
	must(t, "SetDestinationStatus", s.SetDestinationStatus(ctx(t), &cur))
	got, err = s.Destination(ctx(t), a.ID, da.ID)
	must(t, "Destination", err)
	if got.Status != store.DestinationPublishing || !got.FailureStart.IsZero() {
		t.Errorf("after publishing again: %s since %v", got.Status, got.FailureStart)
	}
	gone := cur
	gone.ID = id(8)
	wantErr(t, "SetDestinationStatus of an unknown ID", s.SetDestinationStatus(ctx(t), &gone), store.ErrNotFound)

	// Listings.
	ids, next, err := s.Destinations(ctx(t), a.ID, store.Page{Limit: 50})
	must(t, "Destinations", err)
	if d := cmp.Diff([]string{da.ID}, ids); d != "" || next != "" {
		t.Errorf("Destinations (-want +got):\n%s, next %q", d, next)
	}
	all, err := s.AllDestinations(ctx(t))
	must(t, "AllDestinations", err)
	var keys []string
	for _, d := range all {
		keys = append(keys, d.DetectorID+"/"+d.ID+"/"+d.DestinationARN)
	}
	want := []string{a.ID + "/" + da.ID + "/arn:aws:s3:::exports/moved", b.ID + "/" + db.ID + "/arn:aws:s3:::other"}
	if a.ID > b.ID {
		want[0], want[1] = want[1], want[0]
	}
	if d := cmp.Diff(want, keys); d != "" {
		t.Errorf("AllDestinations (-want +got):\n%s", d)
	}

	// Tags by ARN, as for the other resources.
	arn := "arn:aws:guardduty:us-east-1:111122223333:detector/" + a.ID + "/publishingDestination/" + da.ID
	must(t, "Tag", s.Tag(ctx(t), arn, map[string]string{"k": "v"}))
	must(t, "Untag", s.Untag(ctx(t), arn, []string{"team"}))
	tags, err := s.Tags(ctx(t), arn)
	must(t, "Tags", err)
	if d := cmp.Diff(map[string]string{"k": "v"}, tags); d != "" {
		t.Errorf("Tags (-want +got):\n%s", d)
	}
	_, err = s.Tags(ctx(t), "arn:aws:guardduty:us-east-1:111122223333:detector/"+a.ID+"/publishingDestination/"+id(5))
	wantErr(t, "Tags of an unknown destination", err, store.ErrNotFound)

	// Delete; and a detector's destination goes with it.
	must(t, "DeleteDestination", s.DeleteDestination(ctx(t), a.ID, da.ID))
	wantErr(t, "DeleteDestination again", s.DeleteDestination(ctx(t), a.ID, da.ID), store.ErrNotFound)
	_, err = s.Destination(ctx(t), a.ID, da.ID)
	wantErr(t, "Destination after DeleteDestination", err, store.ErrNotFound)
	if _, err := s.Set(ctx(t), a.ID, store.IPSet, da.ID); err != nil {
		t.Errorf("DeleteDestination took the IP set of the same ID: %v", err)
	}
	must(t, "CreateDestination after DeleteDestination", s.CreateDestination(ctx(t), da))
	must(t, "DeleteDetector", s.DeleteDetector(ctx(t), b.ID))
	all, err = s.AllDestinations(ctx(t))
	must(t, "AllDestinations", err)
	if len(all) != 1 || all[0].DetectorID != a.ID {
		t.Errorf("AllDestinations after deleting detector b = %+v", all)
	}
}
