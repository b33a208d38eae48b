package intel

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// decodeSTIX1 reads STIX 1.x XML: the values of CybOX Address objects
// (ipv4-addr, ipv6-addr, cidr), DomainName, Hostname and URI objects,
// wherever they appear: under stix:Observables or inside indicators. A
// value may be a list joined by ##comma##; with condition
// "InclusiveBetween" two values are a range. An indicator's Title names
// the threat of the observables it holds or references (idref), and its
// Type is their purpose.
//
// AWS's own sample has a missing space between two attributes; the
// decoder inserts it rather than reject the document.
func decodeSTIX1(data []byte, l *List) {
	data = fixAttrSpacing(data)
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = false
	d.CharsetReader = func(label string, r io.Reader) (io.Reader, error) {
		switch strings.ToLower(label) {
		case "utf-8", "us-ascii", "ascii":
			return r, nil
		case "iso-8859-1", "latin1", "latin-1", "windows-1252":
			return latin1{r}, nil
		}
		return nil, fmt.Errorf("unsupported charset %q", label)
	}

	type indicatorCtx struct {
		title, typ string
		depth      int
	}
	type pending struct {
		line       int
		value      []byte
		observable string // id of the enclosing observable
		ind        *indicatorCtx
		category   string
		condition  string
	}
	var (
		stack     []string // local names of the open elements
		inds      []*indicatorCtx
		obsIDs    []string // ids of the open Observable elements
		refs      = map[string]*indicatorCtx{}
		props     []string // xsi:type + category of open Properties elements
		values    []pending
		text      bytes.Buffer
		capturing = -1 // depth of the element whose text is captured
		capture   pending
		capKind   string
	)
	for {
		tok, err := d.Token()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				line, _ := d.InputPos()
				l.Incomplete = fmt.Sprintf("XML unreadable at line %d: %v", line, err)
			}
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name := t.Name.Local
			stack = append(stack, name)
			depth := len(stack)
			line, _ := d.InputPos()
			switch name {
			case "Indicator":
				if attr(t, "idref") == "" { // not a reference to one defined elsewhere
					inds = append(inds, &indicatorCtx{depth: depth})
				}
			case "Observable":
				id := attr(t, "id")
				if ref := attr(t, "idref"); ref != "" && len(inds) > 0 {
					refs[ref] = inds[len(inds)-1]
				}
				obsIDs = append(obsIDs, id)
			case "Properties":
				props = append(props, strings.ToLower(attr(t, "type")+" "+attr(t, "category")))
			case "Title", "Type":
				if n := len(inds); n > 0 && inds[n-1].depth == depth-1 {
					capturing, capKind = depth, name
					text.Reset()
				}
			case "Address_Value", "Value", "Hostname_Value", "Domain_Name":
				if len(props) == 0 {
					continue
				}
				p := props[len(props)-1]
				if name == "Value" && !strings.Contains(p, "domainname") && !strings.Contains(p, "uri") {
					continue
				}
				if name == "Address_Value" && !addressCategory(p) {
					l.Skipped++
					continue
				}
				capture = pending{line: line, condition: attr(t, "condition"), category: p}
				if n := len(obsIDs); n > 0 {
					capture.observable = obsIDs[n-1]
				}
				if n := len(inds); n > 0 {
					capture.ind = inds[n-1]
				}
				capturing, capKind = depth, "value"
				text.Reset()
			}
		case xml.CharData:
			if capturing > 0 {
				text.Write(t)
			}
		case xml.EndElement:
			depth := len(stack)
			if depth == capturing {
				v := bytes.TrimSpace(text.Bytes())
				switch capKind {
				case "Title":
					inds[len(inds)-1].title = string(v)
				case "Type":
					inds[len(inds)-1].typ = string(v)
				case "value":
					capture.value = bytes.Clone(v)
					values = append(values, capture)
				}
				capturing = -1
			}
			if depth == 0 {
				continue
			}
			switch stack[depth-1] {
			case "Indicator":
				if n := len(inds); n > 0 && inds[n-1].depth == depth {
					inds = inds[:n-1]
				}
			case "Observable":
				if n := len(obsIDs); n > 0 {
					obsIDs = obsIDs[:n-1]
				}
			case "Properties":
				if n := len(props); n > 0 {
					props = props[:n-1]
				}
			}
			stack = stack[:depth-1]
		}
		if line, _ := d.InputPos(); line > l.Lines {
			l.Lines = line
		}
	}
	for _, v := range values {
		info := Info{}
		ctx := v.ind
		if ctx == nil && v.observable != "" {
			ctx = refs[v.observable]
		}
		if ctx != nil {
			if ctx.title != "" {
				info.ThreatNames = []string{ctx.title}
			}
			info.Purpose = ctx.typ
		}
		switch strings.ToLower(v.condition) {
		case "", "equals", "inclusivebetween":
		default:
			l.fail(v.line, v.value, "condition "+v.condition+" is not supported (only Equals and InclusiveBetween)")
			continue
		}
		parts := bytes.Split(v.value, []byte("##comma##"))
		if strings.EqualFold(v.condition, "InclusiveBetween") && len(parts) == 2 {
			r := make([]byte, 0, len(v.value))
			r = append(append(append(r, bytes.TrimSpace(parts[0])...), '-'), bytes.TrimSpace(parts[1])...)
			ind, why := parseRange(r, len(bytes.TrimSpace(parts[0])))
			if why != "" {
				l.fail(v.line, v.value, why)
				continue
			}
			if l.refuse(v.line, v.value, ind) {
				continue
			}
			l.add(ind, &info)
			continue
		}
		for _, p := range parts {
			l.entry(v.line, p, &info)
		}
	}
}

func attr(t xml.StartElement, local string) string {
	for _, a := range t.Attr {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// addressCategory reports whether an Address object's category is one
// lists match on (no category means an IP address).
func addressCategory(p string) bool {
	_, cat, _ := strings.Cut(p, " ")
	switch cat {
	case "", "ipv4-addr", "ipv6-addr", "ipv4-net", "ipv6-net", "ipv4-netmask", "ipv6-netmask", "cidr":
		return true
	}
	return false
}

// fixAttrSpacing inserts the missing space between an attribute's closing
// quote and the next attribute's name inside tags.
func fixAttrSpacing(data []byte) []byte {
	var out []byte
	inTag, quote := false, byte(0)
	last := 0
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
				if inTag && i+1 < len(data) && isNameStart(data[i+1]) {
					if out == nil {
						out = make([]byte, 0, len(data)+16)
					}
					out = append(out, data[last:i+1]...)
					out = append(out, ' ')
					last = i + 1
				}
			}
		case c == '<':
			inTag = i+1 < len(data) && data[i+1] != '!' && data[i+1] != '?'
		case c == '>':
			inTag = false
		case inTag && (c == '"' || c == '\''):
			quote = c
		}
	}
	if out == nil {
		return data
	}
	return append(out, data[last:]...)
}

func isNameStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

// latin1 converts ISO 8859-1 to UTF-8.
type latin1 struct{ r io.Reader }

func (l latin1) Read(p []byte) (int, error) {
	buf := make([]byte, len(p)/2+1)
	n, err := l.r.Read(buf)
	out := p[:0]
	for _, c := range buf[:n] {
		if c < 0x80 {
			out = append(out, c)
		} else {
			out = append(out, 0xc0|c>>6, 0x80|c&0x3f)
		}
	}
	return len(out), err
}
