package api

import (
	"errors"
	"fmt"
	"net/url"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"picket/internal/store"
)

// manualLoader keeps the done of each Load for the test to call.
type manualLoader struct {
	mu      sync.Mutex
	pending []func(error)
	names   []string
	unloads int
}

func (l *manualLoader) Load(s store.Set, done func(error)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending = append(l.pending, done)
	l.names = append(l.names, s.Name)
}

func (l *manualLoader) Unload(store.Set) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unloads++
}

func (l *manualLoader) done(i int, err error) {
	l.mu.Lock()
	d := l.pending[i]
	l.mu.Unlock()
	d(err)
}

func TestSetLifecycle(t *testing.T) {
	loader := &manualLoader{}
	f := newFixture(t, nil, func(c *Config) { c.Sets = loader })
	det := f.createDetector(t)
	base := "/detector/" + det + "/threatintelset"
	var created struct {
		ID string `json:"threatIntelSetId"`
	}
	f.call(t, "POST", base, `{"name":"list one","format":"TXT","location":"s3://b/one.txt","activate":true,"clientToken":"tok"}`, &created)
	status := func() (string, string) {
		s, err := f.store.Set(t.Context(), det, store.ThreatIntelSet, created.ID)
		if err != nil {
			t.Fatal(err)
		}
		return s.Status, s.ErrorDetails
	}
	if st, _ := status(); st != statusActivating {
		t.Fatalf("status %s after create", st)
	}

	// A retried create (same clientToken) answers the same list.
	var again struct {
		ID string `json:"threatIntelSetId"`
	}
	f.call(t, "POST", base, `{"name":"list one","format":"TXT","location":"s3://b/one.txt","activate":true,"clientToken":"tok"}`, &again)
	if again.ID != created.ID {
		t.Errorf("retried create made %s, want %s", again.ID, created.ID)
	}

	// The location changes while the first load runs: the first load's
	// outcome no longer counts.
	f.call(t, "POST", base+"/"+created.ID, `{"location":"s3://b/two.txt"}`, nil)
	loader.done(0, nil)
	if st, _ := status(); st != statusActivating {
		t.Errorf("status %s: a stale load was recorded", st)
	}
	loader.done(1, errors.New("line 7: bad entry"))
	if st, details := status(); st != statusError || details != "line 7: bad entry" {
		t.Errorf("status %s %q, want ERROR with the load's error", st, details)
	}

	// Deactivate, then a late done of an older load changes nothing.
	f.call(t, "POST", base+"/"+created.ID, `{"activate":true}`, nil)
	f.call(t, "POST", base+"/"+created.ID, `{"activate":false}`, nil)
	loader.done(2, nil)
	if st, _ := status(); st != statusInactive {
		t.Errorf("status %s after deactivating, want INACTIVE", st)
	}
	if loader.unloads != 1 {
		t.Errorf("%d unloads, want 1", loader.unloads)
	}

	// ResumeSets loads again what is active, not what is inactive.
	var ip struct {
		ID string `json:"ipSetId"`
	}
	f.call(t, "POST", "/detector/"+det+"/ipset", `{"name":"office","format":"TXT","location":"s3://b/ip.txt","activate":true}`, &ip)
	loader.done(3, nil)
	if err := f.h.ResumeSets(t.Context()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"list one", "list one", "list one", "office", "office"}, loader.names); diff != "" {
		t.Errorf("loads (-want +got):\n%s", diff)
	}
	loader.done(4, errors.New("gone"))
	s, _ := f.store.Set(t.Context(), det, store.IPSet, ip.ID)
	if s.Status != statusError {
		t.Errorf("IPSet status %s after a failed reload", s.Status)
	}
}

func TestSetsWithoutEngine(t *testing.T) {
	f := newFixture(t, nil)
	det := f.createDetector(t)
	var out struct {
		ID string `json:"threatEntitySetId"`
	}
	f.call(t, "POST", "/detector/"+det+"/threatentityset", `{"name":"x","format":"TXT","location":"/tmp/x.txt","activate":true}`, &out)
	var got struct {
		Status, ErrorDetails string
	}
	f.call(t, "GET", "/detector/"+det+"/threatentityset/"+out.ID, "", &got)
	if got.Status != statusError || got.ErrorDetails != errNoEngine.Error() {
		t.Errorf("got %+v", got)
	}
}

func TestListPagination(t *testing.T) {
	f := newFixture(t, nil)
	det := f.createDetector(t)
	for i := range 5 {
		f.call(t, "POST", "/detector/"+det+"/filter", fmt.Sprintf(`{"name":"filter-%d","findingCriteria":{"criterion":{"severity":{"gt":%d}}}}`, i, i), nil)
	}
	var names []string
	token := ""
	pages := 0
	for {
		path := "/detector/" + det + "/filter?maxResults=2"
		if token != "" {
			path += "&nextToken=" + url.QueryEscape(token)
		}
		var page struct {
			FilterNames []string `json:"filterNames"`
			NextToken   string   `json:"nextToken"`
		}
		f.call(t, "GET", path, "", &page)
		names = append(names, page.FilterNames...)
		pages++
		if page.NextToken == "" {
			break
		}
		token = page.NextToken
		// A token of one listing is no good for another.
		w := f.serve(f.request(t, "GET", "/detector/"+det+"/ipset?nextToken="+url.QueryEscape(token), ""))
		if e := errorOf(t, w); e.Message != msgToken {
			t.Errorf("a ListFilters token for ListIPSets: %+v", e)
		}
	}
	if pages != 3 || len(names) != 5 {
		t.Errorf("%d names in %d pages", len(names), pages)
	}
	// The quota of 100 filters.
	for i := 5; i < maxFilters; i++ {
		f.call(t, "POST", "/detector/"+det+"/filter", fmt.Sprintf(`{"name":"filter-%d","findingCriteria":{"criterion":{"severity":{"gt":1}}}}`, i), nil)
	}
	w := f.serve(f.request(t, "POST", "/detector/"+det+"/filter", `{"name":"one-too-many","findingCriteria":{"criterion":{"severity":{"gt":1}}}}`))
	if e := errorOf(t, w); e.Status != 400 {
		t.Errorf("filter 101: %+v", e)
	}
	// A create retried after it succeeded succeeds, even at the quota; a
	// different filter of the same name does not.
	f.call(t, "POST", "/detector/"+det+"/filter", `{"name":"filter-1","findingCriteria":{"criterion":{"severity":{"gt":1}}}}`, nil)
	w = f.serve(f.request(t, "POST", "/detector/"+det+"/filter", `{"name":"filter-1","findingCriteria":{"criterion":{"severity":{"gt":2}}}}`))
	if e := errorOf(t, w); e.Message != "The request is rejected because a filter with the name filter-1 already exists." {
		t.Errorf("a different filter-1: %+v", e)
	}
}
