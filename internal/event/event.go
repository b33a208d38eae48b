// Package event owns picket's normalized records: the values that decoders
// produce and detectors consume. A Flow is one network flow record (from VPC
// Flow Logs today, NetFlow or Zeek later), an APICall one control-plane call,
// a DNSQuery one resolver query. Every record carries its Origin (file and
// line) so that findings can point back at the evidence.
//
// The package depends on the standard library and jsonscan (for the lazy
// reads of a record's raw JSON, JSONValue and its kin) only, and may be
// imported by every other package. Records are plain values that decoders
// fill in place; nothing here allocates per record.
package event

import (
	"strconv"
	"time"
	"unique"
)

// Kind says which kind of record a Record is. Detectors subscribe by kind.
type Kind uint8

// The record kinds.
const (
	KindFlow Kind = iota
	KindAPICall
	KindDNSQuery
	KindContact // derived from flows by the engine's contact stage
	NumKinds
)

var kindNames = [NumKinds]string{"flow", "api-call", "dns-query", "contact"}

func (k Kind) String() string {
	if k < NumKinds {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Record is implemented by pointers to the record types of this package. The
// engine dispatches a Record to the detectors subscribed to its Kind; a
// detector asserts the concrete type it subscribed to.
type Record interface {
	Kind() Kind
	// Time is the record's event time: when the activity happened, never
	// when picket read it.
	Time() Time
	// Source says where the record came from.
	Source() Origin
}

// Time is an event time in whole seconds since the Unix epoch, UTC. The
// logs picket reads carry second precision; an integer keeps event-time
// arithmetic cheap and exact.
type Time int64

// Never is a Time before every real event.
const Never Time = -1 << 63

// Forever is a Time after every real event.
const Forever Time = 1<<63 - 1

// TimeOf converts t to an event Time, truncating to the second.
func TimeOf(t time.Time) Time { return Time(t.Unix()) }

// UTC returns t as a time.Time in UTC.
func (t Time) UTC() time.Time { return time.Unix(int64(t), 0).UTC() }

// String renders t as RFC 3339 in UTC.
func (t Time) String() string {
	switch t {
	case Never:
		return "never"
	case Forever:
		return "forever"
	}
	return t.UTC().Format(time.RFC3339)
}

// ID is an interned identifier such as an account, interface, VPC or
// instance ID. Records hold IDs rather than strings so that millions of
// records that name the same interface share one copy of its name, and so
// that comparing two IDs is a pointer comparison. The zero ID means absent.
type ID struct{ h unique.Handle[string] }

// Intern returns the ID for s. The empty string is the zero ID.
func Intern(s string) ID {
	if s == "" {
		return ID{}
	}
	return ID{unique.Make(s)}
}

// String returns the identifier, or "" for the zero ID.
func (id ID) String() string {
	if id == (ID{}) {
		return ""
	}
	return id.h.Value()
}

// IsZero reports whether id is absent.
func (id ID) IsZero() bool { return id == (ID{}) }

// Origin locates a record in its input: the file (or stream) name and the
// 1-based line number, or row number for columnar files.
type Origin struct {
	File ID
	Line int64
}

// String renders the origin as "file:line".
func (o Origin) String() string {
	return o.File.String() + ":" + strconv.FormatInt(o.Line, 10)
}

// MarshalText encodes the ID as its string, for saved state.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText interns the string.
func (id *ID) UnmarshalText(b []byte) error {
	*id = Intern(string(b))
	return nil
}

// MarshalBinary encodes the ID as its string, as encoding/gob needs.
func (id ID) MarshalBinary() ([]byte, error) { return id.MarshalText() }

// UnmarshalBinary interns the string.
func (id *ID) UnmarshalBinary(b []byte) error { return id.UnmarshalText(b) }
