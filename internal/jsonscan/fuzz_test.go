package jsonscan_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"

	"picket/internal/jsonscan"
)

// FuzzValue holds the scanners to encoding/json, the slow and obvious
// reference, on arbitrary bytes:
//
//   - Value accepts exactly what json.Valid accepts (up to MaxDepth levels
//     of nesting), when the input is followed by a delimiter;
//   - every proper prefix of a valid value is ErrShort, never a syntax
//     error, as streaming callers rely on;
//   - Balance ends a valid value where Value does;
//   - a valid string unescapes to what json.Unmarshal makes of it;
//   - Member finds in a valid object what json.Unmarshal puts in a
//     map[string]json.RawMessage: the last value of the key, byte for byte.
//
// The comparisons that involve unescaping need valid UTF-8, which
// encoding/json replaces and this package passes through.
func FuzzValue(f *testing.F) {
	for _, s := range []struct{ data, key string }{
		// The last duplicate wins.
		{`{"a":"b","c":{"a":"x"},"a":"\u00e9\n"}`, "a"},
		// An escaped key.
		{`{"k\u0065y":"v","z":[{"k":"w"}]}`, "key"},
		// A number member.
		{`{"eventTime":"2024-01-02T03:04:05Z","n":-1.5e+3}`, "n"},
		// Literals, an empty key.
		{`[true,false,null,{"":[]}]`, ""},
		// A surrogate pair, a lone surrogate.
		{`"\ud83d\ude00\ud800\u0041\/"`, ""},
		// A raw control character.
		{"\"tab\there\"", ""},
		// A trailing comma.
		{`{"a":1,}`, "a"},
		// A missing colon.
		{`{"a" 1}`, "a"},
		// Malformed numbers.
		{`[01, 1., 1e, -]`, ""},
		// Nesting.
		{`{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[0]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`, "a"},
		// Bytes that are not UTF-8.
		{"\xff\"\xfe\"", ""},
		// Brackets in strings, spaces.
		{` {"a" : "}" , "b" : "]" } `, "b"},
	} {
		f.Add([]byte(s.data), s.key)
	}
	f.Fuzz(func(t *testing.T, data []byte, key string) {
		v := bytes.TrimLeft(data, " \t\r\n")
		in := append(v[:len(v):len(v)], ' ')
		end, _, err := jsonscan.Value(in, 0)
		if errors.Is(err, jsonscan.ErrTooDeep) {
			return
		}
		valid := json.Valid(data)
		ok := err == nil && jsonscan.SkipSpace(in, end) == len(in)
		if ok != valid {
			t.Fatalf("Value(%q) = %d, %v; json.Valid says %v", data, end, err, valid)
		}
		if !valid {
			return
		}
		v = bytes.TrimRight(v, " \t\r\n")
		if end != len(v) {
			t.Fatalf("Value(%q) ends at %d of %d", data, end, len(v))
		}
		step := max(1, len(v)/512) // bound the quadratic check on long inputs
		for k := 0; k < len(v); k += step {
			if _, pos, err := jsonscan.Value(v[:k], 0); !errors.Is(err, jsonscan.ErrShort) {
				t.Fatalf("prefix %q of %q: %v at %d, want ErrShort", v[:k], v, err, pos)
			}
		}
		if bend, broken, _, err := jsonscan.Balance(in, 0); err != nil || broken || bend != end {
			t.Fatalf("Balance(%q) = %d, %v, %v; Value ends at %d", data, bend, broken, err, end)
		}
		if !utf8.Valid(data) {
			return
		}
		switch v[0] {
		case '"':
			_, esc, _, _ := jsonscan.String(v, 0)
			var want string
			if err := json.Unmarshal(v, &want); err != nil {
				t.Fatal(err)
			}
			got := string(v[1 : len(v)-1])
			if esc {
				got = string(jsonscan.AppendUnescaped(nil, v[1:len(v)-1]))
			}
			if got != want {
				t.Fatalf("%q unescapes to %q; encoding/json says %q", v, got, want)
			}
		case '{':
			var m map[string]json.RawMessage
			if err := json.Unmarshal(v, &m); err != nil {
				t.Fatal(err)
			}
			want, found := m[key]
			got := jsonscan.Member(data, key)
			if (got != nil) != found || !bytes.Equal(got, want) {
				t.Fatalf("Member(%q, %q) = %q; encoding/json says %q, %v", data, key, got, want, found)
			}
		}
	})
}
