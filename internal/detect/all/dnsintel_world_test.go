package all

import (
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"picket/internal/detect"
	"picket/internal/event"
)

// The domain side of conformanceIntel: a threat list that names
// listedDomain (and so its subdomains), and a trusted list that names one
// of those subdomains.
const (
	listedDomain  = "evil.example"
	trustedDomain = "safe.evil.example"
)

func domainUnder(name, domain string) bool {
	return name == domain || strings.HasSuffix(name, "."+domain)
}

func (in *prefixIntel) TrustedDomain(name string) bool { return domainUnder(name, trustedDomain) }

func (in *prefixIntel) ThreatDomain(name string) (detect.ThreatMatch, bool) {
	if !domainUnder(name, listedDomain) || in.TrustedDomain(name) {
		return detect.ThreatMatch{}, false
	}
	return detect.ThreatMatch{ListName: "bad-domains", ThreatNames: []string{"Phishing"}, FileSHA256: strings.Repeat("cd", 32), Category: "phishing"}, true
}

var dnsWorldOnce = sync.OnceValue(makeDNSWorld)

// dnsWorld is the input of the DNS detectors.
func dnsWorld(*testing.T) *world { return dnsWorldOnce() }

// makeDNSWorld is twenty minutes of Resolver queries from a few
// instances: ordinary names, names under a listed domain (some blocked by
// DNS Firewall, one under a trusted subdomain), and a name that rebinds
// to the metadata service. The flood queries listed names from many
// distinct source addresses.
func makeDNSWorld() *world {
	acct, region, vpc := event.Intern("123456789012"), event.Intern("us-east-1"), event.Intern("vpc-0dns")
	t0 := event.TimeOf(time.Date(2026, 3, 5, 12, 0, 0, 0, time.UTC))
	file := event.Intern("resolver.log")
	mk := func(out *[]event.Record, t event.Time, inst string, src netip.Addr, name string, answers ...netip.Addr) *event.DNSQuery {
		q := &event.DNSQuery{T: t, Account: acct, Region: region, VPC: vpc, Src: src, SrcPort: 53000, Protocol: event.ProtoUDP,
			Name: []byte(name), QType: event.DNSTypeA, QClass: 1, RCode: event.RCodeNoError,
			Origin: event.Origin{File: file, Line: int64(len(*out) + 1)}}
		if inst != "" {
			q.Instance = event.Intern(inst)
		}
		for _, a := range answers {
			q.Answers[q.NumAnswers] = event.DNSAnswer{Type: event.DNSTypeA, Class: 1, Addr: a}
			q.NumAnswers++
		}
		*out = append(*out, q)
		return q
	}
	var input []event.Record
	hosts := []string{"i-0web", "i-0app", "i-0db", ""}
	for i := range 240 {
		t := t0 + event.Time(i*5)
		h := hosts[i%len(hosts)]
		src := netip.AddrFrom4([4]byte{10, 0, 1, byte(10 + i%len(hosts))})
		switch {
		case i%17 == 3:
			q := mk(&input, t, h, src, "c2.evil.example", netip.MustParseAddr("203.0.113.80"))
			if i%2 == 1 {
				q.FirewallAction = event.Intern("BLOCK")
			}
		case i%29 == 5:
			mk(&input, t, h, src, "evil.example", netip.MustParseAddr("203.0.113.81"))
		case i%31 == 7:
			mk(&input, t, h, src, "cdn.safe.evil.example", netip.MustParseAddr("203.0.113.82"))
		case i%37 == 11:
			mk(&input, t, h, src, "rebind.attacker.example", netip.MustParseAddr("169.254.169.254"))
		case i%41 == 13:
			mk(&input, t, h, src, "instance-data.ec2.internal", netip.MustParseAddr("169.254.169.254"))
		default:
			mk(&input, t, h, src, "api.notevil.example", netip.MustParseAddr("198.51.100.20"))
		}
		if i%8 == 1 { // a DGA's search (dga): i-0app tries generated names, two in three unanswered
			if q := mk(&input, t, "i-0app", netip.AddrFrom4([4]byte{10, 0, 1, 11}), tunnelLabel(1000 + i)[:10]+".com", netip.MustParseAddr("203.0.113.90")); i%3 != 0 {
				q.RCode, q.NumAnswers = event.RCodeNXDomain, 0
			}
		}
		if i < 200 {
			// A tunnel: i-0db sends data in base32 labels of a domain of
			// its own, one query every five seconds.
			mk(&input, t, "i-0db", netip.AddrFrom4([4]byte{10, 0, 1, 12}), tunnelLabel(i)+".t.tunnel.example")
		}
	}
	var flood []event.Record
	n := 10 * conformanceMaxKeys
	for i := range n {
		t := t0 + event.Time(i*120/n)
		src := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		mk(&flood, t, "", src, "x"+strconv.Itoa(i)+".evil.example")
		mk(&flood, t, "", src, tunnelLabel(i)[:10]+".com") // a generated name (dga)
		if i%3 == 0 {
			mk(&flood, t, "", src, "r.attacker.example", netip.MustParseAddr("169.254.169.254"))
		}
	}
	return &world{input: input, flood: flood, intel: conformanceIntel}
}

// tunnelLabel is the i-th label of the world's tunnel: 40 characters of
// base32 from a fixed pseudo-random sequence.
func tunnelLabel(i int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	x := uint64(i)*0x9e3779b97f4a7c15 + 1
	b := make([]byte, 40)
	for k := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[k] = alphabet[x%32]
	}
	return string(b)
}
