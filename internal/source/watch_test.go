package source

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// readLines plays the ingest loop for a test: it reads a task's complete
// lines from its start (at most max of them; 0 for all), finishes the
// task and returns the lines read.
func readLines(t *testing.T, task *Task, max int) []string {
	t.Helper()
	st, err := task.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pos := task.Start
	if err := st.Skip(pos.Offset); err != nil {
		task.Finish(pos, err)
		t.Fatalf("%s: skip to %d: %v", task.Name, pos.Offset, err)
	}
	br := bufio.NewReader(st)
	var lines []string
	for max == 0 || len(lines) < max {
		line, err := br.ReadString('\n')
		if err != nil && (line == "" || !task.Complete) {
			if !errors.Is(err, io.EOF) {
				task.Finish(pos, err)
				return lines
			}
			break
		}
		pos.Offset += int64(len(line))
		pos.Line++
		lines = append(lines, strings.TrimSuffix(line, "\n"))
	}
	if max > 0 && len(lines) == max {
		task.Finish(pos, ErrStopped)
	} else {
		task.Finish(pos, nil)
	}
	return lines
}

func names(tasks []*Task, dir string) []string {
	var out []string
	for _, t := range tasks {
		rel, _ := filepath.Rel(dir, t.Name)
		out = append(out, rel)
	}
	return out
}

func write(t testing.TB, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendTo(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(data)
	f.Close()
}

func gzipped(s string) string {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.String()
}

func newTestWatcher(t *testing.T, dir string) *Watcher {
	t.Helper()
	w, err := NewWatcher(dir, time.Hour, Defaults{Region: "eu-west-1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestWatcherGrowingFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "flows.log")
	write(t, path, "a\nb\npart")
	w := newTestWatcher(t, dir)

	tasks := w.scan()
	if len(tasks) != 1 || tasks[0].Complete || tasks[0].Defaults.Region != "eu-west-1" {
		t.Fatalf("first scan: %v", tasks)
	}
	if got := readLines(t, tasks[0], 0); !cmp.Equal(got, []string{"a", "b"}) {
		t.Errorf("read %q: the cut last line must wait", got)
	}
	// The writer finishes the line and adds another.
	appendTo(t, path, "ial\nc\n")
	tasks = w.scan()
	if len(tasks) != 1 || tasks[0].Start.Line != 2 || tasks[0].Start.Offset != 4 {
		t.Fatalf("after growth: %+v", tasks)
	}
	if got := readLines(t, tasks[0], 0); !cmp.Equal(got, []string{"partial", "c"}) {
		t.Errorf("read %q after growth", got)
	}
	if tasks = w.scan(); len(tasks) != 0 {
		t.Errorf("nothing new, yet %d tasks", len(tasks))
	}
	// A last line without newline is read once the file holds still.
	appendTo(t, path, "d")
	tasks = w.scan()
	if got := readLines(t, tasks[0], 0); len(got) != 0 {
		t.Errorf("read %q of a file still growing", got)
	}
	tasks = w.scan()
	if len(tasks) != 1 || !tasks[0].Complete {
		t.Fatalf("stable file: %+v", tasks)
	}
	if got := readLines(t, tasks[0], 0); !cmp.Equal(got, []string{"d"}) {
		t.Errorf("read %q of the settled file", got)
	}
}

func TestWatcherGzipWaitsUntilStable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "AWSLogs/123456789012/vpcflowlogs/us-east-2/2026/03/04/x.log.gz")
	write(t, path, gzipped("h\n1\n2\n"))
	w := newTestWatcher(t, dir)
	if tasks := w.scan(); len(tasks) != 0 {
		t.Fatalf("a gzip file seen once was handed over: %v", names(tasks, dir))
	}
	tasks := w.scan()
	if len(tasks) != 1 || !tasks[0].Complete || tasks[0].Layout.Region != "us-east-2" || tasks[0].Layout.Account != "123456789012" {
		t.Fatalf("stable gzip: %+v", tasks)
	}
	// Stop after one line: the next task resumes at the decompressed
	// offset.
	if got := readLines(t, tasks[0], 1); !cmp.Equal(got, []string{"h"}) {
		t.Fatalf("read %q", got)
	}
	tasks = w.scan()
	if len(tasks) != 1 || tasks[0].Start.Offset != 2 {
		t.Fatalf("resume: %+v", tasks)
	}
	if got := readLines(t, tasks[0], 0); !cmp.Equal(got, []string{"1", "2"}) {
		t.Errorf("resumed read %q", got)
	}
	if tasks = w.scan(); len(tasks) != 0 {
		t.Errorf("a finished gzip file was handed over again")
	}
	// A member appended later is read from where the first ended.
	appendTo(t, path, gzipped("3\n"))
	w.scan()
	tasks = w.scan()
	if len(tasks) != 1 {
		t.Fatalf("appended member: %d tasks", len(tasks))
	}
	if got := readLines(t, tasks[0], 0); !cmp.Equal(got, []string{"3"}) {
		t.Errorf("appended member read %q", got)
	}
}

func TestWatcherTruncationAndRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	write(t, path, "one\ntwo\nthree\n")
	w := newTestWatcher(t, dir)
	readLines(t, w.scan()[0], 2)

	// Copy-and-truncate rotation: the file starts over, shorter.
	os.Truncate(path, 0)
	appendTo(t, path, "new\n")
	tasks := w.scan()
	if len(tasks) != 1 || !tasks[0].Start.IsZero() {
		t.Fatalf("truncated file: %+v", tasks)
	}
	if got := readLines(t, tasks[0], 0); !cmp.Equal(got, []string{"new"}) {
		t.Errorf("after truncation read %q", got)
	}
	appendTo(t, path, "more\nlast\n")
	readLines(t, w.scan()[0], 1) // "more"

	// Rename rotation: the old file moves on, a new one takes its name.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	write(t, path, "fresh\n")
	tasks = w.scan()
	if diff := cmp.Diff([]string{"app.log", "app.log.1"}, names(tasks, dir)); diff != "" {
		t.Fatalf("tasks after rotation (-want +got):\n%s", diff)
	}
	if got := readLines(t, tasks[0], 0); !cmp.Equal(got, []string{"fresh"}) {
		t.Errorf("new file read %q", got)
	}
	if got := readLines(t, tasks[1], 0); !cmp.Equal(got, []string{"last"}) {
		t.Errorf("rotated file read %q: it must go on where it stopped", got)
	}
}

// TestWatcherCheckpointsResume saves checkpoints, restores them in a new
// watcher (a restart) and checks each file resumes where it was.
func TestWatcherCheckpointsResume(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.log"), "a1\na2\na3\n")
	write(t, filepath.Join(dir, "b.log.gz"), gzipped("b1\nb2\n"))
	write(t, filepath.Join(dir, ".hidden/c.log"), "hidden\n")
	write(t, filepath.Join(dir, ".tmp-d.log"), "temporary\n")
	w := newTestWatcher(t, dir)
	tasks := w.scan()
	if diff := cmp.Diff([]string{"a.log"}, names(tasks, dir)); diff != "" {
		t.Fatalf("first scan (-want +got):\n%s", diff)
	}
	readLines(t, tasks[0], 1)
	tasks = w.scan()
	if diff := cmp.Diff([]string{"a.log", "b.log.gz"}, names(tasks, dir)); diff != "" {
		t.Fatalf("second scan (-want +got):\n%s", diff)
	}
	readLines(t, tasks[0], 1) // a2
	readLines(t, tasks[1], 0) // b done

	cps := w.Checkpoints()
	if len(cps) != 2 || !w.Owns(cps[0].Name) || cps[0].Name != "file:"+filepath.Join(dir, "a.log") {
		t.Fatalf("checkpoints %v", cps)
	}
	if again := w.Checkpoints(); len(again) != 0 {
		t.Errorf("unchanged files checkpointed again: %v", again)
	}

	w2 := newTestWatcher(t, dir)
	if err := w2.Restore(append(cps, Checkpoint{Name: "file:/elsewhere/x.log", Data: []byte("{}")})); err != nil {
		t.Fatal(err)
	}
	tasks = w2.scan()
	if diff := cmp.Diff([]string{"a.log"}, names(tasks, dir)); diff != "" {
		t.Fatalf("after restart (-want +got):\n%s", diff)
	}
	if got := readLines(t, tasks[0], 0); !cmp.Equal(got, []string{"a3"}) {
		t.Errorf("resumed read %q", got)
	}
	if tasks := w2.scan(); len(tasks) != 0 {
		t.Errorf("the finished gzip file was read again after the restart: %v", names(tasks, dir))
	}
}

// TestWatcherReusedInode checks the fingerprint: a checkpoint whose inode
// now belongs to a different file reads that file from its start.
func TestWatcherReusedInode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.log")
	write(t, path, "first file line 1\nfirst file line 2\n")
	w := newTestWatcher(t, dir)
	readLines(t, w.scan()[0], 1)
	cps := w.Checkpoints()

	// Same path, same inode (rewritten in place), different content.
	if err := os.WriteFile(path, []byte("second file, longer: line 1\nline 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w2 := newTestWatcher(t, dir)
	w2.Restore(cps)
	tasks := w2.scan()
	if len(tasks) != 1 || !tasks[0].Start.IsZero() {
		t.Fatalf("tasks %+v: a different file under a known inode must be read from the start", tasks)
	}
	if got := readLines(t, tasks[0], 0); len(got) != 2 {
		t.Errorf("read %q", got)
	}
}

func TestWatcherRunHandsFilesInOrder(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"b/2.log", "a/1.log", "b/1.log"} {
		write(t, filepath.Join(dir, f), f+"\n")
	}
	w, _ := NewWatcher(dir, 10*time.Millisecond, Defaults{}, nil)
	tasks := make(chan *Task)
	ctx, cancel := context.WithCancel(t.Context())
	go w.Run(ctx, tasks)
	var got []string
	for len(got) < 3 {
		task := <-tasks
		got = append(got, readLines(t, task, 0)...)
	}
	cancel()
	if diff := cmp.Diff([]string{"a/1.log", "b/1.log", "b/2.log"}, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	if w.Pending() != 0 {
		t.Errorf("%d files pending", w.Pending())
	}
}

// TestWatcherFollowsLinks watches a link to a directory whose tree holds
// a link to another directory, a link loop and a named pipe: the files
// behind the links are read, and each path that cannot be read is
// logged once, not at every poll.
func TestWatcherFollowsLinks(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "real/a.log"), "line a\n")
	write(t, filepath.Join(dir, "tree/b.log"), "line b\n")
	for _, l := range [][2]string{{"../real", "tree/sub"}, {".", "tree/loop"}, {"tree", "watched"}} {
		if err := os.Symlink(l[0], filepath.Join(dir, l[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "tree/pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	w, err := NewWatcher(filepath.Join(dir, "watched"), time.Hour, Defaults{}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	tasks := w.scan()
	if diff := cmp.Diff([]string{"watched/b.log", "watched/sub/a.log"}, names(tasks, dir)); diff != "" {
		t.Fatalf("tasks (-want +got):\n%s", diff)
	}
	var got []string
	for _, task := range tasks {
		got = append(got, readLines(t, task, 0)...)
	}
	if diff := cmp.Diff([]string{"line b", "line a"}, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	w.scan()
	var warned []string
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, "cannot read") {
			warned = append(warned, line)
		}
	}
	if len(warned) != 2 || !strings.Contains(warned[0], "watched/loop") || !strings.Contains(warned[0], "symbolic link loop") ||
		!strings.Contains(warned[1], "watched/pipe") || !strings.Contains(warned[1], "named pipe") {
		t.Errorf("warnings over two scans:\n%s\nwant the loop and the pipe, once each", strings.Join(warned, ""))
	}
}

// TestWatcherUnreadableUntilChanged finishes a task as the ingest loop
// does for a file in no known format: the watcher does not hand it over
// again, across polls and a restart, until the file changes.
func TestWatcherUnreadableUntilChanged(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "notes.txt")
	write(t, path, "not a flow log\n")
	w := newTestWatcher(t, dir)
	tasks := w.scan()
	if len(tasks) != 1 {
		t.Fatalf("first scan: %d tasks", len(tasks))
	}
	tasks[0].Finish(tasks[0].Start, fmt.Errorf("%w: unrecognized format", ErrUnreadable))
	for i := range 3 {
		if tasks := w.scan(); len(tasks) != 0 {
			t.Fatalf("scan %d handed the unreadable file over again", i+2)
		}
	}
	if s := w.Status(); s.Pending != 0 || s.Files != 1 {
		t.Errorf("status %+v, want the file present and not pending", s)
	}

	w2 := newTestWatcher(t, dir)
	if err := w2.Restore(w.Checkpoints()); err != nil {
		t.Fatal(err)
	}
	if tasks := w2.scan(); len(tasks) != 0 {
		t.Fatalf("after a restart the unreadable file was handed over again")
	}

	// Touched: same size, new modification time.
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	tasks = w2.scan()
	if len(tasks) != 1 || !tasks[0].Start.IsZero() {
		t.Fatalf("touched file: %+v", tasks)
	}
	tasks[0].Finish(tasks[0].Start, fmt.Errorf("%w: unrecognized format", ErrUnreadable))
	if tasks := w2.scan(); len(tasks) != 0 {
		t.Fatalf("handed over again before changing")
	}
	appendTo(t, path, "more\n")
	if tasks := w2.scan(); len(tasks) != 1 {
		t.Fatalf("grown file: %d tasks", len(tasks))
	}
}

// TestWatcherUnreadableGzipTouched checks a gzip file given up on is read
// again once touched, though its size is the same.
func TestWatcherUnreadableGzipTouched(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "blob.gz")
	write(t, path, gzipped("not a flow log\n"))
	w := newTestWatcher(t, dir)
	w.scan() // a gzip file waits until its size holds still
	tasks := w.scan()
	if len(tasks) != 1 {
		t.Fatalf("stable gzip: %d tasks", len(tasks))
	}
	tasks[0].Finish(tasks[0].Start, fmt.Errorf("%w: unrecognized format", ErrUnreadable))
	if tasks := w.scan(); len(tasks) != 0 {
		t.Fatalf("handed over again before changing")
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	if tasks := w.scan(); len(tasks) != 1 {
		t.Fatalf("touched gzip file: %d tasks", len(tasks))
	}
}

// fakeNotifier hands scan the notes a test gives it.
type fakeNotifier struct {
	notes map[string]fileNote
	lost  bool
	dirs  map[string]bool // watched directories
}

func (f *fakeNotifier) wake() <-chan struct{} { return nil }
func (f *fakeNotifier) take() (map[string]fileNote, bool) {
	notes, lost := f.notes, f.lost
	f.notes, f.lost = nil, false
	return notes, lost
}
func (f *fakeNotifier) watched(dir string) bool { return f.dirs[dir] }
func (f *fakeNotifier) sync(map[string]int64)   {}
func (f *fakeNotifier) status() NotifyStatus    { return NotifyStatus{Active: true} }
func (f *fakeNotifier) close()                  {}
func (f *fakeNotifier) note(path string, n fileNote) {
	if f.notes == nil {
		f.notes = map[string]fileNote{}
	}
	f.notes[path] = n
}

// closedNote returns the note of a file's writer closing it as it is.
func closedNote(t *testing.T, path string) fileNote {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := identity(fi)
	return fileNote{closed: true, size: fi.Size(), mtime: fi.ModTime().UnixNano(), dev: id.dev, ino: id.ino}
}

// TestWatcherCompleteFromNotes drives scan with notes of changes, and a
// clock, and checks when a gzip file counts as complete: at once when
// its writer closed it as listed; else only once its size has held for
// a poll, or for quietSettle when it was found in a directory already
// watched with no change seen to it.
func TestWatcherCompleteFromNotes(t *testing.T) {
	const poll = time.Hour
	type step struct {
		advance time.Duration // the clock moves on, then scan
		want    bool          // a complete task is handed over
	}
	tests := []struct {
		name    string
		prepare func(t *testing.T, n *fakeNotifier, path string) // after a first, empty scan
		steps   []step
	}{{
		name: "closed",
		prepare: func(t *testing.T, n *fakeNotifier, path string) {
			write(t, path, gzipped("1\n"))
			n.note(path, closedNote(t, path))
		},
		steps: []step{{0, true}},
	}, {
		name: "changed after close",
		prepare: func(t *testing.T, n *fakeNotifier, path string) {
			write(t, path, gzipped("1\n"))
			n.note(path, closedNote(t, path))
			appendTo(t, path, gzipped("2\n")) // reopened: the close was not the last word
		},
		steps: []step{{0, false}, {time.Minute, false}, {poll, true}},
	}, {
		name: "written, not closed",
		prepare: func(t *testing.T, n *fakeNotifier, path string) {
			write(t, path, gzipped("1\n"))
			n.note(path, fileNote{})
		},
		steps: []step{{0, false}, {2 * quietSettle, false}, {time.Minute, false}, {poll, true}},
	}, {
		name: "found with no change seen",
		prepare: func(t *testing.T, n *fakeNotifier, path string) {
			write(t, path, gzipped("1\n"))
		},
		steps: []step{{0, false}, {quietSettle / 2, false}, {quietSettle / 2, true}},
	}, {
		name: "closed after events were lost",
		prepare: func(t *testing.T, n *fakeNotifier, path string) {
			write(t, path, gzipped("1\n"))
			n.note(path, closedNote(t, path))
			n.lost = true
		},
		steps: []step{{0, true}},
	}, {
		name: "found while events were lost",
		prepare: func(t *testing.T, n *fakeNotifier, path string) {
			write(t, path, gzipped("1\n"))
			n.lost = true
		},
		steps: []step{{0, false}, {quietSettle, false}, {poll, true}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			w, err := NewWatcher(dir, poll, Defaults{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			clock := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
			w.now = func() time.Time { return clock }
			n := &fakeNotifier{dirs: map[string]bool{dir: true}}
			w.note = n
			if tasks := w.scan(); len(tasks) != 0 {
				t.Fatalf("empty tree: %d tasks", len(tasks))
			}
			path := filepath.Join(dir, "x.log.gz")
			tt.prepare(t, n, path)
			for i, s := range tt.steps {
				clock = clock.Add(s.advance)
				tasks := w.scan()
				if got := len(tasks) == 1 && tasks[0].Complete; got != s.want || len(tasks) > 1 {
					t.Fatalf("step %d (+%v): %d tasks, complete %v; want complete %v", i, s.advance, len(tasks), got, s.want)
				}
				if !s.want && !w.nextCheck.IsZero() && !w.nextCheck.After(clock) {
					t.Errorf("step %d: next check %v is not after now %v", i, w.nextCheck, clock)
				}
				if s.want {
					if got := readLines(t, tasks[0], 0); len(got) == 0 || got[0] != "1" {
						t.Errorf("read %q", got)
					}
				}
			}
		})
	}
}

// runWatcher runs w until the test ends and returns its tasks, once its
// first listing is done (so that its directories are watched).
func runWatcher(t testing.TB, w *Watcher) <-chan *Task {
	t.Helper()
	tasks := make(chan *Task)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx, tasks)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	deadline := time.Now().Add(30 * time.Second)
	for w.Status().Scans == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no listing in 30s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return tasks
}

// nextTask waits for a task. The bound is generous (a loaded machine is
// slow) and far below the poll interval the tests set, so a task that
// only a listing every poll would find fails the test.
func nextTask(t testing.TB, tasks <-chan *Task) *Task {
	t.Helper()
	select {
	case task := <-tasks:
		return task
	case <-time.After(30 * time.Second):
		t.Fatal("no task in 30s")
		return nil
	}
}

// TestWatcherNotifiedClose checks that with change notification a gzip
// file written and closed is read at once, complete, though the tree is
// listed every hour only.
func TestWatcherNotifiedClose(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("change notification is Linux's inotify")
	}
	dir := t.TempDir()
	w, err := NewWatcher(dir, time.Hour, Defaults{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tasks := runWatcher(t, w)
	if s := w.NotifyStatus(); !s.Active || s.Watches != 1 {
		t.Errorf("notify status %+v, want active with the root watched", s)
	}
	path := filepath.Join(dir, "x.log.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(gzipped("a\nb\n"))
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	task := nextTask(t, tasks)
	if task.Name != path || !task.Complete {
		t.Fatalf("task %s complete %v", task.Name, task.Complete)
	}
	if got := readLines(t, task, 0); !cmp.Equal(got, []string{"a", "b"}) {
		t.Errorf("read %q", got)
	}
}

// TestWatcherNotifiedNewFolders moves a gzip file into a folder tree made
// after the watch began, as an S3 sync makes a new day's folder, and
// checks it is read long before the next poll.
func TestWatcherNotifiedNewFolders(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("change notification is Linux's inotify")
	}
	dir := t.TempDir()
	write(t, filepath.Join(dir, "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/03/04/old.log.gz"), gzipped("old\n"))
	w, err := NewWatcher(dir, time.Hour, Defaults{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tasks := runWatcher(t, w)
	before := w.NotifyStatus().Watches

	staged := filepath.Join(t.TempDir(), "new.log.gz")
	write(t, staged, gzipped("new\n"))
	day := filepath.Join(dir, "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/04/01")
	if err := os.MkdirAll(day, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(day, "new.log.gz")
	if err := os.Rename(staged, path); err != nil {
		t.Fatal(err)
	}
	task := nextTask(t, tasks)
	if task.Name != path || !task.Complete {
		t.Fatalf("task %s complete %v", task.Name, task.Complete)
	}
	if got := readLines(t, task, 0); !cmp.Equal(got, []string{"new"}) {
		t.Errorf("read %q", got)
	}
	if s := w.NotifyStatus(); s.Watches != before+2 {
		t.Errorf("%d directories watched, want %d: the new month's and day's folders too", s.Watches, before+2)
	}

	// A second file in the new folder, written in place and closed.
	second := filepath.Join(day, "second.log.gz")
	write(t, second, gzipped("second\n"))
	if task := nextTask(t, tasks); task.Name != second || !task.Complete {
		t.Fatalf("task %s complete %v", task.Name, task.Complete)
	} else {
		readLines(t, task, 0)
	}
}

// TestWatcherNotifiedOpenFile checks that a file still open for writing
// is not read as complete, though the tree is watched: a gzip file waits
// for its writer to close it, and a text file's lines are read as they
// come, all but a last line without its newline.
func TestWatcherNotifiedOpenFile(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("change notification is Linux's inotify")
	}
	dir := t.TempDir()
	w, err := NewWatcher(dir, time.Hour, Defaults{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tasks := runWatcher(t, w)

	gz, err := os.Create(filepath.Join(dir, "open.log.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer gz.Close()
	gz.WriteString(gzipped("g1\ng2\n"))
	text, err := os.Create(filepath.Join(dir, "open.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer text.Close()
	text.WriteString("t1\nt2\npart")

	// The text file's lines come; the gzip file does not.
	task := nextTask(t, tasks)
	if task.Name != text.Name() || task.Complete {
		t.Fatalf("task %s complete %v, want the text file, incomplete", task.Name, task.Complete)
	}
	if got := readLines(t, task, 0); !cmp.Equal(got, []string{"t1", "t2"}) {
		t.Errorf("read %q", got)
	}
	// Past the time a file found in a new folder needs to settle, the
	// writers still hold their files: a file closed after that is the
	// next thing read.
	time.Sleep(quietSettle + quietSettle/2)
	write(t, filepath.Join(dir, "zz-marker.log"), "marker\n")
	for {
		task := nextTask(t, tasks)
		got := readLines(t, task, 0)
		if task.Name == filepath.Join(dir, "zz-marker.log") {
			break
		}
		if task.Name != text.Name() || task.Complete || len(got) != 0 {
			t.Fatalf("task %s complete %v read %q while its writer holds it", task.Name, task.Complete, got)
		}
	}

	text.WriteString("ial\n")
	task = nextTask(t, tasks)
	if got := readLines(t, task, 0); task.Name != text.Name() || !cmp.Equal(got, []string{"partial"}) {
		t.Errorf("%s: read %q, want the finished line", task.Name, got)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	task = nextTask(t, tasks)
	if task.Name != gz.Name() || !task.Complete {
		t.Fatalf("task %s complete %v, want the closed gzip file", task.Name, task.Complete)
	}
	if got := readLines(t, task, 0); !cmp.Equal(got, []string{"g1", "g2"}) {
		t.Errorf("read %q", got)
	}
}

// TestWatcherNotifyOff checks that with change notification off the tree
// is listed every poll, and a gzip file read once its size held across
// two listings.
func TestWatcherNotifyOff(t *testing.T) {
	dir := t.TempDir()
	w, err := NewWatcher(dir, 20*time.Millisecond, Defaults{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.SetNotify(false)
	tasks := runWatcher(t, w)
	write(t, filepath.Join(dir, "x.log.gz"), gzipped("x\n"))
	task := nextTask(t, tasks)
	if !task.Complete {
		t.Fatalf("task %s incomplete", task.Name)
	}
	if got := readLines(t, task, 0); !cmp.Equal(got, []string{"x"}) {
		t.Errorf("read %q", got)
	}
	if s := w.NotifyStatus(); s.Active {
		t.Errorf("notify status %+v with notification off", s)
	}
}

// TestWatcherWatchLimit watches a tree of more folders than the limit:
// the most recently changed are watched, the rest counted and listed
// every poll only; a new folder takes the watch of the folder that
// changed least recently.
func TestWatcherWatchLimit(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("change notification is Linux's inotify")
	}
	dir := t.TempDir()
	past := time.Now().Add(-48 * time.Hour)
	for i, name := range []string{"a", "b", "c", "d"} {
		sub := filepath.Join(dir, name)
		write(t, filepath.Join(sub, "f.log"), "line\n")
		at := past.Add(time.Duration(i) * time.Hour) // d changed last
		os.Chtimes(filepath.Join(sub, "f.log"), at, at)
		os.Chtimes(sub, at, at)
	}
	var logs bytes.Buffer
	w, err := NewWatcher(dir, time.Hour, Defaults{}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	w.maxWatches = 3
	tasks := runWatcher(t, w)
	for range 4 {
		readLines(t, nextTask(t, tasks), 0)
	}
	s := w.NotifyStatus()
	if s.Watches != 3 || s.Limit != 3 || s.Unwatched != 2 {
		t.Errorf("status %+v, want 3 watched (the root, c and d) and 2 unwatched (a and b)", s)
	}
	if n := strings.Count(logs.String(), "watch limit reached"); n != 1 {
		t.Errorf("limit logged %d times, want once:\n%s", n, logs.String())
	}

	// The watched folder d tells of its files at once.
	path := filepath.Join(dir, "d/g.log.gz")
	write(t, path, gzipped("d\n"))
	if task := nextTask(t, tasks); task.Name != path || !task.Complete {
		t.Fatalf("task %s complete %v", task.Name, task.Complete)
	} else {
		readLines(t, task, 0)
	}
	// A new folder is watched in place of c, which changed least
	// recently of those watched.
	path = filepath.Join(dir, "e/h.log.gz")
	write(t, path, gzipped("e\n"))
	if task := nextTask(t, tasks); task.Name != path || !task.Complete {
		t.Fatalf("task %s complete %v", task.Name, task.Complete)
	} else {
		readLines(t, task, 0)
	}
	if s := w.NotifyStatus(); s.Watches != 3 || s.Evicted != 1 {
		t.Errorf("status %+v, want 3 watched, 1 evicted", s)
	}
}

// BenchmarkWatcherDrop measures the time from the close of a gzip file
// dropped into a watched tree (the S3 layout, a day's 288 deliveries of
// 4 flow logs already there) to its task being handed over, with the
// tree listed every hour only: change notification finds it. It reports
// the median and the 99th percentile, and how long the last listing
// took: "spaced" drops a file every 300 ms, "stream" one as soon as the
// last was taken, so that listings after changes are spaced by scanGap.
//
//	go test -run '^$' -bench WatcherDrop -benchtime 200x ./internal/source/
func BenchmarkWatcherDrop(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("change notification is Linux's inotify")
	}
	for _, bb := range []struct {
		name  string
		pause time.Duration
	}{{"spaced", 300 * time.Millisecond}, {"stream", 0}} {
		b.Run(bb.name, func(b *testing.B) { benchmarkDrop(b, bb.pause) })
	}
}

func benchmarkDrop(b *testing.B, pause time.Duration) {
	dir := b.TempDir()
	day := filepath.Join(dir, "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/03/04")
	var lines strings.Builder
	lines.WriteString("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n")
	for i := range 200 {
		fmt.Fprintf(&lines, "2 123456789012 eni-0a1b2c3d 10.0.%d.%d 198.51.100.7 %d 443 6 10 840 1772600000 1772600060 ACCEPT OK\n", i/250, i%250, 40000+i)
	}
	data := gzipped(lines.String())
	for i := range 4 * 288 {
		write(b, filepath.Join(day, fmt.Sprintf("123456789012_vpcflowlogs_us-east-1_fl-%d_20260304T%04dZ_hash.log.gz", i%4, i/4)), data)
	}
	w, err := NewWatcher(dir, time.Hour, Defaults{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	tasks := runWatcher(b, w)
	var took []time.Duration
	for i := 0; b.Loop(); i++ {
		if pause > 0 {
			b.StopTimer()
			time.Sleep(pause)
			b.StartTimer()
		}
		path := filepath.Join(day, fmt.Sprintf("123456789012_vpcflowlogs_us-east-1_fl-9_20260305T%04dZ_hash.log.gz", i))
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		f.WriteString(data)
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		closed := time.Now()
		task := nextTask(b, tasks)
		took = append(took, time.Since(closed))
		if task.Name != path || !task.Complete {
			b.Fatalf("task %s complete %v, want %s", task.Name, task.Complete, path)
		}
		task.Finish(Position{}, nil)
	}
	b.ReportMetric(float64(w.scanTook.Microseconds())/1000, "scan-ms")
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
}

// TestWatcherNotifiedSingleFile watches one file, not a directory: its
// lines are read as they come, and the last line without its newline as
// soon as the writer closes it.
func TestWatcherNotifiedSingleFile(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("change notification is Linux's inotify")
	}
	path := filepath.Join(t.TempDir(), "app.log")
	write(t, path, "one\n")
	w, err := NewWatcher(path, time.Hour, Defaults{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tasks := runWatcher(t, w)
	if got := readLines(t, nextTask(t, tasks), 0); !cmp.Equal(got, []string{"one"}) {
		t.Errorf("read %q", got)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("two\nthr")
	if got := readLines(t, nextTask(t, tasks), 0); !cmp.Equal(got, []string{"two"}) {
		t.Errorf("read %q", got)
	}
	f.WriteString("ee")
	f.Close()
	for {
		task := nextTask(t, tasks)
		got := readLines(t, task, 0)
		if task.Complete {
			if !cmp.Equal(got, []string{"three"}) {
				t.Errorf("read %q once closed", got)
			}
			break
		}
		if len(got) != 0 {
			t.Fatalf("read %q before the close", got)
		}
	}
}
