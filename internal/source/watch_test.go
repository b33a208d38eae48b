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

func write(t *testing.T, path, data string) {
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
