package zeek

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"unicode/utf8"

	"picket/internal/event"
)

// The dns.log fields the DNS reader uses.
const (
	dTS = iota
	dOrigH
	dOrigP
	dRespH
	dRespP
	dProto
	dQuery
	dQClass
	dQType
	dRCode
	dAnswers
	numDNSFields
)

var dnsFieldNames = [numDNSFields]string{"ts", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "query", "qclass", "qtype", "rcode", "answers"}

// dnsRequired are the columns a #fields header must name.
var dnsRequired = [...]int{dTS, dOrigH, dOrigP, dRespH, dRespP, dQuery}

// DNSReader decodes one Zeek dns.log, tab-separated with its # headers
// (#separator, #set_separator, #unset_field, #empty_field, #fields) or
// JSON lines, into event.DNSQuery records, one per line. A line that
// cannot be read is a *ParseError naming the file, line and field; reading
// goes on with the next line.
//
// The query name is lower-cased, loses its final dots and has Zeek's
// escapes (\xNN in TSV, JSON's in JSON) resolved, in place: Name and the
// Data of the answers point into the reader's buffer and stay valid only
// until the next call of Next. Zeek does not log the type of an answer:
// an answer that is an address gets event.DNSTypeA or DNSTypeAAAA and its
// Addr; any other (a name of a CNAME chain, TXT data) keeps its text in
// Data with Type 0.
//
// The reader allocates nothing per record once its buffer is warm.
type DNSReader struct {
	lines
	name   string
	file   event.ID
	sep    byte
	setSep byte
	unset  []byte
	empty  []byte
	header bool   // a #fields line with the required columns is in effect
	byCol  []int8 // the field of each column, -1 for those not used
	json   bool   // the values in vals come from a JSON line
	vals   [numDNSFields][]byte
}

// NewDNSReader returns a reader of the dns.log r, called name in records'
// origins and errors.
func NewDNSReader(r io.Reader, name string) *DNSReader {
	d := &DNSReader{lines: lines{br: bufio.NewReaderSize(r, 256<<10)}}
	d.Reset(r, name)
	return d
}

// Reset makes d read r, called name, from its start, keeping its buffers.
func (d *DNSReader) Reset(r io.Reader, name string) {
	d.br.Reset(r)
	d.name, d.file = name, event.Intern(name)
	d.line, d.header, d.json = 0, false, false
	d.sep, d.setSep = '\t', ','
	d.unset = append(d.unset[:0], '-')
	d.empty = append(d.empty[:0], "(empty)"...)
	d.byCol = d.byCol[:0]
}

// Line returns the number of lines read.
func (d *DNSReader) Line() int64 { return d.line }

// Next fills q with the query of the next line. It returns nil for a
// record, a *ParseError for a bad line (after which Next may be called
// again), io.EOF at the end, or another error when the input cannot be
// read further.
func (d *DNSReader) Next(q *event.DNSQuery) error {
	for {
		line, err := d.readLine()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return io.EOF
			}
			return fmt.Errorf("reading %s after line %d: %w", d.name, d.line, err)
		}
		ok, perr := d.decodeLine(line, q)
		if perr != nil {
			return perr
		}
		if ok {
			return nil
		}
	}
}

func (d *DNSReader) fail(field int, value []byte, why string) *ParseError {
	return parseError(d.name, d.line, dnsFieldNames[:], field, value, why)
}

// decodeLine reads one line: ok is true when it filled q with a record.
func (d *DNSReader) decodeLine(line []byte, q *event.DNSQuery) (ok bool, _ *ParseError) {
	if len(line) == 0 {
		return false, nil
	}
	if len(line) >= maxLine {
		return false, d.fail(-1, nil, "line-too-long")
	}
	switch line[0] {
	case '#':
		return false, d.directive(line)
	case '{':
		d.json = true
		if perr := d.splitJSON(line); perr != nil {
			return false, perr
		}
	default:
		if !d.header {
			return false, d.fail(-1, nil, "no-fields-header")
		}
		d.json = false
		d.splitTSV(line)
	}
	return true, d.fill(q)
}

// splitTSV points vals at the columns of a TSV line; unset and empty
// values become nil.
func (d *DNSReader) splitTSV(line []byte) {
	d.vals = [numDNSFields][]byte{}
	for col, start := 0, 0; start <= len(line) && col < len(d.byCol); col++ {
		end := bytes.IndexByte(line[start:], d.sep)
		if end < 0 {
			end = len(line)
		} else {
			end += start
		}
		if f := d.byCol[col]; f >= 0 {
			v := line[start:end]
			if bytes.Equal(v, d.unset) || bytes.Equal(v, d.empty) {
				v = nil
			}
			d.vals[f] = v
		}
		start = end + 1
	}
}

// splitJSON points vals at the values of a JSON line, strings without
// their quotes (escapes still in), the answers as their raw array; null
// becomes nil. It walks the object once, member by member (and into an
// "id" object, for logs written without dotted names), rather than
// looking each field up: ten lookups, each checking the whole line, read
// 210,000 lines a second where one walk reads over a million
// (BenchmarkDNS/json). The walk checks the structure, strings and
// brackets; the values it keeps are checked as they are parsed.
func (d *DNSReader) splitJSON(line []byte) *ParseError {
	d.vals = [numDNSFields][]byte{}
	end, ok := d.members(line, 0, false)
	if !ok || len(bytes.TrimRight(line[end:], " \t")) > 0 {
		return d.fail(-1, nil, "syntax")
	}
	if d.vals[dQuery] == nil && d.vals[dQType] == nil && d.vals[dRCode] == nil {
		// Zeek leaves unset fields out of JSON, but a dns.log line has
		// one of these at least; without them it is another log's line.
		return d.fail(dQuery, nil, "missing")
	}
	return nil
}

// members reads the members of the object that starts at b[i] into
// vals, and returns the index after it; inID says it is the "id" object.
func (d *DNSReader) members(b []byte, i int, inID bool) (int, bool) {
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	for i < len(b) && b[i] == '"' {
		kend, ok := stringEnd(b, i)
		if !ok {
			return 0, false
		}
		key := b[i+1 : kend-1]
		i = skipSpace(b, kend)
		if i >= len(b) || b[i] != ':' {
			return 0, false
		}
		i = skipSpace(b, i+1)
		if i >= len(b) {
			return 0, false
		}
		if !inID && b[i] == '{' && string(key) == "id" {
			if i, ok = d.members(b, i, true); !ok {
				return 0, false
			}
		} else {
			start := i
			if i, ok = valueEnd(b, i); !ok {
				return 0, false
			}
			d.set(key, b[start:i], inID)
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return 0, false
		}
		switch b[i] {
		case '}':
			return i + 1, true
		case ',':
			i = skipSpace(b, i+1)
		default:
			return 0, false
		}
	}
	return 0, false
}

// set keeps the value v of the member key, if the reader uses it.
func (d *DNSReader) set(key, v []byte, inID bool) {
	f := -1
	if inID {
		switch string(key) {
		case "orig_h":
			f = dOrigH
		case "orig_p":
			f = dOrigP
		case "resp_h":
			f = dRespH
		case "resp_p":
			f = dRespP
		}
	} else {
		for i, n := range dnsFieldNames {
			if string(key) == n {
				f = i
				break
			}
		}
	}
	if f < 0 {
		return
	}
	switch {
	case len(v) >= 2 && v[0] == '"':
		v = v[1 : len(v)-1]
	case string(v) == "null":
		v = nil
	}
	d.vals[f] = v
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// stringEnd returns the index after the JSON string that starts at b[i].
func stringEnd(b []byte, i int) (int, bool) {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1, true
		}
	}
	return 0, false
}

// valueEnd returns the index after the JSON value that starts at b[i]: a
// string, an array or object (by its brackets), or a number or literal
// (up to the next delimiter).
func valueEnd(b []byte, i int) (int, bool) {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '[', '{':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				end, ok := stringEnd(b, i)
				if !ok {
					return 0, false
				}
				i = end - 1
			case '[', '{':
				depth++
			case ']', '}':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
		}
		return 0, false
	}
	start := i
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' {
		i++
	}
	return i, i > start
}

// directive reads a # header line of the TSV format.
func (d *DNSReader) directive(line []byte) *ParseError {
	name, value, _ := bytes.Cut(line[1:], []byte{d.sep})
	if bytes.HasPrefix(line, []byte("#separator ")) {
		name, value = []byte("separator"), line[len("#separator "):]
	}
	switch string(name) {
	case "separator", "set_separator":
		c, ok := separator(value)
		if !ok {
			return d.fail(-1, value, "bad-separator")
		}
		if string(name) == "separator" {
			d.sep = c
		} else {
			d.setSep = c
		}
	case "unset_field":
		d.unset = append(d.unset[:0], value...)
	case "empty_field":
		d.empty = append(d.empty[:0], value...)
	case "fields":
		d.header = false
		d.byCol = d.byCol[:0]
		var seen [numDNSFields]bool
		for f := range bytes.SplitSeq(value, []byte{d.sep}) {
			field := int8(-1)
			for i, n := range dnsFieldNames {
				if string(f) == n {
					field = int8(i)
					seen[i] = true
				}
			}
			d.byCol = append(d.byCol, field)
		}
		for _, need := range dnsRequired {
			if !seen[need] {
				return d.fail(need, nil, "missing-column")
			}
		}
		d.header = true
	}
	return nil
}

// separator reads a separator as a #separator header gives it: one byte,
// or \xNN.
func separator(v []byte) (byte, bool) {
	if len(v) == 4 && v[0] == '\\' && v[1] == 'x' {
		n, err := strconv.ParseUint(string(v[2:]), 16, 8)
		return byte(n), err == nil
	}
	return firstByte(v), len(v) == 1
}

func firstByte(v []byte) byte {
	if len(v) == 0 {
		return 0
	}
	return v[0]
}

// fill turns the values in vals into q.
func (d *DNSReader) fill(q *event.DNSQuery) *ParseError {
	v := &d.vals
	q.Reset()
	q.Origin = event.Origin{File: d.file, Line: d.line}
	ts, ok := parseTime(v[dTS])
	if !ok {
		return d.fail(dTS, v[dTS], invalidOrMissing(v[dTS]))
	}
	q.T = event.Time(math.Floor(ts))
	if q.Src, ok = event.ParseAddr(v[dOrigH]); !ok {
		return d.fail(dOrigH, v[dOrigH], invalidOrMissing(v[dOrigH]))
	}
	if q.Resolver, ok = event.ParseAddr(v[dRespH]); !ok {
		return d.fail(dRespH, v[dRespH], invalidOrMissing(v[dRespH]))
	}
	for _, p := range [...]struct {
		field int
		dst   *uint16
	}{{dOrigP, &q.SrcPort}, {dRespP, &q.ResolverPort}} {
		n, ok := parseUint(v[p.field], math.MaxUint16)
		if !ok {
			return d.fail(p.field, v[p.field], invalidOrMissing(v[p.field]))
		}
		*p.dst = uint16(n)
	}
	switch string(v[dProto]) {
	case "udp":
		q.Protocol = event.ProtoUDP
	case "tcp":
		q.Protocol = event.ProtoTCP
	}
	for _, f := range [...]struct {
		field int
		dst   *uint16
	}{{dQType, &q.QType}, {dQClass, &q.QClass}} {
		if len(v[f.field]) == 0 {
			continue
		}
		n, ok := parseUint(v[f.field], math.MaxUint16)
		if !ok {
			return d.fail(f.field, v[f.field], "invalid")
		}
		*f.dst = uint16(n)
	}
	q.RCode = event.RCodeUnknown
	if len(v[dRCode]) > 0 {
		n, ok := parseUint(v[dRCode], uint64(event.RCodeUnknown-1))
		if !ok {
			return d.fail(dRCode, v[dRCode], "invalid")
		}
		q.RCode = uint8(n)
	}
	q.Name = d.unescape(v[dQuery])
	q.Name = bytes.TrimRight(q.Name, ".")
	for i, c := range q.Name {
		if c >= 'A' && c <= 'Z' {
			q.Name[i] = c + 'a' - 'A'
		}
	}
	if d.json {
		return d.answersJSON(q, v[dAnswers])
	}
	d.answersTSV(q, v[dAnswers])
	return nil
}

func invalidOrMissing(v []byte) string {
	if len(v) == 0 {
		return "missing"
	}
	return "invalid"
}

// answersTSV reads the answers of a TSV line, separated by the set
// separator.
func (d *DNSReader) answersTSV(q *event.DNSQuery, v []byte) {
	for len(v) > 0 {
		a := v
		if i := bytes.IndexByte(v, d.setSep); i >= 0 {
			a, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		addAnswer(q, unescapeZeek(a))
	}
}

// answersJSON reads the answers of a JSON line: an array of strings.
func (d *DNSReader) answersJSON(q *event.DNSQuery, v []byte) *ParseError {
	if len(v) == 0 {
		return nil
	}
	if v[0] != '[' {
		return d.fail(dAnswers, v, "invalid")
	}
	// Strings, and the commas and blanks between them.
	for i := 1; i < len(v); i++ {
		switch v[i] {
		case '"':
			j := i + 1
			for j < len(v) && v[j] != '"' {
				if v[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(v) {
				return d.fail(dAnswers, v, "invalid")
			}
			addAnswer(q, unescapeJSON(v[i+1:j]))
			i = j
		case ',', ' ', '\t', '\r', '\n', ']':
		default:
			return d.fail(dAnswers, v, "invalid")
		}
	}
	return nil
}

// addAnswer adds one answer to q, or counts it when q has MaxAnswers.
func addAnswer(q *event.DNSQuery, a []byte) {
	if len(a) == 0 {
		return
	}
	if int(q.NumAnswers) == event.MaxAnswers {
		if q.MoreAnswers < math.MaxUint16 {
			q.MoreAnswers++
		}
		return
	}
	ans := &q.Answers[q.NumAnswers]
	q.NumAnswers++
	if addr, ok := event.ParseAddr(a); ok {
		ans.Addr, ans.Type = addr, event.DNSTypeA
		if addr.Is6() {
			ans.Type = event.DNSTypeAAAA
		}
		return
	}
	ans.Data = a
}

// unescape resolves the escapes of a value of the line being read, in
// place.
func (d *DNSReader) unescape(v []byte) []byte {
	if d.json {
		return unescapeJSON(v)
	}
	return unescapeZeek(v)
}

// unescapeZeek resolves, in place, the \xNN escapes Zeek writes in TSV
// for bytes that are not printable or would be taken for a separator.
func unescapeZeek(v []byte) []byte {
	i := bytes.IndexByte(v, '\\')
	if i < 0 {
		return v
	}
	w := i
	for ; i < len(v); i++ {
		c := v[i]
		if c == '\\' && i+3 < len(v) && v[i+1] == 'x' {
			if h, ok := unhex(v[i+2]); ok {
				if l, ok := unhex(v[i+3]); ok {
					c = h<<4 | l
					i += 3
				}
			}
		}
		v[w] = c
		w++
	}
	return v[:w]
}

// unescapeJSON resolves, in place, the escapes of the content of a JSON
// string. A \u escape of a surrogate becomes U+FFFD; a broken escape
// loses its backslash. The result is never longer than v.
func unescapeJSON(v []byte) []byte {
	i := bytes.IndexByte(v, '\\')
	if i < 0 {
		return v
	}
	w := i
	for i < len(v) {
		c := v[i]
		if c != '\\' || i+1 >= len(v) {
			v[w] = c
			w, i = w+1, i+1
			continue
		}
		i += 2
		switch v[i-1] {
		case 'b':
			c = '\b'
		case 'f':
			c = '\f'
		case 'n':
			c = '\n'
		case 'r':
			c = '\r'
		case 't':
			c = '\t'
		case 'u':
			r := rune(0)
			for k := 0; k < 4 && i < len(v); k, i = k+1, i+1 {
				h, _ := unhex(v[i])
				r = r<<4 | rune(h)
			}
			if r >= 0xd800 && r < 0xe000 {
				r = utf8.RuneError
			}
			// At most 3 bytes for the 6 of the escape: w stays behind i.
			w += utf8.EncodeRune(v[w:], r)
			continue
		default: // '"', '\\', '/'
			c = v[i-1]
		}
		v[w] = c
		w++
	}
	return v[:w]
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
