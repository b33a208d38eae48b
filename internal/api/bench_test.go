package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"picket/internal/finding"
	"picket/internal/store"
)

// The handler benchmarks. Run them with
//
//	go test ./internal/api -run '^$' -bench . -benchtime 2s -count 6
//
// and compare with benchstat. On the 2-core development machine, shared
// and under load (load average 10-12), one run gave: ListFindings through
// the handler 42-105 ms p50 against 33-57 ms for the same query on the
// store alone (the SQLite query dominates; the handler adds ~380
// allocations, 36 KB); GetFindings of 50 1.7-3.5 ms p50; the signature
// check 5-15 µs.

// benchFindings is how many findings the handler benchmarks store.
const benchFindings = 20000

// benchFixture is a handler over SQLite holding benchFindings findings.
func benchFixture(b *testing.B) (*fixture, string, []*finding.Finding) {
	b.Helper()
	f := newFixture(b, newSQLite(b))
	det := f.createDetector(b)
	all := estate(det, benchFindings, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	for batch := range slices.Chunk(all, 1000) {
		if err := f.store.Commit(b.Context(), store.Batch{Findings: batch}); err != nil {
			b.Fatal(err)
		}
	}
	return f, det, all
}

// replay serves a signed request again and again: the signature is made
// once (the handler's clock stands still), so each iteration measures
// what the server does: verify, decode, validate, query, encode.
func replay(b *testing.B, f *fixture, method, path, body string, check func(*httptest.ResponseRecorder)) {
	signed := f.request(b, method, path, body)
	var lat []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header = signed.Header.Clone()
		w := httptest.NewRecorder()
		start := time.Now()
		f.h.ServeHTTP(w, r)
		lat = append(lat, time.Since(start))
		if w.Code != http.StatusOK {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
		if check != nil {
			check(w)
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkListFindings is ListFindings with criteria and a sort through
// the whole handler over SQLite: a page of 50 of the 20,000 findings.
func BenchmarkListFindings(b *testing.B) {
	f, det, _ := benchFixture(b)
	body := `{"findingCriteria":{"criterion":{"type":{"equals":["Recon:EC2/Portscan","Impact:EC2/PortSweep"]},` +
		`"severity":{"greaterThanOrEqual":5},"service.archived":{"equals":["false"]}}},` +
		`"sortCriteria":{"attributeName":"updatedAt","orderBy":"DESC"},"maxResults":50}`
	replay(b, f, "POST", "/detector/"+det+"/findings", body, func(w *httptest.ResponseRecorder) {
		if !strings.Contains(w.Body.String(), `"nextToken"`) {
			b.Fatalf("no next page: %s", w.Body)
		}
	})
}

// BenchmarkListFindingsStore is the same query on the store alone, to
// show what the handler adds.
func BenchmarkListFindingsStore(b *testing.B) {
	f, det, _ := benchFixture(b)
	ge := int64(5)
	q := store.Query{
		Criteria: store.Criteria{
			"type":             {Equals: []string{finding.TypePortscan, finding.TypePortSweep}},
			"severity":         {GreaterThanOrEqual: &ge},
			"service.archived": {Equals: []string{"false"}},
		},
		Sort: store.Sort{Attribute: "updatedAt", Desc: true},
		Page: store.Page{Limit: 50},
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := f.store.ListFindings(b.Context(), det, q); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetFindings is GetFindings of 50 IDs through the whole handler
// over SQLite.
func BenchmarkGetFindings(b *testing.B) {
	f, det, all := benchFixture(b)
	ids := make([]string, 50)
	for i := range ids {
		ids[i] = all[i*(benchFindings/50)].ID
	}
	body, _ := json.Marshal(map[string]any{"findingIds": ids})
	replay(b, f, "POST", "/detector/"+det+"/findings/get", string(body), func(w *httptest.ResponseRecorder) {
		if n := strings.Count(w.Body.String(), `"schemaVersion"`); n != 50 {
			b.Fatalf("%d findings", n)
		}
	})
}

// BenchmarkAuthenticate is the signature check alone.
func BenchmarkAuthenticate(b *testing.B) {
	f := newFixture(b, nil)
	body := []byte(`{"findingIds":["0123456789abcdef0123456789abcdef"]}`)
	r := f.request(b, "POST", "/detector/0123456789abcdef0123456789abcdef/findings/get", string(body))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.h.authenticate(r, body); err != nil {
			b.Fatal(err)
		}
	}
}
