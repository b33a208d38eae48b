package source

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Watcher polls a directory tree for new and growing files and hands
// them to the ingest loop as Tasks, oldest delivery first (by the time in
// S3-layout names, then by path). Each file has its own
// checkpoint (FileCheckpoint), so a restart resumes every file exactly
// where the last commit left it.
//
//   - Plain text is read as it grows; a last line without its newline
//     waits until the file's size has held still for a poll.
//   - Gzip and Parquet files are read once their size has held still
//     across two polls (S3 delivery writes objects whole, but a copy may
//     still be under way). A gzip file that grows later (a member
//     appended) is resumed at its decompressed offset.
//   - A file whose size drops below what was read was truncated (copy and
//     truncate rotation) and is read again from the start; a path whose
//     inode changed is a new file; a known inode under a new path was
//     renamed (rename rotation) and keeps its progress. A fingerprint of
//     each file's first KiB guards against a reused inode.
//   - A file the reader gives up on (ErrUnreadable: no format picket
//     reads) is remembered with its size and modification time, and not
//     handed over again, nor counted again, until one of them changes.
//
// The tree is listed as picket analyze lists it (see Expand): symbolic
// links are followed, a directory reached twice through links is read
// once, hidden files and directories, CloudTrail digest files and S3
// folder markers are skipped, and named pipes, sockets and devices are
// refused. A path that cannot be read is logged when it first fails, not
// at every poll.
type Watcher struct {
	dir      string
	poll     time.Duration
	defaults Defaults
	log      *slog.Logger

	mu       sync.Mutex
	files    map[string]*fileState
	scans    uint64
	problems map[string]string // paths that cannot be read, with why, as last logged
}

// FileCheckpoint is the saved progress of one watched file.
type FileCheckpoint struct {
	Dev   uint64   `json:"dev"`
	Ino   uint64   `json:"ino"`
	Size  int64    `json:"size"` // bytes on disk when last read
	Pos   Position `json:"pos"`
	Done  bool     `json:"done,omitempty"` // a complete file (gzip, Parquet) read to its end
	Error string   `json:"error,omitempty"`
	// FP is the SHA-256 of the file's first FPLen bytes (at most 1 KiB).
	FP    string `json:"fp,omitempty"`
	FPLen int64  `json:"fplen,omitempty"`
	// Unreadable says the reader gave up on the file as it was (ErrUnreadable),
	// at Size bytes and modification time MTime (Unix nanoseconds): it is
	// not read again until one of them changes.
	Unreadable bool  `json:"unreadable,omitempty"`
	MTime      int64 `json:"mtime,omitempty"`
}

type fileKind uint8

const (
	kindUnknown fileKind = iota
	kindPlain
	kindGzip
	kindParquet
)

type fileState struct {
	FileCheckpoint
	path     string
	kind     fileKind
	seenSize int64 // size at the last scan
	seenTime int64 // modification time at the last scan, Unix nanoseconds
	stable   int   // consecutive scans with an unchanged size
	busy     bool  // a task is out
	dirty    bool  // changed since the last checkpoint
	present  bool  // seen by the current scan
}

// fingerprintLen is how much of a file's beginning identifies it.
const fingerprintLen = 1024

// NewWatcher returns a watcher of dir that lists it every poll. defaults
// apply to records and paths that name no account or region.
func NewWatcher(dir string, poll time.Duration, defaults Defaults, log *slog.Logger) (*Watcher, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("watching %q: %w", dir, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Watcher{dir: abs, poll: poll, defaults: defaults, log: log, files: map[string]*fileState{}}, nil
}

// Name names the source in logs and metrics.
func (w *Watcher) Name() string { return "watch:" + w.dir }

func (w *Watcher) prefix() string { return "file:" + w.dir + string(filepath.Separator) }

// Owns reports whether a checkpoint name is one of this watcher's files.
func (w *Watcher) Owns(name string) bool { return strings.HasPrefix(name, w.prefix()) }

// Restore loads the checkpoints of files under the directory. It must be
// called before Run.
func (w *Watcher) Restore(cps []Checkpoint) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, cp := range cps {
		if !w.Owns(cp.Name) {
			continue
		}
		var fc FileCheckpoint
		if err := json.Unmarshal(cp.Data, &fc); err != nil {
			return fmt.Errorf("restoring checkpoint %q: %w", cp.Name, err)
		}
		path := strings.TrimPrefix(cp.Name, "file:")
		w.files[path] = &fileState{FileCheckpoint: fc, path: path, seenSize: -1}
	}
	return nil
}

// Checkpoints returns the checkpoints of the files whose progress changed
// since the last call.
func (w *Watcher) Checkpoints() []Checkpoint {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []Checkpoint
	for _, st := range w.files {
		if !st.dirty {
			continue
		}
		b, err := json.Marshal(st.FileCheckpoint)
		if err != nil {
			panic(err) // a struct of plain fields always marshals
		}
		out = append(out, Checkpoint{Name: "file:" + st.path, Data: b})
		st.dirty = false
	}
	slices.SortFunc(out, func(a, b Checkpoint) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// WatchStatus says how far a watcher has got.
type WatchStatus struct {
	Scans   uint64 // directory listings so far
	Files   int    // files present at the last scan
	Pending int    // of those, files with data not yet read, or being read
}

// Status returns the watcher's status as of its last scan.
func (w *Watcher) Status() WatchStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := WatchStatus{Scans: w.scans}
	for _, st := range w.files {
		if st.present {
			s.Files++
			if st.busy || w.unread(st) {
				s.Pending++
			}
		}
	}
	return s
}

// Pending returns how many files have unread data as of the last scan.
func (w *Watcher) Pending() int { return w.Status().Pending }

// Run polls until ctx is done, handing each file with unread data to
// tasks and waiting for the ingest loop to finish it before the next.
func (w *Watcher) Run(ctx context.Context, tasks chan<- *Task) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		for _, task := range w.scan() {
			select {
			case tasks <- task:
			case <-ctx.Done():
				w.release(task)
				return nil
			}
			select {
			case <-task.Done():
			case <-ctx.Done():
				// The ingest loop holds the task and finishes it as it
				// stops; its checkpoint follows in the final commit.
				return nil
			}
		}
		t.Reset(w.poll)
	}
}

// release returns a task that was never handed over.
func (w *Watcher) release(t *Task) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if st, ok := w.files[t.Name]; ok {
		st.busy = false
	}
}

type found struct {
	path     string
	size     int64
	mtime    int64 // Unix nanoseconds
	dev, ino uint64
}

// scan lists the directory, updates what is known of each file and
// returns the tasks of the files ready to read, in path order.
func (w *Watcher) scan() []*Task {
	var list []found
	problems := map[string]string{}
	add := func(path string, info fs.FileInfo) {
		f := found{path: path, size: info.Size(), mtime: info.ModTime().UnixNano()}
		if id, ok := identity(info); ok {
			f.dev, f.ino = id.dev, id.ino
		}
		list = append(list, f)
	}
	root, err := os.Stat(w.dir)
	switch {
	case err != nil:
		w.warnOnce(map[string]string{w.dir: err.Error()})
		return nil
	case root.IsDir():
		wk := walker{file: add, problem: func(path string, err error) { problems[path] = err.Error() }}
		wk.walk(w.dir, root)
	case root.Mode().IsRegular():
		add(w.dir, root)
	default:
		problems[w.dir] = notRegular(root.Mode()).Error()
	}
	w.warnOnce(problems)

	w.mu.Lock()
	defer w.mu.Unlock()
	w.scans++
	for _, st := range w.files {
		st.present = false
	}
	type inode struct{ dev, ino uint64 }
	byInode := make(map[inode]*fileState, len(w.files))
	for _, st := range w.files {
		if st.Ino != 0 {
			byInode[inode{st.Dev, st.Ino}] = st
		}
	}
	here := make(map[string]found, len(list))
	for _, f := range list {
		here[f.path] = f
	}
	for _, f := range list {
		st := w.files[f.path]
		if st != nil && st.Ino != 0 && (st.Dev != f.dev || st.Ino != f.ino) && !st.busy {
			// Another file now has this path. If the old one moved,
			// its progress moves with it (below); this one is new.
			st = nil
		}
		if st == nil {
			if old := byInode[inode{f.dev, f.ino}]; old != nil && old.path != f.path && !old.busy {
				if g, still := here[old.path]; !still || g.ino != f.ino || g.dev != f.dev {
					w.log.Info("watch: file renamed", "from", old.path, "to", f.path)
					if w.files[old.path] == old {
						delete(w.files, old.path)
					}
					old.path = f.path
					old.dirty = true
					st = old
				}
			}
		}
		if st == nil {
			st = &fileState{path: f.path, seenSize: -1}
			st.Dev, st.Ino = f.dev, f.ino
			st.dirty = true
		}
		w.files[f.path] = st
		st.present = true
		if f.size == st.seenSize {
			st.stable++
		} else {
			st.stable = 0
			st.seenSize = f.size
		}
		st.seenTime = f.mtime
		if st.Dev != f.dev || st.Ino != f.ino {
			st.Dev, st.Ino = f.dev, f.ino
			st.dirty = true
		}
	}
	var tasks []*Task
	for path, st := range w.files {
		if !st.present {
			if !st.busy {
				delete(w.files, path) // gone; its checkpoint stays
			}
			continue
		}
		if st.busy {
			continue
		}
		if t := w.ready(st); t != nil {
			tasks = append(tasks, t)
		}
	}
	// Oldest delivery first: S3-layout names carry the delivery time, and
	// the files of several flow logs in one folder interleave by it.
	slices.SortFunc(tasks, func(a, b *Task) int {
		if c := a.Layout.Time.Compare(b.Layout.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return tasks
}

// warnOnce logs each path that cannot be read when it first fails or
// fails differently, not at every poll, and forgets those that recovered.
func (w *Watcher) warnOnce(problems map[string]string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	paths := make([]string, 0, len(problems))
	for path := range problems {
		paths = append(paths, path)
	}
	slices.Sort(paths)
	for _, path := range paths {
		if msg := problems[path]; w.problems[path] != msg {
			w.log.Warn("watch: cannot read", "path", path, "error", msg)
		}
	}
	w.problems = problems
}

// givenUp reports whether the reader gave up on a file that has not
// changed since.
func givenUp(st *fileState) bool {
	return st.Unreadable && st.seenSize == st.Size && st.seenTime == st.MTime
}

// unread reports whether a file has data past its position.
func (w *Watcher) unread(st *fileState) bool {
	if givenUp(st) {
		return false
	}
	switch st.kind {
	case kindGzip, kindParquet:
		return !st.Done && st.Error == "" || st.seenSize != st.Size
	}
	return st.seenSize > st.Pos.Offset || st.seenSize < st.Pos.Offset
}

// ready decides whether a file is to be read now and returns its task.
func (w *Watcher) ready(st *fileState) *Task {
	size := st.seenSize
	if size <= 0 || givenUp(st) {
		return nil
	}
	if st.Unreadable {
		// Changed since the reader gave up: look at it afresh.
		w.log.Info("watch: unreadable file changed; reading it again", "path", st.path)
		st.Unreadable, st.MTime = false, 0
		st.Done, st.Error = false, ""
		st.kind = kindUnknown
		st.dirty = true
	}
	if st.kind == kindUnknown {
		k, err := sniff(st.path)
		if err != nil {
			return nil
		}
		st.kind = k
	}
	complete := st.stable >= 1
	switch st.kind {
	case kindGzip, kindParquet:
		if !complete || !w.unread(st) {
			return nil
		}
		if size < st.Size {
			w.log.Warn("watch: file shrank; reading it again", "path", st.path, "was", st.Size, "now", size)
			st.Pos = Position{}
		}
	default:
		switch {
		case size < st.Pos.Offset:
			w.log.Warn("watch: file truncated; reading it again", "path", st.path, "offset", st.Pos.Offset, "size", size)
			st.Pos = Position{}
			st.dirty = true
		case size == st.Pos.Offset:
			return nil
		}
	}
	if err := w.checkFingerprint(st, size); err != nil {
		w.log.Warn("watch: cannot read", "path", st.path, "error", err)
		return nil
	}
	st.Size = size
	st.Done, st.Error = false, ""
	st.busy = true
	path := st.path
	t := NewTask(path, func() (*Stream, error) {
		return Input{Name: path, Path: path, Size: size}.Open(nil)
	}, func(p Position, final bool, err error) {
		w.report(path, p, final, err)
	})
	t.Layout = ParseLayout(path)
	t.Defaults = w.defaults
	t.Start = st.Pos
	t.Complete = complete
	return t
}

// checkFingerprint compares the file's first bytes with those it had when
// it was read before; a mismatch means a new file reused the inode, and
// reading starts over.
func (w *Watcher) checkFingerprint(st *fileState, size int64) error {
	n := min(size, fingerprintLen)
	if st.Pos.IsZero() {
		st.FPLen = 0 // read from the start: take a new fingerprint
	}
	if st.FPLen > 0 {
		fp := ""
		if size >= st.FPLen {
			var err error
			if fp, err = fingerprint(st.path, st.FPLen); err != nil {
				return err
			}
		}
		if fp != st.FP {
			w.log.Warn("watch: a different file has the same inode; reading it from the start", "path", st.path)
			st.Pos = Position{}
			st.FPLen = 0
		}
	}
	if st.FPLen < n {
		fp, err := fingerprint(st.path, n)
		if err != nil {
			return err
		}
		st.FP, st.FPLen = fp, n
		st.dirty = true
	}
	return nil
}

func fingerprint(path string, n int64) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyN(h, f, n); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)[:16]), nil
}

func sniff(path string) (fileKind, error) {
	f, err := os.Open(path)
	if err != nil {
		return kindUnknown, err
	}
	defer f.Close()
	var b [4]byte
	n, _ := io.ReadFull(f, b[:])
	switch {
	case n >= 2 && b[0] == 0x1f && b[1] == 0x8b:
		return kindGzip, nil
	case n == 4 && bytes.Equal(b[:], []byte("PAR1")):
		return kindParquet, nil
	case n < 4:
		return kindUnknown, errors.New("too short to tell")
	}
	return kindPlain, nil
}

// report takes a task's progress and end.
func (w *Watcher) report(path string, p Position, final bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.files[path]
	if st == nil {
		return
	}
	st.Pos = p
	st.dirty = true
	if !final {
		return
	}
	st.busy = false
	switch {
	case err == nil:
		if st.kind == kindGzip || st.kind == kindParquet {
			st.Done = true
		}
	case errors.Is(err, ErrStopped):
	case errors.Is(err, ErrUnreadable):
		// Remember the file as it was read, so that it is handed over
		// again only once it changes (and counted once until then).
		st.Unreadable, st.MTime = true, st.seenTime
		st.Done, st.Error = true, err.Error()
		w.log.Warn("watch: cannot read file; waiting until it changes", "path", path, "error", err)
	default:
		// A complete-looking file that fails may still be being
		// written; if it has changed since, try again when it settles.
		if fi, serr := os.Stat(path); serr == nil && fi.Size() != st.Size {
			st.stable = 0
			st.seenSize = fi.Size()
			w.log.Info("watch: file changed while read; reading the rest when it settles", "path", path, "error", err)
			return
		}
		st.Done = true
		st.Error = err.Error()
		w.log.Warn("watch: giving up on file", "path", path, "error", err, "records", p.Records, "line", p.Line)
	}
}
