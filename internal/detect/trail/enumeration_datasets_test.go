package trail_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"picket/internal/awsip"
	"picket/internal/decode"
	"picket/internal/detect/trail"
	"picket/internal/event"
	"picket/internal/finding"
)

// TestInvictusReconnaissance holds the enumeration detector to the
// invictus trail's labels, source by source: bert-jan's console
// reconnaissance from 10.8.8.10 (63 distinct read APIs across 13 services
// in 10 minutes) is found on its own calls, whether the same user's
// Terraform, which reads and writes from 192.168.10.20, is in the trail or
// not; the finding names the console source and none of Terraform's. The
// benign console and boto3 user benjamin and the AWS services raise no
// enumeration finding. It skips when the datasets are absent.
func TestInvictusReconnaissance(t *testing.T) {
	dir := datasetDir(t)
	ranges, err := awsip.Parse(strings.NewReader(rangesExcerpt))
	if err != nil {
		t.Fatal(err)
	}
	var trails []input
	for _, m := range members(t, filepath.Join(dir, "invictus_aws_dataset_stratus_2023-07-10.tar.gz")) {
		if decode.Detect(m.data[:min(len(m.data), 4096)]) == decode.CloudTrail {
			trails = append(trails, m)
		}
	}
	calls := decodeAll(t, trails)
	withoutTerraform := slices.DeleteFunc(slices.Clone(calls), func(c *event.APICall) bool {
		return trail.Family(c.UserAgent.String()) == trail.FamilyTerraform
	})
	if len(withoutTerraform) == len(calls) {
		t.Fatal("the trail has no Terraform calls to remove")
	}
	for _, tc := range []struct {
		name  string
		calls []*event.APICall
	}{
		{"with-terraform", calls},
		{"without-terraform", withoutTerraform},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &world{aws: ranges}
			var recon *finding.Finding
			for _, f := range w.runCalls(t, tc.calls) {
				exp := explanation(f)
				if exp == nil || exp.Detector != "enumeration" {
					continue
				}
				user := f.Resource.AccessKeyDetails.UserName
				switch {
				case user == "bert-jan" && exp.Kind == "burst":
					recon = f
				case user == "benjamin", user == "":
					t.Errorf("benign principal %q flagged: %s", user, exp.Summary)
				}
			}
			if recon == nil {
				t.Fatal("bert-jan's console reconnaissance not reported")
			}
			exp := explanation(recon)
			if !strings.Contains(exp.Summary, "from 10.8.8.10 (console)") || strings.Contains(exp.Summary, "192.168.10.20") {
				t.Errorf("the finding does not name the console source alone: %s", exp.Summary)
			}
			for _, s := range exp.Sources {
				if s.Name != "10.8.8.10" {
					t.Errorf("evidence from %s, not the console's address: %s", s.Name, exp.Summary)
				}
			}
			if !crossed(exp, "min_distinct_apis") || !crossed(exp, "min_sweep_services") {
				t.Errorf("expected both the volume burst and the fast sweep to hold: %+v", exp.Thresholds)
			}
			t.Log(exp.Summary)
		})
	}
}

func explanation(f *finding.Finding) *finding.Explanation {
	if ai := f.Service.AdditionalInfo; ai != nil {
		return ai.Explanation
	}
	return nil
}

func crossed(exp *finding.Explanation, name string) bool {
	return slices.ContainsFunc(exp.Thresholds, func(th finding.Threshold) bool { return th.Name == name && th.Crossed })
}
