package publish

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// PutObjectAPI is the call of the S3 client that S3 makes.
type PutObjectAPI interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// S3 is a publishing destination: it writes each round's findings as one
// gzip-compressed JSON-lines object (a finding per line, as GuardDuty
// exports them) under
// <prefix>AWSLogs/<account>/GuardDuty/<region>/<yyyy>/<mm>/<dd>/, one
// object per account and region, named <uuid>.jsonl.gz as GuardDuty
// names its objects. The UUID is a hash of what the object holds, so a
// round sent again after a failure writes the same object.
type S3 struct {
	TargetName string
	Client     PutObjectAPI
	Bucket     string
	Prefix     string // "" or ending in "/"
	// KMSKeyARN, when set, has S3 encrypt the objects with that key (as
	// GuardDuty requires); otherwise the bucket's default encryption
	// applies.
	KMSKeyARN string
}

var _ Target = (*S3)(nil)

// Name returns the target's name.
func (d *S3) Name() string { return d.TargetName }

// Send writes the events' objects.
func (d *S3) Send(ctx context.Context, events []Event) error {
	type group struct {
		account, region string
		lines           bytes.Buffer
		ids             []string
	}
	var groups []*group
	by := map[string]*group{}
	for _, e := range events {
		k := e.Finding.AccountID + "/" + e.Finding.Region
		g := by[k]
		if g == nil {
			g = &group{account: e.Finding.AccountID, region: e.Finding.Region}
			by[k] = g
			groups = append(groups, g)
		}
		line, err := Encode(FormatFinding, e)
		if err != nil {
			return err
		}
		g.lines.Write(line)
		g.lines.WriteByte('\n')
		g.ids = append(g.ids, EventID(e.Finding))
	}
	for _, g := range groups {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(g.lines.Bytes())
		if err := zw.Close(); err != nil {
			return err
		}
		day := events[0].CommittedAt.UTC()
		key := fmt.Sprintf("%sAWSLogs/%s/GuardDuty/%s/%s/%s.jsonl.gz", d.Prefix, g.account, g.region, day.Format("2006/01/02"), objectUUID(g.ids))
		in := &s3.PutObjectInput{
			Bucket: aws.String(d.Bucket), Key: aws.String(key), Body: bytes.NewReader(z.Bytes()),
			ContentType: aws.String("application/gzip"),
		}
		if d.KMSKeyARN != "" {
			in.ServerSideEncryption = "aws:kms"
			in.SSEKMSKeyId = aws.String(d.KMSKeyARN)
		}
		if _, err := d.Client.PutObject(ctx, in); err != nil {
			return fmt.Errorf("s3 destination %s: writing s3://%s/%s: %w", d.TargetName, d.Bucket, key, err)
		}
	}
	return nil
}

// objectUUID returns a name-based UUID of the event IDs an object holds.
func objectUUID(ids []string) string {
	h := sha256.Sum256([]byte(strings.Join(ids, ",")))
	h[6] = h[6]&0x0f | 0x50 // the version and variant bits of a name-based UUID
	h[8] = h[8]&0x3f | 0x80
	s := hex.EncodeToString(h[:16])
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}
