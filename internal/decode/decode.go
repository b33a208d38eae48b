// Package decode owns reading an input of any format: Detect tells the
// format from the first bytes, and Open returns one Reader for every
// format, which yields event records, reports bad records with a reason
// for counting, and keeps a Position to checkpoint and resume. Both
// picket analyze and picket serve read through it. The decoders
// themselves live in one package each below (decode/vpcflow,
// decode/cloudtrail, decode/pcap, decode/zeek), each turning bytes into
// event records with typed parse errors.
package decode

import (
	"bytes"
	"strings"
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
)

var names = [...]string{"unknown", "vpc-flow-logs", "vpc-flow-logs-parquet", "cloudtrail", "route53-resolver", "pcap", "pcapng", "zeek-conn", "vpc-flow-logs-cloudwatch"}

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
// number, a JSON document and its telltale keys, or text whose first line
// is a flow log header or record. Packet captures are known by their
// magic numbers (pcap's a1b2c3d4 and a1b23c4d in either byte order,
// pcapng's section header block 0a0d0d0a), Zeek's conn.log by its
// #separator header and "#path conn", or by JSON lines with "id.orig_h".
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
		if isZeekConn(b) {
			return ZeekConn
		}
		return Unknown
	}
	if b[0] == '{' || b[0] == '[' {
		switch {
		case b[0] == '{' && bytes.Contains(b, []byte(`"id.orig_h"`)):
			return ZeekConn
		case bytes.Contains(b, []byte(`"eventVersion"`)), bytes.Contains(b, []byte(`"Records"`)) && bytes.Contains(b, []byte(`"eventName"`)),
			// Events as JSON strings: CloudWatch Logs subscription
			// payloads, lookup-events output.
			bytes.Contains(b, []byte(`\"eventVersion\"`)),
			// A digest file, which the CloudTrail decoder skips.
			bytes.Contains(b, []byte(`"digestStartTime"`)):
			return CloudTrail
		case bytes.Contains(b, []byte(`"query_name"`)):
			return Resolver
		case b[0] == '{' && bytes.Contains(b, []byte(`"logEvents"`)):
			// A CloudWatch Logs subscription payload whose messages are
			// not CloudTrail events: flow log lines.
			return VPCFlowCloudWatch
		}
		return Unknown
	}
	// A CloudWatch Logs export of CloudTrail: a timestamp, a space, the
	// event.
	if i := bytes.Index(b, []byte(" {")); i > 0 && i <= 40 && b[0] >= '0' && b[0] <= '9' && bytes.Contains(b, []byte(`"eventVersion"`)) {
		return CloudTrail
	}
	line := b
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	if isFlowLine(line) {
		return VPCFlow
	}
	return Unknown
}

// isFlowLine reports whether a line is a flow log header (it names known
// fields) or a plausible record (several space-separated tokens, printable
// ASCII only, at least one of them a number).
func isFlowLine(line []byte) bool {
	toks := bytes.Fields(line)
	if len(toks) < 2 {
		return false
	}
	for _, t := range toks {
		switch string(t) {
		case "version", "account-id", "interface-id", "srcaddr", "dstaddr", "action", "log-status", "tgw-id", "resource-type":
			return true
		}
	}
	numbers := 0
	for _, t := range toks {
		for _, c := range t {
			if c < 0x21 || c > 0x7e {
				return false
			}
		}
		if t[0] >= '0' && t[0] <= '9' {
			numbers++
		}
	}
	return numbers > 0
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
