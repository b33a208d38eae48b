// Package intel owns threat intelligence: threat lists, trusted lists and
// lists of Tor relays, in every format GuardDuty takes (TXT, STIX, OTX_CSV,
// ALIEN_VAULT, PROOF_POINT, FIRE_EYE) plus STIX 2.x bundles, the Tor
// Project's exit list and relay CSVs, FireHOL ipsets and netsets, ipsum
// and CSV blocklists such as abuse.ch's. It decodes a list into its
// entries (IPv4 and IPv6 addresses, networks, ranges and domains, each
// with the list's name and what the format says of it: threat names,
// purpose, score, ports), reports every bad entry with its line, builds
// the immutable lookup table of a set of lists (a bart routing table for
// addresses, a suffix map for domains), and keeps the current table behind
// an atomic pointer while a Loader refreshes the lists off the hot path.
//
// Lookups never fail, never block and never allocate. The package imports
// the standard library and bart only (lru is allowed); where list bytes
// come from (files, HTTP, S3) is a FetchFunc the composition root supplies
// (intel/fetch implements it), and detectors consult the lists through
// detect.Intel, which the composition root adapts a Loader to.
package intel

import (
	"fmt"
	"net/netip"
	"strings"
)

// Kind says what a list is for.
type Kind uint8

// The kinds of list.
const (
	// KindThreat lists addresses and domains to raise findings for (a
	// GuardDuty ThreatIntelSet or threat entity list).
	KindThreat Kind = iota
	// KindTrusted lists addresses and domains that raise no finding (an
	// IPSet or trusted entity list). Trusted wins over threat.
	KindTrusted
	// KindTor lists Tor relays and exit nodes.
	KindTor
)

var kindNames = [...]string{"threat", "trusted", "tor"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// ParseKind parses "threat", "trusted" or "tor".
func ParseKind(s string) (Kind, error) {
	for i, n := range kindNames {
		if strings.EqualFold(s, n) {
			return Kind(i), nil
		}
	}
	return 0, fmt.Errorf("unknown list kind %q (want threat, trusted or tor)", s)
}

// TorNodes says which Tor nodes a Tor list names. Every exit node is a
// relay, but few relays are exits: a list of all relays describes an
// address as a relay, not as an exit node.
type TorNodes uint8

// What a Tor list names.
const (
	// TorUnknown: the list does not say (a plain list of addresses given
	// as a Tor list); it may hold every relay or the exits only.
	TorUnknown TorNodes = iota
	// TorRelays: every relay of the network, exits among them (a relay
	// CSV, a consensus).
	TorRelays
	// TorExits: exit nodes only (the Tor Project's exit list).
	TorExits
)

var torNodesNames = [...]string{"unknown", "relays", "exits"}

func (t TorNodes) String() string {
	if int(t) < len(torNodesNames) {
		return torNodesNames[t]
	}
	return fmt.Sprintf("tornodes(%d)", t)
}

// MarshalText writes the name, so that reports read "exits" in JSON.
func (t TorNodes) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// ParseTorNodes parses "relays" or "exits" ("relay", "exit" and
// "unknown" too).
func ParseTorNodes(s string) (TorNodes, error) {
	switch strings.ToLower(s) {
	case "unknown", "":
		return TorUnknown, nil
	case "relays", "relay":
		return TorRelays, nil
	case "exits", "exit":
		return TorExits, nil
	}
	return TorUnknown, fmt.Errorf("unknown Tor node kind %q (want relays or exits)", s)
}

// Purpose is how findings describe an address on a list of such nodes:
// "Tor exit node", "Tor relay", or "Tor relay or exit node" when the list
// does not say.
func (t TorNodes) Purpose() string {
	switch t {
	case TorRelays:
		return "Tor relay"
	case TorExits:
		return "Tor exit node"
	}
	return "Tor relay or exit node"
}

// Format is a list's file format.
type Format uint8

// The formats. The first six are GuardDuty's names; STIX covers STIX 1.x
// XML and STIX2 the 2.x JSON bundles (given STIX, the decoder reads either).
const (
	FormatUnknown    Format = iota
	FormatTXT               // one IP, network, range, domain or URL per line; # comments
	FormatSTIX              // STIX 1.x XML with CybOX Address, DomainName and URI objects
	FormatSTIX2             // STIX 2.x JSON: indicator patterns and cyber observables
	FormatOTXCSV            // AlienVault OTX CSV export: Indicator type, Indicator, Description
	FormatAlienVault        // AlienVault IP reputation: ip#reliability#risk#activity#...
	FormatProofPoint        // Proofpoint ET Intelligence CSV: ip, category, score, ..., ports
	FormatFireEye           // FireEye iSIGHT CSV with ip, cidr, sourceIp, domain and url columns
	FormatTorExit           // the Tor Project's exit list: ExitNode / ExitAddress lines
	FormatTorRelay          // Tor relay CSV: fingerprint, ipaddr, port
	FormatFireHOL           // FireHOL ipset or netset: TXT with a header of # Key: value lines
	FormatIPSum             // ipsum: IP <TAB> number of blocklists naming it
	FormatCSV               // a CSV with a header naming an IP, domain or URL column (abuse.ch)
	numFormats
)

var formatNames = [numFormats]string{"UNKNOWN", "TXT", "STIX", "STIX2", "OTX_CSV", "ALIEN_VAULT", "PROOF_POINT", "FIRE_EYE", "TOR_EXIT", "TOR_RELAY", "FIREHOL", "IPSUM", "CSV"}

func (f Format) String() string {
	if f < numFormats {
		return formatNames[f]
	}
	return fmt.Sprintf("format(%d)", f)
}

// Formats returns the names of the formats a list may be given in.
func Formats() []string { return append([]string(nil), formatNames[1:]...) }

// ParseFormat parses a format name, case-insensitively; "-" and "_" are
// interchangeable ("otx-csv"), and "" or "auto" means detect from content.
func ParseFormat(s string) (Format, error) {
	if s == "" || strings.EqualFold(s, "auto") {
		return FormatUnknown, nil
	}
	n := strings.ReplaceAll(strings.ToUpper(s), "-", "_")
	switch n {
	case "PLAINTEXT", "PLAIN":
		return FormatTXT, nil
	case "OTX":
		return FormatOTXCSV, nil
	case "ALIENVAULT":
		return FormatAlienVault, nil
	case "PROOFPOINT":
		return FormatProofPoint, nil
	case "FIREEYE":
		return FormatFireEye, nil
	case "IPSET", "NETSET":
		return FormatFireHOL, nil
	}
	for i, name := range formatNames[1:] {
		if n == name {
			return Format(i + 1), nil
		}
	}
	return FormatUnknown, fmt.Errorf("unknown list format %q (known: %s)", s, strings.Join(Formats(), ", "))
}

// Info is what a list says of one entry, when its format carries it.
// Entries that say the same share one Info.
type Info struct {
	// ThreatNames names the threats, such as a malware family or an
	// activity ("Scanning Host").
	ThreatNames []string
	// Purpose is the kind of activity or infrastructure, such as
	// "command-and-control" or "Tor relay".
	Purpose string
	// Score is the list's own rating: the Proofpoint score, the AlienVault
	// risk, the number of blocklists for ipsum. Zero means none.
	Score float64
	// Ports are the ports the list gives for the entry: a Tor relay's
	// ORPort, the ports Proofpoint saw.
	Ports []uint16
}

// Match is what the lists say of an address or domain: the list that
// named it and its entry's Info. Matches are shared by every lookup that
// finds them and must not be changed.
type Match struct {
	List   string // the list's name
	Kind   Kind   // KindThreat or KindTor
	SHA256 string // of the list's bytes, hex
	// Tor says, for KindTor, which Tor nodes the list names, and Purpose
	// says the same in words ("Tor exit node", "Tor relay", "Tor relay
	// or exit node"), for findings to describe the address by.
	Tor TorNodes
	// Category is the category the threat list declares for all its
	// entries (ParseCategory), "" when it declares none.
	Category string
	Info
}

// unmap returns a without an IPv4-in-IPv6 mapping.
func unmap(a netip.Addr) netip.Addr {
	if a.Is4In6() {
		return a.Unmap()
	}
	return a
}
