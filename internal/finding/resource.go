package finding

import (
	"encoding/json"
	"slices"
)

// ID returns the ID a finding's resource goes by, as GetFindingsStatistics
// groups by resource: the instance; else, for an instance the records did
// not name (flow logs of the default format carry no instance-id), its
// network interface, then its private address, as the finding is keyed;
// else the access key; else the ECS cluster (ARN, then name); else the
// container; else "".
func (r *Resource) ID() string {
	if d := r.InstanceDetails; d != nil {
		if d.InstanceID != "" {
			return d.InstanceID
		}
		for _, ni := range d.NetworkInterfaces {
			if ni.NetworkInterfaceID != "" {
				return ni.NetworkInterfaceID
			}
		}
		for _, ni := range d.NetworkInterfaces {
			switch {
			case ni.PrivateIPAddress != "":
				return ni.PrivateIPAddress
			case len(ni.Ipv6Addresses) > 0:
				return ni.Ipv6Addresses[0]
			}
		}
	}
	switch {
	case r.AccessKeyDetails != nil && r.AccessKeyDetails.AccessKeyID != "":
		return r.AccessKeyDetails.AccessKeyID
	case r.EcsClusterDetails != nil && r.EcsClusterDetails.Arn != "":
		return r.EcsClusterDetails.Arn
	case r.EcsClusterDetails != nil && r.EcsClusterDetails.Name != "":
		return r.EcsClusterDetails.Name
	case r.ContainerDetails != nil:
		return r.ContainerDetails.ID
	}
	return ""
}

// ResourceS3Bucket is the resource type of findings about S3 buckets.
const ResourceS3Bucket = "S3Bucket"

// The S3BucketDetail types.
const (
	// BucketDestination is the type of the bucket that an S3 policy
	// finding is about: the bucket the call changed.
	BucketDestination = "Destination"
)

// The effective permissions of a bucket.
const (
	PermissionPublic    = "PUBLIC"
	PermissionNotPublic = "NOT_PUBLIC"
)

// S3BucketDetail describes a bucket an S3 finding is about, in the shape
// of GuardDuty's resource.s3BucketDetails element. It holds what CloudTrail
// management events tell: the bucket's name and ARN, its owner when an
// ACL names it, and the public access settings a call changed. GuardDuty's
// createdAt, defaultServerSideEncryption and s3ObjectDetails come from
// describing the bucket and from data events, which picket does not do,
// and are left out.
type S3BucketDetail struct {
	Arn          string        `json:"arn,omitempty"`
	Name         string        `json:"name,omitempty"`
	Type         string        `json:"type,omitempty"`
	Owner        *Owner        `json:"owner,omitempty"`
	Tags         []Tag         `json:"tags"`
	PublicAccess *PublicAccess `json:"publicAccess,omitempty"`
}

// MarshalJSON writes an empty tag list as [] rather than null, as
// GuardDuty does.
func (d S3BucketDetail) MarshalJSON() ([]byte, error) {
	type plain S3BucketDetail
	if d.Tags == nil {
		d.Tags = []Tag{}
	}
	return json.Marshal(plain(d))
}

// Owner is the canonical user ID of a bucket's owner.
type Owner struct {
	ID string `json:"id,omitempty"`
}

// PublicAccess is what is known of who may reach a bucket: the
// settings that make it public or not, and, when known, the verdict
// (PermissionPublic, PermissionNotPublic).
type PublicAccess struct {
	PermissionConfiguration *PermissionConfiguration `json:"permissionConfiguration,omitempty"`
	EffectivePermission     string                   `json:"effectivePermission,omitempty"`
}

// PermissionConfiguration holds a bucket's permission settings and its
// account's.
type PermissionConfiguration struct {
	BucketLevelPermissions  *BucketLevelPermissions  `json:"bucketLevelPermissions,omitempty"`
	AccountLevelPermissions *AccountLevelPermissions `json:"accountLevelPermissions,omitempty"`
}

// BucketLevelPermissions are the settings of one bucket.
type BucketLevelPermissions struct {
	AccessControlList *PublicGrants      `json:"accessControlList,omitempty"`
	BucketPolicy      *PublicGrants      `json:"bucketPolicy,omitempty"`
	BlockPublicAccess *BlockPublicAccess `json:"blockPublicAccess,omitempty"`
}

// AccountLevelPermissions are the settings of the bucket's account.
type AccountLevelPermissions struct {
	BlockPublicAccess *BlockPublicAccess `json:"blockPublicAccess,omitempty"`
}

// PublicGrants says whether an ACL or a bucket policy lets the public
// read or write: GuardDuty's accessControlList and bucketPolicy, which
// share this shape.
type PublicGrants struct {
	AllowsPublicReadAccess  bool `json:"allowsPublicReadAccess"`
	AllowsPublicWriteAccess bool `json:"allowsPublicWriteAccess"`
}

// BlockPublicAccess is an S3 Block Public Access configuration, of a
// bucket or of an account.
type BlockPublicAccess struct {
	IgnorePublicAcls      bool `json:"ignorePublicAcls"`
	RestrictPublicBuckets bool `json:"restrictPublicBuckets"`
	BlockPublicAcls       bool `json:"blockPublicAcls"`
	BlockPublicPolicy     bool `json:"blockPublicPolicy"`
}

func (d S3BucketDetail) clone() S3BucketDetail {
	d.Owner = clonePtr(d.Owner)
	d.Tags = slices.Clone(d.Tags)
	d.PublicAccess = d.PublicAccess.clone()
	return d
}

func (p *PublicAccess) clone() *PublicAccess {
	if p == nil {
		return nil
	}
	c := *p
	if pc := p.PermissionConfiguration; pc != nil {
		cc := *pc
		if b := pc.BucketLevelPermissions; b != nil {
			cb := *b
			cb.AccessControlList = clonePtr(b.AccessControlList)
			cb.BucketPolicy = clonePtr(b.BucketPolicy)
			cb.BlockPublicAccess = clonePtr(b.BlockPublicAccess)
			cc.BucketLevelPermissions = &cb
		}
		if a := pc.AccountLevelPermissions; a != nil {
			ca := *a
			ca.BlockPublicAccess = clonePtr(a.BlockPublicAccess)
			cc.AccountLevelPermissions = &ca
		}
		c.PermissionConfiguration = &cc
	}
	return &c
}
