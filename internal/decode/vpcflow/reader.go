package vpcflow

import (
	"bytes"
	"errors"
	"io"

	"picket/internal/event"
)

// MaxLine is the longest line a Reader accepts by default. Real records are
// under 1 KiB even with every field; a longer line is garbage, reported and
// skipped without buffering it whole.
const MaxLine = 64 << 10

// Reader decodes the text flow log records of one input stream.
type Reader struct {
	r        io.Reader
	dec      *Decoder
	buf      []byte
	start    int // first unread byte in buf
	end      int // end of valid data in buf
	maxLine  int
	err      error // sticky read error (io.EOF at the end)
	skipping bool  // discarding the rest of an overlong line
}

// NewReader returns a reader for the input called name. format is as for
// NewDecoder.
func NewReader(r io.Reader, name string, format *Format) *Reader {
	return &Reader{
		r:       r,
		dec:     NewDecoder(name, format),
		buf:     make([]byte, 256<<10),
		maxLine: MaxLine,
	}
}

// Reset reuses the reader, its buffer and intern cache for a new input.
func (r *Reader) Reset(rd io.Reader, name string, format *Format) {
	r.r = rd
	r.dec.Reset(name, format)
	r.start, r.end = 0, 0
	r.err = nil
	r.skipping = false
}

// Decoder returns the reader's decoder, to inspect the format and line.
func (r *Reader) Decoder() *Decoder { return r.dec }

// Next decodes the next record into f. It returns nil for a record (which
// may be a NODATA or SKIPDATA record: see f.Status), a *ParseError for a
// bad record, after which Next may be called again, io.EOF at the end of
// the input, or another error when the input cannot be read further (a
// truncated gzip stream, say); records before that error were delivered.
func (r *Reader) Next(f *event.Flow) error {
	for {
		line, err := r.line()
		if err != nil {
			return err
		}
		kind, derr := r.dec.Decode(line, f)
		if derr != nil {
			return derr
		}
		if kind == LineRecord {
			return nil
		}
	}
}

// line returns the next line without its newline. The slice is valid until
// the next call.
func (r *Reader) line() ([]byte, error) {
	for {
		if i := bytes.IndexByte(r.buf[r.start:r.end], '\n'); i >= 0 {
			line := r.buf[r.start : r.start+i]
			r.start += i + 1
			if r.skipping {
				r.skipping = false
				continue
			}
			return line, nil
		}
		if r.err != nil {
			if r.start < r.end && !r.skipping && errors.Is(r.err, io.EOF) {
				// The last line has no newline. (After a read error the
				// partial line is a cut record and is dropped.)
				line := r.buf[r.start:r.end]
				r.start = r.end
				return line, nil
			}
			return nil, r.err
		}
		// No full line buffered: make room and read more.
		if r.end-r.start >= r.maxLine {
			// An overlong line: report it once, then drop its bytes
			// until its newline.
			r.start = r.end
			if !r.skipping {
				r.skipping = true
				r.dec.SetLine(r.dec.Line() + 1)
				return nil, r.dec.fail("", "", ErrLineTooLong)
			}
		}
		if r.start > 0 {
			n := copy(r.buf, r.buf[r.start:r.end])
			r.start, r.end = 0, n
		}
		n, err := r.r.Read(r.buf[r.end:])
		r.end += n
		if err != nil {
			if errors.Is(err, io.EOF) {
				r.err = io.EOF
			} else {
				r.err = err
			}
		}
	}
}
