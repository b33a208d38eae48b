//go:build !linux

package source

import (
	"errors"
	"log/slog"
)

// newNotifier reports that this system has no change notification that
// picket uses: the watcher lists its tree every poll only.
func newNotifier(string, int, *slog.Logger) (notifier, error) {
	return nil, errors.ErrUnsupported
}
