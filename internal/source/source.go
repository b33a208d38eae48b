// Package source owns where bytes come from: files, directories walked in
// a stable order, the S3 delivery layout (AWSLogs/<account>/<service>/
// <region>/YYYY/MM/DD/...) whose path names the account, region and time
// of each object, standard input, and transparent gzip decompression; and
// for picket serve, the sources that hand inputs to its ingest loop as
// Tasks, each with a checkpoint to resume exactly where it stopped:
// watched directories (Watcher), S3 prefixes (S3Poller) and the Amazon
// Data Firehose HTTP endpoint (Firehose).
//
// A source knows nothing of record formats beyond sniffing compression; it
// hands streams to the decoders.
package source

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/klauspost/compress/gzip"
)

// Stdin is the name of the standard-input stream.
const Stdin = "-"

// Input is one stream to decode: a file, or standard input.
type Input struct {
	Name   string // as shown in messages: the path, or "stdin"
	Path   string // the file path; "" for standard input
	Size   int64  // bytes on disk, or -1 when unknown
	Layout Layout // what the path says, if it follows the S3 layout
	// Ahead decompresses a gzip file on a goroutine of its own, ahead
	// of its reader (see ahead). Only worth it for a few files at once:
	// each holds 1 MiB of chunks.
	Ahead bool
}

// Expand turns command-line paths into inputs: a file is itself, a
// directory is every regular file below it in lexical order (which, in
// the S3 layout, is time order), "-" is standard input. Symbolic links
// to files and directories are followed, inside directories too; a
// directory reached a second time through a link is reported
// (ErrLinkLoop) and read once. Hidden files and directories, CloudTrail
// digest files and S3 layout marker objects are skipped. Named pipes,
// sockets and devices are refused (ErrNotRegular): reading one may block
// for ever. A path that cannot be read yields an error and the others
// are still expanded.
func Expand(paths []string) ([]Input, []error) {
	var out []Input
	var errs []error
	for _, p := range paths {
		if p == Stdin {
			out = append(out, Input{Name: "stdin", Size: -1})
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("reading input %q: %w", p, err))
			continue
		}
		switch {
		case st.Mode().IsRegular():
			out = append(out, Input{Name: p, Path: p, Size: st.Size(), Layout: ParseLayout(p)})
			continue
		case !st.IsDir():
			errs = append(errs, fmt.Errorf("reading input %q: %w (use - to read standard input)", p, notRegular(st.Mode())))
			continue
		}
		var files []Input
		w := walker{
			file: func(path string, info fs.FileInfo) {
				files = append(files, Input{Name: path, Path: path, Size: info.Size(), Layout: ParseLayout(path)})
			},
			problem: func(path string, err error) {
				errs = append(errs, fmt.Errorf("reading input %q: %w", path, err))
			},
		}
		w.walk(p, st)
		slices.SortFunc(files, func(a, b Input) int { return strings.Compare(a.Path, b.Path) })
		out = append(out, files...)
	}
	return out, errs
}

// Stream is an opened input: its bytes, decompressed, with the first of
// them available for format detection.
type Stream struct {
	r      *bufio.Reader
	raw    *counter
	file   *os.File
	closer []io.Closer
	ahead  *ahead // decompressing ahead of r, or nil
	// Compressed reports whether the input was gzip.
	Compressed bool
}

// headSize is how much of a stream Head can show.
const headSize = 64 << 10

// Open opens the input for reading, decompressing gzip transparently
// (detected by its magic number, not the file name). stdin is read from
// in, so that tests can supply it.
func (in Input) Open(stdin io.Reader) (*Stream, error) {
	if in.Path == "" {
		return newStream(in.Name, stdin, nil, nil, false)
	}
	f, err := os.Open(in.Path)
	if err != nil {
		return nil, fmt.Errorf("opening %q: %w", in.Name, err)
	}
	return newStream(in.Name, f, f, f, in.Ahead)
}

// NewStream wraps r (an S3 object body, an HTTP payload) as a Stream,
// decompressing gzip transparently; closing the stream closes r.
func NewStream(name string, r io.ReadCloser) (*Stream, error) {
	return newStream(name, r, nil, r, false)
}

func newStream(name string, raw io.Reader, file *os.File, closer io.Closer, ahead bool) (*Stream, error) {
	s := &Stream{file: file}
	if closer != nil {
		s.closer = append(s.closer, closer)
	}
	s.raw = &counter{r: raw}
	br := bufio.NewReaderSize(s.raw, headSize)
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("opening %q: gzip: %w", name, err)
		}
		s.Compressed = true
		s.closer = append(s.closer, zr)
		var dec io.Reader = zr
		if file != nil && ahead {
			// A file's reads never block for long: decompress it on a
			// goroutine of its own, ahead of whoever parses it.
			a := newAhead(zr, func() int64 { return s.raw.n })
			s.closer = append(s.closer, a)
			s.ahead = a
			dec = a
		}
		br = bufio.NewReaderSize(dec, headSize)
	}
	s.r = br
	return s, nil
}

// Skip moves the stream n decompressed bytes past its start, to resume
// reading where an earlier reader stopped: an uncompressed file seeks,
// anything else is read and discarded. Head is undefined afterwards. It
// returns io.ErrUnexpectedEOF if the stream is shorter than n.
func (s *Stream) Skip(n int64) error {
	if n <= 0 {
		return nil
	}
	if s.file != nil && !s.Compressed {
		st, err := s.file.Stat()
		if err != nil {
			return err
		}
		if st.Size() < n {
			return io.ErrUnexpectedEOF
		}
		if _, err := s.file.Seek(n, io.SeekStart); err != nil {
			return err
		}
		s.raw.n = n
		s.r.Reset(s.raw)
		return nil
	}
	m, err := io.CopyN(io.Discard, s.r, n)
	if m < n && (err == nil || errors.Is(err, io.EOF)) {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// Head returns up to n of the stream's first bytes without consuming them
// (n is at most 64 KiB). A short or failing read returns what there is.
func (s *Stream) Head(n int) []byte {
	b, _ := s.r.Peek(min(n, headSize))
	return b
}

// Read reads decompressed bytes.
func (s *Stream) Read(p []byte) (int, error) { return s.r.Read(p) }

// ReaderAt returns random access to the stream's bytes and their size, as
// columnar formats need: the file itself when it is an uncompressed file,
// otherwise the whole stream read into memory (at most max bytes).
func (s *Stream) ReaderAt(max int64) (io.ReaderAt, int64, error) {
	if s.file != nil && !s.Compressed {
		st, err := s.file.Stat()
		if err != nil {
			return nil, 0, err
		}
		return s.file, st.Size(), nil
	}
	b, err := io.ReadAll(io.LimitReader(s.r, max+1))
	if err != nil {
		return nil, 0, err
	}
	if int64(len(b)) > max {
		return nil, 0, fmt.Errorf("stream is larger than %d bytes, too large to hold in memory", max)
	}
	return bytes.NewReader(b), int64(len(b)), nil
}

// Consumed returns how many bytes of the input (compressed, for gzip)
// were read so far. For a file decompressed ahead of its reader, it is
// the input behind the decompressed bytes handed to the reader, counted
// a chunk at a time: what decompression read beyond is not counted.
func (s *Stream) Consumed() int64 {
	if s.ahead != nil {
		return s.ahead.consumed
	}
	return s.raw.n
}

type counter struct {
	r io.Reader
	n int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Close releases the stream.
func (s *Stream) Close() error {
	var errs []error
	for i := len(s.closer) - 1; i >= 0; i-- {
		errs = append(errs, s.closer[i].Close())
	}
	s.closer = nil
	return errors.Join(errs...)
}
