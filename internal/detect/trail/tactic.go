package trail

import (
	"bytes"
	_ "embed"
	"errors"
	"strconv"
	"strings"
	"sync"

	"picket/internal/event"
)

// Tactic is one of the tactics GuardDuty names its IAMUser/AnomalousBehavior
// findings after, in the order of their names.
type Tactic uint8

// The tactics.
const (
	TacticCredentialAccess Tactic = iota
	TacticDefenseEvasion
	TacticDiscovery
	TacticExfiltration
	TacticImpact
	TacticInitialAccess
	TacticPersistence
	TacticPrivilegeEscalation
	NumTactics
)

var tacticNames = [NumTactics]string{
	"CredentialAccess", "DefenseEvasion", "Discovery", "Exfiltration",
	"Impact", "InitialAccess", "Persistence", "PrivilegeEscalation",
}

// String returns the tactic's name as GuardDuty writes it.
func (t Tactic) String() string {
	if t < NumTactics {
		return tacticNames[t]
	}
	return "Tactic(" + strconv.Itoa(int(t)) + ")"
}

// ParseTactic returns the tactic with the given name.
func ParseTactic(name string) (Tactic, bool) {
	for i, n := range tacticNames {
		if n == name {
			return Tactic(i), true
		}
	}
	return 0, false
}

// Tactics is a set of tactics.
type Tactics uint16

// Has reports whether t is in the set.
func (s Tactics) Has(t Tactic) bool { return s&(1<<t) != 0 }

// With returns the set with t added.
func (s Tactics) With(t Tactic) Tactics { return s | 1<<t }

// TacticEntry is one line of a tactics file.
type TacticEntry struct {
	Tactic Tactic
	// Service is the eventSource's short name ("iam"), or "*".
	Service string
	// API is an eventName, a prefix ending in "*", or "!" and an
	// eventName taken out of the tactic.
	API string
	// Condition is "" for every call, "path=value" or "path" (see the
	// file's header).
	Condition string
	Reason    string
	Line      int
}

// TacticError is a problem with a line of a tactics file.
type TacticError struct {
	File  string
	Line  int
	Field string // "tactic", "service", "api", "condition", "reason" or "" for the line
	Value string
	Msg   string
}

// Error renders the error as `file:line: field "value": message`.
func (e *TacticError) Error() string {
	s := e.File + ":" + strconv.Itoa(e.Line) + ": "
	if e.Field != "" {
		s += e.Field + " " + strconv.Quote(e.Value) + ": "
	}
	return s + e.Msg
}

// TacticTable maps API calls to their tactics. It is immutable once
// parsed and safe for concurrent use.
type TacticTable struct {
	entries  []TacticEntry
	paths    [][]string       // by entry: the condition's path, split at dots
	exact    map[string][]int // by API name: entries naming it exactly
	prefixes []int            // entries with a prefix
	excluded map[string][]int // by API name: the "!" entries
}

//go:embed tactics.txt
var tacticsFile []byte

// DefaultTactics returns the table of the tactics file built into the
// binary, parsed once. A broken built-in file is a programmer's error,
// which TestDefaultTactics catches: it panics.
var DefaultTactics = sync.OnceValue(func() *TacticTable {
	t, err := ParseTactics(tacticsFile, "tactics.txt")
	if err != nil {
		panic("trail: the built-in tactics file: " + err.Error())
	}
	return t
})

// ParseTactics reads a tactics file. name names it in errors. Every
// problem is reported, one a line, joined.
func ParseTactics(data []byte, name string) (*TacticTable, error) {
	t := &TacticTable{exact: map[string][]int{}, excluded: map[string][]int{}}
	seen := map[[4]string]int{}
	var errs []error
	bad := func(line int, field, value, msg string) {
		errs = append(errs, &TacticError{File: name, Line: line, Field: field, Value: value, Msg: msg})
	}
	for n := 1; len(data) > 0; n++ {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		s := strings.TrimSpace(string(line))
		if s == "" || s[0] == '#' {
			continue
		}
		f := splitFields(s, 4)
		if len(f) < 5 {
			bad(n, "", "", "want 5 fields (tactic, service, api, condition, reason), have "+strconv.Itoa(len(f)))
			continue
		}
		e := TacticEntry{Service: f[1], API: f[2], Reason: f[4], Line: n}
		tac, ok := ParseTactic(f[0])
		if !ok {
			bad(n, "tactic", f[0], "unknown tactic; want one of "+strings.Join(tacticNames[:], ", "))
			continue
		}
		e.Tactic = tac
		if f[3] != "-" {
			e.Condition = f[3]
		}
		if msg := checkService(e.Service); msg != "" {
			bad(n, "service", e.Service, msg)
			continue
		}
		if msg := checkAPI(e.API); msg != "" {
			bad(n, "api", e.API, msg)
			continue
		}
		if e.Condition != "" {
			if msg := checkCondition(e.Condition); msg != "" {
				bad(n, "condition", e.Condition, msg)
				continue
			}
			if e.API[0] == '!' || strings.HasSuffix(e.API, "*") {
				bad(n, "condition", e.Condition, "only an exact API name takes a condition")
				continue
			}
		}
		k := [4]string{f[0], e.Service, e.API, e.Condition}
		if prev, dup := seen[k]; dup {
			bad(n, "", "", "duplicate of line "+strconv.Itoa(prev))
			continue
		}
		seen[k] = n
		i := len(t.entries)
		t.entries = append(t.entries, e)
		path, _, _ := strings.Cut(e.Condition, "=")
		t.paths = append(t.paths, strings.Split(path, "."))
		switch {
		case e.API[0] == '!':
			t.excluded[e.API[1:]] = append(t.excluded[e.API[1:]], i)
		case strings.HasSuffix(e.API, "*"):
			t.prefixes = append(t.prefixes, i)
		default:
			t.exact[e.API] = append(t.exact[e.API], i)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return t, nil
}

// splitFields splits s at runs of spaces and tabs into n fields and the
// rest of the line, trimmed, as a last field.
func splitFields(s string, n int) []string {
	out := make([]string, 0, n+1)
	for len(out) < n {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return out
		}
		i := strings.IndexAny(s, " \t")
		if i < 0 {
			return append(out, s)
		}
		out = append(out, s[:i])
		s = s[i:]
	}
	if s = strings.TrimSpace(s); s != "" {
		out = append(out, s)
	}
	return out
}

func checkService(s string) string {
	if s == "*" {
		return ""
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return "want a lowercase short service name (iam, ec2, secretsmanager) or *"
		}
	}
	return ""
}

func checkAPI(s string) string {
	name := strings.TrimPrefix(s, "!")
	if name != s && strings.HasSuffix(name, "*") {
		return "an exclusion names one API, not a prefix"
	}
	name = strings.TrimSuffix(name, "*")
	if name == "" {
		return "want an API name or a prefix of one"
	}
	if !alnum(name) {
		return "want letters and digits, then * for a prefix"
	}
	return ""
}

func checkCondition(s string) string {
	path, value, eq := strings.Cut(s, "=")
	if eq && value == "" {
		return "want a value after ="
	}
	for _, k := range strings.Split(path, ".") {
		if !alnum(k) {
			return "want a dotted path of letters and digits, then =value or nothing"
		}
	}
	return ""
}

func alnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return s != ""
}

// Entries returns the table's entries in the order of the file.
func (t *TacticTable) Entries() []TacticEntry {
	return append([]TacticEntry(nil), t.entries...)
}

// FormatTactics writes entries as a tactics file that ParseTactics reads back.
func FormatTactics(entries []TacticEntry) []byte {
	var b []byte
	for _, e := range entries {
		cond := e.Condition
		if cond == "" {
			cond = "-"
		}
		b = append(b, e.Tactic.String()...)
		for _, f := range []string{e.Service, e.API, cond, e.Reason} {
			b = append(b, '\t')
			b = append(b, f...)
		}
		b = append(b, '\n')
	}
	return b
}

// Lookup returns the tactics of a call of api on service (the eventSource's
// short name, "iam") whatever its parameters (always), and the tactics
// that depend on its requestParameters (conditional): Of says which of
// those a given call has. Callers that see the same APIs again can cache
// the answer and call Of only when conditional is not empty.
func (t *TacticTable) Lookup(service, api string) (always, conditional Tactics) {
	var out [2]Tactics
	add := func(i int) {
		e := &t.entries[i]
		if e.Service != "*" && e.Service != service {
			return
		}
		if e.Condition == "" {
			out[0] = out[0].With(e.Tactic)
		} else {
			out[1] = out[1].With(e.Tactic)
		}
	}
	for _, i := range t.exact[api] {
		add(i)
	}
	for _, i := range t.prefixes {
		if strings.HasPrefix(api, strings.TrimSuffix(t.entries[i].API, "*")) {
			add(i)
		}
	}
	for _, i := range t.excluded[api] {
		if e := &t.entries[i]; e.Service == "*" || e.Service == service {
			out[0] &^= 1 << e.Tactic
			out[1] &^= 1 << e.Tactic
		}
	}
	return out[0], out[1] &^ out[0]
}

// Of returns the tactics of one call: those of its API, and those whose
// condition its requestParameters meet.
func (t *TacticTable) Of(service, api string, params []byte) Tactics {
	always, cond := t.Lookup(service, api)
	if cond == 0 {
		return always
	}
	return always | t.Conditional(service, api, params)
}

// Conditional returns the tactics of the entries with a condition on
// service and api that the requestParameters params meet, less any
// exclusion.
func (t *TacticTable) Conditional(service, api string, params []byte) Tactics {
	var s Tactics
	for _, i := range t.exact[api] {
		e := &t.entries[i]
		if e.Condition == "" || e.Service != "*" && e.Service != service || s.Has(e.Tactic) {
			continue
		}
		if meets(params, t.paths[i], e.Condition) {
			s = s.With(e.Tactic)
		}
	}
	for _, i := range t.excluded[api] {
		if e := &t.entries[i]; e.Service == "*" || e.Service == service {
			s &^= 1 << e.Tactic
		}
	}
	return s
}

// meets reports whether requestParameters meet a condition whose path
// is split at dots.
func meets(params []byte, path []string, cond string) bool {
	_, want, eq := strings.Cut(cond, "=")
	v := event.JSONValue(params, path...)
	if len(v) == 0 || string(v) == "null" {
		return false
	}
	if !eq {
		return true
	}
	if v[0] == '"' {
		s, ok := event.JSONString(v)
		return ok && s == want
	}
	return string(v) == want
}

// String returns the set's names joined by "+", or "none".
func (s Tactics) String() string {
	var names []string
	for t := range NumTactics {
		if s.Has(t) {
			names = append(names, t.String())
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, "+")
}
