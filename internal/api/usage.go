package api

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"picket/internal/finding"
	"picket/internal/store"
)

// DefaultSilentAfter is how far a resource's last record may trail the
// newest record picket read before coverage calls it silent: flow logs
// arrive in windows of up to 10 minutes and may be 10 more late, so an
// hour without a record from a resource while others send means its logs
// stopped (or it stopped talking).
const DefaultSilentAfter = time.Hour

// UsageFunc returns what ingest has read and committed: records and bytes
// by data source, account, region and resource (see store.Usage). It is
// called on request goroutines and must be safe for concurrent use.
type UsageFunc func() []store.Usage

// usageFor returns the usage rows an operation on the caller's detector
// d covers: those of d's account and region, and for the administrator
// those of every account in the region, since each account whose logs
// arrive is its member (see scope).
func (h *Handler) usageFor(rq *request, d *store.Detector) []store.Usage {
	if h.usage == nil {
		return nil
	}
	all := h.administrator(rq.caller)
	var out []store.Usage
	for _, u := range h.usage() {
		if u.Region == d.Region && (all || u.Account == d.Account) {
			out = append(out, u)
		}
	}
	return out
}

// Coverage.

// Coverage resource types: GuardDuty's EC2 for an interface that sends
// flow logs, and picket's ACCOUNT for an account that sends CloudTrail.
const (
	coverageEC2     = "EC2"
	coverageAccount = "ACCOUNT"
	healthy         = "HEALTHY"
	unhealthy       = "UNHEALTHY"
)

type coverageCondition struct {
	Equals    []string `json:"equals"`
	NotEquals []string `json:"notEquals"`
}

type coverageCriteria struct {
	FilterCriterion []struct {
		CriterionKey    *string            `json:"criterionKey"`
		FilterCondition *coverageCondition `json:"filterCondition"`
	} `json:"filterCriterion"`
}

var coverageKeys = []string{"ACCOUNT_ID", "CLUSTER_NAME", "RESOURCE_TYPE", "COVERAGE_STATUS", "ADDON_VERSION",
	"MANAGEMENT_TYPE", "EKS_CLUSTER_NAME", "ECS_CLUSTER_NAME", "AGENT_VERSION", "INSTANCE_ID", "CLUSTER_ARN"}

type coverageResource struct {
	AccountID       string          `json:"accountId"`
	CoverageStatus  string          `json:"coverageStatus"`
	DetectorID      string          `json:"detectorId"`
	Issue           string          `json:"issue,omitempty"`
	ResourceDetails coverageDetails `json:"resourceDetails"`
	ResourceID      string          `json:"resourceId"`
	UpdatedAt       epochSeconds    `json:"updatedAt"`
}

type coverageDetails struct {
	ResourceType       string `json:"resourceType"`
	Ec2InstanceDetails *struct {
		InstanceID string `json:"instanceId,omitempty"`
	} `json:"ec2InstanceDetails,omitempty"`
}

// coverage returns a coverage resource for each interface that sent flow
// logs and each account that sent CloudTrail, of the accounts usageFor
// covers, each with the detector of its account. One is UNHEALTHY when
// its last record trails the newest record of any source by more than
// silentAfter: event time, so that a replay of old logs judges as the
// live stream did.
func (h *Handler) coverage(rq *request, d *store.Detector) []coverageResource {
	rows := h.usageFor(rq, d)
	var newest time.Time
	for _, u := range rows {
		if u.Last.After(newest) {
			newest = u.Last
		}
	}
	out := make([]coverageResource, 0, len(rows))
	for _, u := range rows {
		c := coverageResource{AccountID: u.Account, CoverageStatus: healthy, DetectorID: finding.DetectorID(u.Account, u.Region), UpdatedAt: epochSeconds(u.Last)}
		what := "flow log records"
		switch u.Source {
		case "FLOW_LOGS":
			c.ResourceDetails.ResourceType = coverageEC2
			c.ResourceID = cmp.Or(u.Instance, u.Resource, u.Account)
			if u.Instance != "" {
				c.ResourceDetails.Ec2InstanceDetails = &struct {
					InstanceID string `json:"instanceId,omitempty"`
				}{u.Instance}
			}
		case "CLOUD_TRAIL":
			c.ResourceDetails.ResourceType = coverageAccount
			c.ResourceID = u.Account
			what = "CloudTrail events"
		default:
			continue
		}
		if gap := newest.Sub(u.Last); gap > h.silentAfter {
			c.CoverageStatus = unhealthy
			c.Issue = fmt.Sprintf("No %s from %s since %s, %s before the newest record picket read.",
				what, c.ResourceID, u.Last.UTC().Format(time.RFC3339), gap)
		}
		out = append(out, c)
	}
	return out
}

// field returns a coverage resource's value for a criterion or sort key,
// and whether it has one.
func (c *coverageResource) field(key string) (string, bool) {
	switch key {
	case "ACCOUNT_ID":
		return c.AccountID, true
	case "RESOURCE_TYPE":
		return c.ResourceDetails.ResourceType, true
	case "COVERAGE_STATUS":
		return c.CoverageStatus, true
	case "INSTANCE_ID":
		if c.ResourceDetails.Ec2InstanceDetails != nil {
			return c.ResourceDetails.Ec2InstanceDetails.InstanceID, true
		}
	case "ISSUE":
		return c.Issue, true
	case "UPDATED_AT":
		return fmt.Sprintf("%020d", time.Time(c.UpdatedAt).UnixMilli()), true
	}
	return "", false
}

// filterCoverage validates criteria and keeps the resources that match.
func filterCoverage(rs []coverageResource, crit *coverageCriteria) ([]coverageResource, error) {
	if crit == nil {
		return rs, nil
	}
	if err := count("filterCriteria.filterCriterion", len(crit.FilterCriterion), 0, 50); err != nil {
		return nil, err
	}
	for _, fc := range crit.FilterCriterion {
		if fc.CriterionKey == nil {
			return nil, required("filterCriteria.filterCriterion.criterionKey")
		}
		if err := enum("filterCriteria.filterCriterion.criterionKey", *fc.CriterionKey, coverageKeys...); err != nil {
			return nil, err
		}
		if fc.FilterCondition == nil {
			return nil, required("filterCriteria.filterCriterion.filterCondition")
		}
	}
	return slices.DeleteFunc(slices.Clone(rs), func(c coverageResource) bool {
		for _, fc := range crit.FilterCriterion {
			v, ok := c.field(*fc.CriterionKey)
			cond := fc.FilterCondition
			if len(cond.Equals) > 0 && (!ok || !slices.Contains(cond.Equals, v)) {
				return true
			}
			if ok && slices.Contains(cond.NotEquals, v) {
				return true
			}
		}
		return false
	}), nil
}

type listCoverageInput struct {
	FilterCriteria *coverageCriteria `json:"filterCriteria"`
	MaxResults     *int64            `json:"maxResults"`
	NextToken      *string           `json:"nextToken"`
	SortCriteria   *struct {
		AttributeName *string `json:"attributeName"`
		OrderBy       *string `json:"orderBy"`
	} `json:"sortCriteria"`
}

func (h *Handler) listCoverage(rq *request) (any, error) {
	var in listCoverageInput
	if err := decodeBody(rq.body, &in); err != nil {
		return nil, err
	}
	d, err := h.detector(rq)
	if err != nil {
		return nil, err
	}
	rs, err := filterCoverage(h.coverage(rq, d), in.FilterCriteria)
	if err != nil {
		return nil, err
	}
	sortKey, desc := "", false
	if s := in.SortCriteria; s != nil {
		if s.AttributeName != nil {
			if err := enum("sortCriteria.attributeName", *s.AttributeName, "ACCOUNT_ID", "CLUSTER_NAME", "COVERAGE_STATUS", "ISSUE",
				"ADDON_VERSION", "UPDATED_AT", "EKS_CLUSTER_NAME", "ECS_CLUSTER_NAME", "INSTANCE_ID"); err != nil {
				return nil, err
			}
			sortKey = *s.AttributeName
		}
		if s.OrderBy != nil {
			if err := enum("sortCriteria.orderBy", *s.OrderBy, "ASC", "DESC"); err != nil {
				return nil, err
			}
			desc = *s.OrderBy == "DESC"
		}
	}
	slices.SortStableFunc(rs, func(a, b coverageResource) int {
		va, _ := a.field(sortKey)
		vb, _ := b.field(sortKey)
		c := cmp.Or(cmp.Compare(va, vb), cmp.Compare(a.AccountID, b.AccountID),
			cmp.Compare(a.ResourceDetails.ResourceType, b.ResourceDetails.ResourceType), cmp.Compare(a.ResourceID, b.ResourceID))
		if desc {
			return -c
		}
		return c
	})
	p, err := h.page("ListCoverage\x00"+d.ID+"\x00"+sortKey+strconv.FormatBool(desc), in.MaxResults, in.NextToken, 50, 50)
	if err != nil {
		return nil, err
	}
	start := 0
	if p.Cursor != "" {
		if start, err = strconv.Atoi(p.Cursor); err != nil || start < 0 {
			return nil, badRequest(msgToken, errors.New("coverage cursor is not an offset"))
		}
	}
	start = min(start, len(rs))
	end := min(start+p.Limit, len(rs))
	next := ""
	if end < len(rs) {
		next = h.tokens.seal("ListCoverage\x00"+d.ID+"\x00"+sortKey+strconv.FormatBool(desc), strconv.Itoa(end))
	}
	return struct {
		Resources []coverageResource `json:"resources"`
		NextToken string             `json:"nextToken,omitempty"`
	}{rs[start:end], next}, nil
}

type coverageStatisticsInput struct {
	FilterCriteria *coverageCriteria `json:"filterCriteria"`
	StatisticsType []string          `json:"statisticsType"`
}

func (h *Handler) getCoverageStatistics(rq *request) (any, error) {
	var in coverageStatisticsInput
	if err := decodeBody(rq.body, &in); err != nil {
		return nil, err
	}
	d, err := h.detector(rq)
	if err != nil {
		return nil, err
	}
	if in.StatisticsType == nil {
		return nil, required("statisticsType")
	}
	for _, t := range in.StatisticsType {
		if err := enum("statisticsType", t, "COUNT_BY_RESOURCE_TYPE", "COUNT_BY_COVERAGE_STATUS"); err != nil {
			return nil, err
		}
	}
	rs, err := filterCoverage(h.coverage(rq, d), in.FilterCriteria)
	if err != nil {
		return nil, err
	}
	type stats struct {
		CountByCoverageStatus map[string]int64 `json:"countByCoverageStatus,omitempty"`
		CountByResourceType   map[string]int64 `json:"countByResourceType,omitempty"`
	}
	var st stats
	for _, t := range in.StatisticsType {
		switch t {
		case "COUNT_BY_RESOURCE_TYPE":
			st.CountByResourceType = map[string]int64{}
			for _, r := range rs {
				st.CountByResourceType[r.ResourceDetails.ResourceType]++
			}
		case "COUNT_BY_COVERAGE_STATUS":
			st.CountByCoverageStatus = map[string]int64{}
			for _, r := range rs {
				st.CountByCoverageStatus[r.CoverageStatus]++
			}
		}
	}
	return struct {
		CoverageStatistics stats `json:"coverageStatistics"`
	}{st}, nil
}

// Usage statistics.

// usageUnit is the unit of picket's usage totals: decompressed bytes
// read, where GuardDuty counts cost in USD.
const usageUnit = "bytes"

type usageStatisticsInput struct {
	UsageStatisticsType *string `json:"usageStatisticsType"`
	UsageCriteria       *struct {
		AccountIDs  []string `json:"accountIds"`
		DataSources []string `json:"dataSources"`
		Resources   []string `json:"resources"`
		Features    []string `json:"features"`
	} `json:"usageCriteria"`
	Unit       *string `json:"unit"`
	MaxResults *int64  `json:"maxResults"`
	NextToken  *string `json:"nextToken"`
}

type usageTotal struct {
	Amount string `json:"amount"`
	Unit   string `json:"unit"`
}

type usageKeyed struct {
	AccountID  string     `json:"accountId,omitempty"`
	DataSource string     `json:"dataSource,omitempty"`
	Resource   string     `json:"resource,omitempty"`
	Feature    string     `json:"feature,omitempty"`
	Total      usageTotal `json:"total"`
}

// usageFeatures maps GuardDuty's usage features to the data sources
// picket reads.
var usageFeatures = map[string]string{"FLOW_LOGS": "FLOW_LOGS", "CLOUD_TRAIL": "CLOUD_TRAIL"}

func (h *Handler) getUsageStatistics(rq *request) (any, error) {
	var in usageStatisticsInput
	if err := decodeBody(rq.body, &in); err != nil {
		return nil, err
	}
	d, err := h.detector(rq)
	if err != nil {
		return nil, err
	}
	if in.UsageStatisticsType == nil {
		return nil, required("usageStatisticsType")
	}
	typ := *in.UsageStatisticsType
	if err := enum("usageStatisticsType", typ, "SUM_BY_ACCOUNT", "SUM_BY_DATA_SOURCE", "SUM_BY_RESOURCE", "TOP_RESOURCES",
		"SUM_BY_FEATURES", "TOP_ACCOUNTS_BY_FEATURE"); err != nil {
		return nil, err
	}
	if in.UsageCriteria == nil {
		return nil, required("usageCriteria")
	}
	c := in.UsageCriteria
	for _, ds := range c.DataSources {
		if err := enum("usageCriteria.dataSources", ds, "FLOW_LOGS", "CLOUD_TRAIL", "DNS_LOGS", "S3_LOGS", "KUBERNETES_AUDIT_LOGS", "EC2_MALWARE_SCAN"); err != nil {
			return nil, err
		}
	}
	if err := count("usageCriteria.accountIds", len(c.AccountIDs), 0, 50); err != nil {
		return nil, err
	}
	if err := count("usageCriteria.resources", len(c.Resources), 0, 50); err != nil {
		return nil, err
	}
	if _, err := h.page("GetUsageStatistics", in.MaxResults, nil, 50, 50); err != nil {
		return nil, err
	}
	limit := 50
	if in.MaxResults != nil {
		limit = int(*in.MaxResults)
	}
	var rows []store.Usage
	for _, u := range h.usageFor(rq, d) {
		switch {
		case len(c.AccountIDs) > 0 && !slices.Contains(c.AccountIDs, u.Account),
			len(c.DataSources) > 0 && !slices.Contains(c.DataSources, u.Source),
			len(c.Features) > 0 && !slices.ContainsFunc(c.Features, func(f string) bool { return usageFeatures[f] == u.Source }),
			len(c.Resources) > 0 && !slices.Contains(c.Resources, u.Resource) && !slices.Contains(c.Resources, u.Instance):
			continue
		}
		rows = append(rows, u)
	}
	sum := func(key func(store.Usage) string) []usageKeyed {
		totals := map[string]uint64{}
		for _, u := range rows {
			totals[key(u)] += u.Bytes
		}
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range totals {
				if !yield(k) {
					return
				}
			}
		})
		out := make([]usageKeyed, 0, len(keys))
		for _, k := range keys {
			out = append(out, usageKeyed{Resource: k, Total: usageTotal{strconv.FormatUint(totals[k], 10), usageUnit}})
		}
		return out
	}
	resourceOf := func(u store.Usage) string { return cmp.Or(u.Instance, u.Resource, u.Account) }
	type statistics struct {
		SumByAccount    []usageKeyed `json:"sumByAccount,omitempty"`
		SumByDataSource []usageKeyed `json:"sumByDataSource,omitempty"`
		SumByResource   []usageKeyed `json:"sumByResource,omitempty"`
		TopResources    []usageKeyed `json:"topResources,omitempty"`
		SumByFeature    []usageKeyed `json:"sumByFeature,omitempty"`
		// TopAccountsByFeature lists, for each data source, its accounts
		// by bytes read, most first.
		TopAccountsByFeature []struct {
			Feature  string       `json:"feature"`
			Accounts []usageKeyed `json:"accounts"`
		} `json:"topAccountsByFeature,omitempty"`
	}
	var st statistics
	relabel := func(ks []usageKeyed, set func(*usageKeyed, string)) []usageKeyed {
		for i := range ks {
			k := ks[i].Resource
			ks[i].Resource = ""
			set(&ks[i], k)
		}
		return ks
	}
	switch typ {
	case "TOP_ACCOUNTS_BY_FEATURE":
		all := rows
		for _, src := range []string{"CLOUD_TRAIL", "FLOW_LOGS"} {
			rows = slices.DeleteFunc(slices.Clone(all), func(u store.Usage) bool { return u.Source != src })
			if len(rows) == 0 {
				continue
			}
			accounts := relabel(sum(func(u store.Usage) string { return u.Account }), func(k *usageKeyed, v string) { k.AccountID = v })
			sortByTotal(accounts)
			st.TopAccountsByFeature = append(st.TopAccountsByFeature, struct {
				Feature  string       `json:"feature"`
				Accounts []usageKeyed `json:"accounts"`
			}{src, accounts[:min(limit, len(accounts))]})
		}
	case "SUM_BY_ACCOUNT":
		st.SumByAccount = relabel(sum(func(u store.Usage) string { return u.Account }), func(k *usageKeyed, v string) { k.AccountID = v })
	case "SUM_BY_DATA_SOURCE":
		st.SumByDataSource = relabel(sum(func(u store.Usage) string { return u.Source }), func(k *usageKeyed, v string) { k.DataSource = v })
	case "SUM_BY_FEATURES":
		st.SumByFeature = relabel(sum(func(u store.Usage) string { return u.Source }), func(k *usageKeyed, v string) { k.Feature = v })
	case "SUM_BY_RESOURCE":
		st.SumByResource = sum(resourceOf)
	case "TOP_RESOURCES":
		top := sum(resourceOf)
		sortByTotal(top)
		st.TopResources = top[:min(limit, len(top))]
	}
	return struct {
		UsageStatistics statistics `json:"usageStatistics"`
	}{st}, nil
}

// sortByTotal orders totals from the largest, keeping the order of
// equal ones.
func sortByTotal(ks []usageKeyed) {
	slices.SortStableFunc(ks, func(a, b usageKeyed) int {
		x, _ := strconv.ParseUint(a.Total.Amount, 10, 64)
		y, _ := strconv.ParseUint(b.Total.Amount, 10, 64)
		return cmp.Compare(y, x)
	})
}
