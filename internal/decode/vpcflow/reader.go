package vpcflow

import (
	"bytes"
	"errors"
	"io"
	"strings"

	"picket/internal/event"
)

// MaxLine is the longest line a Reader accepts by default. Real records are
// under 1 KiB even with every field; a longer line is garbage, reported and
// skipped without buffering it whole.
const MaxLine = 64 << 10

// Reader decodes the text flow log records of one input stream. It keeps
// its position (the bytes and lines consumed, and the header line in
// effect) so that a caller can checkpoint after any record and resume
// there with Resume.
type Reader struct {
	r       io.Reader
	dec     *Decoder
	buf     []byte
	start   int // first unread byte in buf
	end     int // end of valid data in buf
	maxLine int
	err     error // sticky read error (io.EOF at the end)
	skipped int64 // bytes of an overlong line discarded so far
	partial bool  // the input may grow: leave a last line without newline
	offset  int64 // bytes consumed, through the last line returned
	header  string
	bad     []byte // the line of the last error Next returned
	badAt   int64  // the offset of its first byte
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
	r.skipped = 0
	r.partial = false
	r.offset = 0
	r.header = ""
	r.bad = nil
}

// SetPartial says whether the input may still grow (a file being
// appended to). If so, a last line without its newline is not read: it
// may be a record cut in two, and a later reader resumes before it.
func (r *Reader) SetPartial(partial bool) { r.partial = partial }

// Resume continues an input whose first offset bytes (line lines, the
// last header among them header, "" for none) an earlier reader
// consumed. The caller positions the stream past those bytes first.
func (r *Reader) Resume(offset, line int64, header string) error {
	if header != "" {
		f, err := ParseFormat(header)
		if err != nil {
			return err
		}
		r.dec.Reset(r.dec.name, &f)
		r.dec.seenHdr = true
	}
	r.offset, r.header = offset, header
	r.dec.SetLine(line)
	return nil
}

// Decoder returns the reader's decoder, to inspect the format and line.
func (r *Reader) Decoder() *Decoder { return r.dec }

// Offset returns the bytes consumed: through the last line Next passed
// over, record, header, blank or bad.
func (r *Reader) Offset() int64 { return r.offset }

// Header returns the last header line read, without its line ending, or
// the one Resume was given ("" if none).
func (r *Reader) Header() string { return r.header }

// Next decodes the next record into f. It returns nil for a record (which
// may be a NODATA or SKIPDATA record: see f.Status), a *ParseError for a
// bad record or a header line naming an unknown field (whose format is
// taken all the same), after which Next may be called again, io.EOF at the end of
// the input, or another error when the input cannot be read further (a
// truncated gzip stream, say); records before that error were delivered.
func (r *Reader) Next(f *event.Flow) error {
	for {
		at := r.offset
		line, err := r.line()
		if err != nil {
			r.bad = nil
			return err
		}
		kind, derr := r.dec.Decode(line, f)
		if kind == LineHeader {
			// Kept even when reported (an unknown field): the format
			// follows it, and a resumed reader must take it up.
			r.header = strings.TrimSuffix(string(line), "\r")
		}
		if derr != nil {
			r.bad, r.badAt = line, at
			return derr
		}
		if kind == LineRecord {
			return nil
		}
	}
}

// Bad returns the line that the last *ParseError of Next was about,
// without its newline, and the offset of its first byte: a caller may
// read it as another format. The line is nil when it was too long to
// hold or Next returned no *ParseError, and valid until the next call to
// Next or Reset.
func (r *Reader) Bad() (line []byte, offset int64) { return r.bad, r.badAt }

// line returns the next line without its newline. The slice is valid until
// the next call. An overlong line is reported, once its end is reached,
// as a *ParseError.
func (r *Reader) line() ([]byte, error) {
	for {
		if i := bytes.IndexByte(r.buf[r.start:r.end], '\n'); i >= 0 {
			line := r.buf[r.start : r.start+i]
			r.start += i + 1
			r.offset += int64(i) + 1
			if r.skipped > 0 {
				r.offset += r.skipped
				r.skipped = 0
				return nil, r.tooLong()
			}
			return line, nil
		}
		if r.err != nil {
			if !errors.Is(r.err, io.EOF) {
				// After a read error a partial line is a cut record and
				// is dropped.
				return nil, r.err
			}
			if r.start == r.end && r.skipped == 0 {
				return nil, io.EOF
			}
			if r.partial {
				// Leave the unfinished last line (and any overlong line
				// it ends) for a later reader.
				return nil, io.EOF
			}
			line := r.buf[r.start:r.end]
			r.offset += int64(r.end - r.start)
			r.start = r.end
			if r.skipped > 0 {
				r.offset += r.skipped
				r.skipped = 0
				return nil, r.tooLong()
			}
			return line, nil
		}
		// No full line buffered: make room and read more.
		if r.end-r.start >= r.maxLine {
			// An overlong line: drop its bytes until its newline.
			r.skipped += int64(r.end - r.start)
			r.start = r.end
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

func (r *Reader) tooLong() error {
	r.dec.SetLine(r.dec.Line() + 1)
	return r.dec.fail("", "", ErrLineTooLong)
}
