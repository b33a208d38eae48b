//lint:file-ignore SA1019 the deprecated dataSources and COUNT_BY_SEVERITY are served, and tested, on purpose

package api

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	gd "github.com/aws/aws-sdk-go-v2/service/guardduty/types"
	"github.com/google/go-cmp/cmp"

	"picket/internal/finding"
	"picket/internal/store"
	"picket/internal/store/sqlite"
)

// newSQLite opens a SQLite store in a temporary directory.
func newSQLite(t testing.TB) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "picket.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// fakeLoader is a threat-intel engine that loads every list but those
// whose location it is told to fail, after hold is closed.
type fakeLoader struct {
	mu      sync.Mutex
	loads   []string
	unloads []string
	fail    map[string]string
	hold    chan struct{}
}

func (l *fakeLoader) Load(s store.Set, done func(error)) {
	l.mu.Lock()
	l.loads = append(l.loads, s.Name)
	msg, bad := l.fail[s.Location]
	hold := l.hold
	l.mu.Unlock()
	go func() {
		if hold != nil {
			<-hold
		}
		if bad {
			done(errors.New(msg))
			return
		}
		done(nil)
	}()
}

func (l *fakeLoader) Unload(s store.Set) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unloads = append(l.unloads, s.Name)
}

func (l *fakeLoader) CheckLocation(_ context.Context, location, _ string) error {
	if strings.HasPrefix(location, "s3://forbidden/") {
		return fmt.Errorf("reading %s: %w", location, ErrAccessDenied)
	}
	return nil
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// live is the handler over SQLite behind an HTTP server, with a clock
// that follows the wall clock (the SDK and the CLI sign with it) plus a
// settable offset.
type live struct {
	h      *Handler
	store  Store
	url    string
	loader *fakeLoader
	skew   atomic.Int64
	logs   *logBuffer
}

func newLive(t testing.TB, serve func(*Handler) string) *live {
	t.Helper()
	l := &live{store: newSQLite(t), loader: &fakeLoader{fail: map[string]string{}}, logs: &logBuffer{}}
	f := newFixture(t, l.store, func(c *Config) {
		c.Clock = func() time.Time { return time.Now().Add(time.Duration(l.skew.Load())) }
		c.Sets = l.loader
	})
	l.h, l.logs = f.h, f.logs
	if serve == nil {
		serve = func(h *Handler) string {
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)
			return srv.URL
		}
	}
	l.url = serve(l.h)
	return l
}

func (l *live) client(creds aws.Credentials, retryer aws.Retryer) *guardduty.Client {
	return guardduty.New(guardduty.Options{
		BaseEndpoint: aws.String(l.url),
		Region:       testRegion,
		Credentials:  aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil }),
		Retryer:      retryer,
	})
}

// estate makes n findings for the detector: four types, three
// severities, a resource each, an hour apart.
func estate(detectorID string, n int, start time.Time) []*finding.Finding {
	types := []string{finding.TypePortscan, finding.TypePortProbeUnprotectedPort, finding.TypeSSHBruteForce, finding.TypePortSweep}
	sevs := []finding.Severity{2, 5, 8}
	var out []*finding.Finding
	for i := range n {
		at := start.Add(time.Duration(i) * time.Minute)
		res := fmt.Sprintf("i-%017d", i)
		f := finding.New(types[i%4], finding.Key{Account: testAccount, Region: testRegion, Resource: res, Role: finding.RoleTarget},
			detectorID, at.Add(-time.Hour), at, int64(i+1))
		f.Severity = sevs[i%3]
		f.Title = fmt.Sprintf("finding %d", i)
		f.Resource.InstanceDetails = &finding.InstanceDetails{InstanceID: res,
			Tags: []finding.Tag{{Key: "env", Value: []string{"prod", "dev"}[i%2]}}}
		f.Service.Action.NetworkConnectionAction = &finding.NetworkConnectionAction{ConnectionDirection: finding.DirectionInbound,
			Protocol: "TCP", LocalPortDetails: finding.Port(22), RemoteIPDetails: &finding.RemoteIPDetails{IPAddressV4: "198.51.100.7"}}
		out = append(out, f)
	}
	return out
}

// apiErr is the code and message of an SDK error.
func apiErr(err error) (code, message string) {
	var ae interface {
		ErrorCode() string
		ErrorMessage() string
	}
	if errors.As(err, &ae) {
		return ae.ErrorCode(), ae.ErrorMessage()
	}
	return "", fmt.Sprint(err)
}

func wantErr(t *testing.T, what string, err error, code, message string) {
	t.Helper()
	got, msg := apiErr(err)
	if got != code || (message != "" && msg != message) {
		t.Errorf("%s: got %s %q, want %s %q", what, got, msg, code, message)
	}
}

// TestSDK drives the handler over SQLite with the real AWS SDK for Go v2
// GuardDuty client, through every operation group and error path.
func TestSDK(t *testing.T) {
	l := newLive(t, nil)
	ctx := t.Context()
	gdc := l.client(testCreds, aws.NopRetryer{})

	// Detectors.
	ld, err := gdc.ListDetectors(ctx, &guardduty.ListDetectorsInput{})
	if err != nil || len(ld.DetectorIds) != 0 {
		t.Fatalf("ListDetectors: %v %v", ld, err)
	}
	if id, _ := awsmiddleware.GetRequestIDMetadata(ld.ResultMetadata); len(id) != 36 {
		t.Errorf("request ID %q", id)
	}
	cd, err := gdc.CreateDetector(ctx, &guardduty.CreateDetectorInput{Enable: aws.Bool(true),
		FindingPublishingFrequency: gd.FindingPublishingFrequencyOneHour, Tags: map[string]string{"team": "sec"}})
	if err != nil {
		t.Fatalf("CreateDetector: %v", err)
	}
	det := *cd.DetectorId
	_, err = gdc.CreateDetector(ctx, &guardduty.CreateDetectorInput{Enable: aws.Bool(true)})
	var bre *gd.BadRequestException
	if !errors.As(err, &bre) || aws.ToString(bre.Type) != "InvalidInputException" || bre.ErrorMessage() != msgDetectorExist {
		t.Errorf("second CreateDetector: %v", err)
	}
	gdet, err := gdc.GetDetector(ctx, &guardduty.GetDetectorInput{DetectorId: &det})
	if err != nil {
		t.Fatalf("GetDetector: %v", err)
	}
	//nolint:staticcheck // the deprecated dataSources block is served on purpose
	if gdet.Status != gd.DetectorStatusEnabled || !strings.HasSuffix(aws.ToString(gdet.ServiceRole), "AWSServiceRoleForAmazonGuardDuty") ||
		gdet.FindingPublishingFrequency != gd.FindingPublishingFrequencyOneHour || gdet.Tags["team"] != "sec" ||
		gdet.DataSources.FlowLogs.Status != gd.DataSourceStatusEnabled || len(gdet.Features) != 10 ||
		gdet.Features[0].Name != gd.DetectorFeatureResultFlowLogs || gdet.Features[0].UpdatedAt == nil {
		t.Errorf("GetDetector: %+v", gdet)
	}
	if _, err := gdc.UpdateDetector(ctx, &guardduty.UpdateDetectorInput{DetectorId: &det, Enable: aws.Bool(true),
		Features: []gd.DetectorFeatureConfiguration{{Name: gd.DetectorFeatureS3DataEvents, Status: gd.FeatureStatusDisabled}}}); err != nil {
		t.Errorf("UpdateDetector: %v", err)
	}

	// Findings, committed as ingest would.
	start := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	all := estate(det, 120, start)
	if err := l.store.Commit(ctx, store.Batch{Findings: all}); err != nil {
		t.Fatal(err)
	}

	t.Run("ListFindings with criteria and sort", func(t *testing.T) {
		crit := &gd.FindingCriteria{Criterion: map[string]gd.Condition{
			"type":                                {Equals: []string{finding.TypePortscan, finding.TypePortSweep}},
			"severity":                            {GreaterThanOrEqual: aws.Int64(5)},
			"resource.instanceDetails.tags.value": {Eq: []string{"prod"}}, // deprecated name
		}}
		var want []string
		for _, f := range all {
			if (f.Type == finding.TypePortscan || f.Type == finding.TypePortSweep) && f.Severity >= 5 && f.Resource.InstanceDetails.Tags[0].Value == "prod" {
				want = append(want, f.ID)
			}
		}
		var got []string
		pages := 0
		p := guardduty.NewListFindingsPaginator(gdc, &guardduty.ListFindingsInput{DetectorId: &det, FindingCriteria: crit,
			SortCriteria: &gd.SortCriteria{AttributeName: aws.String("severity"), OrderBy: gd.OrderByDesc}, MaxResults: aws.Int32(7)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatalf("ListFindings page %d: %v", pages, err)
			}
			got = append(got, out.FindingIds...)
			pages++
		}
		if !cmp.Equal(sorted(want), sorted(got)) || pages < 2 {
			t.Fatalf("ListFindings: %d IDs in %d pages, want %d: %v", len(got), pages, len(want), cmp.Diff(sorted(want), sorted(got)))
		}
		gf, err := gdc.GetFindings(ctx, &guardduty.GetFindingsInput{DetectorId: &det, FindingIds: got})
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(gf.Findings); i++ {
			if *gf.Findings[i-1].Severity < *gf.Findings[i].Severity {
				t.Fatalf("not sorted by severity descending at %d", i)
			}
		}
	})

	t.Run("GetFindings of 50", func(t *testing.T) {
		ids := make([]string, 50)
		for i := range ids {
			ids[i] = all[i].ID
		}
		out, err := gdc.GetFindings(ctx, &guardduty.GetFindingsInput{DetectorId: &det, FindingIds: ids,
			SortCriteria: &gd.SortCriteria{AttributeName: aws.String("service.count"), OrderBy: gd.OrderByAsc}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Findings) != 50 {
			t.Fatalf("%d findings", len(out.Findings))
		}
		for i, f := range out.Findings {
			if aws.ToString(f.Id) != all[i].ID || aws.ToString(f.Title) != all[i].Title || *f.Service.Count != int32(i+1) ||
				aws.ToString(f.Service.DetectorId) != det || aws.ToString(f.Arn) != all[i].Arn {
				t.Errorf("finding %d: %s %q count %d", i, aws.ToString(f.Id), aws.ToString(f.Title), *f.Service.Count)
			}
		}
		none, err := gdc.GetFindings(ctx, &guardduty.GetFindingsInput{DetectorId: &det, FindingIds: []string{"0000"}})
		if err != nil || len(none.Findings) != 0 {
			t.Errorf("GetFindings of an unknown ID: %v %v", none, err)
		}
	})

	t.Run("statistics", func(t *testing.T) {
		// The deprecated COUNT_BY_SEVERITY is served on purpose.
		out, err := gdc.GetFindingsStatistics(ctx, &guardduty.GetFindingsStatisticsInput{DetectorId: &det,
			FindingStatisticTypes: []gd.FindingStatisticType{gd.FindingStatisticTypeCountBySeverity}}) //nolint:staticcheck // deprecated on purpose
		if err != nil {
			t.Fatal(err)
		}
		counts := out.FindingStatistics.CountBySeverity //nolint:staticcheck // deprecated on purpose
		total := 0
		for _, n := range counts {
			total += int(n)
		}
		if total != 120 || len(counts) != 3 {
			t.Errorf("countBySeverity %v", counts)
		}
		byType, err := gdc.GetFindingsStatistics(ctx, &guardduty.GetFindingsStatisticsInput{DetectorId: &det,
			GroupBy: gd.GroupByTypeFindingType, OrderBy: gd.OrderByDesc, MaxResults: aws.Int32(3),
			FindingCriteria: &gd.FindingCriteria{Criterion: map[string]gd.Condition{"severity": {Gte: aws.Int32(5)}}}})
		if err != nil {
			t.Fatal(err)
		}
		g := byType.FindingStatistics.GroupedByFindingType
		if len(g) != 3 || *g[0].TotalFindings != 20 || g[0].LastGeneratedAt == nil || g[0].LastGeneratedAt.Before(start) {
			t.Errorf("groupedByFindingType %+v", g)
		}
		for _, by := range []gd.GroupByType{gd.GroupByTypeAccount, gd.GroupByTypeDate, gd.GroupByTypeResource, gd.GroupByTypeSeverity} {
			out, err := gdc.GetFindingsStatistics(ctx, &guardduty.GetFindingsStatisticsInput{DetectorId: &det, GroupBy: by, OrderBy: gd.OrderByAsc})
			if err != nil {
				t.Fatalf("%s: %v", by, err)
			}
			s := out.FindingStatistics
			switch by {
			case gd.GroupByTypeAccount:
				if len(s.GroupedByAccount) != 1 || aws.ToString(s.GroupedByAccount[0].AccountId) != testAccount || *s.GroupedByAccount[0].TotalFindings != 120 {
					t.Errorf("groupedByAccount %+v", s.GroupedByAccount)
				}
			case gd.GroupByTypeDate:
				if len(s.GroupedByDate) != 1 || !s.GroupedByDate[0].Date.Equal(start) || *s.GroupedByDate[0].TotalFindings != 120 {
					t.Errorf("groupedByDate %+v", s.GroupedByDate)
				}
			case gd.GroupByTypeResource:
				if len(s.GroupedByResource) != 25 || aws.ToString(s.GroupedByResource[0].ResourceType) == "" {
					t.Errorf("groupedByResource: %d groups", len(s.GroupedByResource))
				}
			case gd.GroupByTypeSeverity:
				if len(s.GroupedBySeverity) != 3 || *s.GroupedBySeverity[0].TotalFindings != 40 {
					t.Errorf("groupedBySeverity %+v", s.GroupedBySeverity)
				}
			}
		}
	})

	archivedIDs := func() []string {
		out, err := gdc.ListFindings(ctx, &guardduty.ListFindingsInput{DetectorId: &det,
			FindingCriteria: &gd.FindingCriteria{Criterion: map[string]gd.Condition{"service.archived": {Equals: []string{"true"}}}}})
		if err != nil {
			t.Fatal(err)
		}
		return sorted(out.FindingIds)
	}

	t.Run("archive, unarchive, feedback", func(t *testing.T) {
		ids := []string{all[0].ID, all[1].ID}
		if _, err := gdc.ArchiveFindings(ctx, &guardduty.ArchiveFindingsInput{DetectorId: &det, FindingIds: ids}); err != nil {
			t.Fatal(err)
		}
		if got := archivedIDs(); !cmp.Equal(got, sorted(ids)) {
			t.Errorf("archived %v, want %v", got, ids)
		}
		if _, err := gdc.UnarchiveFindings(ctx, &guardduty.UnarchiveFindingsInput{DetectorId: &det, FindingIds: ids}); err != nil {
			t.Fatal(err)
		}
		if got := archivedIDs(); len(got) != 0 {
			t.Errorf("archived after unarchive: %v", got)
		}
		if _, err := gdc.UpdateFindingsFeedback(ctx, &guardduty.UpdateFindingsFeedbackInput{DetectorId: &det, FindingIds: ids[:1],
			Feedback: gd.FeedbackNotUseful, Comments: aws.String("benign scanner")}); err != nil {
			t.Fatal(err)
		}
		out, err := gdc.GetFindings(ctx, &guardduty.GetFindingsInput{DetectorId: &det, FindingIds: ids[:1]})
		if err != nil || len(out.Findings) != 1 || aws.ToString(out.Findings[0].Service.UserFeedback) != "NOT_USEFUL" {
			t.Errorf("feedback not stored: %v", err)
		}
	})

	t.Run("suppression rule", func(t *testing.T) {
		var ssh []string
		for _, f := range all {
			if f.Type == finding.TypeSSHBruteForce && f.Resource.InstanceDetails.Tags[0].Value == "dev" {
				ssh = append(ssh, f.ID)
			}
		}
		crit := &gd.FindingCriteria{Criterion: map[string]gd.Condition{
			"type":                                {Equals: []string{finding.TypeSSHBruteForce}},
			"resource.instanceDetails.tags.value": {Matches: []string{"d*v"}},
		}}
		if _, err := gdc.CreateFilter(ctx, &guardduty.CreateFilterInput{DetectorId: &det, Name: aws.String("quiet-dev-ssh"),
			Action: gd.FilterActionArchive, Rank: aws.Int32(1), FindingCriteria: crit, Description: aws.String("dev boxes are noisy"),
			Tags: map[string]string{"owner": "me"}}); err != nil {
			t.Fatal(err)
		}
		if got := archivedIDs(); !cmp.Equal(got, sorted(ssh)) {
			t.Fatalf("archived by the rule: %d, want %d", len(got), len(ssh))
		}
		// A retried create (the SDK sends a new clientToken) of the same
		// filter succeeds; a different one of the same name does not.
		if _, err := gdc.CreateFilter(ctx, &guardduty.CreateFilterInput{DetectorId: &det, Name: aws.String("quiet-dev-ssh"),
			Action: gd.FilterActionArchive, Rank: aws.Int32(1), FindingCriteria: crit, Description: aws.String("dev boxes are noisy")}); err != nil {
			t.Errorf("retried CreateFilter: %v", err)
		}
		_, err := gdc.CreateFilter(ctx, &guardduty.CreateFilterInput{DetectorId: &det, Name: aws.String("quiet-dev-ssh"), FindingCriteria: crit})
		wantErr(t, "CreateFilter of another filter of the same name", err, "BadRequestException", "")
		// A new finding that matches is archived on arrival.
		later := estate(det, 124, start.Add(24*time.Hour))[122]
		later.Type, later.ID, later.Arn = finding.TypeSSHBruteForce, "fffffffffffffffffffffffffffffff0", all[0].Arn[:len(all[0].Arn)-32]+"fffffffffffffffffffffffffffffff0"
		later.Resource.InstanceDetails.Tags[0].Value = "dev"
		if err := l.store.Commit(ctx, store.Batch{Findings: []*finding.Finding{later}}); err != nil {
			t.Fatal(err)
		}
		if got := archivedIDs(); !slices.Contains(got, later.ID) {
			t.Errorf("a new finding the rule matches was not archived")
		}
		gf, err := gdc.GetFilter(ctx, &guardduty.GetFilterInput{DetectorId: &det, FilterName: aws.String("quiet-dev-ssh")})
		if err != nil {
			t.Fatal(err)
		}
		if gf.Action != gd.FilterActionArchive || aws.ToInt32(gf.Rank) != 1 || aws.ToString(gf.Description) != "dev boxes are noisy" ||
			gf.FindingCriteria.Criterion["type"].Equals[0] != finding.TypeSSHBruteForce || gf.Tags["owner"] != "me" ||
			gf.FindingCriteria.Criterion["resource.instanceDetails.tags.value"].Matches[0] != "d*v" {
			t.Errorf("GetFilter: %+v", gf)
		}
		if _, err := gdc.UpdateFilter(ctx, &guardduty.UpdateFilterInput{DetectorId: &det, FilterName: aws.String("quiet-dev-ssh"),
			Action: gd.FilterActionNoop, Rank: aws.Int32(2)}); err != nil {
			t.Fatal(err)
		}
		lf, err := gdc.ListFilters(ctx, &guardduty.ListFiltersInput{DetectorId: &det})
		if err != nil || !cmp.Equal(lf.FilterNames, []string{"quiet-dev-ssh"}) {
			t.Errorf("ListFilters: %v %v", lf, err)
		}
		if _, err := gdc.DeleteFilter(ctx, &guardduty.DeleteFilterInput{DetectorId: &det, FilterName: aws.String("quiet-dev-ssh")}); err != nil {
			t.Fatal(err)
		}
		_, err = gdc.GetFilter(ctx, &guardduty.GetFilterInput{DetectorId: &det, FilterName: aws.String("quiet-dev-ssh")})
		wantErr(t, "GetFilter after delete", err, "BadRequestException", msgNoResource)
	})

	t.Run("sample findings", func(t *testing.T) {
		if _, err := gdc.CreateSampleFindings(ctx, &guardduty.CreateSampleFindingsInput{DetectorId: &det}); err != nil {
			t.Fatal(err)
		}
		crit := &gd.FindingCriteria{Criterion: map[string]gd.Condition{"service.additionalInfo.sample": {Equals: []string{"true"}}}}
		var ids []string
		p := guardduty.NewListFindingsPaginator(gdc, &guardduty.ListFindingsInput{DetectorId: &det, FindingCriteria: crit})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, out.FindingIds...)
		}
		if len(ids) != len(finding.Types()) {
			t.Fatalf("%d samples, want one of each of %d types", len(ids), len(finding.Types()))
		}
		// GetFindings takes at most 50 IDs, fewer than the types.
		var got []gd.Finding
		for batch := range slices.Chunk(ids, 50) {
			out, err := gdc.GetFindings(ctx, &guardduty.GetFindingsInput{DetectorId: &det, FindingIds: batch})
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, out.Findings...)
		}
		types := map[string]bool{}
		for _, f := range got {
			types[aws.ToString(f.Type)] = true
			if !strings.Contains(aws.ToString(f.Service.AdditionalInfo.Value), `"sample":true`) {
				t.Errorf("%s: additionalInfo %s", aws.ToString(f.Type), aws.ToString(f.Service.AdditionalInfo.Value))
			}
			switch aws.ToString(f.Resource.ResourceType) {
			case "Instance":
				if aws.ToString(f.Resource.InstanceDetails.InstanceId) != "i-99999999" {
					t.Errorf("%s: instance %s", aws.ToString(f.Type), aws.ToString(f.Resource.InstanceDetails.InstanceId))
				}
			case "AccessKey":
				if aws.ToString(f.Resource.AccessKeyDetails.AccessKeyId) != "GeneratedFindingAccessKeyId" {
					t.Errorf("%s: access key %s", aws.ToString(f.Type), aws.ToString(f.Resource.AccessKeyDetails.AccessKeyId))
				}
			}
		}
		if len(types) != len(finding.Types()) {
			t.Errorf("%d distinct types", len(types))
		}
		// Asking again updates the same samples.
		if _, err := gdc.CreateSampleFindings(ctx, &guardduty.CreateSampleFindingsInput{DetectorId: &det, FindingTypes: []string{finding.TypePortscan}}); err != nil {
			t.Fatal(err)
		}
		n := 0
		for p := guardduty.NewListFindingsPaginator(gdc, &guardduty.ListFindingsInput{DetectorId: &det, FindingCriteria: crit}); p.HasMorePages(); {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			n += len(out.FindingIds)
		}
		if n != len(finding.Types()) {
			t.Errorf("samples after a second call: %d", n)
		}
	})

	t.Run("lists", func(t *testing.T) { sdkSets(t, l, gdc, det) })
	t.Run("tags", func(t *testing.T) { sdkTags(t, gdc, det) })
	t.Run("errors", func(t *testing.T) { sdkErrors(t, l, gdc, det) })

	if _, err := gdc.DeleteDetector(ctx, &guardduty.DeleteDetectorInput{DetectorId: &det}); err != nil {
		t.Fatal(err)
	}
	if ld, err := gdc.ListDetectors(ctx, &guardduty.ListDetectorsInput{}); err != nil || len(ld.DetectorIds) != 0 {
		t.Errorf("ListDetectors after delete: %v %v", ld, err)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	if s == nil {
		s = []string{}
	}
	return s
}

func sdkSets(t *testing.T, l *live, gdc *guardduty.Client, det string) {
	ctx := t.Context()
	l.loader.mu.Lock()
	l.loader.hold = make(chan struct{})
	l.loader.fail["s3://lists/broken.txt"] = "line 3: \"not-an-ip\" is not an address or network"
	hold := l.loader.hold
	l.loader.mu.Unlock()

	// IPSet: ACTIVATING until the engine answers, then ACTIVE.
	ip, err := gdc.CreateIPSet(ctx, &guardduty.CreateIPSetInput{DetectorId: &det, Name: aws.String("office"), Format: gd.IpSetFormatTxt,
		Location: aws.String("s3://lists/office.txt"), Activate: aws.Bool(true), Tags: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	g, err := gdc.GetIPSet(ctx, &guardduty.GetIPSetInput{DetectorId: &det, IpSetId: ip.IpSetId})
	if err != nil || g.Status != gd.IpSetStatusActivating || aws.ToString(g.Name) != "office" || g.Tags["k"] != "v" {
		t.Fatalf("GetIPSet while loading: %+v %v", g, err)
	}
	_, err = gdc.CreateIPSet(ctx, &guardduty.CreateIPSetInput{DetectorId: &det, Name: aws.String("second"), Format: gd.IpSetFormatTxt,
		Location: aws.String("s3://lists/2.txt"), Activate: aws.Bool(true)})
	wantErr(t, "a second IPSet", err, "BadRequestException", "")
	close(hold)
	status := func(get func() (string, error)) func() bool {
		return func() bool { s, err := get(); return err == nil && s != "ACTIVATING" }
	}
	eventually(t, "the IPSet to load", status(func() (string, error) {
		g, err := gdc.GetIPSet(ctx, &guardduty.GetIPSetInput{DetectorId: &det, IpSetId: ip.IpSetId})
		return string(g.Status), err
	}))
	if g, _ := gdc.GetIPSet(ctx, &guardduty.GetIPSetInput{DetectorId: &det, IpSetId: ip.IpSetId}); g.Status != gd.IpSetStatusActive {
		t.Errorf("IPSet status %s", g.Status)
	}
	if _, err := gdc.UpdateIPSet(ctx, &guardduty.UpdateIPSetInput{DetectorId: &det, IpSetId: ip.IpSetId, Activate: aws.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	if g, _ := gdc.GetIPSet(ctx, &guardduty.GetIPSetInput{DetectorId: &det, IpSetId: ip.IpSetId}); g.Status != gd.IpSetStatusInactive {
		t.Errorf("IPSet status after deactivating: %s", g.Status)
	}
	lst, err := gdc.ListIPSets(ctx, &guardduty.ListIPSetsInput{DetectorId: &det})
	if err != nil || !cmp.Equal(lst.IpSetIds, []string{*ip.IpSetId}) {
		t.Errorf("ListIPSets: %v %v", lst, err)
	}

	// ThreatIntelSet: a list that does not load ends in ERROR.
	ti, err := gdc.CreateThreatIntelSet(ctx, &guardduty.CreateThreatIntelSetInput{DetectorId: &det, Name: aws.String("bad list"),
		Format: gd.ThreatIntelSetFormatTxt, Location: aws.String("s3://lists/broken.txt"), Activate: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the threat list to fail", status(func() (string, error) {
		g, err := gdc.GetThreatIntelSet(ctx, &guardduty.GetThreatIntelSetInput{DetectorId: &det, ThreatIntelSetId: ti.ThreatIntelSetId})
		return string(g.Status), err
	}))
	if g, _ := gdc.GetThreatIntelSet(ctx, &guardduty.GetThreatIntelSetInput{DetectorId: &det, ThreatIntelSetId: ti.ThreatIntelSetId}); g.Status != gd.ThreatIntelSetStatusError {
		t.Errorf("threat list status %s", g.Status)
	}
	// Fixing the location loads it again.
	if _, err := gdc.UpdateThreatIntelSet(ctx, &guardduty.UpdateThreatIntelSetInput{DetectorId: &det, ThreatIntelSetId: ti.ThreatIntelSetId,
		Location: aws.String("s3://lists/fixed.txt"), Activate: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the fixed threat list to load", status(func() (string, error) {
		g, err := gdc.GetThreatIntelSet(ctx, &guardduty.GetThreatIntelSetInput{DetectorId: &det, ThreatIntelSetId: ti.ThreatIntelSetId})
		return string(g.Status), err
	}))
	_, err = gdc.CreateThreatIntelSet(ctx, &guardduty.CreateThreatIntelSetInput{DetectorId: &det, Name: aws.String("forbidden"),
		Format: gd.ThreatIntelSetFormatTxt, Location: aws.String("s3://forbidden/x.txt"), Activate: aws.Bool(true)})
	var ade *gd.AccessDeniedException
	if !errors.As(err, &ade) {
		t.Errorf("a list picket may not read: %v, want AccessDeniedException", err)
	}
	_, err = gdc.CreateThreatEntitySet(ctx, &guardduty.CreateThreatEntitySetInput{DetectorId: &det, Name: aws.String("forbidden"),
		Format: gd.ThreatEntitySetFormatTxt, Location: aws.String("s3://forbidden/x.txt"), Activate: aws.Bool(true)})
	wantErr(t, "an entity list picket may not read (no AccessDeniedException in the model)", err, "BadRequestException", "")

	// Entity sets report errorDetails and times.
	te, err := gdc.CreateThreatEntitySet(ctx, &guardduty.CreateThreatEntitySetInput{DetectorId: &det, Name: aws.String("entities"),
		Format: gd.ThreatEntitySetFormatTxt, Location: aws.String("s3://lists/broken.txt"), Activate: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the entity list to fail", status(func() (string, error) {
		g, err := gdc.GetThreatEntitySet(ctx, &guardduty.GetThreatEntitySetInput{DetectorId: &det, ThreatEntitySetId: te.ThreatEntitySetId})
		return string(g.Status), err
	}))
	ge, err := gdc.GetThreatEntitySet(ctx, &guardduty.GetThreatEntitySetInput{DetectorId: &det, ThreatEntitySetId: te.ThreatEntitySetId})
	if err != nil || ge.Status != gd.ThreatEntitySetStatusError || !strings.Contains(aws.ToString(ge.ErrorDetails), "not-an-ip") ||
		ge.CreatedAt == nil || ge.UpdatedAt == nil || time.Since(*ge.CreatedAt) > time.Minute {
		t.Errorf("GetThreatEntitySet: %+v %v", ge, err)
	}
	tr, err := gdc.CreateTrustedEntitySet(ctx, &guardduty.CreateTrustedEntitySetInput{DetectorId: &det, Name: aws.String("trusted"),
		Format: gd.TrustedEntitySetFormatTxt, Location: aws.String("s3://lists/trusted.txt"), Activate: aws.Bool(false),
		ExpectedBucketOwner: aws.String("123456789012")})
	if err != nil {
		t.Fatal(err)
	}
	gt, err := gdc.GetTrustedEntitySet(ctx, &guardduty.GetTrustedEntitySetInput{DetectorId: &det, TrustedEntitySetId: tr.TrustedEntitySetId})
	if err != nil || gt.Status != gd.TrustedEntitySetStatusInactive || aws.ToString(gt.ExpectedBucketOwner) != "123456789012" {
		t.Errorf("GetTrustedEntitySet: %+v %v", gt, err)
	}
	if _, err := gdc.UpdateTrustedEntitySet(ctx, &guardduty.UpdateTrustedEntitySetInput{DetectorId: &det, TrustedEntitySetId: tr.TrustedEntitySetId,
		Name: aws.String("trusted hosts"), Activate: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the trusted list to load", status(func() (string, error) {
		g, err := gdc.GetTrustedEntitySet(ctx, &guardduty.GetTrustedEntitySetInput{DetectorId: &det, TrustedEntitySetId: tr.TrustedEntitySetId})
		return string(g.Status), err
	}))
	for _, list := range []func() (int, error){
		func() (int, error) {
			o, err := gdc.ListThreatIntelSets(ctx, &guardduty.ListThreatIntelSetsInput{DetectorId: &det})
			return len(o.ThreatIntelSetIds), err
		},
		func() (int, error) {
			o, err := gdc.ListThreatEntitySets(ctx, &guardduty.ListThreatEntitySetsInput{DetectorId: &det})
			return len(o.ThreatEntitySetIds), err
		},
		func() (int, error) {
			o, err := gdc.ListTrustedEntitySets(ctx, &guardduty.ListTrustedEntitySetsInput{DetectorId: &det})
			return len(o.TrustedEntitySetIds), err
		},
	} {
		if n, err := list(); err != nil || n != 1 {
			t.Errorf("list: %d %v", n, err)
		}
	}
	for _, del := range []func() error{
		func() error {
			_, err := gdc.DeleteIPSet(ctx, &guardduty.DeleteIPSetInput{DetectorId: &det, IpSetId: ip.IpSetId})
			return err
		},
		func() error {
			_, err := gdc.DeleteThreatIntelSet(ctx, &guardduty.DeleteThreatIntelSetInput{DetectorId: &det, ThreatIntelSetId: ti.ThreatIntelSetId})
			return err
		},
		func() error {
			_, err := gdc.DeleteThreatEntitySet(ctx, &guardduty.DeleteThreatEntitySetInput{DetectorId: &det, ThreatEntitySetId: te.ThreatEntitySetId})
			return err
		},
	} {
		if err := del(); err != nil {
			t.Error(err)
		}
	}
	_, err = gdc.GetIPSet(ctx, &guardduty.GetIPSetInput{DetectorId: &det, IpSetId: ip.IpSetId})
	wantErr(t, "GetIPSet after delete", err, "BadRequestException", msgNoResource)
	l.loader.mu.Lock()
	defer l.loader.mu.Unlock()
	if want := []string{"office", "bad list", "entities"}; !cmp.Equal(l.loader.unloads, want) {
		t.Errorf("unloads %v, want %v", l.loader.unloads, want)
	}
}

func sdkTags(t *testing.T, gdc *guardduty.Client, det string) {
	ctx := t.Context()
	arn := "arn:aws:guardduty:us-east-1:123456789012:detector/" + det
	if _, err := gdc.TagResource(ctx, &guardduty.TagResourceInput{ResourceArn: &arn, Tags: map[string]string{"env": "prod", "cost": "42"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := gdc.UntagResource(ctx, &guardduty.UntagResourceInput{ResourceArn: &arn, TagKeys: []string{"cost", "team"}}); err != nil {
		t.Fatal(err)
	}
	out, err := gdc.ListTagsForResource(ctx, &guardduty.ListTagsForResourceInput{ResourceArn: &arn})
	if err != nil || !cmp.Equal(out.Tags, map[string]string{"env": "prod"}) {
		t.Errorf("ListTagsForResource: %v %v", out.Tags, err)
	}
	trusted, err := gdc.ListTrustedEntitySets(ctx, &guardduty.ListTrustedEntitySetsInput{DetectorId: &det})
	if err != nil || len(trusted.TrustedEntitySetIds) != 1 {
		t.Fatalf("ListTrustedEntitySets: %v %v", trusted, err)
	}
	child := arn + "/trustedentityset/" + trusted.TrustedEntitySetIds[0]
	if _, err := gdc.TagResource(ctx, &guardduty.TagResourceInput{ResourceArn: &child, Tags: map[string]string{"a": "b"}}); err != nil {
		t.Fatal(err)
	}
	g, err := gdc.GetTrustedEntitySet(ctx, &guardduty.GetTrustedEntitySetInput{DetectorId: &det, TrustedEntitySetId: &trusted.TrustedEntitySetIds[0]})
	if err != nil || g.Tags["a"] != "b" {
		t.Errorf("tags of the list: %v %v", g.Tags, err)
	}
	other := "arn:aws:guardduty:us-east-1:999999999999:detector/" + det
	_, err = gdc.TagResource(ctx, &guardduty.TagResourceInput{ResourceArn: &other, Tags: map[string]string{"a": "b"}})
	var ade *gd.AccessDeniedException
	if !errors.As(err, &ade) {
		t.Errorf("tagging another account's detector: %v", err)
	}
}

func sdkErrors(t *testing.T, l *live, gdc *guardduty.Client, det string) {
	ctx := t.Context()
	_, err := gdc.GetDetector(ctx, &guardduty.GetDetectorInput{DetectorId: aws.String("0123456789abcdef0123456789abcdef")})
	wantErr(t, "unknown detector", err, "BadRequestException", msgNotOwned)
	_, err = gdc.GetDetector(ctx, &guardduty.GetDetectorInput{DetectorId: aws.String("no such detector!")})
	wantErr(t, "malformed detector ID", err, "BadRequestException", msgDetectorID)
	var bre *gd.BadRequestException
	if !errors.As(err, &bre) || aws.ToString(bre.Type) != "InvalidInputException" {
		t.Errorf("the SDK's BadRequestException.Type: %v", err)
	}
	_, err = gdc.ListFindings(ctx, &guardduty.ListFindingsInput{DetectorId: &det,
		FindingCriteria: &gd.FindingCriteria{Criterion: map[string]gd.Condition{"type OR 1=1": {Equals: []string{"x"}}}}})
	wantErr(t, "bad criterion", err, "BadRequestException", msgJSON)
	_, err = gdc.ListFindings(ctx, &guardduty.ListFindingsInput{DetectorId: &det,
		FindingCriteria: &gd.FindingCriteria{Criterion: map[string]gd.Condition{"type": {Matches: []string{"Recon*"}}}}})
	wantErr(t, "matches outside a filter", err, "BadRequestException", msgJSON)
	_, err = gdc.ListFindings(ctx, &guardduty.ListFindingsInput{DetectorId: &det, MaxResults: aws.Int32(500)})
	wantErr(t, "maxResults 500", err, "BadRequestException", msgRange)

	// A tampered token.
	page, err := gdc.ListFindings(ctx, &guardduty.ListFindingsInput{DetectorId: &det, MaxResults: aws.Int32(3)})
	if err != nil || page.NextToken == nil {
		t.Fatalf("ListFindings: %v", err)
	}
	tok := []byte(*page.NextToken)
	tok[len(tok)/2] ^= 1
	_, err = gdc.ListFindings(ctx, &guardduty.ListFindingsInput{DetectorId: &det, MaxResults: aws.Int32(3), NextToken: aws.String(string(tok))})
	wantErr(t, "tampered token", err, "BadRequestException", msgToken)
	// A good token with another query.
	_, err = gdc.ListFindings(ctx, &guardduty.ListFindingsInput{DetectorId: &det, MaxResults: aws.Int32(3), NextToken: page.NextToken,
		FindingCriteria: &gd.FindingCriteria{Criterion: map[string]gd.Condition{"severity": {Gt: aws.Int32(1)}}}})
	wantErr(t, "token of another query", err, "BadRequestException", msgToken)

	// An operation of a feature picket does not offer.
	_, err = gdc.DescribeMalwareScans(ctx, &guardduty.DescribeMalwareScansInput{DetectorId: &det})
	wantErr(t, "DescribeMalwareScans", err, "BadRequestException", notOffered(featureMalware))

	// Signatures.
	_, err = l.client(aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: "wrong"}, aws.NopRetryer{}).ListDetectors(ctx, &guardduty.ListDetectorsInput{})
	wantErr(t, "wrong secret", err, codeInvalidSig, msgBadSignature)
	_, err = l.client(aws.Credentials{AccessKeyID: "AKIDUNKNOWN", SecretAccessKey: "x"}, aws.NopRetryer{}).ListDetectors(ctx, &guardduty.ListDetectorsInput{})
	wantErr(t, "unknown key", err, codeUnrecognized, msgUnknownKey)
}

// TestSDKClockSkew runs against a server of its own: the SDK remembers
// the clock skew it corrects per endpoint.
func TestSDKClockSkew(t *testing.T) {
	l := newLive(t, nil)
	ctx := t.Context()
	l.skew.Store(int64(20 * time.Minute)) // the server's clock runs ahead: the client's signatures are expired
	_, err := l.client(testCreds, aws.NopRetryer{}).ListDetectors(ctx, &guardduty.ListDetectorsInput{})
	if code, msg := apiErr(err); code != codeInvalidSig || !strings.HasPrefix(msg, "Signature expired: ") {
		t.Errorf("expired signature: %s %q", code, msg)
	}
	// The SDK's standard retryer corrects its clock from the Date header,
	// as it does against AWS, and the retry succeeds.
	if _, err := l.client(testCreds, retry.NewStandard()).ListDetectors(ctx, &guardduty.ListDetectorsInput{}); err != nil {
		t.Errorf("clock skew correction: %v", err)
	}
}
