package api

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	gd "github.com/aws/aws-sdk-go-v2/service/guardduty/types"
	"github.com/google/go-cmp/cmp"

	"picket/internal/store"
)

// statusStore is the store's side the publisher writes a destination's
// status through.
type statusStore interface {
	SetDestinationStatus(ctx context.Context, d *store.Destination) error
}

// TestDestinationsSDK drives the five publishing destination operations
// through the Go SDK over SQLite: create (idempotent by clientToken, one
// per detector), describe with the status the publisher records, list,
// update, tags, delete.
func TestDestinationsSDK(t *testing.T) {
	l := newLive(t, nil)
	ctx := t.Context()
	gdc := l.client(testCreds, aws.NopRetryer{})
	cd, err := gdc.CreateDetector(ctx, &guardduty.CreateDetectorInput{Enable: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	det := cd.DetectorId

	ld, err := gdc.ListPublishingDestinations(ctx, &guardduty.ListPublishingDestinationsInput{DetectorId: det})
	if err != nil || ld.Destinations == nil || len(ld.Destinations) != 0 || ld.NextToken != nil {
		t.Fatalf("ListPublishingDestinations of a new detector = %+v, %v; want an empty list", ld, err)
	}

	const bucketARN = "arn:aws:s3:::guardduty-exports/picket/findings"
	const keyARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	create := func(token, arn string) (*guardduty.CreatePublishingDestinationOutput, error) {
		in := &guardduty.CreatePublishingDestinationInput{DetectorId: det, DestinationType: gd.DestinationTypeS3,
			DestinationProperties: &gd.DestinationProperties{DestinationArn: aws.String(arn), KmsKeyArn: aws.String(keyARN)},
			Tags:                  map[string]string{"team": "sec"}}
		if token != "" {
			in.ClientToken = aws.String(token)
		}
		return gdc.CreatePublishingDestination(ctx, in)
	}
	cr, err := create("token-1", bucketARN)
	if err != nil {
		t.Fatalf("CreatePublishingDestination: %v", err)
	}
	id := aws.ToString(cr.DestinationId)
	if len(id) != 32 || !wellFormedID(id) {
		t.Errorf("destination ID %q, want 32 hex characters", id)
	}
	// A retry with the same token finds the same destination.
	again, err := create("token-1", bucketARN)
	if err != nil || aws.ToString(again.DestinationId) != id {
		t.Errorf("retried CreatePublishingDestination = %v, %v; want %s", again, err, id)
	}
	_, err = create("token-1", "arn:aws:s3:::other-bucket")
	wantErr(t, "the same clientToken for other properties", err, "BadRequestException",
		"The request is rejected because the clientToken was used for a different publishing destination.")
	// One per detector.
	for _, token := range []string{"", "token-2"} {
		_, err = create(token, "arn:aws:s3:::other-bucket")
		wantErr(t, "a second destination (token "+token+")", err, "BadRequestException", msgDestinationExists)
	}

	describe := func() *guardduty.DescribePublishingDestinationOutput {
		t.Helper()
		out, err := gdc.DescribePublishingDestination(ctx, &guardduty.DescribePublishingDestinationInput{DetectorId: det, DestinationId: aws.String(id)})
		if err != nil {
			t.Fatalf("DescribePublishingDestination: %v", err)
		}
		return out
	}
	type view struct {
		ID, Type, Status, ARN, Key string
		FailureStart               int64
		Tags                       map[string]string
	}
	viewOf := func(o *guardduty.DescribePublishingDestinationOutput) view {
		return view{aws.ToString(o.DestinationId), string(o.DestinationType), string(o.Status), aws.ToString(o.DestinationProperties.DestinationArn),
			aws.ToString(o.DestinationProperties.KmsKeyArn), aws.ToInt64(o.PublishingFailureStartTimestamp), o.Tags}
	}
	want := view{id, "S3", "PENDING_VERIFICATION", bucketARN, keyARN, 0, map[string]string{"team": "sec"}}
	if d := cmp.Diff(want, viewOf(describe())); d != "" {
		t.Errorf("DescribePublishingDestination (-want +got):\n%s", d)
	}

	// The status the publisher records shows, with the failure's start
	// in epoch milliseconds.
	failed := time.Date(2026, 3, 4, 5, 6, 7, 890_000_000, time.UTC)
	stored, err := l.store.Destination(ctx, *det, id)
	if err != nil {
		t.Fatal(err)
	}
	stored.Status, stored.FailureStart = store.DestinationUnable, failed
	if err := l.store.(statusStore).SetDestinationStatus(ctx, stored); err != nil {
		t.Fatal(err)
	}
	want.Status, want.FailureStart = "UNABLE_TO_PUBLISH_FIX_DESTINATION_PROPERTY", failed.UnixMilli()
	if d := cmp.Diff(want, viewOf(describe())); d != "" {
		t.Errorf("DescribePublishingDestination of a failing destination (-want +got):\n%s", d)
	}
	ld, err = gdc.ListPublishingDestinations(ctx, &guardduty.ListPublishingDestinationsInput{DetectorId: det})
	if err != nil || len(ld.Destinations) != 1 || aws.ToString(ld.Destinations[0].DestinationId) != id ||
		ld.Destinations[0].DestinationType != gd.DestinationTypeS3 || ld.Destinations[0].Status != gd.PublishingStatusUnableToPublishFixDestinationProperty {
		t.Errorf("ListPublishingDestinations = %+v, %v", ld, err)
	}

	// Updating a property makes the destination wait for verification
	// again; the failure's start stays until it publishes.
	_, err = gdc.UpdatePublishingDestination(ctx, &guardduty.UpdatePublishingDestinationInput{DetectorId: det, DestinationId: aws.String(id),
		DestinationProperties: &gd.DestinationProperties{DestinationArn: aws.String("arn:aws:s3:::guardduty-exports")}})
	if err != nil {
		t.Fatalf("UpdatePublishingDestination: %v", err)
	}
	want.ARN, want.Status = "arn:aws:s3:::guardduty-exports", "PENDING_VERIFICATION"
	if d := cmp.Diff(want, viewOf(describe())); d != "" {
		t.Errorf("DescribePublishingDestination after the update (-want +got):\n%s", d)
	}
	// An update without properties changes nothing.
	if _, err := gdc.UpdatePublishingDestination(ctx, &guardduty.UpdatePublishingDestinationInput{DetectorId: det, DestinationId: aws.String(id)}); err != nil {
		t.Errorf("UpdatePublishingDestination without properties: %v", err)
	}
	_, err = gdc.UpdatePublishingDestination(ctx, &guardduty.UpdatePublishingDestinationInput{DetectorId: det, DestinationId: aws.String(id),
		DestinationProperties: &gd.DestinationProperties{DestinationArn: aws.String("arn:aws:s3:::Bad_Bucket")}})
	wantErr(t, "UpdatePublishingDestination to a bad bucket", err, "BadRequestException", "The request is rejected because the parameter destinationArn has an invalid value.")
	if d := cmp.Diff(want, viewOf(describe())); d != "" {
		t.Errorf("a refused update changed the destination (-want +got):\n%s", d)
	}

	// Tags by the destination's ARN.
	arn := "arn:aws:guardduty:" + testRegion + ":" + testAccount + ":detector/" + *det + "/publishingDestination/" + id
	if _, err := gdc.TagResource(ctx, &guardduty.TagResourceInput{ResourceArn: aws.String(arn), Tags: map[string]string{"env": "prod"}}); err != nil {
		t.Errorf("TagResource: %v", err)
	}
	if _, err := gdc.UntagResource(ctx, &guardduty.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"team"}}); err != nil {
		t.Errorf("UntagResource: %v", err)
	}
	tags, err := gdc.ListTagsForResource(ctx, &guardduty.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
	if err != nil || !cmp.Equal(tags.Tags, map[string]string{"env": "prod"}) {
		t.Errorf("ListTagsForResource = %v, %v", tags, err)
	}
	if got := describe().Tags; !cmp.Equal(got, map[string]string{"env": "prod"}) {
		t.Errorf("described tags %v", got)
	}

	// Unknown and malformed destinations.
	for _, c := range []struct{ id, msg string }{
		{"0123456789abcdef0123456789abcdef", msgNoResource},
		{"not*an*id", "The request is rejected because the parameter destinationId has an invalid value."},
	} {
		_, err := gdc.DescribePublishingDestination(ctx, &guardduty.DescribePublishingDestinationInput{DetectorId: det, DestinationId: aws.String(c.id)})
		wantErr(t, "DescribePublishingDestination "+c.id, err, "BadRequestException", c.msg)
		_, err = gdc.DeletePublishingDestination(ctx, &guardduty.DeletePublishingDestinationInput{DetectorId: det, DestinationId: aws.String(c.id)})
		wantErr(t, "DeletePublishingDestination "+c.id, err, "BadRequestException", c.msg)
	}
	_, err = gdc.ListPublishingDestinations(ctx, &guardduty.ListPublishingDestinationsInput{DetectorId: aws.String("0123456789abcdef0123456789abcdef")})
	wantErr(t, "ListPublishingDestinations of an unknown detector", err, "BadRequestException", msgNotOwned)
	_, err = gdc.ListPublishingDestinations(ctx, &guardduty.ListPublishingDestinationsInput{DetectorId: det, MaxResults: aws.Int32(51)})
	wantErr(t, "ListPublishingDestinations of 51", err, "BadRequestException", msgRange)

	// Delete; then a new one may be made.
	if _, err := gdc.DeletePublishingDestination(ctx, &guardduty.DeletePublishingDestinationInput{DetectorId: det, DestinationId: aws.String(id)}); err != nil {
		t.Fatalf("DeletePublishingDestination: %v", err)
	}
	_, err = gdc.DescribePublishingDestination(ctx, &guardduty.DescribePublishingDestinationInput{DetectorId: det, DestinationId: aws.String(id)})
	wantErr(t, "DescribePublishingDestination after the delete", err, "BadRequestException", msgNoResource)
	_, err = gdc.ListTagsForResource(ctx, &guardduty.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
	wantErr(t, "ListTagsForResource after the delete", err, "BadRequestException", msgNoResource)
	if _, err := create("", "arn:aws:s3:::other-bucket"); err != nil {
		t.Errorf("CreatePublishingDestination after the delete: %v", err)
	}
	ld, err = gdc.ListPublishingDestinations(ctx, &guardduty.ListPublishingDestinationsInput{DetectorId: det})
	if err != nil || len(ld.Destinations) != 1 || aws.ToString(ld.Destinations[0].DestinationId) == id {
		t.Errorf("ListPublishingDestinations after the delete and a new create = %+v, %v", ld, err)
	}
}

// TestDestinationValidation checks CreatePublishingDestination's checks of
// its members, through the SDK.
func TestDestinationValidation(t *testing.T) {
	l := newLive(t, nil)
	ctx := t.Context()
	gdc := l.client(testCreds, aws.NopRetryer{})
	cd, err := gdc.CreateDetector(ctx, &guardduty.CreateDetectorInput{Enable: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	det := cd.DetectorId
	invalid := func(name string) string {
		return "The request is rejected because the parameter " + name + " has an invalid value."
	}
	tests := []struct {
		name, typ, arn, key string
		msg                 string // "" when it is accepted
	}{
		{"bucket", "S3", "arn:aws:s3:::exports", "", ""},
		{"prefix", "S3", "arn:aws:s3:::exports/a/b", "", ""},
		{"prefix with a trailing slash", "S3", "arn:aws:s3:::exports/a/", "", ""},
		{"China partition", "S3", "arn:aws-cn:s3:::exports", "", ""},
		{"GovCloud partition and a key", "S3", "arn:aws-us-gov:s3:::exports", "arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/k-1", ""},
		{"unknown type", "SQS", "arn:aws:s3:::exports", "", invalid("destinationType")},
		{"not an S3 ARN", "S3", "arn:aws:sqs:us-east-1:123456789012:exports", "", invalid("destinationArn")},
		{"S3 ARN with a region", "S3", "arn:aws:s3:us-east-1:123456789012:exports", "", invalid("destinationArn")},
		{"a URL", "S3", "s3://exports/picket", "", invalid("destinationArn")},
		{"upper case bucket", "S3", "arn:aws:s3:::Exports", "", invalid("destinationArn")},
		{"short bucket", "S3", "arn:aws:s3:::ab", "", invalid("destinationArn")},
		{"bucket as an address", "S3", "arn:aws:s3:::192.168.1.1", "", invalid("destinationArn")},
		{"empty prefix segment", "S3", "arn:aws:s3:::exports/a//b", "", invalid("destinationArn")},
		{"control character in the prefix", "S3", "arn:aws:s3:::exports/a\x01b", "", invalid("destinationArn")},
		{"unknown partition", "S3", "arn:azure:s3:::exports", "", invalid("destinationArn")},
		{"an alias for a key", "S3", "arn:aws:s3:::exports", "arn:aws:kms:us-east-1:123456789012:alias/findings", invalid("kmsKeyArn")},
		{"not a key", "S3", "arn:aws:s3:::exports", "key-1", invalid("kmsKeyArn")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			props := &gd.DestinationProperties{DestinationArn: aws.String(tt.arn)}
			if tt.key != "" {
				props.KmsKeyArn = aws.String(tt.key)
			}
			out, err := gdc.CreatePublishingDestination(ctx, &guardduty.CreatePublishingDestinationInput{DetectorId: det,
				DestinationType: gd.DestinationType(tt.typ), DestinationProperties: props})
			if tt.msg != "" {
				wantErr(t, tt.name, err, "BadRequestException", tt.msg)
				return
			}
			if err != nil {
				t.Fatalf("CreatePublishingDestination: %v", err)
			}
			if _, err := gdc.DeletePublishingDestination(ctx, &guardduty.DeletePublishingDestinationInput{DetectorId: det, DestinationId: out.DestinationId}); err != nil {
				t.Fatal(err)
			}
		})
	}

	// Required members, which the SDK would check itself, sent raw.
	f := newFixture(t, nil)
	d := f.createDetector(t)
	for _, c := range []struct{ body, member string }{
		{`{"destinationProperties":{"destinationArn":"arn:aws:s3:::exports"}}`, "destinationType"},
		{`{"destinationType":"S3"}`, "destinationProperties"},
		{`{"destinationType":"S3","destinationProperties":{"kmsKeyArn":"arn:aws:kms:us-east-1:123456789012:key/k"}}`, "destinationArn"},
	} {
		w := f.serve(f.request(t, "POST", "/detector/"+d+"/publishingDestination", c.body))
		if e := errorOf(t, w); e.Status != 400 || e.Code != "BadRequestException" || e.Message != invalid(c.member) {
			t.Errorf("%s: %+v, want 400 for %s", c.body, e, c.member)
		}
	}
	w := f.serve(f.request(t, "POST", "/detector/"+d+"/publishingDestination", `{"destinationType":"S3","destinationProperties":{"destinationArn":"arn:aws:s3:::exports","bucket":"x"}}`))
	if e := errorOf(t, w); e.Status != 400 || e.Message != msgJSON {
		t.Errorf("an unknown member: %+v", e)
	}
}

// TestDestinationsAreTheOwners: a destination is reached only through
// the caller's own detector, as every detector-scoped call is.
func TestDestinationsAreTheOwners(t *testing.T) {
	o := newOrg(t)
	ctx := t.Context()
	o.arrive(t, memberB, 1, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	admin, member := o.client(adminCreds), o.client(memberBCreds)
	ld, err := admin.ListDetectors(ctx, &guardduty.ListDetectorsInput{})
	if err != nil || len(ld.DetectorIds) != 1 {
		t.Fatalf("the administrator's detectors: %v, %v", ld, err)
	}
	adminDet := ld.DetectorIds[0]
	ld, err = member.ListDetectors(ctx, &guardduty.ListDetectorsInput{})
	if err != nil || len(ld.DetectorIds) != 1 {
		t.Fatalf("the member's detectors: %v, %v", ld, err)
	}
	memberDet := ld.DetectorIds[0]
	props := &gd.DestinationProperties{DestinationArn: aws.String("arn:aws:s3:::admin-exports")}
	cr, err := admin.CreatePublishingDestination(ctx, &guardduty.CreatePublishingDestinationInput{DetectorId: &adminDet,
		DestinationType: gd.DestinationTypeS3, DestinationProperties: props})
	if err != nil {
		t.Fatal(err)
	}
	// The member can name neither the administrator's detector nor,
	// through its own, the administrator's destination.
	_, err = member.DescribePublishingDestination(ctx, &guardduty.DescribePublishingDestinationInput{DetectorId: &adminDet, DestinationId: cr.DestinationId})
	wantErr(t, "a member describing the administrator's destination", err, "BadRequestException", msgNotOwned)
	_, err = member.DeletePublishingDestination(ctx, &guardduty.DeletePublishingDestinationInput{DetectorId: &adminDet, DestinationId: cr.DestinationId})
	wantErr(t, "a member deleting the administrator's destination", err, "BadRequestException", msgNotOwned)
	_, err = member.DescribePublishingDestination(ctx, &guardduty.DescribePublishingDestinationInput{DetectorId: &memberDet, DestinationId: cr.DestinationId})
	wantErr(t, "a member naming the administrator's destination under its own detector", err, "BadRequestException", msgNoResource)
	_, err = member.CreatePublishingDestination(ctx, &guardduty.CreatePublishingDestinationInput{DetectorId: &adminDet,
		DestinationType: gd.DestinationTypeS3, DestinationProperties: props})
	wantErr(t, "a member creating a destination on the administrator's detector", err, "BadRequestException", msgNotOwned)
	// Its own detector has its own destination.
	if _, err := member.CreatePublishingDestination(ctx, &guardduty.CreatePublishingDestinationInput{DetectorId: &memberDet,
		DestinationType: gd.DestinationTypeS3, DestinationProperties: &gd.DestinationProperties{DestinationArn: aws.String("arn:aws:s3:::member-exports")}}); err != nil {
		t.Errorf("the member's own destination: %v", err)
	}
	// And the administrator cannot name the member's detector.
	_, err = admin.ListPublishingDestinations(ctx, &guardduty.ListPublishingDestinationsInput{DetectorId: &memberDet})
	wantErr(t, "the administrator listing the member's destinations", err, "BadRequestException", msgNotOwned)
}
