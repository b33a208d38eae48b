package scanner

import (
	"slices"
	"strconv"

	"picket/internal/detect"
	"picket/internal/detect/trw"
	"picket/internal/event"
	"picket/internal/finding"
)

// ScanID is the ID of the port scan detector: a host inside the estate
// opening contacts with many ports of one other host, whether the target
// is on the internet or is a neighbour in the VPC (a compromised
// container mapping the services around it).
const ScanID = "portscan"

// shared ends the doc of each of the tracker's settings.
const shared = "; a setting of the one host tracker that portscan and portsweep share, so that it holds for both"

// The tracker's settings, which both detectors declare (see
// trackerSettings).
var (
	theta0 = detect.Threshold{Name: "trw_theta0", Unit: "probability", Default: trw.DefaultParams.Theta0, Min: 0.01, Max: 0.99,
		Doc: "probability that a benign host's first contact succeeds (Jung et al. 2004)" + shared}
	theta1 = detect.Threshold{Name: "trw_theta1", Unit: "probability", Default: trw.DefaultParams.Theta1, Min: 0.01, Max: 0.99,
		Doc: "probability that a scanner's first contact succeeds" + shared}
	hostTTL = detect.Threshold{Name: "host_ttl", Unit: "seconds", Default: 86400, Min: 60, Max: 30 * 86400,
		Doc: "how long a host's contacts are remembered after its last one; a day covers nmap -T1 (one probe every 15 s) and the first few hundred probes of -T0 (one every 5 minutes)" + shared}
	maxHosts = detect.Threshold{Name: "max_hosts", Unit: "hosts", Default: 50_000, Min: 10, Max: 1e7,
		Doc: "initiating hosts tracked at once, each at most about 36 KiB (the first contacts it made, the closed ports it found and the connections it asked them again with, each up to 8 KiB, and its targets and ports); the least recently seen are evicted and counted" + shared}
)

// ScanThresholds are the port scan detector's tunables.
var ScanThresholds = detect.Tunables{
	{Name: "min_ports", Unit: "ports", Default: 10, Min: 2, Max: 65535,
		Doc: "distinct ports of one target a scanner must have contacted; ten is fewer than any scan tool's default port list and more than the ports a client uses on one server"},
	{Name: "min_failure_ratio", Unit: "ratio", Default: 0.4, Min: 0, Max: 1,
		Doc: "share of the first contacts with the target that must have failed: twice the one in five that the walk expects of a benign host (trw_theta0), since most ports of most hosts are closed while a client's contacts succeed; besides this floor, the failures must be more than a benign host would have by chance (a binomial test at trw_theta0 and the walk's false-positive probability)"},
	theta0,
	theta1,
	{Name: "hold", Unit: "seconds", Default: 120, Min: 0, Max: 3600,
		Doc: "how long, in event time, a report waits for the host to show it is a monitor (it asks again about ports it already found closed, as a health checker does every interval): two rounds of a once-a-minute check; the finding keeps the scan's own times"},
	hostTTL,
	maxHosts,
}

func newScans(th detect.Tunables) *book {
	return newBook(detect.Definition{
		ID:           ScanID,
		Summary:      "a host of the estate contacting many ports of one other host, on the internet or in the VPC",
		FindingTypes: []string{finding.TypePortscan},
		Subscribes:   []event.Kind{event.KindContact},
		Thresholds:   th,
	}, false, "min_ports", "ports")
}

// scanFinding is the Recon:EC2/Portscan finding of a report.
func (d *Detector) scanFinding(b *book, k key, r *report, in *Initiator) *finding.Finding {
	f := d.start(finding.TypePortscan, k, r, "")
	n := &r.N
	targets := make([]string, 0, len(in.Targets))
	for _, x := range in.Targets {
		if x.Ports() >= b.min {
			targets = append(targets, x.Addr.String())
		}
	}
	if !slices.Contains(targets, k.Target.String()) {
		targets = append(targets, k.Target.String())
	}
	slices.Sort(targets)
	exp := d.explain(b, r, in, k.Scanner.String()+" contacted "+strconv.Itoa(n.Distinct())+" distinct ports of "+k.Target.String()+" ("+scope(k.Target)+"), "+
		strconv.Itoa(int(n.Failures))+" of its first contacts failing")
	exp.Counts["scanner_failed_contacts"] = int64(in.Failures)
	exp.Counts["scanner_successes"] = int64(in.Successes)
	exp.Counts["targets_scanned"] = int64(len(targets))
	exp.Hosts = targets
	f.Service.AdditionalInfo = &finding.AdditionalInfo{Explanation: exp}
	d.evidence(f, exp, k.Scanner, k.Target)
	typ, _ := finding.Lookup(finding.TypePortscan)
	vars := map[string]string{
		"resource": resource(f, k, &r.Ctx),
		"remote":   k.Target.String(),
		"detail":   strconv.Itoa(n.Distinct()) + " distinct ports, " + strconv.Itoa(int(n.Failures)) + " failed",
	}
	title := typ.Title
	if f.Service.ResourceRole == finding.RoleTarget {
		title = "{resource} is performing port scans against " + finding.ResourceLabel(&r.Ctx) + "."
	}
	f.Title = finding.Text(title, vars)
	f.Description = finding.Text(typ.Description, vars)
	return f
}
