package store

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"
)

// Destination is a publishing destination: an S3 bucket (and prefix)
// that the findings of a detector are exported to, as GuardDuty's
// CreatePublishingDestination makes one. A detector has at most one.
type Destination struct {
	DetectorID string
	ID         string
	Type       string // S3, the only type GuardDuty has
	// DestinationARN names the bucket and an optional prefix:
	// arn:aws:s3:::bucket or arn:aws:s3:::bucket/prefix.
	DestinationARN string
	// KMSKeyARN is the key the user asked objects to be encrypted with.
	KMSKeyARN string
	// Status is one of the Destination* statuses; the publisher keeps it.
	Status string
	// FailureStart is when the publisher first failed to write to the
	// destination since it last succeeded; zero while it publishes.
	FailureStart time.Time
	Tags         map[string]string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// The statuses of a publishing destination, as GuardDuty names them.
const (
	// DestinationPending: nobody has tried the destination since it was
	// created or its properties changed.
	DestinationPending = "PENDING_VERIFICATION"
	// DestinationPublishing: the last attempt to write to it worked.
	DestinationPublishing = "PUBLISHING"
	// DestinationUnable: the last attempt failed, or picket has no way to
	// write to it; FailureStart says since when.
	DestinationUnable = "UNABLE_TO_PUBLISH_FIX_DESTINATION_PROPERTY"
	// DestinationStopped is in GuardDuty's model; picket does not set it.
	DestinationStopped = "STOPPED"
)

// SameProperties reports whether two destinations have the same
// properties: the bucket, prefix and key that a status is about.
func (d *Destination) SameProperties(o *Destination) bool {
	return d.Type == o.Type && d.DestinationARN == o.DestinationARN && d.KMSKeyARN == o.KMSKeyARN
}

// ParseBucketARN returns the bucket and the prefix (without a trailing
// "/"; "" for none) of a destination ARN: arn:PARTITION:s3:::BUCKET or
// arn:PARTITION:s3:::BUCKET/PREFIX, where PARTITION is aws or aws-...
// (aws-cn, aws-us-gov, ...), BUCKET follows S3's naming rules, and
// PREFIX is 1 to 512 bytes of path segments without control characters
// and without empty segments.
func ParseBucketARN(arn string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(arn, "arn:")
	if !ok {
		return "", "", errors.New("not an ARN")
	}
	partition, rest, _ := strings.Cut(rest, ":")
	if !validPartition(partition) {
		return "", "", fmt.Errorf("partition %q is not aws or aws-<name>", truncate(partition, 32))
	}
	rest, ok = strings.CutPrefix(rest, "s3:::")
	if !ok {
		return "", "", errors.New("not an S3 bucket ARN (arn:aws:s3:::bucket)")
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if err := validBucket(bucket); err != nil {
		return "", "", err
	}
	if prefix == "/" {
		return "", "", errors.New("the prefix has an empty path segment")
	}
	prefix = strings.TrimSuffix(prefix, "/")
	if len(prefix) > 512 {
		return "", "", fmt.Errorf("the prefix has %d bytes, at most 512", len(prefix))
	}
	if prefix != "" {
		if !utf8.ValidString(prefix) {
			return "", "", errors.New("the prefix is not UTF-8")
		}
		for seg := range strings.SplitSeq(prefix, "/") {
			if seg == "" {
				return "", "", errors.New("the prefix has an empty path segment")
			}
		}
		for _, c := range prefix {
			if c < 0x20 || c == 0x7f {
				return "", "", errors.New("the prefix has a control character")
			}
		}
	}
	return bucket, prefix, nil
}

func validPartition(p string) bool {
	if p != "aws" && !strings.HasPrefix(p, "aws-") || len(p) > 20 {
		return false
	}
	for part := range strings.SplitSeq(strings.TrimPrefix(p, "aws"), "-") {
		for i := 0; i < len(part); i++ {
			if part[i] < 'a' || part[i] > 'z' {
				return false
			}
		}
	}
	return !strings.HasSuffix(p, "-") && !strings.Contains(p, "--")
}

// validBucket checks S3's rules for bucket names: 3 to 63 lowercase
// letters, digits, dots and hyphens, starting and ending with a letter or
// digit, no two dots together nor a dot next to a hyphen, not an IPv4
// address.
func validBucket(b string) error {
	bad := func(why string) error { return fmt.Errorf("bucket %q: %s", truncate(b, 64), why) }
	if len(b) < 3 || len(b) > 63 {
		return bad("not 3 to 63 characters")
	}
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
	if !alnum(b[0]) || !alnum(b[len(b)-1]) {
		return bad("does not start and end with a lowercase letter or digit")
	}
	for i := 0; i < len(b); i++ {
		if c := b[i]; !alnum(c) && c != '.' && c != '-' {
			return bad("has characters other than lowercase letters, digits, dots and hyphens")
		}
	}
	if strings.Contains(b, "..") || strings.Contains(b, ".-") || strings.Contains(b, "-.") {
		return bad("has two dots together or a dot next to a hyphen")
	}
	if a, err := netip.ParseAddr(b); err == nil && a.Is4() {
		return bad("is an IP address")
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
