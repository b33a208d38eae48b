package resolver

import (
	"bytes"

	"picket/internal/event"
	"picket/internal/jsonscan"
)

// The interned fields, for the decoder's last-value cache.
const (
	idAccount = iota
	idRegion
	idVPC
	idInstance
	idEndpoint
	idAction
	idGroup
	idList
	numIDs
)

// maxInterned bounds the decoder's intern cache; when full it starts over.
const maxInterned = 1 << 14

// Decoder decodes single lines of a Route 53 Resolver query log. It keeps
// an intern cache across lines and inputs, so reuse one per input (or per
// goroutine). It is not safe for concurrent use.
type Decoder struct {
	name  string
	file  event.ID
	ids   map[string]event.ID
	last  [numIDs]event.ID
	stats Stats
}

// NewDecoder returns a decoder for the input called name.
func NewDecoder(name string) *Decoder {
	d := &Decoder{ids: make(map[string]event.ID)}
	d.Reset(name)
	return d
}

// Reset prepares the decoder for a new input, keeping its intern cache.
func (d *Decoder) Reset(name string) {
	d.name = name
	d.file = event.Intern(name)
	d.stats = Stats{}
}

// Stats returns what the decoder counted since the last Reset.
func (d *Decoder) Stats() Stats { return d.stats }

// Decode decodes one line (without its newline), the line-th of its
// input, into q, which is reset first. It returns nil or a *ParseError.
//
// The line is rewritten in place (the query name lower-cased, escapes
// resolved), and q.Name and the Data of q's answers point into it: they
// are valid as long as the line's bytes are.
func (d *Decoder) Decode(b []byte, line int64, q *event.DNSQuery) error {
	*q = event.DNSQuery{RCode: event.RCodeUnknown}
	q.Origin = event.Origin{File: d.file, Line: line}
	i := jsonscan.SkipSpace(b, 0)
	if i < len(b) && b[i] >= '0' && b[i] <= '9' {
		// A CloudWatch Logs export: "2026-03-02T10:00:00.000Z {...}".
		if j := bytes.Index(b[i:min(len(b), i+48)], []byte(" {")); j > 0 {
			i += j + 1
		}
	}
	if i >= len(b) || b[i] != '{' {
		return d.fail(line, "", b[i:], ErrNotQuery)
	}
	var haveTime, haveName bool
	i = jsonscan.SkipSpace(b, i+1)
	more := i >= len(b) || b[i] != '}'
	if !more {
		i++
	}
	for more {
		k, v, ok := key(b, i)
		if !ok {
			return d.fail(line, "", b[v:], ErrSyntax)
		}
		end, field, err := d.member(b, v, k, q)
		if err != nil {
			return d.fail(line, field, b[v:end], err)
		}
		switch field {
		case "query_timestamp":
			haveTime = true
		case "query_name":
			haveName = q.Name != nil
		}
		if i, more, ok = next(b, end, '}'); !ok {
			return d.fail(line, "", b[i:], ErrSyntax)
		}
	}
	if i = jsonscan.SkipSpace(b, i); i < len(b) {
		return d.fail(line, "", b[i:], ErrSyntax)
	}
	switch {
	case !haveTime:
		return d.fail(line, "query_timestamp", nil, ErrMissing)
	case !haveName:
		return d.fail(line, "query_name", nil, ErrMissing)
	}
	return nil
}

// member decodes the value at b[i] of the member named k. It returns the
// index after the value and, for a field picket reads, its name; on an
// error, end is where the bad value ends (or where scanning stopped).
func (d *Decoder) member(b []byte, i int, k []byte, q *event.DNSQuery) (end int, field string, err error) {
	switch string(k) {
	case "query_timestamp":
		field = "query_timestamp"
		s, end, err := str(b, i)
		if err != nil {
			return end, field, err
		}
		if q.T, err = parseTime(s); err != nil {
			return end, field, err
		}
		return end, field, nil
	case "query_name":
		field = "query_name"
		s, end, err := str(b, i)
		if err != nil || s == nil {
			return end, field, err
		}
		if len(s) == 0 {
			return end, field, ErrValue
		}
		q.Name = normalize(s)
		return end, field, nil
	case "query_type":
		field = "query_type"
		s, end, err := str(b, i)
		if err == nil && s != nil {
			q.QType = d.rrType(s)
		}
		return end, field, err
	case "query_class":
		field = "query_class"
		s, end, err := str(b, i)
		if err == nil && s != nil {
			q.QClass = class(s)
		}
		return end, field, err
	case "rcode":
		field = "rcode"
		s, end, err := str(b, i)
		if err == nil && s != nil {
			q.RCode = rcode(s)
		}
		return end, field, err
	case "srcaddr":
		field = "srcaddr"
		s, end, err := str(b, i)
		if err != nil || len(s) == 0 {
			return end, field, err
		}
		a, ok := event.ParseAddr(s)
		if !ok {
			return end, field, ErrValue
		}
		q.Src = a
		return end, field, nil
	case "srcport":
		field = "srcport"
		p, end, err := port(b, i)
		q.SrcPort = p
		return end, field, err
	case "transport":
		field = "transport"
		s, end, err := str(b, i)
		switch string(s) {
		case "UDP", "udp":
			q.Protocol = event.ProtoUDP
		case "TCP", "tcp":
			q.Protocol = event.ProtoTCP
		}
		return end, field, err
	case "account_id":
		return d.idMember(b, i, "account_id", idAccount, &q.Account)
	case "region":
		return d.idMember(b, i, "region", idRegion, &q.Region)
	case "vpc_id":
		return d.idMember(b, i, "vpc_id", idVPC, &q.VPC)
	case "firewall_rule_action":
		return d.idMember(b, i, "firewall_rule_action", idAction, &q.FirewallAction)
	case "firewall_rule_group_id":
		return d.idMember(b, i, "firewall_rule_group_id", idGroup, &q.FirewallRuleGroup)
	case "firewall_domain_list_id":
		return d.idMember(b, i, "firewall_domain_list_id", idList, &q.FirewallDomainList)
	case "srcids":
		return d.srcids(b, i, q)
	case "answers":
		return d.answers(b, i, q)
	}
	end, pos, err := jsonscan.Value(b, i)
	if err != nil {
		return pos, "", ErrSyntax
	}
	return end, "", nil
}

// idMember interns the string at b[i] into dst.
func (d *Decoder) idMember(b []byte, i int, field string, slot int, dst *event.ID) (int, string, error) {
	s, end, err := str(b, i)
	if err != nil {
		return end, field, err
	}
	*dst = d.intern(slot, s)
	return end, field, nil
}

// intern returns the ID of s. Values repeat from line to line, so the
// last one of each field is checked first, then the cache; only a string
// new to both allocates.
func (d *Decoder) intern(slot int, s []byte) event.ID {
	if len(s) == 0 {
		return event.ID{}
	}
	if last := d.last[slot]; !last.IsZero() && last.String() == string(s) {
		return last
	}
	id, ok := d.ids[string(s)]
	if !ok {
		if len(d.ids) >= maxInterned {
			clear(d.ids)
		}
		k := string(s)
		id = event.Intern(k)
		d.ids[k] = id
	}
	d.last[slot] = id
	return id
}

// srcids reads the object that names where a query came from.
func (d *Decoder) srcids(b []byte, i int, q *event.DNSQuery) (int, string, error) {
	const field = "srcids"
	if i < len(b) && b[i] == 'n' {
		end, err := jsonscan.Literal(b, i)
		if err != nil {
			return i, field, ErrSyntax
		}
		return end, field, nil
	}
	if i >= len(b) || b[i] != '{' {
		return skipBad(b, i, field)
	}
	i = jsonscan.SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, field, nil
	}
	for {
		k, v, ok := key(b, i)
		if !ok {
			return v, field, ErrSyntax
		}
		var end int
		var err error
		switch string(k) {
		case "instance":
			end, _, err = d.idMember(b, v, "", idInstance, &q.Instance)
		case "resolver_endpoint":
			end, _, err = d.idMember(b, v, "", idEndpoint, &q.ResolverEndpoint)
		default:
			var pos int
			if end, pos, err = jsonscan.Value(b, v); err != nil {
				return pos, field, ErrSyntax
			}
		}
		if err != nil {
			return end, "srcids." + string(k), err
		}
		var more bool
		if i, more, ok = next(b, end, '}'); !ok {
			return i, field, ErrSyntax
		}
		if !more {
			return i, field, nil
		}
	}
}

// answers reads the array of a response's answers.
func (d *Decoder) answers(b []byte, i int, q *event.DNSQuery) (int, string, error) {
	const field = "answers"
	if i < len(b) && b[i] == 'n' {
		end, err := jsonscan.Literal(b, i)
		if err != nil {
			return i, field, ErrSyntax
		}
		return end, field, nil
	}
	if i >= len(b) || b[i] != '[' {
		return skipBad(b, i, field)
	}
	i = jsonscan.SkipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, field, nil
	}
	for {
		end, err := d.answer(b, i, q)
		if err != nil {
			return end, field, err
		}
		var more, ok bool
		if i, more, ok = next(b, end, ']'); !ok {
			return i, field, ErrSyntax
		}
		if !more {
			return i, field, nil
		}
	}
}

// answer reads one answer, {"Rdata":"...","Type":"A","Class":"IN"}, and
// keeps it if q has room.
func (d *Decoder) answer(b []byte, i int, q *event.DNSQuery) (int, error) {
	if i >= len(b) || b[i] != '{' {
		end, _, err := skipBad(b, i, "")
		return end, err
	}
	var a event.DNSAnswer
	i = jsonscan.SkipSpace(b, i+1)
	more := i >= len(b) || b[i] != '}'
	if !more {
		i++
	}
	for more {
		k, v, ok := key(b, i)
		if !ok {
			return v, ErrSyntax
		}
		var end int
		var err error
		var s []byte
		switch string(k) {
		case "Rdata":
			s, end, err = str(b, v)
			a.Data = s
		case "Type":
			s, end, err = str(b, v)
			if err == nil && s != nil {
				a.Type = d.rrType(s)
			}
		case "Class":
			s, end, err = str(b, v)
			if err == nil && s != nil {
				a.Class = class(s)
			}
		default:
			var pos int
			if end, pos, err = jsonscan.Value(b, v); err != nil {
				return pos, ErrSyntax
			}
		}
		if err != nil {
			return end, err
		}
		if i, more, ok = next(b, end, '}'); !ok {
			return i, ErrSyntax
		}
	}
	if q.NumAnswers == event.MaxAnswers {
		if q.MoreAnswers < 1<<16-1 {
			q.MoreAnswers++
		}
		return i, nil
	}
	if a.Type == event.DNSTypeA || a.Type == event.DNSTypeAAAA {
		if addr, ok := event.ParseAddr(a.Data); ok {
			a.Addr, a.Data = addr, nil
		}
	}
	q.Answers[q.NumAnswers] = a
	q.NumAnswers++
	return i, nil
}

// fail builds the error for a bad line; value is truncated.
func (d *Decoder) fail(line int64, field string, value []byte, err error) *ParseError {
	if len(value) > maxValueInError {
		value = value[:maxValueInError]
	}
	return &ParseError{File: d.name, Line: line, Field: field, Value: string(value), Err: err}
}

// key reads the key at b[i] and the colon after it; v is the index of the
// value, or where scanning stopped.
func key(b []byte, i int) (k []byte, v int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, false
	}
	end, esc, pos, err := jsonscan.String(b, i)
	if err != nil {
		return nil, pos, false
	}
	k = b[i+1 : end-1]
	if esc {
		k = jsonscan.AppendUnescaped(k[:0], k)
	}
	v = jsonscan.SkipSpace(b, end)
	if v >= len(b) || b[v] != ':' {
		return nil, v, false
	}
	return k, jsonscan.SkipSpace(b, v+1), true
}

// next reads what follows a value of an object or array that ends at
// b[i]: a comma (more: j is the next member's index) or the closing
// bracket (j is the index after it).
func next(b []byte, i int, closing byte) (j int, more, ok bool) {
	i = jsonscan.SkipSpace(b, i)
	if i >= len(b) {
		return i, false, false
	}
	switch b[i] {
	case ',':
		return jsonscan.SkipSpace(b, i+1), true, true
	case closing:
		return i + 1, false, true
	}
	return i, false, false
}

// str reads the string at b[i] and returns its content, unescaped in
// place; null gives nil. Any other value is ErrType, malformed JSON
// ErrSyntax.
func str(b []byte, i int) (s []byte, end int, err error) {
	if i >= len(b) {
		return nil, i, ErrSyntax
	}
	switch b[i] {
	case '"':
		end, esc, pos, err := jsonscan.String(b, i)
		if err != nil {
			return nil, pos, ErrSyntax
		}
		s = b[i+1 : end-1 : end-1]
		if esc {
			s = jsonscan.AppendUnescaped(s[:0], s)
		}
		return s, end, nil
	case 'n':
		end, err := jsonscan.Literal(b, i)
		if err != nil {
			return nil, i, ErrSyntax
		}
		return nil, end, nil
	}
	end, _, err = skipBad(b, i, "")
	return nil, end, err
}

// skipBad returns the end of a value of the wrong type and ErrType, or
// ErrSyntax for malformed JSON.
func skipBad(b []byte, i int, field string) (int, string, error) {
	end, pos, err := jsonscan.Value(b, i)
	if err != nil {
		return pos, field, ErrSyntax
	}
	return end, field, ErrType
}

// port reads a port number, a string ("53") or a JSON number.
func port(b []byte, i int) (uint16, int, error) {
	var s []byte
	var end int
	if i < len(b) && (b[i] == '-' || b[i] >= '0' && b[i] <= '9') {
		var err error
		if end, err = jsonscan.Number(b, i); err != nil {
			return 0, i, ErrSyntax
		}
		s = b[i:end]
	} else {
		var err error
		if s, end, err = str(b, i); err != nil || len(s) == 0 {
			return 0, end, err
		}
	}
	if len(s) > 5 {
		return 0, end, ErrValue
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, end, ErrValue
		}
		n = n*10 + int(c-'0')
	}
	if n > 65535 {
		return 0, end, ErrValue
	}
	return uint16(n), end, nil
}

// normalize lower-cases an ASCII name in place and drops its final dot,
// except from the root, ".".
func normalize(s []byte) []byte {
	for i, c := range s {
		if c >= 'A' && c <= 'Z' {
			s[i] = c + 'a' - 'A'
		}
	}
	if len(s) > 1 && s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return s
}
