package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIntelCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.txt")
	os.WriteFile(good, []byte("192.0.2.1\n198.51.100.0/24\nbad entry\nexample.com\n"), 0o644)
	bad := filepath.Join(dir, "prose.txt")
	os.WriteFile(bad, []byte("Dear user,\nthis is not a list.\n"), 0o644)
	otx := filepath.Join("..", "..", "internal", "intel", "testdata", "otx.csv")

	code, out, errOut := runCLI(t, "", "intel", "check", good, "mine=OTX_CSV:"+otx)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		`good.txt (threat list "good")`, "format:  TXT (detected)", "entries: 3 (1 addresses, 1 networks, 0 ranges, 1 domains", "errors:  1",
		`line 3: not an IP address, network, range, domain or URL: "bad"`,
		`(threat list "mine")`, "format:  OTX_CSV (given)", "skipped: 2",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	code, out, _ = runCLI(t, "", "intel", "check", "--kind", "trusted", good, bad, filepath.Join(dir, "missing.txt"))
	if code != 1 {
		t.Errorf("exit %d, want 1 for unusable lists", code)
	}
	for _, want := range []string{`(trusted list "good")`, `UNUSABLE: not a list in any known format: the first data line is no entry of any known format: "Dear user,"`, "UNUSABLE: cannot fetch"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	code, out, _ = runCLI(t, "", "intel", "check", "-o", "json", good)
	var doc struct {
		Lists []struct {
			Name    string
			Format  string
			Entries int
			Errors  int
			Samples []struct{ Line int }
		} `json:"lists"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || len(doc.Lists) != 1 || doc.Lists[0].Format != "TXT" || doc.Lists[0].Entries != 3 || doc.Lists[0].Samples[0].Line != 3 {
		t.Errorf("json: exit %d\n%s", code, out)
	}

	if code, _, _ := runCLI(t, "", "intel"); code != 2 {
		t.Errorf("intel without a subcommand: exit %d", code)
	}
	if code, _, _ := runCLI(t, "", "intel", "check", "nope:"+good); code != 2 {
		t.Errorf("unknown format: exit %d", code)
	}
}

func TestAnalyzeWithListFlags(t *testing.T) {
	dir := t.TempDir()
	flows := filepath.Join(dir, "flows.log")
	os.WriteFile(flows, []byte("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status flow-direction\n"+
		"2 111122223333 eni-0abc 10.0.0.5 198.51.100.7 40000 443 6 10 2000 1767225600 1767225660 ACCEPT OK egress\n"+
		"2 111122223333 eni-0abc 198.51.100.7 10.0.0.5 443 40000 6 12 9000 1767225600 1767225660 ACCEPT OK ingress\n"), 0o644)
	list := filepath.Join(dir, "c2.txt")
	os.WriteFile(list, []byte("198.51.100.0/24\n10.0.0.0/8\n"), 0o644)
	trusted := filepath.Join(dir, "ok.txt")
	os.WriteFile(trusted, []byte("203.0.113.1\n"), 0o644)
	code, out, errOut := runCLI(t, "", "analyze", "-o", "json", "--threat-list", "command-and-control="+list, "--trusted-list", trusted, flows)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if !strings.Contains(out, `"threatListName": "command-and-control"`) || !strings.Contains(out, "MaliciousIPCaller.Custom") {
		t.Errorf("finding does not name the list:\n%s", out)
	}
	if !strings.Contains(errOut, `threat list "command-and-control": 1 entries (TXT), 1 entries in private or reserved networks refused (first: line 2: in private network 10.0.0.0/8`) ||
		!strings.Contains(errOut, `trusted list "ok": 1 entries`) {
		t.Errorf("summary does not report the lists:\n%s", errOut)
	}
	code, _, errOut = runCLI(t, "", "analyze", "--threat-list", filepath.Join(dir, "missing.txt"), flows)
	if code != 1 || !strings.Contains(errOut, `threat list "missing"`) {
		t.Errorf("missing list: exit %d\n%s", code, errOut)
	}
}

// Issue 12: intel check reports the entries a threat list refuses (bogon
// networks) and what a Tor list names.
func TestIntelCheckRefusedAndTor(t *testing.T) {
	dir := t.TempDir()
	scanners := filepath.Join(dir, "scanners.txt")
	os.WriteFile(scanners, []byte("203.0.113.9\n10.0.0.0/8\n192.168.1.7\n"), 0o644)
	torlist := filepath.Join(dir, "torlist.txt")
	os.WriteFile(torlist, []byte("198.51.100.5\n198.51.100.6\n"), 0o644)
	exits := filepath.Join("..", "..", "internal", "intel", "testdata", "tor-exit.txt")

	code, out, errOut := runCLI(t, "", "intel", "check", scanners, "internal=auto,allow_private:"+scanners)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"entries: 1 (1 addresses", "REFUSED: 2 entries in private or reserved networks", `line 2: in private network 10.0.0.0/8: "10.0.0.0/8"`,
		`(threat list "internal")`, "entries: 3 (2 addresses, 1 networks", "private: allowed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	code, out, errOut = runCLI(t, "", "intel", "check", "--kind", "tor", torlist, "all=TXT,relays:"+torlist, exits)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		`(tor list "torlist")` + "\n  format:  TXT (detected)\n  entries: 2 (2 addresses, 0 networks, 0 ranges, 0 domains; 0 IPv6)\n  tor:     unknown (Tor relay or exit node)",
		`(tor list "all")` + "\n  format:  TXT (given)\n  entries: 2 (2 addresses, 0 networks, 0 ranges, 0 domains; 0 IPv6)\n  tor:     relays (Tor relay)",
		"format:  TOR_EXIT (detected)\n  entries: 3 (3 addresses, 0 networks, 0 ranges, 0 domains; 1 IPv6)\n  tor:     exits (Tor exit node)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	code, out, _ = runCLI(t, "", "intel", "check", "-o", "json", "--kind", "tor", exits)
	var doc struct {
		Lists []struct{ Tor string } `json:"lists"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || len(doc.Lists) != 1 || doc.Lists[0].Tor != "exits" {
		t.Errorf("json: exit %d\n%s", code, out)
	}
	if code, _, _ := runCLI(t, "", "intel", "check", "TXT,exits:"+scanners); code != 2 {
		t.Errorf("a Tor option on a threat list: exit %d, want 2", code)
	}
}
