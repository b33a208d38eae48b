package app

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	"github.com/aws/aws-sdk-go-v2/service/guardduty/types"

	"picket/internal/config"
	"picket/internal/finding"
	"picket/internal/synth"
)

// scanner returns the address of the generated internet scan of the
// bastion host.
func scanner(t *testing.T) string {
	t.Helper()
	cfg := synth.DefaultConfig
	for _, spec := range testAttacks {
		a, _ := synth.ParseAttack(spec)
		cfg.Attacks = append(cfg.Attacks, a)
	}
	g, err := synth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g.Run(func(synth.Record) {})
	for _, l := range g.Labels() {
		if l.Type == finding.TypePortProbeUnprotectedPort && l.Remote != "" {
			return l.Remote
		}
	}
	t.Fatalf("no internet scanner among %+v", g.Labels())
	return ""
}

// TestServeThreatIntelSet creates a ThreatIntelSet through the API from a
// local file that lists the generated scanner: it becomes ACTIVE, the
// scanner's traffic raises MaliciousIPCaller.Custom naming the list, and
// after a restart the list is loaded again before ingest resumes.
func TestServeThreatIntelSet(t *testing.T) {
	dataDir, watch, staging := t.TempDir(), t.TempDir(), t.TempDir()
	lists := t.TempDir()
	list := filepath.Join(lists, "scanners.txt")
	os.WriteFile(list, []byte("# known scanners\n"+scanner(t)+"\n"), 0o644)
	start := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	genLogs(t, staging, start, time.Hour, 1)
	cfg := testConfig(dataDir, watch)
	cfg.Intel.FilesDir = lists
	s := startService(t, cfg)
	gd := gdClient(t, s.url(), dataDir)
	ctx := context.Background()

	det, err := gd.CreateDetector(ctx, &guardduty.CreateDetectorInput{Enable: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	set, err := gd.CreateThreatIntelSet(ctx, &guardduty.CreateThreatIntelSetInput{
		DetectorId: det.DetectorId, Name: aws.String("scanners"), Format: types.ThreatIntelSetFormatTxt,
		Location: aws.String(list), Activate: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	status := func() types.ThreatIntelSetStatus {
		out, err := gd.GetThreatIntelSet(ctx, &guardduty.GetThreatIntelSetInput{DetectorId: det.DetectorId, ThreatIntelSetId: set.ThreatIntelSetId})
		if err != nil {
			t.Fatal(err)
		}
		return out.Status
	}
	waitFor(t, time.Minute, "the list to become ACTIVE", func() bool { return status() == types.ThreatIntelSetStatusActive })

	moveInto(t, staging, watch)
	caughtUp(t, s.url(), 2*time.Minute)
	custom := func() []types.Finding {
		ids, err := gd.ListFindings(ctx, &guardduty.ListFindingsInput{DetectorId: det.DetectorId, FindingCriteria: &types.FindingCriteria{
			Criterion: map[string]types.Condition{"type": {Equals: []string{finding.TypeEC2MaliciousIPCustom}}}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(ids.FindingIds) == 0 {
			return nil
		}
		out, err := gd.GetFindings(ctx, &guardduty.GetFindingsInput{DetectorId: det.DetectorId, FindingIds: ids.FindingIds})
		if err != nil {
			t.Fatal(err)
		}
		return out.Findings
	}
	found := custom()
	if len(found) == 0 {
		t.Fatal("no MaliciousIPCaller.Custom finding for the listed scanner")
	}
	ev := found[0].Service.Evidence
	if ev == nil || len(ev.ThreatIntelligenceDetails) == 0 || aws.ToString(ev.ThreatIntelligenceDetails[0].ThreatListName) != "scanners" {
		t.Errorf("the finding does not name the list: %+v", ev)
	}
	s.stop()

	// After a restart the list is in use before ingest resumes: the next
	// hour's scan is reported on the same finding.
	s = startService(t, cfg)
	gd = gdClient(t, s.url(), dataDir)
	if st := status(); st != types.ThreatIntelSetStatusActive {
		t.Errorf("status after restart %s", st)
	}
	more := t.TempDir()
	genLogs(t, more, start.Add(time.Hour), time.Hour, 1)
	moveDeep(t, more, watch)
	caughtUp(t, s.url(), 2*time.Minute)
	again := custom()
	if len(again) == 0 || aws.ToInt32(again[0].Service.Count) <= aws.ToInt32(found[0].Service.Count) {
		t.Errorf("the listed scanner's second hour was not reported: before %d findings, after %d", len(found), len(again))
	}

	// Local files outside intel.files_dir are refused: an API caller
	// cannot make the service read its files.
	for _, loc := range []string{"/etc/passwd", filepath.Join(lists, "..", "x.txt"), "ftp://example.com/x"} {
		_, err := gd.CreateThreatIntelSet(ctx, &guardduty.CreateThreatIntelSetInput{
			DetectorId: det.DetectorId, Name: aws.String("nosy"), Format: types.ThreatIntelSetFormatTxt,
			Location: aws.String(loc), Activate: aws.Bool(true),
		})
		var bre *types.BadRequestException
		if !errors.As(err, &bre) {
			t.Errorf("location %s: %v, want BadRequestException", loc, err)
		}
	}

	// A list that cannot be read goes to ERROR with a readable reason.
	bad, err := gd.CreateThreatIntelSet(ctx, &guardduty.CreateThreatIntelSetInput{
		DetectorId: det.DetectorId, Name: aws.String("missing"), Format: types.ThreatIntelSetFormatTxt,
		Location: aws.String(filepath.Join(lists, "nope.txt")), Activate: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "the unreadable list to go to ERROR", func() bool {
		out, err := gd.GetThreatIntelSet(ctx, &guardduty.GetThreatIntelSetInput{DetectorId: det.DetectorId, ThreatIntelSetId: bad.ThreatIntelSetId})
		return err == nil && out.Status == types.ThreatIntelSetStatusError
	})
}

// TestServeEnrichAndAllow gives picket serve a city database and a
// pentest allowlist in its configuration: a root call from a located
// address is reported with the country, and the audit role's scanner is
// not reported while another principal's is.
func TestServeEnrichAndAllow(t *testing.T) {
	dataDir, watch := t.TempDir(), t.TempDir()
	cfg := testConfig(dataDir, watch)
	cfg.Enrich.GeoIPCity = testCityDB(t)
	cfg.Detectors.Allow = map[string]map[string][]string{"pentest": {"allowed_principals": {"audit"}}}
	// Three calls and then nothing: the watermark catches up once the
	// source has been quiet this long.
	cfg.Ingest.IdleFlush = config.Duration(300 * time.Millisecond)
	s := startService(t, cfg)
	gd := gdClient(t, s.url(), dataDir)

	event := func(id, identity, name, ip, agent string) string {
		return `{"eventVersion":"1.08","userIdentity":` + identity + `,"eventTime":"2026-03-04T10:00:00Z",` +
			`"eventSource":"iam.amazonaws.com","eventName":"` + name + `","awsRegion":"us-east-1","sourceIPAddress":"` + ip + `",` +
			`"userAgent":"` + agent + `","eventID":"` + id + `","eventType":"AwsApiCall","managementEvent":true,` +
			`"readOnly":true,"recipientAccountId":"` + testAccount + `","eventCategory":"Management"}`
	}
	root := `{"type":"Root","principalId":"` + testAccount + `","arn":"arn:aws:iam::` + testAccount + `:root","accountId":"` + testAccount + `","accessKeyId":"ASIAROOTEXAMPLE00001"}`
	user := func(name string) string {
		return `{"type":"IAMUser","principalId":"AIDA` + strings.ToUpper(name) + `EXAMPLE","arn":"arn:aws:iam::` + testAccount + `:user/` + name + `","accountId":"` + testAccount + `","accessKeyId":"AKIA` + strings.ToUpper(name) + `EXAMPLE","userName":"` + name + `"}`
	}
	trail := `{"Records":[` + strings.Join([]string{
		event("e1", root, "ListUsers", "203.0.113.5", "aws-cli/2.15.0"),
		event("e2", user("audit"), "ListRoles", "198.51.100.20", "Scout Suite/5.14.0"),
		event("e3", user("mallory"), "ListRoles", "198.51.100.21", "Scout Suite/5.14.0"),
	}, ",") + `]}`
	writeFile(t, filepath.Join(watch, "trail.json"), []byte(trail), false)

	var fs []types.Finding
	waitFor(t, 30*time.Second, "two findings", func() bool {
		fs = findingsOf(t, gd)
		return len(fs) >= 2
	})
	time.Sleep(300 * time.Millisecond)
	fs = findingsOf(t, gd)
	byType := map[string]types.Finding{}
	for _, f := range fs {
		byType[aws.ToString(f.Type)] = f
	}
	if len(fs) != 2 {
		t.Errorf("%d findings, want root usage and mallory's scanner: %v", len(fs), slices.Collect(maps.Keys(byType)))
	}
	f, ok := byType[finding.TypeRootCredentialUsage]
	if !ok {
		t.Fatal("no root credential usage finding")
	}
	if c := f.Service.Action.AwsApiCallAction.RemoteIpDetails.Country; c == nil || aws.ToString(c.CountryName) != "Germany" {
		t.Errorf("root call's country %+v, want Germany from the configured database", c)
	}
	f, ok = byType[finding.TypePenTestSecurityTool]
	if !ok {
		t.Fatal("no security tool finding")
	}
	if u := aws.ToString(f.Resource.AccessKeyDetails.UserName); u != "mallory" {
		t.Errorf("security tool finding on %q, want mallory (audit is allowed)", u)
	}
}

// findingsOf returns every finding of the first detector.
func findingsOf(t *testing.T, gd *guardduty.Client) []types.Finding {
	t.Helper()
	ctx := context.Background()
	dets, err := gd.ListDetectors(ctx, &guardduty.ListDetectorsInput{})
	if err != nil || len(dets.DetectorIds) == 0 {
		return nil
	}
	ids, err := gd.ListFindings(ctx, &guardduty.ListFindingsInput{DetectorId: &dets.DetectorIds[0], MaxResults: aws.Int32(50)})
	if err != nil || len(ids.FindingIds) == 0 {
		return nil
	}
	got, err := gd.GetFindings(ctx, &guardduty.GetFindingsInput{DetectorId: &dets.DetectorIds[0], FindingIds: ids.FindingIds})
	if err != nil {
		t.Fatal(err)
	}
	return got.Findings
}
