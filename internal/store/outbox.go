package store

import "time"

// The kinds of outbox entry: a finding a commit created, and one it
// changed.
const (
	OutboxNew    = "NEW"
	OutboxUpdate = "UPDATE"
)

// OutboxEntry is a finding a commit created or changed, waiting to be
// pushed to each push target. A commit writes one in the same transaction
// as the finding, so that a crash after the commit loses none; a target
// marks the entries it delivered, and an entry every target delivered is
// pruned. Entries name the finding, not its content: a target sends the
// finding as it is stored when it sends, so a finding changed twice
// before it is sent goes out once.
type OutboxEntry struct {
	Seq        int64 // increasing in commit order within one process
	DetectorID string
	FindingID  string
	Kind       string    // OutboxNew or OutboxUpdate
	CreatedAt  time.Time // wall-clock time of the commit
	// DueAt is when the entry may be sent: at once for a new finding; for
	// a changed one, the next boundary of its detector's publishing
	// frequency (every 15 minutes, hour or 6 hours, counted from the Unix
	// epoch), so that a detector's changes go out together.
	DueAt time.Time
}

// PublishingPeriod returns the interval of a detector's
// findingPublishingFrequency; GuardDuty's default, six hours, for an
// unknown or empty one.
func PublishingPeriod(freq string) time.Duration {
	switch freq {
	case "FIFTEEN_MINUTES":
		return 15 * time.Minute
	case "ONE_HOUR":
		return time.Hour
	}
	return 6 * time.Hour
}

// NextBoundary returns the first multiple of period since the Unix epoch
// after t.
func NextBoundary(t time.Time, period time.Duration) time.Time {
	p := period.Milliseconds()
	ms := t.UnixMilli()
	return time.UnixMilli((ms/p + 1) * p).UTC()
}
