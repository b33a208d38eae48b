package intel

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden is what a golden file records of a decoded list.
type golden struct {
	Format     string   `json:"format"`
	Kind       string   `json:"kind"`
	Entries    int      `json:"entries"`
	Addresses  int      `json:"addresses"`
	Networks   int      `json:"networks"`
	Ranges     int      `json:"ranges"`
	Domains    int      `json:"domains"`
	IPv6       int      `json:"ipv6"`
	Skipped    int      `json:"skipped"`
	Refused    []string `json:"refused,omitempty"` // the count and the first
	Tor        string   `json:"tor,omitempty"`
	Errors     []string `json:"errors"`
	Incomplete string   `json:"incomplete,omitempty"`
	Stored     []string `json:"stored"`
}

func goldenOf(l *List) golden {
	g := golden{
		Format: l.Format.String(), Kind: l.Kind.String(), Entries: l.Entries, Addresses: l.Addresses, Networks: l.Networks,
		Ranges: l.Ranges, Domains: l.Domains, IPv6: l.IPv6, Skipped: l.Skipped, Incomplete: l.Incomplete,
		Errors: []string{}, Stored: []string{},
	}
	for _, e := range l.Samples {
		g.Errors = append(g.Errors, e.Error())
	}
	if l.Refused > 0 {
		g.Refused = []string{strconv.Itoa(l.Refused), l.RefusedSample.Error()}
	}
	if l.Kind == KindTor {
		g.Tor = l.Tor.String()
	}
	l.Each(func(e Entry) {
		g.Stored = append(g.Stored, describeEntry(e))
	})
	return g
}

func describeEntry(e Entry) string {
	var b strings.Builder
	if e.Domain != "" {
		b.WriteString(e.Domain)
	} else {
		b.WriteString(e.Prefix.String())
	}
	if len(e.Info.ThreatNames) > 0 {
		b.WriteString(" names=" + strings.Join(e.Info.ThreatNames, "|"))
	}
	if e.Info.Purpose != "" {
		b.WriteString(" purpose=" + e.Info.Purpose)
	}
	if e.Info.Score != 0 {
		b.WriteString(" score=" + strconv.FormatFloat(e.Info.Score, 'g', -1, 64))
	}
	for i, p := range e.Info.Ports {
		if i == 0 {
			b.WriteString(" ports=")
		} else {
			b.WriteByte('|')
		}
		b.WriteString(strconv.Itoa(int(p)))
	}
	return b.String()
}

// TestGolden decodes each list in testdata, written by hand after the
// examples of the formats' documentation, with the format detected from
// the content, and compares what it stored and reported with the golden
// file; -update rewrites the golden files.
func TestGolden(t *testing.T) {
	tests := []struct {
		file   string
		format Format
	}{
		{"txt.txt", FormatTXT},
		{"stix1.xml", FormatSTIX},
		{"stix2.json", FormatSTIX2},
		{"otx.csv", FormatOTXCSV},
		{"alienvault.txt", FormatAlienVault},
		{"proofpoint.csv", FormatProofPoint},
		{"fireeye.csv", FormatFireEye},
		{"tor-exit.txt", FormatTorExit},
		{"tor-relays.csv", FormatTorRelay},
		{"firehol.netset", FormatFireHOL},
		{"ipsum.txt", FormatIPSum},
		{"abusech.csv", FormatCSV},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			l, err := Decode(bytes.NewReader(b), Options{Name: DefaultName(tt.file), Location: tt.file})
			if err != nil {
				t.Fatal(err)
			}
			if l.Format != tt.format || !l.Detected {
				t.Errorf("detected %s, want %s", l.Format, tt.format)
			}
			// The same list given its format decodes the same.
			given, err := Decode(bytes.NewReader(b), Options{Name: DefaultName(tt.file), Location: tt.file, Format: tt.format})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(goldenOf(l), goldenOf(given)); diff != "" {
				t.Errorf("detected and given formats differ (-detected +given):\n%s", diff)
			}
			got, _ := json.MarshalIndent(goldenOf(l), "", "  ")
			got = append(got, '\n')
			path := filepath.Join("testdata", strings.TrimSuffix(tt.file, filepath.Ext(tt.file))+".golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/intel -run TestGolden -update)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s differs (-want +got):\n%s", path, diff)
			}
		})
	}
}

// TestGzipIsTransparent checks that a gzip-compressed list decodes as
// the plain one, with the hash of the bytes as fetched.
func TestGzipIsTransparent(t *testing.T) {
	plain, err := os.ReadFile(filepath.Join("testdata", "otx.csv"))
	if err != nil {
		t.Fatal(err)
	}
	zipped := gzipBytes(t, plain)
	a, err := Decode(bytes.NewReader(plain), Options{Name: "otx"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Decode(bytes.NewReader(zipped), Options{Name: "otx"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(goldenOf(a), goldenOf(b)); diff != "" {
		t.Error(diff)
	}
	if a.SHA256 == b.SHA256 || b.Bytes != int64(len(zipped)) {
		t.Errorf("hash and size should be of the bytes as fetched: %s %d", b.SHA256, b.Bytes)
	}
}

func TestParseIndicator(t *testing.T) {
	tests := []struct {
		in   string
		want string // stored networks or domain, or "error: reason"
	}{
		{"192.0.2.1", "192.0.2.1/32"},
		{" 192.0.2.1 ", "192.0.2.1/32"},
		{"::ffff:192.0.2.1", "192.0.2.1/32"},
		{"::ffff:192.0.2.0/120", "192.0.2.0/24"},
		{"2001:db8::1", "2001:db8::1/128"},
		{"192.0.2.7/24", "192.0.2.0/24"},
		{"192.0.2.0/255.255.255.0", "192.0.2.0/24"},
		{"192.0.2.0/255.0.255.0", "error: " + reasonBadPrefix},
		{"192.0.2.0/33", "error: " + reasonBadPrefix},
		{"192.0.2.0-192.0.2.255", "192.0.2.0/24"},
		{"192.0.2.1 - 192.0.2.6", "192.0.2.1/32 192.0.2.2/31 192.0.2.4/31 192.0.2.6/32"},
		{"0.0.0.0-255.255.255.255", "0.0.0.0/0"},
		{"2001:db8::-2001:db8::ffff", "2001:db8::/112"},
		{"192.0.2.5-192.0.2.5", "192.0.2.5/32"},
		{"192.0.2.9-192.0.2.1", "error: " + reasonRangeOrder},
		{"192.0.2.1-2001:db8::1", "error: " + reasonFamilyMix},
		{"dead-beef.cafe", "dead-beef.cafe"},
		{"Example.COM.", "example.com"},
		{"*.example.com", "example.com"},
		{".tk", "tk"},
		{"tk", "error: " + reasonNotEntry},
		{"1.2.3", "error: " + reasonNotEntry},
		{"exa mple.com", "error: " + reasonNotEntry},
		{"bücher.example", "error: " + reasonNonASCII},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"https://user:pw@Evil.example:8443/a?b#c", "evil.example"},
		{"http://[2001:db8::5]:80/", "2001:db8::5/128"},
		{"hxxp://192.0.2.4/x", "192.0.2.4/32"},
		{"evil.example/gate.php", "evil.example"},
		{"192.0.2.8:8080", "192.0.2.8/32"},
		{"192.0.2.8:80800", "error: " + reasonNotEntry},
		{"[2001:db8::8]:443", "2001:db8::8/128"},
		{"fe80::1%eth0", "error: " + reasonZone},
		{"/gate.php", "error: " + reasonPath},
		{"http:///x", "error: " + reasonBadURL},
		{"", "error: " + reasonEmpty},
		// issue 12: a broken range behind a suffix mark is no domain
		{".10.0.0.1-5", "error: " + reasonBadRange},
		{"*.10.0.0.1-5", "error: " + reasonBadRange},
		{".0.0.0.0-0", "error: " + reasonBadRange},
		{".dead-beef.cafe", "dead-beef.cafe"},
	}
	for _, tt := range tests {
		ind, why := parseIndicator([]byte(tt.in))
		got := "error: " + why
		if why == "" {
			switch ind.kind {
			case indDomain:
				got = ind.domain
			case indRange:
				var ps []string
				for _, p := range rangePrefixes(nil, ind.lo, ind.hi) {
					ps = append(ps, p.String())
				}
				got = strings.Join(ps, " ")
			default:
				got = ind.prefix.String()
			}
		}
		if got != tt.want {
			t.Errorf("parseIndicator(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestMalformedLists feeds lists that are broken in each way a list can
// be: each gets a clear report, and none stops the process.
func TestMalformedLists(t *testing.T) {
	otx, _ := os.ReadFile(filepath.Join("testdata", "otx.csv"))
	stix2, _ := os.ReadFile(filepath.Join("testdata", "stix2.json"))
	stix1, _ := os.ReadFile(filepath.Join("testdata", "stix1.xml"))
	tests := []struct {
		name       string
		data       []byte
		format     Format
		unusable   string // the ListError says this, or "" if usable
		incomplete string // Report.Incomplete says this
	}{
		{"empty", nil, FormatUnknown, "the list is empty", ""},
		{"only comments", []byte("# nothing\n# here\n"), FormatUnknown, "only comments", ""},
		{"prose", []byte("Dear user,\nthis is not a list.\n"), FormatUnknown, `the first data line is no entry of any known format: "Dear user,"`, ""},
		{"binary", []byte("\x00\x01\x02\x03garbage"), FormatUnknown, "the content is binary", ""},
		{"wrong format given", otx, FormatAlienVault, "no usable entries in 11 line(s) read as ALIEN_VAULT; 11 bad entries, the first: bad:1:", ""},
		{"every line bad", []byte("nope\nnada\n"), FormatTXT, "no usable entries in 2 line(s) read as TXT; 2 bad entries", ""},
		{"gzip cut in its header", gzipBytes(t, otx)[:60], FormatUnknown, "unreadable: unexpected EOF", ""},
		{"truncated gzip", truncatedGzip(t), FormatUnknown, "", "reading stopped after line"},
		{"truncated JSON", stix2[:len(stix2)/2], FormatUnknown, "", "JSON unreadable at line"},
		{"truncated XML", stix1[:len(stix1)*2/3], FormatUnknown, "", "XML unreadable at line"},
		{"JSON that is not STIX", []byte(`"just a string"`), FormatSTIX2, "JSON is not a STIX bundle", ""},
		{"a line of 1 MB", append(bytes.Repeat([]byte("a"), 1<<20), "\n192.0.2.1\n"...), FormatTXT, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Decode(bytes.NewReader(tt.data), Options{Name: "bad", Location: "bad", Format: tt.format})
			if l == nil {
				t.Fatal("no list returned")
			}
			var le *ListError
			switch {
			case tt.unusable != "":
				if !errors.As(err, &le) || !strings.Contains(err.Error(), tt.unusable) {
					t.Errorf("got %v, want a ListError saying %q", err, tt.unusable)
				}
				if err != nil && !strings.Contains(err.Error(), `"bad"`) {
					t.Errorf("error does not name the list: %v", err)
				}
			case err != nil && tt.incomplete == "":
				t.Errorf("unexpected error: %v", err)
			}
			if tt.incomplete != "" && !strings.Contains(l.Incomplete+errString(err), tt.incomplete) {
				t.Errorf("incomplete = %q (err %v), want %q", l.Incomplete, err, tt.incomplete)
			}
		})
	}
}

// truncatedGzip returns the first half of a gzip-compressed list of
// 50,000 addresses.
func truncatedGzip(t *testing.T) []byte {
	var b bytes.Buffer
	for i := range 50_000 {
		b.WriteString("10." + strconv.Itoa(i>>16&255) + "." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255) + "\n")
	}
	z := gzipBytes(t, b.Bytes())
	return z[:len(z)/2]
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestGarbage decodes 50 MB of random bytes, detected and forced to each
// format: a clear report every time, bounded memory for the samples, and
// no panic.
func TestGarbage(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MB of garbage")
	}
	data := garbage(50 << 20)
	for f := FormatUnknown; f < numFormats; f++ {
		t.Run(f.String(), func(t *testing.T) {
			l, err := Decode(bytes.NewReader(data), Options{Name: "garbage", Location: "garbage.bin", Format: f})
			var le *ListError
			if !errors.As(err, &le) {
				t.Fatalf("got %v (%d entries), want a ListError", err, l.Entries)
			}
			if len(l.Samples) > DefaultMaxSamples {
				t.Errorf("%d samples kept", len(l.Samples))
			}
			t.Logf("%v", err)
		})
	}
}

// garbage returns n pseudo-random bytes (xorshift: fast and the same in
// every run).
func garbage(n int) []byte {
	b := make([]byte, n)
	x := uint64(0x9e3779b97f4a7c15)
	for i := 0; i+8 <= n; i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		for j := 0; j < 8; j++ {
			b[i+j] = byte(x >> (8 * j))
		}
	}
	return b
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func TestParseSpec(t *testing.T) {
	tests := []struct {
		in   string
		want Spec
		err  string
	}{
		{"lists/bad.txt", Spec{Name: "bad", Location: "lists/bad.txt"}, ""},
		{"botnets=OTX_CSV:s3://bucket/otx.csv", Spec{Name: "botnets", Location: "s3://bucket/otx.csv", Format: FormatOTXCSV}, ""},
		{"tor_exit:https://check.torproject.org/exit-addresses", Spec{Name: "exit-addresses", Location: "https://check.torproject.org/exit-addresses", Format: FormatTorExit}, ""},
		{"https://example.com/ipsum.txt.gz?x=1", Spec{Name: "ipsum", Location: "https://example.com/ipsum.txt.gz?x=1"}, ""},
		{"s3://bucket/key.json", Spec{Name: "key", Location: "s3://bucket/key.json"}, ""},
		{"/tmp/a=b.txt", Spec{Name: "a=b", Location: "/tmp/a=b.txt"}, ""},
		{"mine=stix:/tmp/x.xml", Spec{Name: "mine", Location: "/tmp/x.xml", Format: FormatSTIX}, ""},
		{"nope:/tmp/x", Spec{}, "unknown list format"},
		{"name=", Spec{}, "without a location"},
	}
	for _, tt := range tests {
		got, err := ParseSpec(KindThreat, tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseSpec(%q) error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseSpec(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseSpec(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}
