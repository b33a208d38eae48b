package event

import (
	"bytes"

	"picket/internal/jsonscan"
)

// The helpers below read single fields out of the raw JSON that records
// carry (APICall.RequestParameters, ResponseElements, Raw, ...) without
// decoding the whole of it: a detector that needs requestParameters.name
// of the few StopLogging calls it sees pays for that field only. They
// scan with jsonscan, build nothing for what they pass over, and allocate
// only for the string they return.

// JSONValue returns the raw JSON value found by following path through
// nested objects of obj (one key per level; an empty path returns obj),
// or nil when obj is not an object, a key is missing, or a value on the
// way is not an object. Keys compare exactly, after unescaping; when a key
// repeats, the last one wins, as in encoding/json. Malformed JSON yields
// nil rather than an error: each object on the way is checked up to its
// closing brace, so the value returned is valid JSON.
func JSONValue(obj []byte, path ...string) []byte {
	v := bytes.TrimSpace(obj)
	for _, key := range path {
		v = jsonscan.Member(v, key)
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
	var buf [128]byte
	return string(jsonscan.AppendUnescaped(buf[:0], body)), true
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
