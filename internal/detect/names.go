package detect

import (
	"bytes"
	"strings"
)

// FNV1a returns the 64-bit FNV-1a hash of b. It is the same in every
// process, so that hashes kept in a detector's saved state stay valid
// across restarts and machines.
func FNV1a[S string | []byte](b S) uint64 {
	h := uint64(14695981039346656037)
	for i := range len(b) {
		h ^= uint64(b[i])
		h *= 1099511628211
	}
	return h
}

// DomainSuffixes are domain names that each match themselves and their
// subdomains, for a detector's allowlist of queried names.
type DomainSuffixes [][]byte // each with a leading dot

// NewDomainSuffixes makes the suffixes of names, lower-cased without
// their outer dots; empty names are left out.
func NewDomainSuffixes(names []string) DomainSuffixes {
	var s DomainSuffixes
	for _, n := range names {
		n = strings.Trim(strings.ToLower(n), ".")
		if n != "" {
			s = append(s, []byte("."+n))
		}
	}
	return s
}

// Match reports whether name (lower case, no final dot) is one of the
// names or a subdomain of one.
func (s DomainSuffixes) Match(name []byte) bool {
	for _, a := range s {
		if bytes.HasSuffix(name, a) || bytes.Equal(name, a[1:]) {
			return true
		}
	}
	return false
}
