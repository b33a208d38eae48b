package publish_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"regexp"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"picket/internal/finding"
	"picket/internal/publish"
	"picket/internal/store"
)

// destStore is a test store with publishing destinations.
type destStore interface {
	testStore
	publish.DestinationStore
	CreateDestination(ctx context.Context, d *store.Destination) error
	UpdateDestination(ctx context.Context, d *store.Destination) error
	Destination(ctx context.Context, detectorID, id string) (*store.Destination, error)
	DeleteDestination(ctx context.Context, detectorID, id string) error
}

// newS3 starts gofakes3, an S3-compatible server, on loopback and
// returns a client of it with the buckets made.
func newS3(t *testing.T, buckets ...string) *s3.Client {
	t.Helper()
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	c := s3.New(s3.Options{Region: "us-east-1", Credentials: testCreds, BaseEndpoint: aws.String(srv.URL), UsePathStyle: true})
	for _, b := range buckets {
		if _, err := c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// objects reads every object of a bucket: key to the findings of its
// gzip JSON lines.
func objects(t *testing.T, c *s3.Client, bucket string) map[string][]*finding.Finding {
	t.Helper()
	ctx := context.Background()
	out := map[string][]*finding.Finding{}
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range list.Contents {
		got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(got.Body)
		got.Body.Close()
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("%s: %v", *o.Key, err)
		}
		sc := bufio.NewScanner(zr)
		sc.Buffer(nil, 1<<20)
		var fs []*finding.Finding
		for sc.Scan() {
			f := new(finding.Finding)
			if err := json.Unmarshal(sc.Bytes(), f); err != nil {
				t.Fatalf("%s: line %q: %v", *o.Key, sc.Text(), err)
			}
			fs = append(fs, f)
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		out[*o.Key] = fs
	}
	return out
}

// exported returns the IDs of the findings in a bucket's objects.
func exported(t *testing.T, c *s3.Client, bucket string) []string {
	t.Helper()
	var ids []string
	for _, fs := range objects(t, c, bucket) {
		for _, f := range fs {
			ids = append(ids, f.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

func waitUntil(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
	}
}

// status returns a destination's stored status and failure start.
func status(t *testing.T, st destStore, d *store.Destination) (string, time.Time) {
	t.Helper()
	got, err := st.Destination(context.Background(), d.DetectorID, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got.Status, got.FailureStart
}

func newDestination(t *testing.T, st destStore, det *store.Detector, id, arn string) *store.Destination {
	t.Helper()
	now := time.Now().UTC()
	d := &store.Destination{DetectorID: det.ID, ID: id, Type: "S3", DestinationARN: arn, Status: store.DestinationPending, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateDestination(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	return d
}

// otherDetector adds the detector of another account (or region).
func otherDetector(t *testing.T, fx *fixture, account, region string) *fixture {
	t.Helper()
	det := &store.Detector{ID: finding.DetectorID(account, region), Account: account, Region: region, Enabled: true, FindingPublishingFrequency: "SIX_HOURS"}
	if err := fx.st.CreateDetector(t.Context(), det); err != nil {
		t.Fatal(err)
	}
	return &fixture{st: fx.st, det: det}
}

var keyPattern = regexp.MustCompile(`^picket/AWSLogs/(\d{12})/GuardDuty/([a-z0-9-]+)/\d{4}/\d{2}/\d{2}/[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.jsonl\.gz$`)

// TestDestinationExportsItsDetector creates a destination while the
// publisher runs: it becomes PUBLISHING once its bucket is checked, then
// receives the findings of its detector committed since, as GuardDuty
// writes them (GetFindings' JSON, a line each, gzip, under
// prefix/AWSLogs/account/GuardDuty/region/yyyy/mm/dd/uuid.jsonl.gz), and
// neither another account's nor those committed before it existed.
func TestDestinationExportsItsDetector(t *testing.T) {
	fx := newFixture(t, "SIX_HOURS")
	st := fx.st.(destStore)
	other := otherDetector(t, fx, "444455556666", "us-east-1")
	client := newS3(t, "exports")
	dests := &publish.Destinations{Store: st, Client: client, Administrator: "000000000000"}
	// A webhook that is down keeps what is committed in the outbox.
	down := newReceiver(t)
	down.fail.Store(1 << 30)
	run(t, publish.Config{Store: st, Targets: []publish.Target{down.webhook("down")}, Dynamic: dests.Targets,
		Poll: 20 * time.Millisecond, Prune: 30 * time.Millisecond})

	before := fx.finding("i-0before", 1)
	fx.commit(t, before)
	time.Sleep(50 * time.Millisecond)
	if n, _, err := st.OutboxBacklog(t.Context(), "down", time.Now()); err != nil || n != 1 {
		t.Fatalf("the outbox holds %d entries, %v; want the finding committed before the destination", n, err)
	}
	d := newDestination(t, st, fx.det, "0123456789abcdef0123456789abcdef", "arn:aws:s3:::exports/picket")
	waitUntil(t, "the destination to be verified", 5*time.Second, func() bool {
		s, _ := status(t, st, d)
		return s == store.DestinationPublishing
	})

	mine, theirs := fx.finding("i-0mine", 2), other.finding("i-0theirs", 3)
	fx.commit(t, mine, theirs)
	waitUntil(t, "the finding in the bucket", 5*time.Second, func() bool { return len(exported(t, client, "exports")) > 0 })
	time.Sleep(200 * time.Millisecond) // anything else would be there by now
	objs := objects(t, client, "exports")
	if len(objs) != 1 {
		t.Fatalf("%d objects, want 1: %v", len(objs), objs)
	}
	stored, err := st.Findings(t.Context(), fx.det.ID, []string{mine.ID})
	if err != nil || len(stored) != 1 {
		t.Fatal(stored, err)
	}
	for key, fs := range objs {
		m := keyPattern.FindStringSubmatch(key)
		if m == nil || m[1] != fx.det.Account || m[2] != fx.det.Region {
			t.Errorf("object key %s, want picket/AWSLogs/%s/GuardDuty/%s/yyyy/mm/dd/<uuid>.jsonl.gz", key, fx.det.Account, fx.det.Region)
		}
		if d := cmp.Diff(stored, fs); d != "" {
			t.Errorf("exported findings (-stored +exported):\n%s", d)
		}
	}
	if s, since := status(t, st, d); s != store.DestinationPublishing || !since.IsZero() {
		t.Errorf("status %s since %v after a write", s, since)
	}
}

// TestAdministratorDestination: the administrator's destination takes
// the findings of every account in its detector's region, an object per
// account, as GuardDuty exports its members' findings.
func TestAdministratorDestination(t *testing.T) {
	fx := newFixture(t, "SIX_HOURS")
	st := fx.st.(destStore)
	member := otherDetector(t, fx, "444455556666", "us-east-1")
	elsewhere := otherDetector(t, fx, "444455556666", "eu-west-1")
	client := newS3(t, "exports")
	d := newDestination(t, st, fx.det, "0123456789abcdef0123456789abcdef", "arn:aws:s3:::exports/picket/")
	dests := &publish.Destinations{Store: st, Client: client, Administrator: fx.det.Account}
	run(t, publish.Config{Store: st, Dynamic: dests.Targets, Poll: 20 * time.Millisecond})

	own, theirs, far := fx.finding("i-0own", 1), member.finding("i-0member", 2), elsewhere.finding("i-0far", 3)
	fx.commit(t, own, theirs, far)
	want := []string{own.ID, theirs.ID}
	sort.Strings(want)
	waitUntil(t, "both findings in the bucket", 5*time.Second, func() bool { return len(exported(t, client, "exports")) >= 2 })
	time.Sleep(200 * time.Millisecond)
	if got := exported(t, client, "exports"); !cmp.Equal(want, got) {
		t.Errorf("exported %v, want the administrator's and its member's in the region %v", got, want)
	}
	accounts := map[string]bool{}
	for key := range objects(t, client, "exports") {
		if m := keyPattern.FindStringSubmatch(key); m != nil {
			accounts[m[1]] = true
		}
	}
	if !accounts[fx.det.Account] || !accounts[member.det.Account] || len(accounts) != 2 {
		t.Errorf("objects of accounts %v, want one of each", accounts)
	}
	if s, _ := status(t, st, d); s != store.DestinationPublishing {
		t.Errorf("status %s", s)
	}
}

// TestDestinationFixedProperty: a destination whose bucket is missing is
// UNABLE_TO_PUBLISH_FIX_DESTINATION_PROPERTY from its first check, keeps
// the time it first failed and holds what it could not write; once its
// properties name a bucket that is there, the target is replaced without
// a restart, publishes the backlog and is PUBLISHING again.
func TestDestinationFixedProperty(t *testing.T) {
	fx := newFixture(t, "SIX_HOURS")
	st := fx.st.(destStore)
	client := newS3(t, "exports")
	d := newDestination(t, st, fx.det, "0123456789abcdef0123456789abcdef", "arn:aws:s3:::missing")
	dests := &publish.Destinations{Store: st, Client: client, Administrator: "000000000000"}
	run(t, publish.Config{Store: st, Dynamic: dests.Targets, Poll: 20 * time.Millisecond, Prune: 30 * time.Millisecond,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	var failedAt time.Time
	waitUntil(t, "the destination to fail its check", 5*time.Second, func() bool {
		s, since := status(t, st, d)
		failedAt = since
		return s == store.DestinationUnable && !since.IsZero()
	})

	f := fx.finding("i-0held", 1)
	fx.commit(t, f)
	name := publish.DestinationPrefix + d.DetectorID + "/" + d.ID
	time.Sleep(300 * time.Millisecond) // failed rounds and prunes
	if n, _, err := st.OutboxBacklog(t.Context(), name, time.Now()); err != nil || n != 1 {
		t.Fatalf("the failing destination's backlog = %d, %v; want its finding kept", n, err)
	}
	if s, since := status(t, st, d); s != store.DestinationUnable || !since.Equal(failedAt) {
		t.Errorf("after failed writes: %s since %v, want %s since the first failure %v", s, since, store.DestinationUnable, failedAt)
	}

	fixed, err := st.Destination(t.Context(), d.DetectorID, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	fixed.DestinationARN, fixed.Status = "arn:aws:s3:::exports/picket", store.DestinationPending
	if err := st.UpdateDestination(t.Context(), fixed); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the held finding in the fixed bucket", 5*time.Second, func() bool { return cmp.Equal(exported(t, client, "exports"), []string{f.ID}) })
	waitUntil(t, "the destination to publish", 5*time.Second, func() bool {
		s, since := status(t, st, d)
		return s == store.DestinationPublishing && since.IsZero()
	})
}

// TestDestinationsAndThePrune: the outbox keeps what a destination has yet
// to send while other targets have sent it, and lets it go once the
// destination is deleted; a destination picket has no S3 client for is
// unable to publish and holds nothing.
func TestDestinationsAndThePrune(t *testing.T) {
	fx := newFixture(t, "SIX_HOURS")
	st := fx.st.(destStore)
	hook := newReceiver(t)
	d := newDestination(t, st, fx.det, "0123456789abcdef0123456789abcdef", "arn:aws:s3:::missing")
	dests := &publish.Destinations{Store: st, Client: newS3(t), Administrator: "000000000000"}
	run(t, publish.Config{Store: st, Targets: []publish.Target{hook.webhook("hook")}, Dynamic: dests.Targets,
		Poll: 20 * time.Millisecond, Prune: 30 * time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	// Entries every target has not sent: what a name that sent nothing
	// has pending.
	left := func() int {
		n, _, err := st.OutboxBacklog(t.Context(), "nobody", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	fx.commit(t, fx.finding("i-0a", 1))
	hook.wait(t, 1, 5*time.Second)
	time.Sleep(300 * time.Millisecond) // several prunes
	if n := left(); n != 1 {
		t.Fatalf("%d entries left while the destination has not sent, want 1", n)
	}
	if err := st.DeleteDestination(t.Context(), d.DetectorID, d.ID); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the outbox to be pruned after the delete", 5*time.Second, func() bool { return left() == 0 })
}

// TestDestinationWithoutS3: a destination picket has no S3 client for is
// unable to publish from when the publisher first sees it, and the
// outbox keeps nothing for it.
func TestDestinationWithoutS3(t *testing.T) {
	fx := newFixture(t, "SIX_HOURS")
	st := fx.st.(destStore)
	hook := newReceiver(t)
	d := newDestination(t, st, fx.det, "fedcba9876543210fedcba9876543210", "arn:aws:s3:::exports")
	none := &publish.Destinations{Store: st, Administrator: "000000000000"}
	run(t, publish.Config{Store: st, Targets: []publish.Target{hook.webhook("hook")}, Dynamic: none.Targets,
		Poll: 20 * time.Millisecond, Prune: 30 * time.Millisecond})
	waitUntil(t, "the unconfigured destination to be unable", 5*time.Second, func() bool {
		s, since := status(t, st, d)
		return s == store.DestinationUnable && !since.IsZero()
	})
	fx.commit(t, fx.finding("i-0b", 2))
	hook.wait(t, 1, 5*time.Second)
	waitUntil(t, "the outbox to be pruned", 5*time.Second, func() bool {
		n, _, err := st.OutboxBacklog(t.Context(), "nobody", time.Now())
		return err == nil && n == 0
	})
}

// TestDestinationsPostgres is TestDestinationExportsItsDetector's core on
// PostgreSQL: a destination there receives its detector's finding.
func TestDestinationsPostgres(t *testing.T) {
	fx := withDetector(t, openPostgres(t), "SIX_HOURS")
	st := fx.st.(destStore)
	client := newS3(t, "exports")
	d := newDestination(t, st, fx.det, "0123456789abcdef0123456789abcdef", "arn:aws:s3:::exports/picket")
	dests := &publish.Destinations{Store: st, Client: client, Administrator: "000000000000"}
	run(t, publish.Config{Store: st, Dynamic: dests.Targets, Poll: 20 * time.Millisecond})
	f := fx.finding("i-0pg", 1)
	fx.commit(t, f)
	waitUntil(t, "the finding in the bucket", 5*time.Second, func() bool { return cmp.Equal(exported(t, client, "exports"), []string{f.ID}) })
	if s, _ := status(t, st, d); s != store.DestinationPublishing {
		t.Errorf("status %s", s)
	}
}
