package ingest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"picket/internal/source"
)

// TestWatchedUnrecognizedFileCountedOnce runs a watcher over a file in no
// format picket reads and the loop's reader over what it hands out: the
// file is handed over, and counted, once, not at every poll.
func TestWatchedUnrecognizedFileCountedOnce(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("this is not a flow log, nor any log picket reads\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g := newTestIngest(t)
	w, err := source.NewWatcher(dir, 5*time.Millisecond, source.Defaults{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	tasks := make(chan *source.Task)
	go w.Run(ctx, tasks)
	handed := 0
	for deadline := time.After(300 * time.Millisecond); ; {
		select {
		case task := <-tasks:
			handed++
			g.read(ctx, task)
			continue
		case <-deadline:
		}
		break
	}
	if handed != 1 || g.feed.Skipped["unrecognized-format"] != 1 {
		t.Errorf("handed over %d times, counted %d times; want once each", handed, g.feed.Skipped["unrecognized-format"])
	}
	if s := w.Status(); s.Pending != 0 {
		t.Errorf("%d files pending", s.Pending)
	}
}
