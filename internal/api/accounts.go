package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"picket/internal/finding"
	"picket/internal/store"
)

// accountRoutes are the operations on the accounts a detector speaks
// for: members, administrator and organization. Membership follows the
// logs picket reads (see scope.go): the read operations report it, and
// the operations that would change it answer, account by account in
// unprocessedAccounts, why they cannot. The operations without
// unprocessedAccounts that would change it (accepting invitations,
// leaving the administrator, choosing the organization's administrator,
// updating the organization's configuration) are not served here.
var accountRoutes = []route{
	{"GET", p("detector", "{}", "member"), "ListMembers", (*Handler).listMembers, http.StatusOK},
	{"POST", p("detector", "{}", "member", "get"), "GetMembers", (*Handler).getMembers, http.StatusOK},
	{"POST", p("detector", "{}", "member", "detector", "get"), "GetMemberDetectors", (*Handler).getMemberDetectors, http.StatusOK},
	{"GET", p("detector", "{}", "administrator"), "GetAdministratorAccount", (*Handler).getAdministratorAccount, http.StatusOK},
	{"GET", p("detector", "{}", "master"), "GetMasterAccount", (*Handler).getMasterAccount, http.StatusOK},
	{"GET", p("detector", "{}", "admin"), "DescribeOrganizationConfiguration", (*Handler).describeOrganizationConfiguration, http.StatusOK},
	{"GET", p("admin"), "ListOrganizationAdminAccounts", (*Handler).listOrganizationAdminAccounts, http.StatusOK},
	{"GET", p("organization", "statistics"), "GetOrganizationStatistics", (*Handler).getOrganizationStatistics, http.StatusOK},
	{"GET", p("invitation"), "ListInvitations", (*Handler).listInvitations, http.StatusOK},
	{"GET", p("invitation", "count"), "GetInvitationsCount", (*Handler).getInvitationsCount, http.StatusOK},

	{"POST", p("detector", "{}", "member"), "CreateMembers", (*Handler).createMembers, http.StatusOK},
	{"POST", p("detector", "{}", "member", "invite"), "InviteMembers", (*Handler).inviteMembers, http.StatusOK},
	{"POST", p("detector", "{}", "member", "start"), "StartMonitoringMembers", (*Handler).startMonitoringMembers, http.StatusOK},
	{"POST", p("detector", "{}", "member", "stop"), "StopMonitoringMembers", (*Handler).keepMembers, http.StatusOK},
	{"POST", p("detector", "{}", "member", "disassociate"), "DisassociateMembers", (*Handler).keepMembers, http.StatusOK},
	{"POST", p("detector", "{}", "member", "delete"), "DeleteMembers", (*Handler).keepMembers, http.StatusOK},
	{"POST", p("detector", "{}", "member", "detector", "update"), "UpdateMemberDetectors", (*Handler).updateMemberDetectors, http.StatusOK},
	{"POST", p("invitation", "decline"), "DeclineInvitations", (*Handler).noInvitations, http.StatusOK},
	{"POST", p("invitation", "delete"), "DeleteInvitations", (*Handler).noInvitations, http.StatusOK},
}

// relationshipEnabled is the relationship of every member with its
// administrator: its findings reach the administrator.
const relationshipEnabled = "Enabled"

// memberEmail stands for the member's email address, which the model
// requires and picket does not know.
const memberEmail = "unknown"

// The results of accounts an operation did not process.
const (
	resultNotMember = "The account is not a member: picket makes an account a member of the administrator when its logs " +
		"arrive in the region, and keeps it a member while its detector there exists."
	resultAdministrator = "The account is the administrator."
	resultNotAdmin      = "The current account is not the administrator: only the administrator has members."
	resultKeep          = "picket keeps an account a member of the administrator while the account has a detector in the region, " +
		"so that every finding reaches the administrator; a member's findings are removed with its detector (DeleteDetector with the member's key)."
	resultMemberDetector = "picket does not change a member's detector from the administrator: update it with the member's key (UpdateDetector)."
	resultNoInvitation   = "There is no invitation: picket makes an account a member when its logs arrive, without invitations."
)

type memberOutput struct {
	AccountID          string `json:"accountId"`
	AdministratorID    string `json:"administratorId"`
	DetectorID         string `json:"detectorId"`
	Email              string `json:"email"`
	InvitedAt          string `json:"invitedAt"`
	MasterID           string `json:"masterId"`
	RelationshipStatus string `json:"relationshipStatus"`
	UpdatedAt          string `json:"updatedAt"`
}

type unprocessedAccount struct {
	AccountID string `json:"accountId"`
	Result    string `json:"result"`
}

type unprocessedOutput struct {
	UnprocessedAccounts []unprocessedAccount `json:"unprocessedAccounts"`
}

func (h *Handler) memberOf(d *store.Detector) memberOutput {
	return memberOutput{
		AccountID: d.Account, AdministratorID: h.account, MasterID: h.account, DetectorID: d.ID, Email: memberEmail,
		InvitedAt: d.CreatedAt.UTC().Format(finding.TimeFormat), UpdatedAt: d.UpdatedAt.UTC().Format(finding.TimeFormat),
		RelationshipStatus: relationshipEnabled,
	}
}

// callerMembers returns the members of the caller's detector (the
// request's first label): none unless the caller is the administrator.
func (h *Handler) callerMembers(rq *request) (*store.Detector, []*store.Detector, error) {
	d, err := h.detector(rq)
	if err != nil {
		return nil, nil, err
	}
	if !h.administrator(rq.caller) {
		return d, nil, nil
	}
	ms, err := h.members(rq.ctx, d.Region)
	return d, ms, err
}

// listMembers lists the administrator's members by account, a page at a
// time; every member is associated, so onlyAssociated changes nothing.
func (h *Handler) listMembers(rq *request) (any, error) {
	if vs, ok := rq.query["onlyAssociated"]; ok {
		if len(vs) != 1 {
			return nil, invalidParam("onlyAssociated", errors.New("given more than once"))
		}
		if err := enum("onlyAssociated", strings.ToLower(vs[0]), "true", "false"); err != nil {
			return nil, err
		}
	}
	d, ms, err := h.callerMembers(rq)
	if err != nil {
		return nil, err
	}
	pg, err := h.pageOf(rq, "ListMembers", d.ID, 50)
	if err != nil {
		return nil, err
	}
	start, _ := slices.BinarySearchFunc(ms, pg.Cursor, func(m *store.Detector, after string) int {
		if m.Account <= after {
			return -1
		}
		return 1
	})
	ms = ms[start:]
	next := ""
	if len(ms) > pg.Limit {
		ms = ms[:pg.Limit]
		next = ms[len(ms)-1].Account
	}
	out := struct {
		Members   []memberOutput `json:"members"`
		NextToken string         `json:"nextToken,omitempty"`
	}{Members: []memberOutput{}, NextToken: h.next("ListMembers", d.ID, next)}
	for _, m := range ms {
		out.Members = append(out.Members, h.memberOf(m))
	}
	return out, nil
}

type accountIDsInput struct {
	AccountIDs *[]string `json:"accountIds"`
}

// accountIDs validates an accountIds member: required, 1 to 50 IDs of 12
// digits. Duplicates are dropped.
func accountIDs(ids *[]string) ([]string, error) {
	if ids == nil {
		return nil, required("accountIds")
	}
	if err := count("accountIds", len(*ids), 1, 50); err != nil {
		return nil, err
	}
	var out []string
	for _, id := range *ids {
		if !validAccount(id) {
			return nil, invalidParam("accountIds", fmt.Errorf("%q is not 12 digits", truncate(id, 64)))
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

// requestedAccounts reads a request that names accounts (accountIds and
// nothing else) and returns them checked, without repeats.
func requestedAccounts(rq *request) ([]string, error) {
	var in accountIDsInput
	if err := decodeBody(rq.body, &in); err != nil {
		return nil, err
	}
	return accountIDs(in.AccountIDs)
}

// requestedMembers reads a request that names accounts and looks them
// up among the caller's members (see sortMembers).
func (h *Handler) requestedMembers(rq *request) (ids []string, found []*store.Detector, unprocessed []unprocessedAccount, err error) {
	if ids, err = requestedAccounts(rq); err != nil {
		return nil, nil, nil, err
	}
	found, unprocessed, err = h.sortMembers(rq, ids)
	return ids, found, unprocessed, err
}

// sortMembers looks up accounts among the caller's members: the members
// found, in the order asked, and why each other account was not.
func (h *Handler) sortMembers(rq *request, ids []string) ([]*store.Detector, []unprocessedAccount, error) {
	d, ms, err := h.callerMembers(rq)
	if err != nil {
		return nil, nil, err
	}
	found := []*store.Detector{}
	unprocessed := []unprocessedAccount{}
	for _, id := range ids {
		i := slices.IndexFunc(ms, func(m *store.Detector) bool { return m.Account == id })
		switch {
		case i >= 0:
			found = append(found, ms[i])
		case !h.administrator(rq.caller):
			unprocessed = append(unprocessed, unprocessedAccount{id, resultNotAdmin})
		case id == d.Account:
			unprocessed = append(unprocessed, unprocessedAccount{id, resultAdministrator})
		default:
			unprocessed = append(unprocessed, unprocessedAccount{id, resultNotMember})
		}
	}
	return found, unprocessed, nil
}

func (h *Handler) getMembers(rq *request) (any, error) {
	_, found, unprocessed, err := h.requestedMembers(rq)
	if err != nil {
		return nil, err
	}
	out := struct {
		Members             []memberOutput       `json:"members"`
		UnprocessedAccounts []unprocessedAccount `json:"unprocessedAccounts"`
	}{Members: []memberOutput{}, UnprocessedAccounts: unprocessed}
	for _, m := range found {
		out.Members = append(out.Members, h.memberOf(m))
	}
	return out, nil
}

type memberDetectorOutput struct {
	AccountID   string            `json:"accountId"`
	DataSources dataSourcesResult `json:"dataSources"`
	Features    []featureResult   `json:"features"`
}

// getMemberDetectors reports the data sources and features of members'
// detectors, as GetDetector reports them to the member: enabled only
// where picket reads the data.
func (h *Handler) getMemberDetectors(rq *request) (any, error) {
	_, found, unprocessed, err := h.requestedMembers(rq)
	if err != nil {
		return nil, err
	}
	out := struct {
		Members             []memberDetectorOutput `json:"members"`
		UnprocessedAccounts []unprocessedAccount   `json:"unprocessedAccounts"`
	}{Members: []memberDetectorOutput{}, UnprocessedAccounts: unprocessed}
	for _, m := range found {
		ds, fs := detectorSources(m)
		as := asRead(detectorOutput{DataSources: ds, Features: fs})
		if as.Features == nil {
			as.Features = []featureResult{}
		}
		out.Members = append(out.Members, memberDetectorOutput{AccountID: m.Account, DataSources: as.DataSources, Features: as.Features})
	}
	return out, nil
}

// administratorOutput is the Administrator (and Master) of a member; the
// administrator itself has none, and gets an empty object.
type administratorOutput struct {
	AccountID          string `json:"accountId,omitempty"`
	InvitedAt          string `json:"invitedAt,omitempty"`
	RelationshipStatus string `json:"relationshipStatus,omitempty"`
}

func (h *Handler) administratorOf(rq *request) (administratorOutput, error) {
	d, err := h.detector(rq)
	if err != nil {
		return administratorOutput{}, err
	}
	if h.administrator(rq.caller) {
		return administratorOutput{}, nil
	}
	return administratorOutput{AccountID: h.account, RelationshipStatus: relationshipEnabled,
		InvitedAt: d.CreatedAt.UTC().Format(finding.TimeFormat)}, nil
}

func (h *Handler) getAdministratorAccount(rq *request) (any, error) {
	a, err := h.administratorOf(rq)
	if err != nil {
		return nil, err
	}
	return struct {
		Administrator administratorOutput `json:"administrator"`
	}{a}, nil
}

func (h *Handler) getMasterAccount(rq *request) (any, error) {
	a, err := h.administratorOf(rq)
	if err != nil {
		return nil, err
	}
	return struct {
		Master administratorOutput `json:"master"`
	}{a}, nil
}

type autoEnableFlag struct {
	AutoEnable bool `json:"autoEnable"`
}

type orgFeatureOutput struct {
	Name       string `json:"name"`
	AutoEnable string `json:"autoEnable"`
}

// describeOrganizationConfiguration answers how accounts join: every
// account whose logs arrive becomes a member at once (ALL), and its
// detector starts with the optional features off (NONE), as ingest
// creates it. Members' detectors are reported to any caller, not only
// the administrator: nothing in them is secret from a member.
func (h *Handler) describeOrganizationConfiguration(rq *request) (any, error) {
	d, err := h.detector(rq)
	if err != nil {
		return nil, err
	}
	if _, err := h.pageOf(rq, "DescribeOrganizationConfiguration", d.ID, 50); err != nil {
		return nil, err
	}
	type dataSources struct {
		S3Logs     autoEnableFlag `json:"s3Logs"`
		Kubernetes struct {
			AuditLogs autoEnableFlag `json:"auditLogs"`
		} `json:"kubernetes"`
		MalwareProtection struct {
			ScanEc2InstanceWithFindings struct {
				EbsVolumes autoEnableFlag `json:"ebsVolumes"`
			} `json:"scanEc2InstanceWithFindings"`
		} `json:"malwareProtection"`
	}
	out := struct {
		AutoEnable                    bool               `json:"autoEnable"`
		AutoEnableOrganizationMembers string             `json:"autoEnableOrganizationMembers"`
		MemberAccountLimitReached     bool               `json:"memberAccountLimitReached"`
		DataSources                   dataSources        `json:"dataSources"`
		Features                      []orgFeatureOutput `json:"features"`
	}{AutoEnable: true, AutoEnableOrganizationMembers: "ALL"}
	for _, name := range optionalFeatures {
		out.Features = append(out.Features, orgFeatureOutput{Name: name, AutoEnable: "NONE"})
	}
	return out, nil
}

// listOrganizationAdminAccounts names the one administrator.
func (h *Handler) listOrganizationAdminAccounts(rq *request) (any, error) {
	if _, err := h.pageOf(rq, "ListOrganizationAdminAccounts", "", 50); err != nil {
		return nil, err
	}
	type adminAccount struct {
		AdminAccountID string `json:"adminAccountId"`
		AdminStatus    string `json:"adminStatus"`
	}
	return struct {
		AdminAccounts []adminAccount `json:"adminAccounts"`
	}{[]adminAccount{{h.account, enabled}}}, nil
}

// getOrganizationStatistics counts the accounts of the caller's region:
// the administrator and its members, and the members whose detector is
// enabled.
func (h *Handler) getOrganizationStatistics(rq *request) (any, error) {
	ms, err := h.members(rq.ctx, rq.caller.Region)
	if err != nil {
		return nil, err
	}
	type stats struct {
		TotalAccountsCount   int        `json:"totalAccountsCount"`
		MemberAccountsCount  int        `json:"memberAccountsCount"`
		ActiveAccountsCount  int        `json:"activeAccountsCount"`
		EnabledAccountsCount int        `json:"enabledAccountsCount"`
		CountByFeature       []struct{} `json:"countByFeature"`
	}
	st := stats{TotalAccountsCount: len(ms) + 1, MemberAccountsCount: len(ms), ActiveAccountsCount: len(ms) + 1, CountByFeature: []struct{}{}}
	for _, m := range ms {
		if m.Enabled {
			st.EnabledAccountsCount++
		}
	}
	type details struct {
		UpdatedAt              epochSeconds `json:"updatedAt"`
		OrganizationStatistics stats        `json:"organizationStatistics"`
	}
	return struct {
		OrganizationDetails details `json:"organizationDetails"`
	}{details{epochSeconds(h.now()), st}}, nil
}

// listInvitations lists none: accounts join without invitations.
func (h *Handler) listInvitations(rq *request) (any, error) {
	if _, err := h.pageOf(rq, "ListInvitations", "", 50); err != nil {
		return nil, err
	}
	return struct {
		Invitations []struct{} `json:"invitations"`
	}{[]struct{}{}}, nil
}

func (h *Handler) getInvitationsCount(*request) (any, error) {
	return struct {
		InvitationsCount int `json:"invitationsCount"`
	}{0}, nil
}

type createMembersInput struct {
	AccountDetails *[]struct {
		AccountID *string `json:"accountId"`
		Email     *string `json:"email"`
	} `json:"accountDetails"`
}

// createMembers succeeds for accounts that are members already and
// reports the others, which become members when their logs arrive.
func (h *Handler) createMembers(rq *request) (any, error) {
	var in createMembersInput
	if err := decodeBody(rq.body, &in); err != nil {
		return nil, err
	}
	if in.AccountDetails == nil {
		return nil, required("accountDetails")
	}
	var ids []string
	for _, a := range *in.AccountDetails {
		if a.AccountID == nil {
			return nil, required("accountDetails.accountId")
		}
		if a.Email == nil {
			return nil, required("accountDetails.email")
		}
		if err := length("accountDetails.email", *a.Email, 1, 64); err != nil {
			return nil, err
		}
		ids = append(ids, *a.AccountID)
	}
	ids, err := accountIDs(&ids)
	if err != nil {
		return nil, err
	}
	return h.alreadyMembers(rq, ids)
}

type inviteMembersInput struct {
	AccountIDs               *[]string `json:"accountIds"`
	DisableEmailNotification *bool     `json:"disableEmailNotification"`
	Message                  *string   `json:"message"`
}

func (h *Handler) inviteMembers(rq *request) (any, error) {
	var in inviteMembersInput
	if err := decodeBody(rq.body, &in); err != nil {
		return nil, err
	}
	ids, err := accountIDs(in.AccountIDs)
	if err != nil {
		return nil, err
	}
	return h.alreadyMembers(rq, ids)
}

func (h *Handler) startMonitoringMembers(rq *request) (any, error) {
	ids, err := requestedAccounts(rq)
	if err != nil {
		return nil, err
	}
	return h.alreadyMembers(rq, ids)
}

// alreadyMembers answers an operation that asks for accounts to be
// monitored members: done for the members, unprocessed for the others.
func (h *Handler) alreadyMembers(rq *request, ids []string) (any, error) {
	_, unprocessed, err := h.sortMembers(rq, ids)
	if err != nil {
		return nil, err
	}
	return unprocessedOutput{unprocessed}, nil
}

// keepMembers answers the operations that would remove members or stop
// monitoring them (StopMonitoringMembers, DisassociateMembers,
// DeleteMembers): each account is unprocessed, saying why.
func (h *Handler) keepMembers(rq *request) (any, error) {
	ids, found, unprocessed, err := h.requestedMembers(rq)
	if err != nil {
		return nil, err
	}
	for _, m := range found {
		unprocessed = append(unprocessed, unprocessedAccount{m.Account, resultKeep})
	}
	return unprocessedOutput{inRequestOrder(unprocessed, ids)}, nil
}

type updateMemberDetectorsInput struct {
	AccountIDs  *[]string       `json:"accountIds"`
	DataSources *dataSources    `json:"dataSources"`
	Features    []featureConfig `json:"features"`
}

func (h *Handler) updateMemberDetectors(rq *request) (any, error) {
	var in updateMemberDetectorsInput
	if err := decodeBody(rq.body, &in); err != nil {
		return nil, err
	}
	ids, err := accountIDs(in.AccountIDs)
	if err != nil {
		return nil, err
	}
	// The request must still be one GuardDuty would take.
	if err := applyFeatures(defaultFeatures(h.now()), in.Features, in.DataSources, h.now()); err != nil {
		return nil, err
	}
	found, unprocessed, err := h.sortMembers(rq, ids)
	if err != nil {
		return nil, err
	}
	for _, m := range found {
		unprocessed = append(unprocessed, unprocessedAccount{m.Account, resultMemberDetector})
	}
	return unprocessedOutput{inRequestOrder(unprocessed, ids)}, nil
}

// noInvitations answers DeclineInvitations and DeleteInvitations: there
// is no invitation from any account.
func (h *Handler) noInvitations(rq *request) (any, error) {
	ids, err := requestedAccounts(rq)
	if err != nil {
		return nil, err
	}
	out := unprocessedOutput{[]unprocessedAccount{}}
	for _, id := range ids {
		out.UnprocessedAccounts = append(out.UnprocessedAccounts, unprocessedAccount{id, resultNoInvitation})
	}
	return out, nil
}

// inRequestOrder puts unprocessed accounts in the order the request named them.
func inRequestOrder(us []unprocessedAccount, ids []string) []unprocessedAccount {
	slices.SortStableFunc(us, func(a, b unprocessedAccount) int {
		return slices.Index(ids, a.AccountID) - slices.Index(ids, b.AccountID)
	})
	return us
}
