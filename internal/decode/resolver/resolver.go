// Package resolver owns reading Route 53 Resolver query logs: JSON
// objects, one query and its response a line (version 1.100000), as S3
// delivery writes them (gzip text, which the source package
// decompresses) and as CloudWatch Logs exports write them (each line
// after a timestamp and a space). A Decoder turns one line into an
// event.DNSQuery, filled in place; a Reader does it for a stream of
// lines, holding one buffer and allocating nothing per record once its
// intern cache is warm.
//
// Lines are scanned in place with jsonscan; members picket does not use
// are checked and passed over. The query name is lower-cased without its
// final dot (the root stays "."), and it and the data of the answers are
// borrowed from the line, valid until the next record is read. Type
// names map to IANA numbers ("TYPE123", RFC 3597's form, to 123); a name
// picket does not know keeps the record, with QType or the answer's
// Type 0, and is counted in Stats.UnknownTypes. Response codes map the
// same way, an unknown one to event.RCodeUnknown.
//
// A bad line is a *ParseError naming the file, line, field and value;
// the lines around it are read as usual. Only decode imports this
// package; it imports event and jsonscan.
package resolver

import (
	"errors"
	"strconv"
)

// ParseError describes one bad line: where it is, which field is wrong,
// the offending value (truncated) and why.
type ParseError struct {
	File  string
	Line  int64
	Field string // the member's key ("srcids.instance"), or "" for the line as a whole
	Value string
	Err   error // one of the Err* values of this package
}

// Error renders the error as `file:line: field "f": value "v": reason`.
func (e *ParseError) Error() string {
	b := make([]byte, 0, 128)
	b = append(b, e.File...)
	b = append(b, ':')
	b = strconv.AppendInt(b, e.Line, 10)
	b = append(b, ": "...)
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
	return string(append(b, e.Err.Error()...))
}

// Unwrap returns the reason.
func (e *ParseError) Unwrap() error { return e.Err }

// Reason returns the short name the line is counted under.
func (e *ParseError) Reason() string { return Reason(e.Err) }

// The reasons a line is rejected. Callers count bad lines by these.
var (
	ErrSyntax   = errors.New("malformed JSON")
	ErrNotQuery = errors.New("not a JSON object")
	ErrType     = errors.New("wrong JSON type for the field")
	ErrValue    = errors.New("not a valid value for the field")
	ErrMissing  = errors.New("required field missing")
	ErrTooLarge = errors.New("line longer than the size limit")
)

// Reason returns a short, stable name for the reason err was rejected:
// "syntax", "not-a-query", "type", "value", "missing-field", "too-large"
// or "other".
func Reason(err error) string {
	switch {
	case errors.Is(err, ErrSyntax):
		return "syntax"
	case errors.Is(err, ErrNotQuery):
		return "not-a-query"
	case errors.Is(err, ErrType):
		return "type"
	case errors.Is(err, ErrValue):
		return "value"
	case errors.Is(err, ErrMissing):
		return "missing-field"
	case errors.Is(err, ErrTooLarge):
		return "too-large"
	}
	return "other"
}

// maxValueInError bounds how much of a bad value an error repeats.
const maxValueInError = 64

// Stats are what a Decoder counted apart from records.
type Stats struct {
	// UnknownTypes counts query and answer type names that are neither
	// a known mnemonic nor TYPEnnn: kept as type 0.
	UnknownTypes int64
}
