//go:build !unix

package datadir

import "os"

// lockExclusive does nothing where flock is not available.
func lockExclusive(*os.File) error { return nil }
