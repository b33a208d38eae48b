package intel

import (
	"fmt"
	"strings"
)

// CategoryTag is the tag of a ThreatIntelSet or threat entity set that
// declares the list's category, as its option category=CATEGORY does on
// the command line. Tags are how GuardDuty lets a caller attach data of
// its own to a list, so a GuardDuty client can set it unchanged.
const CategoryTag = "picket:category"

// categories are the categories a threat list may declare, each one a
// kind of domain intelligence that GuardDuty reports under its own DNS
// finding type; docs/detectors/dnsintel.md maps them to the types.
var categories = [...]string{
	"c2",           // command-and-control servers
	"blackhole",    // domains redirected to a black hole (sinkholed)
	"droppoint",    // drop points for stolen credentials and data
	"phishing",     // phishing sites
	"bitcoin-tool", // cryptocurrency mining and trading tools
	"abused",       // low-reputation domains on commonly abused services
	"bitcoin",      // low-reputation domains of cryptocurrency activity
	"malicious",    // low-reputation domains tied to known malicious ones
	"suspicious",   // low-reputation domains not tied to a known threat
}

// Categories returns the categories a threat list may declare.
func Categories() []string { return append([]string(nil), categories[:]...) }

// ParseCategory parses a category name, case-insensitively, "_" for "-"
// accepted; "" is no category.
func ParseCategory(s string) (string, error) {
	n := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "_", "-")
	if n == "" {
		return "", nil
	}
	for _, c := range categories {
		if n == c {
			return c, nil
		}
	}
	return "", fmt.Errorf("unknown threat list category %q (known: %s)", s, strings.Join(categories[:], ", "))
}
