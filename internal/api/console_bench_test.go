package api

// BenchmarkConsolePages measures the requests each page of the web
// console makes, through the whole handler over a SQLite store of a
// million findings. Run it with
//
//	PICKET_BENCH_DIR=/var/tmp/picket-bench go test ./internal/api -run '^$' \
//	    -bench BenchmarkConsolePages -benchtime 10x -timeout 60m
//
// PICKET_CONSOLE_FINDINGS sets the number of findings (1,000,000 by
// default). The database is built once under PICKET_BENCH_DIR, in a file
// whose name says the schema version, the data version and the count,
// and reused by later runs; without PICKET_BENCH_DIR it is built in a
// temporary directory removed when the benchmark ends. Building a million
// findings takes minutes.
//
// Each sub-benchmark is one page load, its requests issued as the
// browser issues them: a request that needs an earlier answer waits for
// it, and requests that wait for the same answers (a Promise.all of the
// page) go at once, in parallel goroutines. ms/page is the median over
// the iterations of the page's longest chain of waiting requests,
// counting each request's server time; slowest-ms is the median of the
// slowest request of each load, cold-ms the first load (before the
// loop); the log breaks the median down by request. The budget is 300 ms
// a page.
//
// The pages: findings lists the latest 50 current findings, gets them
// and counts the current findings by severity; findings/type does the
// same for one finding type, findings/severity sorted by severity, and
// its page2 lists and gets the next 50; detail gets one finding and
// counts the findings a suppression rule on its type and instance would
// match. The summary, for its default period of seven days, lists and
// gets the newest current finding, whose last update ends the period,
// then at once asks for the period's current findings grouped by day for
// each of the four severity bands, grouped by type and by resource (top
// 10), and lists and gets the latest 100 of them in two pages of 50
// (the /metrics request of its health panel is left out).
//
// On the 2-core development machine, at schema version 7 (the version 6
// store of 2468 MB, built in 2m43s, migrated), ten loads each gave
// (median ms a page, first load in brackets): findings 178 (213),
// findings/type 51 (65), findings/severity 181 (187), its page2 2 (2),
// detail 0.8 (4), summary 290 (339). The summary's statistics pick the
// period's ~65,000 findings by a range of findings_recent (det,
// archived, updated_ms and every grouped column) and group those; asked
// as one statement the planner walked an index in group order through
// all million findings instead, and the page took 1560 ms. The findings
// page's cost is the count of every current finding by severity, read
// from the covering severity index; it grows with the store.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"picket/internal/finding"
	"picket/internal/store/sqlite"
	"picket/internal/store/sqlstore"
)

// consoleData is the version of the generated findings; bump it when
// consoleFinding changes so that cached databases are rebuilt.
const consoleData = 1

// consoleBudget is the most a page load may take.
const consoleBudget = 300 * time.Millisecond

func consoleFindings(b *testing.B) int {
	b.Helper()
	if s := os.Getenv("PICKET_CONSOLE_FINDINGS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("PICKET_CONSOLE_FINDINGS=%q is not a count", s)
		}
		return n
	}
	return 1_000_000
}

// consoleStore opens the console benchmark database, building it first
// if need be.
func consoleStore(b *testing.B) *sqlite.Store {
	b.Helper()
	n := consoleFindings(b)
	dir := os.Getenv("PICKET_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, fmt.Sprintf("picket-console-s%d-d%d-%d.db", sqlstore.LatestVersion(), consoleData, n))
	if _, err := os.Stat(path); err != nil {
		buildConsoleStore(b, path, n)
	}
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("database %s: %d findings, %d MB", path, n, fi.Size()>>20)
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// buildConsoleStore makes the database in a file beside path and renames
// it into place once complete, so that an interrupted build is never
// reused. The detector is created through the API; the findings go in
// through the store's bulk import (one transaction, the same insert and
// the same indexes as ingest), and the planner's statistics are gathered
// afterwards, as after any bulk load.
func buildConsoleStore(b *testing.B, path string, n int) {
	b.Helper()
	tmp := path + ".building"
	for _, p := range []string{tmp, tmp + "-wal", tmp + "-shm"} {
		os.Remove(p)
	}
	start := time.Now()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, tmp)
	if err != nil {
		b.Fatal(err)
	}
	det := newFixture(b, st).createDetector(b)
	g := newConsoleGen(det)
	got, err := st.Import(ctx, func(yield func(*finding.Finding) bool) {
		for i := range n {
			if !yield(g.finding(i)) {
				return
			}
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	imported := time.Since(start)
	if err := st.Analyze(ctx); err != nil {
		b.Fatal(err)
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	b.Logf("built %s: %d findings in %v (import %v, analyze %v)", path, got,
		time.Since(start).Round(time.Second), imported.Round(time.Second), (time.Since(start) - imported).Round(time.Second))
}

// consoleGen makes findings that look like a busy estate's: twenty types
// of the catalogue, a few popular and many rare; a few thousand
// instances and a few hundred access keys; thousands of remote addresses;
// severities spread over low, medium and high; updates over the 90 days
// before testNow; one in ten archived.
type consoleGen struct {
	rnd       *rand.Rand
	det       string
	types     []finding.Type
	instances []string
	keys      []string
	ips       []string
}

func newConsoleGen(det string) *consoleGen {
	g := &consoleGen{rnd: rand.New(rand.NewPCG(2026, 3)), det: det}
	var inst, keys []finding.Type
	for _, t := range finding.Types() {
		switch {
		case strings.HasPrefix(t.Name, "AttackSequence:"):
		case t.ResourceType == finding.ResourceInstance:
			inst = append(inst, t)
		case t.ResourceType == finding.ResourceAccessKey:
			keys = append(keys, t)
		}
	}
	g.types = append(inst[:min(len(inst), 13)], keys[:min(len(keys), 20-min(len(inst), 13))]...)
	// Shuffle so that the popular types are of both kinds.
	g.rnd.Shuffle(len(g.types), func(i, j int) { g.types[i], g.types[j] = g.types[j], g.types[i] })
	for i := range 4000 {
		g.instances = append(g.instances, fmt.Sprintf("i-%017x", 0x5eed0000+i*7919))
	}
	for i := range 300 {
		g.keys = append(g.keys, fmt.Sprintf("AKIA%016d", i))
	}
	for i := range 6000 {
		g.ips = append(g.ips, fmt.Sprintf("%d.%d.%d.%d", []int{198, 203, 45, 185}[i%4], 10+i%50, (i/50)%250, 1+i%200))
	}
	return g
}

// skewed returns an index below n, small ones far more often (about
// half the picks fall in the first fifth).
func (g *consoleGen) skewed(n int) int {
	x := g.rnd.Float64()
	return min(n-1, int(float64(n)*x*x*x))
}

var consoleSeverities = []finding.Severity{1, 2, 2, 3, 4, 5, 5, 5, 6, 6.5, 7, 8, 8, 8.5}

func (g *consoleGen) finding(i int) *finding.Finding {
	t := g.types[g.skewed(len(g.types))]
	last := testNow.Add(-time.Duration(g.rnd.Int64N(int64(90*24*time.Hour))) / time.Millisecond * time.Millisecond)
	first := last.Add(-time.Duration(g.rnd.IntN(48*3600)) * time.Second)
	ip := g.ips[g.skewed(len(g.ips))]
	var res string
	if t.ResourceType == finding.ResourceAccessKey {
		res = g.keys[g.skewed(len(g.keys))]
	} else {
		res = g.instances[g.skewed(len(g.instances))]
	}
	f := finding.New(t.Name, finding.Key{Account: testAccount, Region: testRegion, Resource: res, Role: finding.RoleTarget,
		Actor: strconv.Itoa(i)}, g.det, first, last, int64(1+g.rnd.IntN(200)))
	f.Severity = consoleSeverities[g.rnd.IntN(len(consoleSeverities))]
	f.Title = fmt.Sprintf("%s on %s from %s", t.Name, res, ip)
	f.Description = "Activity from " + ip + " against " + res + "."
	f.Service.Archived = g.rnd.IntN(10) == 0
	remote := &finding.RemoteIPDetails{IPAddressV4: ip, Country: &finding.Country{CountryName: []string{"Atlantis", "Utopia", "Freedonia"}[i%3]},
		Organization: &finding.Organization{Asn: strconv.Itoa(64496 + i%20)}}
	if t.ResourceType == finding.ResourceAccessKey {
		f.Resource.AccessKeyDetails = &finding.AccessKeyDetails{AccessKeyID: res, UserName: []string{"alice", "bob", "deploy", "ci"}[i%4], UserType: "IAMUser"}
		f.Service.Action.AwsAPICallAction = &finding.AwsAPICallAction{API: []string{"ListBuckets", "GetCallerIdentity", "DescribeInstances"}[i%3],
			CallerType: "Remote IP", ServiceName: "sts.amazonaws.com", RemoteIPDetails: remote}
		return f
	}
	f.Resource.InstanceDetails = &finding.InstanceDetails{InstanceID: res, InstanceType: []string{"t3.micro", "m5.large", "c6g.xlarge"}[i%3],
		Tags: []finding.Tag{{Key: "env", Value: []string{"prod", "staging", "dev"}[i%3]}, {Key: "team", Value: "team-" + strconv.Itoa(i%12)}}}
	switch t.ActionType {
	case finding.ActionPortProbe:
		f.Service.Action.PortProbeAction = &finding.PortProbeAction{PortProbeDetails: []finding.PortProbeDetail{{
			LocalPortDetails: finding.Port([]int{22, 80, 443, 3389}[i%4]), RemoteIPDetails: remote}}}
	case finding.ActionDNSRequest:
		f.Service.Action.DNSRequestAction = &finding.DNSRequestAction{Domain: fmt.Sprintf("x%d.example", i%500), Protocol: "UDP"}
	default:
		f.Service.Action.NetworkConnectionAction = &finding.NetworkConnectionAction{ConnectionDirection: []string{finding.DirectionInbound, finding.DirectionOutbound}[i%2],
			Protocol: "TCP", LocalPortDetails: finding.Port([]int{22, 80, 443, 3389}[i%4]), RemotePortDetails: finding.Port(40000 + i%1000),
			RemoteIPDetails: remote}
	}
	return f
}

// consoleCall is one request of a page: the body may depend on the
// answers to the calls it waits for.
type consoleCall struct {
	name string
	path string // below /detector/{id}
	body func(prev [][]byte) string
	// after lists the calls whose answers this one waits for; nil means
	// the call before it (none for the first), an empty list none.
	after []int
}

// deps returns the calls call i waits for.
func (c consoleCall) deps(i int) []int {
	if c.after != nil || i == 0 {
		return c.after
	}
	return []int{i - 1}
}

// consoleLoad serves a page's calls as the browser issues them: each as
// soon as the calls it waits for are answered, so that calls waiting for
// nothing but the same answers run at once, in parallel. It returns each
// call's server time (signing the request and decoding the answer are
// left out).
func consoleLoad(b *testing.B, f *fixture, det string, calls []consoleCall) []time.Duration {
	b.Helper()
	lat := make([]time.Duration, len(calls))
	answers := make([][]byte, len(calls))
	done := make([]chan struct{}, len(calls))
	for i := range done {
		done[i] = make(chan struct{})
	}
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Go(func() {
			defer close(done[i])
			for _, d := range c.deps(i) {
				<-done[d]
				if answers[d] == nil {
					return // failed; reported below
				}
			}
			r := f.request(b, "POST", "/detector/"+det+c.path, c.body(answers))
			w := httptest.NewRecorder()
			start := time.Now()
			f.h.ServeHTTP(w, r)
			lat[i] = time.Since(start)
			if w.Code != http.StatusOK {
				b.Errorf("%s: %d %s", c.name, w.Code, w.Body)
				return
			}
			answers[i] = w.Body.Bytes()
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return lat
}

// consolePageTime is the time the page takes to load: its longest chain
// of calls, each waiting for the ones before it, counting the server
// time of each call except the first skip (made by an earlier page).
func consolePageTime(calls []consoleCall, lat []time.Duration, skip int) time.Duration {
	end := make([]time.Duration, len(calls))
	var page time.Duration
	for i, c := range calls {
		var start time.Duration
		for _, d := range c.deps(i) {
			start = max(start, end[d])
		}
		end[i] = start
		if i >= skip {
			end[i] += lat[i]
		}
		page = max(page, end[i])
	}
	return page
}

func mustJSON(b *testing.B, v any) string {
	b.Helper()
	out, err := json.Marshal(v)
	if err != nil {
		b.Fatal(err)
	}
	return string(out)
}

type listAnswer struct {
	FindingIDs []string `json:"findingIds"`
	NextToken  string   `json:"nextToken"`
}

func decodeList(b *testing.B, body []byte) listAnswer {
	b.Helper()
	var a listAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		b.Fatalf("list answer %s: %v", body, err)
	}
	return a
}

func BenchmarkConsolePages(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a store of a million findings")
	}
	st := consoleStore(b)
	f := newFixture(b, st)
	var dets struct {
		DetectorIDs []string `json:"detectorIds"`
	}
	f.call(b, "GET", "/detector", "", &dets)
	if len(dets.DetectorIDs) != 1 {
		b.Fatalf("detectors %v", dets.DetectorIDs)
	}
	det := dets.DetectorIDs[0]

	type criterion = map[string]map[string]any
	current := criterion{"service.archived": {"equals": []string{"false"}}}
	// summary.js spells its criteria GuardDuty's short way.
	summaryCurrent := criterion{"service.archived": {"eq": []string{"false"}}}
	with := func(c criterion, field string, value string) criterion {
		out := criterion{field: {"equals": []string{value}}}
		for k, v := range c {
			out[k] = v
		}
		return out
	}
	list := func(c criterion, attr, token string) func([][]byte) string {
		return func([][]byte) string {
			in := map[string]any{"findingCriteria": map[string]any{"criterion": c},
				"sortCriteria": map[string]string{"attributeName": attr, "orderBy": "DESC"}, "maxResults": 50}
			if token != "" {
				in["nextToken"] = token
			}
			return mustJSON(b, in)
		}
	}
	// get asks for the findings the answer to call i listed.
	get := func(i int) func([][]byte) string {
		return func(prev [][]byte) string {
			return mustJSON(b, map[string]any{"findingIds": decodeList(b, prev[i]).FindingIDs})
		}
	}
	// nextList asks for the page after the one call i listed.
	nextList := func(c criterion, attr string, i int) func([][]byte) string {
		return func(prev [][]byte) string { return list(c, attr, decodeList(b, prev[i]).NextToken)(prev) }
	}
	count := func(c criterion) func([][]byte) string {
		return func([][]byte) string {
			return mustJSON(b, map[string]any{"findingStatisticTypes": []string{"COUNT_BY_SEVERITY"}, "findingCriteria": map[string]any{"criterion": c}})
		}
	}
	const (
		listPath  = "/findings"
		getPath   = "/findings/get"
		statsPath = "/findings/statistics"
	)
	findingsPage := func(c criterion, attr string) []consoleCall {
		return []consoleCall{
			{"ListFindings", listPath, list(c, attr, ""), nil},
			{"GetFindings", getPath, get(0), nil},
			{"GetFindingsStatistics COUNT_BY_SEVERITY", statsPath, count(c), nil},
		}
	}

	// A finding of a common type on an instance, for the filtered list
	// and the detail page.
	w := f.call(b, "POST", "/detector/"+det+listPath, list(with(current, "resource.resourceType", finding.ResourceInstance), "updatedAt", "")(nil), nil)
	first := decodeList(b, w.Body.Bytes())
	if len(first.FindingIDs) == 0 {
		b.Fatal("no current findings on instances")
	}
	var got struct{ Findings []*finding.Finding }
	f.call(b, "POST", "/detector/"+det+getPath, mustJSON(b, map[string]any{"findingIds": first.FindingIDs[:1]}), &got)
	if len(got.Findings) != 1 || got.Findings[0].Resource.InstanceDetails == nil {
		b.Fatalf("finding %s: no instance", first.FindingIDs[0])
	}
	one := got.Findings[0]
	b.Logf("detail finding %s: %s on %s", one.ID, one.Type, one.Resource.InstanceDetails.InstanceID)

	// The summary (summary.js) for its default period of seven days:
	// the newest current finding, whose last update ends the period; then
	// at once the findings of each day by severity band, the top types,
	// the top resources, and the latest 100 findings of the period in two
	// pages of 50, each page fetched as soon as it is listed while the
	// next is listed. The /metrics request of its health panel is served
	// by another handler and left out.
	const summaryDays = 7
	newest := consoleCall{"ListFindings newest", listPath, func([][]byte) string {
		return mustJSON(b, map[string]any{"findingCriteria": map[string]any{"criterion": summaryCurrent},
			"sortCriteria": map[string]string{"attributeName": "updatedAt", "orderBy": "DESC"}, "maxResults": 1})
	}, nil}
	// window is the criterion of the period: whole UTC days ending on the
	// day of the newest finding's last update (the answer to call 1).
	window := func(prev [][]byte, extra map[string]any) map[string]any {
		var got struct{ Findings []*finding.Finding }
		if err := json.Unmarshal(prev[1], &got); err != nil || len(got.Findings) != 1 {
			b.Fatalf("newest finding %s: %v", prev[1], err)
		}
		const day = 24 * time.Hour / time.Millisecond
		end := got.Findings[0].UpdatedAt.UnixMilli()
		since := end/int64(day)*int64(day) - (summaryDays-1)*int64(day)
		c := map[string]any{"service.archived": map[string]any{"eq": []string{"false"}}, "updatedAt": map[string]any{"gte": since}}
		maps.Copy(c, extra)
		return c
	}
	stats := func(by string, limit int, extra map[string]any) func([][]byte) string {
		return func(prev [][]byte) string {
			return mustJSON(b, map[string]any{"groupBy": by, "orderBy": "DESC", "maxResults": limit,
				"findingCriteria": map[string]any{"criterion": window(prev, extra)}})
		}
	}
	latest := func(token int) func([][]byte) string {
		return func(prev [][]byte) string {
			in := map[string]any{"findingCriteria": map[string]any{"criterion": window(prev, nil)},
				"sortCriteria": map[string]string{"attributeName": "updatedAt", "orderBy": "DESC"}, "maxResults": 50}
			if token >= 0 {
				in["nextToken"] = decodeList(b, prev[token]).NextToken
			}
			return mustJSON(b, in)
		}
	}
	afterNewest := []int{1}
	summary := []consoleCall{newest, {"GetFindings newest", getPath, get(0), nil}}
	for _, band := range []struct {
		name    string
		gte, lt int
	}{{"Low", 1, 4}, {"Medium", 4, 7}, {"High", 7, 9}, {"Critical", 9, 11}} {
		summary = append(summary, consoleCall{"GetFindingsStatistics DATE " + band.name, statsPath,
			stats("DATE", 100, map[string]any{"severity": map[string]any{"gte": band.gte, "lt": band.lt}}), afterNewest})
	}
	at := len(summary)
	summary = append(summary,
		consoleCall{"GetFindingsStatistics FINDING_TYPE", statsPath, stats("FINDING_TYPE", 10, nil), afterNewest},
		consoleCall{"GetFindingsStatistics RESOURCE", statsPath, stats("RESOURCE", 10, nil), afterNewest},
		consoleCall{"ListFindings latest", listPath, latest(-1), afterNewest},
		consoleCall{"GetFindings latest", getPath, get(at + 2), []int{at + 2}},
		consoleCall{"ListFindings latest nextToken", listPath, latest(at + 2), []int{at + 2}},
		consoleCall{"GetFindings latest page 2", getPath, get(at + 4), []int{at + 4}},
	)

	pages := []struct {
		name  string
		calls []consoleCall
	}{
		{"findings", findingsPage(current, "updatedAt")},
		{"findings/type", findingsPage(with(current, "type", one.Type), "updatedAt")},
		{"findings/severity", findingsPage(current, "severity")},
		{"findings/severity/page2", []consoleCall{
			{"ListFindings", listPath, list(current, "severity", ""), nil},
			{"ListFindings nextToken", listPath, nextList(current, "severity", 0), nil},
			{"GetFindings", getPath, get(1), nil},
		}},
		{"summary", summary},
		{"detail", []consoleCall{
			{"GetFindings", getPath, func([][]byte) string { return mustJSON(b, map[string]any{"findingIds": []string{one.ID}}) }, nil},
			{"GetFindingsStatistics suppression preview", statsPath, count(with(with(current, "type", one.Type),
				"resource.instanceDetails.instanceId", one.Resource.InstanceDetails.InstanceID)), nil},
		}},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			calls := p.calls
			// page 2 loads after page 1: its first request is the one the
			// browser made for page 1, kept out of the measure.
			skip := 0
			if strings.HasSuffix(p.name, "/page2") {
				skip = 1
			}
			cold := consoleLoad(b, f, det, calls)
			var loads [][]time.Duration
			for b.Loop() {
				loads = append(loads, consoleLoad(b, f, det, calls))
			}
			median := func(ds []time.Duration) time.Duration {
				ds = slices.Clone(ds)
				slices.Sort(ds)
				return ds[len(ds)/2]
			}
			var totals, slowest []time.Duration
			for _, l := range loads {
				totals = append(totals, consolePageTime(calls, l, skip))
				slowest = append(slowest, slices.Max(l[skip:]))
			}
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			page := median(totals)
			b.ReportMetric(ms(page), "ms/page")
			b.ReportMetric(ms(median(slowest)), "slowest-ms")
			b.ReportMetric(ms(consolePageTime(calls, cold, skip)), "cold-ms")
			var parts []string
			for i := skip; i < len(calls); i++ {
				var ds []time.Duration
				for _, l := range loads {
					ds = append(ds, l[i])
				}
				parts = append(parts, fmt.Sprintf("%s %.1f ms", calls[i].name, ms(median(ds))))
			}
			over := ""
			if page > consoleBudget {
				over = " OVER BUDGET"
			}
			b.Logf("%s: %.1f ms/page%s: %s", p.name, ms(page), over, strings.Join(parts, ", "))
		})
	}
}
