package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"unicode/utf8"
)

// maxDepth bounds the nesting of a request body. GuardDuty's deepest
// request (a detector's features, or a filter's criteria) nests five
// levels.
const maxDepth = 16

// decodeBody decodes a request body into v, a pointer to an input struct,
// strictly: the body is valid UTF-8, one JSON object, nested at most
// maxDepth deep, with no member that v does not declare (names compare
// exactly: the wire names are camelCase, and encoding/json alone would
// accept any case) and no member twice. An empty body is {}.
func decodeBody(body []byte, v any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		body = []byte("{}")
	}
	if !utf8.Valid(body) {
		return badRequest(msgJSON, errors.New("the body is not valid UTF-8"))
	}
	if body[0] != '{' {
		return badRequest(msgJSON, errors.New("the body is not a JSON object"))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := check(dec, reflect.TypeOf(v), 0); err != nil {
		return badRequest(msgJSON, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest(msgJSON, errors.New("data after the JSON object"))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return badRequest(msgJSON, err)
	}
	return nil
}

// check reads one JSON value from dec and checks its structure against t
// (nil for a value of any shape).
func check(dec *json.Decoder, t reflect.Type, depth int) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil // a scalar: Unmarshal checks its type
	}
	if depth >= maxDepth {
		return fmt.Errorf("nested deeper than %d levels", maxDepth)
	}
	switch d {
	case '{':
		var fields map[string]reflect.Type
		var elem reflect.Type
		if t != nil {
			switch t.Kind() {
			case reflect.Struct:
				fields = fieldsOf(t)
			case reflect.Map:
				elem = t.Elem()
			}
		}
		seen := make(map[string]bool)
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ := tok.(string)
			if seen[key] {
				return fmt.Errorf("member %q appears twice", truncate(key, 64))
			}
			seen[key] = true
			next := elem
			if fields != nil {
				ft, ok := fields[key]
				if !ok {
					return fmt.Errorf("unknown member %q", truncate(key, 64))
				}
				next = ft
			}
			if err := check(dec, next, depth+1); err != nil {
				return err
			}
		}
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for dec.More() {
			if err := check(dec, elem, depth+1); err != nil {
				return err
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err
}

var fieldCache sync.Map // reflect.Type -> map[string]reflect.Type

// fieldsOf returns a struct's JSON member names and types.
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := make(map[string]reflect.Type)
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f.Type
	}
	fieldCache.Store(t, m)
	return m
}
