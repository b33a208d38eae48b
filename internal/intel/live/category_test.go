package live

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"picket/internal/detect"
	"picket/internal/intel"
	"picket/internal/store"
)

// TestCategoryTag loads ThreatIntelSets through Lists as the API hands
// them over: the picket:category tag declares the list's category, which
// DNS detectors see on the match; a set without the tag has none; an
// unknown category fails the load, naming the tag.
func TestCategoryTag(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ls := New(slog.New(slog.DiscardHandler), dir)
	load := func(s store.Set) error {
		done := make(chan error, 1)
		ls.Load(s, func(err error) { done <- err })
		return <-done
	}
	c2 := store.Set{DetectorID: "d1", Kind: store.ThreatIntelSet, ID: "s1", Name: "c2s", Format: "TXT",
		Location: write("c2.txt", "c2.example\n"), Tags: map[string]string{intel.CategoryTag: "C2", "team": "sec"}}
	plain := store.Set{DetectorID: "d1", Kind: store.ThreatIntelSet, ID: "s2", Name: "plain", Format: "TXT",
		Location: write("plain.txt", "plain.example\n"), Tags: map[string]string{"team": "sec"}}
	for _, s := range []store.Set{c2, plain} {
		if err := load(s); err != nil {
			t.Fatal(err)
		}
	}
	var di detect.DomainIntel = ls
	for name, want := range map[string]string{"x.c2.example": "c2", "plain.example": ""} {
		if m, ok := di.ThreatDomain(name); !ok || m.Category != want || m.ListName == "" {
			t.Errorf("ThreatDomain(%q) = %+v, %v; want category %q", name, m, ok, want)
		}
	}
	bad := c2
	bad.ID, bad.Tags = "s3", map[string]string{intel.CategoryTag: "nasty"}
	if err := load(bad); err == nil || !strings.Contains(err.Error(), intel.CategoryTag) {
		t.Errorf("load with an unknown category: %v, want an error naming the tag", err)
	}
	// On a trusted list the tag means nothing and is ignored.
	trusted := store.Set{DetectorID: "d1", Kind: store.IPSet, ID: "s4", Name: "ok", Format: "TXT",
		Location: write("ok.txt", "ok.example\n"), Tags: map[string]string{intel.CategoryTag: "nasty"}}
	if err := load(trusted); err != nil {
		t.Errorf("trusted list with a category tag: %v", err)
	}
}
