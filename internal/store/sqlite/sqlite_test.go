package sqlite

import (
	"os"
	"path/filepath"
	"testing"

	"picket/internal/store"
	"picket/internal/store/storetest"
)

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "picket.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// Store has every method the conformance suite tests.
var _ storetest.Store = (*Store)(nil)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store { return openTemp(t) })
}

// TestFileMode checks that a new database and its WAL are readable by
// their owner only.
func TestFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "picket.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateDetector(t.Context(), &store.Detector{ID: "d", Account: "111122223333", Region: "us-east-1"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(p), m)
		}
	}
}

func TestOpenRejectsURIs(t *testing.T) {
	for _, p := range []string{"", "file:x.db", filepath.Join(t.TempDir(), "a?mode=ro")} {
		if s, err := Open(t.Context(), p); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}
