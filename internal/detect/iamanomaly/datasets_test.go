package iamanomaly

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"picket/internal/decode/cloudtrail"
	"picket/internal/detect"
	"picket/internal/detect/trail"
	"picket/internal/event"
	"picket/internal/finding"
)

// The real trails of shared/datasets/cloudtrail (see SOURCES.md there),
// read in memory; the tests skip when the folder is absent.

func datasetFile(t *testing.T, name string) string {
	t.Helper()
	dir := os.Getenv("PICKET_DATASETS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "..", "shared", "datasets")
	}
	path := filepath.Join(dir, "cloudtrail", name)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("real trails not available: %v", err)
	}
	return path
}

// trails decodes the CloudTrail files of a tar.gz archive, by member
// name, skipping bad events.
func trails(t *testing.T, path string) map[string][]*event.APICall {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	out := map[string][]*event.APICall{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if h.Typeflag != tar.TypeReg || !strings.HasSuffix(h.Name, ".json") {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("%s: %s: %v", path, h.Name, err)
		}
		r := cloudtrail.NewReader(bytes.NewReader(b), h.Name)
		var c event.APICall
		for {
			err := r.Next(&c)
			if errors.Is(err, io.EOF) {
				break
			}
			var pe *cloudtrail.ParseError
			if errors.As(err, &pe) {
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", h.Name, err)
			}
			out[h.Name] = append(out[h.Name], c.Clone())
		}
	}
	return out
}

// TestInvictusBenign runs the detector over the Invictus trail (35
// minutes of one account) after a history made of the same trail eight
// days earlier, so that every principal has a profile, even with the
// baseline and the calls a profile needs at their lowest: principals
// doing again what they did raise nothing, and neither do the calls AWS
// services make, which no profile holds.
func TestInvictusBenign(t *testing.T) {
	files := trails(t, datasetFile(t, "invictus_aws_dataset_stratus_2023-07-10.tar.gz"))
	var calls []*event.APICall
	for _, cs := range files {
		calls = append(calls, cs...)
	}
	if len(calls) < 2000 {
		t.Fatalf("%d calls decoded", len(calls))
	}
	const shift = 8 * 86400
	var all []*event.APICall
	services := 0
	for _, c := range calls {
		h := *c
		h.EventTime -= shift
		all = append(all, &h, c)
		if trail.Ignored(&detect.Env{}, c) {
			services++
		}
	}
	for _, th := range []map[string]float64{nil, {"baseline": 3600, "min_profile_calls": 1}} {
		d := newDetector(t, th)
		fs := run(t, d, all)
		for _, f := range fs {
			ak := f.Resource.AccessKeyDetails
			if ak.UserName == "benjamin" || ak.UserType == "AWSService" {
				t.Errorf("thresholds %v: %s", th, strings.Join(summaries([]*finding.Finding{f}), ""))
			}
		}
		d.profiles.All(func(k trail.Principal, _ *profile) bool {
			if strings.HasSuffix(k.ARN.String(), ".amazonaws.com") || k.ARN.String() == "AWS Internal" {
				t.Errorf("a profile for the AWS service %s", k)
			}
			return true
		})
		t.Logf("thresholds %v: %d calls (%d by AWS services), %d profiles, findings %v", th, len(calls), services, d.profiles.Len(), summaries(fs))
	}
}

// TestStratusTactics holds the tactics file to Stratus Red Team's own
// labels: every detonation of a GuardDuty tactic holds at least one call
// the file puts in that tactic.
func TestStratusTactics(t *testing.T) {
	files := trails(t, datasetFile(t, "stratus_red_team_detonation_logs.tar.gz"))
	tactics := map[string]trail.Tactic{
		"credential-access": trail.TacticCredentialAccess, "defense-evasion": trail.TacticDefenseEvasion,
		"discovery": trail.TacticDiscovery, "exfiltration": trail.TacticExfiltration, "impact": trail.TacticImpact,
		"initial-access": trail.TacticInitialAccess, "persistence": trail.TacticPersistence,
		"privilege-escalation": trail.TacticPrivilegeEscalation,
	}
	// What no tactics file can see.
	missed := map[string]string{
		"aws.credential-access.ec2-steal-instance-credentials": "the stolen credentials make ordinary calls; what is unusual is where they come from (credexfil)",
	}
	tab := trail.DefaultTactics()
	checked := 0
	for name, calls := range files {
		technique := strings.TrimSuffix(filepath.Base(name), ".json")
		parts := strings.Split(technique, ".")
		want, ok := tactics[parts[1]]
		if !ok || missed[technique] != "" {
			continue
		}
		checked++
		var got trail.Tactics
		for _, c := range calls {
			if !trail.ByService(c) {
				got |= tab.Of(trail.Service(c), c.EventName.String(), c.RequestParameters)
			}
		}
		if !got.Has(want) {
			var names []string
			for _, c := range calls {
				names = append(names, trail.Service(c)+":"+c.EventName.String())
			}
			t.Errorf("%s: no call in %s; calls %v", technique, want, names)
		}
	}
	if checked < 25 {
		t.Errorf("only %d detonations checked", checked)
	}
}
