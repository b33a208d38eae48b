package app

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"

	"picket/internal/config"
	"picket/internal/datadir"
	"picket/internal/finding"
)

// TestServeNewUser is a new user's first run: picket serve with the
// default account (no --account), and logs of account 123456789012
// dropped into the watched directory. The generated key, used as
// picket credentials says, lists a detector and sees the findings of
// those logs under accountId 123456789012: through the Go SDK, the AWS
// CLI in each form it takes, and boto3.
func TestServeNewUser(t *testing.T) {
	dataDir, watch, staging := t.TempDir(), t.TempDir(), t.TempDir()
	start := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	genLogs(t, staging, start, time.Hour, 1)
	want := summaries(analyzed(t, staging), finding.TimeFormat)
	// serve's defaults, but for the listener and the data directory.
	cfg := config.Default()
	cfg.Listen, cfg.DataDir = "127.0.0.1:0", dataDir
	cfg.Sources.Watch = []config.Watch{{Path: watch, PollInterval: config.Duration(config.DefaultWatchPoll)}}
	if cfg.Account == testAccount {
		t.Fatalf("the default account is the logs' account %s: the test proves nothing", testAccount)
	}
	s := startService(t, cfg)
	ctx := context.Background()
	gd := gdClient(t, s.url(), dataDir)
	moved := time.Now()
	moveInto(t, staging, watch)
	// The administrator's detector shows analyze's findings within
	// seconds, long before the lateness or the idle flush.
	det := ""
	waitFor(t, 2*time.Minute, "the administrator's detector to list analyze's findings", func() bool {
		dets, err := gd.ListDetectors(ctx, &guardduty.ListDetectorsInput{})
		if err != nil || len(dets.DetectorIds) != 1 {
			return false
		}
		det = dets.DetectorIds[0]
		return diffFindings(want, apiFindings(t, gd)) == ""
	})
	t.Logf("analyze's %d findings showed %v after the logs were dropped", len(want), time.Since(moved).Round(time.Millisecond))
	if det != finding.DetectorID(cfg.Account, cfg.Region) {
		t.Errorf("detector %s, want the administrator's %s", det, finding.DetectorID(cfg.Account, cfg.Region))
	}
	var ids []string
	p := guardduty.NewListFindingsPaginator(gd, &guardduty.ListFindingsInput{DetectorId: &det})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, page.FindingIds...)
	}
	if len(ids) == 0 {
		t.Fatal("the administrator's detector lists no findings")
	}
	slices.Sort(ids)
	got, err := gd.GetFindings(ctx, &guardduty.GetFindingsInput{DetectorId: &det, FindingIds: ids[:min(len(ids), 50)]})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range got.Findings {
		if aws.ToString(f.AccountId) != testAccount {
			t.Errorf("finding %s of account %s, want %s", aws.ToString(f.Id), aws.ToString(f.AccountId), testAccount)
		}
	}
	t.Logf("%d findings of %s through the administrator's detector %s", len(ids), testAccount, det)

	// The forms picket credentials prints.
	cred, err := datadir.ReadCredential(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	cli, _ := exec.LookPath("aws")
	version := ""
	if cli != "" {
		out, err := exec.Command(cli, "--version").CombinedOutput()
		if err != nil {
			t.Fatalf("aws --version: %v\n%s", err, out)
		}
		version = strings.TrimSpace(string(out))
	}
	var b strings.Builder
	datadir.WriteClientSetup(&b, datadir.ClientSetup{Credential: cred, Profile: "picket", Region: cfg.Region, Endpoint: s.url(),
		Account: cfg.Account, AWSCLI: version})
	setup := parseSetup(t, b.String())
	dir := t.TempDir()
	base := []string{"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=", "AWS_RETRY_MODE=standard",
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "none")}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			base = append(base, kv)
		}
	}
	exports := append(slices.Clone(base), setup.exports...)

	t.Run("AWS CLI", func(t *testing.T) {
		if cli == "" {
			if os.Getenv("PICKET_REQUIRE_AWSCLI") == "1" {
				t.Fatal("the AWS CLI (aws) is not installed and PICKET_REQUIRE_AWSCLI=1")
			}
			t.Skip("the AWS CLI (aws) is not installed")
		}
		run := func(env []string, args ...string) []string {
			t.Helper()
			cmd := exec.Command(cli, append([]string{"guardduty"}, args...)...)
			cmd.Env = env
			out, err := cmd.Output()
			if err != nil {
				var stderr []byte
				if ee, ok := err.(*exec.ExitError); ok {
					stderr = ee.Stderr
				}
				t.Fatalf("aws guardduty %s: %v\n%s", strings.Join(args, " "), err, stderr)
			}
			var v struct{ FindingIds []string }
			if err := json.Unmarshal(out, &v); err != nil {
				t.Fatalf("aws guardduty %s: %q: %v", strings.Join(args, " "), out, err)
			}
			slices.Sort(v.FindingIds)
			return v.FindingIds
		}
		// Form 1: the exports and --endpoint-url.
		if got := run(exports, "list-findings", "--detector-id", det, "--endpoint-url", s.url(), "--output", "json"); !slices.Equal(got, ids) {
			t.Errorf("form 1: %d findings, want %d", len(got), len(ids))
		}
		// Form 2: the profile, with the versions that take it.
		if ok, _ := datadir.ProfileEndpoint(version); !ok {
			t.Logf("%s does not take endpoint_url from a profile", version)
			return
		}
		os.WriteFile(filepath.Join(dir, "config"), []byte(setup.config), 0o600)
		os.WriteFile(filepath.Join(dir, "credentials"), []byte(setup.credentials), 0o600)
		env := append(slices.Clone(base), "AWS_CONFIG_FILE="+filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "credentials"))
		if got := run(env, "--profile", "picket", "list-findings", "--detector-id", det, "--output", "json"); !slices.Equal(got, ids) {
			t.Errorf("form 2: %d findings, want %d", len(got), len(ids))
		}
	})

	t.Run("boto3", func(t *testing.T) {
		py, err := exec.LookPath("python3")
		if err != nil || exec.Command(py, "-c", "import boto3").Run() != nil {
			t.Skip("python3 with boto3 is not installed")
		}
		const script = `
import json, sys, boto3
gd = boto3.client("guardduty", endpoint_url=sys.argv[1])
det = gd.list_detectors()["DetectorIds"][0]
ids = []
for page in gd.get_paginator("list_findings").paginate(DetectorId=det):
    ids += page["FindingIds"]
accounts = sorted({f["AccountId"] for f in gd.get_findings(DetectorId=det, FindingIds=ids[:50])["Findings"]})
print(json.dumps({"ids": sorted(ids), "accounts": accounts}))
`
		cmd := exec.Command(py, "-c", script, s.url())
		cmd.Env = exports
		out, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("boto3: %v\n%s", err, stderr)
		}
		var v struct{ IDs, Accounts []string }
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("boto3: %q: %v", out, err)
		}
		if !slices.Equal(v.IDs, ids) || !slices.Equal(v.Accounts, []string{testAccount}) {
			t.Errorf("boto3: %d findings of accounts %v, want %d of %s", len(v.IDs), v.Accounts, len(ids), testAccount)
		}
	})
}

// setup is what WriteClientSetup printed: the exports as environment
// entries, and the two files of the profile.
type setup struct {
	exports             []string
	config, credentials string
}

func parseSetup(t *testing.T, text string) setup {
	t.Helper()
	var s setup
	var section *string
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "export "):
			k, v, _ := strings.Cut(strings.TrimPrefix(line, "export "), "=")
			s.exports = append(s.exports, k+"="+strings.Trim(v, "'"))
		case line == "# ~/.aws/config":
			section = &s.config
		case line == "# ~/.aws/credentials":
			section = &s.credentials
		case line == "":
			section = nil
		case section != nil:
			*section += line + "\n"
		}
	}
	if len(s.exports) != 3 || s.config == "" || s.credentials == "" {
		t.Fatalf("picket credentials printed no exports or profile:\n%s", text)
	}
	return s
}
