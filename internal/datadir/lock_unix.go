//go:build unix

package datadir

import (
	"os"
	"syscall"
)

// lockExclusive takes an advisory lock on f that the kernel releases when
// the process ends, however it ends.
func lockExclusive(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
