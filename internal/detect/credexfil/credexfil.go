// Package credexfil owns the instance credential exfiltration detectors:
// UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS and
// .InsideAWS. An EC2 instance's role credentials, which the instance
// metadata service hands to software on the instance (CloudTrail marks
// their sessions with ec2RoleDelivery, and names the session after the
// instance ID), are meant to be used from that instance only. Used from
// elsewhere, they were stolen: through SSRF against the metadata service,
// from a compromised host, out of a backup.
//
// Where a call came from:
//
//   - OutsideAWS: from an address outside AWS's published ranges
//     (APICall.SourceInfo.AWS, from the ip-ranges.json picket fetches
//     and keeps). An instance's traffic to AWS APIs leaves from an AWS
//     address (its public or elastic IP, a NAT gateway's) or reaches a
//     VPC endpoint from its private address, so an address outside the
//     ranges is never the instance's (unless the VPC routes internet
//     traffic through the user's own network, see the doc page). Nothing
//     is learned for this: the first call can be reported.
//   - InsideAWS: from an AWS address, or a VPC endpoint, that is not the
//     instance's: a VPC endpoint of another account (remoteAccountDetails
//     names it), a private address that flow logs of the same run put on
//     another instance (flow log formats v3 and later carry the instance
//     ID), or an AWS address other than the ones the instance's session
//     used first.
//
// picket cannot ask EC2 which addresses an instance has, so it learns
// them, deterministically in event time: the addresses inside AWS (and
// the private addresses through VPC endpoints) that the instance's
// sessions use first in the run, and within learn_window seconds of that
// first use, are its own; private addresses that flow logs tie to the
// instance are too. Calls are ordered by time and input position before
// they are judged, at the watermark, so the learned addresses do not
// depend on arrival order. Without ranges loaded the detector claims
// neither type: an address could be either.
//
// Severity is High; InsideAWS is Medium when the calling account is one
// of the user's own (the instance's own account, or one on
// affiliated_accounts), as GuardDuty grades it.
//
// The same holds for the credentials AWS services obtain for the compute
// they run: a Lambda function's, an ECS task's. CloudTrail records the
// sts:AssumeRole a service makes for them, with the access key ID it
// returned; a call with such a key from an address outside AWS is
// UnauthorizedAccess:IAMUser/ResourceCredentialExfiltration.OutsideAWS
// (GuardDuty's type for Lambda credentials; picket raises it for ECS task
// credentials too). The flaws2.cloud attack is this: the credentials of
// the level1 Lambda function, read from its environment, used from the
// attacker's laptop.
package credexfil

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"

	"picket/internal/detect"
	"picket/internal/detect/trail"
	"picket/internal/event"
	"picket/internal/finding"
	"picket/internal/lru"
)

// ID is the detector's ID.
const ID = "credexfil"

// Thresholds are the detector's tunables.
var Thresholds = detect.Tunables{
	{Name: "learn_window", Unit: "seconds", Default: 60, Min: 0, Max: 86400,
		Doc: "how long after the first AWS address (or private address through a VPC endpoint) an instance's sessions use in the run others are learned as the instance's own too (an instance whose elastic IP is attached after boot calls from two); later ones are not its own"},
	{Name: "max_instances", Unit: "instances", Default: 100_000, Min: 10, Max: 1e7,
		Doc: "instances whose addresses are remembered, about 400 bytes each; the least recently active are evicted and counted (an evicted instance learns its addresses again)"},
	{Name: "max_flow_addresses", Unit: "addresses", Default: 200_000, Min: 10, Max: 1e7,
		Doc: "private addresses tied to instances by flow logs, about 80 bytes each; the least recently seen are evicted and counted"},
	{Name: "max_issued_keys", Unit: "keys", Default: 100_000, Min: 10, Max: 1e7,
		Doc: "access keys that AWS services obtained for Lambda functions and ECS tasks, remembered from their sts:AssumeRole, about 100 bytes each; the oldest are evicted and counted"},
	{Name: "max_pending_calls", Unit: "calls", Default: 256, Min: 4, Max: 65536,
		Doc: "calls per instance from addresses not yet known, waiting for the watermark to be judged in time order; more are judged on arrival"},
	{Name: "max_pending", Unit: "findings", Default: 10_000, Min: 10, Max: 1e7,
		Doc: "findings noted between two watermarks, about 4 KiB each; calls of findings beyond it are counted as lost until the next watermark"},
}

// Allowlists are the detector's configurable lists.
var Allowlists = detect.Allowlists{
	{Name: "affiliated_accounts", Doc: "account IDs that are the user's own besides the instance's: credentials used through their VPC endpoints are InsideAWS at Medium rather than High"},
}

// maxHomes bounds the addresses learned per instance.
const maxHomes = 8

// instKey names an instance role session: the role and the instance.
type instKey struct {
	Account  event.ID
	Role     event.ID
	Instance event.ID
}

// home is an address learned as the instance's.
type home struct {
	Addr netip.Addr
	VPCE event.ID
	How  uint8 // howLearned, howFlow
}

const (
	howLearned = iota + 1
	howFlow
)

// instance is what the detector keeps of an instance. Fields are
// exported for saving state.
type instance struct {
	// FirstPublic and FirstPrivate are when the instance's first AWS
	// address, and its first private address through a VPC endpoint,
	// were learned (0: not yet).
	FirstPublic  event.Time
	FirstPrivate event.Time
	Homes        []home
	Pending      []event.APICall // calls from unknown addresses, waiting for the watermark
	Checked      int64
}

// class is a verdict on a call.
type class uint8

const (
	classOwn class = iota
	classOutside
	classInside
	classUnknown // no AWS ranges: no claim
)

// Detector is the credential exfiltration detector.
type Detector struct {
	env        detect.Env
	th         detect.Tunables
	lists      detect.Allowlists
	learn      event.Time
	maxPending int
	affiliated map[string]bool
	instances  *lru.Table[instKey, instance]
	flowAddrs  *lru.Table[netip.Addr, event.ID]
	issued     *lru.Table[event.ID, issue]
	held       *lru.Table[event.ID, held]
	dirty      map[instKey]bool
	pending    *trail.Pending
	undecided  uint64 // calls from addresses not known inside or outside AWS
	lost       uint64 // dirty instances evicted before judged
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
	d := &Detector{
		env: env, th: th, lists: lists,
		learn:      event.Time(th.Get("learn_window")),
		maxPending: int(th.Get("max_pending_calls")),
		affiliated: map[string]bool{},
		flowAddrs:  lru.New[netip.Addr, event.ID](env.Cap(int(th.Get("max_flow_addresses")), 0.2, 80), nil),
		issued:     lru.New[event.ID, issue](env.Cap(int(th.Get("max_issued_keys")), 0.1, 100), nil),
		held:       lru.New[event.ID, held](env.Cap(max(int(th.Get("max_issued_keys"))/25, 16), 0.05, maxHeld*800), nil),
		dirty:      map[instKey]bool{},
		pending:    trail.NewPending(env.Cap(int(th.Get("max_pending")), 0.2, 4096)),
	}
	d.instances = lru.New(env.Cap(int(th.Get("max_instances")), 0.5, 400), func(k instKey, _ *instance) {
		if d.dirty[k] {
			d.lost++
			delete(d.dirty, k)
		}
	})
	for _, a := range lists.Get("affiliated_accounts") {
		d.affiliated[a] = true
	}
	return d, nil
}

// Definition describes the detector.
func (d *Detector) Definition() detect.Definition {
	return detect.Definition{
		ID:           ID,
		Summary:      "EC2 instance role credentials used from an address that is not the instance's, and Lambda or ECS task credentials used from outside AWS",
		FindingTypes: []string{finding.TypeCredentialExfilOutsideAWS, finding.TypeCredentialExfilInsideAWS, finding.TypeResourceCredentialExfil},
		Subscribes:   []event.Kind{event.KindAPICall, event.KindFlow},
		Thresholds:   d.th,
		Allowlists:   d.lists,
	}
}

// State reports the detector's tables.
func (d *Detector) State() []detect.StateStats {
	return []detect.StateStats{
		{Table: "instances", Len: d.instances.Len(), Cap: d.instances.Cap(), Evicted: d.instances.Evicted()},
		{Table: "flow_addresses", Len: d.flowAddrs.Len(), Cap: d.flowAddrs.Cap(), Evicted: d.flowAddrs.Evicted()},
		{Table: "issued_keys", Len: d.issued.Len(), Cap: d.issued.Cap(), Evicted: d.issued.Evicted()},
		{Table: "held_keys", Len: d.held.Len(), Cap: d.held.Cap(), Evicted: d.held.Evicted()},
		d.pending.Stats("pending"),
	}
}

// Observe learns instance addresses from flows and holds instance-role
// calls from addresses not yet known for the watermark.
func (d *Detector) Observe(rec event.Record, _ detect.Emit) {
	switch r := rec.(type) {
	case *event.Flow:
		d.flow(r)
	case *event.APICall:
		d.call(r)
	}
}

var _ detect.Selector = (*Detector)(nil)

// Selects leaves out flow records that name no instance (the default
// format's): flow does nothing with them.
func (d *Detector) Selects(rec event.Record) bool {
	f, ok := rec.(*event.Flow)
	return !ok || !f.Instance.IsZero()
}

// flow ties the interface's private address to its instance.
func (d *Detector) flow(f *event.Flow) {
	if f.Instance.IsZero() {
		return
	}
	a := f.Local()
	if !a.IsValid() || !event.Internal(a) {
		return
	}
	if v := d.flowAddrs.Get(a); v != nil && *v == f.Instance {
		return
	}
	v, _ := d.flowAddrs.Put(a)
	*v = f.Instance
}

// keyOf returns the instance of an instance-role call.
func keyOf(c *event.APICall) (instKey, bool) {
	id := &c.Identity
	if id.Type != event.IdentityAssumedRole || id.Session.EC2RoleDelivery.IsZero() {
		return instKey{}, false
	}
	inst := id.SessionName()
	if !strings.HasPrefix(inst, "i-") {
		return instKey{}, false
	}
	acct := id.AccountID
	if acct.IsZero() {
		acct = c.Account
	}
	return instKey{Account: acct, Role: id.Session.Issuer.ARN, Instance: event.Intern(inst)}, true
}

// issue is what an AWS service obtained credentials for.
type issue struct {
	Service event.ID // "lambda.amazonaws.com"
	Role    event.ID
	Session event.ID // the function's name, the task's ID
}

// computeServices are the services whose sts:AssumeRole calls obtain
// credentials for the user's compute.
var computeServices = map[string]bool{"lambda.amazonaws.com": true, "ecs-tasks.amazonaws.com": true}

// noteIssue remembers the access key an AWS service obtained for a
// function or task.
func (d *Detector) noteIssue(c *event.APICall) {
	if c.EventName.String() != "AssumeRole" || c.Failed() || c.Identity.Type != event.IdentityAWSService {
		return
	}
	svc := c.Identity.InvokedBy
	if svc.IsZero() {
		svc = c.SourceService
	}
	if !computeServices[svc.String()] {
		return
	}
	key, ok := event.JSONString(c.ResponseElements, "credentials", "accessKeyId")
	if !ok || key == "" {
		return
	}
	role, _ := event.JSONString(c.RequestParameters, "roleArn")
	session, _ := event.JSONString(c.RequestParameters, "roleSessionName")
	v, _ := d.issued.Put(event.Intern(key))
	*v = issue{Service: svc, Role: event.Intern(role), Session: event.Intern(session)}
}

// serviceCall reports a call with credentials a service obtained for
// compute, made from outside AWS.
func (d *Detector) serviceCall(c *event.APICall) {
	if c.Identity.AccessKeyID.IsZero() || !c.SourceInfo.AWS.False() || !c.VPCEndpointID.IsZero() || trail.Ignored(&d.env, c) {
		return
	}
	is := d.issued.Get(c.Identity.AccessKeyID)
	if is == nil {
		// The AssumeRole that issued the key may not have arrived yet:
		// hold the call until the watermark passes it.
		h, _ := d.held.Put(c.Identity.AccessKeyID)
		if len(h.Calls) < maxHeld {
			h.Calls = append(h.Calls, strip(c))
		}
		return
	}
	d.noteService(c, is)
}

// maxHeld bounds the calls held per access key.
const maxHeld = 4

// held are calls from outside AWS with a key whose issue is not known
// yet. Fields are exported for saving state.
type held struct {
	Calls []event.APICall
}

// strip copies a call without its borrowed bytes.
func strip(c *event.APICall) event.APICall {
	cp := *c
	cp.EventID, cp.RequestID, cp.SharedEventID, cp.RequestParameters, cp.ResponseElements = nil, nil, nil, nil, nil
	cp.Resources, cp.AdditionalEventData, cp.ServiceEventDetails, cp.Raw = nil, nil, nil, nil
	return cp
}

// judgeHeld reports the held calls whose key turned out to be issued to
// compute and forgets the rest, once the watermark passed them: the
// AssumeRole that issues a key comes before the key's first use.
func (d *Detector) judgeHeld(w event.Time) {
	var done []event.ID
	d.held.All(func(k event.ID, h *held) bool {
		if is := d.issued.Peek(k); is != nil {
			for i := range h.Calls {
				if h.Calls[i].EventTime <= w {
					d.noteService(&h.Calls[i], is)
				}
			}
			h.Calls = slices.DeleteFunc(h.Calls, func(c event.APICall) bool { return c.EventTime <= w })
		} else {
			h.Calls = slices.DeleteFunc(h.Calls, func(c event.APICall) bool { return c.EventTime <= w })
		}
		if len(h.Calls) == 0 {
			done = append(done, k)
		}
		return true
	})
	for _, k := range done {
		d.held.Delete(k)
	}
}

// noteService notes a call with a key issued to compute, from outside AWS.
func (d *Detector) noteService(c *event.APICall, is *issue) {
	k := trail.Key{Type: finding.TypeResourceCredentialExfil, Principal: trail.Principal{Account: c.Account, ARN: c.Identity.ARN}}
	if k.Principal.ARN.IsZero() {
		k.Principal.ARN = is.Role
	}
	it := d.pending.Note(k, c)
	if it == nil {
		return
	}
	it.Severity = finding.SeverityHigh
	what := "the Lambda function " + is.Session.String()
	if is.Service.String() == "ecs-tasks.amazonaws.com" {
		what = "the ECS task " + is.Session.String()
	}
	it.Vars = map[string]string{"detail": "from " + c.SourceIP.String() + ", outside AWS's published ranges", "issuer": what,
		"instance": "", "account": ""}
}

func (d *Detector) call(c *event.APICall) {
	if c.Identity.Type == event.IdentityAWSService {
		d.noteIssue(c)
		return
	}
	if c.Identity.Type == event.IdentityAssumedRole && c.Identity.Session.EC2RoleDelivery.IsZero() {
		d.serviceCall(c)
		return
	}
	k, ok := keyOf(c)
	if !ok || !c.SourceIP.IsValid() {
		return
	}
	if !c.SourceInfo.AWS.IsSet() && c.VPCEndpointID.IsZero() {
		// Without AWS's ranges nothing can be decided: not held.
		d.undecided++
		return
	}
	if trail.Ignored(&d.env, c) {
		return
	}
	in, _ := d.instances.Put(k)
	if in.isHome(c.SourceIP, c.VPCEndpointID) && len(in.Pending) == 0 {
		in.Checked++
		return // the instance's own address: nothing to wait for
	}
	if len(in.Pending) >= d.maxPending {
		d.judge(k, in, in.Pending[0])
		in.Pending = in.Pending[1:]
	}
	cp := strip(c)
	i, _ := slices.BinarySearchFunc(in.Pending, &cp, compareCalls)
	in.Pending = slices.Insert(in.Pending, i, cp)
	d.dirty[k] = true
}

func compareCalls(a event.APICall, b *event.APICall) int {
	if c := cmp.Compare(a.EventTime, b.EventTime); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Origin.File.String(), b.Origin.File.String()); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Origin.Line, b.Origin.Line); c != 0 {
		return c
	}
	return a.SourceIP.Compare(b.SourceIP)
}

func (in *instance) isHome(a netip.Addr, vpce event.ID) bool {
	for _, h := range in.Homes {
		if h.Addr == a && (h.VPCE == vpce || h.How == howFlow) {
			return true
		}
	}
	return false
}

func (in *instance) addHome(h home) {
	if len(in.Homes) < maxHomes && !slices.Contains(in.Homes, h) {
		in.Homes = append(in.Homes, h)
	}
}

// Advance judges the held calls up to the watermark in time order.
func (d *Detector) Advance(w event.Time, emit detect.Emit) {
	keys := make([]instKey, 0, len(d.dirty))
	for k := range d.dirty {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeys)
	for _, k := range keys {
		in := d.instances.Peek(k)
		if in == nil {
			delete(d.dirty, k)
			continue
		}
		n := 0
		for n < len(in.Pending) && in.Pending[n].EventTime <= w {
			d.judge(k, in, in.Pending[n])
			n++
		}
		in.Pending = append(in.Pending[:0], in.Pending[n:]...)
		if len(in.Pending) == 0 {
			delete(d.dirty, k)
		}
	}
	d.judgeHeld(w)
	d.pending.Flush(func(k trail.Key, it *trail.Item) {
		emit(d.finding(k, it))
	})
}

func compareKeys(a, b instKey) int {
	if c := cmp.Compare(a.Account.String(), b.Account.String()); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Role.String(), b.Role.String()); c != 0 {
		return c
	}
	return cmp.Compare(a.Instance.String(), b.Instance.String())
}

// classify says where a call came from relative to the instance, and
// learns the instance's addresses. It returns the calling account when it
// is known to differ from the instance's.
func (d *Detector) classify(k instKey, in *instance, c *event.APICall) (class, string, string) {
	learning := func(first *event.Time) bool {
		if *first == 0 {
			*first = c.EventTime
		}
		return c.EventTime <= *first+d.learn
	}
	a, vpce := c.SourceIP, c.VPCEndpointID
	if in.isHome(a, vpce) {
		return classOwn, "", ""
	}
	if !vpce.IsZero() {
		if acct := c.VPCEndpointAccountID; !acct.IsZero() && acct != k.Account {
			return classInside, acct.String(), "through VPC endpoint " + vpce.String() + " of account " + acct.String()
		}
		if owner := d.flowAddrs.Peek(a); owner != nil {
			if *owner == k.Instance {
				in.addHome(home{Addr: a, How: howFlow})
				return classOwn, "", ""
			}
			return classInside, k.Account.String(), "from " + a.String() + ", which flow logs put on instance " + owner.String() +
				", through VPC endpoint " + vpce.String()
		}
		if learning(&in.FirstPrivate) {
			in.addHome(home{Addr: a, VPCE: vpce, How: howLearned})
			return classOwn, "", ""
		}
		return classInside, k.Account.String(), "from " + a.String() + " through VPC endpoint " + vpce.String() +
			", not an address the instance used first"
	}
	switch c.SourceInfo.AWS {
	case event.TriFalse:
		return classOutside, "", "from " + a.String() + ", outside AWS's published ranges"
	case event.TriTrue:
		if learning(&in.FirstPublic) {
			in.addHome(home{Addr: a, How: howLearned})
			return classOwn, "", ""
		}
		where := "an AWS address"
		if !c.SourceInfo.AWSService.IsZero() {
			where = "an AWS " + c.SourceInfo.AWSService.String() + " address in " + c.SourceInfo.AWSRegion.String()
		}
		return classInside, "", "from " + a.String() + ", " + where + " that is not one the instance used first"
	}
	return classUnknown, "", ""
}

// judge decides about one held call.
func (d *Detector) judge(k instKey, in *instance, c event.APICall) {
	in.Checked++
	cl, acct, why := d.classify(k, in, &c)
	switch cl {
	case classOwn:
		return
	case classUnknown:
		d.undecided++
		return
	}
	typ := finding.TypeCredentialExfilOutsideAWS
	if cl == classInside {
		typ = finding.TypeCredentialExfilInsideAWS
	}
	p := trail.Principal{Account: k.Account, ARN: c.Identity.ARN}
	if p.ARN.IsZero() {
		p.ARN = event.Intern(k.Role.String() + "/" + k.Instance.String())
	}
	it := d.pending.Note(trail.Key{Type: typ, Principal: p}, &c)
	if it == nil {
		return
	}
	sev := finding.SeverityHigh
	if cl == classInside && (acct == k.Account.String() || d.affiliated[acct]) && acct != "" {
		sev = finding.SeverityMedium
	}
	if it.Latest.Origin == c.Origin || it.Vars == nil {
		it.Vars = map[string]string{"detail": why, "instance": k.Instance.String(), "account": acct}
	}
	it.Severity = max(it.Severity, sev)
	if it.Notes == nil {
		it.Notes = map[string]int64{}
	}
	it.Notes["instance_addresses_known"] = int64(len(in.Homes))
}

func (d *Detector) finding(k trail.Key, it *trail.Item) *finding.Finding {
	if k.Type == finding.TypeResourceCredentialExfil {
		exp := &finding.Explanation{
			Kind:    "service-credentials",
			Summary: "credentials that AWS obtained for " + it.Vars["issuer"] + " were used " + it.Vars["detail"],
		}
		r := it.Report(ID, k, exp)
		r.Vars = map[string]string{"issuer": it.Vars["issuer"]}
		return trail.Build(&d.env, r)
	}
	homes := []string{}
	var inst *instance
	if ik, ok := keyOf(it.Latest); ok {
		inst = d.instances.Peek(ik)
	}
	if inst != nil {
		for _, h := range inst.Homes {
			s := h.Addr.String()
			switch {
			case h.How == howFlow:
				s += " (flow logs)"
			case !h.VPCE.IsZero():
				s += " (through " + h.VPCE.String() + ")"
			}
			homes = append(homes, s)
		}
	}
	exp := &finding.Explanation{
		Kind: "instance-credentials",
		Summary: "credentials of instance " + it.Vars["instance"] + " were used " + it.Vars["detail"] + "; the instance's own addresses: " +
			joinOr(homes, "none learned"),
		Hosts:  homes,
		Counts: map[string]int64{"learn_window_seconds": int64(d.learn)},
	}
	r := it.Report(ID, k, exp)
	acct := it.Vars["account"]
	r.Affiliated = acct == k.Principal.Account.String() || d.affiliated[acct]
	r.Vars = map[string]string{"principal": trail.UserName(it.Latest) + " (instance " + it.Vars["instance"] + ")"}
	f := trail.Build(&d.env, r)
	f.Resource.InstanceDetails = &finding.InstanceDetails{InstanceID: it.Vars["instance"]}
	if acct != "" && acct != it.Latest.Account.String() && f.Service.Action.AwsAPICallAction.RemoteAccountDetails == nil {
		f.Service.Action.AwsAPICallAction.RemoteAccountDetails = &finding.RemoteAccountDetails{AccountID: acct, Affiliated: r.Affiliated}
	}
	if n := it.Notes["instance_addresses_known"]; n == 0 {
		f.Description += " No address of the instance was learned (its own calls were not in the input)."
	}
	return f
}

func joinOr(s []string, none string) string {
	if len(s) == 0 {
		return none
	}
	return strings.Join(s, ", ")
}

type detectorState struct {
	Instances lru.Snapshot[instKey, instance]
	FlowAddrs lru.Snapshot[netip.Addr, event.ID]
	Issued    lru.Snapshot[event.ID, issue]
	Held      lru.Snapshot[event.ID, held]
	Dirty     []instKey
	Pending   *trail.Pending
	Undecided uint64
	Lost      uint64
}

// MarshalState saves the learned addresses, the held calls and the
// findings not yet reported.
func (d *Detector) MarshalState() ([]byte, error) {
	st := detectorState{Instances: d.instances.View(), FlowAddrs: d.flowAddrs.View(), Issued: d.issued.View(), Held: d.held.View(), Pending: d.pending,
		Undecided: d.undecided, Lost: d.lost}
	for k := range d.dirty {
		st.Dirty = append(st.Dirty, k)
	}
	slices.SortFunc(st.Dirty, compareKeys)
	return detect.EncodeState(st)
}

// UnmarshalState restores them.
func (d *Detector) UnmarshalState(b []byte) error {
	var st detectorState
	if err := detect.DecodeState(b, &st); err != nil {
		return err
	}
	d.instances.Restore(st.Instances)
	d.flowAddrs.Restore(st.FlowAddrs)
	d.issued.Restore(st.Issued)
	d.held.Restore(st.Held)
	clear(d.dirty)
	for _, k := range st.Dirty {
		d.dirty[k] = true
	}
	st.Pending = st.Pending.Restored(d.pending.Max)
	d.pending, d.undecided, d.lost = st.Pending, st.Undecided, st.Lost
	return nil
}
