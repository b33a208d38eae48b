package store

import "testing"

func TestParseBucketARN(t *testing.T) {
	tests := []struct {
		arn, bucket, prefix string
		ok                  bool
	}{
		{"arn:aws:s3:::exports", "exports", "", true},
		{"arn:aws:s3:::exports/", "exports", "", true},
		{"arn:aws:s3:::exports/guardduty", "exports", "guardduty", true},
		{"arn:aws:s3:::exports/a/b/", "exports", "a/b", true},
		{"arn:aws-cn:s3:::my.exports-1", "my.exports-1", "", true},
		{"arn:aws-iso-b:s3:::exports", "exports", "", true},
		{"arn:aws:s3:::exports//", "", "", false},
		{"arn:aws:s3:::exports/a//b", "", "", false},
		{"arn:aws:s3:::ex..ports", "", "", false},
		{"arn:aws:s3:::ex.-ports", "", "", false},
		{"arn:aws:s3:::-exports", "", "", false},
		{"arn:aws:s3:::10.0.0.1", "", "", false},
		{"arn:aws:s3:us-east-1::exports", "", "", false},
		{"arn:aws-:s3:::exports", "", "", false},
		{"arn:aws--x:s3:::exports", "", "", false},
		{"arn:AWS:s3:::exports", "", "", false},
		{"arn:aws:s3:::", "", "", false},
		{"exports", "", "", false},
	}
	for _, tt := range tests {
		b, p, err := ParseBucketARN(tt.arn)
		if (err == nil) != tt.ok || b != tt.bucket || p != tt.prefix {
			t.Errorf("ParseBucketARN(%q) = %q, %q, %v; want %q, %q, ok %v", tt.arn, b, p, err, tt.bucket, tt.prefix, tt.ok)
		}
	}
}
