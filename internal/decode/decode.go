// Package decode owns reading an input of any format: Detect tells the
// format from the first bytes, and Open returns one Reader for every
// format, which yields event records, reports bad records with a reason
// for counting, and keeps a Position to checkpoint and resume. Both
// picket analyze and picket serve read through it. The decoders
// themselves live in one package each below (decode/vpcflow,
// decode/cloudtrail, decode/resolver, decode/pcap, decode/zeek), each
// turning bytes into event records with typed parse errors.
//
// Detect knows a text input by the majority of its first lines, so a junk
// first line is one bad record of the file rather than the reason to
// refuse it. Files of lines may mix flow log records with CloudTrail
// events, and are split per record kind: flow log text gives the events
// of its JSON lines (one event, or a {"Records":[...]} document, on a
// line) as API calls, and CloudTrail read one event per line gives its
// flow log lines as flows. What cannot be split is counted, one bad
// record for each line lost: in flow log text, each line of a JSON
// document spread over many lines, or of JSON that holds no CloudTrail
// event, is a bad record with ErrOtherFormat ("other-format"). So the
// records and bad records of an input always add up to what it holds.
package decode

import (
	"bytes"
	"strings"

	"picket/internal/jsonscan"
)

// Format is an input format picket can identify.
type Format uint8

// The formats.
const (
	Unknown           Format = iota
	VPCFlow                  // VPC or transit gateway flow log text
	VPCFlowParquet           // VPC flow logs delivered to S3 as Parquet
	CloudTrail               // CloudTrail JSON ({"Records": [...]}, or one event per line)
	Resolver                 // Route 53 Resolver query logs (JSON lines)
	Pcap                     // a libpcap packet capture
	Pcapng                   // a pcapng packet capture
	ZeekConn                 // Zeek conn.log, tab-separated or JSON lines
	VPCFlowCloudWatch        // CloudWatch Logs subscription payloads of flow log lines
	ZeekDNS                  // Zeek dns.log, tab-separated or JSON lines
)

var names = [...]string{"unknown", "vpc-flow-logs", "vpc-flow-logs-parquet", "cloudtrail", "route53-resolver", "pcap", "pcapng", "zeek-conn", "vpc-flow-logs-cloudwatch", "zeek-dns"}

func (f Format) String() string {
	if int(f) < len(names) {
		return names[f]
	}
	return "unknown"
}

// ParseFormat returns the format with the given name, as String renders
// it.
func ParseFormat(s string) (Format, bool) {
	for i, n := range names {
		if n == s && i != 0 {
			return Format(i), true
		}
	}
	return Unknown, false
}

// Detect identifies the format of an input from its first bytes
// (decompressed). It looks at structure, not file names: Parquet's magic
// number, a JSON document and its telltale keys, or lines of text. Packet
// captures are known by their magic numbers (pcap's a1b2c3d4 and a1b23c4d
// in either byte order, pcapng's section header block 0a0d0d0a), Zeek's
// conn.log by its #separator header and "#path conn", or by JSON lines
// with "id.orig_h", and its dns.log by "#path dns" (or, without a #path,
// #fields with query and qtype_name or rcode columns), or by JSON lines
// with "uid", "query" and "qtype_name" or "rcode".
//
// An input of lines (flow log text, JSON lines) is known by the majority
// of its first lines (up to maxVoteLines, in the bytes given), not by the
// first alone: one junk line does not hide a file of flow records, and a
// CloudTrail event before them does not make them a trail. A flow log
// header line anywhere among them settles it as flow log text. The format
// wins only with at least as many lines as those of no format picket
// knows. A multi-line JSON document (pretty-printed, or an object longer
// than its first line) is known by its keys, as a whole.
func Detect(head []byte) Format {
	if bytes.HasPrefix(head, []byte("PAR1")) {
		return VPCFlowParquet
	}
	if len(head) >= 4 {
		switch string(head[:4]) {
		case "\xa1\xb2\xc3\xd4", "\xd4\xc3\xb2\xa1", "\xa1\xb2\x3c\x4d", "\x4d\x3c\xb2\xa1":
			return Pcap
		case "\x0a\x0d\x0d\x0a":
			return Pcapng
		}
	}
	b := bytes.TrimLeft(head, " \t\r\n\xef\xbb\xbf")
	if len(b) == 0 {
		return Unknown
	}
	if bytes.HasPrefix(b, []byte("#separator")) {
		switch {
		case isZeekDNS(b):
			return ZeekDNS
		case isZeekConn(b):
			return ZeekConn
		}
		return Unknown
	}
	if (b[0] == '{' || b[0] == '[') && !valueEndsLine(b) {
		if f := jsonFormat(b); f != Unknown {
			return f
		}
	}
	return vote(b)
}

// maxVoteLines bounds the lines Detect classifies.
const maxVoteLines = 100

// vote returns the format of most of the first non-blank lines of b, or
// Unknown.
func vote(b []byte) Format {
	var votes [len(names)]int
	other, first := 0, Unknown
	for n := 0; len(b) > 0 && n < maxVoteLines; {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		line = bytes.Trim(line, " \t\r")
		if len(line) == 0 {
			continue
		}
		n++
		f, counts := lineFormat(line)
		switch {
		case f == VPCFlow && flowKind(line) == lineHeader:
			return VPCFlow
		case f == Unknown && counts:
			other++
		case f != Unknown:
			votes[f]++
			if first == Unknown {
				first = f
			}
		}
	}
	best := first
	for f, n := range votes {
		if n > votes[best] {
			best = Format(f)
		}
	}
	if best == Unknown || votes[best] < other {
		return Unknown
	}
	return best
}

// lineFormat returns the format of one line, trimmed, or Unknown; counts
// is false for a line that says nothing either way (a CloudWatch Logs
// control message).
func lineFormat(line []byte) (f Format, counts bool) {
	if line[0] == '{' || line[0] == '[' {
		if line[0] == '{' && bytes.Contains(line, []byte(`"logEvents"`)) && bytes.Contains(line, []byte(`"CONTROL_MESSAGE"`)) {
			return Unknown, false
		}
		return jsonFormat(line), true
	}
	if isTrailExport(line) {
		return CloudTrail, true
	}
	if flowKind(line) != lineNone {
		return VPCFlow, true
	}
	return Unknown, true
}

// jsonFormat returns the format of a JSON document or line from its keys,
// or Unknown.
func jsonFormat(b []byte) Format {
	switch {
	case b[0] == '{' && isZeekDNSJSON(b):
		return ZeekDNS
	case b[0] == '{' && bytes.Contains(b, []byte(`"id.orig_h"`)):
		return ZeekConn
	case isTrail(b):
		return CloudTrail
	case bytes.Contains(b, []byte(`"query_name"`)),
		b[0] == '{' && bytes.Contains(b, []byte(`"logEvents"`)) && bytes.Contains(b, []byte(`\"query_name\"`)):
		// Route 53 Resolver query log lines, or a CloudWatch Logs
		// subscription payload of them.
		return Resolver
	case b[0] == '{' && bytes.Contains(b, []byte(`"logEvents"`)):
		// A CloudWatch Logs subscription payload whose messages are
		// not CloudTrail events: flow log lines.
		return VPCFlowCloudWatch
	}
	return Unknown
}

// isTrail reports whether JSON holds CloudTrail events by its keys.
func isTrail(b []byte) bool {
	return bytes.Contains(b, []byte(`"eventVersion"`)) || bytes.Contains(b, []byte(`"Records"`)) && bytes.Contains(b, []byte(`"eventName"`)) ||
		// Events as JSON strings: CloudWatch Logs subscription
		// payloads, lookup-events output.
		bytes.Contains(b, []byte(`\"eventVersion\"`)) ||
		// A digest file, which the CloudTrail decoder skips.
		bytes.Contains(b, []byte(`"digestStartTime"`))
}

// isTrailExport reports whether a line is a CloudTrail event in a
// CloudWatch Logs export: a timestamp, a space, the event.
func isTrailExport(b []byte) bool {
	i := bytes.Index(b, []byte(" {"))
	return i > 0 && i <= 40 && b[0] >= '0' && b[0] <= '9' && bytes.Contains(b, []byte(`"eventVersion"`))
}

// valueEndsLine reports whether b starts with a JSON object or array that
// ends on its first line, with nothing but blanks after it there: a JSON
// line rather than a document over many lines. It goes by brackets and
// strings only.
func valueEndsLine(b []byte) bool {
	if len(b) == 0 || b[0] != '{' && b[0] != '[' {
		return false
	}
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	end, broken, _, err := jsonscan.Balance(b, 0)
	return err == nil && !broken && len(bytes.Trim(b[end:], " \t\r")) == 0
}

// The kinds of line flowKind tells apart.
const (
	lineNone   = iota // neither
	lineRecord        // a plausible record
	lineHeader        // a header line
)

// flowKind says whether a line is a flow log header (every token looks
// like a field name, and one at least is a known one), a plausible record
// (several space-separated tokens, printable ASCII only, at least one of
// them a number or a known field name) or neither.
func flowKind(line []byte) int {
	tokens, numbers, known, names, printable := 0, 0, 0, 0, true
	for i := 0; i < len(line); {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i == len(line) {
			break
		}
		j := i
		name := line[i] >= 'a' && line[i] <= 'z'
		for ; j < len(line) && line[j] != ' ' && line[j] != '\t'; j++ {
			c := line[j]
			if c < 0x21 || c > 0x7e {
				printable = false
			}
			switch {
			case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
			default:
				name = false
			}
		}
		switch string(line[i:j]) {
		case "version", "account-id", "interface-id", "srcaddr", "dstaddr", "action", "log-status", "tgw-id", "resource-type":
			known++
		}
		if name {
			names++
		}
		if line[i] >= '0' && line[i] <= '9' {
			numbers++
		}
		tokens++
		i = j
	}
	switch {
	case tokens < 2 || !printable:
		return lineNone
	case known > 0 && names == tokens:
		return lineHeader
	case known > 0 || numbers > 0:
		return lineRecord
	}
	return lineNone
}

// isZeekConn reports whether a Zeek TSV header is that of a conn.log: its
// #path is conn, or (no #path in sight) its #fields name the
// connection's endpoints.
func isZeekConn(b []byte) bool {
	if i := bytes.Index(b, []byte("\n#path")); i >= 0 {
		rest := bytes.TrimLeft(b[i+len("\n#path"):], " \t")
		return bytes.HasPrefix(rest, []byte("conn")) && (len(rest) == 4 || strings.IndexByte(" \t\r\n", rest[4]) >= 0)
	}
	return bytes.Contains(b, []byte("id.orig_h"))
}

// isZeekDNS reports whether a Zeek TSV header is that of a dns.log: its
// #path is dns, or (no #path in sight) its #fields name the query and its
// type or response code. A dns.log names id.orig_h too, so it is asked
// before isZeekConn.
func isZeekDNS(b []byte) bool {
	if i := bytes.Index(b, []byte("\n#path")); i >= 0 {
		rest := bytes.TrimLeft(b[i+len("\n#path"):], " \t")
		return bytes.HasPrefix(rest, []byte("dns")) && (len(rest) == 3 || strings.IndexByte(" \t\r\n", rest[3]) >= 0)
	}
	i := bytes.Index(b, []byte("\n#fields"))
	if i < 0 {
		return false
	}
	fields := b[i+len("\n#fields"):]
	if j := bytes.IndexByte(fields, '\n'); j >= 0 {
		fields = fields[:j]
	}
	fields = bytes.TrimRight(fields, "\r")
	return hasZeekField(fields, "query") && (hasZeekField(fields, "qtype_name") || hasZeekField(fields, "rcode"))
}

// hasZeekField reports whether a #fields line (without its name) names
// the field, whatever its separator.
func hasZeekField(fields []byte, name string) bool {
	for i := 0; ; {
		j := bytes.Index(fields[i:], []byte(name))
		if j < 0 {
			return false
		}
		j += i
		end := j + len(name)
		if j > 0 && isZeekNameByte(fields[j-1]) || end < len(fields) && isZeekNameByte(fields[end]) {
			i = j + 1
			continue
		}
		return true
	}
}

func isZeekNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.'
}

// isZeekDNSJSON reports whether a JSON line is a record of a Zeek
// dns.log: a uid (which Route 53 Resolver logs lack) and the query with
// its type name or response code (which conn.log lacks).
func isZeekDNSJSON(b []byte) bool {
	return bytes.Contains(b, []byte(`"uid"`)) && bytes.Contains(b, []byte(`"query"`)) &&
		(bytes.Contains(b, []byte(`"qtype_name"`)) || bytes.Contains(b, []byte(`"rcode"`)))
}
