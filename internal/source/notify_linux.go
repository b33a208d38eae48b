package source

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// dirEvents are the events asked of each watched directory.
// IN_CLOSE_WRITE and IN_MOVED_TO say a file's writer is done with it;
// IN_CREATE and IN_MODIFY that a file changed; IN_MOVED_FROM and
// IN_DELETE that it left. The same events on a directory add or drop
// watches. IN_EXCL_UNLINK keeps files deleted while open quiet, and
// IN_ONLYDIR refuses a path that turned into something else.
const dirEvents = unix.IN_CREATE | unix.IN_MODIFY | unix.IN_CLOSE_WRITE | unix.IN_MOVED_TO |
	unix.IN_MOVED_FROM | unix.IN_DELETE | unix.IN_EXCL_UNLINK | unix.IN_ONLYDIR

// maxWatches bounds the directories one watcher watches. Each watch pins
// its directory's inode in kernel memory (about a kilobyte: the cost the
// kernel sizes fs.inotify.max_user_watches by), and that limit is shared
// by every program the user runs (8192 before Linux 5.11; since, 1% of
// memory's worth, from 8192 to 1048576). So a watcher takes at most half of
// it, and no more than 16384 watches (about 16 MiB): a year of the S3
// layout's day folders (some 380 directories a year for each account
// and region) for 40 account-region pairs. Beyond it, the directories
// that changed least recently are listed every poll only.
const maxWatches = 16384

// maxNotes bounds the files with changes kept between two listings;
// beyond it they are dropped as if the kernel's queue had overflowed.
const maxNotes = 1 << 16

// defaultWatchLimit returns how many directories a watcher watches.
func defaultWatchLimit() int {
	limit := 8192
	if b, err := os.ReadFile("/proc/sys/fs/inotify/max_user_watches"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 {
			limit = n
		}
	}
	return max(1, min(maxWatches, limit/2))
}

// inotify tells a watcher of changes in its tree through Linux's
// inotify: it watches every directory of the tree (within a limit, the
// most recently changed first), adds watches for directories as they are
// created or moved in, and notes, for each file, whether its writer
// closed it (IN_CLOSE_WRITE, IN_MOVED_TO) or it changed since.
//
// A close is taken as the writer's last word only once every event
// queued by the time the file was looked at (its size and modification
// time, just after the close) has been read: a write after the close is
// then either among those events, and cancels it, or after that look,
// and changes what the listing sees.
type inotify struct {
	fd    int      // the inotify instance; read through f
	f     *os.File // reads wait in the runtime's poller; closing f ends them
	root  string
	log   *slog.Logger
	wakeC chan struct{}
	done  chan struct{} // closed when the reader has stopped

	mu        sync.Mutex
	limit     int
	dirs      map[int32]*dirWatch // by watch descriptor
	byPath    map[string]int32
	byID      map[fileID]int32
	only      string // when the root is a file: its path, the one whose events count
	floor     int64  // no watched directory changed before this
	notes     map[string]fileNote
	lost      bool
	full      bool // the limit was reached (and logged)
	unwatched int
	evicted   uint64
	overflows uint64
	failed    bool // reading events failed: listing every poll only
	closed    bool
}

// dirWatch is a watched directory.
type dirWatch struct {
	path   string
	id     fileID
	active int64 // when it, or a directory under it, last changed (Unix nanoseconds)
}

// closeMark is a file's close, waiting for the events before it to be
// read (see inotify).
type closeMark struct {
	path  string
	note  fileNote
	after int64 // taken once this many bytes of events have been read; -1 until known
}

// newNotifier starts watching the tree at root, at most limit
// directories of it (0 for the default).
func newNotifier(root string, limit int, log *slog.Logger) (notifier, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("starting inotify: %w", err)
	}
	if limit <= 0 {
		limit = defaultWatchLimit()
	}
	n := &inotify{
		fd: fd, f: os.NewFile(uintptr(fd), "inotify"), root: root, log: log,
		wakeC: make(chan struct{}, 1), done: make(chan struct{}),
		limit: limit, dirs: map[int32]*dirWatch{}, byPath: map[string]int32{}, byID: map[fileID]int32{},
		floor: math.MaxInt64, notes: map[string]fileNote{},
	}
	n.mu.Lock()
	n.watchTree()
	n.mu.Unlock()
	go n.read()
	return n, nil
}

func (n *inotify) wake() <-chan struct{} { return n.wakeC }

func (n *inotify) take() (map[string]fileNote, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	notes, lost := n.notes, n.lost
	n.notes, n.lost = map[string]fileNote{}, false
	return notes, lost
}

func (n *inotify) watched(dir string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.byPath[dir]
	return ok && n.only == ""
}

func (n *inotify) sync(dirs map[string]int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	if len(n.dirs) == 0 {
		// The root was missing, or went: look again.
		n.watchTree()
	}
	if n.only != "" {
		return
	}
	unwatched := 0
	for dir, changed := range dirs {
		if wd, ok := n.byPath[dir]; ok {
			d := n.dirs[wd]
			d.active = max(d.active, changed)
			continue
		}
		if !n.add(dir, changed) {
			unwatched++
			continue
		}
		// A directory found by listing, not by its creation: its
		// parents may be unwatched too.
		for p := parentDir(dir); len(p) > len(n.root) && strings.HasPrefix(p, n.root); p = parentDir(p) {
			if _, ok := n.byPath[p]; ok {
				break
			}
			n.add(p, changed)
		}
	}
	n.unwatched = unwatched
}

func (n *inotify) status() NotifyStatus {
	n.mu.Lock()
	defer n.mu.Unlock()
	return NotifyStatus{
		Active: !n.failed, Watches: len(n.dirs), Limit: n.limit, Unwatched: n.unwatched,
		Evicted: n.evicted, Overflows: n.overflows,
	}
}

func (n *inotify) close() {
	n.mu.Lock()
	n.closed = true // no more use of fd, which closing f may hand to another file
	n.mu.Unlock()
	n.f.Close()
	<-n.done
}

// treeDir is a directory found by dirsUnder.
type treeDir struct {
	path  string
	id    fileID
	depth int
	key   int64 // the newest modification time in its subtree, Unix nanoseconds
}

// dirsUnder lists dir, which info says is a directory, and the
// directories under it as the walker reads them (following links,
// skipping hidden and CloudTrail digest folders, each directory once),
// except those skip says are known.
func dirsUnder(dir string, info fs.FileInfo, skip func(fileID) bool) []treeDir {
	seen := map[fileID]bool{}
	var out []treeDir
	var visit func(path string, info fs.FileInfo, depth int) int64
	visit = func(path string, info fs.FileInfo, depth int) int64 {
		id, ok := identity(info)
		if ok && (seen[id] || depth > 0 && skip != nil && skip(id)) {
			return math.MinInt64
		}
		seen[id] = true
		i := len(out)
		out = append(out, treeDir{path: path, id: id, depth: depth})
		key := info.ModTime().UnixNano()
		ents, _ := os.ReadDir(path)
		for _, e := range ents {
			name := e.Name()
			if strings.HasPrefix(name, ".") || name == "CloudTrail-Digest" || e.Type()&(fs.ModeDir|fs.ModeSymlink) == 0 {
				continue
			}
			sub := filepath.Join(path, name)
			fi, err := os.Stat(sub)
			if err != nil || !fi.IsDir() {
				continue
			}
			key = max(key, visit(sub, fi, depth+1))
		}
		out[i].key = key
		return key
	}
	visit(dir, info, 0)
	return out
}

// watchTree watches the root and the directories under it, those that
// changed most recently first, within the limit.
func (n *inotify) watchTree() {
	info, err := os.Stat(n.root)
	switch {
	case err != nil:
		return // the watcher reports it, and the next listing looks again
	case info.Mode().IsRegular():
		// Watch the file's directory, for its writes and for the file
		// that takes its place on rotation.
		n.only = n.root
		if fi, err := os.Stat(filepath.Dir(n.root)); err == nil {
			id, _ := identity(fi)
			n.addID(filepath.Dir(n.root), id, math.MaxInt64)
		}
		return
	case !info.IsDir():
		return
	}
	n.only = ""
	dirs := dirsUnder(n.root, info, nil)
	slices.SortFunc(dirs, func(a, b treeDir) int {
		return cmp.Or(cmp.Compare(b.key, a.key), cmp.Compare(a.depth, b.depth), strings.Compare(a.path, b.path))
	})
	for _, d := range dirs {
		if !n.addID(d.path, d.id, d.key) && n.full {
			break // the rest changed no more recently
		}
	}
}

// watchNew watches a directory created or moved into the tree, and the
// directories under it.
func (n *inotify) watchNew(path string, now int64) {
	info, err := os.Stat(path)
	if err != nil || !info.IsDir() {
		return
	}
	known := func(id fileID) bool { _, ok := n.byID[id]; return ok }
	for _, d := range dirsUnder(path, info, known) {
		n.addID(d.path, d.id, now)
	}
}

// add watches a directory that changed at active, unless the limit is
// reached and every watched directory changed more recently; then it
// reports false.
func (n *inotify) add(path string, active int64) bool {
	if wd, ok := n.byPath[path]; ok {
		d := n.dirs[wd]
		d.active = max(d.active, active)
		return true
	}
	if len(n.dirs) >= n.limit && active <= n.floor {
		return false // older than every watched directory: see evict
	}
	fi, err := os.Stat(path)
	if err != nil {
		return false
	}
	id, _ := identity(fi)
	return n.addID(path, id, active)
}

func (n *inotify) addID(path string, id fileID, active int64) bool {
	if wd, ok := n.byPath[path]; ok {
		d := n.dirs[wd]
		d.active = max(d.active, active)
		return true
	}
	if len(n.dirs) >= n.limit {
		if !n.full {
			n.full = true
			n.log.Warn("watch: directory watch limit reached; directories that changed least recently are listed every poll interval only",
				"limit", n.limit)
		}
		if !n.evict(active) {
			return false
		}
	}
	wd, err := unix.InotifyAddWatch(n.fd, path, dirEvents)
	if err != nil {
		if errors.Is(err, unix.ENOSPC) {
			// The user's limit (fs.inotify.max_user_watches), shared
			// with other programs, is reached: make do with these.
			if !n.full {
				n.log.Warn("watch: the system's inotify watch limit is reached; other directories are listed every poll interval only",
					"watches", len(n.dirs))
			}
			n.limit = max(1, len(n.dirs))
			n.full = true
		}
		return false
	}
	w := int32(wd)
	if d, ok := n.dirs[w]; ok {
		// A watched directory under a new path: it moved.
		delete(n.byPath, d.path)
		d.path, d.active = path, max(d.active, active)
	} else {
		n.dirs[w] = &dirWatch{path: path, id: id, active: active}
		n.byID[id] = w
	}
	n.byPath[path] = w
	n.floor = min(n.floor, active)
	return true
}

// evict gives up the watch of the directory that changed least
// recently, to make room for one that changed at active, if that one
// changed before it; else it reports false. Deeper directories go first
// (their parents changed when they were created).
func (n *inotify) evict(active int64) bool {
	if active <= n.floor {
		return false
	}
	victim, least := int32(-1), (*dirWatch)(nil)
	for wd, d := range n.dirs {
		if d.path == n.root {
			continue
		}
		if least == nil || d.active < least.active || d.active == least.active && len(d.path) > len(least.path) {
			victim, least = wd, d
		}
	}
	if least == nil {
		return false
	}
	n.floor = least.active
	if least.active >= active {
		return false
	}
	n.remove(victim)
	n.evicted++
	return true
}

func (n *inotify) remove(wd int32) {
	d := n.dirs[wd]
	unix.InotifyRmWatch(n.fd, uint32(wd))
	delete(n.dirs, wd)
	delete(n.byPath, d.path)
	if n.byID[d.id] == wd {
		delete(n.byID, d.id)
	}
}

// forget drops the watches of a directory that left the tree and of
// those under it.
func (n *inotify) forget(path string) {
	for wd, d := range n.dirs {
		if d.path == path || strings.HasPrefix(d.path, path) && d.path[len(path)] == filepath.Separator {
			n.remove(wd)
		}
	}
}

// touch records a change in a directory, and so under its parents.
func (n *inotify) touch(d *dirWatch, now int64) {
	if d.active > now-int64(time.Second) {
		return // and its parents with it
	}
	d.active = now
	for p := d.path; len(p) > len(n.root); {
		p = parentDir(p)
		if wd, ok := n.byPath[p]; ok {
			n.dirs[wd].active = now
		}
	}
}

// read reads events until the instance is closed.
func (n *inotify) read() {
	defer close(n.done)
	buf := make([]byte, 64<<10) // many events; one is at most 16 bytes and a 255-byte name
	var total int64             // bytes of events read so far
	var marks []closeMark
	for {
		k, err := n.f.Read(buf)
		n.mu.Lock()
		if n.closed {
			n.mu.Unlock()
			return
		}
		if err != nil {
			n.failed = true
			n.mu.Unlock()
			n.log.Warn("watch: reading change notifications failed; listing every poll interval only", "error", err)
			return
		}
		total += int64(k)
		wake := n.handle(buf[:k], &marks)
		if len(marks) > 0 {
			queued, err := unix.IoctlGetInt(n.fd, unix.TIOCINQ) // FIONREAD: bytes of events queued
			if err != nil {
				queued = 0
			}
			for i := range marks {
				if marks[i].after < 0 {
					marks[i].after = total + int64(queued)
				}
			}
			marks = slices.DeleteFunc(marks, func(m closeMark) bool {
				if m.after > total {
					return false
				}
				n.notes[m.path] = m.note
				wake = true
				return true
			})
		}
		if len(n.notes) > maxNotes {
			n.dropNotes()
		}
		n.mu.Unlock()
		if wake {
			select {
			case n.wakeC <- struct{}{}:
			default:
			}
		}
	}
}

// dropNotes forgets the changes noted, as lost.
func (n *inotify) dropNotes() {
	if n.overflows == 0 {
		n.log.Warn("watch: change notifications lost; listing the tree (logged once, counted)")
	}
	n.overflows++
	n.lost = true
	clear(n.notes)
}

// handle takes a read of events, noting changes to files and closes to
// confirm in marks, and reports whether a listing is due.
func (n *inotify) handle(buf []byte, marks *[]closeMark) (wake bool) {
	now := time.Now().UnixNano()
	for len(buf) >= unix.SizeofInotifyEvent {
		wd := int32(binary.NativeEndian.Uint32(buf[0:]))
		mask := binary.NativeEndian.Uint32(buf[4:])
		end := unix.SizeofInotifyEvent + int(binary.NativeEndian.Uint32(buf[12:]))
		if end > len(buf) {
			break
		}
		name := buf[unix.SizeofInotifyEvent:end]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		buf = buf[end:]

		if mask&unix.IN_Q_OVERFLOW != 0 {
			n.dropNotes()
			*marks = (*marks)[:0]
			n.watchTree() // directories created while events were lost
			wake = true
			continue
		}
		d := n.dirs[wd]
		if mask&unix.IN_IGNORED != 0 {
			// The directory went, or its watch was removed.
			if d != nil {
				delete(n.dirs, wd)
				delete(n.byPath, d.path)
				if n.byID[d.id] == wd {
					delete(n.byID, d.id)
				}
			}
			continue
		}
		if d == nil || len(name) == 0 || name[0] == '.' {
			continue // hidden files and directories are not read
		}
		path := filepath.Join(d.path, string(name))
		if n.only != "" && path != n.only {
			continue
		}
		n.touch(d, now)
		if mask&unix.IN_ISDIR != 0 {
			switch {
			case n.only != "":
			case mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0:
				n.watchNew(path, now)
				wake = true
			case mask&unix.IN_MOVED_FROM != 0:
				n.forget(path)
			}
			continue
		}
		// Any event cancels a close not yet taken.
		*marks = slices.DeleteFunc(*marks, func(m closeMark) bool { return m.path == path })
		n.notes[path] = fileNote{}
		switch {
		case mask&(unix.IN_CLOSE_WRITE|unix.IN_MOVED_TO) != 0:
			fi, err := os.Stat(path)
			if err == nil && fi.Mode().IsRegular() {
				note := fileNote{closed: true, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
				if id, ok := identity(fi); ok {
					note.dev, note.ino = id.dev, id.ino
				}
				*marks = append(*marks, closeMark{path: path, note: note, after: -1})
			}
			wake = true
		case mask&(unix.IN_CREATE|unix.IN_MODIFY) != 0:
			wake = true
		}
	}
	return wake
}
