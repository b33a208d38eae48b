package api

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	gd "github.com/aws/aws-sdk-go-v2/service/guardduty/types"
	"github.com/google/go-cmp/cmp"

	"picket/internal/finding"
	"picket/internal/store"
)

// TestResourceOfUnnamedInstance: a finding from flow logs of the default
// format names the interface but not the instance. GetFindings still
// carries instanceId (empty), and GetFindingsStatistics grouped by
// resource groups it under its interface, never under "".
func TestResourceOfUnnamedInstance(t *testing.T) {
	l := newLive(t, nil)
	ctx := t.Context()
	gdc := l.client(testCreds, aws.NopRetryer{})
	cd, err := gdc.CreateDetector(ctx, &guardduty.CreateDetectorInput{Enable: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	named := testFinding(finding.TypePortscan, "i-0123456789abcdef0", 5, at)
	unnamed := testFinding(finding.TypePortProbeUnprotectedPort, "eni-0123456789abcdef0", 2, at.Add(time.Minute))
	unnamed.Resource.InstanceDetails = &finding.InstanceDetails{NetworkInterfaces: []finding.NetworkInterface{
		{NetworkInterfaceID: "eni-0123456789abcdef0", PrivateIPAddress: "10.0.0.5"}}}
	key := testFinding(finding.TypeSSHBruteForce, "AKIAEXAMPLE", 8, at.Add(2*time.Minute))
	key.Resource.ResourceType = "AccessKey"
	key.Resource.InstanceDetails = nil
	key.Resource.AccessKeyDetails = &finding.AccessKeyDetails{AccessKeyID: "AKIAEXAMPLE"}
	if err := l.store.Commit(ctx, store.Batch{Findings: []*finding.Finding{named, unnamed, key}}); err != nil {
		t.Fatal(err)
	}

	gf, err := gdc.GetFindings(ctx, &guardduty.GetFindingsInput{DetectorId: cd.DetectorId, FindingIds: []string{unnamed.ID}})
	if err != nil || len(gf.Findings) != 1 {
		t.Fatalf("GetFindings: %v %v", gf, err)
	}
	if id := gf.Findings[0].Resource.InstanceDetails.InstanceId; id == nil || *id != "" {
		t.Errorf("instanceId of an unnamed instance: %v, want present and empty", id)
	}

	st, err := gdc.GetFindingsStatistics(ctx, &guardduty.GetFindingsStatisticsInput{DetectorId: cd.DetectorId, GroupBy: gd.GroupByTypeResource})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, g := range st.FindingStatistics.GroupedByResource {
		got[aws.ToString(g.ResourceId)] = aws.ToString(g.ResourceType) + " " + aws.ToString(g.AccountId)
	}
	want := map[string]string{
		"i-0123456789abcdef0":   "Instance " + testAccount,
		"eni-0123456789abcdef0": "Instance " + testAccount,
		"AKIAEXAMPLE":           "AccessKey " + testAccount,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("groupedByResource (-want +got):\n%s", diff)
	}

	// Every other grouping names its groups too.
	for _, by := range []gd.GroupByType{gd.GroupByTypeAccount, gd.GroupByTypeDate, gd.GroupByTypeFindingType, gd.GroupByTypeSeverity} {
		st, err := gdc.GetFindingsStatistics(ctx, &guardduty.GetFindingsStatisticsInput{DetectorId: cd.DetectorId, GroupBy: by})
		if err != nil {
			t.Fatalf("%s: %v", by, err)
		}
		fs := st.FindingStatistics
		var keys []string
		for _, g := range fs.GroupedByAccount {
			keys = append(keys, aws.ToString(g.AccountId))
		}
		for _, g := range fs.GroupedByDate {
			keys = append(keys, g.Date.UTC().Format(time.DateOnly))
		}
		for _, g := range fs.GroupedByFindingType {
			keys = append(keys, aws.ToString(g.FindingType))
		}
		for _, g := range fs.GroupedBySeverity {
			if aws.ToFloat64(g.Severity) > 0 {
				keys = append(keys, "severity")
			} else {
				keys = append(keys, "")
			}
		}
		if len(keys) == 0 {
			t.Errorf("%s: no groups", by)
		}
		for _, k := range keys {
			if k == "" {
				t.Errorf("%s: a group without its key: %v", by, keys)
			}
		}
	}
}
