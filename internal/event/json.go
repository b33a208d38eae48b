package event

import (
	"bytes"
	"unicode/utf16"
	"unicode/utf8"
)

// The helpers below read single fields out of the raw JSON that records
// carry (APICall.RequestParameters, ResponseElements, Raw, ...) without
// decoding the whole of it: a detector that needs requestParameters.name
// of the few StopLogging calls it sees pays for that field only. They
// scan, skip what they pass over without building anything, and allocate
// only for the string they return.

// JSONValue returns the raw JSON value found by following path through
// nested objects of obj (one key per level; an empty path returns obj),
// or nil when obj is not an object, a key is missing, or a value on the
// way is not an object. Keys compare exactly, after unescaping; when a key
// repeats, the last one wins, as in encoding/json. Malformed JSON yields
// nil rather than an error.
func JSONValue(obj []byte, path ...string) []byte {
	v := bytes.TrimSpace(obj)
	for _, key := range path {
		v = member(v, key)
		if v == nil {
			return nil
		}
	}
	return v
}

// JSONString returns the string at path in obj, unescaped; ok is false
// when the value is absent, null or not a string.
func JSONString(obj []byte, path ...string) (s string, ok bool) {
	v := JSONValue(obj, path...)
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	body := v[1 : len(v)-1]
	if bytes.IndexByte(body, '\\') < 0 {
		return string(body), true
	}
	u, ok := unquote(body)
	return string(u), ok
}

// JSONBool returns the boolean at path in obj. CloudTrail writes some
// booleans as strings ("true", "false"); those count too. ok is false when
// the value is absent or neither.
func JSONBool(obj []byte, path ...string) (value, ok bool) {
	switch string(JSONValue(obj, path...)) {
	case "true", `"true"`:
		return true, true
	case "false", `"false"`:
		return false, true
	}
	return false, false
}

// member returns the value of key in the object obj (which starts at its
// opening brace), or nil.
func member(obj []byte, key string) []byte {
	if len(obj) == 0 || obj[0] != '{' {
		return nil
	}
	var found []byte
	i := skipSpace(obj, 1)
	if i < len(obj) && obj[i] == '}' {
		return nil
	}
	for i < len(obj) {
		if obj[i] != '"' {
			return nil
		}
		end := stringEnd(obj, i)
		if end < 0 {
			return nil
		}
		k := obj[i+1 : end-1]
		match := string(k) == key
		if !match && bytes.IndexByte(k, '\\') >= 0 {
			u, ok := unquote(k)
			match = ok && string(u) == key
		}
		i = skipSpace(obj, end)
		if i >= len(obj) || obj[i] != ':' {
			return nil
		}
		i = skipSpace(obj, i+1)
		vend := valueEnd(obj, i)
		if vend < 0 {
			return nil
		}
		if match {
			found = obj[i:vend]
		}
		i = skipSpace(obj, vend)
		if i >= len(obj) {
			return nil
		}
		switch obj[i] {
		case '}':
			return found
		case ',':
			i = skipSpace(obj, i+1)
		default:
			return nil
		}
	}
	return nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the closing quote of the string that
// starts at b[i], or -1.
func stringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// valueEnd returns the index after the value that starts at b[i], or -1.
// Containers are matched by depth only.
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				e := stringEnd(b, i)
				if e < 0 {
					return -1
				}
				i = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	if j == i {
		return -1
	}
	return j
}

// unquote unescapes the body of a JSON string. Invalid escapes fail; lone
// surrogates become U+FFFD, as in encoding/json.
func unquote(s []byte) ([]byte, bool) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(s) {
			return nil, false
		}
		switch s[i] {
		case '"', '\\', '/':
			out = append(out, s[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(s, i+1)
			if !ok {
				return nil, false
			}
			i += 4
			if utf16.IsSurrogate(r) {
				if r2, ok := hex4(s, i+3); ok && i+2 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						out = utf8.AppendRune(out, d)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, false
		}
	}
	return out, true
}

func hex4(s []byte, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range s[i : i+4] {
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
