package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"picket/internal/synth"
)

// TestGenerateResolverLogsAnalyzed generates estates with the default
// attacks, the DNS tunnel, the DGA burst and the lookups of a listed
// domain among them, in the S3 layout with the threat list, and analyzes
// the directory with the list: the tunnel's instance is reported for
// DNSDataExfiltration under the tunnel's domain, the listed domain's for
// MaliciousDomainRequest.Custom, the DGA's for DGADomainRequest.B (the
// search) and .C!DNS (the generated domain that resolved), and no DNS
// finding names any other instance.
func TestGenerateResolverLogsAnalyzed(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"seed 1", []string{"--seed", "1"}},
		{"seed 2", []string{"--seed", "2"}},
		{"seed 3, 60 interfaces at thrice the load", []string{"--seed", "3", "--interfaces", "60", "--load", "3"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			logs, labelsPath, listPath := filepath.Join(dir, "logs"), filepath.Join(dir, "labels.json"), filepath.Join(dir, "c2.txt")
			args := append([]string{"generate", "--dns", "--layout", "s3", "--out", logs, "--labels", labelsPath, "--threat-list", listPath}, tt.args...)
			code, _, stderr := runCLI(t, "", args...)
			m := regexp.MustCompile(`(\d+) DNS queries`).FindStringSubmatch(stderr)
			if code != 0 || m == nil || m[1] == "0" {
				t.Fatalf("generate: exit %d, no queries:\n%s", code, stderr)
			}
			dnsDirs, _ := filepath.Glob(filepath.Join(logs, "AWSLogs", "*", "vpcdnsquerylogs", "vpc-*"))
			if len(dnsDirs) != 1 {
				t.Fatalf("query log folders %q, want one VPC's", dnsDirs)
			}
			var labels []synth.Label
			b, err := os.ReadFile(labelsPath)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &labels); err != nil {
				t.Fatal(err)
			}
			var tunnel, dga, listed synth.Label
			for _, l := range labels {
				switch l.Type {
				case "Trojan:EC2/DNSDataExfiltration":
					tunnel = l
				case "Trojan:EC2/DGADomainRequest.C!DNS":
					dga = l
				case "Impact:EC2/MaliciousDomainRequest.Custom":
					listed = l
				}
			}
			if tunnel.Resource == "" || tunnel.Domain == "" || dga.Resource == "" || listed.Domain == "" ||
				dga.Resource == tunnel.Resource || listed.Resource == tunnel.Resource || listed.Resource == dga.Resource {
				t.Fatalf("labels: tunnel %+v, DGA %+v, listed %+v", tunnel, dga, listed)
			}
			if b, err := os.ReadFile(listPath); err != nil || !strings.HasSuffix(string(b), "\n"+listed.Domain+"\n") {
				t.Fatalf("threat list: %v\n%s", err, b)
			}

			code, stdout, stderr := runCLI(t, "", "analyze", "-o", "json", "--threat-list", "c2="+listPath, logs)
			if code != 0 {
				t.Fatalf("analyze: exit %d\n%s", code, stderr)
			}
			if !strings.Contains(stderr, "dns-query "+m[1]) {
				t.Errorf("analyze did not read the %s queries:\n%s", m[1], stderr)
			}
			var out struct {
				Findings []struct {
					Type     string
					Resource struct {
						InstanceDetails struct{ InstanceID string }
					}
					Service struct {
						Count  int
						Action struct {
							ActionType       string
							DNSRequestAction struct{ Domain, DomainWithSuffix string }
						}
					}
				}
			}
			if err := json.Unmarshal([]byte(stdout), &out); err != nil {
				t.Fatal(err)
			}
			found, foundListed, foundSearch, foundResolved := false, false, false, false
			for _, f := range out.Findings {
				if f.Service.Action.ActionType != "DNS_REQUEST" {
					continue
				}
				id := f.Resource.InstanceDetails.InstanceID
				switch {
				case id == tunnel.Resource && f.Type == tunnel.Type:
					found = true
					if d := f.Service.Action.DNSRequestAction; d.DomainWithSuffix != tunnel.Domain || !strings.HasSuffix(d.Domain, "."+tunnel.Domain) {
						t.Errorf("the tunnel's finding names %+v, want %s", d, tunnel.Domain)
					}
				case id == listed.Resource && f.Type == listed.Type:
					foundListed = true
					if d := f.Service.Action.DNSRequestAction; d.DomainWithSuffix != listed.Domain {
						t.Errorf("the listed domain's finding names %+v, want %s", d, listed.Domain)
					}
				case id == dga.Resource && f.Type == "Trojan:EC2/DGADomainRequest.B":
					foundSearch = true
				case id == dga.Resource && f.Type == dga.Type:
					foundResolved = true
					if d := f.Service.Action.DNSRequestAction; d.Domain != dga.Domain {
						t.Errorf("the DGA's finding names %+v, want the domain that resolved, %s", d, dga.Domain)
					}
				default:
					t.Errorf("%s on %s (%d queries, %+v): not an embedded attack", f.Type, id, f.Service.Count, f.Service.Action.DNSRequestAction)
				}
			}
			if !found {
				t.Errorf("no %s on %s among %d findings", tunnel.Type, tunnel.Resource, len(out.Findings))
			}
			if !foundSearch || !foundResolved {
				t.Errorf("DGA on %s: the search reported %v, the domain that resolved %v", dga.Resource, foundSearch, foundResolved)
			}
			if !foundListed {
				t.Errorf("no %s on %s among %d findings", listed.Type, listed.Resource, len(out.Findings))
			}
		})
	}
}

// TestGenerateDNSFlags checks where the query log goes: nowhere without
// --dns or --dns-out, under the S3 layout's directory with --dns, to
// --dns-out otherwise; and that the flow log is the same either way.
func TestGenerateDNSFlags(t *testing.T) {
	dir := t.TempDir()
	base := []string{"generate", "--seed", "4", "--duration", "20m"}
	code, plain, stderr := runCLI(t, "", base...)
	if code != 0 || strings.Contains(stderr, "DNS") || !strings.Contains(stderr, "4 attack(s)") {
		t.Fatalf("without --dns: exit %d\n%s", code, stderr)
	}
	qlog := filepath.Join(dir, "queries.log")
	code, flows, stderr := runCLI(t, "", append(base, "--dns-out", qlog)...)
	if code != 0 || !strings.Contains(stderr, "DNS queries), 6 attack(s)") {
		t.Fatalf("--dns-out: exit %d\n%s", code, stderr)
	}
	if flows != plain {
		t.Error("writing the query log changed the flow log")
	}
	b, err := os.ReadFile(qlog)
	if err != nil || !strings.HasPrefix(string(b), `{"version":"1.100000","account_id":"123456789012"`) {
		t.Fatalf("query log: %v\n%.200s", err, b)
	}
	s3 := filepath.Join(dir, "s3")
	if code, _, stderr := runCLI(t, "", append(base, "--layout", "s3", "--out", s3)...); code != 0 || strings.Contains(stderr, "DNS") {
		t.Fatalf("s3 layout without --dns: exit %d\n%s", code, stderr)
	}
	if m, _ := filepath.Glob(filepath.Join(s3, "AWSLogs", "*", "vpcdnsquerylogs")); len(m) != 0 {
		t.Errorf("without --dns: wrote %q", m)
	}
	for _, tt := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"stdout twice", []string{"--dns-out", "-"}, "--dns-out -"},
		{"--dns without a destination", []string{"--dns"}, "give --dns-out"},
		{"--dns-out with the S3 layout", []string{"--layout", "s3", "--out", s3, "--dns-out", qlog}, "give --dns instead"},
		{"a tunnel without a query log", []string{"--attack", "tunnel from=worker:0"}, "not being generated"},
		{"a threat list without a query log", []string{"--threat-list", filepath.Join(dir, "list.txt")}, "give --dns or --dns-out"},
	} {
		if code, _, stderr := runCLI(t, "", append(base, tt.args...)...); code != 2 || !strings.Contains(stderr, tt.stderr) {
			t.Errorf("%s: exit %d, want 2 and %q\n%s", tt.name, code, tt.stderr, stderr)
		}
	}
}
