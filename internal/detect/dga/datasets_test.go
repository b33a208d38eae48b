package dga

import (
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
//	go test ./internal/detect/dga -run Datasets -v
//	go test ./internal/detect/dga -run Datasets -update   # rewrites the DGA section of docs/dns-evaluation.md
var update = flag.Bool("update", false, "rewrite the DGA section of docs/dns-evaluation.md and the golden files in testdata")

// datasets is the shared DNS data, beside the repository.
var datasets = filepath.Join("..", "..", "..", "..", "shared", "datasets", "dns")

// simdaBenign are the registered domains of the Simda capture that its
// DGA did not make: Windows' connectivity check and search.
var simdaBenign = map[string]bool{"msftncsi.com": true, "bing.com": true}

// evaluation is what one dataset gave.
type evaluation struct {
	name, what string
	dga        func(q *event.DNSQuery, domain string) bool // the ground truth; nil for benign sets
	queries    int
	benign     int             // queries not of the DGA
	truth      map[string]bool // the DGA's registered domains
	infected   map[netip.Addr]bool
	searches   int // .B findings
	rendezvous int // .C!DNS findings
	correct    int // findings on an infected source
	caught     map[netip.Addr]bool
	named      map[string]bool // DGA domains generated-looking from a source with a .B finding
	found      []string        // what the findings name
	// The window with the most distinct generated-looking registered
	// domains, counted exactly: how many, and how many never resolved.
	busiest, busiestOpen int
}

// evaluate feeds the queries next yields through an engine with the
// detector at its defaults (scoring with score when not nil) and fills
// e with what it says.
func evaluate(t *testing.T, e *evaluation, next func(*event.DNSQuery) error, score func([]byte) (float64, bool)) {
	t.Helper()
	d, err := New(detect.Env{DetectorID: finding.DetectorID})
	if err != nil {
		t.Fatal(err)
	}
	if score != nil {
		d.score = score
	}
	set := finding.NewSet()
	eng, err := detect.NewEngine(nil, []detect.Detector{d}, detect.DefaultConfig, func(f *finding.Finding) { set.Add(f) })
	if err != nil {
		t.Fatal(err)
	}
	e.truth, e.infected, e.caught, e.named = map[string]bool{}, map[netip.Addr]bool{}, map[netip.Addr]bool{}, map[string]bool{}
	looks := map[netip.Addr]map[string]bool{}
	type wkey struct {
		src   netip.Addr
		start event.Time
	}
	windows := map[wkey]map[string]bool{} // domain: resolved
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
		_, dom, score, ok := d.label(bytes.TrimSuffix(q.Name, []byte(".")))
		if e.dga != nil && ok && e.dga(&q, string(dom)) {
			e.truth[string(dom)] = true
			e.infected[q.Src] = true
			if len(dom) > 0 && score >= d.minScore {
				if looks[q.Src] == nil {
					looks[q.Src] = map[string]bool{}
				}
				looks[q.Src][string(dom)] = true
			}
		} else {
			e.benign++
		}
		if ok && score >= d.minScore && len(dom)-bytes.IndexByte(dom, '.') > 0 && !d.allow.Match(dom) {
			if l, _, _, _ := d.label(dom); len(l) >= d.minLen {
				k := wkey{q.Src, q.T - q.T%d.span}
				if windows[k] == nil {
					windows[k] = map[string]bool{}
				}
				windows[k][string(dom)] = windows[k][string(dom)] || resolved(&q)
			}
		}
		eng.Observe(&q)
	}
	eng.Flush()
	for _, doms := range windows {
		open := 0
		for _, r := range doms {
			if !r {
				open++
			}
		}
		if len(doms) > e.busiest || (len(doms) == e.busiest && open > e.busiestOpen) {
			e.busiest, e.busiestOpen = len(doms), open
		}
	}
	for _, f := range set.Sorted() {
		src := netip.MustParseAddr(f.Service.AdditionalInfo.Explanation.Hosts[0])
		if f.Type == finding.TypeDGADomainRequestB {
			e.searches++
			if e.infected[src] {
				e.caught[src] = true
				for dom := range looks[src] {
					e.named[dom] = true
				}
			}
		} else {
			e.rendezvous++
		}
		if e.infected[src] {
			e.correct++
		}
		e.found = append(e.found, f.Type+" "+src.String()+" "+f.Service.Action.DNSRequestAction.Domain)
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

// replay replays names from one source at one query a second, each
// answered, as a browser's lookups of existing sites are.
func replay(names [][]byte) func(*event.DNSQuery) error {
	src, acct, region := netip.MustParseAddr("10.0.0.10"), event.Intern("123456789012"), event.Intern("us-east-1")
	i := 0
	return func(q *event.DNSQuery) error {
		if i == len(names) {
			return io.EOF
		}
		*q = event.DNSQuery{T: 1_700_000_000 + event.Time(i), Account: acct, Region: region, Src: src,
			Protocol: event.ProtoUDP, Name: names[i], QType: event.DNSTypeA, QClass: 1, RCode: event.RCodeNoError, NumAnswers: 1}
		q.Answers[0] = event.DNSAnswer{Type: event.DNSTypeA, Class: 1, Addr: netip.MustParseAddr("198.51.100.1")}
		i++
		return nil
	}
}

// crossScore scores each training label with a model of the folds that
// do not hold it, as TestTrain measures the held-out quantiles: the
// training names' false positives as if they had not been trained on.
func crossScore(t *testing.T, labels []string) func([]byte) (float64, bool) {
	fold := map[string]int{}
	for i, l := range labels {
		fold[l] = i % folds
	}
	models := make([]*Model, folds)
	for k := range folds {
		var in []string
		for i, l := range labels {
			if i%folds != k {
				in = append(in, l)
			}
		}
		models[k] = trainModel(t, in)
	}
	return func(l []byte) (float64, bool) {
		return models[fold[string(l)]].Score(l)
	}
}

func TestDatasets(t *testing.T) {
	if _, err := os.Stat(datasets); err != nil {
		t.Skipf("datasets not found at %s", datasets)
	}
	simda := &evaluation{name: "Stratosphere 005, Simda", what: "Zeek dns.log of a host infected with Simda; every registered domain but bing.com and msftncsi.com is the DGA's",
		dga: func(_ *event.DNSQuery, dom string) bool { return !simdaBenign[dom] }}
	evaluate(t, simda, zeekDNS(t, filepath.Join(datasets, "stratosphere_005_simda_dga_zeek_dns.log.gz")), nil)
	kovter := &evaluation{name: "Stratosphere 009, Kovter", what: "Zeek dns.log of a day of a university network with a host infected with Kovter; labelled per row, no row labelled as a DGA's"}
	evaluate(t, kovter, zeekDNS(t, filepath.Join(datasets, "stratosphere_009_kovter_zeek_dns_labeled.log.gz")), nil)
	wrccdc := &evaluation{name: "WRCCDC 2018", what: "Zeek dns.log of a cyber-defence competition (unlabelled, no DGA known)"}
	evaluate(t, wrccdc, zeekDNS(t, filepath.Join(datasets, "wrccdc2018_zeek_dns.log.gz")), nil)
	names, err := netrackNames(filepath.Join(datasets, trainingSet))
	if err != nil {
		t.Fatal(err)
	}
	plain := &evaluation{name: "netrack plain", what: "benign browsing names, the training names, each scored by a model of the other four fifths"}
	evaluate(t, plain, replay(names), crossScore(t, trainingLabels(names)))
	evals := []*evaluation{simda, kovter, wrccdc, plain}
	for _, e := range evals {
		t.Logf("%s: %d queries, %d .B, %d .C!DNS, %d on infected sources; %v", e.name, e.queries, e.searches, e.rendezvous, e.correct, e.found)
	}
	if len(simda.caught) != len(simda.infected) || simda.searches != simda.correct-simda.rendezvous || simda.correct != simda.searches+simda.rendezvous {
		t.Errorf("Simda: %d of %d sources reported, %d of %d findings on them", len(simda.caught), len(simda.infected), simda.correct, simda.searches+simda.rendezvous)
	}
	if simda.rendezvous == 0 {
		t.Error("Simda: no resolved generated name reported, though the capture holds many")
	}
	for _, e := range []*evaluation{kovter, wrccdc, plain} {
		if n := e.searches + e.rendezvous; n > 0 {
			t.Errorf("%s: %d false positives %v", e.name, n, e.found)
		}
	}
	table := evaluationTable(evals)
	path := filepath.Join("..", "..", "..", "docs", "dns-evaluation.md")
	if *update {
		if err := writeSection(path, table); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(b), table) {
		t.Errorf("%s: the DGA table is out of date; run go test ./internal/detect/dga -run Datasets -update", path)
	}
}

func evaluationTable(evals []*evaluation) string {
	var b strings.Builder
	b.WriteString("| dataset | contents | queries | .B findings | .C!DNS findings | precision | infected sources reported | DGA domains in a reported search | false positives per 10,000 benign queries | busiest window: generated-looking domains (unresolved) |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, e := range evals {
		n := e.searches + e.rendezvous
		precision, sources, domains := "n/a", "n/a", "n/a"
		if n > 0 {
			precision = fmt.Sprintf("%.2f", float64(e.correct)/float64(n))
		}
		if e.dga != nil {
			sources = fmt.Sprintf("%d of %d", len(e.caught), len(e.infected))
			domains = fmt.Sprintf("%d of %d (%.2f)", len(e.named), len(e.truth), float64(len(e.named))/float64(max(len(e.truth), 1)))
		}
		fp := fmt.Sprintf("%.2f", float64(n-e.correct)*10000/float64(max(e.benign, 1)))
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %s | %s | %s | %s | %d (%d) |\n",
			e.name, e.what, e.queries, e.searches, e.rendezvous, precision, sources, domains, fp, e.busiest, e.busiestOpen)
	}
	return b.String()
}

// writeSection replaces the table under the section's markers, keeping
// the rest of the file (other detectors' sections) as it is.
func writeSection(path, table string) error {
	const begin, end = "<!-- dga:begin (generated by `go test ./internal/detect/dga -run Datasets -update`) -->\n", "<!-- dga:end -->"
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	doc := string(b)
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		return fmt.Errorf("%s: no dga:begin/end markers", path)
	}
	return os.WriteFile(path, []byte(doc[:i+len(begin)]+table+doc[j:]), 0o644)
}
