package scanner

import (
	"strconv"

	"picket/internal/detect"
	"picket/internal/event"
	"picket/internal/finding"
)

// SweepID is the ID of the port sweep detector: a host of the estate
// probing one port across many hosts, on the internet (the sign of an
// instance turned into a worm or a scanner for hire) or in the VPC (a
// compromised host looking for the next one to enter).
const SweepID = "portsweep"

// SweepThresholds are the port sweep detector's tunables. They follow
// ScanThresholds line for line, and min_failure_ratio and hold have the
// same bounds there, but each detector keeps its own entries: their docs
// give the reasons of its own finding type, and the two are tuned apart.
var SweepThresholds = detect.Tunables{
	{Name: "min_hosts", Unit: "hosts", Default: 20, Min: 2, Max: 1e6,
		Doc: "distinct hosts a scanner must have contacted on one port; twenty is less than a /27 and more than the servers a client of one service talks to in a day"},
	{Name: "min_failure_ratio", Unit: "ratio", Default: 0.4, Min: 0, Max: 1,
		Doc: "share of the first contacts on the port that must have failed: twice the one in five that the walk expects of a benign host (trw_theta0), low enough for a sweep of a range where half the hosts serve the port; besides this floor, the failures must be more than a benign host would have by chance (a binomial test at trw_theta0 and the walk's false-positive probability), which keeps a monitor with a few targets down quiet"},
	theta0,
	theta1,
	{Name: "hold", Unit: "seconds", Default: 120, Min: 0, Max: 3600,
		Doc: "how long, in event time, a report waits for the host to show it is a monitor (it asks again about ports it already found closed, as a scraper does every interval): two rounds of a once-a-minute check; the finding keeps the sweep's own times"},
	hostTTL,
	maxHosts,
}

func newSweeps(th detect.Tunables) *book {
	return newBook(detect.Definition{
		ID:           SweepID,
		Summary:      "a host of the estate probing one port across many hosts, on the internet or in the VPC",
		FindingTypes: []string{finding.TypePortSweep},
		Subscribes:   []event.Kind{event.KindContact},
		Thresholds:   th,
	}, true, "min_hosts", "hosts")
}

// sweepFinding is the Impact:EC2/PortSweep finding of a report: one per
// scanning instance and port. GuardDuty keeps only the latest remote
// address, so the explanation carries the counts.
func (d *Detector) sweepFinding(b *book, k key, r *report, in *Initiator) *finding.Finding {
	f := d.start(finding.TypePortSweep, k, r, "/"+strconv.Itoa(int(k.Port)))
	c, n := &r.C, &r.N
	// Flow logs record ICMP with ports 0/0: a ping sweep is a sweep of
	// "port 0", which the text names for what it is.
	port := strconv.Itoa(int(k.Port))
	if c.Protocol == event.ProtoICMP || c.Protocol == event.ProtoICMPv6 {
		port = "0 (ICMP, which flow logs record without a port)"
	}
	exp := d.explain(b, r, in, k.Scanner.String()+" contacted "+strconv.Itoa(n.Distinct())+" distinct hosts "+scope(c.Responder)+" on port "+port+
		", "+strconv.Itoa(int(n.Failures))+" of them failing")
	exp.Ports = []int{int(k.Port)}
	exp.Hosts = []string{c.Responder.String()} // the latest host reached
	f.Service.AdditionalInfo = &finding.AdditionalInfo{Explanation: exp}
	d.evidence(f, exp, k.Scanner, c.Responder)
	typ, _ := finding.Lookup(finding.TypePortSweep)
	vars := map[string]string{
		"resource": resource(f, k, &r.Ctx),
		"port":     port,
		"remote":   c.Responder.String(),
		"detail":   strconv.Itoa(n.Distinct()) + " hosts " + scope(c.Responder) + ", " + strconv.Itoa(int(n.Failures)) + " failed",
	}
	f.Title = finding.Text(typ.Title, vars)
	f.Description = finding.Text(typ.Description, vars)
	return f
}
