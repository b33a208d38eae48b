// Package sequence owns the attack-sequence correlator and its
// AttackSequence:IAM/CompromisedCredentials findings: the findings other
// detectors make about one principal, read as the stages of an
// intrusion, and raised as one Critical finding when enough distinct
// stages line up within a day.
//
// No stage alone is proof. A new network or tool is a traveller or a
// new laptop, a burst of discovery is an engineer in the console, a trail
// stopped is an administrator tidying up, a key created is on-boarding.
// An intruder with stolen credentials does several of them in a row:
// gets in from somewhere new (or with an attack tool), maps what the
// credentials reach, takes further credentials, hides (stops logging),
// stays (new keys, users, policies), and takes or breaks things. The
// stages, from the types of the findings:
//
//   - access: a new network or tool: PenTest:IAMUser/*, calls from
//     malicious or Tor addresses, console logins from places no one could
//     travel between, InitialAccess:IAMUser/*;
//   - discovery: Discovery:IAMUser/*, Recon:IAMUser/*;
//   - credential access: CredentialAccess:IAMUser/*, instance or
//     resource credentials used from elsewhere;
//   - defence evasion: DefenseEvasion:IAMUser/*, Stealth:*;
//   - persistence: Persistence:IAMUser/*, PrivilegeEscalation:IAMUser/*;
//   - exfiltration or impact: Exfiltration:*, Impact:IAMUser/*,
//     Policy:S3/* (a bucket made public);
//   - the instance: network findings (flow logs, DNS) of the EC2 instance
//     whose role credentials the principal is, a role session named by
//     the instance's ID as EC2 names them, or tied to it by an instance
//     credential finding.
//
// A principal whose findings cover min_stages distinct stages (three by
// default) within window (a day) gets the sequence finding, which
// carries its signals (the findings, linked by ARN), actors, resources,
// endpoints and indicators in the shape of GuardDuty's
// service.detection.sequence. Later findings about the principal update
// the same finding; its count is the signals folded in.
//
// The correlator sees findings as the other detectors report them and
// decides at the watermark, after every other detector has been advanced
// to it (see detect.Correlator), over the signals it holds: the outcome
// does not depend on the order in which findings were reported. State
// is bounded: the principals and instances with recent signals, and a
// bounded number of signals each; the least recently active are evicted
// and counted.
package sequence

import (
	"cmp"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"picket/internal/detect"
	"picket/internal/event"
	"picket/internal/finding"
	"picket/internal/lru"
)

// ID is the detector's ID.
const ID = "sequence"

// Thresholds are the detector's tunables.
var Thresholds = detect.Tunables{
	{Name: "window", Unit: "seconds", Default: 86400, Min: 600, Max: 30 * 86400,
		Doc: "how close in event time the signals of a sequence must be: a day, GuardDuty's span for attack sequences; an intrusion with stolen keys unfolds in minutes to hours"},
	{Name: "min_stages", Unit: "stages", Default: 3, Min: 2, Max: 7,
		Doc: "distinct stages (access, discovery, credential access, defence evasion, persistence, exfiltration or impact, the instance's network activity) within window that make a sequence: two are an administrator's ordinary day (a new laptop and a console session), three are an intrusion's first steps"},
	{Name: "max_signals", Unit: "signals", Default: 64, Min: 4, Max: 4096,
		Doc: "findings kept per principal or instance, about 400 bytes each; the oldest are dropped first and counted"},
	{Name: "max_principals", Unit: "principals", Default: 10_000, Min: 16, Max: 1e7,
		Doc: "principals with recent signals tracked at once; the least recently active are evicted and counted"},
	{Name: "max_instances", Unit: "instances", Default: 10_000, Min: 16, Max: 1e7,
		Doc: "instances with recent network findings tracked at once; the least recently active are evicted and counted"},
}

// stage is a step of an intrusion.
type stage uint8

const (
	stageAccess stage = iota
	stageDiscovery
	stageCredentials
	stageEvasion
	stagePersistence
	stageImpact
	stageInstance
	numStages
)

var stageNames = [numStages]string{
	"new network or tool", "discovery", "credential access", "defence evasion",
	"persistence", "exfiltration or impact", "network activity of its instance",
}

// stageTactics are the MITRE ATT&CK tactics of each stage, the values of
// the ATTACK_TACTIC indicators.
var stageTactics = [numStages][]string{
	{"Initial Access"}, {"Discovery"}, {"Credential Access"}, {"Defense Evasion"},
	{"Persistence", "Privilege Escalation"}, {"Exfiltration", "Impact"}, {"Command and Control"},
}

// stageRules map finding-type prefixes to stages, the first match wins.
var stageRules = []struct {
	prefix string
	stage  stage
}{
	{"PenTest:IAMUser/", stageAccess},
	{"InitialAccess:IAMUser/", stageAccess},
	{"UnauthorizedAccess:IAMUser/MaliciousIPCaller", stageAccess},
	{"UnauthorizedAccess:IAMUser/TorIPCaller", stageAccess},
	{"UnauthorizedAccess:IAMUser/ConsoleLoginSuccess", stageAccess},
	{"Discovery:IAMUser/", stageDiscovery},
	{"Recon:IAMUser/", stageDiscovery},
	{"CredentialAccess:IAMUser/", stageCredentials},
	{"UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration", stageCredentials},
	{"UnauthorizedAccess:IAMUser/ResourceCredentialExfiltration", stageCredentials},
	{"DefenseEvasion:IAMUser/", stageEvasion},
	{"Stealth:", stageEvasion},
	{"Persistence:IAMUser/", stagePersistence},
	{"PrivilegeEscalation:IAMUser/", stagePersistence},
	{"Exfiltration:", stageImpact},
	{"Impact:IAMUser/", stageImpact},
	{"Policy:S3/", stageImpact},
}

// stageOf returns the stage of an API finding's type.
func stageOf(typ string) (stage, bool) {
	for _, r := range stageRules {
		if strings.HasPrefix(typ, r.prefix) {
			return r.stage, true
		}
	}
	return 0, false
}

// instanceID matches the IDs EC2 gives instances, which it also gives the
// role sessions of their instance profiles.
var instanceID = regexp.MustCompile(`^i-[0-9a-f]{8,17}$`)

// signal is a finding as the correlator keeps it.
type signal struct {
	ID, Arn, Type, Title string
	Stage                stage
	First, Last          event.Time
	Created, Updated     event.Time
	Count                int64
	Severity             float64
	Region               string
	Endpoints            []endpoint // remote addresses, at most maxEndpoints
	API, UserAgent       string     // of the latest API call reported
	Action               *finding.AwsAPICallAction
	// Evidence: the latest report's first samples and most called APIs.
	Samples []finding.Sample
	APIs    []finding.Count
}

// Evidence kept per signal.
const (
	signalSamples = 2
	signalAPIs    = 5
)

// endpoint is a remote address a signal names, with what enrichment
// knew of it.
type endpoint struct {
	IP, Country, City, ASN, ASNOrg string
	Lat, Lon                       float64
}

const maxEndpoints = 8

// principal is what the correlator holds of one principal.
type principal struct {
	Account, Region                        string
	PrincipalID, UserName, UserType, KeyID string
	Instance                               string // the instance whose role session it is
	Signals                                []signal
	Dirty                                  bool
	Reported                               reported // what the last sequence reported held
	Last                                   event.Time
}

// reported is what the last report of a sequence held: how many
// signals, and when the latest ended. A sequence is reported again when
// either changes.
type reported struct {
	N    int
	Last event.Time
}

// instance is the network findings of one instance, and what they said
// of it: its image and instance profile, when known, and the details of
// the latest.
type instance struct {
	Signals        []signal
	Last           event.Time
	Account        string
	Region         string
	Image, Profile string
	Details        *finding.InstanceDetails
	Network        *finding.NetworkConnectionAction
}

// Detector is the attack-sequence correlator.
type Detector struct {
	env        detect.Env
	th         detect.Tunables
	window     event.Time
	minStages  int
	maxSignals int
	principals *lru.Table[string, principal]
	instances  *lru.Table[string, instance]
	dropped    uint64 // signals dropped for max_signals
	dirty      []string
	// groups holds what the last report of each group of instances
	// held; groupsDirty says that signals changed since.
	groups      *lru.Table[string, reported]
	groupsDirty bool
	// instancesDirty says that an instance's network findings changed
	// since the last watermark.
	instancesDirty bool
}

var (
	_ detect.Detector    = (*Detector)(nil)
	_ detect.Correlator  = (*Detector)(nil)
	_ detect.Stater      = (*Detector)(nil)
	_ detect.Snapshotter = (*Detector)(nil)
)

// New returns the correlator with the thresholds in env.
func New(env detect.Env) (*Detector, error) {
	th, err := Thresholds.Apply(ID, env.Thresholds)
	if err != nil {
		return nil, err
	}
	maxSignals := env.Keys(int(th.Get("max_signals")))
	return &Detector{
		env: env, th: th,
		window:     event.Time(th.Get("window")),
		minStages:  int(th.Get("min_stages")),
		maxSignals: maxSignals,
		principals: lru.New[string, principal](env.Cap(int(th.Get("max_principals")), 0.6, 1024+400*maxSignals/4), nil),
		instances:  lru.New[string, instance](env.Cap(int(th.Get("max_instances")), 0.35, 512+400*maxSignals/4), nil),
		groups:     lru.New[string, reported](env.Cap(int(th.Get("max_instances")), 0.05, 96), nil),
	}, nil
}

// Definition describes the detector.
func (d *Detector) Definition() detect.Definition {
	return detect.Definition{
		ID:           ID,
		Summary:      "findings about one principal that line up as the stages of an intrusion within a day",
		FindingTypes: []string{finding.TypeAttackSequenceIAM, finding.TypeAttackSequenceEC2},
		Thresholds:   d.th,
	}
}

// State reports the tables' sizes.
func (d *Detector) State() []detect.StateStats {
	return []detect.StateStats{
		{Table: "principals", Len: d.principals.Len(), Cap: d.principals.Cap(), Evicted: d.principals.Evicted()},
		{Table: "instances", Len: d.instances.Len(), Cap: d.instances.Cap(), Evicted: d.instances.Evicted()},
		{Table: "instance groups", Len: d.groups.Len(), Cap: d.groups.Cap(), Evicted: d.groups.Evicted()},
		{Table: "signals dropped", Len: 0, Cap: d.maxSignals, Evicted: d.dropped},
	}
}

// Observe takes no records: the correlator reads findings.
func (d *Detector) Observe(event.Record, detect.Emit) {}

// ObserveFinding keeps a finding another detector reported as a signal
// of its principal or instance.
func (d *Detector) ObserveFinding(f *finding.Finding, _ detect.Emit) {
	if strings.HasPrefix(f.Type, "AttackSequence:") {
		return
	}
	if ak := f.Resource.AccessKeyDetails; ak != nil {
		st, ok := stageOf(f.Type)
		if !ok {
			return
		}
		key := principalKey(f.AccountID, ak)
		p, created := d.principals.Put(key)
		if created {
			*p = principal{Account: f.AccountID, Region: f.Region}
		}
		p.PrincipalID, p.UserName, p.UserType = ak.PrincipalID, ak.UserName, ak.UserType
		if ak.AccessKeyID != "" {
			p.KeyID = ak.AccessKeyID
		}
		if inst := instanceOf(f, ak); inst != "" {
			p.Instance = inst
		}
		d.add(&p.Signals, signalOf(f, st))
		p.Last = max(p.Last, timeOf(f.Service.EventLastSeen))
		d.markDirty(key, p)
		if p.Instance != "" {
			d.groupsDirty, d.instancesDirty = true, true
		}
		return
	}
	if id := f.Resource.InstanceDetails; id != nil && id.InstanceID != "" &&
		(f.Service.FeatureName == finding.FeatureFlowLogs || f.Service.FeatureName == finding.FeatureDNSLogs) {
		in, _ := d.instances.Put(id.InstanceID)
		d.add(&in.Signals, signalOf(f, stageInstance))
		if last := timeOf(f.Service.EventLastSeen); last >= in.Last {
			in.Last = last
			in.Account, in.Region = f.AccountID, f.Region
			in.Details = cloneDetails(id)
			if nc := f.Service.Action.NetworkConnectionAction; nc != nil {
				c := *nc
				in.Network = &c
			}
		}
		if id.ImageID != "" {
			in.Image = id.ImageID
		}
		if id.IamInstanceProfile != nil && id.IamInstanceProfile.Arn != "" {
			in.Profile = id.IamInstanceProfile.Arn
		}
		d.groupsDirty = true
		// The principals of the instance are judged again at the
		// watermark: their dirty mark is set there (see Advance).
	}
}

func (d *Detector) markDirty(key string, p *principal) {
	if !p.Dirty {
		p.Dirty = true
		d.dirty = append(d.dirty, key)
	}
}

// principalKey names a principal within its account.
func principalKey(account string, ak *finding.AccessKeyDetails) string {
	id := ak.PrincipalID
	if id == "" {
		id = ak.UserName
	}
	return account + "/" + id
}

// instanceOf returns the EC2 instance whose credentials a finding's
// principal is: the instance of an instance-credential finding, or the
// session of an instance profile's role, which EC2 names by the
// instance's ID.
func instanceOf(f *finding.Finding, ak *finding.AccessKeyDetails) string {
	if id := f.Resource.InstanceDetails; id != nil && id.InstanceID != "" {
		return id.InstanceID
	}
	if _, session, ok := strings.Cut(ak.PrincipalID, ":"); ok && instanceID.MatchString(session) {
		return session
	}
	return ""
}

func timeOf(ts finding.Timestamp) event.Time { return event.TimeOf(ts.Time) }

// signalOf makes the signal of a finding.
func signalOf(f *finding.Finding, st stage) signal {
	s := signal{
		ID: f.ID, Arn: f.Arn, Type: f.Type, Title: f.Title, Stage: st,
		First: timeOf(f.Service.EventFirstSeen), Last: timeOf(f.Service.EventLastSeen),
		Created: timeOf(f.CreatedAt), Updated: timeOf(f.UpdatedAt),
		Count: f.Service.Count, Severity: float64(f.Severity), Region: f.Region,
	}
	a := &f.Service.Action
	var remote *finding.RemoteIPDetails
	switch {
	case a.AwsAPICallAction != nil:
		s.API, s.UserAgent = a.AwsAPICallAction.API, a.AwsAPICallAction.UserAgent
		remote = a.AwsAPICallAction.RemoteIPDetails
		s.Action = cloneAction(a.AwsAPICallAction)
	case a.NetworkConnectionAction != nil:
		remote = a.NetworkConnectionAction.RemoteIPDetails
	case a.PortProbeAction != nil && len(a.PortProbeAction.PortProbeDetails) > 0:
		remote = a.PortProbeAction.PortProbeDetails[0].RemoteIPDetails
	}
	if e, ok := endpointOf(remote); ok {
		s.Endpoints = append(s.Endpoints, e)
	}
	if ai := f.Service.AdditionalInfo; ai != nil && ai.Explanation != nil {
		e := ai.Explanation
		s.Samples = slices.Clone(e.Samples[:min(len(e.Samples), signalSamples)])
		s.APIs = slices.Clone(e.APICalls[:min(len(e.APICalls), signalAPIs)])
	}
	return s
}

// cloneAction copies the parts of an API call action a sequence shows.
func cloneAction(a *finding.AwsAPICallAction) *finding.AwsAPICallAction {
	c := *a
	c.AffectedResources = maps.Clone(a.AffectedResources)
	if a.RemoteIPDetails != nil {
		r := *a.RemoteIPDetails
		c.RemoteIPDetails = &r
	}
	return &c
}

func endpointOf(r *finding.RemoteIPDetails) (endpoint, bool) {
	if r == nil {
		return endpoint{}, false
	}
	e := endpoint{IP: r.IPAddressV4}
	if e.IP == "" {
		e.IP = r.IPAddressV6
	}
	if e.IP == "" {
		return endpoint{}, false
	}
	if r.Country != nil {
		e.Country = r.Country.CountryName
		if e.Country == "" {
			e.Country = r.Country.CountryCode
		}
	}
	if r.City != nil {
		e.City = r.City.CityName
	}
	if r.GeoLocation != nil {
		e.Lat, e.Lon = r.GeoLocation.Lat, r.GeoLocation.Lon
	}
	if r.Organization != nil {
		e.ASN, e.ASNOrg = r.Organization.Asn, r.Organization.AsnOrg
	}
	return e, true
}

// add folds s into signals: a later report of a finding already held
// widens it; a new one is appended, and the oldest dropped past the
// bound.
func (d *Detector) add(signals *[]signal, s signal) {
	for i := range *signals {
		o := &(*signals)[i]
		if o.ID != s.ID {
			continue
		}
		o.Count += s.Count
		o.First, o.Created = min(o.First, s.First), min(o.Created, s.Created)
		if s.Last >= o.Last {
			o.Last, o.Title, o.Updated = s.Last, s.Title, max(o.Updated, s.Updated)
			if s.Action != nil {
				o.API, o.UserAgent, o.Action = s.API, s.UserAgent, s.Action
			}
			if len(s.Samples) > 0 {
				o.Samples, o.APIs = s.Samples, s.APIs
			}
		}
		o.Severity = max(o.Severity, s.Severity)
		for _, e := range s.Endpoints {
			if len(o.Endpoints) < maxEndpoints && !slices.ContainsFunc(o.Endpoints, func(x endpoint) bool { return x.IP == e.IP }) {
				o.Endpoints = append(o.Endpoints, e)
			}
		}
		return
	}
	*signals = append(*signals, s)
	if len(*signals) > d.maxSignals {
		// The signal that ended first goes.
		oldest := 0
		for i, x := range *signals {
			if x.Last < (*signals)[oldest].Last || (x.Last == (*signals)[oldest].Last && x.ID < (*signals)[oldest].ID) {
				oldest = i
			}
		}
		*signals = slices.Delete(*signals, oldest, oldest+1)
		d.dropped++
	}
}

// Advance judges the principals whose signals changed, in the order of
// their keys.
func (d *Detector) Advance(_ event.Time, emit detect.Emit) {
	// Principals tied to an instance whose network findings changed are
	// judged again too, looked for only when an instance's did.
	if d.instancesDirty {
		d.instancesDirty = false
		for key, p := range d.principals.All {
			if p.Instance == "" || p.Dirty {
				continue
			}
			if in := d.instances.Peek(p.Instance); in != nil && in.Last > p.Last {
				p.Last = in.Last
				d.markDirty(key, p)
			}
		}
	}
	slices.Sort(d.dirty)
	for _, key := range d.dirty {
		p := d.principals.Peek(key)
		if p == nil {
			continue // evicted since
		}
		p.Dirty = false
		d.judge(p, emit)
	}
	d.dirty = d.dirty[:0]
	if d.groupsDirty {
		d.groupsDirty = false
		d.judgeGroups(emit)
	}
}

// tagged is a signal with the resource and actor it is about.
type tagged struct {
	signal
	resource, actor string
}

// recent returns the signals that ended within the window before the
// latest of them, in the order they began, and the stages they cover.
func (d *Detector) recent(all []tagged) ([]tagged, [numStages]bool, int) {
	var stages [numStages]bool
	if len(all) == 0 {
		return nil, stages, 0
	}
	latest := all[0].Last
	for _, s := range all {
		latest = max(latest, s.Last)
	}
	var in []tagged
	n := 0
	for _, s := range all {
		if s.Last+d.window < latest {
			continue
		}
		in = append(in, s)
		if !stages[s.Stage] {
			stages[s.Stage] = true
			n++
		}
	}
	slices.SortFunc(in, func(a, b tagged) int {
		return cmp.Or(cmp.Compare(a.First, b.First), cmp.Compare(a.Type, b.Type), cmp.Compare(a.ID, b.ID),
			cmp.Compare(a.resource, b.resource))
	})
	return in, stages, n
}

// judge raises the principal's sequence when its latest signals cover
// enough stages within the window.
func (d *Detector) judge(p *principal, emit detect.Emit) {
	actor := "actor:" + principalResource(p)
	res := keyUID(p)
	var all []tagged
	for _, s := range p.Signals {
		all = append(all, tagged{s, res, actor})
	}
	if p.Instance != "" {
		if in := d.instances.Peek(p.Instance); in != nil {
			for _, s := range in.Signals {
				all = append(all, tagged{s, p.Instance, ""})
			}
		}
	}
	in, stages, n := d.recent(all)
	// The instance's own network findings are a stage of the principal's
	// only with stages of the principal's own beside them.
	if n < d.minStages || (stages[stageInstance] && n-1 < 1) {
		return
	}
	_, last := span2(in)
	if len(in) == p.Reported.N && last <= p.Reported.Last {
		return // nothing new since the last report
	}
	// The count is the signals the sequence gained: a report that only
	// brings a later end of a signal already in it adds none.
	count := int64(max(len(in)-p.Reported.N, 0))
	p.Reported = reported{len(in), last}
	emit(d.build(p, in, stages, n, count))
}

// keyUID names the principal's credentials: its access key, or its ID.
func keyUID(p *principal) string {
	if p.KeyID != "" {
		return p.KeyID
	}
	return p.PrincipalID
}

// actorOf is the sequence actor of a principal.
func actorOf(p *principal) finding.Actor {
	name := p.UserName
	if name == "" {
		name = p.PrincipalID
	}
	actor := finding.Actor{ID: "actor:" + principalResource(p), User: &finding.User{
		Name: name, UID: p.PrincipalID, Type: p.UserType, CredentialUID: p.KeyID,
		Account: &finding.Account{UID: p.Account},
	}}
	if p.UserType == "AssumedRole" {
		if _, session, ok := strings.Cut(p.PrincipalID, ":"); ok {
			actor.Session = &finding.Session{UID: session}
		}
	}
	return actor
}

// build makes a principal's sequence finding.
func (d *Detector) build(p *principal, in []tagged, stages [numStages]bool, n int, count int64) *finding.Finding {
	first, last := span2(in)
	k := finding.Key{Account: p.Account, Region: p.Region, Resource: principalResource(p), Role: finding.RoleTarget}
	f := finding.New(finding.TypeAttackSequenceIAM, k, d.detectorID(p.Account, p.Region), first.UTC(), last.UTC(), count)
	f.Severity = d.severity(n)
	f.Resource.AccessKeyDetails = &finding.AccessKeyDetails{
		AccessKeyID: p.KeyID, PrincipalID: p.PrincipalID, UserName: p.UserName, UserType: p.UserType,
	}
	if action := latestAction(in); action != nil {
		f.Service.Action.AwsAPICallAction = cloneAction(action)
	}
	name := p.UserName
	if name == "" {
		name = p.PrincipalID
	}
	names := stageList(stages)
	seq := &finding.Sequence{
		UID: f.ID,
		Description: fmt.Sprintf("The credentials of %s were used for %d stages of an intrusion within %s: %s.",
			name, n, span(d.window), strings.Join(names, ", ")),
		Actors: []finding.Actor{actorOf(p)},
		Resources: []finding.ResourceV2{{
			UID: keyUID(p), Name: name, AccountID: p.Account, ResourceType: finding.ResourceV2AccessKey,
			Region: p.Region, Service: "IAM", CloudPartition: finding.Partition(p.Region),
		}},
	}
	if p.Instance != "" {
		seq.Resources = append(seq.Resources, instanceResource(p.Instance, p.Account, p.Region))
	}
	fillSignals(seq, in)
	f.Service.Detection = &finding.Detection{Sequence: seq}
	f.Service.AdditionalInfo = &finding.AdditionalInfo{Explanation: d.explain(name, in, n)}
	t, _ := finding.Lookup(finding.TypeAttackSequenceIAM)
	vars := map[string]string{"principal": name, "stages": strconv.Itoa(n), "list": strings.Join(names, ", ")}
	f.Title = finding.Text(t.Title, vars)
	f.Description = finding.Text(t.Description, vars)
	return f
}

func (d *Detector) detectorID(account, region string) string {
	if d.env.DetectorID == nil {
		return ""
	}
	return d.env.DetectorID(account, region)
}

// severity is 9 at min_stages and 0.2 more for each stage beyond, at
// most 10.
func (d *Detector) severity(n int) finding.Severity {
	return finding.Severity(min(10, 9+0.2*float64(max(n-d.minStages, 0))))
}

// span2 returns when the first signal began and the last ended.
func span2(in []tagged) (event.Time, event.Time) {
	first, last := in[0].First, in[0].Last
	for _, s := range in {
		first, last = min(first, s.First), max(last, s.Last)
	}
	return first, last
}

// latestAction is the API call of the latest API signal.
func latestAction(in []tagged) *finding.AwsAPICallAction {
	var action *finding.AwsAPICallAction
	var at event.Time
	for _, s := range in {
		if s.Action != nil && (action == nil || s.Last >= at) {
			action, at = s.Action, s.Last
		}
	}
	return action
}

func stageList(stages [numStages]bool) []string {
	var names []string
	for st := range numStages {
		if stages[st] {
			names = append(names, stageNames[st])
		}
	}
	return names
}

func instanceResource(id, account, region string) finding.ResourceV2 {
	return finding.ResourceV2{
		UID: id, AccountID: account, ResourceType: finding.ResourceV2EC2Instance,
		Region: region, Service: "EC2", CloudPartition: finding.Partition(region),
	}
}

// fillSignals writes the signals of a sequence, the endpoints they name
// and the indicators of the whole.
func fillSignals(seq *finding.Sequence, in []tagged) {
	var tactics, apis, agents, malicious []string
	endpoints := map[string]endpoint{}
	for _, s := range in {
		sig := finding.Signal{
			UID: s.Arn, Type: finding.SignalFinding, Description: s.Title, Name: s.Type,
			CreatedAt: finding.EpochTime{Time: s.Created.UTC()}, UpdatedAt: finding.EpochTime{Time: s.Updated.UTC()},
			FirstSeenAt: finding.EpochTime{Time: s.First.UTC()}, LastSeenAt: finding.EpochTime{Time: s.Last.UTC()},
			Severity: s.Severity, Count: int32(min(s.Count, 1<<31-1)),
			ResourceUIDs: []string{s.resource},
		}
		if s.actor != "" {
			sig.ActorIDs = []string{s.actor}
		}
		sig.SignalIndicators = append(sig.SignalIndicators, finding.Indicator{Key: finding.IndicatorAttackTactic, Values: stageTactics[s.Stage]})
		tactics = append(tactics, stageTactics[s.Stage]...)
		if s.Stage != stageAccess && s.Stage != stageInstance && s.API != "" {
			sig.SignalIndicators = append(sig.SignalIndicators, finding.Indicator{Key: finding.IndicatorHighRiskAPI, Values: []string{s.API}})
			apis = append(apis, s.API)
		}
		if strings.HasPrefix(s.Type, "PenTest:") && s.UserAgent != "" {
			sig.SignalIndicators = append(sig.SignalIndicators, finding.Indicator{Key: finding.IndicatorSuspiciousUserAgent, Values: []string{s.UserAgent}})
			agents = append(agents, s.UserAgent)
		}
		for _, e := range s.Endpoints {
			sig.EndpointIDs = append(sig.EndpointIDs, e.IP)
			endpoints[e.IP] = e
			if strings.Contains(s.Type, "MaliciousIPCaller") || strings.Contains(s.Type, "TorIPCaller") {
				malicious = append(malicious, e.IP)
			}
		}
		seq.Signals = append(seq.Signals, sig)
	}
	for _, ip := range slices.Sorted(maps.Keys(endpoints)) {
		e := endpoints[ip]
		ne := finding.NetworkEndpoint{ID: ip, IP: ip}
		if e.Country != "" || e.City != "" || e.Lat != 0 || e.Lon != 0 {
			ne.Location = &finding.NetworkGeoLocation{City: e.City, Country: e.Country, Latitude: e.Lat, Longitude: e.Lon}
		}
		if asn, err := strconv.ParseInt(e.ASN, 10, 32); err == nil && asn > 0 {
			ne.AutonomousSystem = &finding.AutonomousSystem{Name: e.ASNOrg, Number: int32(asn)}
		}
		seq.Endpoints = append(seq.Endpoints, ne)
	}
	indicator := func(key string, values []string) {
		slices.Sort(values)
		if values = slices.Compact(values); len(values) > 0 {
			seq.SequenceIndicators = append(seq.SequenceIndicators, finding.Indicator{Key: key, Values: values})
		}
	}
	indicator(finding.IndicatorAttackTactic, tactics)
	indicator(finding.IndicatorHighRiskAPI, apis)
	indicator(finding.IndicatorSuspiciousUserAgent, agents)
	indicator(finding.IndicatorMaliciousIP, malicious)
}

// The evidence a sequence's explanation lists.
const (
	maxSamples = 10
	maxAPIs    = 10
)

// explain writes the explanation of a sequence.
func (d *Detector) explain(name string, in []tagged, n int) *finding.Explanation {
	var lines []string
	for _, s := range in {
		line := stageNames[s.Stage] + ": " + s.Type
		if s.resource != "" && s.Stage == stageInstance {
			line += " on " + s.resource
		}
		lines = append(lines, line)
	}
	// The evidence of the signals: their samples, in the order the
	// signals began, and the APIs they called most.
	var samples []finding.Sample
	apis := map[string]int64{}
	for _, s := range in {
		for _, x := range s.Samples {
			if len(samples) < maxSamples {
				samples = append(samples, x)
			}
		}
		for _, c := range s.APIs {
			apis[c.Name] += c.Count
		}
	}
	var calls []finding.Count
	for name, c := range apis {
		calls = append(calls, finding.Count{Name: name, Count: c})
	}
	slices.SortFunc(calls, func(a, b finding.Count) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Name, b.Name))
	})
	calls = calls[:min(len(calls), maxAPIs)]
	return &finding.Explanation{
		Detector: ID,
		Summary: fmt.Sprintf("%s: %d findings covering %d stages of an intrusion within %s (%s)",
			name, len(in), n, span(d.window), strings.Join(lines, "; ")),
		Samples:    samples,
		APICalls:   calls,
		Thresholds: []finding.Threshold{{Name: "min_stages", Observed: float64(n), Limit: float64(d.minStages), Unit: "stages", Crossed: true}},
		Counts:     map[string]int64{"signals": int64(len(in)), "stages": int64(n)},
	}
}

// A group of instances: the instances that share an instance profile's
// role (seen in the sessions EC2 names by instance ID), an instance
// profile or an image.
type member struct {
	id       string
	signals  []tagged
	network  bool
	api      bool
	actor    *principal
	instance *instance
}

// judgeGroups raises AttackSequence:EC2/CompromisedInstanceGroup for each
// group in which at least two instances show signals within the window,
// with network findings and API findings both among them: one
// compromised instance is a finding of its own; the same signs on its
// siblings are a compromise spreading through what they share.
func (d *Detector) judgeGroups(emit detect.Emit) {
	groups := map[string]map[string]*member{}
	members := map[string]*member{}
	memberOf := func(id string) *member {
		m := members[id]
		if m == nil {
			m = &member{id: id}
			if in := d.instances.Peek(id); in != nil {
				m.instance = in
				for _, s := range in.Signals {
					m.signals = append(m.signals, tagged{s, id, ""})
				}
				m.network = len(in.Signals) > 0
			}
			members[id] = m
		}
		return m
	}
	join := func(group, id string) {
		if groups[group] == nil {
			groups[group] = map[string]*member{}
		}
		groups[group][id] = memberOf(id)
	}
	for _, p := range d.principals.All {
		if p.Instance == "" {
			continue
		}
		m := memberOf(p.Instance)
		actor := "actor:" + principalResource(p)
		for _, s := range p.Signals {
			m.signals = append(m.signals, tagged{s, p.Instance, actor})
			m.api = true
		}
		if m.actor == nil || principalResource(p) < principalResource(m.actor) {
			m.actor = p
		}
		if role, _, ok := strings.Cut(p.PrincipalID, ":"); ok {
			join("role:"+p.Account+"/"+role, p.Instance)
		}
	}
	for id, in := range d.instances.All {
		if in.Image != "" {
			join("image:"+in.Account+"/"+in.Image, id)
		}
		if in.Profile != "" {
			join("profile:"+in.Profile, id)
		}
	}
	for _, g := range slices.Sorted(maps.Keys(groups)) {
		ms := groups[g]
		if len(ms) < 2 {
			continue
		}
		var all []tagged
		for _, id := range slices.Sorted(maps.Keys(ms)) {
			all = append(all, ms[id].signals...)
		}
		in, _, _ := d.recent(all)
		active := map[string]bool{}
		network, api := false, false
		for _, s := range in {
			active[s.resource] = true
			if s.Stage == stageInstance {
				network = true
			} else {
				api = true
			}
		}
		if len(active) < 2 || !network || !api {
			continue
		}
		_, last := span2(in)
		r, _ := d.groups.Put(g)
		if len(in) == r.N && last <= r.Last {
			continue
		}
		count := int64(max(len(in)-r.N, 0))
		*r = reported{len(in), last}
		emit(d.buildGroup(g, ms, in, active, count))
	}
}

// buildGroup makes a group's sequence finding.
func (d *Detector) buildGroup(g string, ms map[string]*member, in []tagged, active map[string]bool, count int64) *finding.Finding {
	ids := slices.Sorted(maps.Keys(active))
	lead := ms[ids[0]]
	account, region := "", ""
	if lead.instance != nil {
		account, region = lead.instance.Account, lead.instance.Region
	}
	if account == "" && lead.actor != nil {
		account, region = lead.actor.Account, lead.actor.Region
	}
	first, last := span2(in)
	k := finding.Key{Account: account, Region: region, Resource: g, Role: finding.RoleTarget}
	f := finding.New(finding.TypeAttackSequenceEC2, k, d.detectorID(account, region), first.UTC(), last.UTC(), count)
	f.Resource.InstanceDetails = &finding.InstanceDetails{InstanceID: lead.id}
	if lead.instance != nil && lead.instance.Details != nil {
		f.Resource.InstanceDetails = cloneDetails(lead.instance.Details)
	}
	// The action is the latest network connection among the instances.
	var latest *instance
	for _, id := range ids {
		if in := ms[id].instance; in != nil && in.Network != nil && (latest == nil || in.Last > latest.Last) {
			latest = in
		}
	}
	if latest != nil {
		c := *latest.Network
		f.Service.Action.NetworkConnectionAction = &c
	} else {
		f.Service.Action.NetworkConnectionAction = &finding.NetworkConnectionAction{ConnectionDirection: finding.DirectionUnknown}
	}
	if f.Service.Action.NetworkConnectionAction.RemoteIPDetails == nil {
		f.Service.Action.NetworkConnectionAction.RemoteIPDetails = &finding.RemoteIPDetails{}
	}
	shared := groupWords(g)
	seq := &finding.Sequence{
		UID: f.ID,
		Description: fmt.Sprintf("%d instances that share %s show network and API signs of compromise within %s: %s.",
			len(ids), shared, span(d.window), strings.Join(ids, ", ")),
	}
	for _, id := range ids {
		m := ms[id]
		seq.Resources = append(seq.Resources, instanceResource(id, account, region))
		if m.actor != nil {
			seq.Actors = append(seq.Actors, actorOf(m.actor))
		}
	}
	fillSignals(seq, in)
	f.Service.Detection = &finding.Detection{Sequence: seq}
	exp := d.explain(strings.Join(ids, ", "), in, len(ids))
	exp.Summary = fmt.Sprintf("%d instances sharing %s: %s", len(ids), shared, exp.Summary)
	exp.Thresholds = []finding.Threshold{{Name: "instances", Observed: float64(len(ids)), Limit: 2, Unit: "instances", Crossed: true}}
	exp.Counts = map[string]int64{"signals": int64(len(in)), "instances": int64(len(ids))}
	f.Service.AdditionalInfo = &finding.AdditionalInfo{Explanation: exp}
	t, _ := finding.Lookup(finding.TypeAttackSequenceEC2)
	vars := map[string]string{"count": strconv.Itoa(len(ids)), "shared": shared, "list": strings.Join(ids, ", ")}
	f.Title = finding.Text(t.Title, vars)
	f.Description = finding.Text(t.Description, vars)
	return f
}

// groupWords says what a group's instances share.
func groupWords(g string) string {
	kind, rest, _ := strings.Cut(g, ":")
	if _, id, ok := strings.Cut(rest, "/"); ok && kind != "profile" {
		rest = id
	}
	switch kind {
	case "role":
		return "the role " + rest
	case "image":
		return "the image " + rest
	}
	return "the instance profile " + rest
}

// cloneDetails copies an instance's details.
func cloneDetails(d *finding.InstanceDetails) *finding.InstanceDetails {
	c := *d
	c.NetworkInterfaces = slices.Clone(d.NetworkInterfaces)
	c.ProductCodes = slices.Clone(d.ProductCodes)
	c.Tags = slices.Clone(d.Tags)
	if d.IamInstanceProfile != nil {
		p := *d.IamInstanceProfile
		c.IamInstanceProfile = &p
	}
	return &c
}

// span writes a window in words.
func span(w event.Time) string {
	switch {
	case w%3600 == 0 && w != 3600:
		return strconv.FormatInt(int64(w/3600), 10) + " hours"
	case w == 3600:
		return "an hour"
	case w%60 == 0:
		return strconv.FormatInt(int64(w/60), 10) + " minutes"
	}
	return strconv.FormatInt(int64(w), 10) + " seconds"
}

// principalResource is the principal's part of the finding key.
func principalResource(p *principal) string {
	id := p.PrincipalID
	if id == "" {
		id = p.UserName
	}
	return id
}

type detectorState struct {
	Principals  lru.Snapshot[string, principal]
	Instances   lru.Snapshot[string, instance]
	Groups      lru.Snapshot[string, reported]
	Dropped     uint64
	Dirty       []string
	GroupsDirty bool
	InstDirty   bool
}

// MarshalState saves the principals and instances held.
func (d *Detector) MarshalState() ([]byte, error) {
	return detect.EncodeState(detectorState{
		Principals: d.principals.View(), Instances: d.instances.View(), Groups: d.groups.View(),
		Dropped: d.dropped, Dirty: slices.Clone(d.dirty), GroupsDirty: d.groupsDirty, InstDirty: d.instancesDirty,
	})
}

// UnmarshalState restores them.
func (d *Detector) UnmarshalState(b []byte) error {
	var st detectorState
	if err := detect.DecodeState(b, &st); err != nil {
		return err
	}
	d.principals.Restore(st.Principals)
	d.instances.Restore(st.Instances)
	d.groups.Restore(st.Groups)
	d.groupsDirty, d.instancesDirty = st.GroupsDirty, st.InstDirty
	d.dropped = st.Dropped
	d.dirty = st.Dirty
	return nil
}
