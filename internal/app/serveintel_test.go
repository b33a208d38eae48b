package app

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	"github.com/aws/aws-sdk-go-v2/service/guardduty/types"

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
