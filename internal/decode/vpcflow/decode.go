// Package vpcflow decodes AWS VPC Flow Logs and transit gateway flow logs:
// the space-separated text that flow logs deliver to S3 (plain or gzip,
// with a header line naming the fields) and to CloudWatch Logs (no header),
// and the Parquet files that S3 delivery can write instead. Every field of
// versions 2 through 8 and later is understood, in any order, driven by the
// header line or a format the caller supplies.
//
// The hot path works on []byte and allocates nothing per record: a Decoder
// fills an event.Flow in place, interns repeated identifiers, and builds an
// error value only for a bad record. Only this package knows the wire
// format; it imports event (and suggest, to name the field a misspelt
// header meant) and nothing else of picket's.
package vpcflow

import (
	"errors"
	"net/netip"
	"strconv"
	"unsafe"

	"picket/internal/event"
	"picket/internal/suggest"
)

// ParseError describes one bad record: where it is, which field is wrong,
// the offending value (truncated) and why.
type ParseError struct {
	File  string
	Line  int64
	Field string // field name, or "" when the record as a whole is wrong
	Value string
	Err   error
}

// Error renders the error as "file:line: field "name": invalid value "v": reason".
func (e *ParseError) Error() string {
	b := make([]byte, 0, 96)
	b = append(b, e.File...)
	b = append(b, ':')
	b = strconv.AppendInt(b, e.Line, 10)
	b = append(b, ": "...)
	if e.Field != "" {
		b = append(b, "field "...)
		b = strconv.AppendQuote(b, e.Field)
		b = append(b, ": invalid value "...)
		b = strconv.AppendQuote(b, e.Value)
		b = append(b, ": "...)
	}
	b = append(b, e.Err.Error()...)
	return string(b)
}

// Unwrap returns the reason, one of the Err* values of this package.
func (e *ParseError) Unwrap() error { return e.Err }

// Reason returns the short, stable name of the error's reason, as the
// package function Reason does.
func (e *ParseError) Reason() string { return Reason(e) }

// The reasons a record is rejected. Callers count skipped records by these.
var (
	ErrFieldCount  = errors.New("wrong number of fields for the format")
	ErrSyntax      = errors.New("not a valid value for the field")
	ErrRange       = errors.New("value out of range")
	ErrLineTooLong = errors.New("line too long")
	ErrBinary      = errors.New("line contains binary data")
	ErrNoFormat    = errors.New("record does not match the default format and the input has no header line")
	// ErrUnknownField is the reason for a header line that names a field
	// picket does not know, wrapped by an *UnknownFieldError.
	ErrUnknownField = errors.New("unknown field name")
)

// UnknownFieldError is the reason a header line is reported: it names
// fields picket does not know. Each comes with the known field whose name
// is nearest to it, as a misspelling ("srcadr") is more likely than a
// field newer than this decoder.
type UnknownFieldError struct {
	Names   []string // as the header writes them, with "_" read as "-"
	Nearest []string // for each name, the nearest known field name
}

func (e *UnknownFieldError) Error() string {
	b := make([]byte, 0, 96)
	b = append(b, "the header names unknown field"...)
	if len(e.Names) > 1 {
		b = append(b, 's')
	}
	for i, name := range e.Names {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, ' ')
		b = strconv.AppendQuote(b, name)
		b = append(b, " (nearest known field: "...)
		b = strconv.AppendQuote(b, e.Nearest[i])
		b = append(b, ')')
	}
	if len(e.Names) > 1 {
		return string(append(b, "; their columns are skipped"...))
	}
	return string(append(b, "; its column is skipped"...))
}

// Unwrap returns ErrUnknownField.
func (e *UnknownFieldError) Unwrap() error { return ErrUnknownField }

// Reason returns a short, stable name for the reason err was rejected, for
// counting: "field-count", "syntax", "range", "line-too-long", "binary",
// "no-format", "unknown-field" or "other".
func Reason(err error) string {
	switch {
	case errors.Is(err, ErrFieldCount):
		return "field-count"
	case errors.Is(err, ErrSyntax):
		return "syntax"
	case errors.Is(err, ErrRange):
		return "range"
	case errors.Is(err, ErrLineTooLong):
		return "line-too-long"
	case errors.Is(err, ErrBinary):
		return "binary"
	case errors.Is(err, ErrNoFormat):
		return "no-format"
	case errors.Is(err, ErrUnknownField):
		return "unknown-field"
	}
	return "other"
}

// maxValueInError bounds how much of a bad value an error repeats.
const maxValueInError = 64

// LineKind says what a line turned out to be.
type LineKind uint8

// The kinds of line.
const (
	LineRecord LineKind = iota // a flow record, decoded into the Flow
	LineHeader                 // a header line; the format now follows it
	LineBlank                  // empty or whitespace only
)

// maxInterned bounds the decoder's intern cache; when full it starts over.
const maxInterned = 1 << 14

// Decoder decodes flow log lines of one input. It is reusable across inputs
// with Reset, and not safe for concurrent use.
type Decoder struct {
	format   Format
	explicit bool // format set by the caller; a header still overrides it
	seenHdr  bool
	name     string
	file     event.ID
	line     int64
	cols     [maxColumns][]byte
	ids      map[string]event.ID
	last     [numFields]event.ID // last ID per field: most repeat record to record
}

// NewDecoder returns a decoder for the input called name. If format is
// nil the decoder expects a header line, and without one assumes the
// version 2 default format.
func NewDecoder(name string, format *Format) *Decoder {
	d := &Decoder{ids: make(map[string]event.ID)}
	d.Reset(name, format)
	return d
}

// Reset prepares the decoder for a new input, keeping its intern cache.
func (d *Decoder) Reset(name string, format *Format) {
	d.name = name
	d.file = event.Intern(name)
	d.line = 0
	d.seenHdr = false
	d.explicit = format != nil
	if format != nil {
		d.format = *format
	} else {
		d.format = DefaultFormat
	}
}

// Format returns the format in effect.
func (d *Decoder) Format() Format { return d.format }

// Line returns the number of the last line decoded.
func (d *Decoder) Line() int64 { return d.line }

// SetLine sets the number of the last line decoded, for callers that skip
// lines without decoding them.
func (d *Decoder) SetLine(n int64) { d.line = n }

// Decode decodes one line (without its newline) into f. It returns
// LineRecord with f filled, LineHeader after switching to the format the
// line names, LineBlank for an empty line, or a *ParseError. f is reset
// before it is filled; on error its contents are unspecified.
//
// A header line that names a field picket does not know returns
// LineHeader with a *ParseError wrapping an *UnknownFieldError: the
// format has switched, the unknown columns are skipped, and the caller is
// told once, at the header, rather than finding every record without
// the field.
//
// Decode does not keep line: the caller may reuse it once Decode returns.
func (d *Decoder) Decode(line []byte, f *event.Flow) (LineKind, error) {
	d.line++
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if d.line == 1 && len(line) >= 3 && line[0] == 0xEF && line[1] == 0xBB && line[2] == 0xBF {
		line = line[3:] // UTF-8 byte order mark
	}
	n := split(line, &d.cols)
	if n == 0 {
		return LineBlank, nil
	}
	if n == -2 {
		return LineRecord, d.fail("", "", ErrBinary)
	}
	if n < 0 {
		return LineRecord, d.fail("", "", ErrFieldCount)
	}
	c0 := d.cols[0][0]
	if c0 >= 'a' && c0 <= 'z' && d.isHeader(n) {
		if err := d.unknownFields(); err != nil {
			return LineHeader, err
		}
		return LineHeader, nil
	}
	if n != len(d.format.Columns) {
		if !d.seenHdr && !d.explicit {
			return LineRecord, d.fail("", "", ErrNoFormat)
		}
		return LineRecord, d.fail("", "", ErrFieldCount)
	}
	f.Reset()
	f.Origin = event.Origin{File: d.file, Line: d.line}
	for i, col := range d.format.Columns {
		if err := d.field(col, d.cols[i], f); err != nil {
			return LineRecord, d.fail(col.String(), string(truncate(d.cols[i])), err)
		}
	}
	return LineRecord, nil
}

// isHeader reports whether the n columns just split form a header line, and
// if so switches to the format they name. A line is a header when every
// column looks like a field name and at least one is a field picket knows;
// no record can look like that, since records hold numbers and addresses.
//
// A header may name fields picket does not know. AWS adds fields in new
// flow log versions, and refusing the header would lose every record of
// such a log for one column picket cannot use; so the header is taken,
// the unknown columns are skipped and the known ones decoded, as before.
// But the header is also reported (see unknownFields), because the
// unknown name is as likely a misspelling ("srcadr") that leaves every
// record without a field the detectors need: reported, a strict run
// stops on it and any other run counts and logs it with the name of the
// known field nearest to it.
func (d *Decoder) isHeader(n int) bool {
	known := 0
	for i := 0; i < n; i++ {
		c := d.cols[i]
		if !looksLikeFieldName(unsafeString(c)) {
			// Parquet-style names use underscores.
			if !looksLikeFieldName(hyphenate(c)) {
				return false
			}
		}
		if _, ok := fieldByName[unsafeString(c)]; ok {
			known++
		}
	}
	if known == 0 {
		return false
	}
	// Build the new format; this allocates, but only once per header.
	names := make([]byte, 0, 256)
	for i := 0; i < n; i++ {
		if i > 0 {
			names = append(names, ' ')
		}
		names = append(names, d.cols[i]...)
	}
	fm, err := ParseFormat(string(names))
	if err != nil {
		return false
	}
	d.format = fm
	d.seenHdr = true
	return true
}

// unknownFields returns the error for the format just taken from a header
// line if it has columns of unknown fields, or nil. It runs once per
// header line.
func (d *Decoder) unknownFields() error {
	var e *UnknownFieldError
	for i, c := range d.format.Columns {
		if c != FieldOther {
			continue
		}
		if e == nil {
			e = &UnknownFieldError{}
		}
		name := d.format.Names[i]
		e.Names = append(e.Names, name)
		e.Nearest = append(e.Nearest, nearestField(name))
	}
	if e == nil {
		return nil
	}
	return d.fail("", "", e)
}

// nearestField returns the known field name with the fewest single-byte
// insertions, deletions and substitutions from name (the first in the
// order of the AWS documentation on a tie).
func nearestField(name string) string {
	known := make([]string, 0, numFields-1)
	for f := Field(1); f < numFields; f++ {
		known = append(known, fieldTable[f].name)
	}
	best, _ := suggest.Nearest(name, known)
	return best
}

func hyphenate(b []byte) string {
	for _, c := range b {
		if c == '_' {
			return string(replaceByte(b, '_', '-'))
		}
	}
	return unsafeString(b)
}

func replaceByte(b []byte, from, to byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if c == from {
			c = to
		}
		out[i] = c
	}
	return out
}

func (d *Decoder) fail(field, value string, err error) *ParseError {
	return &ParseError{File: d.name, Line: d.line, Field: field, Value: value, Err: err}
}

func truncate(b []byte) []byte {
	if len(b) > maxValueInError {
		return b[:maxValueInError]
	}
	return b
}

// split cuts line at runs of spaces or tabs into cols and returns the number
// of columns, -1 if there are more than cols can hold, or -2 if the line
// holds control characters (binary data). One table lookup per byte
// tells the three kinds of byte apart: BenchmarkSplit, 85 ns a version 2
// record against 127 ns with a comparison for each kind (the best of 8
// runs each; FuzzSplit holds it to that reference).
func split(line []byte, cols *[maxColumns][]byte) int {
	n, start := 0, -1
	for j, c := range line {
		switch byteClass[c] {
		case classText:
			if start < 0 {
				start = j
			}
		case classSpace:
			if start >= 0 {
				if n == maxColumns {
					return -1
				}
				cols[n] = line[start:j]
				n++
				start = -1
			}
		default:
			return -2
		}
	}
	if start >= 0 {
		if n == maxColumns {
			return -1
		}
		cols[n] = line[start:]
		n++
	}
	return n
}

// The classes of byte split tells apart.
const (
	classText    = iota
	classSpace   // space and tab: separate columns
	classControl // the other control characters and DEL: binary data
)

// byteClass holds the class of every byte value (read only; an array
// rather than a constant string, whose indexing is bounds-checked).
var byteClass = [256]uint8{
	' ': classSpace, '\t': classSpace,
	0x00: classControl, 0x01: classControl, 0x02: classControl, 0x03: classControl, 0x04: classControl, 0x05: classControl,
	0x06: classControl, 0x07: classControl, 0x08: classControl, 0x0a: classControl, 0x0b: classControl, 0x0c: classControl,
	0x0d: classControl, 0x0e: classControl, 0x0f: classControl, 0x10: classControl, 0x11: classControl, 0x12: classControl,
	0x13: classControl, 0x14: classControl, 0x15: classControl, 0x16: classControl, 0x17: classControl, 0x18: classControl,
	0x19: classControl, 0x1a: classControl, 0x1b: classControl, 0x1c: classControl, 0x1d: classControl, 0x1e: classControl,
	0x1f: classControl, 0x7f: classControl,
}

// absent reports whether a column holds "-", the mark for no value.
func absent(b []byte) bool { return len(b) == 1 && b[0] == '-' }

func (d *Decoder) field(col Field, b []byte, f *event.Flow) error {
	var err error
	switch col {
	case FieldOther:
		return nil
	case FieldVersion:
		if !absent(b) {
			var v uint64
			v, err = parseUint(b, 255)
			f.Version = uint8(v)
			f.Has |= event.HasVersion
		}
	case FieldAccountID:
		f.Account, err = d.id(col, b)
	case FieldInterfaceID:
		f.Interface, err = d.id(col, b)
	case FieldSrcAddr:
		f.Src, err = parseAddr(b)
	case FieldDstAddr:
		f.Dst, err = parseAddr(b)
	case FieldSrcPort:
		if !absent(b) {
			var v uint64
			v, err = parseUint(b, 65535)
			f.SrcPort = uint16(v)
			f.Has |= event.HasSrcPort
		}
	case FieldDstPort:
		if !absent(b) {
			var v uint64
			v, err = parseUint(b, 65535)
			f.DstPort = uint16(v)
			f.Has |= event.HasDstPort
		}
	case FieldProtocol:
		if !absent(b) {
			var v uint64
			v, err = parseUint(b, 255)
			f.Protocol = uint8(v)
			f.Has |= event.HasProtocol
		}
	case FieldPackets:
		if !absent(b) {
			f.Packets, err = parseUint(b, maxCount)
			f.Has |= event.HasPackets
		}
	case FieldBytes:
		if !absent(b) {
			f.Bytes, err = parseUint(b, maxCount)
			f.Has |= event.HasBytes
		}
	case FieldStart:
		if !absent(b) {
			var v uint64
			v, err = parseUint(b, maxTime)
			f.Start = event.Time(v)
			f.Has |= event.HasStart
		}
	case FieldEnd:
		if !absent(b) {
			var v uint64
			v, err = parseUint(b, maxTime)
			f.End = event.Time(v)
			f.Has |= event.HasEnd
		}
	case FieldAction:
		switch string(b) {
		case "ACCEPT":
			f.Action = event.Accept
		case "REJECT":
			f.Action = event.Reject
		case "-":
		default:
			err = ErrSyntax
		}
	case FieldLogStatus:
		switch string(b) {
		case "OK":
			f.Status = event.StatusOK
		case "NODATA":
			f.Status = event.StatusNoData
		case "SKIPDATA":
			f.Status = event.StatusSkipData
		case "-":
		default:
			err = ErrSyntax
		}
	case FieldVPCID:
		f.VPC, err = d.id(col, b)
	case FieldSubnetID:
		f.Subnet, err = d.id(col, b)
	case FieldInstanceID:
		f.Instance, err = d.id(col, b)
	case FieldTCPFlags:
		if !absent(b) {
			var v uint64
			v, err = parseUint(b, 255)
			f.TCPFlags = uint8(v)
			f.Has |= event.HasTCPFlags
		}
	case FieldType:
		switch string(b) {
		case "IPv4":
			f.Type = event.AddrIPv4
		case "IPv6":
			f.Type = event.AddrIPv6
		case "EFA":
			f.Type = event.AddrEFA
		case "-":
		default:
			err = ErrSyntax
		}
	case FieldPktSrcAddr:
		f.PktSrc, err = parseAddr(b)
	case FieldPktDstAddr:
		f.PktDst, err = parseAddr(b)
	case FieldRegion:
		f.Region, err = d.id(col, b)
	case FieldAZID:
		f.AZ, err = d.id(col, b)
	case FieldSublocationType:
		f.SublocationType, err = d.id(col, b)
	case FieldSublocationID:
		f.SublocationID, err = d.id(col, b)
	case FieldPktSrcAWSService:
		f.PktSrcService, err = d.id(col, b)
	case FieldPktDstAWSService:
		f.PktDstService, err = d.id(col, b)
	case FieldFlowDirection:
		switch string(b) {
		case "ingress":
			f.Direction, f.Basis = event.Inbound, event.BasisField
		case "egress":
			f.Direction, f.Basis = event.Outbound, event.BasisField
		case "-":
		default:
			err = ErrSyntax
		}
	case FieldTrafficPath:
		if !absent(b) {
			var v uint64
			v, err = parseUint(b, 255)
			if err == nil && (v < 1 || v > maxTrafficPath) {
				err = ErrRange
			}
			f.TrafficPath = uint8(v)
			f.Has |= event.HasTrafficPath
		}
	case FieldECSClusterARN:
		f.ECS.ClusterARN, err = d.id(col, b)
	case FieldECSClusterName:
		f.ECS.ClusterName, err = d.id(col, b)
	case FieldECSContainerInstanceARN:
		f.ECS.ContainerInstanceARN, err = d.id(col, b)
	case FieldECSContainerInstanceID:
		f.ECS.ContainerInstanceID, err = d.id(col, b)
	case FieldECSContainerID:
		f.ECS.ContainerID, err = d.id(col, b)
	case FieldECSSecondContainerID:
		f.ECS.SecondContainerID, err = d.id(col, b)
	case FieldECSServiceName:
		f.ECS.ServiceName, err = d.id(col, b)
	case FieldECSTaskDefinitionARN:
		f.ECS.TaskDefinitionARN, err = d.id(col, b)
	case FieldECSTaskARN:
		f.ECS.TaskARN, err = d.id(col, b)
	case FieldECSTaskID:
		f.ECS.TaskID, err = d.id(col, b)
	case FieldRejectReason:
		f.RejectReason, err = d.id(col, b)
	case FieldResourceID:
		f.Resource, err = d.id(col, b)
	case FieldEncryptionStatus:
		if !absent(b) {
			if len(b) != 1 || b[0] < '0' || b[0] > '3' {
				return ErrRange
			}
			f.Encryption, err = d.id(col, b)
		}
	case FieldInstanceTag:
		f.Meta.InstanceTag, err = d.id(col, b)
	case FieldInstanceTag2:
		f.Meta.InstanceTag2, err = d.id(col, b)
	case FieldInterfaceTag:
		f.Meta.InterfaceTag, err = d.id(col, b)
	case FieldInterfaceTag2:
		f.Meta.InterfaceTag2, err = d.id(col, b)
	case FieldASGTag:
		f.Meta.ASGTag, err = d.id(col, b)
	case FieldASGTag2:
		f.Meta.ASGTag2, err = d.id(col, b)
	case FieldInterfaceType:
		f.Meta.InterfaceType, err = d.id(col, b)
	case FieldNextHopInterfaceID:
		f.Meta.NextHopInterface, err = d.id(col, b)
	case FieldNextHopSubnetID:
		f.Meta.NextHopSubnet, err = d.id(col, b)
	case FieldNextHopAZID:
		f.Meta.NextHopAZ, err = d.id(col, b)
	case FieldNextHopVPCID:
		f.Meta.NextHopVPC, err = d.id(col, b)
	case FieldNextHopInterfaceType:
		f.Meta.NextHopInterfaceType, err = d.id(col, b)
	case FieldResourceType:
		f.TGW.ResourceType, err = d.id(col, b)
	case FieldTGWID:
		f.TGW.ID, err = d.id(col, b)
	case FieldTGWAttachmentID:
		f.TGW.AttachmentID, err = d.id(col, b)
	case FieldTGWSrcVPCAccountID:
		f.TGW.SrcVPCAccountID, err = d.id(col, b)
	case FieldTGWDstVPCAccountID:
		f.TGW.DstVPCAccountID, err = d.id(col, b)
	case FieldTGWSrcVPCID:
		f.TGW.SrcVPCID, err = d.id(col, b)
	case FieldTGWDstVPCID:
		f.TGW.DstVPCID, err = d.id(col, b)
	case FieldTGWSrcSubnetID:
		f.TGW.SrcSubnetID, err = d.id(col, b)
	case FieldTGWDstSubnetID:
		f.TGW.DstSubnetID, err = d.id(col, b)
	case FieldTGWSrcENI:
		f.TGW.SrcENI, err = d.id(col, b)
	case FieldTGWDstENI:
		f.TGW.DstENI, err = d.id(col, b)
	case FieldTGWSrcAZID:
		f.TGW.SrcAZID, err = d.id(col, b)
	case FieldTGWDstAZID:
		f.TGW.DstAZID, err = d.id(col, b)
	case FieldTGWPairAttachmentID:
		f.TGW.PairAttachmentID, err = d.id(col, b)
	case FieldPacketsLostNoRoute:
		f.TGW.LostNoRoute, err = d.lost(b, f)
	case FieldPacketsLostBlackhole:
		f.TGW.LostBlackhole, err = d.lost(b, f)
	case FieldPacketsLostMTUExceeded:
		f.TGW.LostMTUExceeded, err = d.lost(b, f)
	case FieldPacketsLostTTLExpired:
		f.TGW.LostTTLExpired, err = d.lost(b, f)
	}
	return err
}

const (
	maxCount       = 1<<63 - 1
	maxTime        = 1<<40 - 1 // year 36812: rejects garbage, keeps every real clock
	maxTrafficPath = 8
)

func (d *Decoder) lost(b []byte, f *event.Flow) (uint64, error) {
	if absent(b) {
		return 0, nil
	}
	f.Has |= event.HasPacketsLost
	return parseUint(b, maxCount)
}

// id interns an identifier column. Identifiers repeat heavily from record
// to record (one file usually covers few interfaces), so the last value of
// each field is checked first, then a map keyed without allocating.
func (d *Decoder) id(col Field, b []byte) (event.ID, error) {
	if absent(b) {
		return event.ID{}, nil
	}
	if last := d.last[col]; !last.IsZero() && last.String() == string(b) {
		return last, nil
	}
	if !printable(b) {
		return event.ID{}, ErrSyntax
	}
	id, ok := d.ids[string(b)]
	if !ok {
		if len(d.ids) >= maxInterned {
			clear(d.ids)
		}
		s := string(b)
		id = event.Intern(s)
		d.ids[s] = id
	}
	d.last[col] = id
	return id, nil
}

func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// parseUint parses a decimal number no greater than max.
func parseUint(b []byte, max uint64) (uint64, error) {
	if len(b) == 0 || len(b) > 20 {
		if len(b) > 20 && allDigits(b) {
			return 0, ErrRange
		}
		return 0, ErrSyntax
	}
	var v uint64
	for _, c := range b {
		c -= '0'
		if c > 9 {
			return 0, ErrSyntax
		}
		nv := v*10 + uint64(c)
		if nv/10 != v { // overflowed 64 bits
			return 0, ErrRange
		}
		v = nv
	}
	if v > max {
		return 0, ErrRange
	}
	return v, nil
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// parseAddr parses an IPv4 or IPv6 address (event.ParseAddr); "-" is the
// zero Addr.
func parseAddr(b []byte) (netip.Addr, error) {
	if absent(b) {
		return netip.Addr{}, nil
	}
	if a, ok := event.ParseAddr(b); ok {
		return a, nil
	}
	return netip.Addr{}, ErrSyntax
}

func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	// The string is only read while b is live and never kept.
	return unsafe.String(&b[0], len(b)) //nolint:gosec // read-only view of b for parsing
}
