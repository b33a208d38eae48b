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

// Watcher watches a directory tree for new and growing files and hands
// them to the ingest loop as Tasks, oldest delivery first (by the time in
// S3-layout names, then by path). Each file has its own
// checkpoint (FileCheckpoint), so a restart resumes every file exactly
// where the last commit left it.
//
// The tree is listed every poll, and, where the system tells of changes
// (inotify on Linux; see notify_linux.go), again shortly after anything
// in it changes, so that a file is read within a fraction of a second of
// being written. The listing every poll stays as the safety net: it finds
// what notification misses (file systems without it, such as some
// network mounts, and directories beyond the watch limit).
//
//   - Plain text is read as it grows; a last line without its newline
//     waits until the file is complete.
//   - Gzip and Parquet files are read once complete (S3 delivery writes
//     objects whole, but a copy may still be under way). A gzip file
//     that grows later (a member appended) is resumed at its
//     decompressed offset.
//   - A file is complete when its writer closed it, or moved it into
//     place, and it has not changed since (known from notification);
//     otherwise once its size has held still across two listings a
//     poll apart. A file that was already in a directory when that
//     directory's watch began (a folder created, and filled at once,
//     while picket runs) and that no change was seen to since needs its
//     size to hold still for only a second (quietSettle), as nothing
//     seen says it is still being written.
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

	notify     bool          // learn of changes from the system, where it tells
	maxWatches int           // most directories watched at once; 0 for the default
	debounce   time.Duration // from a change to the listing it causes
	now        func() time.Time

	// Set and used by Run's goroutine (and scan's callers) only.
	nextCheck time.Time     // when a file waiting for its size to settle may be complete
	scanTook  time.Duration // how long the last listing took
	scanEnd   time.Time     // when it ended

	mu       sync.Mutex
	files    map[string]*fileState
	scans    uint64
	problems map[string]string // paths that cannot be read, with why, as last logged
	note     notifier          // while Run runs with change notification
}

// notifier tells a watcher of changes in its tree. The Linux one uses
// inotify (notify_linux.go); elsewhere there is none and the tree is
// listed every poll only.
type notifier interface {
	// wake is signalled after changes.
	wake() <-chan struct{}
	// take returns what changed to files since the last call, by path,
	// and whether changes may have been missed since (events lost; the
	// changes returned are then those seen after the loss).
	take() (notes map[string]fileNote, lost bool)
	// watched reports whether changes in a directory are seen.
	watched(dir string) bool
	// sync watches the directories a listing found files in (each with
	// the newest modification time of its files), within the limit.
	sync(dirs map[string]int64)
	status() NotifyStatus
	close()
}

// fileNote is the last change seen to a file: its writer closed it (or
// moved it into place), when closed is true, with its size, modification
// time and identity just after; otherwise it changed or went away.
type fileNote struct {
	closed   bool
	size     int64
	mtime    int64 // Unix nanoseconds
	dev, ino uint64
}

// NotifyStatus says how a watcher learns of changes in its tree.
type NotifyStatus struct {
	Active    bool   // change notification is in use; otherwise the tree is listed every poll only
	Watches   int    // directories watched
	Limit     int    // the most directories watched at once
	Unwatched int    // directories with files but no watch, at the last listing: listed every poll only
	Evicted   uint64 // watches given up for directories that changed more recently
	Overflows uint64 // times changes were lost (the kernel's queue overflowed), each followed by a listing
}

// Timings of change notification.
const (
	// notifyDebounce is the wait from a change to the listing it
	// causes, so that a burst of changes (a copy, a busy log, a day's
	// folder synced) costs one listing.
	notifyDebounce = 50 * time.Millisecond
	// scanGap bounds the share of time spent listing a large, busy
	// tree: after a listing that took d, the next one caused by a
	// change waits scanGap*d, so listing takes at most a fifth of the
	// time.
	scanGap = 4
	// quietSettle is how long the size of a file that was already in a
	// directory when its watch began must hold still when no change
	// was seen to it (see Watcher).
	quietSettle = time.Second
)

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

	sizeSince time.Time // when seenSize was first listed
	note      fileNote  // the last change notification about the file
	// fresh says the file was first listed in a watched directory with
	// no change seen to it: it was there before the directory's watch,
	// written while nothing watched (see Watcher).
	fresh bool
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
	return &Watcher{
		dir: abs, poll: poll, defaults: defaults, log: log, files: map[string]*fileState{},
		notify: true, debounce: notifyDebounce, now: time.Now,
	}, nil
}

// SetNotify turns change notification on (the default) or off; off, the
// tree is listed every poll only. It must be called before Run.
func (w *Watcher) SetNotify(on bool) { w.notify = on }

// NotifyStatus returns how the watcher learns of changes, while Run runs.
func (w *Watcher) NotifyStatus() NotifyStatus {
	w.mu.Lock()
	n := w.note
	w.mu.Unlock()
	if n == nil {
		return NotifyStatus{}
	}
	return n.status()
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

// Run watches until ctx is done, handing each file with unread data to
// tasks and waiting for the ingest loop to finish it before the next.
func (w *Watcher) Run(ctx context.Context, tasks chan<- *Task) error {
	var wake <-chan struct{}
	if n := w.startNotify(); n != nil {
		defer w.stopNotify(n)
		wake = n.wake()
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-wake:
			if !sleep(ctx, w.afterChange()) {
				return nil
			}
			// The listing below sees every change so far.
			select {
			case <-wake:
			default:
			}
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
		t.Reset(w.untilNext())
	}
}

// startNotify starts change notification, if it is on and the system
// has it, and returns the notifier, or nil.
func (w *Watcher) startNotify() notifier {
	if !w.notify {
		return nil
	}
	n, err := newNotifier(w.dir, w.maxWatches, w.log)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.log.Info("watch: no change notification; listing every poll interval only", "error", err)
		return nil
	}
	w.note = n
	return n
}

func (w *Watcher) stopNotify(n notifier) {
	w.mu.Lock()
	w.note = nil
	w.mu.Unlock()
	n.close()
}

// afterChange returns how long to wait from a change to the listing it
// causes: notifyDebounce, and more after a listing that took long (see
// scanGap).
func (w *Watcher) afterChange() time.Duration {
	return max(w.debounce, time.Until(w.scanEnd.Add(scanGap*w.scanTook)))
}

// untilNext returns how long to wait for the next listing when nothing
// changes: a poll, or less when a file's size will have held still long
// enough sooner.
func (w *Watcher) untilNext() time.Duration {
	d := w.poll
	if !w.nextCheck.IsZero() {
		d = min(d, max(w.nextCheck.Sub(w.now()), w.debounce))
	}
	return d
}

// sleep waits for d, or until ctx is done, and reports whether ctx is
// still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
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
	start := time.Now()
	defer func() { w.scanTook, w.scanEnd = time.Since(start), time.Now() }()
	w.nextCheck = time.Time{}
	w.mu.Lock()
	n := w.note
	w.mu.Unlock()
	var (
		notes map[string]fileNote
		lost  bool
		dirs  map[string]int64 // with files, and the newest modification time of those
	)
	if n != nil {
		// Taken before listing: a change after this is seen by the next
		// listing, which it causes.
		notes, lost = n.take()
		dirs = map[string]int64{}
	}
	var list []found
	problems := map[string]string{}
	add := func(path string, info fs.FileInfo) {
		f := found{path: path, size: info.Size(), mtime: info.ModTime().UnixNano()}
		if id, ok := identity(info); ok {
			f.dev, f.ino = id.dev, id.ino
		}
		list = append(list, f)
		if dirs != nil {
			dir := parentDir(path)
			dirs[dir] = max(dirs[dir], f.mtime)
		}
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
	if n != nil {
		defer n.sync(dirs) // after the lock below is released
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	w.scans++
	now := w.now()
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
			if n != nil && w.scans > 1 && !lost {
				_, noted := notes[f.path]
				st.fresh = !noted && n.watched(parentDir(f.path))
			}
		}
		w.files[f.path] = st
		st.present = true
		if f.size == st.seenSize {
			st.stable++
		} else {
			st.stable = 0
			st.seenSize = f.size
			st.sizeSince = now
		}
		st.seenTime = f.mtime
		if st.Dev != f.dev || st.Ino != f.ino {
			st.Dev, st.Ino = f.dev, f.ino
			st.dirty = true
		}
	}
	if lost {
		// A change may have followed a close unseen. The notes taken
		// are of changes since the loss.
		for _, st := range w.files {
			st.note = fileNote{}
		}
	}
	for path, note := range notes {
		if st := w.files[path]; st != nil && st.present {
			st.note = note
			st.fresh = false
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
		if t := w.ready(st, now); t != nil {
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

// parentDir returns the directory of a listed path.
func parentDir(path string) string {
	return path[:max(strings.LastIndexByte(path, filepath.Separator), 1)]
}

// complete reports whether a file is complete: its writer closed it and
// it has not changed since, or its size has held still long enough.
// If not, it returns when it may be, if its size holds (zero if only a
// listing can tell).
func (w *Watcher) complete(st *fileState, now time.Time) (bool, time.Time) {
	if st.closedAsSeen() {
		return true, time.Time{}
	}
	var settle time.Duration
	switch {
	case w.note == nil:
		// Listings are a poll apart.
		return st.stable >= 1, time.Time{}
	case st.fresh:
		settle = min(quietSettle, w.poll)
	default:
		// Listings caused by changes can be moments apart; the size must
		// hold for as long as it would without them.
		settle = w.poll
	}
	at := st.sizeSince.Add(settle)
	if st.stable >= 1 && !now.Before(at) {
		return true, time.Time{}
	}
	return false, at
}

// closedAsSeen reports whether the file's writer closed it as it was
// last listed.
func (st *fileState) closedAsSeen() bool {
	n := st.note
	return n.closed && n.size == st.seenSize && n.mtime == st.seenTime && n.dev == st.Dev && n.ino == st.Ino
}

// waitUntil notes that a file may be complete at at.
func (w *Watcher) waitUntil(at time.Time) {
	if !at.IsZero() && (w.nextCheck.IsZero() || at.Before(w.nextCheck)) {
		w.nextCheck = at
	}
}

// ready decides whether a file is to be read now and returns its task.
func (w *Watcher) ready(st *fileState, now time.Time) *Task {
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
	complete, at := w.complete(st, now)
	switch st.kind {
	case kindGzip, kindParquet:
		if !w.unread(st) {
			return nil
		}
		if !complete {
			w.waitUntil(at)
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
		if !complete {
			w.waitUntil(at) // for a last line without its newline
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
			st.sizeSince = w.now()
			w.log.Info("watch: file changed while read; reading the rest when it settles", "path", path, "error", err)
			return
		}
		st.Done = true
		st.Error = err.Error()
		w.log.Warn("watch: giving up on file", "path", path, "error", err, "records", p.Records, "line", p.Line)
	}
}
