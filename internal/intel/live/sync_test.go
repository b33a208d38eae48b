package live

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"picket/internal/store"
)

// setStore is a store of list resources in memory, for Sync.
type setStore struct {
	sets    []*store.Set
	updates int
}

func (s *setStore) Detectors(context.Context, store.Page) ([]string, string, error) {
	return []string{"d1"}, "", nil
}

func (s *setStore) Sets(_ context.Context, det string, kind store.SetKind, _ store.Page) ([]string, string, error) {
	var ids []string
	for _, x := range s.sets {
		if x.DetectorID == det && x.Kind == kind {
			ids = append(ids, x.ID)
		}
	}
	return ids, "", nil
}

func (s *setStore) Set(_ context.Context, det string, kind store.SetKind, id string) (*store.Set, error) {
	for _, x := range s.sets {
		if x.DetectorID == det && x.Kind == kind && x.ID == id {
			c := *x
			return &c, nil
		}
	}
	return nil, store.ErrNotFound
}

func (s *setStore) UpdateSet(context.Context, *store.Set) error { s.updates++; return nil }

// TestSync follows the store's active lists without writing to it: a
// list made active is used, a second Sync with nothing changed rebuilds
// nothing, a list deactivated is dropped.
func TestSync(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.txt")
	if err := os.WriteFile(path, []byte("198.51.100.7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	st := &setStore{sets: []*store.Set{{DetectorID: "d1", Kind: store.ThreatIntelSet, ID: "s1", Name: "bad", Format: "TXT", Location: path, Status: "ACTIVE"}}}
	ls := New(slog.New(slog.DiscardHandler), dir)
	listed := func() bool {
		_, ok := ls.Threat(netip.MustParseAddr("198.51.100.7"))
		return ok
	}
	ctx := context.Background()
	if changed, err := ls.Sync(ctx, st); err != nil || !changed || !listed() {
		t.Fatalf("first Sync: changed %v, err %v, listed %v", changed, err, listed())
	}
	if changed, err := ls.Sync(ctx, st); err != nil || changed {
		t.Errorf("Sync with nothing changed: changed %v, err %v", changed, err)
	}
	st.sets[0].Status = "INACTIVE"
	if changed, err := ls.Sync(ctx, st); err != nil || !changed || listed() {
		t.Errorf("Sync after deactivation: changed %v, err %v, listed %v", changed, err, listed())
	}
	if st.updates != 0 {
		t.Errorf("Sync wrote %d list resources", st.updates)
	}
}
