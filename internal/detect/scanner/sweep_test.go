package scanner

import (
	"fmt"
	"testing"

	"picket/internal/detect/detecttest"
	"picket/internal/event"
	"picket/internal/finding"
)

func sweep(t *testing.T, from string, port, hosts int, outcome func(i int) string) []*event.Contact {
	var cs []*event.Contact
	for i := 0; i < hosts; i++ {
		cs = append(cs, detecttest.Contact(t, fmt.Sprintf("%s:%d > 10.0.%d.%d:%d tcp %s t=%d eni=eni-w i-0worker", from, 40000+i, 16+i/250, 4+i%250, port, outcome(i), 1000+i)))
	}
	return cs
}

func TestSweepOfTheVPC(t *testing.T) {
	d, _ := newSweep(detecttest.Env(nil))
	fs := detecttest.Run(t, d, sweep(t, "10.0.1.5", 22, 100, func(i int) string {
		if i%20 == 0 {
			return "established"
		}
		return "unanswered"
	})...)
	if len(fs) != 1 {
		t.Fatalf("%d findings", len(fs))
	}
	f := fs[0]
	if f.Type != finding.TypePortSweep || f.Severity != finding.SeverityHigh || f.Service.ResourceRole != "ACTOR" {
		t.Errorf("%s %v %s", f.Type, f.Severity, f.Service.ResourceRole)
	}
	if nc := f.Service.Action.NetworkConnectionAction; nc.RemotePortDetails.Port != 22 || nc.RemoteIPDetails.IPAddressV4 != "10.0.16.103" {
		t.Errorf("remote %s:%d, want the latest host 10.0.16.103:22", nc.RemoteIPDetails.IPAddressV4, nc.RemotePortDetails.Port)
	}
	if f.Service.Count != 100 {
		t.Errorf("count %d", f.Service.Count)
	}
}

// A client of many servers on one port, and a health checker with a few
// targets down, succeed too often to be sweeping.
func TestSweepQuiet(t *testing.T) {
	d, _ := newSweep(detecttest.Env(nil))
	if fs := detecttest.Run(t, d, sweep(t, "10.0.1.5", 443, 300, func(i int) string { return "data" })...); len(fs) != 0 {
		t.Errorf("NAT-like client: %d findings", len(fs))
	}
	d, _ = newSweep(detecttest.Env(nil))
	if fs := detecttest.Run(t, d, sweep(t, "10.0.0.10", 80, 40, func(i int) string {
		if i%4 == 0 {
			return "refused"
		}
		return "established"
	})...); len(fs) != 0 {
		t.Errorf("health checker with a quarter of targets down: %d findings", len(fs))
	}
}

// A scanner that sweeps a port and then scans many ports before the
// report is made (nmap's ping sweep followed by its port scan) gives the
// port's slot to other ports; the report still carries the sweep's counts.
func TestSweepThenManyPorts(t *testing.T) {
	d, _ := newSweep(detecttest.Env(nil))
	cs := sweep(t, "10.0.1.5", 443, 40, func(int) string { return "unanswered" })
	for port := 1; port <= 200; port++ {
		cs = append(cs, detecttest.Contact(t, fmt.Sprintf("10.0.1.5:50000 > 10.0.16.4:%d tcp refused t=%d eni=eni-w i-0worker", port, 2000+port)))
	}
	var sweeps []*finding.Finding
	for _, f := range detecttest.Run(t, d, cs...) {
		if f.Service.Action.NetworkConnectionAction.RemotePortDetails.Port == 443 {
			sweeps = append(sweeps, f)
		}
	}
	if len(sweeps) != 1 {
		t.Fatalf("%d sweep findings of port 443, want 1", len(sweeps))
	}
	exp := sweeps[0].Service.AdditionalInfo.Explanation
	if got := exp.Counts["distinct_hosts"]; got < 38 || got > 42 {
		t.Errorf("distinct_hosts %d, want about 40: %s", got, exp.Summary)
	}
	if got := exp.Counts["failed_first_contacts"]; got != 40 {
		t.Errorf("failed_first_contacts %d, want 40", got)
	}
}
