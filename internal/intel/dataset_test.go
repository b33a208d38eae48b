package intel

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// datasets is where the real lists are: ../shared/datasets/intel next to
// the repository, or $PICKET_INTEL_DATASETS. Tests skip when it is absent;
// the lists are never copied into the repository.
func datasets(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("PICKET_INTEL_DATASETS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "datasets", "intel")
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("real lists not available (%v)", err)
	}
	return dir
}

type datasetWant struct {
	format    Format
	kind      Kind
	minEntry  int
	maxErrors int  // bad entries tolerated
	unusable  bool // no entry at all is the right answer
	// allowPrivate decodes with Options.AllowPrivate: examples that give
	// 10.0.0.0 as the C2 address.
	allowPrivate bool
	refuses      bool // the list names bogon networks, which are refused
}

// TestRealLists decodes every real list under the datasets folder, with
// the format detected from content, and checks what each gives.
func TestRealLists(t *testing.T) {
	dir := datasets(t)
	want := map[string]datasetWant{
		"abusech/feodotracker_ipblocklist_2024-04-04.csv": {format: FormatCSV, minEntry: 10},
		"firehol/firehol_level1_2019_noheader.netset":     {format: FormatTXT, minEntry: 4000, refuses: true}, // it lists the bogons
		"ipsum.txt.gz":                                         {format: FormatIPSum, minEntry: 10000},
		"maltrail/anonymous_web_proxy.txt":                     {format: FormatTXT, minEntry: 500},
		"maltrail/blockchain_dns.txt":                          {format: FormatTXT, minEntry: 5},
		"maltrail/crypto_mining.txt":                           {format: FormatTXT, minEntry: 1000},
		"maltrail/dns_tunneling_service.txt":                   {format: FormatTXT, minEntry: 5},
		"maltrail/dynamic_domain.txt":                          {format: FormatTXT, minEntry: 1000},
		"maltrail/ipinfo.txt":                                  {format: FormatTXT, minEntry: 100},
		"maltrail/mass_scanner.txt.gz":                         {format: FormatTXT, minEntry: 1000, maxErrors: 3}, // "C91.196.152.28" and two more typos
		"maltrail/mass_scanner_cidr.txt":                       {format: FormatTXT, minEntry: 500},
		"maltrail/onion.txt":                                   {format: FormatTXT, minEntry: 10},
		"stix2/apt1.json":                                      {format: FormatSTIX2, minEntry: 7},
		"stix2/indicator-for-c2-ip-address.json":               {format: FormatSTIX2, minEntry: 1, allowPrivate: true},
		"stix2/indicator-to-campaign-relationship.json":        {format: FormatSTIX2, minEntry: 1, allowPrivate: true},
		"stix2/indicators-for-C2-with-COA.json":                {format: FormatSTIX2, minEntry: 1, allowPrivate: true},
		"stix2/infrastructure.json":                            {format: FormatSTIX2, minEntry: 1},
		"stix2/interop-objectmarking-test.json":                {format: FormatSTIX2, unusable: true},
		"stix2/malicious-email-indicator-with-attachment.json": {format: FormatSTIX2, unusable: true},
		"stix2/poisonivy.json":                                 {format: FormatSTIX2, minEntry: 30, maxErrors: 1},
		"tor/tor_all_relays_2026-08-22.csv.gz":                 {format: FormatTorRelay, kind: KindTor, minEntry: 10000},
		"tor/tor_exit_nodes_2024-02-27.lst":                    {format: FormatTXT, minEntry: 1000},
		"tor/tor_exit_relays_2026-08-22.csv.gz":                {format: FormatTorRelay, kind: KindTor, minEntry: 5000},
	}
	var archives []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if strings.HasSuffix(rel, ".tar.gz") {
			archives = append(archives, p)
			return nil
		}
		w, ok := want[rel]
		if !ok {
			t.Errorf("%s: a list this test does not know; add it to the table", rel)
			return nil
		}
		delete(want, rel)
		t.Run(rel, func(t *testing.T) {
			l := decodeFile(t, p, Options{Name: DefaultName(rel), AllowPrivate: w.allowPrivate})
			checkReal(t, rel, l, w)
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for rel := range want {
		t.Errorf("%s: expected in the datasets but missing", rel)
	}
	for _, a := range archives {
		t.Run(filepath.Base(a), func(t *testing.T) { decodeArchive(t, a) })
	}
}

func decodeFile(t *testing.T, p string, opt Options) *decoded {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	opt.Location = p
	l, err := Decode(f, opt)
	return &decoded{l, err}
}

type decoded struct {
	*List
	err error
}

func checkReal(t *testing.T, rel string, d *decoded, w datasetWant) {
	t.Helper()
	l := d.List
	t.Logf("%-50s %-11s %7d entries (%d addresses, %d networks, %d ranges, %d domains, %d IPv6) %d skipped %d errors",
		rel, l.Format, l.Entries, l.Addresses, l.Networks, l.Ranges, l.Domains, l.IPv6, l.Skipped, l.Errors)
	for _, s := range l.Samples[:min(3, len(l.Samples))] {
		t.Logf("    %v", s)
	}
	if l.Format != w.format {
		t.Errorf("format %s, want %s", l.Format, w.format)
	}
	if (l.Refused > 0) != w.refuses {
		t.Errorf("%d entries refused (first: %v), want refused: %v", l.Refused, l.RefusedSample, w.refuses)
	}
	if l.Kind != w.kind {
		t.Errorf("kind %s, want %s", l.Kind, w.kind)
	}
	if w.unusable {
		var le *ListError
		if !errors.As(d.err, &le) {
			t.Errorf("got %v, want a ListError: the file has no address or domain indicators", d.err)
		}
		return
	}
	if d.err != nil {
		t.Fatalf("unusable: %v", d.err)
	}
	if l.Entries < w.minEntry {
		t.Errorf("%d entries, want at least %d", l.Entries, w.minEntry)
	}
	if l.Errors > w.maxErrors {
		t.Errorf("%d bad entries, want at most %d; first: %v", l.Errors, w.maxErrors, l.Samples[0])
	}
	if l.Incomplete != "" {
		t.Errorf("incomplete: %s", l.Incomplete)
	}
	// Every stored network is found again through a Set.
	s := Build([]*List{l})
	l.Each(func(e Entry) {
		if e.Domain != "" {
			if _, ok := s.ThreatDomain(e.Domain); !ok {
				t.Errorf("domain %s not found", e.Domain)
			}
			return
		}
		if _, ok := s.Threat(e.Prefix.Addr()); !ok {
			t.Errorf("%s not found", e.Prefix)
		}
	})
}

// decodeArchive decodes every list in a tar.gz of lists (FireHOL's
// ipsets, maltrail's malware trails): each must be usable, and bad
// entries must stay rare.
func decodeArchive(t *testing.T, p string) {
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var files, entries, errs, unusable, seen int
	var lists []*List
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if seen++; testing.Short() && seen%10 != 1 {
			continue // -short: one list in ten of the 2,953 malware trails
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files++
		l, err := Decode(bytes.NewReader(b), Options{Name: DefaultName(h.Name), Location: h.Name})
		if err != nil {
			unusable++
			t.Logf("%s: %v", h.Name, err)
			continue
		}
		entries += l.Entries
		errs += l.Errors
		lists = append(lists, l)
		if l.Errors > 0 && testing.Verbose() {
			t.Logf("%s: %s, %d entries, %d errors, first: %v", h.Name, l.Format, l.Entries, l.Errors, l.Samples[0])
		}
	}
	s := Build(lists)
	n4, _ := s.Size()
	t.Logf("%s: %d lists, %d entries, %d bad entries, %d unusable lists; %d distinct networks and domains", filepath.Base(p), files, entries, errs, unusable, n4)
	if files == 0 || entries == 0 {
		t.Fatal("no lists read")
	}
	if unusable > files/100 {
		t.Errorf("%d of %d lists unusable", unusable, files)
	}
	if errs*100 > entries {
		t.Errorf("%d bad entries of %d: more than 1%%", errs, entries)
	}
}

// TestRealTorListsDriveTorMatches loads the Tor relay CSV as a Tor list
// and a threat list together: relays match as Tor, with their ORPorts.
func TestRealTorListsDriveTorMatches(t *testing.T) {
	dir := datasets(t)
	relays := decodeFile(t, filepath.Join(dir, "tor", "tor_all_relays_2026-08-22.csv.gz"), Options{Name: "tor-relays", Kind: KindThreat})
	if relays.err != nil {
		t.Fatal(relays.err)
	}
	s := Build([]*List{relays.List})
	m, ok := s.Threat(netip.MustParseAddr("204.8.96.141"))
	if !ok || m.Kind != KindTor || m.List != "tor-relays" || !slices.Contains(m.Ports, 444) {
		t.Errorf("204.8.96.141: %+v %v, want a Tor match on port 444", m, ok)
	}
}
