//lint:file-ignore SA1019 the deprecated dataSources and GetMasterAccount are served, and tested, on purpose

package api

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	gd "github.com/aws/aws-sdk-go-v2/service/guardduty/types"
	"github.com/google/go-cmp/cmp"

	"picket/internal/finding"
	"picket/internal/store"
)

// The accounts of the organization tests: the API's account (the
// administrator, the default) and two members whose logs arrived.
const (
	adminAccount  = "000000000000"
	memberA       = testAccount
	memberB       = "210987654321"
	adminKeyID    = "AKIDPICKETADMIN"
	memberBKeyID  = "AKIDPICKETMEMBERB"
	adminSecret   = "adminsecretadminsecretadminsecret"
	memberBSecret = "memberbsecretmemberbsecretmemberb"
)

var (
	adminCreds   = aws.Credentials{AccessKeyID: adminKeyID, SecretAccessKey: adminSecret}
	memberBCreds = aws.Credentials{AccessKeyID: memberBKeyID, SecretAccessKey: memberBSecret}
)

// org is a handler over SQLite behind an HTTP server with a key for the
// administrator (naming no account) and one for each member.
type org struct {
	h     *Handler
	store Store
	url   string
}

func newOrg(t testing.TB) *org {
	t.Helper()
	o := &org{store: newSQLite(t)}
	f := newFixture(t, o.store, func(c *Config) {
		c.Clock = time.Now
		c.Credentials = StaticCredentials(
			Credential{AccessKeyID: adminKeyID, Secret: adminSecret},
			Credential{AccessKeyID: testKeyID, Secret: testSecret, Account: memberA},
			Credential{AccessKeyID: memberBKeyID, Secret: memberBSecret, Account: memberB},
		)
	})
	o.h = f.h
	srv := httptest.NewServer(o.h)
	t.Cleanup(srv.Close)
	o.url = srv.URL
	return o
}

func (o *org) client(creds aws.Credentials) *guardduty.Client {
	return guardduty.New(guardduty.Options{
		BaseEndpoint: aws.String(o.url),
		Region:       testRegion,
		Credentials:  aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil }),
		Retryer:      aws.NopRetryer{},
	})
}

// arrive files findings of an account as ingest does: under the
// account's detector in the region, created on first use.
func (o *org) arrive(t testing.TB, account string, n int, start time.Time) []*finding.Finding {
	t.Helper()
	ctx := context.Background()
	det := finding.DetectorID(account, testRegion)
	if _, err := o.store.DetectorFor(ctx, account, testRegion); err != nil {
		now := time.Now().UTC()
		if err := o.store.CreateDetector(ctx, &store.Detector{ID: det, Account: account, Region: testRegion, Enabled: true,
			FindingPublishingFrequency: "SIX_HOURS", CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	fs := accountFindings(account, det, "i-", n, start)
	if err := o.store.Commit(ctx, store.Batch{Findings: fs}); err != nil {
		t.Fatal(err)
	}
	return fs
}

// accountFindings makes n findings of an account: three severities, a
// resource each (named with prefix), a minute apart.
func accountFindings(account, det, prefix string, n int, start time.Time) []*finding.Finding {
	types := []string{finding.TypePortscan, finding.TypePortProbeUnprotectedPort, finding.TypeSSHBruteForce}
	sevs := []finding.Severity{2, 5, 8}
	var out []*finding.Finding
	for i := range n {
		at := start.Add(time.Duration(i) * time.Minute)
		res := fmt.Sprintf("%s%s%05d", prefix, account, i)
		f := finding.New(types[i%3], finding.Key{Account: account, Region: testRegion, Resource: res, Role: finding.RoleTarget},
			det, at.Add(-time.Hour), at, int64(i+1))
		f.Severity = sevs[(i/2)%3]
		f.Title = fmt.Sprintf("finding %d of %s", i, account)
		f.Resource.InstanceDetails = &finding.InstanceDetails{InstanceID: res}
		out = append(out, f)
	}
	return out
}

// listAll pages through ListFindings.
func listAll(t *testing.T, c *guardduty.Client, in *guardduty.ListFindingsInput, between func(page int)) []string {
	t.Helper()
	var got []string
	p := guardduty.NewListFindingsPaginator(c, in)
	for page := 0; p.HasMorePages(); page++ {
		out, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatalf("ListFindings page %d: %v", page, err)
		}
		got = append(got, out.FindingIds...)
		if between != nil {
			between(page)
		}
		if page > 1000 {
			t.Fatalf("ListFindings: more than %d pages", page)
		}
	}
	return got
}

// wantOrder is the order of findings a listing sorted by s gives: by
// store.Sort.Less, ties by ID in the same direction.
func wantOrder(fs []*finding.Finding, s store.Sort) []string {
	fs = slices.Clone(fs)
	slices.SortStableFunc(fs, func(a, b *finding.Finding) int {
		if s.Attribute != "" {
			va, vb := store.Values(a), store.Values(b)
			switch {
			case s.Less(va, vb):
				return -1
			case s.Less(vb, va):
				return 1
			}
		}
		c := strings.Compare(a.ID, b.ID)
		if s.Desc {
			c = -c
		}
		return c
	})
	ids := make([]string, len(fs))
	for i, f := range fs {
		ids[i] = f.ID
	}
	return ids
}

// TestAdministrator: with default settings the API's account is the
// administrator of every account whose logs arrive; its detector, created
// when it first lists detectors, shows every member's findings under
// their own accountId, through every findings operation.
func TestAdministrator(t *testing.T) {
	o := newOrg(t)
	ctx := t.Context()
	admin := o.client(adminCreds)

	ld, err := admin.ListDetectors(ctx, &guardduty.ListDetectorsInput{})
	if err != nil || len(ld.DetectorIds) != 0 {
		t.Fatalf("ListDetectors before any logs: %v %v", ld, err)
	}
	start := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	fa := o.arrive(t, memberA, 23, start)
	fb := o.arrive(t, memberB, 17, start.Add(30*time.Second))
	all := append(slices.Clone(fa), fb...)

	ld, err = admin.ListDetectors(ctx, &guardduty.ListDetectorsInput{})
	if err != nil || !slices.Equal(ld.DetectorIds, []string{finding.DetectorID(adminAccount, testRegion)}) {
		t.Fatalf("ListDetectors of the administrator: %v %v", ld, err)
	}
	det := ld.DetectorIds[0]
	if _, err := admin.GetDetector(ctx, &guardduty.GetDetectorInput{DetectorId: &det}); err != nil {
		t.Fatalf("GetDetector: %v", err)
	}

	for _, s := range []store.Sort{{}, {Attribute: "severity", Desc: true}, {Attribute: "updatedAt"}, {Attribute: "accountId", Desc: true}} {
		t.Run(fmt.Sprintf("ListFindings sorted by %q desc=%t", s.Attribute, s.Desc), func(t *testing.T) {
			in := &guardduty.ListFindingsInput{DetectorId: &det, MaxResults: aws.Int32(6)}
			if s.Attribute != "" {
				in.SortCriteria = &gd.SortCriteria{AttributeName: aws.String(s.Attribute), OrderBy: gd.OrderByAsc}
				if s.Desc {
					in.SortCriteria.OrderBy = gd.OrderByDesc
				}
			}
			got := listAll(t, admin, in, nil)
			if diff := cmp.Diff(wantOrder(all, s), got); diff != "" {
				t.Errorf("IDs (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("ListFindings tokens", func(t *testing.T) {
		page, err := admin.ListFindings(ctx, &guardduty.ListFindingsInput{DetectorId: &det, MaxResults: aws.Int32(3)})
		if err != nil || page.NextToken == nil {
			t.Fatalf("first page: %v %v", page, err)
		}
		tok := []byte(*page.NextToken)
		tok[len(tok)/2] ^= 1
		_, err = admin.ListFindings(ctx, &guardduty.ListFindingsInput{DetectorId: &det, MaxResults: aws.Int32(3), NextToken: aws.String(string(tok))})
		wantErr(t, "tampered token", err, "BadRequestException", msgToken)
		_, err = admin.ListFindings(ctx, &guardduty.ListFindingsInput{DetectorId: &det, NextToken: page.NextToken,
			SortCriteria: &gd.SortCriteria{AttributeName: aws.String("severity")}})
		wantErr(t, "token of another sort", err, "BadRequestException", msgToken)
	})

	t.Run("ListFindings with criteria", func(t *testing.T) {
		got := listAll(t, admin, &guardduty.ListFindingsInput{DetectorId: &det, MaxResults: aws.Int32(4),
			FindingCriteria: &gd.FindingCriteria{Criterion: map[string]gd.Condition{"severity": {GreaterThanOrEqual: aws.Int64(8)}}}}, nil)
		var want []*finding.Finding
		for _, f := range all {
			if f.Severity >= 8 {
				want = append(want, f)
			}
		}
		if diff := cmp.Diff(wantOrder(want, store.Sort{}), got); diff != "" {
			t.Errorf("IDs (-want +got):\n%s", diff)
		}
	})

	t.Run("findings committed between pages", func(t *testing.T) {
		// New findings of both members and of a third account that
		// becomes a member while the listing runs: none of the findings
		// there at the start is skipped, none is listed twice.
		var late []*finding.Finding
		got := listAll(t, admin, &guardduty.ListFindingsInput{DetectorId: &det, MaxResults: aws.Int32(5),
			SortCriteria: &gd.SortCriteria{AttributeName: aws.String("severity"), OrderBy: gd.OrderByDesc}}, func(page int) {
			if page < 3 {
				acct := []string{memberA, memberB, "333333333333"}[page]
				det := finding.DetectorID(acct, testRegion)
				fs := accountFindings(acct, det, "i-late", 2, start.Add(time.Duration(100+page)*time.Hour))
				o.arrive(t, acct, 0, start) // the account's detector
				if err := o.store.Commit(ctx, store.Batch{Findings: fs}); err != nil {
					t.Fatal(err)
				}
				late = append(late, fs...)
			}
		})
		seen := map[string]int{}
		for _, id := range got {
			seen[id]++
		}
		for id, n := range seen {
			if n > 1 {
				t.Errorf("finding %s listed %d times", id, n)
			}
		}
		for _, f := range all {
			if seen[f.ID] != 1 {
				t.Errorf("finding %s of %s listed %d times", f.ID, f.AccountID, seen[f.ID])
			}
		}
		all = append(all, late...)
	})

	t.Run("GetFindings", func(t *testing.T) {
		ids := []string{fb[0].ID, fa[0].ID, fb[1].ID, "0123456789abcdef0123456789abcdef"}
		out, err := admin.GetFindings(ctx, &guardduty.GetFindingsInput{DetectorId: &det, FindingIds: ids})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range out.Findings {
			got = append(got, aws.ToString(f.Id)+" "+aws.ToString(f.AccountId))
		}
		want := []string{fb[0].ID + " " + memberB, fa[0].ID + " " + memberA, fb[1].ID + " " + memberB}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("findings (-want +got):\n%s", diff)
		}
	})

	t.Run("GetFindingsStatistics", func(t *testing.T) {
		out, err := admin.GetFindingsStatistics(ctx, &guardduty.GetFindingsStatisticsInput{DetectorId: &det, GroupBy: gd.GroupByTypeAccount})
		if err != nil {
			t.Fatal(err)
		}
		counts := map[string]int{}
		for _, f := range all {
			counts[f.AccountID]++
		}
		got := map[string]int{}
		for _, g := range out.FindingStatistics.GroupedByAccount {
			got[aws.ToString(g.AccountId)] = int(aws.ToInt32(g.TotalFindings))
		}
		if diff := cmp.Diff(counts, got); diff != "" {
			t.Errorf("grouped by account (-want +got):\n%s", diff)
		}
		bySev, err := admin.GetFindingsStatistics(ctx, &guardduty.GetFindingsStatisticsInput{DetectorId: &det,
			FindingStatisticTypes: []gd.FindingStatisticType{gd.FindingStatisticTypeCountBySeverity}}) //nolint:staticcheck // the deprecated COUNT_BY_SEVERITY is served on purpose
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, c := range bySev.FindingStatistics.CountBySeverity { //nolint:staticcheck // as above
			n += int(c)
		}
		if n != len(all) {
			t.Errorf("COUNT_BY_SEVERITY adds up to %d, want %d", n, len(all))
		}
		sev, err := admin.GetFindingsStatistics(ctx, &guardduty.GetFindingsStatisticsInput{DetectorId: &det, GroupBy: gd.GroupByTypeSeverity, MaxResults: aws.Int32(2)})
		if err != nil || len(sev.FindingStatistics.GroupedBySeverity) != 2 {
			t.Fatalf("grouped by severity, 2 groups: %+v %v", sev, err)
		}
		total := 0
		for _, f := range all {
			if f.Severity == finding.Severity(*sev.FindingStatistics.GroupedBySeverity[0].Severity) {
				total++
			}
		}
		if got := int(aws.ToInt32(sev.FindingStatistics.GroupedBySeverity[0].TotalFindings)); got != total {
			t.Errorf("largest severity group: %d findings, want %d", got, total)
		}
	})

	t.Run("ArchiveFindings and feedback", func(t *testing.T) {
		ids := []string{fa[2].ID, fb[2].ID}
		if _, err := admin.ArchiveFindings(ctx, &guardduty.ArchiveFindingsInput{DetectorId: &det, FindingIds: ids}); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.UpdateFindingsFeedback(ctx, &guardduty.UpdateFindingsFeedbackInput{DetectorId: &det, FindingIds: ids,
			Feedback: gd.FeedbackUseful}); err != nil {
			t.Fatal(err)
		}
		got := listAll(t, admin, &guardduty.ListFindingsInput{DetectorId: &det,
			FindingCriteria: &gd.FindingCriteria{Criterion: map[string]gd.Condition{"service.archived": {Equals: []string{"true"}}}}}, nil)
		if diff := cmp.Diff(sorted(ids), sorted(got)); diff != "" {
			t.Errorf("archived (-want +got):\n%s", diff)
		}
		out, err := admin.GetFindings(ctx, &guardduty.GetFindingsInput{DetectorId: &det, FindingIds: ids})
		if err != nil || len(out.Findings) != 2 {
			t.Fatalf("GetFindings: %v %v", out, err)
		}
		for _, f := range out.Findings {
			if !aws.ToBool(f.Service.Archived) || f.Service.UserFeedback == nil || *f.Service.UserFeedback != "USEFUL" {
				t.Errorf("finding %s: archived %v, feedback %v", *f.Id, f.Service.Archived, f.Service.UserFeedback)
			}
		}
	})

	t.Run("a member key sees its own account only", func(t *testing.T) {
		mb := o.client(memberBCreds)
		ld, err := mb.ListDetectors(ctx, &guardduty.ListDetectorsInput{})
		if err != nil || !slices.Equal(ld.DetectorIds, []string{finding.DetectorID(memberB, testRegion)}) {
			t.Fatalf("ListDetectors: %v %v", ld, err)
		}
		mdet := ld.DetectorIds[0]
		got := listAll(t, mb, &guardduty.ListFindingsInput{DetectorId: &mdet}, nil)
		var want []*finding.Finding
		for _, f := range all {
			if f.AccountID == memberB {
				want = append(want, f)
			}
		}
		if diff := cmp.Diff(wantOrder(want, store.Sort{}), got); diff != "" {
			t.Errorf("IDs (-want +got):\n%s", diff)
		}
		out, err := mb.GetFindings(ctx, &guardduty.GetFindingsInput{DetectorId: &mdet, FindingIds: []string{fa[0].ID, fb[0].ID}})
		if err != nil || len(out.Findings) != 1 || *out.Findings[0].Id != fb[0].ID {
			t.Errorf("GetFindings of another member's finding: %v %v", out, err)
		}
		_, err = mb.ListFindings(ctx, &guardduty.ListFindingsInput{DetectorId: &det})
		wantErr(t, "ListFindings on the administrator's detector", err, "BadRequestException", msgNotOwned)
		_, err = admin.ListFindings(ctx, &guardduty.ListFindingsInput{DetectorId: &mdet})
		wantErr(t, "the administrator's ListFindings on a member's detector", err, "BadRequestException", msgNotOwned)
	})
}

// TestAccountOperations: the members, administrator, invitation and
// organization operations, as the administrator and as members see them.
func TestAccountOperations(t *testing.T) {
	o := newOrg(t)
	ctx := t.Context()
	admin, ma, mb := o.client(adminCreds), o.client(testCreds), o.client(memberBCreds)
	start := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	o.arrive(t, memberB, 1, start)
	o.arrive(t, memberA, 1, start)
	ld, err := admin.ListDetectors(ctx, &guardduty.ListDetectorsInput{})
	if err != nil || len(ld.DetectorIds) != 1 {
		t.Fatalf("ListDetectors: %v %v", ld, err)
	}
	det := ld.DetectorIds[0]
	detA, detB := finding.DetectorID(memberA, testRegion), finding.DetectorID(memberB, testRegion)

	t.Run("ListMembers", func(t *testing.T) {
		var got []string
		p := guardduty.NewListMembersPaginator(admin, &guardduty.ListMembersInput{DetectorId: &det, MaxResults: aws.Int32(1), OnlyAssociated: aws.String("true")})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range out.Members {
				if aws.ToString(m.AdministratorId) != adminAccount || aws.ToString(m.MasterId) != adminAccount ||
					aws.ToString(m.RelationshipStatus) != "Enabled" || aws.ToString(m.UpdatedAt) == "" {
					t.Errorf("member %+v", m)
				}
				got = append(got, aws.ToString(m.AccountId)+" "+aws.ToString(m.DetectorId))
			}
		}
		want := []string{memberA + " " + detA, memberB + " " + detB}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("members (-want +got):\n%s", diff)
		}
		out, err := ma.ListMembers(ctx, &guardduty.ListMembersInput{DetectorId: &detA})
		if err != nil || len(out.Members) != 0 {
			t.Errorf("a member's ListMembers: %v %v", out, err)
		}
		_, err = admin.ListMembers(ctx, &guardduty.ListMembersInput{DetectorId: &det, OnlyAssociated: aws.String("maybe")})
		wantErr(t, "onlyAssociated=maybe", err, "BadRequestException", "The request is rejected because the parameter onlyAssociated has an invalid value.")
	})

	t.Run("GetMembers", func(t *testing.T) {
		out, err := admin.GetMembers(ctx, &guardduty.GetMembersInput{DetectorId: &det, AccountIds: []string{memberB, "444444444444", adminAccount}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Members) != 1 || aws.ToString(out.Members[0].AccountId) != memberB || aws.ToString(out.Members[0].DetectorId) != detB {
			t.Errorf("members %+v", out.Members)
		}
		var un []string
		for _, u := range out.UnprocessedAccounts {
			un = append(un, aws.ToString(u.AccountId)+": "+aws.ToString(u.Result))
		}
		if diff := cmp.Diff([]string{"444444444444: " + resultNotMember, adminAccount + ": " + resultAdministrator}, un); diff != "" {
			t.Errorf("unprocessed (-want +got):\n%s", diff)
		}
		_, err = admin.GetMembers(ctx, &guardduty.GetMembersInput{DetectorId: &det, AccountIds: []string{"12345"}})
		wantErr(t, "a malformed account", err, "BadRequestException", "The request is rejected because the parameter accountIds has an invalid value.")
		mo, err := mb.GetMembers(ctx, &guardduty.GetMembersInput{DetectorId: &detB, AccountIds: []string{memberA}})
		if err != nil || len(mo.Members) != 0 || len(mo.UnprocessedAccounts) != 1 || aws.ToString(mo.UnprocessedAccounts[0].Result) != resultNotAdmin {
			t.Errorf("a member's GetMembers: %+v %v", mo, err)
		}
	})

	t.Run("GetMemberDetectors", func(t *testing.T) {
		out, err := admin.GetMemberDetectors(ctx, &guardduty.GetMemberDetectorsInput{DetectorId: &det, AccountIds: []string{memberA, "444444444444"}})
		if err != nil {
			t.Fatal(err)
		}
		//nolint:staticcheck // the deprecated dataSources block is served on purpose
		if len(out.MemberDataSourceConfigurations) != 1 || aws.ToString(out.MemberDataSourceConfigurations[0].AccountId) != memberA ||
			out.MemberDataSourceConfigurations[0].DataSources.FlowLogs.Status != gd.DataSourceStatusEnabled || len(out.UnprocessedAccounts) != 1 {
			t.Errorf("GetMemberDetectors: %+v", out)
		}
	})

	t.Run("GetAdministratorAccount", func(t *testing.T) {
		out, err := mb.GetAdministratorAccount(ctx, &guardduty.GetAdministratorAccountInput{DetectorId: &detB})
		if err != nil || out.Administrator == nil || aws.ToString(out.Administrator.AccountId) != adminAccount ||
			aws.ToString(out.Administrator.RelationshipStatus) != "Enabled" {
			t.Errorf("a member's GetAdministratorAccount: %+v %v", out, err)
		}
		//nolint:staticcheck // the deprecated GetMasterAccount is served on purpose
		mo, err := mb.GetMasterAccount(ctx, &guardduty.GetMasterAccountInput{DetectorId: &detB})
		if err != nil || mo.Master == nil || aws.ToString(mo.Master.AccountId) != adminAccount {
			t.Errorf("a member's GetMasterAccount: %+v %v", mo, err)
		}
		ao, err := admin.GetAdministratorAccount(ctx, &guardduty.GetAdministratorAccountInput{DetectorId: &det})
		if err != nil || ao.Administrator == nil || ao.Administrator.AccountId != nil {
			t.Errorf("the administrator's GetAdministratorAccount: %+v %v", ao, err)
		}
		_, err = mb.GetAdministratorAccount(ctx, &guardduty.GetAdministratorAccountInput{DetectorId: &detA})
		wantErr(t, "another member's detector", err, "BadRequestException", msgNotOwned)
	})

	t.Run("organization", func(t *testing.T) {
		dc, err := admin.DescribeOrganizationConfiguration(ctx, &guardduty.DescribeOrganizationConfigurationInput{DetectorId: &det})
		if err != nil || dc.AutoEnableOrganizationMembers != gd.AutoEnableMembersAll || aws.ToBool(dc.MemberAccountLimitReached) ||
			len(dc.Features) != len(optionalFeatures) || dc.Features[0].AutoEnable != gd.OrgFeatureStatusNone {
			t.Errorf("DescribeOrganizationConfiguration: %+v %v", dc, err)
		}
		la, err := mb.ListOrganizationAdminAccounts(ctx, &guardduty.ListOrganizationAdminAccountsInput{})
		if err != nil || len(la.AdminAccounts) != 1 || aws.ToString(la.AdminAccounts[0].AdminAccountId) != adminAccount ||
			la.AdminAccounts[0].AdminStatus != gd.AdminStatusEnabled {
			t.Errorf("ListOrganizationAdminAccounts: %+v %v", la, err)
		}
		st, err := admin.GetOrganizationStatistics(ctx, &guardduty.GetOrganizationStatisticsInput{})
		if err != nil || st.OrganizationDetails == nil || st.OrganizationDetails.OrganizationStatistics == nil {
			t.Fatalf("GetOrganizationStatistics: %+v %v", st, err)
		}
		if s := st.OrganizationDetails.OrganizationStatistics; aws.ToInt32(s.MemberAccountsCount) != 2 || aws.ToInt32(s.TotalAccountsCount) != 3 ||
			aws.ToInt32(s.EnabledAccountsCount) != 2 {
			t.Errorf("organization statistics %+v", s)
		}
		li, err := ma.ListInvitations(ctx, &guardduty.ListInvitationsInput{})
		if err != nil || len(li.Invitations) != 0 {
			t.Errorf("ListInvitations: %+v %v", li, err)
		}
		ic, err := ma.GetInvitationsCount(ctx, &guardduty.GetInvitationsCountInput{})
		if err != nil || aws.ToInt32(ic.InvitationsCount) != 0 {
			t.Errorf("GetInvitationsCount: %+v %v", ic, err)
		}
	})

	t.Run("changes answer per account", func(t *testing.T) {
		unprocessed := func(us []gd.UnprocessedAccount) []string {
			out := []string{}
			for _, u := range us {
				out = append(out, aws.ToString(u.AccountId)+": "+aws.ToString(u.Result))
			}
			return out
		}
		cm, err := admin.CreateMembers(ctx, &guardduty.CreateMembersInput{DetectorId: &det, AccountDetails: []gd.AccountDetail{
			{AccountId: aws.String(memberA), Email: aws.String("a@example.com")}, {AccountId: aws.String("444444444444"), Email: aws.String("c@example.com")}}})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"444444444444: " + resultNotMember}, unprocessed(cm.UnprocessedAccounts)); diff != "" {
			t.Errorf("CreateMembers (-want +got):\n%s", diff)
		}
		sm, err := admin.StartMonitoringMembers(ctx, &guardduty.StartMonitoringMembersInput{DetectorId: &det, AccountIds: []string{memberA, memberB}})
		if err != nil || len(sm.UnprocessedAccounts) != 0 {
			t.Errorf("StartMonitoringMembers of members: %+v %v", sm, err)
		}
		dm, err := admin.DeleteMembers(ctx, &guardduty.DeleteMembersInput{DetectorId: &det, AccountIds: []string{memberB, "444444444444"}})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{memberB + ": " + resultKeep, "444444444444: " + resultNotMember}, unprocessed(dm.UnprocessedAccounts)); diff != "" {
			t.Errorf("DeleteMembers (-want +got):\n%s", diff)
		}
		um, err := admin.UpdateMemberDetectors(ctx, &guardduty.UpdateMemberDetectorsInput{DetectorId: &det, AccountIds: []string{memberA},
			Features: []gd.MemberFeaturesConfiguration{{Name: gd.OrgFeatureS3DataEvents, Status: gd.FeatureStatusEnabled}}})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{memberA + ": " + resultMemberDetector}, unprocessed(um.UnprocessedAccounts)); diff != "" {
			t.Errorf("UpdateMemberDetectors (-want +got):\n%s", diff)
		}
		di, err := ma.DeclineInvitations(ctx, &guardduty.DeclineInvitationsInput{AccountIds: []string{adminAccount}})
		if err != nil || len(di.UnprocessedAccounts) != 1 {
			t.Errorf("DeclineInvitations: %+v %v", di, err)
		}
		// Membership did not change.
		lm, err := admin.ListMembers(ctx, &guardduty.ListMembersInput{DetectorId: &det})
		if err != nil || len(lm.Members) != 2 {
			t.Errorf("ListMembers after the changes: %+v %v", lm, err)
		}
	})
}

// TestCLIAdministrator: with the AWS CLI, the administrator's key lists
// its detector, every member's findings under their accountId, and its
// members; a member's key names the administrator. It uses operations
// that Debian's awscli (2.9) and current versions both have.
func TestCLIAdministrator(t *testing.T) {
	t.Parallel()
	bin := awsCLI(t)
	o := newOrg(t)
	start := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	all := append(o.arrive(t, memberA, 7, start), o.arrive(t, memberB, 5, start)...)
	dir := t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	env = append(env, "AWS_CONFIG_FILE="+filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=", "AWS_RETRY_MODE=standard")
	admin := &cli{t: t, bin: bin, url: o.url, env: append(slices.Clone(env), "AWS_ACCESS_KEY_ID="+adminKeyID), secret: adminSecret}
	member := &cli{t: t, bin: bin, url: o.url, env: append(slices.Clone(env), "AWS_ACCESS_KEY_ID="+memberBKeyID), secret: memberBSecret}

	var dets struct{ DetectorIds []string }
	admin.run(&dets, "list-detectors")
	if len(dets.DetectorIds) != 1 {
		t.Fatalf("list-detectors: %v", dets.DetectorIds)
	}
	det := dets.DetectorIds[0]
	var lf struct{ FindingIds []string }
	admin.run(&lf, "list-findings", "--detector-id", det, "--page-size", "5", "--sort-criteria", "AttributeName=severity,OrderBy=DESC")
	if diff := cmp.Diff(wantOrder(all, store.Sort{Attribute: "severity", Desc: true}), lf.FindingIds); diff != "" {
		t.Errorf("list-findings (-want +got):\n%s", diff)
	}
	var gf struct {
		Findings []struct{ Id, AccountId string }
	}
	admin.run(&gf, "get-findings", "--detector-id", det, "--finding-ids", all[0].ID, all[len(all)-1].ID)
	if len(gf.Findings) != 2 || gf.Findings[0].AccountId != memberA || gf.Findings[1].AccountId != memberB {
		t.Errorf("get-findings: %+v", gf.Findings)
	}
	var lm struct {
		Members []struct{ AccountId, RelationshipStatus string }
	}
	admin.run(&lm, "list-members", "--detector-id", det)
	if len(lm.Members) != 2 || lm.Members[0].AccountId != memberA || lm.Members[1].RelationshipStatus != "Enabled" {
		t.Errorf("list-members: %+v", lm.Members)
	}
	var ga struct {
		Master struct{ AccountId, RelationshipStatus string }
	}
	member.run(&ga, "get-master-account", "--detector-id", finding.DetectorID(memberB, testRegion))
	if ga.Master.AccountId != adminAccount || ga.Master.RelationshipStatus != "Enabled" {
		t.Errorf("get-master-account: %+v", ga)
	}
	wantCLIError(t, "a member's key on the administrator's detector", member.fail("list-findings", "--detector-id", det),
		"ListFindings", "BadRequestException", msgNotOwned)
}

// TestAdministratorSuppressionRule creates ARCHIVE filters as the
// administrator and as a member: the administrator's archives the
// matching findings of every member in the region, a member's only its
// own.
func TestAdministratorSuppressionRule(t *testing.T) {
	o := newOrg(t)
	ctx := t.Context()
	admin, b := o.client(adminCreds), o.client(memberBCreds)
	start := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	o.arrive(t, memberA, 9, start)
	o.arrive(t, memberB, 9, start)
	ld, err := admin.ListDetectors(ctx, &guardduty.ListDetectorsInput{})
	if err != nil || len(ld.DetectorIds) != 1 {
		t.Fatalf("ListDetectors: %v %v", ld, err)
	}
	det := ld.DetectorIds[0]
	archivedOf := func(account string) int {
		t.Helper()
		ids := listAll(t, admin, &guardduty.ListFindingsInput{DetectorId: &det, FindingCriteria: &gd.FindingCriteria{Criterion: map[string]gd.Condition{
			"accountId":        {Equals: []string{account}},
			"service.archived": {Equals: []string{"true"}},
		}}}, nil)
		return len(ids)
	}

	// A member's rule: its own brute force findings only.
	bDet := finding.DetectorID(memberB, testRegion)
	if _, err := b.CreateFilter(ctx, &guardduty.CreateFilterInput{DetectorId: &bDet, Name: aws.String("b-brute"), Action: gd.FilterActionArchive,
		FindingCriteria: &gd.FindingCriteria{Criterion: map[string]gd.Condition{"type": {Equals: []string{finding.TypeSSHBruteForce}}}}}); err != nil {
		t.Fatal(err)
	}
	if a, bn := archivedOf(memberA), archivedOf(memberB); a != 0 || bn != 3 {
		t.Errorf("after the member's rule: %d of A's and %d of B's findings archived, want 0 and 3", a, bn)
	}

	// The administrator's rule: port scans of every member.
	if _, err := admin.CreateFilter(ctx, &guardduty.CreateFilterInput{DetectorId: &det, Name: aws.String("scans"), Action: gd.FilterActionArchive,
		FindingCriteria: &gd.FindingCriteria{Criterion: map[string]gd.Condition{"type": {Equals: []string{finding.TypePortscan}}}}}); err != nil {
		t.Fatal(err)
	}
	if a, bn := archivedOf(memberA), archivedOf(memberB); a != 3 || bn != 6 {
		t.Errorf("after the administrator's rule: %d of A's and %d of B's findings archived, want 3 and 6", a, bn)
	}
}
