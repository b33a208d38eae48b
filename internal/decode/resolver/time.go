package resolver

import "picket/internal/event"

// parseTime parses a query_timestamp: RFC 3339 ("2026-03-02T10:00:00Z"),
// with or without a fraction of a second and with Z or a numeric offset,
// truncated to the second.
func parseTime(b []byte) (event.Time, error) {
	t, ok := event.ParseTimestamp(b)
	if !ok {
		return 0, ErrValue
	}
	return t, nil
}
