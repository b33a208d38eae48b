//lint:file-ignore SA1019 the deprecated usageCriteria.dataSources is served, and tested, on purpose

package api

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	gd "github.com/aws/aws-sdk-go-v2/service/guardduty/types"
	"github.com/google/go-cmp/cmp"

	"picket/internal/finding"
	"picket/internal/store"
)

// TestUsageAndCoverage drives GetUsageStatistics, ListCoverage and
// GetCoverageStatistics through the SDK over a usage table as ingest
// commits it: two interfaces and an account's CloudTrail in the caller's
// account and region, one interface silent for two hours, and rows of
// another account and region that the caller never sees.
func TestUsageAndCoverage(t *testing.T) {
	l := newLive(t, nil)
	ctx := t.Context()
	newest := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	rows := []store.Usage{
		{Account: testAccount, Region: testRegion, Source: "CLOUD_TRAIL", Records: 40, Bytes: 40000, First: newest.Add(-3 * time.Hour), Last: newest},
		{Account: testAccount, Region: testRegion, Source: "FLOW_LOGS", Resource: "eni-1", Instance: "i-1", Records: 100, Bytes: 10000, First: newest.Add(-3 * time.Hour), Last: newest.Add(-time.Minute)},
		{Account: testAccount, Region: testRegion, Source: "FLOW_LOGS", Resource: "eni-2", Records: 7, Bytes: 700, First: newest.Add(-3 * time.Hour), Last: newest.Add(-2 * time.Hour)},
		{Account: "210987654321", Region: testRegion, Source: "FLOW_LOGS", Resource: "eni-9", Records: 1, Bytes: 99, Last: newest},
		{Account: testAccount, Region: "eu-west-1", Source: "FLOW_LOGS", Resource: "eni-8", Records: 1, Bytes: 88, Last: newest},
	}
	l.h.usage = func() []store.Usage { return rows }
	gdc := l.client(testCreds, aws.NopRetryer{})
	cd, err := gdc.CreateDetector(ctx, &guardduty.CreateDetectorInput{Enable: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	det := cd.DetectorId

	t.Run("usage", func(t *testing.T) {
		type total struct{ Key, Amount, Unit string }
		tests := []struct {
			typ      gd.UsageStatisticType
			criteria gd.UsageCriteria
			want     []total
		}{
			{gd.UsageStatisticTypeSumByAccount, gd.UsageCriteria{}, []total{{testAccount, "50700", "bytes"}}},
			{gd.UsageStatisticTypeSumByDataSource, gd.UsageCriteria{}, []total{{"CLOUD_TRAIL", "40000", "bytes"}, {"FLOW_LOGS", "10700", "bytes"}}},
			{gd.UsageStatisticTypeSumByDataSource, gd.UsageCriteria{DataSources: []gd.DataSource{gd.DataSourceFlowLogs}}, []total{{"FLOW_LOGS", "10700", "bytes"}}},                    //nolint:staticcheck // the deprecated dataSources is served
			{gd.UsageStatisticTypeSumByResource, gd.UsageCriteria{DataSources: []gd.DataSource{gd.DataSourceFlowLogs}}, []total{{"eni-2", "700", "bytes"}, {"i-1", "10000", "bytes"}}}, //nolint:staticcheck // the deprecated dataSources is served
			{gd.UsageStatisticTypeTopResources, gd.UsageCriteria{}, []total{{testAccount, "40000", "bytes"}, {"i-1", "10000", "bytes"}, {"eni-2", "700", "bytes"}}},
			{gd.UsageStatisticTypeSumByResource, gd.UsageCriteria{Resources: []string{"eni-1"}}, []total{{"i-1", "10000", "bytes"}}},
			{gd.UsageStatisticTypeSumByFeatures, gd.UsageCriteria{Features: []gd.UsageFeature{gd.UsageFeatureCloudTrail}}, []total{{"CLOUD_TRAIL", "40000", "bytes"}}},
			{gd.UsageStatisticTypeSumByAccount, gd.UsageCriteria{AccountIds: []string{"210987654321"}}, nil},
		}
		for _, tt := range tests {
			out, err := gdc.GetUsageStatistics(ctx, &guardduty.GetUsageStatisticsInput{DetectorId: det, UsageStatisticType: tt.typ, UsageCriteria: &tt.criteria})
			if err != nil {
				t.Fatalf("%s: %v", tt.typ, err)
			}
			u := out.UsageStatistics
			var got []total
			add := func(k string, v *gd.Total) { got = append(got, total{k, aws.ToString(v.Amount), aws.ToString(v.Unit)}) }
			for _, r := range u.SumByAccount {
				add(aws.ToString(r.AccountId), r.Total)
			}
			for _, r := range u.SumByDataSource {
				add(string(r.DataSource), r.Total)
			}
			for _, r := range u.SumByResource {
				add(aws.ToString(r.Resource), r.Total)
			}
			for _, r := range u.TopResources {
				add(aws.ToString(r.Resource), r.Total)
			}
			for _, r := range u.SumByFeature {
				add(string(r.Feature), r.Total)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%s %+v (-want +got):\n%s", tt.typ, tt.criteria, diff)
			}
		}
		out, err := gdc.GetUsageStatistics(ctx, &guardduty.GetUsageStatisticsInput{DetectorId: det,
			UsageStatisticType: gd.UsageStatisticTypeTopAccountsByFeature, UsageCriteria: &gd.UsageCriteria{}})
		if err != nil || len(out.UsageStatistics.TopAccountsByFeature) != 2 ||
			aws.ToString(out.UsageStatistics.TopAccountsByFeature[1].Accounts[0].Total.Amount) != "10700" {
			t.Errorf("TOP_ACCOUNTS_BY_FEATURE: %+v %v", out, err)
		}
	})

	t.Run("coverage", func(t *testing.T) {
		var got []string
		var next *string
		for {
			out, err := gdc.ListCoverage(ctx, &guardduty.ListCoverageInput{DetectorId: det, MaxResults: aws.Int32(2), NextToken: next,
				SortCriteria: &gd.CoverageSortCriteria{AttributeName: gd.CoverageSortKeyUpdatedAt, OrderBy: gd.OrderByDesc}})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range out.Resources {
				got = append(got, string(r.ResourceDetails.ResourceType)+" "+aws.ToString(r.ResourceId)+" "+string(r.CoverageStatus)+" "+aws.ToString(r.DetectorId)[:4]+" "+r.UpdatedAt.UTC().Format("15:04"))
				if r.CoverageStatus == gd.CoverageStatusUnhealthy && aws.ToString(r.Issue) == "" {
					t.Errorf("%s is unhealthy without an issue", aws.ToString(r.ResourceId))
				}
			}
			if next = out.NextToken; next == nil || *next == "" {
				break
			}
		}
		d4 := (*det)[:4]
		want := []string{
			"ACCOUNT " + testAccount + " HEALTHY " + d4 + " 12:00",
			"EC2 i-1 HEALTHY " + d4 + " 11:59",
			"EC2 eni-2 UNHEALTHY " + d4 + " 10:00",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ListCoverage (-want +got):\n%s", diff)
		}
		silent, err := gdc.ListCoverage(ctx, &guardduty.ListCoverageInput{DetectorId: det, FilterCriteria: &gd.CoverageFilterCriteria{
			FilterCriterion: []gd.CoverageFilterCriterion{{CriterionKey: gd.CoverageFilterCriterionKeyCoverageStatus,
				FilterCondition: &gd.CoverageFilterCondition{Equals: []string{"UNHEALTHY"}}}}}})
		if err != nil || len(silent.Resources) != 1 || aws.ToString(silent.Resources[0].ResourceId) != "eni-2" {
			t.Errorf("silent resources: %+v %v", silent, err)
		}
		st, err := gdc.GetCoverageStatistics(ctx, &guardduty.GetCoverageStatisticsInput{DetectorId: det,
			StatisticsType: []gd.CoverageStatisticsType{gd.CoverageStatisticsTypeCountByCoverageStatus, gd.CoverageStatisticsTypeCountByResourceType}})
		if err != nil {
			t.Fatal(err)
		}
		wantStats := &gd.CoverageStatistics{CountByCoverageStatus: map[string]int64{"HEALTHY": 2, "UNHEALTHY": 1},
			CountByResourceType: map[string]int64{"EC2": 2, "ACCOUNT": 1}}
		if diff := cmp.Diff(wantStats.CountByCoverageStatus, st.CoverageStatistics.CountByCoverageStatus); diff != "" {
			t.Errorf("countByCoverageStatus (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(wantStats.CountByResourceType, st.CoverageStatistics.CountByResourceType); diff != "" {
			t.Errorf("countByResourceType (-want +got):\n%s", diff)
		}
		_, err = gdc.ListCoverage(ctx, &guardduty.ListCoverageInput{DetectorId: det, FilterCriteria: &gd.CoverageFilterCriteria{
			FilterCriterion: []gd.CoverageFilterCriterion{{CriterionKey: "NOPE", FilterCondition: &gd.CoverageFilterCondition{}}}}})
		wantErr(t, "unknown criterion key", err, "BadRequestException", "The request is rejected because the parameter filterCriteria.filterCriterion.criterionKey has an invalid value.")
	})
}

// TestUsageOfMembers: the administrator's detector covers the usage and
// coverage of every account in its region, each coverage resource under
// its own account's detector.
func TestUsageOfMembers(t *testing.T) {
	rows := []store.Usage{
		{Account: testAccount, Region: testRegion, Source: "FLOW_LOGS", Resource: "eni-1", Records: 1, Bytes: 100, Last: testNow},
		{Account: "210987654321", Region: testRegion, Source: "FLOW_LOGS", Resource: "eni-9", Records: 1, Bytes: 99, Last: testNow},
		{Account: "210987654321", Region: "eu-west-1", Source: "FLOW_LOGS", Resource: "eni-8", Records: 1, Bytes: 88, Last: testNow},
	}
	f := newFixture(t, newSQLite(t), func(c *Config) {
		c.Account = testAccount // the test key is the administrator's
		c.Clock = time.Now
		c.Usage = func() []store.Usage { return rows }
	})
	srv := httptest.NewServer(f.h)
	t.Cleanup(srv.Close)
	gdc := (&live{url: srv.URL}).client(testCreds, aws.NopRetryer{})
	ctx := t.Context()
	cd, err := gdc.CreateDetector(ctx, &guardduty.CreateDetectorInput{Enable: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	u, err := gdc.GetUsageStatistics(ctx, &guardduty.GetUsageStatisticsInput{DetectorId: cd.DetectorId,
		UsageStatisticType: gd.UsageStatisticTypeSumByAccount, UsageCriteria: &gd.UsageCriteria{}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range u.UsageStatistics.SumByAccount {
		got = append(got, aws.ToString(r.AccountId)+" "+aws.ToString(r.Total.Amount))
	}
	if diff := cmp.Diff([]string{testAccount + " 100", "210987654321 99"}, got); diff != "" {
		t.Errorf("SUM_BY_ACCOUNT (-want +got):\n%s", diff)
	}
	cov, err := gdc.ListCoverage(ctx, &guardduty.ListCoverageInput{DetectorId: cd.DetectorId})
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, r := range cov.Resources {
		got = append(got, aws.ToString(r.AccountId)+" "+aws.ToString(r.ResourceId)+" "+aws.ToString(r.DetectorId))
	}
	want := []string{
		testAccount + " eni-1 " + finding.DetectorID(testAccount, testRegion),
		"210987654321 eni-9 " + finding.DetectorID("210987654321", testRegion),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListCoverage (-want +got):\n%s", diff)
	}
}
