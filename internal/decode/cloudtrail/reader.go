package cloudtrail

import (
	"bytes"
	"errors"
	"io"
	"strconv"

	"picket/internal/event"
	"picket/internal/jsonscan"
)

// MaxEvent is the largest event a Reader buffers by default. CloudTrail
// itself caps events at 256 KB (larger request or response parts are
// omitted), so a bigger one is garbage or a deliberate attack on memory:
// it is skipped without being buffered and reported with ErrTooLarge.
// SetMaxEvent raises the bound.
const MaxEvent = 1 << 20

// bufSize is the initial buffer: dozens of events, and one read of a gzip
// stream. picket analyze holds up to 256 inputs open at once, so it is
// kept small; BenchmarkDecode measured it no slower than 256 KiB
// (840-900 MB per CPU-second either way), and it stays in L2.
const bufSize = 64 << 10

// maxFrames bounds how deeply containers of events may nest (a JSON array
// of {"Records":[...]} objects is three frames).
const maxFrames = 8

// elemKind says what the elements of an array of events are.
type elemKind uint8

const (
	elemItem     elemKind = iota // events, envelopes, or wrappers
	elemMessage                  // {"message": "<event>"}: CloudWatch Logs
	elemTrailEvt                 // {"CloudTrailEvent": "<event>"}: lookup-events
)

// frame is an open container of events.
type frame struct {
	wrapper bool     // an object with a container key; else an array
	elem    elemKind // for arrays: what the elements are
	sep     bool     // a member was read: a ',' must come before the next
}

// Reader decodes the CloudTrail events of one input stream, in any of the
// shapes the package documentation lists, holding at most one event (up
// to the size bound) in memory at a time. It is reusable across inputs
// with Reset, and not safe for concurrent use.
type Reader struct {
	r        io.Reader
	dec      *Decoder
	file     event.ID
	buf      []byte
	start    int // first unread byte in buf
	end      int // end of valid data in buf
	dropped  int64
	err      error // sticky read error (io.EOF at the end)
	maxEvent int

	line   int64 // 1-based line number of buf[mark]
	mark   int
	record int64 // events (elements) started so far

	frames [maxFrames]frame
	depth  int
	msg    []byte // the unescaped event of a logEvents or Events element
	indent [32]byte

	foreign []byte // the line of the last error, when it holds no JSON
}

// NewReader returns a reader for the input called name.
func NewReader(r io.Reader, name string) *Reader {
	rd := &Reader{dec: NewDecoder(name), buf: make([]byte, bufSize), maxEvent: MaxEvent}
	rd.Reset(r, name)
	return rd
}

// Reset reuses the reader, its buffer and intern cache for a new input.
// The size bound stays as set.
func (r *Reader) Reset(rd io.Reader, name string) {
	r.r = rd
	r.dec.Reset(name)
	r.file = event.Intern(name)
	r.start, r.end, r.dropped = 0, 0, 0
	r.err = nil
	r.line, r.mark, r.record = 1, 0, 0
	r.depth = 0
	r.foreign = nil
	if cap(r.buf) > 4*bufSize {
		r.buf = make([]byte, bufSize) // let an oversized buffer go
	}
}

// SetMaxEvent sets the largest event the reader buffers (at least 4 KiB).
// A larger one is skipped and reported with ErrTooLarge.
func (r *Reader) SetMaxEvent(n int) { r.maxEvent = max(n, 4<<10) }

// Records returns how many events the reader has met so far, good and
// bad: the Record of the last one.
func (r *Reader) Records() int64 { return r.record }

// Next decodes the next event into c. It returns nil for an event, a
// *ParseError for a bad event (or bad structure around events), after
// which Next may be called again, io.EOF at the end of the input, or
// another error when the input cannot be read further (a truncated gzip
// stream, say); events before that error were delivered.
//
// c is reset and filled in place. Its borrowed fields point into the
// reader's buffer and are valid until the next call to Next or Reset.
func (r *Reader) Next(c *event.APICall) error {
	r.foreign = nil
	for {
		ch, err := r.peek()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return err
			}
			if r.depth > 0 {
				r.depth = 0
				return r.structural(ErrTruncated, "the input ends inside a JSON array or object")
			}
			return io.EOF
		}
		if r.depth == 0 {
			switch {
			case ch == '{':
				if err := r.element(c, elemItem, true); !errors.Is(err, errContinue) {
					return err
				}
			case ch == '[':
				r.start++
				r.push(frame{elem: elemItem})
			case ch >= '0' && ch <= '9' && r.timestampPrefix():
				// A CloudWatch Logs export line: the event follows.
			default:
				r.record++
				line := r.lineAt(r.start)
				pe := r.errorAt(line, r.record, ErrNotEvent, "not a JSON object or array")
				r.notJSON()
				return pe
			}
			continue
		}
		f := &r.frames[r.depth-1]
		if f.wrapper {
			if err := r.wrapperMember(f, ch); !errors.Is(err, errContinue) {
				return err
			}
			continue
		}
		switch {
		case ch == ']':
			r.start++
			r.pop()
			continue
		case ch == ',' && f.sep:
			r.start++
			f.sep = false
			continue
		case f.sep:
			// Two events with no comma between them: say so, and read
			// the next one anyway.
			f.sep = false
			return r.structural(ErrSyntax, "expected ',' or ']' after an event")
		case ch == ',':
			r.start++
			return r.structural(ErrSyntax, "expected an event, found ','")
		}
		f.sep = true
		if err := r.element(c, f.elem, false); !errors.Is(err, errContinue) {
			return err
		}
	}
}

// Foreign returns the rest of the line that the last error of Next was
// about when that error is ErrNotEvent at the top level of the input and
// the line holds no event (a line of another format, such as a flow log
// record among events one per line, which a caller may decode as such),
// without its newline; otherwise nil. It is valid until the next call to
// Next or Reset.
func (r *Reader) Foreign() []byte { return r.foreign }

// notJSON passes over what starts at r.start, at the top level, that is
// not JSON. If an event visibly starts later on the same line (after a
// prefix picket does not know, say), the stream resumes there; otherwise
// the rest of the line is one bad record, and Foreign returns it, so
// that each line of another format costs one bad record and no more.
func (r *Reader) notJSON() {
	for {
		b := r.buf[r.start:r.end]
		end := bytes.IndexByte(b, '\n')
		switch {
		case end < 0 && r.err == nil && r.end-r.start < len(r.buf):
			r.fill(false)
			continue
		case end < 0 && r.err == nil:
			// A line longer than the buffer: no more of it is held.
			r.resync(r.start+1, nil, false)
			return
		case end < 0:
			end = len(b)
		}
		if p, _ := r.candidate(b[1:end], nil, false); p >= 0 {
			r.resync(r.start+1, nil, false)
			return
		}
		r.foreign = b[:end]
		r.start += min(end+1, len(b))
		return
	}
}

// errContinue tells Next that no event was delivered and to go on.
var errContinue = errors.New("continue")

func (r *Reader) push(f frame) {
	if r.depth == maxFrames {
		// Deeper nesting than any real input: treat the container as one
		// bad element instead.
		r.depth = 0
		return
	}
	r.frames[r.depth] = f
	r.depth++
}

func (r *Reader) pop() {
	r.depth--
	if r.depth > 0 {
		r.frames[r.depth-1].sep = true
	}
}

// peek skips whitespace (and a byte order mark at the start) and returns
// the next byte.
func (r *Reader) peek() (byte, error) {
	for {
		for r.start < r.end && jsonscan.IsSpace(r.buf[r.start]) {
			r.start++
		}
		if r.start+3 <= r.end && r.dropped+int64(r.start) == 0 && r.buf[0] == 0xEF && r.buf[1] == 0xBB && r.buf[2] == 0xBF {
			r.start += 3
			continue
		}
		if r.start < r.end {
			return r.buf[r.start], nil
		}
		if r.err != nil {
			return 0, r.err
		}
		r.fill(false)
	}
}

// fill makes room and reads more. When the buffer holds unread data only
// and grow is set, it grows (up to the size bound) and reads until full.
func (r *Reader) fill(grow bool) {
	if r.err != nil {
		return
	}
	r.lineAt(r.start)
	if r.start > 0 {
		n := copy(r.buf, r.buf[r.start:r.end])
		r.dropped += int64(r.start)
		r.start, r.end, r.mark = 0, n, 0
	}
	full := false
	if r.end == len(r.buf) {
		if !grow || len(r.buf) >= r.maxEvent+bufSize {
			return
		}
		nb := make([]byte, min(2*len(r.buf), r.maxEvent+bufSize))
		copy(nb, r.buf[:r.end])
		r.buf = nb
		full = true
	}
	for {
		n, err := r.r.Read(r.buf[r.end:])
		r.end += n
		if err != nil {
			r.err = err
			if errors.Is(err, io.EOF) {
				r.err = io.EOF
			}
			return
		}
		if !full || r.end == len(r.buf) {
			return
		}
	}
}

// lineAt returns the line number of buf[pos], counting the newlines since
// the last call; pos never goes back.
func (r *Reader) lineAt(pos int) int64 {
	if pos > r.mark {
		r.line += int64(bytes.Count(r.buf[r.mark:pos], newline))
		r.mark = pos
	}
	return r.line
}

// op names what parse runs on the buffered bytes.
type op uint8

const (
	opItem op = iota
	opMessage
	opKey
	opSkip
)

// Outcomes of parse beyond the decoder's own.
var (
	errLarge = errors.New("larger than the bound")
	errEOF   = errors.New("input ends inside the value")
)

// parse runs op on the bytes from r.start, reading more while it reports
// errShort, up to the size bound.
func (r *Reader) parse(o op, c *event.APICall) (int, error) {
	for {
		b := r.buf[r.start:r.end]
		var n int
		var err error
		switch o {
		case opItem:
			n, err = r.dec.item(b, c)
		case opMessage:
			r.dec.msg = [2]int{-1, -1}
			r.dec.failed = false
			n, err = r.dec.walk(b, 0, objMessage, c, "")
		case opKey:
			n, err = keyColon(b)
		case opSkip:
			var pos int
			n, pos, err = jsonscan.Value(b, 0)
			if err != nil && !errors.Is(err, errShort) {
				return pos, errBad
			}
		}
		if !errors.Is(err, errShort) {
			return n, err
		}
		if r.err != nil {
			if errors.Is(r.err, io.EOF) {
				return 0, errEOF
			}
			return 0, r.err
		}
		if r.end-r.start >= r.maxEvent {
			return 0, errLarge
		}
		r.fill(true)
	}
}

// keyColon reads `"key" :` and the whitespace after it, and returns the
// index of the value's first byte, errShort, or errBad for a malformed key
// or a missing colon.
func keyColon(b []byte) (int, error) {
	end, _, _, err := jsonscan.String(b, 0)
	if errors.Is(err, errShort) {
		return 0, errShort
	}
	if err != nil {
		return 0, errBad
	}
	i := jsonscan.SkipSpace(b, end)
	if i >= len(b) {
		return 0, errShort
	}
	if b[i] != ':' {
		return i, errBad
	}
	i = jsonscan.SkipSpace(b, i+1)
	if i >= len(b) {
		return 0, errShort
	}
	return i, nil
}

// element decodes the element at r.start: an event (returned), a wrapper
// (pushed, errContinue), or a bad event (a *ParseError, with the stream
// moved past it).
func (r *Reader) element(c *event.APICall, kind elemKind, top bool) error {
	r.record++
	line := r.lineAt(r.start)
	indent, lineStart := r.indentation()
	o := opItem
	if kind != elemItem {
		o = opMessage
		if kind == elemMessage {
			r.dec.msgKey = "message"
		} else {
			r.dec.msgKey = "CloudTrailEvent"
		}
	}
	if r.buf[r.start] != '{' {
		if kind == elemItem {
			return r.badElement(line, "not a JSON object", ErrNotEvent)
		}
		return r.badElement(line, "want an object with a "+r.dec.msgKey+" string", ErrType)
	}
	n, err := r.parse(o, c)
	switch {
	case err == nil:
		if kind != elemItem {
			return r.message(c, line, n)
		}
		c.Origin = r.origin(line, top)
		r.start += n
		return nil
	case errors.Is(err, errDigest):
		r.record--
		r.start += n // a digest file given as input: no events, no error
		return errContinue
	case errors.Is(err, errWrapper):
		r.record--
		r.start++ // past '{': the wrapper frame reads the members
		r.push(frame{wrapper: true})
		return errContinue
	case errors.Is(err, errBad):
		pe := r.dec.errorf(r.buf[r.start:r.end], line, r.record, &r.dec.fail)
		if !r.dec.fail.malformed {
			r.start += n // a wrong value: the event ended where it should
		} else {
			r.recover(indent, lineStart)
		}
		return pe
	case errors.Is(err, errLarge):
		return r.tooLarge(line, indent, lineStart)
	case errors.Is(err, errEOF):
		r.depth = 0
		pe := r.dec.errorf(r.buf[r.start:r.end], line, r.record, &failure{err: ErrTruncated, end: -1,
			msg: "the event is cut off after " + strconv.Itoa(r.end-r.start) + " bytes"})
		r.start = r.end
		return pe
	}
	return err // reading failed
}

// origin is where an event starts: its line for one event per line (top
// level), its index for events in arrays.
func (r *Reader) origin(line int64, top bool) event.Origin {
	if top {
		return event.Origin{File: r.file, Line: line}
	}
	return event.Origin{File: r.file, Line: r.record}
}

// message decodes the event string of a logEvents or Events element that
// parse found (the element ends at n).
func (r *Reader) message(c *event.APICall, line int64, n int) error {
	elem := r.buf[r.start : r.start+n]
	span := r.dec.msg
	if span[0] < 0 {
		r.start += n
		return r.dec.errorf(elem, line, r.record, &failure{err: ErrMissing, field: r.dec.msgKey, end: min(n, maxValueInError),
			msg: "no " + r.dec.msgKey + " string in the element"})
	}
	body := elem[span[0]+1 : span[1]-1]
	if r.dec.msgEsc {
		r.msg = jsonscan.AppendUnescaped(r.msg[:0], body)
	} else {
		r.msg = append(r.msg[:0], body...)
	}
	r.start += n
	m := r.msg
	i := jsonscan.SkipSpace(m, 0)
	if bytes.HasPrefix(m[i:], []byte("CWL CONTROL MESSAGE")) {
		return errContinue // CloudWatch Logs checking its destination
	}
	fail := func(f failure) error {
		f.field = r.dec.msgKey
		if f.end < 0 && f.pos < len(m) {
			f.end = min(len(m), f.pos+maxValueInError)
		}
		return r.dec.errorf(m, line, r.record, &f)
	}
	if i == len(m) || m[i] != '{' {
		return fail(failure{err: ErrNotEvent, pos: i, msg: "the message is not a JSON object"})
	}
	end, err := r.dec.item(m[i:], c)
	switch {
	case err == nil:
		if j := jsonscan.SkipSpace(m, i+end); j != len(m) {
			return fail(failure{err: ErrSyntax, pos: j, end: -1, msg: "data after the event in the message"})
		}
		c.Origin = r.origin(line, false)
		return nil
	case errors.Is(err, errShort):
		return fail(failure{err: ErrTruncated, pos: i, end: -1, msg: "the event in the message is cut off"})
	case errors.Is(err, errWrapper):
		return fail(failure{err: ErrNotEvent, pos: i, end: -1, msg: "a container of events inside a message"})
	}
	f := r.dec.fail
	f.pos += i
	if f.end >= 0 {
		f.end += i
	}
	if f.field != "" {
		f.field = r.dec.msgKey + ": " + f.field
	}
	return r.dec.errorf(m, line, r.record, &f)
}

// badElement reports an element that is not an object, and skips it.
func (r *Reader) badElement(line int64, msg string, reason error) error {
	n, err := r.parse(opSkip, nil)
	f := failure{err: reason, end: n, msg: msg}
	switch {
	case err == nil:
	case errors.Is(err, errLarge), errors.Is(err, errEOF):
		f.end = -1
	default:
		f.err, f.end, f.msg = ErrSyntax, -1, ""
	}
	pe := r.dec.errorf(r.buf[r.start:r.end], line, r.record, &f)
	switch {
	case err == nil:
		r.start += n
	case errors.Is(err, errBad), errors.Is(err, errLarge):
		r.resync(r.start+1, nil, false)
	case errors.Is(err, errEOF):
		r.start = r.end
	default:
		return err
	}
	return pe
}

// wrapperMember handles the next member of a wrapper object: a container
// key opens its array, anything else is skipped.
func (r *Reader) wrapperMember(f *frame, ch byte) error {
	switch {
	case ch == '}':
		r.start++
		r.pop()
		return errContinue
	case f.sep && ch == ',':
		r.start++
		f.sep = false
		return errContinue
	case f.sep || ch != '"':
		return r.brokenWrapper("expected a key, ',' or '}'")
	}
	n, err := r.parse(opKey, nil)
	if err != nil {
		if errors.Is(err, errBad) || errors.Is(err, errLarge) || errors.Is(err, errEOF) {
			return r.brokenWrapper("bad key")
		}
		return err
	}
	key := r.buf[r.start+1 : r.start+n]
	key = key[:bytes.LastIndexByte(key, ':')]
	key = bytes.TrimRight(key, " \t\r\n")
	key = key[:len(key)-1] // the closing quote
	kind, container := elemItem, false
	switch string(key) {
	case "Records":
		container = true
	case "logEvents":
		kind, container = elemMessage, true
	case "Events":
		kind, container = elemTrailEvt, true
	}
	r.start += n
	f.sep = true
	if container && r.buf[r.start] == '[' {
		r.start++
		r.push(frame{elem: kind})
		return errContinue
	}
	// Another member: skip it.
	n, err = r.parse(opSkip, nil)
	switch {
	case err == nil:
		r.start += n
		return errContinue
	case errors.Is(err, errLarge):
		if _, clean := r.skipLarge(); !clean {
			r.depth = 0
		}
		return errContinue
	case errors.Is(err, errBad), errors.Is(err, errEOF):
		return r.brokenWrapper("bad value of " + strconv.Quote(string(key)))
	}
	return err
}

// brokenWrapper reports malformed JSON in a wrapper object and resumes at
// the next event that visibly starts.
func (r *Reader) brokenWrapper(msg string) error {
	pe := r.structural(ErrSyntax, msg)
	r.depth = 0
	r.resync(r.start+1, nil, false)
	return pe
}

// structural reports a problem with the containers around events, at
// r.start.
func (r *Reader) structural(reason error, msg string) error {
	return r.errorAt(r.lineAt(r.start), 0, reason, msg)
}

func (r *Reader) errorAt(line, record int64, reason error, msg string) error {
	end := min(r.end, r.start+maxValueInError/2)
	if i := bytes.IndexByte(r.buf[r.start:end], '\n'); i >= 0 {
		end = r.start + i
	}
	return &ParseError{File: r.dec.name, Line: line, Record: record, Value: string(r.buf[r.start:end]), Msg: msg, Err: reason}
}

// indentation returns the whitespace between the start of the line and
// the element at r.start, and whether the element starts a line at all.
func (r *Reader) indentation() ([]byte, bool) {
	i := r.start
	for i > 0 && (r.buf[i-1] == ' ' || r.buf[i-1] == '\t') && r.start-i < len(r.indent) {
		i--
	}
	switch {
	case i == 0 && r.dropped == 0:
	case i > 0 && r.buf[i-1] == '\n':
	default:
		return nil, false
	}
	n := copy(r.indent[:], r.buf[i:r.start])
	return r.indent[:n], true
}

// recover moves past an event with malformed JSON that starts at r.start.
// If its brackets balance, it ends where they do, unless another event
// visibly starts inside it (the first lost its closing brace); otherwise
// the stream resumes where the next event visibly starts.
func (r *Reader) recover(indent []byte, lineStart bool) {
	for {
		end, broken, _, err := jsonscan.Balance(r.buf[r.start:r.end], 0)
		if errors.Is(err, errShort) && r.err == nil && r.end-r.start < r.maxEvent {
			r.fill(true)
			continue
		}
		if err == nil && !broken {
			if p, top := r.candidate(r.buf[r.start+1:r.start+end], indent, lineStart); p >= 0 {
				r.land(1+p, top)
				return
			}
			r.start += end
			return
		}
		break
	}
	r.resync(r.start+1, indent, lineStart)
}

// resync moves the stream to where the next event visibly starts, at or
// after buf[from], reading on as far as it takes.
func (r *Reader) resync(from int, indent []byte, lineStart bool) {
	var saved [len(r.indent)]byte
	indent = saved[:copy(saved[:], indent)]
	r.start = from
	for {
		b := r.buf[r.start:r.end]
		if p, top := r.candidate(b, indent, lineStart); p >= 0 {
			r.land(p, top)
			return
		}
		if r.err != nil {
			r.start = r.end
			return
		}
		// Keep a tail that may hold the beginning of a match.
		keep := min(len(b), 64+len(indent))
		r.start = r.end - keep
		r.fill(false)
		if r.end-r.start == keep && r.err == nil && r.end == len(r.buf) {
			r.start = r.end // cannot happen with the buffer sizes used; never loop
		}
	}
}

// land moves the stream to an element start p bytes on, at the top level
// or in the current array.
func (r *Reader) land(p int, top bool) {
	r.start += p
	if top {
		r.depth = 0
	}
	if r.depth > 0 {
		r.frames[r.depth-1].sep = false
	}
}

var (
	newline         = []byte{'\n'}
	keyEventVersion = []byte(`"eventVersion"`)
	lineObject      = []byte("\n{")
	lineArray       = []byte("\n[")
)

// candidate returns the index in b of the first place where an event
// visibly starts, and whether it is at the top level of the input (a line
// that starts with '{' or '['): a line indented like the failed element
// that starts with '{' (when that element started a line), or an object
// whose first key is eventVersion, as every event CloudTrail writes is. It
// returns -1 when there is none.
func (r *Reader) candidate(b, indent []byte, lineStart bool) (int, bool) {
	best, top := -1, false
	try := func(p int, isTop bool) {
		if p >= 0 && (best < 0 || p < best) {
			best, top = p, isTop
		}
	}
	// A line that starts with '{' or '[' is a new top-level value, unless
	// the failed element itself started a line at column 0: then it is
	// the failed element's sibling.
	sibling := lineStart && len(indent) == 0
	if i := bytes.Index(b, lineObject); i >= 0 {
		try(i+1, !sibling)
	}
	if i := bytes.Index(b, lineArray); i >= 0 {
		try(i+1, true)
	}
	if lineStart && len(indent) > 0 {
		for off := 0; ; {
			i := bytes.IndexByte(b[off:], '\n')
			if i < 0 {
				break
			}
			j := off + i + 1
			if bytes.HasPrefix(b[j:], indent) && j+len(indent) < len(b) && b[j+len(indent)] == '{' {
				try(j+len(indent), false)
				break
			}
			off = j
			if best >= 0 && off > best {
				break
			}
		}
	}
	for off := 0; ; {
		i := bytes.Index(b[off:], keyEventVersion)
		if i < 0 {
			break
		}
		k := off + i
		j := k - 1
		for j >= 0 && jsonscan.IsSpace(b[j]) {
			j--
		}
		if j >= 0 && b[j] == '{' {
			try(j, false)
			break
		}
		off = k + 1
	}
	return best, top
}

// tooLarge skips an element larger than the bound without buffering it,
// and reports it.
func (r *Reader) tooLarge(line int64, indent []byte, lineStart bool) error {
	head := r.buf[r.start:min(r.end, r.start+maxValueInError)]
	pe := &ParseError{File: r.dec.name, Line: line, Record: r.record, Value: string(head), Err: ErrTooLarge}
	size, clean := r.skipLarge()
	if clean {
		pe.Msg = strconv.FormatInt(size, 10) + " bytes, over the limit of " + strconv.Itoa(r.maxEvent)
	} else {
		pe.Msg = "over the limit of " + strconv.Itoa(r.maxEvent) + " bytes, and its JSON is broken"
		if r.err != nil && r.start >= r.end {
			pe.Err = ErrTruncated
			r.depth = 0
		} else {
			r.resync(r.start, indent, lineStart)
		}
	}
	if cap(r.buf) > 4*bufSize {
		nb := make([]byte, max(bufSize, r.end-r.start))
		r.lineAt(r.start)
		r.dropped += int64(r.start)
		r.end = copy(nb, r.buf[r.start:r.end])
		r.start, r.mark = 0, 0
		r.buf = nb
	}
	return pe
}

// skipLarge passes over the value at r.start by bracket depth, reading as
// it goes, and returns its size. clean is false when the value is broken
// (a string with a raw newline: r.start is then at the newline) or the
// input ends first.
func (r *Reader) skipLarge() (size int64, clean bool) {
	depth, inStr, esc := 0, false, false
	for {
		b := r.buf[r.start:r.end]
		for j, c := range b {
			switch {
			case esc:
				esc = false
			case inStr:
				switch c {
				case '\\':
					esc = true
				case '"':
					inStr = false
					if depth == 0 {
						r.start += j + 1
						return size + int64(j+1), true
					}
				case '\n':
					r.start += j
					return size + int64(j), false
				}
			case c == '"':
				inStr = true
			case c == '{' || c == '[':
				depth++
			case c == '}' || c == ']':
				depth--
				if depth <= 0 {
					r.start += j + 1
					return size + int64(j+1), true
				}
			}
		}
		size += int64(len(b))
		r.start = r.end
		if r.err != nil {
			return size, false
		}
		r.fill(false)
	}
}

// timestampPrefix recognizes the "2024-01-02T03:04:05.000Z " that
// CloudWatch Logs exports put before each event, and skips it.
func (r *Reader) timestampPrefix() bool {
	for r.end-r.start < 64 && r.err == nil {
		r.fill(false)
	}
	b := r.buf[r.start:min(r.end, r.start+64)]
	sp := bytes.IndexByte(b, ' ')
	if sp < 0 || sp+1 >= len(b) || b[sp+1] != '{' {
		// "2024-01-02 03:04:05" has a space inside: try the next one.
		if sp >= 0 {
			if sp2 := bytes.IndexByte(b[sp+1:], ' '); sp2 >= 0 {
				sp += 1 + sp2
				if sp+1 < len(b) && b[sp+1] == '{' {
					if _, ok := parseTime(b[:sp]); ok {
						r.start += sp + 1
						return true
					}
				}
			}
		}
		return false
	}
	if _, ok := parseTime(b[:sp]); !ok {
		return false
	}
	r.start += sp + 1
	return true
}
