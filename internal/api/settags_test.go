package api

import (
	"net/url"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"picket/internal/store"
)

// tagLoader records the category tag of each list it is asked to load
// and reports every load done at once.
type tagLoader struct {
	mu         sync.Mutex
	categories []string
}

func (l *tagLoader) Load(s store.Set, done func(error)) {
	l.mu.Lock()
	l.categories = append(l.categories, s.Tags[categoryTag])
	l.mu.Unlock()
	done(nil)
}

func (l *tagLoader) Unload(store.Set) {}

// TestCategoryTagReloads declares a threat list's category with its
// tag: at creation, then with TagResource and UntagResource. A change of
// the category loads an active list again with the new tags; other tags,
// and tags of an inactive list, only update the stored copy.
func TestCategoryTagReloads(t *testing.T) {
	loader := &tagLoader{}
	f := newFixture(t, nil, func(c *Config) { c.Sets = loader })
	det := f.createDetector(t)
	var created struct {
		ID string `json:"threatIntelSetId"`
	}
	f.call(t, "POST", "/detector/"+det+"/threatintelset",
		`{"name":"c2s","format":"TXT","location":"s3://b/c2.txt","activate":true,"tags":{"picket:category":"c2"}}`, &created)
	arn := "arn:aws:guardduty:" + testRegion + ":" + testAccount + ":detector/" + det + "/threatintelset/" + created.ID
	path := "/tags/" + url.PathEscape(arn)

	f.call(t, "POST", path, `{"tags":{"team":"sec"}}`, nil)                 // no reload
	f.call(t, "POST", path, `{"tags":{"picket:category":"phishing"}}`, nil) // reload
	f.call(t, "DELETE", path+"?tagKeys=picket%3Acategory", ``, nil)         // reload, uncategorised
	f.call(t, "POST", "/detector/"+det+"/threatintelset/"+created.ID, `{"activate":false}`, nil)
	f.call(t, "POST", path, `{"tags":{"picket:category":"bitcoin"}}`, nil) // inactive: no load
	if diff := cmp.Diff([]string{"c2", "phishing", ""}, loader.categories); diff != "" {
		t.Errorf("categories loaded (-want +got):\n%s", diff)
	}
	s, err := f.store.Set(t.Context(), det, store.ThreatIntelSet, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"team": "sec", categoryTag: "bitcoin"}, s.Tags); diff != "" {
		t.Errorf("stored tags (-want +got):\n%s", diff)
	}
	// Activating again loads it with the stored category.
	f.call(t, "POST", "/detector/"+det+"/threatintelset/"+created.ID, `{"activate":true}`, nil)
	if got := loader.categories[len(loader.categories)-1]; got != "bitcoin" {
		t.Errorf("activated with category %q, want bitcoin", got)
	}
}
