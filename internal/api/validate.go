package api

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Constraints of the GuardDuty model that the server enforces (clients
// check required members and minimums at most).

func validAccount(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isAlnum(c byte) bool { return isDigit(c) || isLower(c) || c >= 'A' && c <= 'Z' }

// validRegion accepts region names: lowercase letters, digits and dashes.
func validRegion(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isLower(c) && !isDigit(c) && c != '-' {
			return false
		}
	}
	return true
}

// wellFormedID accepts what may be a resource ID (detector, list): 1 to
// 300 letters, digits, '-' and '_'. Anything else is an invalid value
// rather than an unknown resource.
func wellFormedID(s string) bool {
	if s == "" || len(s) > 300 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// length checks a string member's length in characters.
func length(name, s string, lo, hi int) error {
	n := utf8.RuneCountInString(s)
	if n < lo || n > hi {
		return outOfRange(name, fmt.Errorf("%d characters, want %d to %d", n, lo, hi))
	}
	return nil
}

// optLength checks an optional string member.
func optLength(name string, s *string, lo, hi int) error {
	if s == nil {
		return nil
	}
	return length(name, *s, lo, hi)
}

// required reports a missing required member.
func required(name string) error {
	return invalidParam(name, errors.New("required member missing"))
}

// enum checks a member against its enum.
func enum(name, v string, values ...string) error {
	if !slices.Contains(values, v) {
		return invalidParam(name, fmt.Errorf("%q is not one of %v", truncate(v, 64), values))
	}
	return nil
}

// count checks the number of items of a list or map member.
func count(name string, n, lo, hi int) error {
	if n < lo || n > hi {
		return outOfRange(name, fmt.Errorf("%d items, want %d to %d", n, lo, hi))
	}
	return nil
}

// intRange checks an integer member.
func intRange(name string, v *int64, lo, hi int64) error {
	if v == nil {
		return nil
	}
	if *v < lo || *v > hi {
		return outOfRange(name, fmt.Errorf("%d, want %d to %d", *v, lo, hi))
	}
	return nil
}

// queryInt parses an integer query parameter; nil when absent.
func queryInt(rq *request, name string) (*int64, error) {
	vs, ok := rq.query[name]
	if !ok {
		return nil, nil
	}
	if len(vs) != 1 {
		return nil, invalidParam(name, errors.New("given more than once"))
	}
	n, err := strconv.ParseInt(vs[0], 10, 64)
	if err != nil {
		return nil, invalidParam(name, err)
	}
	return &n, nil
}

// validTags checks a tags map: 1 to 200 entries, keys of 1 to 128
// characters not starting with "aws:", values of at most 256.
func validTags(tags map[string]string, present bool) error {
	if !present {
		return nil
	}
	if err := count("tags", len(tags), 1, 200); err != nil {
		return err
	}
	for k, v := range tags {
		if err := validTagKey(k); err != nil {
			return err
		}
		if err := length("tags", v, 0, 256); err != nil {
			return err
		}
	}
	return nil
}

func validTagKey(k string) error {
	if err := length("tagKeys", k, 1, 128); err != nil {
		return err
	}
	if strings.HasPrefix(strings.ToLower(k), "aws:") {
		return invalidParam("tags", fmt.Errorf("tag key %q uses the reserved aws: prefix", truncate(k, 64)))
	}
	return nil
}

// name pattern of filters: [A-Za-z0-9._-], 3 to 64 characters.
func validFilterName(s string) error {
	if err := length("name", s, 3, 64); err != nil {
		return err
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return invalidParam("name", fmt.Errorf("%q has characters outside [A-Za-z0-9._-]", truncate(s, 64)))
		}
	}
	return nil
}

// validListName checks a list's name: 1 to 300 letters, digits, spaces,
// '-' and '_'.
func validListName(s string) error {
	if err := length("name", s, 1, 300); err != nil {
		return err
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != ' ' && c != '-' && c != '_' {
			return invalidParam("name", fmt.Errorf("%q has characters other than letters, digits, spaces, '-' and '_'", truncate(s, 64)))
		}
	}
	return nil
}

// validPath accepts a finding field path: dot-separated segments of
// letters, digits, '_' and '-', at most 512 characters.
func validPath(p string) bool {
	if p == "" || len(p) > 512 {
		return false
	}
	for part := range strings.SplitSeq(p, ".") {
		if part == "" {
			return false
		}
		for i := 0; i < len(part); i++ {
			if c := part[i]; !isAlnum(c) && c != '_' && c != '-' {
				return false
			}
		}
	}
	return true
}

// noControl rejects strings with control characters other than tab and
// newlines: they have no place in names, locations or comments.
func noControl(name, s string) error {
	for _, c := range s {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
			return invalidParam(name, errors.New("control character"))
		}
	}
	return nil
}
