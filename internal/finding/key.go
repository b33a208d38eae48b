package finding

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strings"
)

// Key is a finding's aggregation key: activity with the same key is one
// finding. Actor distinguishes findings that GuardDuty keeps apart on the
// same resource, such as brute force against us (keyed by nothing more)
// versus by us against a remote host.
type Key struct {
	Type     string
	Account  string
	Region   string
	Resource string // instance, interface, access key or principal ID
	Role     string // TARGET or ACTOR
	Actor    string
}

// ID returns the finding ID for the key: 32 lowercase hex characters, the
// first half of a SHA-256 over the key's fields. The same activity gets
// the same ID in every run, so storing a finding twice is idempotent.
func (k Key) ID() string {
	h := sha256.New()
	for _, s := range [...]string{"picket-finding-v1", k.Type, k.Account, k.Region, k.Resource, k.Role, k.Actor} {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	sum := h.Sum(nil)
	return hex.EncodeToString(sum[:16])
}

// DetectorID returns the detector ID picket uses for an account and region
// when no detector was created through the API: 32 hex characters derived
// from both, so that the same logs always yield the same finding ARNs.
func DetectorID(account, region string) string {
	sum := sha256.Sum256([]byte("picket-detector-v1\x00" + account + "\x00" + region))
	return hex.EncodeToString(sum[:16])
}

// Partition returns the AWS partition of a region.
func Partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	case strings.HasPrefix(region, "us-iso-"):
		return "aws-iso"
	case strings.HasPrefix(region, "us-isob-"):
		return "aws-iso-b"
	}
	return "aws"
}

// ARN returns the ARN of finding id under a detector.
func ARN(partition, region, account, detectorID, id string) string {
	return "arn:" + partition + ":guardduty:" + region + ":" + account + ":detector/" + detectorID + "/finding/" + id
}
