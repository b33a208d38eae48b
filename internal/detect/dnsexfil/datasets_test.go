package dnsexfil

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"picket/internal/decode/zeek"
	"picket/internal/detect"
	"picket/internal/event"
	"picket/internal/finding"
)

// The evaluation on public captures:
//
//	go test ./internal/detect/dnsexfil -run Datasets -v
//	go test ./internal/detect/dnsexfil -run Datasets -update   # rewrites docs/dns-evaluation.md
var update = flag.Bool("update", false, "rewrite the data exfiltration section of docs/dns-evaluation.md")

var datasets = filepath.Join("..", "..", "..", "..", "shared", "datasets", "dns")

// The name lists carry no times: they are replayed from one source at
// one query a second. Real tunnels send many a second; a slower pace
// puts fewer names in each window, so it is the harder case for the
// detector. TestDatasets also replays the tunnels slower, at the
// intervals of slowIntervals, to show where they escape.
var slowIntervals = []event.Time{5, 15, 30, 60}

// evaluation is what one dataset gave.
type evaluation struct {
	name     string
	what     string
	tunnel   string // the tunnel's registered domain; "" for benign sets
	queries  int
	windows  int // (source, registered domain, window) triples with a subdomain: of the tunnel's domain in a tunnel set
	flagged  int // windows reported
	findings int
	correct  int      // findings naming the tunnel's domain
	domains  []string // registered domains of the findings
}

// evaluate feeds the queries next yields through an engine with the
// detector at its defaults and fills e with what it says.
func evaluate(t *testing.T, e *evaluation, next func(*event.DNSQuery) error) {
	t.Helper()
	d, err := New(detect.Env{DetectorID: finding.DetectorID})
	if err != nil {
		t.Fatal(err)
	}
	set := finding.NewSet()
	eng, err := detect.NewEngine(nil, []detect.Detector{d}, detect.DefaultConfig, func(f *finding.Finding) {
		e.flagged++
		set.Add(f)
	})
	if err != nil {
		t.Fatal(err)
	}
	type wkey struct {
		src    netip.Addr
		domain string
		start  event.Time
	}
	windows := map[wkey]bool{}
	var q event.DNSQuery
	for {
		err := next(&q)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			continue // a bad line: the decoder's business, not this test's
		}
		e.queries++
		name := bytes.TrimSuffix(q.Name, []byte("."))
		if reg := registered(name); reg != "" && len(name) > len(reg) && !d.allow.Match(name) && (e.tunnel == "" || reg == e.tunnel) {
			windows[wkey{q.Src, reg, q.T - q.T%600}] = true
		}
		eng.Observe(&q)
	}
	eng.Flush()
	e.windows = len(windows)
	for _, f := range set.Sorted() {
		e.findings++
		dom := f.Service.Action.DNSRequestAction.DomainWithSuffix
		e.domains = append(e.domains, dom)
		if dom == e.tunnel {
			e.correct++
		}
	}
}

// qnames replays a netrack name list.
func qnames(t *testing.T, path string, interval event.Time) func(*event.DNSQuery) error {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	src, acct, region := netip.MustParseAddr("10.0.0.10"), event.Intern("123456789012"), event.Intern("us-east-1")
	i := 0
	var name []byte
	return func(q *event.DNSQuery) error {
		for sc.Scan() {
			line := sc.Bytes()
			comma := bytes.IndexByte(line, ',')
			if comma < 0 || string(line[:comma]) == "label" {
				continue
			}
			name = append(name[:0], bytes.ToLower(bytes.TrimSuffix(line[comma+1:], []byte(".")))...)
			*q = event.DNSQuery{T: 1_700_000_000 + event.Time(i)*interval, Account: acct, Region: region, Src: src,
				Protocol: event.ProtoUDP, Name: name, QType: event.DNSTypeA, QClass: 1, RCode: event.RCodeUnknown}
			i++
			return nil
		}
		if err := sc.Err(); err != nil {
			return err
		}
		return io.EOF
	}
}

// zeekDNS reads a Zeek dns.log.
func zeekDNS(t *testing.T, path string) func(*event.DNSQuery) error {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	r := zeek.NewDNSReader(zr, filepath.Base(path))
	acct, region := event.Intern("123456789012"), event.Intern("us-east-1")
	return func(q *event.DNSQuery) error {
		if err := r.Next(q); err != nil {
			return err
		}
		q.Account, q.Region = acct, region
		return nil
	}
}

func TestDatasets(t *testing.T) {
	if _, err := os.Stat(datasets); err != nil {
		t.Skipf("datasets not found at %s", datasets)
	}
	evals := []*evaluation{
		{name: "netrack iodine", what: "iodine tunnel names", tunnel: "hidemyself.org"},
		{name: "netrack dns2tcp", what: "dns2tcp tunnel names", tunnel: "hidemyself.org"},
		{name: "netrack dnscapy", what: "dnscapy tunnel names", tunnel: "example.org"},
		{name: "netrack plain", what: "benign browsing names"},
		{name: "WRCCDC 2018", what: "Zeek dns.log of a cyber-defence competition (unlabelled)"},
	}
	files := []string{
		"dns_tunnel_qnames/netrack_iodine_qnames.csv.gz",
		"dns_tunnel_qnames/netrack_dns2tcp_qnames.csv.gz",
		"dns_tunnel_qnames/netrack_dnscapy_qnames.csv.gz",
		"dns_tunnel_qnames/netrack_plain_qnames.csv.gz",
		"wrccdc2018_zeek_dns.log.gz",
	}
	for i, e := range evals {
		path := filepath.Join(datasets, files[i])
		if strings.HasSuffix(path, ".csv.gz") {
			evaluate(t, e, qnames(t, path, 1))
		} else {
			evaluate(t, e, zeekDNS(t, path))
		}
		t.Logf("%s: %d queries, %d windows, %d flagged, %d findings %v", e.name, e.queries, e.windows, e.flagged, e.findings, e.domains)
		switch {
		case e.tunnel != "" && e.correct == 0:
			t.Errorf("%s: the tunnel was not reported", e.name)
		case e.tunnel != "" && e.correct < e.findings:
			t.Errorf("%s: findings %v name other domains than the tunnel's, %s", e.name, e.domains, e.tunnel)
		case e.tunnel == "" && e.findings > 0:
			t.Errorf("%s: %d false positives %v", e.name, e.findings, e.domains)
		}
	}
	table := evaluationTable(evals)
	table += "\nThe tunnels replayed slower (windows reported of the tunnel's windows):\n\n| dataset |"
	for _, iv := range slowIntervals {
		table += fmt.Sprintf(" one query every %d s |", iv)
	}
	table += "\n|---|" + strings.Repeat("---|", len(slowIntervals)) + "\n"
	for i, e := range evals {
		if e.tunnel == "" {
			continue
		}
		table += "| " + e.name + " |"
		for _, iv := range slowIntervals {
			slow := &evaluation{name: e.name, tunnel: e.tunnel}
			evaluate(t, slow, qnames(t, filepath.Join(datasets, files[i]), iv))
			t.Logf("%s every %ds: %d of %d windows", e.name, iv, slow.flagged, slow.windows)
			table += fmt.Sprintf(" %d of %d |", slow.flagged, slow.windows)
		}
		table += "\n"
	}
	path := filepath.Join("..", "..", "..", "docs", "dns-evaluation.md")
	if *update {
		if err := writeSection(path, table); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(b), table) {
		t.Errorf("%s: the data exfiltration table is out of date; run go test ./internal/detect/dnsexfil -run Datasets -update", path)
	}
}

func evaluationTable(evals []*evaluation) string {
	var b strings.Builder
	b.WriteString("| dataset | contents | queries | windows | windows reported | findings | precision | recall (windows) | false positives per 10,000 benign queries |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, e := range evals {
		precision, recall, fp := "n/a", "n/a", "n/a"
		if e.tunnel != "" {
			if e.findings > 0 {
				precision = fmt.Sprintf("%.2f", float64(e.correct)/float64(e.findings))
			}
			recall = fmt.Sprintf("%.2f", float64(e.flagged)/float64(max(e.windows, 1)))
		} else {
			fp = fmt.Sprintf("%.2f", float64(e.findings)*10000/float64(max(e.queries, 1)))
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %s | %s | %s |\n",
			e.name, e.what, e.queries, e.windows, e.flagged, e.findings, precision, recall, fp)
	}
	return b.String()
}

// writeSection replaces the table under the section's markers, keeping
// the rest of the file (other detectors' sections) as it is.
func writeSection(path, table string) error {
	const begin, end = "<!-- dnsexfil:begin (generated by `go test ./internal/detect/dnsexfil -run Datasets -update`) -->\n", "<!-- dnsexfil:end -->"
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	doc := string(b)
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		return fmt.Errorf("%s: no dnsexfil:begin/end markers", path)
	}
	return os.WriteFile(path, []byte(doc[:i+len(begin)]+table+doc[j:]), 0o644)
}
