package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// route is one operation: method, path pattern ("{}" for a label), the
// function that serves it and its success status.
type route struct {
	method  string
	pattern []string
	op      string
	fn      func(*Handler, *request) (any, error)
	status  int
}

// routes lists every operation picket serves, as the reference's
// operation index gives them. Paths are matched whole, so
// POST /detector/{id} (UpdateDetector) and POST /detector/{id}/findings
// (ListFindings) do not overlap.
var routes = func() []route {
	r := []route{
		{"POST", p("detector"), "CreateDetector", (*Handler).createDetector, http.StatusOK},
		{"GET", p("detector"), "ListDetectors", (*Handler).listDetectors, http.StatusOK},
		{"GET", p("detector", "{}"), "GetDetector", (*Handler).getDetectorAsRead, http.StatusOK},
		{"POST", p("detector", "{}"), "UpdateDetector", (*Handler).updateDetector, http.StatusOK},
		{"DELETE", p("detector", "{}"), "DeleteDetector", (*Handler).deleteDetector, http.StatusOK},

		{"POST", p("detector", "{}", "findings"), "ListFindings", (*Handler).listFindings, http.StatusOK},
		{"POST", p("detector", "{}", "findings", "get"), "GetFindings", (*Handler).getFindings, http.StatusOK},
		{"POST", p("detector", "{}", "findings", "statistics"), "GetFindingsStatistics", (*Handler).getFindingsStatistics, http.StatusOK},
		{"POST", p("detector", "{}", "findings", "archive"), "ArchiveFindings", (*Handler).archiveFindings, http.StatusOK},
		{"POST", p("detector", "{}", "findings", "unarchive"), "UnarchiveFindings", (*Handler).unarchiveFindings, http.StatusOK},
		{"POST", p("detector", "{}", "findings", "feedback"), "UpdateFindingsFeedback", (*Handler).updateFindingsFeedback, http.StatusOK},
		{"POST", p("detector", "{}", "findings", "create"), "CreateSampleFindings", (*Handler).createSampleFindings, http.StatusOK},

		{"POST", p("detector", "{}", "filter"), "CreateFilter", (*Handler).createFilter, http.StatusOK},
		{"GET", p("detector", "{}", "filter"), "ListFilters", (*Handler).listFilters, http.StatusOK},
		{"GET", p("detector", "{}", "filter", "{}"), "GetFilter", (*Handler).getFilter, http.StatusOK},
		{"POST", p("detector", "{}", "filter", "{}"), "UpdateFilter", (*Handler).updateFilter, http.StatusOK},
		{"DELETE", p("detector", "{}", "filter", "{}"), "DeleteFilter", (*Handler).deleteFilter, http.StatusOK},

		{"POST", p("detector", "{}", "publishingDestination"), "CreatePublishingDestination", (*Handler).createDestination, http.StatusOK},
		{"GET", p("detector", "{}", "publishingDestination"), "ListPublishingDestinations", (*Handler).listDestinations, http.StatusOK},
		{"GET", p("detector", "{}", "publishingDestination", "{}"), "DescribePublishingDestination", (*Handler).describeDestination, http.StatusOK},
		{"POST", p("detector", "{}", "publishingDestination", "{}"), "UpdatePublishingDestination", (*Handler).updateDestination, http.StatusOK},
		{"DELETE", p("detector", "{}", "publishingDestination", "{}"), "DeletePublishingDestination", (*Handler).deleteDestination, http.StatusOK},

		{"POST", p("detector", "{}", "coverage"), "ListCoverage", (*Handler).listCoverage, http.StatusOK},
		{"POST", p("detector", "{}", "coverage", "statistics"), "GetCoverageStatistics", (*Handler).getCoverageStatistics, http.StatusOK},
		{"POST", p("detector", "{}", "usage", "statistics"), "GetUsageStatistics", (*Handler).getUsageStatistics, http.StatusOK},

		{"GET", p("tags", "{}"), "ListTagsForResource", (*Handler).listTags, http.StatusOK},
		{"POST", p("tags", "{}"), "TagResource", (*Handler).tagResource, http.StatusNoContent},
		{"DELETE", p("tags", "{}"), "UntagResource", (*Handler).untagResource, http.StatusNoContent},
	}
	r = append(r, accountRoutes...)
	for _, k := range setKinds {
		with := func(fn func(*Handler, *request, setKind) (any, error)) func(*Handler, *request) (any, error) {
			return func(h *Handler, rq *request) (any, error) { return fn(h, rq, k) }
		}
		r = append(r,
			route{"POST", p("detector", "{}", string(k.kind)), "Create" + k.op, with((*Handler).createSet), http.StatusOK},
			route{"GET", p("detector", "{}", string(k.kind)), "List" + k.op + "s", with((*Handler).listSets), http.StatusOK},
			route{"GET", p("detector", "{}", string(k.kind), "{}"), "Get" + k.op, with((*Handler).getSet), http.StatusOK},
			route{"POST", p("detector", "{}", string(k.kind), "{}"), "Update" + k.op, with((*Handler).updateSet), http.StatusOK},
			route{"DELETE", p("detector", "{}", string(k.kind), "{}"), "Delete" + k.op, with((*Handler).deleteSet), http.StatusOK},
		)
	}
	return r
}()

func p(segments ...string) []string { return segments }

// maxLabelLength bounds a path label after unescaping (an ARN is at most
// a few hundred characters).
const maxLabelLength = 1024

var (
	errUnsupported = errors.New("no such operation")
	errNotOffered  = errors.New("an operation of a feature picket does not offer")
)

// match finds the route of a request from its method and raw path, and
// returns its labels unescaped: first among the operations picket
// serves, then among those of features it does not offer (offRoutes).
// Any other request answers 400 BadRequestException.
func match(method, rawPath string) (route, []string, error) {
	segs := strings.Split(strings.TrimPrefix(rawPath, "/"), "/")
	for _, table := range [][]route{routes, offRoutes} {
		if rt, labels, ok, err := matchIn(table, method, segs); ok {
			return rt, labels, err
		}
	}
	return route{}, nil, badRequest(msgUnsupported, fmt.Errorf("%s %s: %w", method, truncate(rawPath, 256), errUnsupported))
}

// matchIn finds the route of method and path segments in table.
func matchIn(table []route, method string, segs []string) (route, []string, bool, error) {
	for _, rt := range table {
		if rt.method != method || len(rt.pattern) != len(segs) {
			continue
		}
		var labels []string
		ok := true
		for i, want := range rt.pattern {
			if want == "{}" {
				if segs[i] == "" {
					ok = false
					break
				}
				continue
			}
			if segs[i] != want {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		for i, want := range rt.pattern {
			if want != "{}" {
				continue
			}
			v, err := url.PathUnescape(segs[i])
			if err != nil || len(v) > maxLabelLength {
				return rt, nil, true, badRequest(msgJSON, fmt.Errorf("path label %q: %w", truncate(segs[i], 64), err))
			}
			labels = append(labels, v)
		}
		return rt, labels, true, nil
	}
	return route{}, nil, false, nil
}
