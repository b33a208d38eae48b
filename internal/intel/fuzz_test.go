package intel

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Each decoder has a fuzz target (go test -fuzz FuzzTXT ./internal/intel,
// and so on). The properties, for any input:
//
//   - decoding never panics and always returns the list;
//   - the counts add up: every stored network and domain comes from a
//     counted entry, and a list without entries is a ListError;
//   - every stored network is canonical (masked), and a Set built from the
//     list finds every stored network and domain again (differential: the
//     routing table against the list it was built from);
//   - the stored entries written back as a TXT list decode to the same
//     entries (round trip).
func fuzzDecoder(f *testing.F, format Format, files []string, seeds ...string) {
	// Seed corpus: the golden lists of the format, and the edge cases
	// given by each target.
	for _, name := range files {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data, format)
	})
}

func checkDecode(t *testing.T, data []byte, format Format) {
	l, err := Decode(bytes.NewReader(data), Options{Name: "fuzz", Location: "fuzz", Format: format})
	if l == nil {
		t.Fatal("no list")
	}
	if l.Entries == 0 && err == nil {
		t.Fatal("a list without entries must be an error")
	}
	if err != nil {
		return
	}
	if l.Addresses+l.Networks+l.Ranges+l.Domains != l.Entries {
		t.Fatalf("entries %d != %d+%d+%d+%d", l.Entries, l.Addresses, l.Networks, l.Ranges, l.Domains)
	}
	if len(l.prefixes) < l.Addresses+l.Networks || len(l.domains) != l.Domains {
		t.Fatalf("stored %d networks and %d domains for %+v", len(l.prefixes), len(l.domains), l.Report)
	}
	s := Build([]*List{l})
	var txt bytes.Buffer
	l.Each(func(e Entry) {
		if e.Domain != "" {
			if _, ok := s.ThreatDomain(e.Domain); !ok {
				t.Fatalf("domain %q not found", e.Domain)
			}
			if _, ok := s.ThreatDomain("sub." + e.Domain); !ok && len(e.Domain) < 250 {
				t.Fatalf("subdomain of %q not found", e.Domain)
			}
			if !strings.Contains(e.Domain, ".") {
				txt.WriteByte('.') // a top-level domain is listed as ".tk"
			}
			txt.WriteString(e.Domain + "\n")
			return
		}
		if !e.Prefix.IsValid() || e.Prefix.Masked() != e.Prefix || e.Prefix.Addr().Is4In6() {
			t.Fatalf("stored %v", e.Prefix)
		}
		if _, ok := s.Threat(e.Prefix.Addr()); !ok {
			t.Fatalf("%v not found", e.Prefix)
		}
		txt.WriteString(e.Prefix.String() + "\n")
	})
	// Round trip through TXT.
	again, err := Decode(&txt, Options{Name: "again", Format: FormatTXT})
	if err != nil {
		t.Fatalf("stored entries do not decode as TXT: %v", err)
	}
	if again.Len() != l.Len() || again.Errors != 0 {
		t.Fatalf("round trip: %d entries (%d errors), want %d", again.Len(), again.Errors, l.Len())
	}
}

func FuzzDetect(f *testing.F) {
	fuzzDecoder(f, FormatUnknown, []string{"txt.txt", "stix1.xml", "stix2.json", "otx.csv", "alienvault.txt", "proofpoint.csv", "fireeye.csv", "tor-exit.txt", "tor-relays.csv", "firehol.netset", "ipsum.txt", "abusech.csv"},
		"",                 // empty
		"\x1f\x8b\x08\x00", // a gzip header and nothing else
		"# ipv4 hash:ip ipset\n10.0.0.1\n")
}

func FuzzTXT(f *testing.F) {
	fuzzDecoder(f, FormatTXT, []string{"txt.txt"},
		"192.0.2.1-192.0.2.0\n",   // a range backwards
		"0.0.0.0-255.255.255.255", // everything, no newline
		"::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff\n",
		"a.b\r\n*.c.d\r\n.e\r\n",
		"http://[::1]:99999/\n")
}

func FuzzFireHOL(f *testing.F) {
	fuzzDecoder(f, FormatFireHOL, []string{"firehol.netset"}, "# Category : x\n# Category:\n1.2.3.4\n")
}

func FuzzIPSum(f *testing.F) {
	fuzzDecoder(f, FormatIPSum, []string{"ipsum.txt"}, "192.0.2.1\t1e308\n192.0.2.2\tNaN\n192.0.2.3\n")
}

func FuzzSTIX1(f *testing.F) {
	fuzzDecoder(f, FormatSTIX, []string{"stix1.xml"},
		`<a><Properties category="ipv4-addr"><Address_Value condition="InclusiveBetween">1.1.1.1##comma##1.1.1.0</Address_Value></Properties></a>`,
		`<?xml version="1.0" encoding="ISO-8859-1"?><x/>`,
		`<Indicator><Title>t</Title><Observable idref="o"/></Indicator><Observable id="o"><Properties><Address_Value>10.0.0.1</Address_Value></Properties></Observable>`)
}

func FuzzSTIX2(f *testing.F) {
	fuzzDecoder(f, FormatSTIX2, []string{"stix2.json"},
		`{"type":"indicator","pattern":"[ipv4-addr:value = '10.0.0.1']"}`,
		`[{"type":"indicator","pattern":"[url:value IN ('http://a.b/', 'c.d')]"}]`,
		`{"type":"bundle","objects":[{"type":"indicator","pattern":"[ipv4-addr:value = '\\'']"}]}`,
		`{"objects":5}`)
}

func FuzzOTXCSV(f *testing.F) {
	fuzzDecoder(f, FormatOTXCSV, []string{"otx.csv"}, "IPv4,10.0.0.1\nCIDR, 10.0.0.0/8, \"a \"\"quoted\"\" name\"\n")
}

func FuzzAlienVault(f *testing.F) {
	fuzzDecoder(f, FormatAlienVault, []string{"alienvault.txt"}, "10.0.0.1#\n10.0.0.2###;;#\n")
}

func FuzzProofPoint(f *testing.F) {
	fuzzDecoder(f, FormatProofPoint, []string{"proofpoint.csv"}, "10.0.0.1,1,1,,,99999|0|x\n")
}

func FuzzFireEye(f *testing.F) {
	fuzzDecoder(f, FormatFireEye, []string{"fireeye.csv"}, "ip,cidr\n\"10.0.0.1\n,\"10.0.0.0/8\n")
}

func FuzzTorExit(f *testing.F) {
	fuzzDecoder(f, FormatTorExit, []string{"tor-exit.txt"}, "ExitAddress 10.0.0.1\nExitAddress  \n")
}

func FuzzTorRelay(f *testing.F) {
	fuzzDecoder(f, FormatTorRelay, []string{"tor-relays.csv"}, "fingerprint,ipaddr,port\nX,10.0.0.1,0\nY,[::1]:9001,\n")
}

func FuzzCSV(f *testing.F) {
	fuzzDecoder(f, FormatCSV, []string{"abusech.csv"}, "# id,dateadded,url,threat\n1,2,http://a.b/c,malware_download\n")
}

// FuzzParseIndicator checks that an accepted entry, written in canonical
// form, parses back to itself, and that a range's networks cover exactly
// the range.
func FuzzParseIndicator(f *testing.F) {
	for _, s := range []string{"192.0.2.1", "2001:db8::/32", "10.0.0.1-10.0.0.77", "::ffff:1.2.3.4", "Ex.COM.", "http://[::1]/", "a.b:80",
		".0.0.0.0-0",   // a broken range behind a suffix mark, once taken for a domain (issue 12)
		"*.10.0.0.1-5", // the same behind "*."
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ind, why := parseIndicator([]byte(s))
		if why != "" {
			return
		}
		var canon string
		switch ind.kind {
		case indDomain:
			canon = ind.domain
			if !strings.Contains(canon, ".") {
				canon = "." + canon
			}
			if strings.ToLower(canon) != canon {
				t.Fatalf("%q: domain %q not lowercase", s, canon)
			}
		case indAddr, indPrefix:
			canon = ind.prefix.String()
		case indRange:
			ps := rangePrefixes(nil, ind.lo, ind.hi)
			if len(ps) > 2*ind.lo.BitLen() {
				t.Fatalf("%q: %d networks", s, len(ps))
			}
			next := ind.lo
			for _, p := range ps {
				if p.Addr() != next {
					t.Fatalf("%q: gap before %v", s, p)
				}
				next = lastAddr(p).Next()
			}
			if last := lastAddr(ps[len(ps)-1]); last != ind.hi {
				t.Fatalf("%q: ends at %v, want %v", s, last, ind.hi)
			}
			canon = ind.lo.String() + "-" + ind.hi.String()
		}
		again, why := parseIndicator([]byte(canon))
		if why != "" {
			t.Fatalf("%q -> %q: %s", s, canon, why)
		}
		again.port, ind.port = 0, 0
		if again != ind && (ind.kind != indAddr || again.kind != indAddr || again.prefix != ind.prefix) {
			t.Fatalf("%q -> %q -> %+v, want %+v", s, canon, again, ind)
		}
		if ind.kind != indDomain {
			if _, err := netip.ParsePrefix(ind.prefix.String()); ind.kind != indRange && err != nil {
				t.Fatal(err)
			}
		}
	})
}

// FuzzParseAddr checks the allocation-free IPv4 parser against
// netip.ParseAddr (differential).
func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{"192.0.2.1", "0.0.0.0", "01.2.3.4", "1.2.3", "256.1.1.1", "::1", "1.2.3.4.5", "1..2.3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseAddr([]byte(s))
		want, err := netip.ParseAddr(s)
		if ok != (err == nil) || ok && got != want {
			t.Fatalf("parseAddr(%q) = %v %v, netip says %v %v", s, got, ok, want, err)
		}
	})
}
