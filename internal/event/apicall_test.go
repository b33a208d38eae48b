package event_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"picket/internal/event"
)

func TestJSONHelpers(t *testing.T) {
	obj := []byte(` {"name":"trail-1","enable":false,"loggingEnabled":"true","n":42,"esc":"a\"b\u00e9\ud83d\ude00",` +
		`"nested":{"inner":{"deep":"x"},"list":[1,{"name":"no"}]},"dup":"first","dup":"second","nul":null,"s\u0070aced" : "yes"} `)
	tests := []struct {
		path []string
		str  string
		sok  bool
		b    bool
		bok  bool
		raw  string
	}{
		{path: []string{"name"}, str: "trail-1", sok: true, raw: `"trail-1"`},
		{path: []string{"enable"}, bok: true, raw: "false"},
		{path: []string{"loggingEnabled"}, str: "true", sok: true, b: true, bok: true, raw: `"true"`},
		{path: []string{"n"}, raw: "42"},
		{path: []string{"esc"}, str: "a\"bé😀", sok: true, raw: `"a\"b\u00e9\ud83d\ude00"`},
		{path: []string{"nested", "inner", "deep"}, str: "x", sok: true, raw: `"x"`},
		{path: []string{"nested", "list", "name"}},
		{path: []string{"dup"}, str: "second", sok: true, raw: `"second"`},
		{path: []string{"nul"}, raw: "null"},
		{path: []string{"spaced"}, str: "yes", sok: true, raw: `"yes"`},
		{path: []string{"missing"}},
		{path: []string{"name", "deeper"}},
	}
	for _, tt := range tests {
		if got := string(event.JSONValue(obj, tt.path...)); got != tt.raw {
			t.Errorf("JSONValue %v = %q, want %q", tt.path, got, tt.raw)
		}
		if s, ok := event.JSONString(obj, tt.path...); s != tt.str || ok != tt.sok {
			t.Errorf("JSONString %v = %q, %v", tt.path, s, ok)
		}
		if b, ok := event.JSONBool(obj, tt.path...); b != tt.b || ok != tt.bok {
			t.Errorf("JSONBool %v = %v, %v", tt.path, b, ok)
		}
	}
	for _, bad := range []string{"", "null", "[1]", `{"a":`, `{"a" 1}`, `{"a":"b"`} {
		if v := event.JSONValue([]byte(bad), "a"); v != nil {
			t.Errorf("JSONValue(%q) = %q", bad, v)
		}
	}
}

// FuzzJSONString holds JSONString to encoding/json on the top-level string
// members of valid objects.
func FuzzJSONString(f *testing.F) {
	f.Add([]byte(`{"a":"b","c":{"a":"x"},"a":"\u00e9\n"}`), "a")
	f.Add([]byte(`{"k\u0065y":"v","z":[{"k":"w"}]}`), "key")
	f.Fuzz(func(t *testing.T, data []byte, key string) {
		var m map[string]any
		if json.Unmarshal(data, &m) != nil || !utf8.Valid(data) {
			return
		}
		want, wantOK := m[key].(string)
		got, ok := event.JSONString(data, key)
		if ok != wantOK || got != want {
			t.Fatalf("JSONString(%q, %q) = %q, %v; encoding/json says %q, %v", data, key, got, ok, want, wantOK)
		}
	})
}

func TestClone(t *testing.T) {
	raw := []byte(`{"eventID":"e1","requestParameters":{"a":1}}`)
	rp := bytes.Index(raw, []byte(`{"a"`))
	c := &event.APICall{Raw: raw, EventID: raw[12:14], RequestParameters: raw[rp : rp+7], EventName: event.Intern("X")}
	k := c.Clone()
	copy(raw, "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX")
	if string(k.EventID) != "e1" || string(k.RequestParameters) != `{"a":1}` || k.EventName.String() != "X" ||
		string(k.Raw) != `{"eventID":"e1","requestParameters":{"a":1}}` || k.ResponseElements != nil {
		t.Errorf("clone %q %q %q", k.EventID, k.RequestParameters, k.Raw)
	}
	if c.Kind() != event.KindAPICall {
		t.Error(c.Kind())
	}
}

func TestIdentityTypes(t *testing.T) {
	for typ := event.IdentityIAMUser; typ < event.IdentityOther; typ++ {
		if got := event.ParseIdentityType(typ.String()); got != typ {
			t.Errorf("%v round trips to %v", typ, got)
		}
	}
	if event.ParseIdentityType("Robot") != event.IdentityOther || event.ParseIdentityType("") != event.IdentityNone {
		t.Error("unknown types")
	}
	id := event.Identity{PrincipalID: event.Intern("AROAEXAMPLE:i-0abc")}
	if id.SessionName() != "i-0abc" {
		t.Error(id.SessionName())
	}
	if !event.TriOf(true).True() || !event.TriOf(false).False() || event.TriUnset.IsSet() {
		t.Error("Tri")
	}
}
