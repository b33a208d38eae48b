package resolver

import (
	"bytes"
	"errors"
	"io"

	"picket/internal/event"
	"picket/internal/jsonscan"
)

// MaxLine is the longest line a Reader buffers. A query log line is
// under a kilobyte even with many answers; a longer one is skipped, not
// buffered, and reported with ErrTooLarge.
const MaxLine = 1 << 20

// bufSize is the initial buffer: hundreds of lines, and one read of a
// gzip stream.
const bufSize = 64 << 10

// Reader decodes the queries of one input stream of lines, holding one
// buffer. It is reusable across inputs with Reset, and not safe for
// concurrent use.
type Reader struct {
	r       io.Reader
	dec     *Decoder
	buf     []byte
	start   int   // first unread byte in buf
	scan    int   // where to look for the next newline
	end     int   // end of valid data in buf
	dropped int64 // bytes of the input before buf[0]
	line    int64 // lines consumed
	err     error // sticky read error (io.EOF at the end)
	partial bool

	// A line longer than MaxLine, passed over to its newline.
	long     bool
	longAt   int64  // its offset
	longHead []byte // its first bytes, for the error
}

// NewReader returns a reader for the input called name.
func NewReader(r io.Reader, name string) *Reader {
	rd := &Reader{dec: NewDecoder(name), buf: make([]byte, bufSize)}
	rd.Reset(r, name)
	return rd
}

// Reset reuses the reader, its buffer and intern cache for a new input,
// read from its start.
func (r *Reader) Reset(rd io.Reader, name string) {
	r.r = rd
	r.dec.Reset(name)
	r.start, r.scan, r.end, r.dropped, r.line = 0, 0, 0, 0, 0
	r.err = nil
	r.partial = false
	r.long, r.longHead = false, r.longHead[:0]
	if len(r.buf) > 4*bufSize {
		r.buf = make([]byte, bufSize) // let a buffer grown for a long line go
	}
}

// Resume says the input given to Reset starts offset bytes and line lines
// into the log: what Offset and Line said after the last record an
// earlier reader returned.
func (r *Reader) Resume(offset, line int64) { r.dropped, r.line = offset, line }

// SetPartial says whether the input may still grow: a last line without
// its newline is then left unread, for a later reader to resume at.
func (r *Reader) SetPartial(partial bool) { r.partial = partial }

// Offset returns the bytes of the input consumed: those of the lines
// read so far, and of the one that the last error was about.
func (r *Reader) Offset() int64 {
	if r.long {
		return r.longAt // not through the line until its end is met
	}
	return r.dropped + int64(r.start)
}

// Line returns the number of lines consumed.
func (r *Reader) Line() int64 { return r.line }

// Stats returns what the reader counted apart from records.
func (r *Reader) Stats() Stats { return r.dec.Stats() }

// Next decodes the next query into q. It returns nil for a query, a
// *ParseError for a bad line, after which Next may be called again,
// io.EOF at the end of the input, or another error when the input cannot
// be read further (queries before it were delivered). Blank lines are
// passed over.
//
// q is reset and filled in place. Its Name and the Data of its answers
// point into the reader's buffer and are valid until the next call to
// Next or Reset.
func (r *Reader) Next(q *event.DNSQuery) error {
	for {
		b, err := r.readLine()
		if err != nil {
			return err
		}
		if r.line == 1 && r.dropped == 0 {
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
		}
		if jsonscan.SkipSpace(b, 0) == len(b) {
			continue
		}
		return r.dec.Decode(b, r.line, q)
	}
}

// readLine returns the next line without its newline, or the error of a
// line too long to hold, or the end of the input.
func (r *Reader) readLine() ([]byte, error) {
	for {
		if i := bytes.IndexByte(r.buf[r.scan:r.end], '\n'); i >= 0 {
			nl := r.scan + i
			b := r.buf[r.start:nl]
			r.start, r.scan = nl+1, nl+1
			if r.long {
				return nil, r.tooLong()
			}
			r.line++
			return b, nil
		}
		r.scan = r.end
		if r.err != nil {
			switch {
			case r.start == r.end, r.partial:
				// Left for later when partial: the line may go on.
				if r.long && !r.partial {
					return nil, r.tooLong()
				}
				return nil, r.err
			case r.long:
				r.start = r.end
				return nil, r.tooLong()
			}
			b := r.buf[r.start:r.end]
			r.start = r.end
			r.line++
			return b, nil
		}
		if r.start == 0 && r.end == len(r.buf) {
			if len(r.buf) < MaxLine {
				nb := make([]byte, min(2*len(r.buf), MaxLine))
				copy(nb, r.buf[:r.end])
				r.buf = nb
			} else if !r.long {
				// Too long: keep its head for the error and drop the
				// rest as it comes.
				r.long, r.longAt = true, r.dropped
				r.longHead = append(r.longHead[:0], r.buf[:maxValueInError]...)
				r.dropped += int64(r.end)
				r.start, r.scan, r.end = 0, 0, 0
			} else {
				r.dropped += int64(r.end)
				r.start, r.scan, r.end = 0, 0, 0
			}
		}
		r.fill()
	}
}

// tooLong reports the line passed over and counts it.
func (r *Reader) tooLong() error {
	r.long = false
	r.line++
	return r.dec.fail(r.line, "", r.longHead, ErrTooLarge)
}

// fill moves the unread bytes to the front of the buffer and reads more.
func (r *Reader) fill() {
	if r.start > 0 {
		n := copy(r.buf, r.buf[r.start:r.end])
		r.dropped += int64(r.start)
		r.scan -= r.start
		r.start, r.end = 0, n
	}
	for range 100 {
		n, err := r.r.Read(r.buf[r.end:])
		r.end += n
		if err != nil {
			if !errors.Is(err, io.EOF) || r.err == nil {
				r.err = err
			}
			return
		}
		if n > 0 {
			return
		}
	}
	r.err = io.ErrNoProgress
}
