package source

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestWatcherNotifyOverflow overflows the kernel's event queue (the
// reader held off while two files change in turn, so that no event
// merges with the one before) and checks the overflow is counted, and
// that a folder made while events were lost is found and watched: a file
// closed in it afterwards is read at once, with poll_interval an hour.
func TestWatcherNotifyOverflow(t *testing.T) {
	queue := 16384
	if b, err := os.ReadFile("/proc/sys/fs/inotify/max_queued_events"); err == nil {
		queue, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	dir := t.TempDir()
	w, err := NewWatcher(dir, time.Hour, Defaults{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tasks := runWatcher(t, w)
	n := w.note.(*inotify)

	a, err := os.Create(filepath.Join(dir, "a.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := os.Create(filepath.Join(dir, "b.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// The reader may take one read's worth of events (64 KiB, 2048 of
	// these) before it waits for the lock; the queue then holds the rest.
	writes := queue/2 + 2048
	n.mu.Lock()
	for i := range writes {
		fmt.Fprintf(a, "a%d\n", i)
		fmt.Fprintf(b, "b%d\n", i)
	}
	sub := filepath.Join(dir, "made-while-lost")
	if err := os.Mkdir(sub, 0o755); err != nil {
		n.mu.Unlock()
		t.Fatal(err)
	}
	n.mu.Unlock()

	deadline := time.Now().Add(30 * time.Second)
	for w.NotifyStatus().Overflows == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no overflow counted; status %+v", w.NotifyStatus())
		}
		time.Sleep(10 * time.Millisecond)
	}
	path := filepath.Join(sub, "x.log.gz")
	write(t, path, gzipped("x\n"))
	lines := 0
	for {
		task := nextTask(t, tasks)
		got := readLines(t, task, 0)
		if task.Name == path {
			if !task.Complete || len(got) != 1 {
				t.Fatalf("task %s complete %v read %q", task.Name, task.Complete, got)
			}
			break
		}
		lines += len(got)
	}
	if want := 2 * writes; lines != want {
		t.Errorf("read %d lines of the two text files, want %d", lines, want)
	}
	if s := w.NotifyStatus(); s.Overflows != 1 || s.Watches != 2 {
		t.Errorf("status %+v, want 1 overflow and 2 directories watched", s)
	}
}

// inotifyEvent encodes an event as the kernel does.
func inotifyEvent(wd int32, mask uint32, name string) []byte {
	n := (len(name) + 16) &^ 15 // the name, NUL-padded
	b := make([]byte, unix.SizeofInotifyEvent+n)
	binary.NativeEndian.PutUint32(b[0:], uint32(wd))
	binary.NativeEndian.PutUint32(b[4:], mask)
	binary.NativeEndian.PutUint32(b[12:], uint32(n))
	copy(b[unix.SizeofInotifyEvent:], name)
	return b
}

// TestInotifyHandle checks how events in one read become notes: a close
// waits to be confirmed, a change after it cancels it, and hidden files
// and unknown watches are passed over.
func TestInotifyHandle(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.log.gz")
	write(t, path, gzipped("x\n"))
	tests := []struct {
		name      string
		events    [][]byte
		wantMarks int
		wantNote  bool // a note for path
		wantWake  bool
	}{
		{"close", [][]byte{inotifyEvent(1, unix.IN_MODIFY, "f.log.gz"), inotifyEvent(1, unix.IN_CLOSE_WRITE, "f.log.gz")}, 1, true, true},
		{"moved in", [][]byte{inotifyEvent(1, unix.IN_MOVED_TO, "f.log.gz")}, 1, true, true},
		{"changed after close", [][]byte{inotifyEvent(1, unix.IN_CLOSE_WRITE, "f.log.gz"), inotifyEvent(1, unix.IN_MODIFY, "f.log.gz")}, 0, true, true},
		{"moved away", [][]byte{inotifyEvent(1, unix.IN_MOVED_FROM, "f.log.gz")}, 0, true, false},
		{"hidden", [][]byte{inotifyEvent(1, unix.IN_CLOSE_WRITE, ".f.log.gz")}, 0, false, false},
		{"unknown watch", [][]byte{inotifyEvent(7, unix.IN_CLOSE_WRITE, "f.log.gz")}, 0, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &inotify{
				root: dir, log: slog.New(slog.DiscardHandler), limit: 10,
				dirs: map[int32]*dirWatch{1: {path: dir}}, byPath: map[string]int32{dir: 1}, byID: map[fileID]int32{},
				notes: map[string]fileNote{},
			}
			var marks []closeMark
			wake := n.handle(bytes.Join(tt.events, nil), &marks)
			_, noted := n.notes[path]
			if len(marks) != tt.wantMarks || noted != tt.wantNote || wake != tt.wantWake {
				t.Errorf("marks %v, noted %v, wake %v; want %d marks, noted %v, wake %v", marks, noted, wake, tt.wantMarks, tt.wantNote, tt.wantWake)
			}
			if len(marks) == 1 && (!marks[0].note.closed || marks[0].note.size != int64(len(gzipped("x\n")))) {
				t.Errorf("mark %+v, want the file as closed", marks[0])
			}
		})
	}
}
