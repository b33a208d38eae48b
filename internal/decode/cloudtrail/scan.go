package cloudtrail

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"

	"picket/internal/event"
)

// Internal control flow. errShort means the bytes ran out before the value
// did: the Reader reads more and tries again. errBad means the value is
// malformed; the details are in the Decoder's failure. errWrapper means
// the object is a container of events ({"Records":[...]}), to be streamed.
// errDigest means the object is a CloudTrail digest file's, to be skipped.
var (
	errShort   = errors.New("short input")
	errBad     = errors.New("bad event")
	errWrapper = errors.New("wrapper object")
	errDigest  = errors.New("digest file")
)

// maxDepth bounds the nesting of the JSON that skip validates: the
// bracket kinds are kept in a bit stack of this many bits.
const maxDepth = 512

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

// ws returns the index of the first non-whitespace byte at or after i.
func ws(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
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
// above it), which is all the scanner uses.
func special(x uint64) uint64 {
	q := x ^ (lsb * '"')
	s := x ^ (lsb * '\\')
	return ((x - lsb*0x20) | (q - lsb) | (s - lsb)) & ^x & msb
}

// scanString scans the string whose opening quote is b[i] and returns the
// index after its closing quote and whether it holds escapes. It rejects
// raw control characters and invalid escapes (pos is then the offending
// byte's index). Plain content is skipped eight bytes at a time.
func scanString(b []byte, i int) (end int, esc bool, pos int, err error) {
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
			return 0, esc, j, errShort
		}
		switch b[j] {
		case '"':
			return j + 1, esc, 0, nil
		case '\\':
			esc = true
			if j+1 >= len(b) {
				return 0, esc, j, errShort
			}
			switch b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if j+6 > len(b) {
					return 0, esc, j, errShort
				}
				if _, ok := hex4(b[j+2 : j+6]); !ok {
					return 0, esc, j, errBad
				}
				j += 6
			default:
				return 0, esc, j, errBad
			}
		default:
			if b[j] >= 0x20 {
				j++ // a byte the word scan flagged by mistake
				continue
			}
			return 0, esc, j, errBad // a raw control character
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

// unescape appends the unescaped body of a string that scanString
// accepted. Lone surrogates become U+FFFD, as in encoding/json.
func unescape(dst, s []byte) []byte {
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

// literal checks for true, false or null at b[i].
func literal(b []byte, i int) (int, error) {
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
			return 0, errShort
		}
		return 0, errBad
	}
	if string(b[i:i+n]) != want {
		return 0, errBad
	}
	return i + n, nil
}

// number checks the JSON number at b[i] and returns its end. A number
// that runs to the end of b may go on: errShort.
func number(b []byte, i int) (int, error) {
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
		return 0, errShort
	}
	switch {
	case b[j] == '0':
		j++
	case b[j] >= '1' && b[j] <= '9':
		digits()
	default:
		return 0, errBad
	}
	if j < len(b) && b[j] == '.' {
		j++
		if digits() == 0 {
			if j >= len(b) {
				return 0, errShort
			}
			return 0, errBad
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if digits() == 0 {
			if j >= len(b) {
				return 0, errShort
			}
			return 0, errBad
		}
	}
	if j >= len(b) {
		return 0, errShort
	}
	return j, nil
}

// skip validates the JSON value at b[i] (i at its first byte) and returns
// its end. On errBad, pos is where the problem is.
func skip(b []byte, i int) (end, pos int, err error) {
	var stack [maxDepth / 64]uint64 // bit set: inside an object; clear: an array
	depth := 0
	inObject := func() bool { return stack[(depth-1)>>6]&(1<<((depth-1)&63)) != 0 }
	push := func(obj bool) bool {
		if depth == maxDepth {
			return false
		}
		w, bit := depth>>6, uint64(1)<<(depth&63)
		if obj {
			stack[w] |= bit
		} else {
			stack[w] &^= bit
		}
		depth++
		return true
	}
value:
	if i >= len(b) {
		return 0, i, errShort
	}
	switch c := b[i]; {
	case c == '"':
		e, _, p, err := scanString(b, i)
		if err != nil {
			return 0, p, err
		}
		i = e
	case c == '{':
		i = ws(b, i+1)
		if i >= len(b) {
			return 0, i, errShort
		}
		if b[i] == '}' {
			i++
			break
		}
		if !push(true) {
			return 0, i, errTooDeep
		}
		goto key
	case c == '[':
		i = ws(b, i+1)
		if i >= len(b) {
			return 0, i, errShort
		}
		if b[i] == ']' {
			i++
			break
		}
		if !push(false) {
			return 0, i, errTooDeep
		}
		goto value
	case c == 't' || c == 'f' || c == 'n':
		e, err := literal(b, i)
		if err != nil {
			return 0, i, err
		}
		i = e
	case c == '-' || c >= '0' && c <= '9':
		e, err := number(b, i)
		if err != nil {
			return 0, i, err
		}
		i = e
	default:
		return 0, i, errBad
	}
	// after a value
	for depth > 0 {
		i = ws(b, i)
		if i >= len(b) {
			return 0, i, errShort
		}
		switch b[i] {
		case ',':
			i = ws(b, i+1)
			if inObject() {
				goto key
			}
			goto value
		case '}':
			if !inObject() {
				return 0, i, errBad
			}
		case ']':
			if inObject() {
				return 0, i, errBad
			}
		default:
			return 0, i, errBad
		}
		depth--
		i++
	}
	return i, 0, nil
key:
	if i >= len(b) {
		return 0, i, errShort
	}
	if b[i] != '"' {
		return 0, i, errBad
	}
	{
		e, _, p, err := scanString(b, i)
		if err != nil {
			return 0, p, err
		}
		i = ws(b, e)
	}
	if i >= len(b) {
		return 0, i, errShort
	}
	if b[i] != ':' {
		return 0, i, errBad
	}
	i = ws(b, i+1)
	goto value
}

// errTooDeep is errBad for nesting beyond maxDepth.
var errTooDeep = errors.New("too deep")

// balance finds the end of the value that starts at b[i] by bracket depth
// alone, without checking its syntax: where a malformed event whose
// brackets still balance ends. It reports broken (with pos) when a string
// holds a raw newline, so is cut off, since nothing after it can be
// trusted; errShort when b ends first.
func balance(b []byte, i int) (end int, broken bool, pos int, err error) {
	depth := 0
	for j := i; j < len(b); j++ {
		switch b[j] {
		case '"':
			k := j + 1
			for {
				if k >= len(b) {
					return 0, false, k, errShort
				}
				c := b[k]
				if c == '"' {
					break
				}
				switch c {
				case '\\':
					k++
				case '\n':
					return 0, true, k, nil
				}
				k++
			}
			j = k
			if depth == 0 {
				return j + 1, false, 0, nil
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth <= 0 {
				return j + 1, false, 0, nil
			}
		default:
			if depth == 0 {
				// A scalar: it ends at a delimiter.
				k := j
				for k < len(b) && !isSpace(b[k]) && b[k] != ',' && b[k] != ']' && b[k] != '}' {
					k++
				}
				if k >= len(b) {
					return 0, false, k, errShort
				}
				return max(k, j+1), false, 0, nil
			}
		}
	}
	return 0, false, len(b), errShort
}

// parseTime parses an eventTime: RFC 3339 ("2024-01-02T03:04:05Z", with
// optional fraction and offset) or the "2024-01-02 03:04:05.000" form of
// CloudTrail Lake (UTC), truncated to the second.
func parseTime(b []byte) (event.Time, bool) {
	if len(b) < 19 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != 't' && b[10] != ' ') || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	year, ok1 := atoi(b[0:4])
	month, ok2 := atoi(b[5:7])
	day, ok3 := atoi(b[8:10])
	hour, ok4 := atoi(b[11:13])
	minute, ok5 := atoi(b[14:16])
	sec, ok6 := atoi(b[17:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month) ||
		hour > 23 || minute > 59 || sec > 59 {
		return 0, false
	}
	rest := b[19:]
	if len(rest) > 0 && rest[0] == '.' {
		k := 1
		for k < len(rest) && rest[k] >= '0' && rest[k] <= '9' {
			k++
		}
		if k == 1 {
			return 0, false
		}
		rest = rest[k:]
	}
	offset := 0
	switch {
	case len(rest) == 0:
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		h, ok1 := atoi(rest[1:3])
		m, ok2 := atoi(rest[4:6])
		if !ok1 || !ok2 || h > 23 || m > 59 {
			return 0, false
		}
		offset = h*3600 + m*60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return 0, false
	}
	days := daysFromCivil(year, month, day)
	return event.Time(days*86400 + int64(hour*3600+minute*60+sec-offset)), true
}

func atoi(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian
// date (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y%400 < 0 {
		era-- // floor division
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}
