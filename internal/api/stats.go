package api

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"picket/internal/store"
)

type statisticsInput struct {
	FindingStatisticTypes []string         `json:"findingStatisticTypes"`
	FindingCriteria       *findingCriteria `json:"findingCriteria"`
	GroupBy               *string          `json:"groupBy"`
	OrderBy               *string          `json:"orderBy"`
	MaxResults            *int64           `json:"maxResults"`
}

// findingStatistics is FindingStatistics: countBySeverity for the
// deprecated COUNT_BY_SEVERITY, else the list of the grouping asked for.
type findingStatistics struct {
	CountBySeverity      map[string]int    `json:"countBySeverity,omitzero"`
	GroupedByAccount     []accountStat     `json:"groupedByAccount,omitzero"`
	GroupedByDate        []dateStat        `json:"groupedByDate,omitzero"`
	GroupedByFindingType []findingTypeStat `json:"groupedByFindingType,omitzero"`
	GroupedByResource    []resourceStat    `json:"groupedByResource,omitzero"`
	GroupedBySeverity    []severityStat    `json:"groupedBySeverity,omitzero"`
}

type accountStat struct {
	AccountID       string       `json:"accountId"`
	LastGeneratedAt epochSeconds `json:"lastGeneratedAt"`
	TotalFindings   int          `json:"totalFindings"`
}

type dateStat struct {
	Date            epochSeconds `json:"date"`
	LastGeneratedAt epochSeconds `json:"lastGeneratedAt"`
	Severity        float64      `json:"severity"`
	TotalFindings   int          `json:"totalFindings"`
}

type findingTypeStat struct {
	FindingType     string       `json:"findingType"`
	LastGeneratedAt epochSeconds `json:"lastGeneratedAt"`
	TotalFindings   int          `json:"totalFindings"`
}

type resourceStat struct {
	AccountID       string       `json:"accountId"`
	LastGeneratedAt epochSeconds `json:"lastGeneratedAt"`
	ResourceID      string       `json:"resourceId"`
	ResourceType    string       `json:"resourceType"`
	TotalFindings   int          `json:"totalFindings"`
}

type severityStat struct {
	LastGeneratedAt epochSeconds `json:"lastGeneratedAt"`
	Severity        float64      `json:"severity"`
	TotalFindings   int          `json:"totalFindings"`
}

func (h *Handler) getFindingsStatistics(rq *request) (any, error) {
	var in statisticsInput
	if err := decodeBody(rq.body, &in); err != nil {
		return nil, err
	}
	d, err := h.detector(rq)
	if err != nil {
		return nil, err
	}
	if err := count("findingStatisticTypes", len(in.FindingStatisticTypes), 0, 10); err != nil {
		return nil, err
	}
	for _, t := range in.FindingStatisticTypes {
		if err := enum("findingStatisticTypes", t, "COUNT_BY_SEVERITY"); err != nil {
			return nil, err
		}
	}
	c, err := criteria(in.FindingCriteria, false)
	if err != nil {
		return nil, err
	}
	q := store.StatsQuery{Criteria: c, Desc: true, Limit: 25}
	switch {
	case in.GroupBy == nil && len(in.FindingStatisticTypes) == 0:
		return nil, invalidParam("groupBy", errors.New("give findingStatisticTypes or groupBy"))
	case in.GroupBy != nil && len(in.FindingStatisticTypes) > 0:
		return nil, invalidParam("groupBy", errors.New("give findingStatisticTypes or groupBy, not both"))
	case in.GroupBy == nil:
		if in.OrderBy != nil || in.MaxResults != nil {
			return nil, invalidParam("orderBy", errors.New("orderBy and maxResults go with groupBy"))
		}
	default:
		if err := enum("groupBy", *in.GroupBy, "ACCOUNT", "DATE", "FINDING_TYPE", "RESOURCE", "SEVERITY"); err != nil {
			return nil, err
		}
		q.GroupBy = store.GroupBy(*in.GroupBy)
		if in.OrderBy != nil {
			if err := enum("orderBy", *in.OrderBy, "ASC", "DESC"); err != nil {
				return nil, err
			}
			q.Desc = *in.OrderBy == "DESC"
		}
		if err := intRange("maxResults", in.MaxResults, 1, 100); err != nil {
			return nil, err
		}
		if in.MaxResults != nil {
			q.Limit = int(*in.MaxResults)
		}
	}
	dets, err := h.scope(rq, d)
	if err != nil {
		return nil, err
	}
	st, err := h.statisticsIn(rq.ctx, dets, q)
	if err != nil {
		return nil, fmt.Errorf("finding statistics of detector %s: %w", d.ID, err)
	}
	var fs findingStatistics
	switch q.GroupBy {
	case "":
		fs.CountBySeverity = st.BySeverity
		if fs.CountBySeverity == nil {
			fs.CountBySeverity = map[string]int{}
		}
	case store.GroupAccount:
		fs.GroupedByAccount = []accountStat{}
		for _, g := range st.Groups {
			fs.GroupedByAccount = append(fs.GroupedByAccount, accountStat{g.Key, epochSeconds(g.LastGeneratedAt), g.Total})
		}
	case store.GroupDate:
		fs.GroupedByDate = []dateStat{}
		for _, g := range st.Groups {
			day, _ := time.Parse(time.DateOnly, g.Key)
			fs.GroupedByDate = append(fs.GroupedByDate, dateStat{epochSeconds(day), epochSeconds(g.LastGeneratedAt), g.Severity, g.Total})
		}
	case store.GroupType:
		fs.GroupedByFindingType = []findingTypeStat{}
		for _, g := range st.Groups {
			fs.GroupedByFindingType = append(fs.GroupedByFindingType, findingTypeStat{g.Key, epochSeconds(g.LastGeneratedAt), g.Total})
		}
	case store.GroupResource:
		fs.GroupedByResource = []resourceStat{}
		for _, g := range st.Groups {
			fs.GroupedByResource = append(fs.GroupedByResource, resourceStat{g.AccountID, epochSeconds(g.LastGeneratedAt), g.Key, g.ResourceType, g.Total})
		}
	case store.GroupSeverity:
		fs.GroupedBySeverity = []severityStat{}
		for _, g := range st.Groups {
			sev := g.Severity
			if sev == 0 {
				sev, _ = strconv.ParseFloat(g.Key, 64)
			}
			fs.GroupedBySeverity = append(fs.GroupedBySeverity, severityStat{epochSeconds(g.LastGeneratedAt), sev, g.Total})
		}
	}
	return struct {
		FindingStatistics findingStatistics `json:"findingStatistics"`
	}{fs}, nil
}
