package intel

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// stixObject holds the fields of a STIX 2 object that lists use.
type stixObject struct {
	Type             string   `json:"type"`
	ID               string   `json:"id"`
	Name             string   `json:"name"`
	Pattern          string   `json:"pattern"`
	PatternType      string   `json:"pattern_type"`
	IndicatorTypes   []string `json:"indicator_types"`
	InfraTypes       []string `json:"infrastructure_types"`
	Labels           []string `json:"labels"`
	Revoked          bool     `json:"revoked"`
	Confidence       *float64 `json:"confidence"`
	Value            string   `json:"value"`
	RelationshipType string   `json:"relationship_type"`
	SourceRef        string   `json:"source_ref"`
	TargetRef        string   `json:"target_ref"`

	line int
}

// threatObjects are the STIX 2 object types whose names are threat names.
var threatObjects = map[string]bool{
	"malware": true, "threat-actor": true, "intrusion-set": true, "campaign": true,
	"tool": true, "infrastructure": true, "attack-pattern": true,
}

// decodeSTIX2 reads STIX 2.0 and 2.1 JSON: a bundle, an array of objects
// or one object. Indicators whose pattern (pattern_type stix) compares
// ipv4-addr, ipv6-addr, domain-name or url values (=, IN, ISSUBSET) give
// those values; the threat names are the names of the malware, actors,
// campaigns and infrastructure the indicator indicates, else its own name,
// and its indicator_types (labels in 2.0) are the purpose. Address, domain
// and URL objects that a relationship ties to malware, infrastructure or
// an actor (a C2 server that "consists-of" an ipv4-addr) are entries too.
// Revoked objects are ignored.
func decodeSTIX2(data []byte, l *List) {
	var objs []*stixObject
	lc := lineCounter{data: data}
	add := func(raw json.RawMessage, off int64) {
		line := lc.lineAt(off)
		var o stixObject
		if err := json.Unmarshal(raw, &o); err != nil {
			l.fail(line, firstLine(raw), "unreadable STIX object: "+jsonReason(err))
			return
		}
		o.line = line
		objs = append(objs, &o)
	}
	d := json.NewDecoder(bytes.NewReader(data))
	syntax := func(err error) {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		l.Incomplete = fmt.Sprintf("JSON unreadable at line %d: %s", lc.lineAt(d.InputOffset()), jsonReason(err))
	}
	tok, err := d.Token()
	if err != nil {
		syntax(err)
		return
	}
	switch tok {
	case json.Delim('['):
		if err := readArray(d, add); err != nil {
			syntax(err)
		}
	case json.Delim('{'):
		// A bundle, or one object: keep the top-level fields, and read
		// "objects" one by one.
		top := map[string]json.RawMessage{}
		for d.More() {
			k, err := d.Token()
			if err != nil {
				syntax(err)
				break
			}
			key, _ := k.(string)
			if key == "objects" {
				if t, err := d.Token(); err != nil || t != json.Delim('[') {
					if err == nil {
						err = errors.New(`"objects" is not an array`)
					}
					syntax(err)
					break
				}
				if err := readArray(d, add); err != nil {
					syntax(err)
					break
				}
				continue
			}
			var v json.RawMessage
			if err := d.Decode(&v); err != nil {
				syntax(err)
				break
			}
			top[key] = v
		}
		if _, ok := top["objects"]; !ok && l.Incomplete == "" {
			if t, ok := top["type"]; ok && string(t) != `"bundle"` {
				add(data, 0)
			}
		}
	default:
		l.Incomplete = "JSON is not a STIX bundle, object or array of objects"
		return
	}
	l.Lines = max(l.Lines, bytes.Count(data, []byte{'\n'})+1)
	stix2Entries(objs, l)
}

func readArray(d *json.Decoder, add func(json.RawMessage, int64)) error {
	for d.More() {
		off := d.InputOffset()
		var raw json.RawMessage
		if err := d.Decode(&raw); err != nil {
			return err
		}
		add(raw, off)
	}
	_, err := d.Token() // ']'
	return err
}

func stix2Entries(objs []*stixObject, l *List) {
	byID := make(map[string]*stixObject, len(objs))
	for _, o := range objs {
		if o.ID != "" {
			byID[o.ID] = o
		}
	}
	// names[id] lists the threat names related to an indicator or an
	// observable.
	names := map[string][]string{}
	purpose := map[string][]string{}
	for _, o := range objs {
		if o.Type != "relationship" || o.Revoked {
			continue
		}
		src, dst := byID[o.SourceRef], byID[o.TargetRef]
		if src == nil || dst == nil {
			continue
		}
		switch {
		case src.Type == "indicator" && o.RelationshipType == "indicates" && threatObjects[dst.Type] && dst.Name != "":
			names[src.ID] = append(names[src.ID], dst.Name)
		case threatObjects[src.Type] && observableType(dst.Type):
			names[dst.ID] = append(names[dst.ID], src.Name)
			purpose[dst.ID] = append(purpose[dst.ID], src.InfraTypes...)
		case threatObjects[dst.Type] && observableType(src.Type):
			names[src.ID] = append(names[src.ID], dst.Name)
			purpose[src.ID] = append(purpose[src.ID], dst.InfraTypes...)
		}
	}
	for _, o := range objs {
		if o.Revoked {
			continue
		}
		switch {
		case o.Type == "indicator":
			if o.PatternType != "" && o.PatternType != "stix" {
				l.Skipped++
				continue
			}
			info := Info{ThreatNames: uniq(names[o.ID])}
			if len(info.ThreatNames) == 0 && o.Name != "" {
				info.ThreatNames = []string{o.Name}
			}
			types := o.IndicatorTypes
			if len(types) == 0 {
				types = o.Labels
			}
			info.Purpose = strings.Join(types, ", ")
			if o.Confidence != nil {
				info.Score = *o.Confidence
			}
			values, err := patternValues(o.Pattern)
			if err != nil {
				l.fail(o.line, []byte(o.Pattern), "bad STIX pattern: "+err.Error())
				continue
			}
			if len(values) == 0 {
				l.Skipped++ // file hashes, e-mail, certificates
				continue
			}
			for _, v := range values {
				l.entry(o.line, []byte(v), &info)
			}
		case observableType(o.Type):
			n := names[o.ID]
			if len(n) == 0 {
				continue // an observation, not a threat
			}
			info := Info{ThreatNames: uniq(n), Purpose: strings.Join(uniq(purpose[o.ID]), ", ")}
			l.entry(o.line, []byte(o.Value), &info)
		}
	}
}

func observableType(t string) bool {
	return t == "ipv4-addr" || t == "ipv6-addr" || t == "domain-name" || t == "url"
}

func uniq(s []string) []string {
	if len(s) < 2 {
		return s
	}
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

func jsonReason(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return se.Error()
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %s holds a JSON %s", te.Field, te.Value)
	}
	return err.Error()
}

func firstLine(b []byte) []byte {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i]
	}
	return b
}

// lineCounter turns increasing byte offsets into line numbers.
type lineCounter struct {
	data []byte
	off  int
	line int
}

// lineAt returns the line of the first non-space byte at or after off.
func (c *lineCounter) lineAt(off int64) int {
	o := int(off)
	for o < len(c.data) && (c.data[o] == ' ' || c.data[o] == '\t' || c.data[o] == '\r' || c.data[o] == '\n' || c.data[o] == ',') {
		o++
	}
	if c.line == 0 {
		c.line = 1
	}
	if o < c.off {
		c.off, c.line = 0, 1
	}
	c.line += bytes.Count(c.data[c.off:min(o, len(c.data))], []byte{'\n'})
	c.off = min(o, len(c.data))
	return c.line
}

// patternPaths are the object paths whose values are list entries.
var patternPaths = map[string]bool{
	"ipv4-addr:value":                       true,
	"ipv6-addr:value":                       true,
	"domain-name:value":                     true,
	"url:value":                             true,
	"network-traffic:dst_ref.value":         true,
	"network-traffic:src_ref.value":         true,
	"domain-name:resolves_to_refs[*].value": true,
}

// patternValues returns the values a STIX pattern compares the paths
// above with, by =, IN or ISSUBSET (not under NOT). Values of a pattern
// that also requires other things (AND) are taken alone: the list matches
// a little more than the indicator.
func patternValues(p string) ([]string, error) {
	toks, err := lexPattern(p)
	if err != nil {
		return nil, err
	}
	var out []string
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if t.kind != tokWord || !strings.Contains(t.text, ":") {
			continue
		}
		path := t.text
		j := i + 1
		// object paths may have quoted steps: file:hashes.'SHA-256'
		for j < len(toks) && toks[j].kind == tokString && strings.HasSuffix(path, ".") {
			path += toks[j].text
			j++
		}
		not := false
		if j < len(toks) && toks[j].kind == tokWord && strings.EqualFold(toks[j].text, "NOT") {
			not = true
			j++
		}
		if j >= len(toks) {
			return nil, errors.New("comparison without an operator")
		}
		op := strings.ToUpper(toks[j].text)
		j++
		var vals []string
		switch {
		case j < len(toks) && toks[j].kind == tokString:
			vals = append(vals, toks[j].text)
		case j < len(toks) && toks[j].kind == tokOpen:
			for j++; j < len(toks) && toks[j].kind != tokClose; j++ {
				if toks[j].kind == tokString {
					vals = append(vals, toks[j].text)
				}
			}
		}
		i = j
		if not || !patternPaths[path] {
			continue
		}
		switch op {
		case "=", "IN", "ISSUBSET":
			out = append(out, vals...)
		}
	}
	return out, nil
}

type tokKind uint8

const (
	tokWord tokKind = iota
	tokString
	tokOpen
	tokClose
	tokOther
)

type patTok struct {
	kind tokKind
	text string
}

// lexPattern splits a STIX pattern into words (paths, keywords, numbers),
// quoted strings (unescaped), parentheses and the other punctuation.
func lexPattern(p string) ([]patTok, error) {
	var toks []patTok
	depth := 0
	for i := 0; i < len(p); {
		c := p[i]
		switch c {
		case ' ', '\t', '\n', '\r':
			i++
		case '\'':
			var b strings.Builder
			j := i + 1
			closed := false
			for j < len(p) {
				if p[j] == '\\' && j+1 < len(p) {
					b.WriteByte(p[j+1])
					j += 2
					continue
				}
				if p[j] == '\'' {
					closed = true
					break
				}
				b.WriteByte(p[j])
				j++
			}
			if !closed {
				return nil, errors.New("unterminated string")
			}
			toks = append(toks, patTok{tokString, b.String()})
			i = j + 1
		case '[':
			depth++
			i++
		case ']':
			depth--
			if depth < 0 {
				return nil, errors.New("unbalanced ]")
			}
			i++
		case '(':
			toks = append(toks, patTok{tokOpen, "("})
			i++
		case ')':
			toks = append(toks, patTok{tokClose, ")"})
			i++
		case '=', '!', '<', '>':
			j := i + 1
			if j < len(p) && p[j] == '=' {
				j++
			}
			toks = append(toks, patTok{tokOther, p[i:j]})
			i = j
		case ',':
			toks = append(toks, patTok{tokOther, ","})
			i++
		default:
			j := i
			for j < len(p) && !strings.ContainsRune(" \t\r\n'[]()=!<>,", rune(p[j])) {
				j++
			}
			if j == i {
				return nil, fmt.Errorf("unexpected %q", c)
			}
			w := p[i:j]
			// t'...', h'...', b'...' literals: the letter is a prefix
			if (w == "t" || w == "h" || w == "b") && j < len(p) && p[j] == '\'' {
				i = j
				continue
			}
			toks = append(toks, patTok{tokWord, w})
			i = j
		}
	}
	if depth != 0 {
		return nil, errors.New("unbalanced [")
	}
	return toks, nil
}
