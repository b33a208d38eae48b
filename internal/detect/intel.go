package detect

import "net/netip"

// Intel answers threat-intelligence questions about addresses for the
// detectors. Lookups never fail and never block; a host without loaded
// lists passes a nil Intel.
type Intel interface {
	// Trusted reports whether addr is on a trusted list: activity from a
	// trusted address raises no finding.
	Trusted(addr netip.Addr) bool
	// Threat returns what the threat lists say about addr, if any names it.
	Threat(addr netip.Addr) (ThreatMatch, bool)
}

// ThreatMatch is what threat intelligence knows of an address: the list
// that named it, the threats the list gives for it, and the list file's
// SHA-256.
type ThreatMatch struct {
	ListName    string
	ThreatNames []string
	FileSHA256  string
}
