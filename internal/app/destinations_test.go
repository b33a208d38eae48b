package app

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	gd "github.com/aws/aws-sdk-go-v2/service/guardduty/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"picket/internal/config"
)

// TestServePublishingDestination creates a publishing destination through
// the API of a running service, on an S3-compatible server on loopback
// (gofakes3): first naming a bucket that is not there, which the service
// reports as unable to publish, then, fixed by UpdatePublishingDestination
// without a restart, the real one. Findings that ingest then commits from
// watched flow logs arrive there as GuardDuty writes its exports: gzip
// JSON lines of the findings GetFindings returns, under
// <prefix>/AWSLogs/<account>/GuardDuty/<region>/<yyyy>/<mm>/<dd>/<uuid>.jsonl.gz.
func TestServePublishingDestination(t *testing.T) {
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	defer srv.Close()
	client := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("AKIAFAKE", "fake-secret", ""),
	})
	ctx := t.Context()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("findings")}); err != nil {
		t.Fatal(err)
	}

	dataDir, watch, staging := t.TempDir(), t.TempDir(), t.TempDir()
	genLogs(t, staging, time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC), time.Hour, 1)
	cfg := testConfig(dataDir, watch)
	cfg.Publish.PollInterval = config.Duration(50 * time.Millisecond)
	cfg.Publish.Destinations = &config.Destinations{Endpoint: srv.URL, Region: "us-east-1", PathStyle: true,
		AccessKeyID: "AKIAFAKE", SecretAccessKey: "fake-secret"}
	s := startService(t, cfg)
	api := gdClient(t, s.url(), dataDir)

	cd, err := api.CreateDetector(ctx, &guardduty.CreateDetectorInput{Enable: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	det := cd.DetectorId
	cr, err := api.CreatePublishingDestination(ctx, &guardduty.CreatePublishingDestinationInput{DetectorId: det,
		DestinationType: gd.DestinationTypeS3, DestinationProperties: &gd.DestinationProperties{
			DestinationArn: aws.String("arn:aws:s3:::no-such-bucket/guardduty"),
			KmsKeyArn:      aws.String("arn:aws:kms:us-east-1:" + testAccount + ":key/5f4c2a9e-1111-2222-3333-444455556666")}})
	if err != nil {
		t.Fatalf("CreatePublishingDestination: %v", err)
	}
	describe := func() *guardduty.DescribePublishingDestinationOutput {
		t.Helper()
		out, err := api.DescribePublishingDestination(ctx, &guardduty.DescribePublishingDestinationInput{DetectorId: det, DestinationId: cr.DestinationId})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	waitFor(t, 10*time.Second, "the missing bucket to be reported", func() bool {
		d := describe()
		return d.Status == gd.PublishingStatusUnableToPublishFixDestinationProperty && aws.ToInt64(d.PublishingFailureStartTimestamp) > 0
	})

	if _, err := api.UpdatePublishingDestination(ctx, &guardduty.UpdatePublishingDestinationInput{DetectorId: det, DestinationId: cr.DestinationId,
		DestinationProperties: &gd.DestinationProperties{DestinationArn: aws.String("arn:aws:s3:::findings/guardduty")}}); err != nil {
		t.Fatalf("UpdatePublishingDestination: %v", err)
	}
	waitFor(t, 10*time.Second, "the fixed destination to publish", func() bool {
		d := describe()
		return d.Status == gd.PublishingStatusPublishing && aws.ToInt64(d.PublishingFailureStartTimestamp) == 0
	})

	moveInto(t, staging, watch)
	caughtUp(t, s.url(), 2*time.Minute)
	ids := findingIDs(t, api, *det)
	if len(ids) == 0 {
		t.Fatal("ingest committed no findings")
	}
	var got map[string]json.RawMessage
	waitFor(t, 10*time.Second, "every finding in the bucket", func() bool {
		got = exportedFindings(t, client, "findings", "guardduty/AWSLogs/"+testAccount+"/GuardDuty/us-east-1/")
		for _, id := range ids {
			if got[id] == nil {
				return false
			}
		}
		return true
	})
	if len(got) != len(ids) {
		t.Errorf("%d findings exported, %d in the API", len(got), len(ids))
	}
	// The lines are GetFindings' findings: the same members, the same
	// identity.
	gf, err := api.GetFindings(ctx, &guardduty.GetFindingsInput{DetectorId: det, FindingIds: ids[:min(len(ids), 50)]})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range gf.Findings {
		var line struct {
			ID, Type, AccountID, Region, Arn string
			Service                          struct{ DetectorID string }
		}
		if err := json.Unmarshal(got[aws.ToString(f.Id)], &line); err != nil {
			t.Fatal(err)
		}
		if line.ID != aws.ToString(f.Id) || line.Type != aws.ToString(f.Type) || line.AccountID != aws.ToString(f.AccountId) ||
			line.Region != aws.ToString(f.Region) || line.Arn != aws.ToString(f.Arn) || line.Service.DetectorID != *det {
			t.Errorf("exported %+v, GetFindings has %s %s %s %s", line, aws.ToString(f.Id), aws.ToString(f.Type), aws.ToString(f.AccountId), aws.ToString(f.Region))
		}
	}
	if d := describe(); d.Status != gd.PublishingStatusPublishing || aws.ToString(d.DestinationProperties.KmsKeyArn) == "" {
		t.Errorf("after the export: %s, properties %+v", d.Status, d.DestinationProperties)
	}
	target := `picket_push_sent_total{target="publishingDestination/` + *det + `/` + aws.ToString(cr.DestinationId) + `"}`
	if n := scrape(t, s.url())[target]; n < float64(len(ids)) {
		t.Errorf("%s = %v, want at least %d", target, n, len(ids))
	}
}

// findingIDs lists every finding of a detector through the API.
func findingIDs(t *testing.T, api *guardduty.Client, det string) []string {
	t.Helper()
	var ids []string
	p := guardduty.NewListFindingsPaginator(api, &guardduty.ListFindingsInput{DetectorId: &det, MaxResults: aws.Int32(50)})
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, page.FindingIds...)
	}
	slices.Sort(ids)
	return ids
}

var exportKey = regexp.MustCompile(`/\d{4}/\d{2}/\d{2}/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.jsonl\.gz$`)

// exportedFindings reads every object under prefix in a bucket: each
// must be named as GuardDuty names its exports, and hold gzip JSON
// lines; it returns each finding's line by its ID (the latest object's
// when a finding is in several).
func exportedFindings(t *testing.T, c *s3.Client, bucket, prefix string) map[string]json.RawMessage {
	t.Helper()
	ctx := context.Background()
	out := map[string]json.RawMessage{}
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			if len(key) < len(prefix) || key[:len(prefix)] != prefix || !exportKey.MatchString(key[len(prefix)-1:]) {
				t.Errorf("object %s is not named <prefix>/AWSLogs/<account>/GuardDuty/<region>/<yyyy>/<mm>/<dd>/<uuid>.jsonl.gz under %s", key, prefix)
				continue
			}
			obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(obj.Body)
			obj.Body.Close()
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			sc := bufio.NewScanner(zr)
			sc.Buffer(nil, 4<<20)
			for sc.Scan() {
				var f struct{ ID string }
				if err := json.Unmarshal(sc.Bytes(), &f); err != nil || f.ID == "" {
					t.Fatalf("%s: line %.200q: %v", key, sc.Text(), err)
				}
				out[f.ID] = slices.Clone(sc.Bytes())
			}
			if err := sc.Err(); err != nil {
				t.Fatalf("%s: %v", key, err)
			}
		}
	}
	return out
}
