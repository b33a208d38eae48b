package scanner

import (
	"fmt"
	"testing"

	"picket/internal/detect/detecttest"
	"picket/internal/event"
	"picket/internal/finding"
)

func scan(t *testing.T, from, to string, ports []int, outcome func(p int) string, gap int, extra string) []*event.Contact {
	var cs []*event.Contact
	for i, p := range ports {
		cs = append(cs, detecttest.Contact(t, fmt.Sprintf("%s:45000 > %s:%d tcp %s t=%d %s", from, to, p, outcome(p), 1000+i*gap, extra)))
	}
	return cs
}

func ports(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = 20 + i*3
	}
	return out
}

func TestVerticalScanFromOurInstance(t *testing.T) {
	d, _ := newScan(detecttest.Env(nil))
	open := map[int]bool{20: true, 26: true}
	cs := scan(t, "10.0.1.5", "10.0.2.9", ports(30), func(p int) string {
		if open[p] {
			return "established"
		}
		return "refused"
	}, 1, "eni=eni-scanner i-0scanner")
	fs := detecttest.Run(t, d, cs...)
	if len(fs) != 1 {
		t.Fatalf("%d findings, want 1", len(fs))
	}
	f := fs[0]
	nc := f.Service.Action.NetworkConnectionAction
	if f.Type != finding.TypePortscan || f.Service.ResourceRole != "ACTOR" || f.Resource.InstanceDetails.InstanceID != "i-0scanner" ||
		nc.ConnectionDirection != "OUTBOUND" || nc.RemoteIPDetails.IPAddressV4 != "10.0.2.9" {
		t.Errorf("finding %s %s on %s, %s to %s", f.Type, f.Service.ResourceRole, f.Resource.InstanceDetails.InstanceID, nc.ConnectionDirection, nc.RemoteIPDetails.IPAddressV4)
	}
	if f.Service.Count != 30 {
		t.Errorf("count %d, want 30 (every probe of the target)", f.Service.Count)
	}
	if got := f.Service.AdditionalInfo.Explanation.Counts["distinct_ports"]; got != 30 {
		t.Errorf("distinct ports %d", got)
	}
}

// A slow scan is caught: the walk counts outcomes, not a rate.
func TestSlowScan(t *testing.T) {
	d, _ := newScan(detecttest.Env(nil))
	cs := scan(t, "10.0.1.5", "203.0.113.40", ports(15), func(int) string { return "unanswered" }, 300, "")
	if fs := detecttest.Run(t, d, cs...); len(fs) != 1 {
		t.Errorf("a scan at one probe every 5 minutes: %d findings, want 1", len(fs))
	}
}

// Seen only from the target's flow logs, the scan is reported on the
// target, naming the internal scanner.
func TestScanSeenFromTarget(t *testing.T) {
	d, _ := newScan(detecttest.Env(nil))
	cs := scan(t, "10.0.3.3", "10.0.2.9", ports(20), func(int) string { return "rejected" }, 1, "in eni=eni-target i-0target")
	fs := detecttest.Run(t, d, cs...)
	if len(fs) != 1 {
		t.Fatalf("%d findings", len(fs))
	}
	f := fs[0]
	if f.Service.ResourceRole != "TARGET" || f.Resource.InstanceDetails.InstanceID != "i-0target" ||
		f.Service.Action.NetworkConnectionAction.RemoteIPDetails.IPAddressV4 != "10.0.3.3" {
		t.Errorf("role %s on %s", f.Service.ResourceRole, f.Resource.InstanceDetails.InstanceID)
	}
}

func TestScanQuiet(t *testing.T) {
	tests := map[string][]*event.Contact{
		// A client using several services of one server.
		"client of one server": scan(t, "10.0.1.5", "10.0.2.9", []int{22, 80, 443, 5432, 6379, 8080, 9090, 9100, 9200, 3000, 8443, 5000}, func(int) string { return "data" }, 5, ""),
		// Few ports, all failing: not enough ports for a vertical scan.
		"a few failures": scan(t, "10.0.1.5", "10.0.2.9", []int{8080, 8081, 8082, 8083, 8084}, func(int) string { return "refused" }, 5, ""),
		// Internet hosts scanning us are portprobe's concern.
		"internet scanner": scan(t, "198.51.100.7", "10.0.2.9", ports(30), func(int) string { return "rejected" }, 1, "in"),
	}
	for name, cs := range tests {
		t.Run(name, func(t *testing.T) {
			d, _ := newScan(detecttest.Env(nil))
			if fs := detecttest.Run(t, d, cs...); len(fs) != 0 {
				t.Errorf("%d findings: %s", len(fs), fs[0].Description)
			}
		})
	}
}

// A scanner that goes on to contact more hosts than it keeps before the
// report is made gives the scanned target's slot away; the scan is still
// reported, with its own counts.
func TestScanThenManyHosts(t *testing.T) {
	d, _ := newScan(detecttest.Env(nil))
	cs := scan(t, "10.0.1.5", "10.0.2.9", ports(30), func(int) string { return "refused" }, 1, "")
	for i := 0; i < 200; i++ {
		cs = append(cs, detecttest.Contact(t, fmt.Sprintf("10.0.1.5:45001 > 10.0.%d.%d:8080 tcp unanswered t=%d", 4+i/250, 10+i%200, 2000+i)))
	}
	fs := detecttest.Run(t, d, cs...)
	if len(fs) != 1 {
		t.Fatalf("%d findings, want the scan of 10.0.2.9", len(fs))
	}
	f := fs[0]
	if ip := f.Service.Action.NetworkConnectionAction.RemoteIPDetails.IPAddressV4; ip != "10.0.2.9" {
		t.Errorf("remote %s, want 10.0.2.9", ip)
	}
	if got := f.Service.AdditionalInfo.Explanation.Counts["distinct_ports"]; got != 30 {
		t.Errorf("distinct ports %d, want 30", got)
	}
}
