// Package portscan owns the Recon:EC2/Portscan detector: a host inside
// the estate opening contacts with many ports of one other host, whether
// the target is on the internet or is a neighbour in the VPC (a
// compromised container mapping the services around it).
//
// It sees contacts from the contact stage. A scanner is a host whose
// first contacts with (host, port) pairs fail often enough that the
// Threshold Random Walk decides it is scanning; a vertical scan is such a
// host reaching min_ports distinct ports of one target, most of them
// failing. The scan is attributed to the scanning instance (resource role
// ACTOR) when its flow logs are among the inputs; when only the target's
// are, to the target (role TARGET), naming the scanner.
package portscan

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
const ID = "portscan"

// Thresholds are the detector's tunables.
var Thresholds = detect.Tunables{
	{Name: "min_ports", Unit: "ports", Default: 10, Min: 2, Max: 65535,
		Doc: "distinct ports of one target a scanner must have contacted; ten is fewer than any scan tool's default port list and more than the ports a client uses on one server"},
	{Name: "min_failure_ratio", Unit: "ratio", Default: 0.4, Min: 0, Max: 1,
		Doc: "share of the first contacts with the target that must have failed: twice the one in five that the walk expects of a benign host (trw_theta0), since most ports of most hosts are closed while a client's contacts succeed; besides this floor, the failures must be more than a benign host would have by chance (a binomial test at trw_theta0 and the walk's false-positive probability)"},
	{Name: "trw_theta0", Unit: "probability", Default: trw.DefaultParams.Theta0, Min: 0.01, Max: 0.99,
		Doc: "probability that a benign host's first contact succeeds (Jung et al. 2004)"},
	{Name: "trw_theta1", Unit: "probability", Default: trw.DefaultParams.Theta1, Min: 0.01, Max: 0.99,
		Doc: "probability that a scanner's first contact succeeds"},
	{Name: "hold", Unit: "seconds", Default: 120, Min: 0, Max: 3600,
		Doc: "how long, in event time, a report waits for the host to show it is a monitor (it asks again about ports it already found closed, as a health checker does every interval): two rounds of a once-a-minute check; the finding keeps the scan's own times"},
	{Name: "host_ttl", Unit: "seconds", Default: 86400, Min: 60, Max: 30 * 86400,
		Doc: "how long a host's contacts are remembered after its last one; a day covers nmap -T1 (one probe every 15 s) and the first few hundred probes of -T0 (one every 5 minutes)"},
	{Name: "max_hosts", Unit: "hosts", Default: 50_000, Min: 10, Max: 1e7,
		Doc: "initiating hosts tracked at once, each at most about 36 KiB (the first contacts it made, the closed ports it found and the connections it asked them again with, each up to 8 KiB, and its targets and ports); the least recently seen are evicted and counted"},
}

// Detector is the port scan detector.
type Detector struct {
	env      detect.Env
	th       detect.Tunables
	tr       *scanner.Tracker
	minPorts int
	minRatio float64
	hold     event.Time
	ttl      event.Time
	dirty    map[key]*report
}

// key is one (scanner, target) pair with news to report.
type key struct {
	Scanner netip.Addr
	Target  netip.Addr
}

type report struct {
	Due    event.Time    // the watermark the report waits for (see hold)
	Ctx    event.Contact // the context of the resource (see Observe)
	HasCtx bool
	Probes int64 // first contacts since the last report
	First  event.Time
	Last   event.Time
	C      event.Contact // the latest contact of the scan
	// T is the target's state at that contact: its slot may be given to
	// another target before the report is made, when the scanner works
	// through more targets than it keeps.
	T scanner.Target
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
		return nil, errTheta
	}
	return &Detector{
		env: env, th: th,
		tr: scanner.New(scanner.Config{Walk: p, MaxInitiators: env.Cap(int(th.Get("max_hosts")), 1, 4096),
			MaxTargets: 64, MaxPorts: 64, TTL: event.Time(th.Get("host_ttl"))}),
		minPorts: int(th.Get("min_ports")),
		minRatio: th.Get("min_failure_ratio"),
		hold:     event.Time(th.Get("hold")),
		ttl:      event.Time(th.Get("host_ttl")),
		dirty:    map[key]*report{},
	}, nil
}

type constError string

func (e constError) Error() string { return string(e) }

const errTheta = constError("detector portscan: trw_theta1 must be below trw_theta0")

// Definition describes the detector.
func (d *Detector) Definition() detect.Definition {
	return detect.Definition{
		ID:           ID,
		Summary:      "a host of the estate contacting many ports of one other host, on the internet or in the VPC",
		FindingTypes: []string{finding.TypePortscan},
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
		if len(d.dirty) == 0 || !local {
			return
		}
		if r := d.dirty[key{c.Initiator, c.Responder}]; r != nil {
			r.Ctx, r.HasCtx = *c, true
		}
		return
	}
	in := obs.Init
	if !local {
		// Seen from the target's side: keep the contact as the context
		// unless the scanner's own interface has given one.
		if !in.HasCtx {
			in.Ctx = *c
		}
	}
	t := obs.Target
	if (in.Verdict != trw.Scanner && t.Verdict != trw.Scanner) || t.Ports() < d.minPorts || scanner.FailureRatio(t.Failures, t.Successes) < d.minRatio ||
		!d.tr.Test().Significant(t.Failures, t.Successes) {
		return
	}
	k := key{c.Initiator, c.Responder}
	r := d.dirty[k]
	if r == nil {
		r = &report{First: c.Start, Due: c.End + d.hold}
		d.dirty[k] = r
		if rk := "scan " + c.Responder.String(); in.Reported[rk] == 0 {
			// The first report counts every probe so far.
			in.Reported[rk] = c.Start
			r.Probes = int64(t.Failures+t.Successes) - 1
			r.First = t.First
			if t.FirstFail != 0 {
				r.First = t.FirstFail
			}
		}
	}
	r.Probes++
	r.First = min(r.First, c.Start)
	r.Last = max(r.Last, c.End)
	r.C = *c
	// The resource is the scanner's interface as the scan itself showed
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
	r.T = *t
}

// Advance reports the scans that grew since the last report.
func (d *Detector) Advance(w event.Time, emit detect.Emit) {
	keys := make([]key, 0, len(d.dirty))
	for k := range d.dirty {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		if c := a.Scanner.Compare(b.Scanner); c != 0 {
			return c
		}
		return a.Target.Compare(b.Target)
	})
	for _, k := range keys {
		r := d.dirty[k]
		if w != event.Forever && r.Due > w {
			continue // still waiting to see whether the host is a monitor
		}
		delete(d.dirty, k)
		in := d.tr.Peek(k.Scanner)
		if in == nil || in.Polling() {
			continue
		}
		if f := d.finding(k, r, in); f != nil {
			emit(f)
		}
	}
	if w != event.Forever {
		d.tr.Expire(w)
	}
}

func (d *Detector) finding(k key, r *report, in *scanner.Initiator) *finding.Finding {
	t := &r.T
	if t.Addr != k.Target {
		return nil
	}
	c := &r.C
	role := finding.RoleActor
	ctx := &r.Ctx
	actor := ""
	if !r.HasCtx {
		// Only the target's flow logs saw the scan.
		role, actor = finding.RoleTarget, k.Scanner.String()
	}
	account, region := ctx.Account.String(), ctx.Region.String()
	fk := finding.Key{Account: account, Region: region, Resource: finding.ResourceID(ctx), Role: role, Actor: actor}
	f := finding.New(finding.TypePortscan, fk, d.env.DetectorID(account, region), r.First.UTC(), r.Last.UTC(), r.Probes)
	f.Resource.InstanceDetails = finding.InstanceFor(ctx)
	f.Resource.EcsClusterDetails = finding.ECSFor(ctx)

	nc := contact.Connection(c, role == finding.RoleActor, ctx.Interface)
	nc.Blocked = t.Successes == 0 && c.Outcome == event.OutcomeRejected
	f.Service.Action.NetworkConnectionAction = nc

	ratio := scanner.FailureRatio(t.Failures, t.Successes)
	targets := make([]string, 0, len(in.Targets))
	for _, x := range in.Targets {
		if x.Ports() >= d.minPorts {
			targets = append(targets, x.Addr.String())
		}
	}
	if !slices.Contains(targets, k.Target.String()) {
		targets = append(targets, k.Target.String())
	}
	slices.Sort(targets)
	scope := "in the VPC"
	if !event.Internal(k.Target) {
		scope = "on the internet"
	}
	exp := &finding.Explanation{
		Detector: ID,
		Summary: k.Scanner.String() + " contacted " + strconv.Itoa(t.Ports()) + " distinct ports of " + k.Target.String() + " (" + scope + "), " +
			strconv.Itoa(int(t.Failures)) + " of its first contacts failing",
		Thresholds: []finding.Threshold{
			{Name: "trw_failures_to_decide", Limit: float64(d.tr.Test().FailuresToDecide()), Observed: float64(in.Failures), Unit: "failed first contacts", Crossed: true},
			{Name: "min_ports", Limit: float64(d.minPorts), Observed: float64(t.Ports()), Unit: "ports", Crossed: true},
			{Name: "min_failure_ratio", Limit: d.minRatio, Observed: round2(ratio), Unit: "ratio", Crossed: true},
		},
		Counts: map[string]int64{
			"distinct_ports":            int64(t.Ports()),
			"failed_first_contacts":     int64(t.Failures),
			"successful_first_contacts": int64(t.Successes),
			"scanner_failed_contacts":   int64(in.Failures),
			"scanner_successes":         int64(in.Successes),
			"targets_scanned":           int64(len(targets)),
		},
		Hosts:       targets,
		Samples:     slices.Clone(t.Samples),
		NetworkPath: contact.NetworkPath(c),
	}
	f.Service.AdditionalInfo = &finding.AdditionalInfo{Explanation: exp}
	if ev, m := detect.ThreatEvidence(d.env.Intel, k.Scanner, k.Target); ev != nil {
		// A threat list names the scanner or its target.
		f.Service.Evidence, exp.ThreatListName = ev, m.ListName
		if len(m.ThreatNames) > 0 {
			exp.ThreatName = m.ThreatNames[0]
		}
		f.Severity = max(f.Severity, finding.SeverityHigh)
	}
	typ, _ := finding.Lookup(finding.TypePortscan)
	vars := map[string]string{
		"resource": finding.ResourceLabel(ctx),
		"remote":   k.Target.String(),
		"detail":   strconv.Itoa(t.Ports()) + " distinct ports, " + strconv.Itoa(int(t.Failures)) + " failed",
	}
	if role == finding.RoleTarget {
		vars["resource"] = k.Scanner.String() + " (a host in the VPC whose own flow logs were not read)"
		f.Title = finding.Text("{resource} is performing port scans against "+finding.ResourceLabel(ctx)+".", vars)
		f.Description = finding.Text(typ.Description, vars)
	} else {
		f.Title = finding.Text(typ.Title, vars)
		f.Description = finding.Text(typ.Description, vars)
	}
	return f
}

func round2(v float64) float64 { return float64(int(v*100+0.5)) / 100 }

var _ detect.Snapshotter = (*Detector)(nil)

// MarshalState saves the tracked hosts and the reports not yet made.
func (d *Detector) MarshalState() ([]byte, error) { return scanner.SaveState(d.tr, d.dirty) }

// UnmarshalState restores them.
func (d *Detector) UnmarshalState(b []byte) error { return scanner.LoadState(d.tr, d.dirty, b) }
