// Package s3policy owns the detectors of S3 management calls that open
// buckets to the public or blind their access logs:
//
//   - Policy:S3/AccountBlockPublicAccessDisabled: S3 Block Public Access
//     of the whole account turned off (PutAccountPublicAccessBlock, or the
//     S3 Control PutPublicAccessBlock, leaving a setting off; their Delete
//     counterparts).
//   - Policy:S3/BucketBlockPublicAccessDisabled: the same for one bucket
//     (PutBucketPublicAccessBlock, DeleteBucketPublicAccessBlock).
//   - Policy:S3/BucketAnonymousAccessGranted: a bucket policy or ACL that
//     lets anyone on the internet in (PutBucketPolicy with an Allow to
//     the principal "*" that no condition narrows; PutBucketAcl or
//     CreateBucket granting to the AllUsers group or with a public-read
//     canned ACL).
//   - Policy:S3/BucketPublicAccessGranted: an ACL that lets any
//     authenticated AWS principal of any account in (the
//     AuthenticatedUsers group, the authenticated-read canned ACL).
//   - Stealth:S3/ServerAccessLoggingDisabled: a PutBucketLogging whose
//     BucketLoggingStatus has no LoggingEnabled.
//
// Each call is judged from its own request parameters: a Put of Block
// Public Access replaces the whole configuration, and a policy or ACL
// replaces the bucket's, so the call says what is in force after it.
// Only calls that succeeded changed anything; failed ones are not
// reported. The findings' resource is the bucket (resourceType
// S3Bucket, with s3BucketDetails), and calls of one principal on one
// bucket fold into one finding per type.
//
// The detector imports detect, detect/trail, event and finding.
package s3policy

import (
	"cmp"
	"slices"
	"strings"

	"picket/internal/detect"
	"picket/internal/detect/trail"
	"picket/internal/event"
	"picket/internal/finding"
)

// ID is the detector's ID.
const ID = "s3policy"

// Thresholds are the detector's tunables.
var Thresholds = detect.Tunables{
	{Name: "max_pending", Unit: "findings", Default: 10_000, Min: 10, Max: 1e7,
		Doc: "calls held until the watermark passes them and findings noted between two watermarks, each about 4 KiB; calls beyond it are counted as lost until the next watermark"},
}

// Allowlists are the detector's configurable lists.
var Allowlists = detect.Allowlists{
	{Name: "public_buckets",
		Doc: "buckets meant to be public, such as static websites and open data sets: exact names, or prefixes ending in *; grants to everyone and Block Public Access turned off on them are not reported (their access logging turned off still is)"},
}

// The types' explanation kinds and leads.
var (
	kinds = map[string]string{
		finding.TypeS3AccountBlockPublicAccessDisabled: "public-exposure",
		finding.TypeS3BucketBlockPublicAccessDisabled:  "public-exposure",
		finding.TypeS3BucketAnonymousAccessGranted:     "public-exposure",
		finding.TypeS3BucketPublicAccessGranted:        "public-exposure",
		finding.TypeS3ServerAccessLoggingDisabled:      "audit-logging",
	}
	leads = map[string]string{
		finding.TypeS3AccountBlockPublicAccessDisabled: "S3 Block Public Access of the account turned off",
		finding.TypeS3BucketBlockPublicAccessDisabled:  "S3 Block Public Access of the bucket turned off",
		finding.TypeS3BucketAnonymousAccessGranted:     "the bucket opened to anonymous users",
		finding.TypeS3BucketPublicAccessGranted:        "the bucket opened to every authenticated AWS user",
		finding.TypeS3ServerAccessLoggingDisabled:      "server access logging of the bucket turned off",
	}
)

// maxChanges bounds the changes an explanation lists.
const maxChanges = 16

// verdict is what the detector says of a call.
type verdict struct {
	Type   string
	Bucket string // "" for a change to the account
	Detail string
	// Bucket details for resource.s3BucketDetails; nil for the account.
	S3 *finding.S3BucketDetail
}

// held is a call the detector has judged and holds until the watermark
// passes it. Fields are exported for saving state.
type held struct {
	Key    trail.Key
	Call   *event.APICall
	Detail string
}

// Detector is the S3 bucket policy detector.
type Detector struct {
	env     detect.Env
	th      detect.Tunables
	lists   detect.Allowlists
	public  []string // public_buckets
	checks  map[event.ID]func(*Detector, *event.APICall) (verdict, bool)
	sources [2]event.ID
	held    []held
	maxHeld int
	lost    uint64
	pending *trail.Pending
}

var (
	_ detect.Detector    = (*Detector)(nil)
	_ detect.Stater      = (*Detector)(nil)
	_ detect.Snapshotter = (*Detector)(nil)
)

// New builds the detector.
func New(env detect.Env) (*Detector, error) {
	th, err := Thresholds.Apply(ID, env.Thresholds)
	if err != nil {
		return nil, err
	}
	lists, err := Allowlists.Apply(ID, env.Allowlists)
	if err != nil {
		return nil, err
	}
	n := env.Cap(int(th.Get("max_pending")), 0.5, 4096)
	d := &Detector{
		env: env, th: th, lists: lists,
		public:  lists.Get("public_buckets"),
		checks:  map[event.ID]func(*Detector, *event.APICall) (verdict, bool){},
		sources: [2]event.ID{event.Intern("s3.amazonaws.com"), event.Intern("s3-control.amazonaws.com")},
		maxHeld: n,
		pending: trail.NewPending(n),
	}
	for name, check := range checks {
		d.checks[event.Intern(name)] = check
	}
	return d, nil
}

// checks are the calls the detector judges, by event name.
var checks = map[string]func(*Detector, *event.APICall) (verdict, bool){
	"PutAccountPublicAccessBlock":    checkBlock,
	"DeleteAccountPublicAccessBlock": checkBlock,
	"PutBucketPublicAccessBlock":     checkBlock,
	"DeleteBucketPublicAccessBlock":  checkBlock,
	"PutPublicAccessBlock":           checkBlock,
	"DeletePublicAccessBlock":        checkBlock,
	"PutBucketPolicy":                checkPolicy,
	"PutBucketAcl":                   checkACL,
	"CreateBucket":                   checkACL,
	"PutBucketLogging":               checkLogging,
}

// Definition describes the detector.
func (d *Detector) Definition() detect.Definition {
	return detect.Definition{
		ID:      ID,
		Summary: "S3 calls that open buckets to the public (Block Public Access turned off, policies and ACLs granting to everyone) or turn their access logging off",
		FindingTypes: []string{finding.TypeS3AccountBlockPublicAccessDisabled, finding.TypeS3BucketBlockPublicAccessDisabled,
			finding.TypeS3BucketAnonymousAccessGranted, finding.TypeS3BucketPublicAccessGranted, finding.TypeS3ServerAccessLoggingDisabled},
		Subscribes: []event.Kind{event.KindAPICall},
		Thresholds: d.th,
		Allowlists: d.lists,
	}
}

// State reports the held calls and the pending findings.
func (d *Detector) State() []detect.StateStats {
	return []detect.StateStats{
		{Table: "held_calls", Len: len(d.held), Cap: d.maxHeld, Evicted: d.lost},
		d.pending.Stats("pending"),
	}
}

// Observe judges the few S3 calls that change public access or logging,
// and holds those that weaken them until the watermark passes.
func (d *Detector) Observe(rec event.Record, _ detect.Emit) {
	c, ok := rec.(*event.APICall)
	if !ok || c.Failed() {
		return
	}
	check := d.checks[c.EventName]
	if check == nil || (c.EventSource != d.sources[0] && c.EventSource != d.sources[1]) || trail.Ignored(&d.env, c) {
		return
	}
	v, bad := check(d, c)
	if !bad {
		return
	}
	if len(d.held) >= d.maxHeld {
		d.lost++
		return
	}
	d.held = append(d.held, held{Key: trail.Key{Type: v.Type, Principal: trail.PrincipalOf(c), Actor: v.Bucket}, Call: c.Clone(), Detail: v.Detail})
}

// Advance notes the held calls the watermark has passed, in event-time
// order whatever order they arrived in, and reports them.
func (d *Detector) Advance(wm event.Time, emit detect.Emit) {
	slices.SortFunc(d.held, func(a, b held) int {
		if c := cmp.Compare(a.Call.EventTime, b.Call.EventTime); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Call.Origin.File.String(), b.Call.Origin.File.String()); c != 0 {
			return c
		}
		return cmp.Compare(a.Call.Origin.Line, b.Call.Origin.Line)
	})
	keep := d.held[:0]
	for _, h := range d.held {
		if h.Call.EventTime > wm {
			keep = append(keep, h)
			continue
		}
		d.note(h)
	}
	clear(d.held[len(keep):])
	d.held = keep
	d.pending.Flush(func(k trail.Key, it *trail.Item) {
		changes := strings.Split(strings.TrimSuffix(it.Vars["changes"], "\n"), "\n")
		exp := &finding.Explanation{
			Kind:    kinds[k.Type],
			Summary: leads[k.Type] + ": " + strings.Join(changes, "; "),
		}
		r := it.Report(ID, k, exp)
		bucket := k.Actor
		if bucket == "" {
			bucket = "(all buckets)"
		}
		r.Vars = map[string]string{"detail": it.Vars["detail"], "bucket": bucket}
		f := trail.Build(&d.env, r)
		// The finding shows the latest call's bucket settings.
		if check := checks[it.Latest.EventName.String()]; check != nil {
			if v, ok := check(d, it.Latest); ok && v.S3 != nil {
				f.Resource.S3BucketDetails = []finding.S3BucketDetail{*v.S3}
			}
		}
		emit(f)
	})
}

// note adds a held call to its finding.
func (d *Detector) note(h held) {
	it := d.pending.Note(h.Key, h.Call)
	if it == nil {
		return
	}
	if it.Vars == nil {
		it.Vars = map[string]string{}
	}
	if it.Latest.Origin == h.Call.Origin || it.Vars["detail"] == "" {
		it.Vars["detail"] = h.Detail
		it.Affected = affected(h)
	}
	if n := strings.Count(it.Vars["changes"], "\n"); n < maxChanges && !strings.Contains(it.Vars["changes"], h.Detail+"\n") {
		it.Vars["changes"] += h.Detail + "\n"
	}
}

// affected returns the awsApiCallAction.affectedResources of a call.
func affected(h held) map[string]string {
	if h.Key.Actor != "" {
		return map[string]string{"AWS::S3::Bucket": h.Key.Actor}
	}
	acct := h.Call.Account
	if acct.IsZero() {
		acct = h.Key.Principal.Account
	}
	return map[string]string{"AWS::S3::AccountPublicAccessBlock": acct.String()}
}

// publicBucket reports whether a bucket is on the public_buckets list.
func (d *Detector) publicBucket(name string) bool {
	for _, p := range d.public {
		if prefix, ok := strings.CutSuffix(p, "*"); ok && strings.HasPrefix(name, prefix) || p == name {
			return true
		}
	}
	return false
}

// bucketOf returns the bucket a call names.
func bucketOf(c *event.APICall) string {
	s, _ := event.JSONString(member(c.RequestParameters, "bucketName"))
	return s
}

// bucketDetail starts the s3BucketDetails of a bucket.
func bucketDetail(c *event.APICall, bucket string) *finding.S3BucketDetail {
	return &finding.S3BucketDetail{
		Arn:  "arn:" + finding.Partition(c.Region.String()) + ":s3:::" + bucket,
		Name: bucket,
		Type: finding.BucketDestination,
	}
}

func checkBlock(d *Detector, c *event.APICall) (verdict, bool) {
	name := c.EventName.String()
	bucket := bucketOf(c)
	account := strings.Contains(name, "Account") || (bucket == "" && !strings.Contains(name, "Bucket"))
	if !account && (bucket == "" || d.publicBucket(bucket)) {
		return verdict{}, false
	}
	var cfg blockConfig
	detail := "Block Public Access configuration deleted: every setting off"
	if strings.HasPrefix(name, "Put") {
		var ok bool
		if cfg, ok = blockConfigOf(c.RequestParameters); !ok {
			return verdict{}, false
		}
		off := cfg.off()
		if len(off) == 0 {
			return verdict{}, false
		}
		detail = "Block Public Access settings off: " + strings.Join(off, ", ")
	}
	if account {
		return verdict{Type: finding.TypeS3AccountBlockPublicAccessDisabled, Detail: detail}, true
	}
	s3 := bucketDetail(c, bucket)
	s3.PublicAccess = &finding.PublicAccess{PermissionConfiguration: &finding.PermissionConfiguration{
		BucketLevelPermissions: &finding.BucketLevelPermissions{BlockPublicAccess: &finding.BlockPublicAccess{
			BlockPublicAcls: cfg.BlockPublicAcls, IgnorePublicAcls: cfg.IgnorePublicAcls,
			BlockPublicPolicy: cfg.BlockPublicPolicy, RestrictPublicBuckets: cfg.RestrictPublicBuckets,
		}},
	}}
	return verdict{Type: finding.TypeS3BucketBlockPublicAccessDisabled, Bucket: bucket, Detail: detail, S3: s3}, true
}

func checkPolicy(d *Detector, c *event.APICall) (verdict, bool) {
	bucket := bucketOf(c)
	if bucket == "" || d.publicBucket(bucket) {
		return verdict{}, false
	}
	g, ok := policyGrants(c.RequestParameters)
	if !ok || !g.Anonymous.any() {
		return verdict{}, false
	}
	s3 := bucketDetail(c, bucket)
	s3.PublicAccess = &finding.PublicAccess{PermissionConfiguration: &finding.PermissionConfiguration{
		BucketLevelPermissions: &finding.BucketLevelPermissions{BucketPolicy: &finding.PublicGrants{
			AllowsPublicReadAccess: g.Anonymous.Read, AllowsPublicWriteAccess: g.Anonymous.Write,
		}},
	}}
	return verdict{Type: finding.TypeS3BucketAnonymousAccessGranted, Bucket: bucket, Detail: strings.Join(g.How, "; "), S3: s3}, true
}

func checkACL(d *Detector, c *event.APICall) (verdict, bool) {
	bucket := bucketOf(c)
	if bucket == "" || d.publicBucket(bucket) {
		return verdict{}, false
	}
	g, owner := aclGrants(c.RequestParameters)
	typ := finding.TypeS3BucketAnonymousAccessGranted
	switch {
	case g.Anonymous.any():
	case g.Authenticated.any():
		typ = finding.TypeS3BucketPublicAccessGranted
	default:
		return verdict{}, false
	}
	a := g.Anonymous
	a.add(g.Authenticated)
	s3 := bucketDetail(c, bucket)
	if owner != "" {
		s3.Owner = &finding.Owner{ID: owner}
	}
	s3.PublicAccess = &finding.PublicAccess{PermissionConfiguration: &finding.PermissionConfiguration{
		BucketLevelPermissions: &finding.BucketLevelPermissions{AccessControlList: &finding.PublicGrants{
			AllowsPublicReadAccess: a.Read, AllowsPublicWriteAccess: a.Write,
		}},
	}}
	return verdict{Type: typ, Bucket: bucket, Detail: strings.Join(g.How, "; "), S3: s3}, true
}

func checkLogging(_ *Detector, c *event.APICall) (verdict, bool) {
	bucket := bucketOf(c)
	status := member(c.RequestParameters, "BucketLoggingStatus")
	if bucket == "" || status == nil {
		return verdict{}, false
	}
	if on := trim(member(status, "LoggingEnabled")); len(on) > 0 && string(on) != "null" {
		return verdict{}, false
	}
	return verdict{Type: finding.TypeS3ServerAccessLoggingDisabled, Bucket: bucket,
		Detail: "BucketLoggingStatus without LoggingEnabled", S3: bucketDetail(c, bucket)}, true
}

type detectorState struct {
	Held    []held
	Lost    uint64
	Pending *trail.Pending
}

// MarshalState saves the held calls and the findings not yet reported.
func (d *Detector) MarshalState() ([]byte, error) {
	return detect.EncodeState(detectorState{Held: d.held, Lost: d.lost, Pending: d.pending})
}

// UnmarshalState restores them.
func (d *Detector) UnmarshalState(b []byte) error {
	var st detectorState
	if err := detect.DecodeState(b, &st); err != nil {
		return err
	}
	st.Pending = st.Pending.Restored(d.pending.Max)
	d.held, d.lost, d.pending = st.Held, st.Lost, st.Pending
	return nil
}
