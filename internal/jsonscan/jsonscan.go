// Package jsonscan owns picket's reading of JSON syntax: it scans JSON
// values held in a []byte, in place, without decoding them into Go values
// and without allocating. It finds where a value ends and checks its
// syntax on the way (Value), where a malformed value whose brackets still
// balance ends (Balance), the raw value of one member of an object
// (Member), and the unescaped content of a string (String,
// AppendUnescaped).
//
// The scanners are written for streams read in pieces: when the bytes run
// out before a value does, they return ErrShort, so that the caller can
// read more and scan again from the value's start. A number that runs to
// the end of the bytes is ErrShort too, since more digits may follow.
//
// Positions are indexes into the slice given; errors are sentinel values,
// built once, with the position of the problem returned beside them.
//
// decode/cloudtrail (the CloudTrail decoder) and event (lazy reads of a
// record's raw JSON) import it; it imports nothing of picket's.
package jsonscan

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// The errors of the scanners.
var (
	// ErrShort means the bytes end before the value does.
	ErrShort = errors.New("JSON value cut off")
	// ErrSyntax means the value is malformed.
	ErrSyntax = errors.New("malformed JSON")
	// ErrTooDeep means arrays and objects nest more than MaxDepth levels.
	ErrTooDeep = errors.New("JSON nested too deeply")
)

// MaxDepth bounds the nesting of arrays and objects that Value accepts:
// their kinds are kept in a fixed bit stack of this many bits.
const MaxDepth = 512

// IsSpace reports whether c is JSON whitespace.
func IsSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

// SkipSpace returns the index of the first non-whitespace byte of b at or
// after i, or len(b).
func SkipSpace(b []byte, i int) int {
	for i < len(b) && IsSpace(b[i]) {
		i++
	}
	return i
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// special reports, in the high bit of each byte, the bytes of x that end
// a run of plain string content: a quote, a backslash or a control
// character. Only the lowest flagged byte is exact (borrows may flag bytes
// above it), which is all String uses.
func special(x uint64) uint64 {
	q := x ^ (lsb * '"')
	s := x ^ (lsb * '\\')
	return ((x - lsb*0x20) | (q - lsb) | (s - lsb)) & ^x & msb
}

// String scans the string whose opening quote is b[i]. It returns the
// index after the closing quote and whether the string holds escapes (its
// content b[i+1:end-1] is then to be read with AppendUnescaped). It
// rejects raw control characters and invalid escapes with ErrSyntax, and
// pos is then the index of the offending byte (the backslash of a bad
// escape); with ErrShort, pos is where the bytes ran out. Plain content is
// skipped eight bytes at a time. Bytes that are not valid UTF-8 pass, as
// encoding/json lets them.
func String(b []byte, i int) (end int, escaped bool, pos int, err error) {
	j := i + 1
	for {
		for j+8 <= len(b) {
			t := special(binary.LittleEndian.Uint64(b[j:]))
			if t != 0 {
				j += bits.TrailingZeros64(t) >> 3
				break
			}
			j += 8
		}
		for j < len(b) && b[j] >= 0x20 && b[j] != '"' && b[j] != '\\' {
			j++
		}
		if j >= len(b) {
			return 0, escaped, j, ErrShort
		}
		switch b[j] {
		case '"':
			return j + 1, escaped, 0, nil
		case '\\':
			escaped = true
			if j+1 >= len(b) {
				return 0, escaped, j, ErrShort
			}
			switch b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if j+6 > len(b) {
					return 0, escaped, j, ErrShort
				}
				if _, ok := hex4(b[j+2 : j+6]); !ok {
					return 0, escaped, j, ErrSyntax
				}
				j += 6
			default:
				return 0, escaped, j, ErrSyntax
			}
		default:
			if b[j] >= 0x20 {
				j++ // a byte the word scan flagged by mistake
				continue
			}
			return 0, escaped, j, ErrSyntax // a raw control character
		}
	}
}

func hex4(s []byte) (rune, bool) {
	var r rune
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// AppendUnescaped appends to dst the content of a string, given without
// its quotes, with its escapes resolved. The string must be one that
// String accepted. A surrogate pair becomes its character and a lone
// surrogate U+FFFD, as in encoding/json. The content never grows, so a
// dst with room for len(s) more bytes is not reallocated.
func AppendUnescaped(dst, s []byte) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		switch s[i] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, _ := hex4(s[i+1 : i+5])
			i += 4
			if utf16.IsSurrogate(r) {
				if i+6 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
					if r2, ok := hex4(s[i+3 : i+7]); ok {
						if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
							dst = utf8.AppendRune(dst, d)
							i += 6
							continue
						}
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
		default: // '"', '\\', '/'
			dst = append(dst, s[i])
		}
	}
	return dst
}

// Literal checks for true, false or null at b[i], which must be 't', 'f'
// or 'n', and returns the index after it. It does not look at the byte
// after the literal: the caller checks that a delimiter follows.
func Literal(b []byte, i int) (int, error) {
	var want string
	switch b[i] {
	case 't':
		want = "true"
	case 'f':
		want = "false"
	default:
		want = "null"
	}
	n := len(want)
	if len(b)-i < n {
		if string(b[i:]) == want[:len(b)-i] {
			return 0, ErrShort
		}
		return 0, ErrSyntax
	}
	if string(b[i:i+n]) != want {
		return 0, ErrSyntax
	}
	return i + n, nil
}

// Number checks the number at b[i], which must be '-' or a digit, and
// returns the index after it. A number that runs to the end of b may go
// on: ErrShort.
func Number(b []byte, i int) (int, error) {
	j := i
	if b[j] == '-' {
		j++
	}
	digits := func() int {
		k := j
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		return j - k
	}
	if j >= len(b) {
		return 0, ErrShort
	}
	switch {
	case b[j] == '0':
		j++
	case b[j] >= '1' && b[j] <= '9':
		digits()
	default:
		return 0, ErrSyntax
	}
	if j < len(b) && b[j] == '.' {
		j++
		if digits() == 0 {
			if j >= len(b) {
				return 0, ErrShort
			}
			return 0, ErrSyntax
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if digits() == 0 {
			if j >= len(b) {
				return 0, ErrShort
			}
			return 0, ErrSyntax
		}
	}
	if j >= len(b) {
		return 0, ErrShort
	}
	return j, nil
}
