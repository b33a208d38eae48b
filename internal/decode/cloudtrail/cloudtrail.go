// Package cloudtrail decodes AWS CloudTrail events into event.APICall
// records. It reads every shape in which CloudTrail events reach picket:
//
//   - log files as CloudTrail delivers them to S3: {"Records":[...]},
//     usually gzip (the source layer decompresses), under
//     AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/;
//   - one event per line: CloudTrail Lake exports, EventBridge events
//     whose detail is a CloudTrail event (detail-type "AWS API Call via
//     CloudTrail" and the other CloudTrail detail types), CloudWatch Logs
//     exports (a timestamp, a space, the event);
//   - CloudWatch Logs subscription payloads ({"logEvents":[{"message":
//     "<event as a JSON string>"}]}) and lookup-events output
//     ({"Events":[{"CloudTrailEvent":"<event as a JSON string>"}]});
//   - JSON arrays of events, pretty-printed or not (Stratus Red Team
//     detonation logs), and any mix of the above, one after the other.
//
// CloudTrail digest files (which list log files and their hashes and hold
// no events) are skipped: by the source layer when it walks a directory,
// and by the Reader, without an error, when one is given anyway. Events
// that went through Logstash or Elastic, whose eventTime was moved to
// "@timestamp", take their time from there.
//
// An event's Origin is its file and, for one event per line, its line
// number, or for events in an array (a {"Records":[...]} file is one line),
// its 1-based index in the file. Errors carry both.
//
// A Reader streams an input of any size in bounded memory: it buffers one
// event at a time (up to MaxEvent bytes; a larger event is skipped without
// buffering it and reported with ErrTooLarge). A Decoder decodes one event
// held in memory.
//
// The decoder walks each event once over []byte with the scanners of
// package jsonscan: it extracts the fields an APICall has, interns
// repeated strings (event names, principals, user agents) with the last
// value of each field checked first, records the free-form parts (requestParameters,
// responseElements, resources, ...) as raw JSON slices without parsing
// them beyond finding their end, and allocates nothing per event. Unlike a
// general JSON decoder it still checks the syntax of everything it passes
// over, so an event it accepts is valid JSON.
//
// Bad input never stops a stream. Each bad event is a *ParseError naming
// the file, line, record index, field and value, and reading goes on with
// the next event: a malformed event whose brackets still balance is
// skipped to its end; one whose structure is broken (a cut-off string, a
// lost brace) is skipped to where the next event visibly starts (a line
// indented like it, or an object whose first key is eventVersion). A line
// at the top level that holds no JSON (a line of another format among
// events one per line) is one bad event, and Reader.Foreign hands it to
// the caller, which may read it as that format.
//
// Only this package knows CloudTrail's wire format; it imports event and
// jsonscan and nothing else of picket's.
package cloudtrail

import (
	"errors"
	"strconv"
)

// ParseError describes one bad event: where it is, which field is wrong,
// the offending value (truncated) and why.
type ParseError struct {
	File string
	// Line is the line on which the bad event (or the bad JSON) starts.
	Line int64
	// Record is the 1-based index of the event in the input, counting
	// good and bad ones; 0 when the error is about the input's structure
	// rather than one event.
	Record int64
	// Field is the event's key, as a dotted path ("userIdentity.type"),
	// or "" when the event as a whole is wrong.
	Field string
	// Value is the offending value, or for malformed JSON the bytes where
	// the scanner stopped, truncated.
	Value string
	// Msg says more about the problem ("want a string", "expected ':'
	// after a key").
	Msg string
	// Err is the reason, one of the Err* values of this package.
	Err error
}

// Error renders the error as
// `file:line: record N: field "f": value "v": reason: detail`.
func (e *ParseError) Error() string {
	b := make([]byte, 0, 128)
	b = append(b, e.File...)
	b = append(b, ':')
	b = strconv.AppendInt(b, e.Line, 10)
	b = append(b, ": "...)
	if e.Record > 0 {
		b = append(b, "record "...)
		b = strconv.AppendInt(b, e.Record, 10)
		b = append(b, ": "...)
	}
	if e.Field != "" {
		b = append(b, "field "...)
		b = strconv.AppendQuote(b, e.Field)
		b = append(b, ": "...)
	}
	if e.Value != "" {
		b = append(b, "value "...)
		b = strconv.AppendQuote(b, e.Value)
		b = append(b, ": "...)
	}
	b = append(b, e.Err.Error()...)
	if e.Msg != "" {
		b = append(b, ": "...)
		b = append(b, e.Msg...)
	}
	return string(b)
}

// Unwrap returns the reason, one of the Err* values of this package.
func (e *ParseError) Unwrap() error { return e.Err }

// Reason returns the short name the event is counted under.
func (e *ParseError) Reason() string { return Reason(e.Err) }

// The reasons an event is rejected. Callers count skipped events by these.
var (
	ErrSyntax    = errors.New("malformed JSON")
	ErrType      = errors.New("wrong JSON type for the field")
	ErrValue     = errors.New("not a valid value for the field")
	ErrMissing   = errors.New("required field missing")
	ErrNotEvent  = errors.New("not a CloudTrail event")
	ErrTooLarge  = errors.New("event larger than the size limit")
	ErrTruncated = errors.New("input ends inside an event")
	ErrTooDeep   = errors.New("JSON nested too deeply")
)

// Reason returns a short, stable name for the reason err was rejected, for
// counting: "syntax", "type", "value", "missing-field", "not-an-event",
// "too-large", "truncated", "too-deep" or "other".
func Reason(err error) string {
	switch {
	case errors.Is(err, ErrSyntax):
		return "syntax"
	case errors.Is(err, ErrType):
		return "type"
	case errors.Is(err, ErrValue):
		return "value"
	case errors.Is(err, ErrMissing):
		return "missing-field"
	case errors.Is(err, ErrNotEvent):
		return "not-an-event"
	case errors.Is(err, ErrTooLarge):
		return "too-large"
	case errors.Is(err, ErrTruncated):
		return "truncated"
	case errors.Is(err, ErrTooDeep):
		return "too-deep"
	}
	return "other"
}

// maxValueInError bounds how much of a bad value an error repeats.
const maxValueInError = 64
