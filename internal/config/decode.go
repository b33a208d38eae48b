package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"picket/internal/suggest"
)

// decode fills cfg from YAML, walking the document and the struct side by
// side so that every problem is reported with its key path and line: an
// unknown key (with the closest known one), a value of the wrong type, a
// duration or size that does not parse. Keys absent from the document
// keep their defaults.
func decode(data []byte, cfg *Config) Problems {
	var p Problems
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		p.add(lineOf(err), "config", "not valid YAML: %s", yamlMessage(err))
		return p
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return p // an empty file: the defaults
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return p
	}
	walk(&p, root, reflect.ValueOf(cfg).Elem(), "")
	return p
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func walk(p *Problems, n *yaml.Node, v reflect.Value, path string) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if p.lines == nil {
		p.lines = map[string]int{}
	}
	if path != "" {
		p.lines[path] = n.Line
	}
	name := path
	if name == "" {
		name = "config"
	}
	// Leaf types with their own syntax.
	switch v.Addr().Interface().(type) {
	case *Duration:
		var s string
		if n.Kind != yaml.ScalarNode || n.Decode(&s) != nil {
			p.add(n.Line, name, "%s", errNotDuration)
			return
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			p.add(n.Line, name, "%q is %s", s, errNotDuration)
			return
		}
		v.SetInt(int64(d))
		return
	case *ByteSize:
		var s string
		if n.Kind != yaml.ScalarNode || n.Decode(&s) != nil {
			p.add(n.Line, name, "not a size such as 512MiB")
			return
		}
		b, err := ParseByteSize(s)
		if err != nil {
			p.add(n.Line, name, "%v", err)
			return
		}
		v.SetInt(int64(b))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			// "firehose:" with nothing after it enables the section with
			// its defaults.
			v.Set(reflect.New(v.Type().Elem()))
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		walk(p, n, v.Elem(), path)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			if n.Tag == "!!null" {
				return
			}
			p.add(n.Line, name, "want a mapping of keys, got %s", describe(n))
			return
		}
		fields := structFields(v.Type())
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			idx, ok := fields[k.Value]
			if !ok {
				msg := "unknown key"
				if s := closest(k.Value, keys(fields)); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				p.add(k.Line, join(path, k.Value), "%s", msg)
				continue
			}
			walk(p, val, v.Field(idx), join(path, k.Value))
		}
	case reflect.Slice:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return
		}
		if n.Kind != yaml.SequenceNode {
			p.add(n.Line, name, "want a list, got %s", describe(n))
			return
		}
		out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, el := range n.Content {
			walk(p, el, out.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(out)
	case reflect.Map:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return
		}
		if n.Kind != yaml.MappingNode {
			p.add(n.Line, name, "want a mapping, got %s", describe(n))
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			el := reflect.New(v.Type().Elem()).Elem()
			walk(p, val, el, join(path, k.Value))
			v.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), el)
		}
	default:
		if n.Kind != yaml.ScalarNode {
			p.add(n.Line, name, "want %s, got %s", kindName(v.Kind()), describe(n))
			return
		}
		if v.Kind() == reflect.String && n.Tag != "!!str" && n.Tag != "!!null" {
			// An unquoted 000000000000 is a number to YAML; accept it
			// as written, which is what an account ID means.
			v.SetString(n.Value)
			return
		}
		if err := n.Decode(v.Addr().Interface()); err != nil {
			p.add(n.Line, name, "want %s, got %s", kindName(v.Kind()), describe(n))
		}
	}
}

// structFields maps the yaml names of t's fields to their index.
func structFields(t reflect.Type) map[string]int {
	out := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if tag != "" && tag != "-" {
			out[tag] = i
		}
	}
	return out
}

func keys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:40] + "..."
	}
	return fmt.Sprintf("%q", v)
}

func kindName(k reflect.Kind) string {
	switch k {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "an integer"
	case reflect.Float64, reflect.Float32:
		return "a number"
	case reflect.String:
		return "a string"
	}
	return k.String()
}

// closest returns the candidate closest to s, if one is within an edit
// distance of a quarter of its length (at least 1).
func closest(s string, candidates []string) string {
	if best, d := suggest.Nearest(s, candidates); d >= 0 && d <= max(1, len(s)/4) {
		return best
	}
	return ""
}

// lineOf extracts the line from a YAML syntax error ("yaml: line 3: ...").
func lineOf(err error) int {
	var n int
	if _, scanErr := fmt.Sscanf(yamlText(err), "yaml: line %d:", &n); scanErr == nil {
		return n
	}
	return 0
}

func yamlText(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return strings.Join(te.Errors, "; ")
	}
	return err.Error()
}

func yamlMessage(err error) string {
	s := yamlText(err)
	if i := strings.Index(s, ": "); strings.HasPrefix(s, "yaml: line ") && i >= 0 {
		if j := strings.Index(s[i+2:], ": "); j >= 0 {
			return s[i+2+j+2:]
		}
	}
	return strings.TrimPrefix(s, "yaml: ")
}
