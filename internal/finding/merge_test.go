package finding_test

import (
	"testing"
	"time"

	"picket/internal/finding"
)

// TestMergeKeepsLinksAndBuckets: a later report without them keeps a
// finding's link to its attack sequence and its bucket details, and a
// later report with them sets them.
func TestMergeKeepsLinksAndBuckets(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	k := finding.Key{Account: "111122223333", Region: "eu-west-1", Resource: "reports-bucket"}
	report := func(t time.Time) *finding.Finding {
		return finding.New(finding.TypeS3BucketAnonymousAccessGranted, k, "d", t, t, 1)
	}
	const arn = "arn:aws:guardduty:eu-west-1:111122223333:detector/d/finding/0123"
	first, later := report(at), report(at.Add(time.Hour))
	first.AssociatedAttackSequenceArn = arn
	finding.Merge(first, later)
	if first.AssociatedAttackSequenceArn != arn {
		t.Errorf("the link to the sequence was lost: %q", first.AssociatedAttackSequenceArn)
	}
	dst, src := report(at), report(at.Add(time.Hour))
	src.AssociatedAttackSequenceArn = arn
	src.Resource.S3BucketDetails = []finding.S3BucketDetail{{Name: "reports-bucket"}}
	finding.Merge(dst, src)
	if dst.AssociatedAttackSequenceArn != arn || len(dst.Resource.S3BucketDetails) != 1 {
		t.Errorf("the later report's link %q and buckets %v were not taken", dst.AssociatedAttackSequenceArn, dst.Resource.S3BucketDetails)
	}
}
