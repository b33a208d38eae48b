package detect

import (
	"net/netip"

	"picket/internal/finding"
)

// Intel answers threat-intelligence questions about addresses for the
// detectors. Lookups never fail and never block; a host without loaded
// lists passes a nil Intel.
type Intel interface {
	// Trusted reports whether addr is on a trusted list: activity from a
	// trusted address raises no finding.
	Trusted(addr netip.Addr) bool
	// Threat returns what the threat lists say about addr, if any names it.
	// Lists of Tor relays answer too, with Kind ThreatTor; an address on a
	// trusted list has no threat.
	Threat(addr netip.Addr) (ThreatMatch, bool)
}

// ThreatMatch is what threat intelligence knows of an address: the list
// that named it, the threats the list gives for it, and the list file's
// SHA-256.
type ThreatMatch struct {
	ListName    string
	ThreatNames []string
	FileSHA256  string
	// Kind tells a custom threat list from a list of Tor relays; the zero
	// value is a threat list. When both kinds name an address, Threat
	// returns the threat list's match.
	Kind ThreatKind
	// Purpose, Score and Ports are what the list says of the entry when
	// its format carries them (a category, the list's own rating, a Tor
	// relay's ORPort); zero otherwise.
	Purpose string
	Score   float64
	Ports   []uint16
	// Category is what the list declares all its entries to be
	// ("c2", "phishing", ...: intel.ParseCategory), "" when it declares
	// nothing; DNS detectors choose the finding type by it.
	Category string
}

// ThreatKind is the kind of list a ThreatMatch comes from.
type ThreatKind uint8

// The kinds of threat list.
const (
	ThreatCustom ThreatKind = iota // a user's threat list (findings end in .Custom)
	ThreatTor                      // a list of Tor relays and exit nodes
)

func (k ThreatKind) String() string {
	if k == ThreatTor {
		return "tor"
	}
	return "custom"
}

// Detail returns the match as an entry of a finding's
// service.evidence.threatIntelligenceDetails.
func (m ThreatMatch) Detail() finding.ThreatIntelligenceDetail {
	names := m.ThreatNames
	if names == nil {
		names = []string{}
	}
	return finding.ThreatIntelligenceDetail{ThreatListName: m.ListName, ThreatNames: append([]string(nil), names...), ThreatFileSha256: m.FileSHA256}
}

// ThreatEvidence looks addrs up and returns the evidence for the custom
// threat lists that name any of them, and the first match; nil when none
// does (or in is nil). Detectors call it when they build a finding, never
// per record.
func ThreatEvidence(in Intel, addrs ...netip.Addr) (*finding.Evidence, *ThreatMatch) {
	if in == nil {
		return nil, nil
	}
	var ev *finding.Evidence
	var first *ThreatMatch
	for _, a := range addrs {
		m, ok := in.Threat(a)
		if !ok || m.Kind != ThreatCustom {
			continue
		}
		if ev == nil {
			ev, first = &finding.Evidence{}, &m
		}
		dup := false
		for _, d := range ev.ThreatIntelligenceDetails {
			dup = dup || d.ThreatListName == m.ListName
		}
		if !dup {
			ev.ThreatIntelligenceDetails = append(ev.ThreatIntelligenceDetails, m.Detail())
		}
	}
	return ev, first
}

// DomainIntel is implemented by an Intel that also holds domain lists;
// DNS detectors find it by type assertion. A domain matches the listed
// domain and its subdomains; trusted wins over threat.
type DomainIntel interface {
	TrustedDomain(name string) bool
	ThreatDomain(name string) (ThreatMatch, bool)
}
