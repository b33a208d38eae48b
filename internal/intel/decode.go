package intel

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
)

// Options says how to decode a list.
type Options struct {
	// Name is the list's name, which findings report as threatListName.
	Name string
	// Location names the list in errors: its path or URL.
	Location string
	// Kind is what the list is for. Threat lists in the Tor Project's
	// formats are Tor lists.
	Kind Kind
	// Format is the list's format; FormatUnknown detects it from the
	// content.
	Format Format
	// MaxSamples bounds the bad entries a report keeps (0: 20).
	MaxSamples int
	// AllowPrivate keeps the entries of a threat or Tor list that fall in
	// private, loopback, link-local, multicast or reserved networks; by
	// default they are refused and counted in Report.Refused.
	AllowPrivate bool
	// Tor says which Tor nodes a Tor list names when its format does not
	// tell (TXT); given, it overrides the format's.
	Tor TorNodes
	// Category is what the threat list says every domain on it is
	// (ParseCategory); "" for none.
	Category string
}

// maxLine is the longest line read; longer lines are bad entries.
const maxLine = 256 << 10

// maxDocument bounds XML and JSON documents, which are read whole.
const maxDocument = 2 << 30

// Decode reads a list. The content may be gzip-compressed. It returns the
// decoded list, whose Report counts the entries and bad entries with their
// lines, and a *ListError when nothing in the content is an entry (or the
// content could not be read at all); the list is returned with it for its
// report. A list that was cut short (Report.Incomplete) is returned with
// the entries read before the cut and no error.
func Decode(r io.Reader, opt Options) (*List, error) {
	if opt.Location == "" {
		opt.Location = opt.Name
	}
	l := newList(opt)
	hr := &hashReader{r: r, h: sha256.New()}
	br := bufio.NewReaderSize(hr, 64<<10)
	var in io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return l, l.unusable("gzip header unreadable", err)
		}
		defer zr.Close()
		in = zr
	}
	lr := bufio.NewReaderSize(in, maxLine)
	head, peekErr := lr.Peek(64 << 10)
	if errors.Is(peekErr, io.EOF) || errors.Is(peekErr, bufio.ErrBufferFull) {
		peekErr = nil
	}
	if peekErr != nil && len(head) == 0 {
		return l, l.unusable("unreadable", peekErr)
	}
	l.Format = opt.Format
	if l.Format == FormatUnknown {
		f, why := DetectFormat(head)
		if f == FormatUnknown {
			l.finish(hr)
			if len(bytes.TrimSpace(head)) == 0 {
				return l, l.unusable("the list is empty", nil)
			}
			return l, l.unusable("not a list in any known format: "+why+" (give the format if it is one)", nil)
		}
		l.Format, l.Detected = f, true
	}
	if l.Format == FormatSTIX && firstByte(head) == '{' {
		l.Format = FormatSTIX2
	}
	if (l.Format == FormatTorExit || l.Format == FormatTorRelay) && l.Kind == KindThreat {
		l.Kind = KindTor // a Tor list given as a threat list; as a trusted list it stays trusted
	}
	l.Tor = torNodes(l.Format, opt.Tor)

	ls := &lines{br: lr, err: peekErr}
	switch l.Format {
	case FormatTXT, FormatFireHOL:
		decodeTXT(ls, l)
	case FormatIPSum:
		decodeIPSum(ls, l)
	case FormatAlienVault:
		decodeAlienVault(ls, l)
	case FormatTorExit:
		decodeTorExit(ls, l)
	case FormatOTXCSV, FormatProofPoint, FormatFireEye, FormatTorRelay, FormatCSV:
		decodeCSV(ls, l)
	case FormatSTIX, FormatSTIX2:
		data, err := io.ReadAll(io.LimitReader(lr, maxDocument))
		if err != nil {
			ls.err = err
		}
		if l.Format == FormatSTIX {
			decodeSTIX1(data, l)
		} else {
			decodeSTIX2(data, l)
		}
	default:
		return l, l.unusable("unsupported format "+l.Format.String(), nil)
	}
	if ls.n > l.Lines {
		l.Lines = ls.n
	}
	if ls.err != nil && l.Incomplete == "" {
		l.Incomplete = fmt.Sprintf("reading stopped after line %d: %v", l.Lines, ls.err)
	}
	// Read what is left so that the hash covers the whole content.
	io.Copy(io.Discard, lr)
	l.finish(hr)
	if l.Entries == 0 {
		reason := fmt.Sprintf("no usable entries in %d line(s) read as %s", l.Lines, l.Format)
		if l.Detected {
			reason += " (detected)"
		}
		if l.Refused > 0 {
			reason += fmt.Sprintf("; %d entries refused, the first: %v (allow_private keeps them)", l.Refused, l.RefusedSample)
		}
		if l.Errors > 0 {
			reason += fmt.Sprintf("; %d bad entries, the first: %v", l.Errors, l.Samples[0])
		} else if l.Skipped > 0 {
			reason += fmt.Sprintf("; %d entries of kinds that lists do not match on (URL paths, file hashes, e-mail addresses)", l.Skipped)
		}
		if l.Incomplete != "" {
			reason += "; " + l.Incomplete
		}
		return l, l.unusable(reason, nil)
	}
	if l.Errors >= minGarbage && l.Errors > 9*l.Entries {
		return l, l.unusable(fmt.Sprintf("%d of %d entries read as %s are bad: this is not a %s list (the first bad one: %v)",
			l.Errors, l.Errors+l.Entries, l.Format, l.Format, l.Samples[0]), nil)
	}
	return l, nil
}

// torNodes says which Tor nodes a list names: as given, else as its
// format says (the exit list names exits, a relay CSV every relay).
func torNodes(f Format, given TorNodes) TorNodes {
	switch {
	case given != TorUnknown:
		return given
	case f == FormatTorExit:
		return TorExits
	case f == FormatTorRelay:
		return TorRelays
	}
	return TorUnknown
}

// minGarbage is the number of bad entries from which a list where more
// than nine in ten entries are bad is rejected as a whole: random bytes
// contain the odd string that reads as an address or a domain.
const minGarbage = 100

func (l *List) finish(hr *hashReader) {
	l.SHA256 = hex.EncodeToString(hr.h.Sum(nil))
	l.Bytes = hr.n
}

func (l *List) unusable(reason string, err error) *ListError {
	return &ListError{Report: &l.Report, Name: l.Name, Where: l.Location, Kind: l.Kind, Reason: reason, Err: err}
}

func firstByte(b []byte) byte {
	b = bytes.TrimLeft(bytes.TrimPrefix(b, bom), " \t\r\n")
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

var bom = []byte("\xef\xbb\xbf")

type hashReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func (h *hashReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	return n, err
}

// lines reads a list line by line, numbering them.
type lines struct {
	br  *bufio.Reader
	n   int   // number of the last line returned
	err error // the read error that ended the input early
	cut []byte
}

// next returns the next line without its line ending, whether it was
// longer than maxLine (then only its start is returned), and false at the
// end of the input. A last line that a read error cut short is dropped.
func (ls *lines) next() (line []byte, long, ok bool) {
	b, err := ls.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		ls.cut = append(ls.cut[:0], b[:min(len(b), 80)]...)
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = ls.br.ReadSlice('\n')
		}
		if err != nil && !errors.Is(err, io.EOF) {
			ls.err = err
		}
		ls.n++
		return ls.cut, true, true
	}
	if err != nil && !errors.Is(err, io.EOF) {
		ls.err = err
		return nil, false, false
	}
	if len(b) == 0 {
		return nil, false, false
	}
	ls.n++
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if ls.n == 1 {
		b = bytes.TrimPrefix(b, bom)
	}
	return b, false, true
}

// isComment reports whether a trimmed line is a comment.
func isComment(s []byte) bool {
	return len(s) > 0 && (s[0] == '#' || s[0] == ';' || s[0] == '!' || bytes.HasPrefix(s, []byte("//")))
}

// cutComment removes a comment that follows an entry after white space.
func cutComment(s []byte) []byte {
	for i := 1; i < len(s); i++ {
		if (s[i] == '#' || s[i] == ';') && (s[i-1] == ' ' || s[i-1] == '\t') {
			return bytes.TrimSpace(s[:i])
		}
	}
	return s
}

// firstField returns s up to the first white space.
func firstField(s []byte) []byte {
	if i := bytes.IndexAny(s, " \t"); i >= 0 {
		return s[:i]
	}
	return s
}
