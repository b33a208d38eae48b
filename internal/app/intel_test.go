package app

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"picket/internal/finding"
	"picket/internal/intel"
)

// The end-to-end test of threat intelligence: flow logs of one instance,
// two threat lists, a trusted list and a Tor relay list, through the whole
// pipeline. It must produce exactly the expected .Custom findings, each
// naming its list, the port probe of the listed scanner must carry the
// list, the Tor relay a TorClient finding, and nothing may name a trusted
// or an unlisted address.
func TestAnalyzeWithLists(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const t0 = 1767225600
	at := func(s int) string { return strconv.Itoa(t0 + s) }
	row := func(src, dst string, sport, dport int, pkts, bytes, start int, action string, flags int, dir string) string {
		return strings.Join([]string{"5", "111122223333", "eni-0e2e", "i-0e2e", src, dst, strconv.Itoa(sport), strconv.Itoa(dport), "6",
			strconv.Itoa(pkts), strconv.Itoa(bytes), at(start), at(start + 50), action, "OK", strconv.Itoa(flags), dir}, " ")
	}
	me := "10.0.0.5"
	flows := []string{
		"version account-id interface-id instance-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status tcp-flags flow-direction",
		// 1. The instance talks to a C2 server on the botnets list.
		row(me, "198.51.100.7", 40000, 443, 10, 2000, 0, "ACCEPT", 27, "egress"),
		row("198.51.100.7", me, 443, 40000, 12, 9000, 0, "ACCEPT", 27, "ingress"),
		// 2. A listed scanner is blocked twice, then reaches SSH.
		row("203.0.113.77", me, 5001, 23, 1, 44, 120, "REJECT", 2, "ingress"),
		row("203.0.113.77", me, 5002, 3389, 1, 44, 121, "REJECT", 2, "ingress"),
		row("203.0.113.77", me, 5003, 22, 2, 104, 122, "ACCEPT", 2, "ingress"),
		row(me, "203.0.113.77", 22, 5003, 1, 60, 122, "ACCEPT", 18, "egress"),
		// 3. A partner inside the botnets /24, on the trusted list.
		row("198.51.100.50", me, 6000, 22, 40, 5000, 180, "ACCEPT", 27, "ingress"),
		row(me, "198.51.100.50", 22, 6000, 40, 9000, 180, "ACCEPT", 27, "egress"),
		// 4. An address on the OTX list and on the trusted list.
		row(me, "192.0.2.10", 40001, 443, 10, 2000, 240, "ACCEPT", 27, "egress"),
		row("192.0.2.10", me, 443, 40001, 12, 9000, 240, "ACCEPT", 27, "ingress"),
		// 5. An address on no list.
		row(me, "93.184.216.34", 40002, 443, 10, 2000, 300, "ACCEPT", 27, "egress"),
		row("93.184.216.34", me, 443, 40002, 12, 9000, 300, "ACCEPT", 27, "ingress"),
		// 6. A Tor relay, on its ORPort.
		row(me, "192.0.2.141", 40003, 444, 20, 3000, 360, "ACCEPT", 27, "egress"),
		row("192.0.2.141", me, 444, 40003, 20, 9000, 360, "ACCEPT", 27, "ingress"),
	}
	logs := write("flows.log", strings.Join(flows, "\n")+"\n")
	specs := []intel.Spec{
		{Name: "botnets", Location: write("botnets.txt", "# C2 and scanners\n198.51.100.0/24\n203.0.113.77\n"), Kind: intel.KindThreat},
		{Name: "otx", Location: write("otx.csv", "Indicator type, Indicator, Description\nIPv4, 192.0.2.10, phishing host\n"), Kind: intel.KindThreat},
		{Name: "partners", Location: write("partners.txt", "198.51.100.50\n192.0.2.10/32\n"), Kind: intel.KindTrusted},
		// A relay CSV is a Tor list whatever flag it came with.
		{Name: "tor-relays", Location: write("relays.csv", "fingerprint, ipaddr, port\n0008D9640FE4947F73E355F67E20C2D290BBC72C, 192.0.2.141, 444\n"), Kind: intel.KindThreat},
	}
	fs, sum, err := Analyze(context.Background(), AnalyzeOptions{Paths: []string{logs}, Lists: specs})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Intel) != 4 || sum.Intel[3].Kind != intel.KindTor {
		t.Errorf("summary lists %+v", sum.Intel)
	}
	type seen struct{ typ, dir, remote, list string }
	var custom []seen
	var probe, torc *finding.Finding
	for _, f := range fs {
		b, _ := json.Marshal(f)
		for _, quiet := range []string{"198.51.100.50", "192.0.2.10\"", "93.184.216.34"} {
			if strings.Contains(string(b), quiet) {
				t.Errorf("%s names %s, which is trusted or unlisted:\n%s", f.Type, quiet, b)
			}
		}
		switch f.Type {
		case finding.TypeEC2MaliciousIPCustom:
			nc := f.Service.Action.NetworkConnectionAction
			list := ""
			if f.Service.Evidence != nil && len(f.Service.Evidence.ThreatIntelligenceDetails) == 1 {
				list = f.Service.Evidence.ThreatIntelligenceDetails[0].ThreatListName
			}
			if e := f.Service.AdditionalInfo.Explanation; e == nil || e.ThreatListName != list {
				t.Errorf("%s: explanation does not name list %q", f.Title, list)
			}
			custom = append(custom, seen{f.Type, nc.ConnectionDirection, nc.RemoteIPDetails.IPAddressV4, list})
			if nc.RemoteIPDetails.IPAddressV4 == "203.0.113.77" && (f.Severity != finding.SeverityMedium || f.Service.Count != 3) {
				t.Errorf("scanner that got through: severity %v, count %d; want Medium, 3", f.Severity, f.Service.Count)
			}
		case finding.TypePortProbeUnprotectedPort:
			probe = f
		case finding.TypeTorClient:
			torc = f
		default:
			t.Errorf("unexpected %s: %s", f.Type, f.Title)
		}
	}
	want := []seen{
		{finding.TypeEC2MaliciousIPCustom, "INBOUND", "203.0.113.77", "botnets"},
		{finding.TypeEC2MaliciousIPCustom, "OUTBOUND", "198.51.100.7", "botnets"},
	}
	slices.SortFunc(custom, func(a, b seen) int { return strings.Compare(a.dir, b.dir) })
	if !slices.Equal(custom, want) {
		t.Errorf(".Custom findings\n got %v\nwant %v", custom, want)
	}
	if probe == nil {
		t.Fatal("no port probe finding for the listed scanner")
	}
	if ev := probe.Service.Evidence; ev == nil || ev.ThreatIntelligenceDetails[0].ThreatListName != "botnets" || probe.Severity != finding.SeverityHigh {
		t.Errorf("port probe: evidence %+v, severity %v (want botnets, High: blocked first, then one level up for the list)", ev, probe.Severity)
	}
	if torc == nil || torc.Service.Evidence.ThreatIntelligenceDetails[0].ThreatListName != "tor-relays" {
		t.Errorf("Tor client: %+v", torc)
	}
}

// TestAnalyzeFailsOnUnusableList names the list that cannot be used.
func TestAnalyzeFailsOnUnusableList(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte("not a list\nat all\n"), 0o644)
	_, _, err := Analyze(context.Background(), AnalyzeOptions{Paths: []string{dir}, Lists: []intel.Spec{{Name: "mine", Location: bad}}})
	if err == nil || !strings.Contains(err.Error(), `threat list "mine"`) || !strings.Contains(err.Error(), "bad.txt") {
		t.Errorf("got %v", err)
	}
}
