package source

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// ErrNotRegular is wrapped by the error for a path that is neither a
// regular file nor a directory: a named pipe, a socket or a device. Such
// a path is refused rather than opened, since reading a pipe with no
// writer blocks for ever and a device has no end.
var ErrNotRegular = errors.New("not a regular file or directory")

// ErrLinkLoop is wrapped by the error for a directory reached a second
// time through a symbolic link: a loop, or two links to one directory.
// It is read once, where it was first reached.
var ErrLinkLoop = errors.New("directory already read")

// fileID identifies a file on its device.
type fileID struct{ dev, ino uint64 }

// identity returns the device and inode of info, if the platform says.
func identity(info fs.FileInfo) (fileID, bool) {
	sys, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{uint64(sys.Dev), uint64(sys.Ino)}, true // not uint64 on every platform
}

// notRegular returns the error for a path that is not a regular file or
// directory, naming what it is.
func notRegular(mode fs.FileMode) error {
	what := "a special file"
	switch {
	case mode&fs.ModeNamedPipe != 0:
		what = "a named pipe (FIFO)"
	case mode&fs.ModeSocket != 0:
		what = "a socket"
	case mode&fs.ModeCharDevice != 0:
		what = "a character device"
	case mode&fs.ModeDevice != 0:
		what = "a block device"
	}
	return fmt.Errorf("%s: %w", what, ErrNotRegular)
}

// walker lists the files of a directory tree the way picket analyze and
// the watcher read it: in lexical order, following symbolic links to
// files and directories, and skipping hidden files and directories,
// CloudTrail digest folders and files, and S3 folder markers.
//
// Each directory is read once: one reached again through a link (a loop,
// or a second link to it) is reported with ErrLinkLoop. Each file is
// listed once, under the first path that reaches it, so that a link to a
// file in the same tree does not read its records twice. Named pipes,
// sockets and devices are reported with ErrNotRegular, as are links that
// lead nowhere.
type walker struct {
	file    func(path string, info fs.FileInfo)
	problem func(path string, err error)
	dirs    map[fileID]string
	files   map[fileID]bool
}

// walk lists root, which info (from os.Stat) says is a directory.
func (w *walker) walk(root string, info fs.FileInfo) {
	w.dirs = map[fileID]string{}
	w.files = map[fileID]bool{}
	if id, ok := identity(info); ok {
		w.dirs[id] = root
	}
	w.dir(root)
}

func (w *walker) dir(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		w.problem(dir, err)
		// ReadDir returns what it read before the error: list that.
	}
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		path := filepath.Join(dir, name)
		var info fs.FileInfo
		if e.Type()&fs.ModeSymlink != 0 {
			info, err = os.Stat(path)
			if err != nil {
				w.problem(path, fmt.Errorf("following symbolic link: %w", err))
				continue
			}
		} else if info, err = e.Info(); err != nil {
			continue // removed since listed
		}
		switch {
		case info.IsDir():
			if name == "CloudTrail-Digest" {
				continue
			}
			if id, ok := identity(info); ok {
				if first, seen := w.dirs[id]; seen {
					w.problem(path, fmt.Errorf("%w as %q (a symbolic link loop, or a second link to it); not read again", ErrLinkLoop, first))
					continue
				}
				w.dirs[id] = path
			}
			w.dir(path)
		case info.Mode().IsRegular():
			if strings.HasSuffix(name, "_$folder$") || ParseLayout(path).Digest {
				continue
			}
			if id, ok := identity(info); ok {
				if w.files[id] {
					continue // reached before, through another link
				}
				w.files[id] = true
			}
			w.file(path, info)
		default:
			w.problem(path, notRegular(info.Mode()))
		}
	}
}
