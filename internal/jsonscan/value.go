package jsonscan

// Value checks the syntax of the value that starts at b[i] (no whitespace
// before it) and returns the index after it. On an error, pos is where the
// problem is: the offending byte for ErrSyntax and ErrTooDeep, where the
// bytes ran out for ErrShort. Whatever follows the value is not looked at.
func Value(b []byte, i int) (end, pos int, err error) {
	var stack [MaxDepth / 64]uint64 // bit set: inside an object; clear: an array
	depth := 0
	inObject := func() bool { return stack[(depth-1)>>6]&(1<<((depth-1)&63)) != 0 }
	push := func(obj bool) bool {
		if depth == MaxDepth {
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
		return 0, i, ErrShort
	}
	switch c := b[i]; {
	case c == '"':
		e, _, p, err := String(b, i)
		if err != nil {
			return 0, p, err
		}
		i = e
	case c == '{':
		i = SkipSpace(b, i+1)
		if i >= len(b) {
			return 0, i, ErrShort
		}
		if b[i] == '}' {
			i++
			break
		}
		if !push(true) {
			return 0, i, ErrTooDeep
		}
		goto key
	case c == '[':
		i = SkipSpace(b, i+1)
		if i >= len(b) {
			return 0, i, ErrShort
		}
		if b[i] == ']' {
			i++
			break
		}
		if !push(false) {
			return 0, i, ErrTooDeep
		}
		goto value
	case c == 't' || c == 'f' || c == 'n':
		e, err := Literal(b, i)
		if err != nil {
			return 0, i, err
		}
		i = e
	case c == '-' || c >= '0' && c <= '9':
		e, err := Number(b, i)
		if err != nil {
			return 0, i, err
		}
		i = e
	default:
		return 0, i, ErrSyntax
	}
	// after a value
	for depth > 0 {
		i = SkipSpace(b, i)
		if i >= len(b) {
			return 0, i, ErrShort
		}
		switch b[i] {
		case ',':
			i = SkipSpace(b, i+1)
			if inObject() {
				goto key
			}
			goto value
		case '}':
			if !inObject() {
				return 0, i, ErrSyntax
			}
		case ']':
			if inObject() {
				return 0, i, ErrSyntax
			}
		default:
			return 0, i, ErrSyntax
		}
		depth--
		i++
	}
	return i, 0, nil
key:
	if i >= len(b) {
		return 0, i, ErrShort
	}
	if b[i] != '"' {
		return 0, i, ErrSyntax
	}
	{
		e, _, p, err := String(b, i)
		if err != nil {
			return 0, p, err
		}
		i = SkipSpace(b, e)
	}
	if i >= len(b) {
		return 0, i, ErrShort
	}
	if b[i] != ':' {
		return 0, i, ErrSyntax
	}
	i = SkipSpace(b, i+1)
	goto value
}

// Balance finds the end of the value that starts at b[i] by bracket depth
// alone, without checking its syntax: where a malformed value whose
// brackets still balance ends. A scalar ends at the next delimiter. It
// reports broken, with pos at the line break, when a string holds a raw
// line break, so is cut off: nothing after it can be trusted. It returns
// ErrShort, with pos at len(b), when b ends first.
func Balance(b []byte, i int) (end int, broken bool, pos int, err error) {
	depth := 0
	for j := i; j < len(b); j++ {
		switch b[j] {
		case '"':
			k := j + 1
			for {
				if k >= len(b) {
					return 0, false, k, ErrShort
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
				for k < len(b) && !IsSpace(b[k]) && b[k] != ',' && b[k] != ']' && b[k] != '}' {
					k++
				}
				if k >= len(b) {
					return 0, false, k, ErrShort
				}
				return max(k, j+1), false, 0, nil
			}
		}
	}
	return 0, false, len(b), ErrShort
}

// Member returns the raw value of key in the object that starts at the
// first non-whitespace byte of obj, or nil when obj is not an object, has
// no such key, or is malformed anywhere up to its closing brace. Keys
// compare after unescaping; when a key repeats, the last one wins, as in
// encoding/json. Every member is checked as Value checks it, so the value
// returned is valid JSON. Member allocates only for a key longer than 64
// bytes that holds escapes.
func Member(obj []byte, key string) []byte {
	i := SkipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return nil
	}
	i = SkipSpace(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return nil
	}
	var found []byte
	for i < len(obj) && obj[i] == '"' {
		end, esc, _, err := String(obj, i)
		if err != nil {
			return nil
		}
		k := obj[i+1 : end-1]
		match := string(k) == key
		if esc && !match && len(k) >= len(key) {
			var buf [64]byte
			match = string(AppendUnescaped(buf[:0], k)) == key
		}
		i = SkipSpace(obj, end)
		if i >= len(obj) || obj[i] != ':' {
			return nil
		}
		i = SkipSpace(obj, i+1)
		vend, _, err := Value(obj, i)
		if err != nil {
			return nil
		}
		if match {
			found = obj[i:vend]
		}
		i = SkipSpace(obj, vend)
		if i >= len(obj) {
			return nil
		}
		switch obj[i] {
		case '}':
			return found
		case ',':
			i = SkipSpace(obj, i+1)
		default:
			return nil
		}
	}
	return nil
}
