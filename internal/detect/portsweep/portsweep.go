// Package portsweep owns the Impact:EC2/PortSweep detector: a host of the
// estate probing one port across many hosts, on the internet (the sign of
// an instance turned into a worm or a scanner for hire) or in the VPC (a
// compromised host looking for the next one to enter).
//
// It sees contacts from the contact stage and shares the per-host state of
// package scanner with the port scan detector: a host is a scanner once
// the Threshold Random Walk over its first contacts decides so, and a
// sweep is such a host reaching min_hosts distinct hosts on one port, most
// of those contacts failing. Clients of many servers on one port (a NAT
// gateway, a crawler, a monitoring system, a load balancer's health
// checks) succeed far more often than they fail and stay quiet.
package portsweep

import (
	"net/netip"
	"slices"
	"strconv"

	"picket/internal/detect"
	"picket/internal/detect/contact"
	"picket/internal/detect/scanner"
	"picket/internal/detect/trw"
	"picket/internal/event"
	"picket/internal/finding"
)

// ID is the detector's ID.
const ID = "portsweep"

// Thresholds are the detector's tunables.
var Thresholds = detect.Tunables{
	{Name: "min_hosts", Unit: "hosts", Default: 20, Min: 2, Max: 1e6,
		Doc: "distinct hosts a scanner must have contacted on one port; twenty is less than a /27 and more than the servers a client of one service talks to in a day"},
	{Name: "min_failure_ratio", Unit: "ratio", Default: 0.4, Min: 0, Max: 1,
		Doc: "share of the first contacts on the port that must have failed: twice the one in five that the walk expects of a benign host (trw_theta0), low enough for a sweep of a range where half the hosts serve the port; besides this floor, the failures must be more than a benign host would have by chance (a binomial test at trw_theta0 and the walk's false-positive probability), which keeps a monitor with a few targets down quiet"},
	{Name: "trw_theta0", Unit: "probability", Default: trw.DefaultParams.Theta0, Min: 0.01, Max: 0.99,
		Doc: "probability that a benign host's first contact succeeds (Jung et al. 2004)"},
	{Name: "trw_theta1", Unit: "probability", Default: trw.DefaultParams.Theta1, Min: 0.01, Max: 0.99,
		Doc: "probability that a scanner's first contact succeeds"},
	{Name: "hold", Unit: "seconds", Default: 120, Min: 0, Max: 3600,
		Doc: "how long, in event time, a report waits for the host to show it is a monitor (it asks again about ports it already found closed, as a scraper does every interval): two rounds of a once-a-minute check; the finding keeps the sweep's own times"},
	{Name: "host_ttl", Unit: "seconds", Default: 86400, Min: 60, Max: 30 * 86400,
		Doc: "how long a host's contacts are remembered after its last one"},
	{Name: "max_hosts", Unit: "hosts", Default: 50_000, Min: 10, Max: 1e7,
		Doc: "initiating hosts tracked at once, each at most about 36 KiB (the first contacts it made, the closed ports it found and the connections it asked them again with, each up to 8 KiB, and its targets and ports); the least recently seen are evicted and counted"},
}

// Detector is the port sweep detector.
type Detector struct {
	env      detect.Env
	th       detect.Tunables
	tr       *scanner.Tracker
	minHosts int
	minRatio float64
	hold     event.Time
	dirty    map[key]*report
}

type key struct {
	Scanner netip.Addr
	Port    uint16
}

type report struct {
	Due    event.Time    // the watermark the report waits for (see hold)
	Ctx    event.Contact // the context of the resource (see Observe)
	HasCtx bool
	Probes int64
	First  event.Time
	Last   event.Time
	C      event.Contact
	// P is the port's state at that contact: its slot may be given to
	// another port before the report is made, when the scanner also
	// works through more ports than it keeps.
	P scanner.Port
}

var (
	_ detect.Detector = (*Detector)(nil)
	_ detect.Stater   = (*Detector)(nil)
)

// New builds the detector.
func New(env detect.Env) (*Detector, error) {
	th, err := Thresholds.Apply(ID, env.Thresholds)
	if err != nil {
		return nil, err
	}
	p := trw.DefaultParams
	p.Theta0, p.Theta1 = th.Get("trw_theta0"), th.Get("trw_theta1")
	if p.Theta1 >= p.Theta0 {
		return nil, constError("detector portsweep: trw_theta1 must be below trw_theta0")
	}
	return &Detector{
		env: env, th: th,
		tr: scanner.New(scanner.Config{Walk: p, MaxInitiators: env.Cap(int(th.Get("max_hosts")), 1, 4096),
			MaxTargets: 64, MaxPorts: 64, TTL: event.Time(th.Get("host_ttl"))}),
		minHosts: int(th.Get("min_hosts")),
		minRatio: th.Get("min_failure_ratio"),
		hold:     event.Time(th.Get("hold")),
		dirty:    map[key]*report{},
	}, nil
}

type constError string

func (e constError) Error() string { return string(e) }

// Definition describes the detector.
func (d *Detector) Definition() detect.Definition {
	return detect.Definition{
		ID:           ID,
		Summary:      "a host of the estate probing one port across many hosts, on the internet or in the VPC",
		FindingTypes: []string{finding.TypePortSweep},
		Subscribes:   []event.Kind{event.KindContact},
		Thresholds:   d.th,
	}
}

// State reports the detector's table.
func (d *Detector) State() []detect.StateStats { return []detect.StateStats{d.tr.Stats("hosts")} }

// Observe records one contact.
func (d *Detector) Observe(rec event.Record, _ detect.Emit) {
	c, ok := rec.(*event.Contact)
	if !ok || c.Outcome == event.OutcomeUnknown {
		return
	}
	local := !c.Inbound
	if !local && !event.Internal(c.Initiator) {
		return
	}
	if d.env.Intel != nil && d.env.Intel.Trusted(c.Initiator) {
		return
	}
	obs := d.tr.Observe(c, local)
	if !obs.First {
		// The scanner's own interface may see a contact after the
		// target's did: it names the resource.
		if len(d.dirty) == 0 || !local {
			return
		}
		if r := d.dirty[key{c.Initiator, c.RPort}]; r != nil {
			r.Ctx, r.HasCtx = *c, true
		}
		return
	}
	in := obs.Init
	if !local && !in.HasCtx {
		in.Ctx = *c
	}
	p := obs.Port
	if (in.Verdict != trw.Scanner && p.Verdict != trw.Scanner) || p.Hosts() < d.minHosts || scanner.FailureRatio(p.Failures, p.Successes) < d.minRatio ||
		!d.tr.Test().Significant(p.Failures, p.Successes) {
		return
	}
	k := key{c.Initiator, c.RPort}
	r := d.dirty[k]
	if r == nil {
		r = &report{First: c.Start, Due: c.End + d.hold}
		d.dirty[k] = r
		if rk := "sweep " + strconv.Itoa(int(c.RPort)); in.Reported[rk] == 0 {
			// The first report counts every probe so far.
			in.Reported[rk] = c.Start
			r.Probes = int64(p.Failures+p.Successes) - 1
			r.First = p.First
			if p.FirstFail != 0 {
				r.First = p.FirstFail
			}
		}
	}
	r.Probes++
	r.First = min(r.First, c.Start)
	r.Last = max(r.Last, c.End)
	r.C = *c
	// The resource is the scanner's interface as the sweep itself showed
	// it, taken when the report is updated, not when it is made: a report
	// waits (hold) while the host goes on, and a NAT gateway's interface
	// also records the host's traffic.
	switch {
	case !c.Inbound:
		r.Ctx, r.HasCtx = *c, true
	case in.HasCtx:
		r.Ctx, r.HasCtx = in.Ctx, true // the host's latest contact from its own interface
	case !r.HasCtx:
		r.Ctx = *c // only the target's interface saw it
	}
	r.P = *p
}

// Advance reports the sweeps that grew since the last report.
func (d *Detector) Advance(w event.Time, emit detect.Emit) {
	keys := make([]key, 0, len(d.dirty))
	for k := range d.dirty {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		if c := a.Scanner.Compare(b.Scanner); c != 0 {
			return c
		}
		return int(a.Port) - int(b.Port)
	})
	for _, k := range keys {
		r := d.dirty[k]
		if w != event.Forever && r.Due > w {
			continue // still waiting to see whether the host is a monitor
		}
		delete(d.dirty, k)
		if in := d.tr.Peek(k.Scanner); in != nil && !in.Polling() {
			if f := d.finding(k, r, in); f != nil {
				emit(f)
			}
		}
	}
	if w != event.Forever {
		d.tr.Expire(w)
	}
}

func (d *Detector) finding(k key, r *report, in *scanner.Initiator) *finding.Finding {
	p := &r.P
	if p.Hosts() == 0 {
		return nil
	}
	c := &r.C
	ctx := &r.Ctx
	role, actor := finding.RoleActor, ""
	if !r.HasCtx {
		role, actor = finding.RoleTarget, k.Scanner.String()
	}
	account, region := ctx.Account.String(), ctx.Region.String()
	// One finding per scanning instance and port: GuardDuty keeps only
	// the latest remote address, so the explanation carries the counts.
	fk := finding.Key{Account: account, Region: region, Resource: finding.ResourceID(ctx), Role: role,
		Actor: actor + "/" + strconv.Itoa(int(k.Port))}
	f := finding.New(finding.TypePortSweep, fk, d.env.DetectorID(account, region), r.First.UTC(), r.Last.UTC(), r.Probes)
	f.Resource.InstanceDetails = finding.InstanceFor(ctx)
	f.Resource.EcsClusterDetails = finding.ECSFor(ctx)
	nc := contact.Connection(c, role == finding.RoleActor, ctx.Interface)
	nc.Blocked = p.Successes == 0 && c.Outcome == event.OutcomeRejected
	f.Service.Action.NetworkConnectionAction = nc
	ratio := scanner.FailureRatio(p.Failures, p.Successes)
	scope := "in the VPC"
	if !event.Internal(c.Responder) {
		scope = "on the internet"
	}
	// Flow logs record ICMP with ports 0/0: a ping sweep is a sweep of
	// "port 0", which the text names for what it is.
	port := strconv.Itoa(int(k.Port))
	if c.Protocol == event.ProtoICMP || c.Protocol == event.ProtoICMPv6 {
		port = "0 (ICMP, which flow logs record without a port)"
	}
	exp := &finding.Explanation{
		Detector: ID,
		Summary: k.Scanner.String() + " contacted " + strconv.Itoa(p.Hosts()) + " distinct hosts " + scope + " on port " + port +
			", " + strconv.Itoa(int(p.Failures)) + " of them failing",
		Thresholds: []finding.Threshold{
			{Name: "trw_failures_to_decide", Limit: float64(d.tr.Test().FailuresToDecide()), Observed: float64(in.Failures), Unit: "failed first contacts", Crossed: true},
			{Name: "min_hosts", Limit: float64(d.minHosts), Observed: float64(p.Hosts()), Unit: "hosts", Crossed: true},
			{Name: "min_failure_ratio", Limit: d.minRatio, Observed: float64(int(ratio*100+0.5)) / 100, Unit: "ratio", Crossed: true},
		},
		Counts: map[string]int64{
			"distinct_hosts":            int64(p.Hosts()),
			"failed_first_contacts":     int64(p.Failures),
			"successful_first_contacts": int64(p.Successes),
		},
		Ports:       []int{int(k.Port)},
		Hosts:       []string{p.LastHost.String()},
		Samples:     slices.Clone(p.Samples),
		NetworkPath: contact.NetworkPath(c),
	}
	f.Service.AdditionalInfo = &finding.AdditionalInfo{Explanation: exp}
	if ev, m := detect.ThreatEvidence(d.env.Intel, k.Scanner, c.Responder); ev != nil {
		// A threat list names the scanner or the latest host it reached.
		f.Service.Evidence, exp.ThreatListName = ev, m.ListName
		if len(m.ThreatNames) > 0 {
			exp.ThreatName = m.ThreatNames[0]
		}
	}
	typ, _ := finding.Lookup(finding.TypePortSweep)
	vars := map[string]string{
		"resource": finding.ResourceLabel(ctx),
		"port":     port,
		"remote":   p.LastHost.String(),
		"detail":   strconv.Itoa(p.Hosts()) + " hosts " + scope + ", " + strconv.Itoa(int(p.Failures)) + " failed",
	}
	if role == finding.RoleTarget {
		vars["resource"] = k.Scanner.String() + " (a host in the VPC whose own flow logs were not read)"
	}
	f.Title = finding.Text(typ.Title, vars)
	f.Description = finding.Text(typ.Description, vars)
	return f
}

var _ detect.Snapshotter = (*Detector)(nil)

// MarshalState saves the tracked hosts and the reports not yet made.
func (d *Detector) MarshalState() ([]byte, error) { return scanner.SaveState(d.tr, d.dirty) }

// UnmarshalState restores them.
func (d *Detector) UnmarshalState(b []byte) error { return scanner.LoadState(d.tr, d.dirty, b) }
