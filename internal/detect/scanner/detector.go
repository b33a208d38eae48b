package scanner

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"picket/internal/detect"
	"picket/internal/detect/contact"
	"picket/internal/detect/trw"
	"picket/internal/event"
	"picket/internal/finding"
	"picket/internal/lru"
)

// Detector is the family's working detector: it holds the one tracker
// and the reports of each finding type that runs. The engine knows it by
// the ID of the first detector of the family that runs (see New).
type Detector struct {
	env   detect.Env
	def   detect.Definition
	tr    *Tracker
	books []*book // the finding types that run: the port scan's first
}

// alias names the second detector of the family when both run: the
// engine, the configuration and the listings know it by its ID and
// thresholds, and the Detector does its work.
type alias struct{ def detect.Definition }

var (
	_ detect.Detector    = (*Detector)(nil)
	_ detect.Stater      = (*Detector)(nil)
	_ detect.Snapshotter = (*Detector)(nil)
	_ detect.Detector    = (*alias)(nil)
)

// New builds the family from the environments of its detectors, nil for
// one that is disabled, and returns the detectors in the same order, nil
// for a disabled one. The first that runs is the Detector, the other an
// alias of it. The thresholds of each are applied as the detector's own,
// but for the tracker's settings (see trackerSettings), which are the
// family's: a value given to one detector holds for both, and different
// values given to each are an error.
func New(scanEnv, sweepEnv *detect.Env) (scan, sweep detect.Detector, err error) {
	var (
		errs  []error
		envs  []*detect.Env
		books []*book
	)
	for _, m := range []struct {
		env     *detect.Env
		newBook func(detect.Tunables) *book
		th      detect.Tunables
		id      string
	}{{scanEnv, newScans, ScanThresholds, ScanID}, {sweepEnv, newSweeps, SweepThresholds, SweepID}} {
		if m.env == nil {
			continue
		}
		th, err := m.th.Apply(m.id, m.env.Thresholds)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		envs, books = append(envs, m.env), append(books, m.newBook(th))
	}
	if len(errs) > 0 || len(books) == 0 {
		return nil, nil, errors.Join(errs...)
	}
	if err := shareTracker(books, envs); err != nil {
		return nil, nil, err
	}
	th := detect.Tunables(books[0].def.Thresholds)
	p := trw.DefaultParams
	p.Theta0, p.Theta1 = th.Get("trw_theta0"), th.Get("trw_theta1")
	if p.Theta1 >= p.Theta0 {
		return nil, nil, fmt.Errorf("%s: trw_theta1 must be below trw_theta0", names(books))
	}
	// The table is sized as each detector's own was before they shared
	// it, from max_hosts and one detector's share of a memory budget
	// (their shares are equal): the pair takes half the memory it did.
	maxHosts := 0
	for _, e := range envs {
		maxHosts = max(maxHosts, e.Cap(int(th.Get("max_hosts")), 1, 4096))
	}
	d := &Detector{
		env: *envs[0], def: books[0].def, books: books,
		tr: NewTracker(Config{Walk: p, MaxInitiators: maxHosts, MaxTargets: 64, MaxPorts: 64, TTL: event.Time(th.Get("host_ttl"))}),
	}
	switch {
	case scanEnv == nil:
		return nil, d, nil
	case sweepEnv == nil:
		return d, nil, nil
	}
	return d, &alias{def: books[1].def}, nil
}

// trackerSettings are the thresholds that configure the tracker rather
// than one finding type: both detectors declare them, with one meaning.
var trackerSettings = []string{"trw_theta0", "trw_theta1", "host_ttl", "max_hosts"}

// shareTracker gives every book's tracker settings the value that one of
// the detectors was configured with. Two detectors configured with
// different values are an error.
func shareTracker(books []*book, envs []*detect.Env) error {
	var errs []error
	for _, name := range trackerSettings {
		from := -1
		for i, e := range envs {
			v, ok := e.Thresholds[name]
			switch {
			case !ok:
			case from < 0:
				from = i
			case v != envs[from].Thresholds[name]:
				errs = append(errs, fmt.Errorf("detectors %s and %s share one host tracker: %s is %g for %s and %g for %s; set it for one of them, or to the same value for both",
					books[from].def.ID, books[i].def.ID, name, envs[from].Thresholds[name], books[from].def.ID, v, books[i].def.ID))
			}
		}
		if from < 0 {
			continue
		}
		for _, b := range books {
			i := slices.IndexFunc(b.def.Thresholds, func(t detect.Threshold) bool { return t.Name == name })
			b.def.Thresholds[i].Value = envs[from].Thresholds[name]
		}
	}
	return errors.Join(errs...)
}

// names names the detectors of books for an error message.
func names(books []*book) string {
	if len(books) == 1 {
		return "detector " + books[0].def.ID
	}
	return "detectors " + books[0].def.ID + " and " + books[1].def.ID
}

// Definition describes the detector the engine knows this one as.
func (d *Detector) Definition() detect.Definition { return d.def }

// State reports the tracker's table, the only keyed state of the family.
func (d *Detector) State() []detect.StateStats { return []detect.StateStats{d.tr.Stats("hosts")} }

// Observe records one contact for every finding type of the family.
func (d *Detector) Observe(rec event.Record, _ detect.Emit) {
	c, ok := rec.(*event.Contact)
	if !ok || c.Outcome == event.OutcomeUnknown {
		return
	}
	// Our interfaces' own contacts, and contacts that internal hosts open
	// with our interfaces (the scanner's own flow logs may be missing).
	local := !c.Inbound
	if !local && !event.Internal(c.Initiator) {
		return // internet hosts probing us: the portprobe detector's
	}
	if d.env.Intel != nil && d.env.Intel.Trusted(c.Initiator) {
		return
	}
	obs := d.tr.Observe(c, local)
	if !obs.First {
		// The scanner's own interface may see a contact after the
		// target's did: it names the resource.
		if local {
			for _, b := range d.books {
				b.named(c)
			}
		}
		return
	}
	in := obs.Init
	if !local && !in.HasCtx {
		// Seen from the target's side: keep the contact as the context
		// unless the scanner's own interface has given one.
		in.Ctx = *c
	}
	for _, b := range d.books {
		b.observe(c, in, &obs, d.tr)
	}
}

// Advance reports the scans and sweeps that grew since their last
// report, then forgets the hosts idle for host_ttl.
func (d *Detector) Advance(w event.Time, emit detect.Emit) {
	for _, b := range d.books {
		b.advance(d, w, emit)
	}
	if w != event.Forever {
		d.tr.Expire(w)
	}
}

// Definition describes the detector.
func (a *alias) Definition() detect.Definition { return a.def }

// Observe does nothing: the family's Detector observes each contact once
// for both detectors.
func (a *alias) Observe(event.Record, detect.Emit) {}

// Advance does nothing: the Detector reports this detector's findings.
func (a *alias) Advance(event.Time, detect.Emit) {}

// book is one finding type of the family: its detector's definition and
// thresholds, and its reports waiting for Advance.
type book struct {
	def      detect.Definition
	sweep    bool   // the port sweep's book, keyed by port; else the port scan's, keyed by target
	minName  string // the threshold on distinct pairs: min_ports or min_hosts
	unit     string // what those pairs are: ports or hosts
	min      int
	minRatio float64
	hold     event.Time
	dirty    map[key]*report
}

// key is what a report is about: a host's scan of one target (Port
// zero), or its sweep of one port (Target the zero Addr), in an account.
type key struct {
	Account event.ID
	Scanner netip.Addr
	Target  netip.Addr
	Port    uint16
}

func (k key) compare(o key) int {
	if c := strings.Compare(k.Account.String(), o.Account.String()); c != 0 {
		return c
	}
	if c := k.Scanner.Compare(o.Scanner); c != 0 {
		return c
	}
	if c := k.Target.Compare(o.Target); c != 0 {
		return c
	}
	return int(k.Port) - int(o.Port)
}

// reported is the name under which the host's Reported map remembers
// that k was reported.
func (k key) reported() string {
	if k.Target.IsValid() {
		return "scan " + k.Target.String()
	}
	return "sweep " + strconv.Itoa(int(k.Port))
}

// report is one finding waiting for Advance.
type report struct {
	Due    event.Time    // the watermark the report waits for (see hold)
	Ctx    event.Contact // the context of the resource (see observe)
	HasCtx bool
	Probes int64 // first contacts since the last report
	First  event.Time
	Last   event.Time
	C      event.Contact // the latest contact of the scan or sweep
	// N are the target's or port's counts at that contact: the slot may
	// be given to another target or port before the report is made, when
	// the scanner works through more of them than it keeps.
	N Counts
}

// newBook is the book of the finding type def defines, with its
// thresholds applied: the port sweep's when sweep is set, else the port
// scan's; minName is its threshold on distinct pairs, counted in unit.
func newBook(def detect.Definition, sweep bool, minName, unit string) *book {
	th := detect.Tunables(def.Thresholds)
	return &book{
		def:      def,
		sweep:    sweep,
		minName:  minName,
		unit:     unit,
		min:      int(th.Get(minName)),
		minRatio: th.Get("min_failure_ratio"),
		hold:     event.Time(th.Get("hold")),
		dirty:    map[key]*report{},
	}
}

func (b *book) key(c *event.Contact) key {
	if b.sweep {
		return key{Account: c.Account, Scanner: c.Initiator, Port: c.RPort}
	}
	return key{Account: c.Account, Scanner: c.Initiator, Target: c.Responder}
}

// named takes a contact that the scanner's own interface saw after the
// target's did as the context of the report it belongs to.
func (b *book) named(c *event.Contact) {
	if len(b.dirty) == 0 {
		return
	}
	if r := b.dirty[b.key(c)]; r != nil {
		r.Ctx, r.HasCtx = *c, true
	}
}

// observe counts a first contact towards a report when the counts of its
// target (scan) or port (sweep) pass the book's thresholds.
func (b *book) observe(c *event.Contact, in *Initiator, obs *Observation, tr *Tracker) {
	n := &obs.Target.Counts
	if b.sweep {
		n = &obs.Port.Counts
	}
	if (in.Verdict != trw.Scanner && n.Verdict != trw.Scanner) || n.Distinct() < b.min || FailureRatio(n.Failures, n.Successes) < b.minRatio ||
		!tr.Test().Significant(n.Failures, n.Successes) {
		return
	}
	k := b.key(c)
	r := b.dirty[k]
	if r == nil {
		r = &report{First: c.Start, Due: c.End + b.hold}
		b.dirty[k] = r
		if rk := k.reported(); in.Reported[rk] == 0 {
			// The first report counts every probe so far.
			in.Reported[rk] = c.Start
			r.Probes = int64(n.Failures+n.Successes) - 1
			r.First = n.First
			if n.FirstFail != 0 {
				r.First = n.FirstFail
			}
		}
	}
	r.Probes++
	r.First = min(r.First, c.Start)
	r.Last = max(r.Last, c.End)
	r.C = *c
	// The resource is the scanner's interface as the contacts themselves
	// showed it, taken when the report is updated, not when it is made: a
	// report waits (hold) while the host goes on, and a NAT gateway's
	// interface also records the host's traffic.
	switch {
	case !c.Inbound:
		r.Ctx, r.HasCtx = *c, true
	case in.HasCtx:
		r.Ctx, r.HasCtx = in.Ctx, true // the host's latest contact from its own interface
	case !r.HasCtx:
		r.Ctx = *c // only the target's interface saw it
	}
	r.N = *n
}

// advance makes the reports whose hold is over, in key order, unless the
// host turned out to be a monitor.
func (b *book) advance(d *Detector, w event.Time, emit detect.Emit) {
	keys := make([]key, 0, len(b.dirty))
	for k := range b.dirty {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, key.compare)
	for _, k := range keys {
		r := b.dirty[k]
		if w != event.Forever && r.Due > w {
			continue // still waiting to see whether the host is a monitor
		}
		delete(b.dirty, k)
		in := d.tr.Peek(HostKey{k.Account, k.Scanner})
		if in == nil || in.Polling() {
			continue
		}
		if b.sweep {
			emit(d.sweepFinding(b, k, r, in))
		} else {
			emit(d.scanFinding(b, k, r, in))
		}
	}
}

// start begins the finding of a report: about the scanner's interface as
// the contacts showed it (role ACTOR), or, when only the target's flow
// logs saw them, about the target, naming the scanner (role TARGET).
// discriminator tells apart the findings of one resource and role.
func (d *Detector) start(typ string, k key, r *report, discriminator string) *finding.Finding {
	ctx := &r.Ctx
	role, actor := finding.RoleActor, ""
	if !r.HasCtx {
		role, actor = finding.RoleTarget, k.Scanner.String()
	}
	account, region := ctx.Account.String(), ctx.Region.String()
	fk := finding.Key{Account: account, Region: region, Resource: finding.ResourceID(ctx), Role: role, Actor: actor + discriminator}
	f := finding.New(typ, fk, d.env.DetectorID(account, region), r.First.UTC(), r.Last.UTC(), r.Probes)
	f.Resource.InstanceDetails = finding.InstanceFor(ctx)
	f.Resource.EcsClusterDetails = finding.ECSFor(ctx)
	nc := contact.Connection(&r.C, role == finding.RoleActor, ctx.Interface)
	nc.Blocked = r.N.Successes == 0 && r.C.Outcome == event.OutcomeRejected
	f.Service.Action.NetworkConnectionAction = nc
	return f
}

// explain returns the explanation of a report with the thresholds both
// finding types are held to and the counts they share.
func (d *Detector) explain(b *book, r *report, in *Initiator, summary string) *finding.Explanation {
	n := &r.N
	return &finding.Explanation{
		Detector: b.def.ID,
		Summary:  summary,
		Thresholds: []finding.Threshold{
			{Name: "trw_failures_to_decide", Limit: float64(d.tr.Test().FailuresToDecide()), Observed: float64(in.Failures), Unit: "failed first contacts", Crossed: true},
			{Name: b.minName, Limit: float64(b.min), Observed: float64(n.Distinct()), Unit: b.unit, Crossed: true},
			{Name: "min_failure_ratio", Limit: b.minRatio, Observed: round2(FailureRatio(n.Failures, n.Successes)), Unit: "ratio", Crossed: true},
		},
		Counts: map[string]int64{
			"distinct_" + b.unit:        int64(n.Distinct()),
			"failed_first_contacts":     int64(n.Failures),
			"successful_first_contacts": int64(n.Successes),
		},
		Samples:     contact.Samples(n.Evidence),
		NetworkPath: contact.NetworkPath(&r.C),
	}
}

// evidence adds the threat list that names the scanner or the host it
// reached, if one does, and makes the finding High: the port scan's
// severity is Medium otherwise, the port sweep's is High already.
func (d *Detector) evidence(f *finding.Finding, exp *finding.Explanation, scanner, remote netip.Addr) {
	ev, m := detect.ThreatEvidence(d.env.Intel, scanner, remote)
	if ev == nil {
		return
	}
	f.Service.Evidence, exp.ThreatListName = ev, m.ListName
	if len(m.ThreatNames) > 0 {
		exp.ThreatName = m.ThreatNames[0]
	}
	f.Severity = max(f.Severity, finding.SeverityHigh)
}

// resource is how a finding's text names the resource: the instance, or
// the scanner when only the target's flow logs saw it.
func resource(f *finding.Finding, k key, ctx *event.Contact) string {
	if f.Service.ResourceRole == finding.RoleTarget {
		return k.Scanner.String() + " (a host in the VPC whose own flow logs were not read)"
	}
	return finding.ResourceLabel(ctx)
}

// scope says where a scanned host is.
func scope(a netip.Addr) string {
	if event.Internal(a) {
		return "in the VPC"
	}
	return "on the internet"
}

func round2(v float64) float64 { return float64(int(v*100+0.5)) / 100 }

// savedLayout is the layout of the saved state; a state saved in
// another (the two detectors' own trackers, before they shared one;
// hosts by address alone, before they were by account and address) is
// not restored, and the family starts afresh.
const savedLayout = 3

// saved is the family's state as MarshalState saves it.
type saved struct {
	Layout int
	Hosts  lru.Snapshot[HostKey, Initiator]
	Scans  []pending
	Sweeps []pending
}

// pending is one report waiting for Advance, as saved.
type pending struct {
	Key    key
	Report report
}

// MarshalState saves the tracked hosts and the reports not yet made, in
// key order.
func (d *Detector) MarshalState() ([]byte, error) {
	st := saved{Layout: savedLayout, Hosts: d.tr.inits.View()}
	for _, b := range d.books {
		p := make([]pending, 0, len(b.dirty))
		for k, r := range b.dirty {
			p = append(p, pending{k, *r})
		}
		slices.SortFunc(p, func(a, b pending) int { return a.Key.compare(b.Key) })
		if b.sweep {
			st.Sweeps = p
		} else {
			st.Scans = p
		}
	}
	return detect.EncodeState(st)
}

// UnmarshalState restores them. The reports of a detector that no
// longer runs are dropped.
func (d *Detector) UnmarshalState(b []byte) error {
	var st saved
	if err := detect.DecodeState(b, &st); err != nil {
		return err
	}
	for _, bk := range d.books {
		clear(bk.dirty)
	}
	if st.Layout != savedLayout {
		d.tr.inits.Clear()
		return nil
	}
	d.tr.inits.Restore(st.Hosts)
	for _, bk := range d.books {
		p := st.Scans
		if bk.sweep {
			p = st.Sweeps
		}
		for _, x := range p {
			r := x.Report
			bk.dirty[x.Key] = &r
		}
	}
	return nil
}
