package api

import (
	"sync"
	"time"
)

// DefaultRejectLogInterval is how often, at most, a rejected request of
// one operation and error code is logged at INFO.
const DefaultRejectLogInterval = 10 * time.Second

// maxRejectKeys caps the reasons rejectLog tracks. Operations and error
// codes are both bounded sets, so the cap is a guard rather than a
// working limit; reasons past it share one entry.
const maxRejectKeys = 1024

// rejectKey is the reason for a rejection, as far as throttling goes:
// the operation asked for and the error code answered.
type rejectKey struct {
	op, code string
}

// overflowKey collects the reasons past maxRejectKeys.
var overflowKey = rejectKey{op: OtherOperation, code: "Other"}

// rejectWindow is the state of one reason: when its last line was
// written and how many rejections went unlogged since.
type rejectWindow struct {
	logged     time.Time
	suppressed int
}

// rejectLog throttles the log lines of rejected (4xx) requests: the
// first rejection of a reason is logged, and after that at most one per
// interval, carrying the count of those left out since the previous
// line. A flood of bad requests thus writes a line per reason and
// interval instead of a line per request; the observer (Config.Observe)
// still sees every request.
type rejectLog struct {
	every time.Duration

	mu      sync.Mutex
	reasons map[rejectKey]*rejectWindow
}

func newRejectLog(every time.Duration) *rejectLog {
	return &rejectLog{every: every, reasons: make(map[rejectKey]*rejectWindow)}
}

// admit reports whether a rejection for k at now is to be logged and,
// if so, how many rejections for k went unlogged before it.
func (l *rejectLog) admit(k rejectKey, now time.Time) (suppressed int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.reasons[k]
	if w == nil {
		if len(l.reasons) >= maxRejectKeys {
			k = overflowKey
			w = l.reasons[k]
		}
		if w == nil {
			l.reasons[k] = &rejectWindow{logged: now}
			return 0, true
		}
	}
	if now.Sub(w.logged) < l.every {
		w.suppressed++
		return 0, false
	}
	suppressed = w.suppressed
	w.logged, w.suppressed = now, 0
	return suppressed, true
}
