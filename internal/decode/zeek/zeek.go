// Package zeek decodes Zeek's conn.log, as tab-separated text with its
// #fields header or as JSON lines, into the flow records that AWS VPC
// Flow Logs would have written for the same connections. It owns reading
// the log: each connection becomes an originator-to-responder record
// (orig_pkts, orig_ip_bytes) and a responder-to-originator one
// (resp_pkts, resp_ip_bytes) on each local interface, with TCP flags from
// the history letters (S and s SYN, h SYN-ACK from the responder, F and f
// FIN, R and r RST; conn_state REJ means the responder reset). Which side
// is local, the interfaces, the security group model and the aggregation
// windows belong to package flowmeter.
//
// Records come out in end-time order with bounded memory: Zeek writes a
// connection when it ends, so lines are roughly but not exactly in start
// order, and the meter holds windows open for a generous slack (ten
// minutes by default) before it flushes them. A line that cannot be read
// is a *ParseError, counted and skipped by the caller.
//
// It also reads Zeek's dns.log (DNSReader): each query and its answers
// become an event.DNSQuery.
//
// It may import event, flowmeter and topology.
package zeek

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
	"unsafe"

	"picket/internal/event"
	"picket/internal/flowmeter"
)

// ParseError describes one line that could not be read.
type ParseError struct {
	File  string
	Line  int64
	Field string
	Value string
	Why   string // short and stable, such as "missing" or "invalid"
}

// Error renders the error as `file:line: field "name": value "v": why`.
func (e *ParseError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("%s:%d: field %q: %s", e.File, e.Line, e.Field, e.Why)
	}
	return fmt.Sprintf("%s:%d: field %q: value %q: %s", e.File, e.Line, e.Field, e.Value, e.Why)
}

// Reason returns a short, stable name for the error, for counting.
func (e *ParseError) Reason() string { return "zeek-" + e.Why }

// The fields the reader uses.
const (
	fTS = iota
	fOrigH
	fOrigP
	fRespH
	fRespP
	fProto
	fDuration
	fState
	fLocalOrig
	fLocalResp
	fHistory
	fOrigPkts
	fOrigIPBytes
	fRespPkts
	fRespIPBytes
	numFields
)

var fieldNames = [numFields]string{"ts", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "duration", "conn_state", "local_orig", "local_resp", "history", "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes"}

// nested names the fields of JSON logs written without dotted names.
var nested = [numFields][2]string{fOrigH: {"id", "orig_h"}, fOrigP: {"id", "orig_p"}, fRespH: {"id", "resp_h"}, fRespP: {"id", "resp_p"}}

// Stats counts what a reader saw.
type Stats struct {
	Lines   int64 // connection lines read
	Errors  int64 // lines skipped as bad
	Skipped int64 // lines of other protocols or without packets
	Meter   flowmeter.Stats
}

// Reader decodes one conn.log.
type Reader struct {
	lines
	name   string
	json   bool
	sep    byte
	unset  []byte
	empty  []byte
	col    [numFields]int // column of each field, -1 when absent
	vals   [numFields][]byte
	meter  *flowmeter.Meter
	conn   flowmeter.Conn
	stats  Stats
	done   bool
	endErr error
}

// DefaultSlack is how far, in seconds, the reader lets connection start
// times run out of order: Zeek logs a connection when it ends (after an
// inactivity timeout of up to five minutes), not when it starts.
const DefaultSlack = 600

// NewReader returns a reader of the conn.log r, called name. cfg
// configures the meter; a zero Slack becomes DefaultSlack.
func NewReader(r io.Reader, name string, cfg flowmeter.Config) *Reader {
	if cfg.Slack == 0 {
		cfg.Slack = DefaultSlack
	}
	if cfg.Interface == "" && cfg.Topology != nil {
		cfg.Interface = cfg.Topology.Match(name)
	}
	cfg.Source = name
	rd := &Reader{name: name, lines: lines{br: bufio.NewReaderSize(r, 256<<10)}, sep: '\t', unset: []byte("-"), empty: []byte("(empty)"), meter: flowmeter.New(cfg)}
	for i := range rd.col {
		rd.col[i] = -1
	}
	return rd
}

// Stats returns the counts so far.
func (r *Reader) Stats() Stats {
	s := r.stats
	s.Meter = r.meter.Stats()
	return s
}

// Next fills f with the next flow record. It returns nil for a record, a
// *ParseError for a bad line (after which Next may be called again),
// io.EOF at the end, or another error when the input cannot be read
// further (the records of the lines before it are delivered first).
func (r *Reader) Next(f *event.Flow) error {
	for {
		if r.meter.Next(f) {
			return nil
		}
		if r.done {
			err := r.endErr
			r.endErr = io.EOF
			return err
		}
		line, err := r.readLine()
		if err != nil {
			r.done = true
			r.meter.Close()
			r.endErr = err
			if !errors.Is(err, io.EOF) {
				r.endErr = fmt.Errorf("reading %s after line %d: %w", r.name, r.line, err)
			}
			continue
		}
		if perr := r.decodeLine(line); perr != nil {
			r.stats.Errors++
			return perr
		}
	}
}

// maxLine bounds a line; longer ones are skipped as bad.
const maxLine = 1 << 20

// lines reads a log's lines, keeping about maxLine bytes of a longer one,
// and counts them, for errors to name.
type lines struct {
	br   *bufio.Reader
	long []byte // a line longer than the buffer
	line int64
}

func (l *lines) readLine() ([]byte, error) {
	line, err := l.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		l.long = append(l.long[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = l.br.ReadSlice('\n')
			if len(l.long) < maxLine {
				l.long = append(l.long, line...)
			}
		}
		line = l.long
	}
	if len(line) == 0 && err != nil {
		return nil, err
	}
	l.line++
	return bytes.TrimRight(line, "\r\n"), nil
}

// parseError returns the error of a bad value of field (a column index of
// names, or -1 for the whole line) on the current line of file.
func parseError(file string, line int64, names []string, field int, value []byte, why string) *ParseError {
	name := "line"
	if field >= 0 {
		name = names[field]
	}
	if len(value) > 64 {
		value = value[:64]
	}
	return &ParseError{File: file, Line: line, Field: name, Value: string(value), Why: why}
}

func (r *Reader) fail(field int, value []byte, why string) *ParseError {
	return parseError(r.name, r.line, fieldNames[:], field, value, why)
}

func (r *Reader) decodeLine(line []byte) *ParseError {
	if len(line) == 0 {
		return nil
	}
	if len(line) >= maxLine {
		return r.fail(-1, nil, "line-too-long")
	}
	if line[0] == '#' {
		return r.directive(line)
	}
	if line[0] == '{' {
		r.json = true
		return r.decodeJSON(line)
	}
	if r.col[fTS] < 0 {
		return r.fail(-1, nil, "no-fields-header")
	}
	// Split the line into the columns we use.
	for i := range r.vals {
		r.vals[i] = nil
	}
	col := 0
	for start := 0; start <= len(line); col++ {
		end := bytes.IndexByte(line[start:], r.sep)
		if end < 0 {
			end = len(line)
		} else {
			end += start
		}
		for i, c := range r.col {
			if c == col {
				r.vals[i] = line[start:end]
			}
		}
		start = end + 1
	}
	for i := range r.vals {
		if bytes.Equal(r.vals[i], r.unset) || bytes.Equal(r.vals[i], r.empty) {
			r.vals[i] = nil
		}
	}
	return r.conn1()
}

// directive reads a # header line of the TSV format.
func (r *Reader) directive(line []byte) *ParseError {
	name, value, _ := bytes.Cut(line[1:], []byte{r.sep})
	if bytes.HasPrefix(line, []byte("#separator ")) {
		name, value = []byte("separator"), line[len("#separator "):]
	}
	switch string(name) {
	case "separator":
		if bytes.HasPrefix(value, []byte(`\x`)) && len(value) == 4 {
			v, err := strconv.ParseUint(string(value[2:]), 16, 8)
			if err != nil {
				return r.fail(-1, value, "bad-separator")
			}
			r.sep = byte(v)
		} else if len(value) == 1 {
			r.sep = value[0]
		} else {
			return r.fail(-1, value, "bad-separator")
		}
	case "unset_field":
		r.unset = append([]byte(nil), value...)
	case "empty_field":
		r.empty = append([]byte(nil), value...)
	case "fields":
		for i := range r.col {
			r.col[i] = -1
		}
		col := 0
		for f := range bytes.SplitSeq(value, []byte{r.sep}) {
			for i, n := range fieldNames {
				if string(f) == n {
					r.col[i] = col
				}
			}
			col++
		}
		for _, need := range []int{fTS, fOrigH, fOrigP, fRespH, fRespP, fProto} {
			if r.col[need] < 0 {
				r.col[fTS] = -1
				return r.fail(need, nil, "missing-column")
			}
		}
	}
	return nil
}

func (r *Reader) decodeJSON(line []byte) *ParseError {
	for i, n := range fieldNames {
		v := event.JSONValue(line, n)
		if v == nil && nested[i][0] != "" {
			v = event.JSONValue(line, nested[i][0], nested[i][1])
		}
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		if string(v) == "null" {
			v = nil
		}
		r.vals[i] = v
	}
	return r.conn1()
}

// conn1 turns the fields in r.vals into a connection for the meter.
func (r *Reader) conn1() *ParseError {
	v := &r.vals
	r.stats.Lines++
	c := &r.conn
	*c = flowmeter.Conn{Seq: r.line}
	ts, ok := parseTime(v[fTS])
	if !ok {
		return r.fail(fTS, v[fTS], "invalid")
	}
	var proto uint8
	switch string(v[fProto]) {
	case "tcp":
		proto = event.ProtoTCP
	case "udp":
		proto = event.ProtoUDP
	case "icmp":
		proto = event.ProtoICMP
	case "":
		return r.fail(fProto, nil, "missing")
	default:
		r.stats.Skipped++ // unknown_transport: no protocol number to record
		return nil
	}
	if c.Src, ok = event.ParseAddr(v[fOrigH]); !ok {
		return r.fail(fOrigH, v[fOrigH], "invalid")
	}
	if c.Dst, ok = event.ParseAddr(v[fRespH]); !ok {
		return r.fail(fRespH, v[fRespH], "invalid")
	}
	if proto == event.ProtoICMP && c.Src.Is6() {
		proto = event.ProtoICMPv6
	}
	c.Proto = proto
	sp, ok1 := parseUint(v[fOrigP], math.MaxUint16)
	dp, ok2 := parseUint(v[fRespP], math.MaxUint16)
	if !ok1 {
		return r.fail(fOrigP, v[fOrigP], "invalid")
	}
	if !ok2 {
		return r.fail(fRespP, v[fRespP], "invalid")
	}
	c.SrcPort, c.DstPort = uint16(sp), uint16(dp)
	dur := 0.0
	if len(v[fDuration]) > 0 {
		d, err := strconv.ParseFloat(unsafeString(v[fDuration]), 64)
		if err != nil || d < 0 || d > 1e9 {
			return r.fail(fDuration, v[fDuration], "invalid")
		}
		dur = d
	}
	c.Start = event.Time(math.Floor(ts))
	c.End = event.Time(math.Floor(ts + dur))
	for _, x := range []struct {
		field int
		dst   *uint64
	}{{fOrigPkts, &c.OrigPackets}, {fOrigIPBytes, &c.OrigBytes}, {fRespPkts, &c.RespPackets}, {fRespIPBytes, &c.RespBytes}} {
		if len(v[x.field]) == 0 {
			continue
		}
		n, ok := parseUint(v[x.field], math.MaxInt64)
		if !ok {
			return r.fail(x.field, v[x.field], "invalid")
		}
		*x.dst = n
	}
	c.LocalOrig, c.LocalResp = parseBool(v[fLocalOrig]), parseBool(v[fLocalResp])
	if proto == event.ProtoTCP {
		for _, h := range v[fHistory] {
			switch h {
			case 'S':
				c.OrigFlags |= event.TCPSyn
			case 'H':
				c.OrigFlags |= event.TCPSyn | event.TCPAck
			case 'F':
				c.OrigFlags |= event.TCPFin
			case 'R':
				c.OrigFlags |= event.TCPRst
			case 's':
				c.RespFlags |= event.TCPSyn
			case 'h':
				c.RespFlags |= event.TCPSyn | event.TCPAck
			case 'f':
				c.RespFlags |= event.TCPFin
			case 'r':
				c.RespFlags |= event.TCPRst
			}
		}
		if string(v[fState]) == "REJ" {
			c.RespFlags |= event.TCPRst
		}
	}
	if c.OrigPackets == 0 && c.RespPackets == 0 {
		r.stats.Skipped++
		return nil
	}
	r.meter.AddConn(c)
	return nil
}

// parseTime reads ts: epoch seconds with a fraction, or (JSON logs
// written with ISO timestamps) RFC 3339.
func parseTime(b []byte) (float64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	if bytes.IndexByte(b, 'T') > 0 {
		t, err := time.Parse(time.RFC3339Nano, unsafeString(b))
		if err != nil {
			return 0, false
		}
		return float64(t.UnixNano()) / 1e9, true
	}
	f, err := strconv.ParseFloat(unsafeString(b), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e11 {
		return 0, false
	}
	return f, true
}

func parseUint(b []byte, max uint64) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (max-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

func parseBool(b []byte) event.Tri {
	switch string(b) {
	case "T", "true":
		return event.TriTrue
	case "F", "false":
		return event.TriFalse
	}
	return event.TriUnset
}

func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	// Read only while b is live, never kept: strconv and time copy what
	// they keep into their errors, which we drop.
	return unsafe.String(&b[0], len(b)) //nolint:gosec // read-only view of b for parsing
}
