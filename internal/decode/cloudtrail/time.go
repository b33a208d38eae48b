package cloudtrail

import "picket/internal/event"

// parseTime parses an eventTime: RFC 3339 ("2024-01-02T03:04:05Z", with
// optional fraction and offset) or the "2024-01-02 03:04:05.000" form of
// CloudTrail Lake (UTC), truncated to the second.
func parseTime(b []byte) (event.Time, bool) { return event.ParseTimestamp(b) }
