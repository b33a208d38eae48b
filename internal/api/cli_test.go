package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"picket/internal/finding"
	"picket/internal/store"
)

// awsCLI returns the AWS CLI to test with: $PICKET_AWSCLI, else aws on
// PATH. Without one the test skips, unless PICKET_REQUIRE_AWSCLI=1 (CI)
// makes that a failure.
func awsCLI(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PICKET_AWSCLI"); p != "" {
		return p
	}
	p, err := exec.LookPath("aws")
	if err != nil {
		if os.Getenv("PICKET_REQUIRE_AWSCLI") == "1" {
			t.Fatal("the AWS CLI (aws) is not installed and PICKET_REQUIRE_AWSCLI=1: run scripts/install-test-deps")
		}
		t.Skip("the AWS CLI (aws) is not installed: run scripts/install-test-deps to test with it")
	}
	return p
}

// cli runs the AWS CLI against a live handler.
type cli struct {
	t      *testing.T
	bin    string
	url    string
	env    []string
	secret string
}

// run runs `aws guardduty ARGS...` and decodes its JSON output into out;
// it fails the test if the command fails.
func (c *cli) run(out any, args ...string) {
	c.t.Helper()
	stdout, stderr, err := c.exec(args...)
	if err != nil {
		c.t.Fatalf("aws guardduty %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	if out != nil {
		if err := json.Unmarshal(stdout, out); err != nil {
			c.t.Fatalf("aws guardduty %s: decoding %q: %v", strings.Join(args, " "), stdout, err)
		}
	}
}

// fail runs a command that must fail and returns what the CLI printed.
func (c *cli) fail(args ...string) string {
	c.t.Helper()
	_, stderr, err := c.exec(args...)
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		c.t.Fatalf("aws guardduty %s: %v, want a failure", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(stderr)
}

func (c *cli) exec(args ...string) ([]byte, string, error) {
	ctx, cancel := context.WithTimeout(c.t.Context(), time.Minute)
	defer cancel()
	full := append([]string{"guardduty"}, args...)
	full = append(full, "--endpoint-url", c.url, "--region", testRegion, "--output", "json")
	cmd := exec.CommandContext(ctx, c.bin, full...)
	cmd.Env = append(slices.Clone(c.env), "AWS_SECRET_ACCESS_KEY="+c.secret)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.Bytes(), stderr.String(), err
}

// wantCLIError checks the CLI's error line: botocore's "An error occurred
// (CODE) when calling the OP operation: MESSAGE", where newer versions add
// " (reached max retries: N)" after the operation.
func wantCLIError(t *testing.T, what, got, op, code, message string) {
	t.Helper()
	want := "An error occurred (" + code + ") when calling the " + op + " operation: " + message
	if i := strings.Index(got, " (reached max retries: "); i >= 0 {
		if j := strings.Index(got[i:], "):"); j >= 0 {
			got = got[:i] + got[i+j+1:]
		}
	}
	if !strings.Contains(got, want) {
		t.Errorf("%s: the CLI printed\n%s\nwant\n%s", what, got, want)
	}
}

// TestCLI drives the handler, on a real listener over SQLite, with the
// AWS CLI, through the same flow as TestSDK. It uses only operations
// that Debian's awscli (2.9) and current versions both have.
func TestCLI(t *testing.T) {
	t.Parallel() // the CLI takes a second or two to start: overlap with the rest
	bin := awsCLI(t)
	l := newLive(t, func(h *Handler) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		return "http://" + ln.Addr().String()
	})
	dir := t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	env = append(env, "AWS_ACCESS_KEY_ID="+testKeyID, "AWS_CONFIG_FILE="+filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "credentials"), "AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=",
		"AWS_RETRY_MODE=standard")
	c := &cli{t: t, bin: bin, url: l.url, env: env, secret: testSecret}
	ctx := t.Context()

	var dets struct{ DetectorIds []string }
	c.run(&dets, "list-detectors")
	if len(dets.DetectorIds) != 0 {
		t.Fatalf("list-detectors: %v", dets.DetectorIds)
	}
	var cd struct{ DetectorId string }
	c.run(&cd, "create-detector", "--enable", "--finding-publishing-frequency", "FIFTEEN_MINUTES")
	det := cd.DetectorId
	wantCLIError(t, "second create-detector", c.fail("create-detector", "--enable"), "CreateDetector", "BadRequestException", msgDetectorExist)
	var gdet struct {
		Status, ServiceRole, FindingPublishingFrequency string
		Features                                        []struct{ Name, Status string }
	}
	c.run(&gdet, "get-detector", "--detector-id", det)
	// CLIs from before features (2023-03), such as Debian 12's, drop them.
	if gdet.Status != "ENABLED" || gdet.FindingPublishingFrequency != "FIFTEEN_MINUTES" || !strings.Contains(gdet.ServiceRole, "AWSServiceRoleForAmazonGuardDuty") ||
		len(gdet.Features) != 0 && (len(gdet.Features) != 10 || gdet.Features[0].Name != "FLOW_LOGS") {
		t.Errorf("get-detector: %+v", gdet)
	}
	c.run(nil, "update-detector", "--detector-id", det, "--no-enable")

	start := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	all := estate(det, 120, start)
	if err := l.store.Commit(ctx, store.Batch{Findings: all}); err != nil {
		t.Fatal(err)
	}

	// list-findings with criteria (the CLI's PascalCase, deprecated Eq and
	// current GreaterThanOrEqual) and sort, paginated by the CLI.
	var want []string
	for _, f := range all {
		if f.Type == finding.TypePortscan && f.Severity >= 5 {
			want = append(want, f.ID)
		}
	}
	var lf struct {
		FindingIds []string
		NextToken  string
	}
	c.run(&lf, "list-findings", "--detector-id", det, "--page-size", "4",
		"--finding-criteria", `{"Criterion":{"type":{"Eq":["Recon:EC2/Portscan"]},"severity":{"GreaterThanOrEqual":5}}}`,
		"--sort-criteria", "AttributeName=severity,OrderBy=DESC")
	if !cmp.Equal(sorted(want), sorted(lf.FindingIds)) {
		t.Fatalf("list-findings: %d IDs, want %d", len(lf.FindingIds), len(want))
	}
	var gf struct {
		Findings []struct {
			Id, Type string
			Severity float64
			Service  struct {
				Archived     bool
				UserFeedback string
			}
		}
	}
	c.run(&gf, append([]string{"get-findings", "--detector-id", det, "--finding-ids"}, lf.FindingIds...)...)
	if len(gf.Findings) != len(want) {
		t.Errorf("get-findings: %d findings, want %d", len(gf.Findings), len(want))
	}
	for i := 1; i < len(gf.Findings); i++ {
		if gf.Findings[i].Type != finding.TypePortscan {
			t.Errorf("get-findings: type %s", gf.Findings[i].Type)
		}
	}
	ids50 := make([]string, 50)
	for i := range ids50 {
		ids50[i] = all[i].ID
	}
	c.run(&gf, append([]string{"get-findings", "--detector-id", det, "--finding-ids"}, ids50...)...)
	if len(gf.Findings) != 50 {
		t.Errorf("get-findings of 50: %d", len(gf.Findings))
	}

	var stats struct {
		FindingStatistics struct{ CountBySeverity map[string]int }
	}
	c.run(&stats, "get-findings-statistics", "--detector-id", det, "--finding-statistic-types", "COUNT_BY_SEVERITY")
	total := 0
	for _, n := range stats.FindingStatistics.CountBySeverity {
		total += n
	}
	if total != 120 {
		t.Errorf("get-findings-statistics: %v", stats.FindingStatistics.CountBySeverity)
	}

	archived := func() []string {
		var out struct{ FindingIds []string }
		c.run(&out, "list-findings", "--detector-id", det, "--finding-criteria", `{"Criterion":{"service.archived":{"Equals":["true"]}}}`)
		return sorted(out.FindingIds)
	}
	c.run(nil, "archive-findings", "--detector-id", det, "--finding-ids", all[0].ID, all[1].ID)
	if got := archived(); !cmp.Equal(got, sorted([]string{all[0].ID, all[1].ID})) {
		t.Errorf("archived after archive-findings: %v", got)
	}
	c.run(nil, "unarchive-findings", "--detector-id", det, "--finding-ids", all[0].ID, all[1].ID)
	if got := archived(); len(got) != 0 {
		t.Errorf("archived after unarchive-findings: %v", got)
	}
	c.run(nil, "update-findings-feedback", "--detector-id", det, "--finding-ids", all[2].ID, "--feedback", "USEFUL", "--comments", "real attack")
	c.run(&gf, "get-findings", "--detector-id", det, "--finding-ids", all[2].ID)
	if len(gf.Findings) != 1 || gf.Findings[0].Service.UserFeedback != "USEFUL" {
		t.Errorf("feedback: %+v", gf.Findings)
	}

	// A suppression rule archives what matches now.
	var ssh []string
	for _, f := range all {
		if f.Type == finding.TypeSSHBruteForce {
			ssh = append(ssh, f.ID)
		}
	}
	var fname struct{ Name string }
	c.run(&fname, "create-filter", "--detector-id", det, "--name", "no-ssh-noise", "--action", "ARCHIVE", "--rank", "1",
		"--finding-criteria", `{"Criterion":{"type":{"Eq":["UnauthorizedAccess:EC2/SSHBruteForce"]}}}`)
	if fname.Name != "no-ssh-noise" {
		t.Errorf("create-filter: %+v", fname)
	}
	if got := archived(); !cmp.Equal(got, sorted(ssh)) {
		t.Errorf("archived by the rule: %d, want %d", len(got), len(ssh))
	}
	var gfl struct {
		Name, Action    string
		Rank            int
		FindingCriteria struct {
			Criterion map[string]struct{ Eq, Equals []string }
		}
	}
	c.run(&gfl, "get-filter", "--detector-id", det, "--filter-name", "no-ssh-noise")
	if gfl.Action != "ARCHIVE" || gfl.Rank != 1 || gfl.FindingCriteria.Criterion["type"].Equals[0] != finding.TypeSSHBruteForce ||
		gfl.FindingCriteria.Criterion["type"].Eq[0] != finding.TypeSSHBruteForce {
		t.Errorf("get-filter: %+v", gfl)
	}
	var filters struct{ FilterNames []string }
	c.run(&filters, "list-filters", "--detector-id", det)
	if !cmp.Equal(filters.FilterNames, []string{"no-ssh-noise"}) {
		t.Errorf("list-filters: %v", filters.FilterNames)
	}
	c.run(nil, "update-filter", "--detector-id", det, "--filter-name", "no-ssh-noise", "--action", "NOOP")
	c.run(nil, "delete-filter", "--detector-id", det, "--filter-name", "no-ssh-noise")

	// Sample findings.
	c.run(nil, "create-sample-findings", "--detector-id", det)
	var samples struct{ FindingIds []string }
	c.run(&samples, "list-findings", "--detector-id", det, "--finding-criteria", `{"Criterion":{"service.additionalInfo.sample":{"Equals":["true"]}}}`)
	if len(samples.FindingIds) != len(finding.Types()) {
		t.Errorf("samples: %d, want %d", len(samples.FindingIds), len(finding.Types()))
	}

	// Lists and their lifecycle.
	l.loader.mu.Lock()
	l.loader.fail["s3://lists/broken.txt"] = "line 1: not a list"
	l.loader.mu.Unlock()
	var ip struct{ IpSetId string }
	c.run(&ip, "create-ip-set", "--detector-id", det, "--name", "office", "--format", "TXT", "--location", "s3://lists/office.txt", "--activate")
	// Wait on the store rather than start the CLI again and again.
	status := func(kind store.SetKind, id string) func() bool {
		return func() bool {
			s, err := l.store.Set(ctx, det, kind, id)
			return err == nil && s.Status != statusActivating
		}
	}
	eventually(t, "the IP set to load", status(store.IPSet, ip.IpSetId))
	var gip struct{ Name, Format, Location, Status string }
	c.run(&gip, "get-ip-set", "--detector-id", det, "--ip-set-id", ip.IpSetId)
	if gip != (struct{ Name, Format, Location, Status string }{"office", "TXT", "s3://lists/office.txt", "ACTIVE"}) {
		t.Errorf("get-ip-set: %+v", gip)
	}
	var ti struct{ ThreatIntelSetId string }
	c.run(&ti, "create-threat-intel-set", "--detector-id", det, "--name", "broken", "--format", "TXT", "--location", "s3://lists/broken.txt", "--activate")
	eventually(t, "the threat list to fail", status(store.ThreatIntelSet, ti.ThreatIntelSetId))
	c.run(&gip, "get-threat-intel-set", "--detector-id", det, "--threat-intel-set-id", ti.ThreatIntelSetId)
	if gip.Status != "ERROR" {
		t.Errorf("get-threat-intel-set: %+v", gip)
	}
	c.run(nil, "update-ip-set", "--detector-id", det, "--ip-set-id", ip.IpSetId, "--no-activate")
	c.run(&gip, "get-ip-set", "--detector-id", det, "--ip-set-id", ip.IpSetId)
	if gip.Status != "INACTIVE" {
		t.Errorf("get-ip-set after --no-activate: %+v", gip)
	}
	var ips struct{ IpSetIds []string }
	c.run(&ips, "list-ip-sets", "--detector-id", det)
	if !cmp.Equal(ips.IpSetIds, []string{ip.IpSetId}) {
		t.Errorf("list-ip-sets: %v", ips.IpSetIds)
	}
	c.run(nil, "delete-ip-set", "--detector-id", det, "--ip-set-id", ip.IpSetId)
	c.run(nil, "delete-threat-intel-set", "--detector-id", det, "--threat-intel-set-id", ti.ThreatIntelSetId)

	// Tags.
	arn := "arn:aws:guardduty:us-east-1:123456789012:detector/" + det
	c.run(nil, "tag-resource", "--resource-arn", arn, "--tags", "env=prod,team=sec")
	c.run(nil, "untag-resource", "--resource-arn", arn, "--tag-keys", "team")
	var tags struct{ Tags map[string]string }
	c.run(&tags, "list-tags-for-resource", "--resource-arn", arn)
	if !cmp.Equal(tags.Tags, map[string]string{"env": "prod"}) {
		t.Errorf("list-tags-for-resource: %v", tags.Tags)
	}

	// Errors.
	wantCLIError(t, "unknown detector", c.fail("get-detector", "--detector-id", "0123456789abcdef0123456789abcdef"),
		"GetDetector", "BadRequestException", msgNotOwned)
	wantCLIError(t, "bad criterion", c.fail("list-findings", "--detector-id", det, "--finding-criteria", `{"Criterion":{"type OR 1=1":{"Eq":["x"]}}}`),
		"ListFindings", "BadRequestException", msgJSON)
	var page struct{ NextToken string }
	c.run(&page, "list-findings", "--detector-id", det, "--max-results", "3", "--no-paginate")
	tampered := []byte(page.NextToken)
	tampered[5] ^= 1
	wantCLIError(t, "tampered token", c.fail("list-findings", "--detector-id", det, "--max-results", "3", "--no-paginate", "--next-token", string(tampered)),
		"ListFindings", "BadRequestException", msgToken)
	c.secret = "not-the-secret"
	wantCLIError(t, "wrong secret", c.fail("list-detectors"), "ListDetectors", codeInvalidSig, msgBadSignature)
	c.secret = testSecret
	l.skew.Store(int64(20 * time.Minute))
	wantCLIError(t, "expired signature", c.fail("list-detectors"), "ListDetectors", codeInvalidSig, "Signature expired: ")
	l.skew.Store(0)

	c.run(nil, "delete-detector", "--detector-id", det)
	c.run(&dets, "list-detectors")
	if len(dets.DetectorIds) != 0 {
		t.Errorf("list-detectors after delete: %v", dets.DetectorIds)
	}
}
