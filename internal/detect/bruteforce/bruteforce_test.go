package bruteforce

import (
	"fmt"
	"testing"

	"picket/internal/detect/detecttest"
	"picket/internal/event"
	"picket/internal/finding"
)

func attempts(t *testing.T, from, to string, port, n, gap int, extra string) []*event.Contact {
	var cs []*event.Contact
	for i := 0; i < n; i++ {
		cs = append(cs, detecttest.Contact(t, fmt.Sprintf("%s:%d > %s:%d tcp data t=%d d=2 fb=2500 rb=3000 %s", from, 40000+i, to, port, 1000+i*gap, extra)))
	}
	return cs
}

func TestBruteForce(t *testing.T) {
	tests := []struct {
		name, from, to, extra string
		port                  int
		typ, role             string
		sev                   finding.Severity
	}{
		{"ssh against us", "198.51.100.7", "10.0.0.5", "in i-0bastion", 22, finding.TypeSSHBruteForce, "TARGET", finding.SeverityLow},
		{"rdp by us", "10.0.1.5", "10.0.2.9", "i-0worker", 3389, finding.TypeRDPBruteForce, "ACTOR", finding.SeverityHigh},
		{"winrm against us", "10.0.3.3", "10.0.2.9", "in i-0win", 5986, finding.TypeWinRMBruteForce, "TARGET", finding.SeverityLow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _ := New(detecttest.Env(nil))
			fs := detecttest.Run(t, d, attempts(t, tt.from, tt.to, tt.port, 30, 3, tt.extra)...)
			if len(fs) != 1 {
				t.Fatalf("%d findings", len(fs))
			}
			f := fs[0]
			if f.Type != tt.typ || f.Service.ResourceRole != tt.role || f.Severity != tt.sev || f.Service.Count != 30 {
				t.Errorf("%s %s %v count %d", f.Type, f.Service.ResourceRole, f.Severity, f.Service.Count)
			}
		})
	}
}

func TestQuiet(t *testing.T) {
	long := attempts(t, "198.51.100.7", "10.0.0.5", 22, 5, 600, "in")
	for _, c := range long {
		c.End = c.Start + 1800
		c.Fwd.Bytes, c.Rev.Bytes = 500_000, 5_000_000
	}
	tests := map[string][]*event.Contact{
		"an admin's long sessions":     long,
		"below the threshold":          attempts(t, "198.51.100.7", "10.0.0.5", 22, 10, 3, "in"),
		"too slow for the window":      attempts(t, "198.51.100.7", "10.0.0.5", 22, 30, 400, "in"),
		"not a login port":             attempts(t, "198.51.100.7", "10.0.0.5", 8080, 50, 3, "in"),
		"continued parts of a session": continued(t),
		// A checker that connects and closes sends no credentials.
		"connect-and-close health checks": attemptsWithBytes(t, 60, 216),
	}
	for name, cs := range tests {
		t.Run(name, func(t *testing.T) {
			d, _ := New(detecttest.Env(nil))
			if fs := detecttest.Run(t, d, cs...); len(fs) != 0 {
				t.Errorf("%d findings: %s", len(fs), fs[0].Description)
			}
		})
	}
}

// One long connection reported minute by minute: the contact stage marks
// every part after the first.
func continued(t *testing.T) []*event.Contact {
	var cs []*event.Contact
	for i := 0; i < 60; i++ {
		c := detecttest.Contact(t, fmt.Sprintf("198.51.100.7:40000 > 10.0.0.5:22 tcp data t=%d d=50 in", 1000+60*i))
		c.Continued = i > 0
		cs = append(cs, c)
	}
	return cs
}

func TestSpray(t *testing.T) {
	var cs []*event.Contact
	for i := 0; i < 30; i++ {
		cs = append(cs, detecttest.Contact(t, fmt.Sprintf("10.0.1.5:%d > 10.0.2.%d:22 tcp established t=%d d=1 fb=2000 rb=2000 i-0worker", 40000+i, 10+i%6, 1000+i)))
	}
	d, _ := New(detecttest.Env(nil))
	fs := detecttest.Run(t, d, cs...)
	if len(fs) != 1 || fs[0].Service.ResourceRole != "ACTOR" {
		t.Fatalf("password spraying over 6 hosts: %d findings", len(fs))
	}
}

func attemptsWithBytes(t *testing.T, n int, client int) []*event.Contact {
	var cs []*event.Contact
	for i := 0; i < n; i++ {
		c := detecttest.Contact(t, fmt.Sprintf("198.51.100.7:%d > 10.0.0.5:22 tcp established t=%d d=1 fb=%d rb=400 in", 40000+i, 1000+60*i, client))
		c.Fwd.Packets = 4 // SYN, ACK, FIN, ACK: 216 bytes carry no payload
		cs = append(cs, c)
	}
	return cs
}

// A connection between two interfaces of the estate is recorded at both
// ends: the contact stage reports it twice, and it is one attempt.
func TestBothEndsCountOnce(t *testing.T) {
	var cs []*event.Contact
	for i := 0; i < 15; i++ {
		line := fmt.Sprintf("10.0.1.5:%d > 10.0.2.9:5985 tcp data t=%d d=2 fb=2500 rb=3000", 40000+i, 1000+i*3)
		cs = append(cs, detecttest.Contact(t, line+" eni=eni-client"), detecttest.Contact(t, line+" in eni=eni-server"))
	}
	d, _ := New(detecttest.Env(nil))
	if fs := detecttest.Run(t, d, cs...); len(fs) != 0 {
		t.Errorf("15 attempts seen at both ends were counted as 30: %d findings", len(fs))
	}
}

// Above the threshold, both ends of an internal brute force get their
// finding: the attacker's instance as ACTOR, the target as TARGET.
func TestBothEndsReported(t *testing.T) {
	var cs []*event.Contact
	for i := 0; i < 30; i++ {
		line := fmt.Sprintf("10.0.1.5:%d > 10.0.2.9:5985 tcp data t=%d d=2 fb=2500 rb=3000", 40000+i, 1000+i*3)
		cs = append(cs, detecttest.Contact(t, line+" eni=eni-client i-0client"), detecttest.Contact(t, line+" in eni=eni-server i-0server"))
	}
	d, _ := New(detecttest.Env(nil))
	fs := detecttest.Run(t, d, cs...)
	roles := map[string]int64{}
	for _, f := range fs {
		roles[f.Service.ResourceRole+" "+f.Resource.InstanceDetails.InstanceID] = f.Service.Count
	}
	if roles["ACTOR i-0client"] != 30 || roles["TARGET i-0server"] != 30 {
		t.Errorf("findings by role: %v, want ACTOR on the client and TARGET on the server, 30 attempts each", roles)
	}
}
