package scenario

// The lab corpus: real tools (nmap, masscan, zmap, hping3, hydra, ...) run
// against real listeners in an emulated VPC of network namespaces
// (scripts/lab), captured per interface with tcpdump and converted to
// flow logs by picket itself. testdata/lab holds, per scenario, the
// captures (<interface-id>.pcap.gz) and their conversion to version 2 and
// version 5 flow logs (v2/, v5/), with the ground truth in labels.json and
// the emulated VPC in topology.json. TestLab replays it without root.

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"picket/internal/app"
	"picket/internal/topology"
)

const labDir = "testdata/lab"

// LabScenario is one entry of labels.json.
type LabScenario struct {
	Scenario    string       `json:"scenario"`
	Kind        string       `json:"kind"` // attack or benign
	Description string       `json:"description"`
	Commands    []string     `json:"commands"`
	Expect      []LabFinding `json:"expect"`
	Tolerate    []LabFinding `json:"tolerate"`
	// KnownFailure, when set, says why the scenario does not pass yet;
	// the runner then reports instead of failing, and fails when the
	// scenario passes, so that the mark is removed.
	KnownFailure string `json:"known_failure,omitempty"`
	// Seconds is how long the scenario's traffic ran in the lab.
	Seconds float64 `json:"seconds"`
}

// LabFinding is an expected or tolerated finding. An empty Resource or
// Remote matches any.
type LabFinding struct {
	Type     string `json:"type"`
	Resource string `json:"resource"`
	Remote   string `json:"remote"`
}

func (e LabFinding) matches(f Fact) bool {
	if e.Type != "" && e.Type != f.Type {
		return false
	}
	// Version 2 records name the interface, not the instance: either
	// names the resource.
	if e.Resource != "" && e.Resource != f.Resource && labInterfaceOf(e.Resource) != f.Resource {
		return false
	}
	return e.Remote == "" || slices.Contains(f.Remotes, e.Remote)
}

func (e LabFinding) String() string {
	return fmt.Sprintf("%s on %s from %s", e.Type, orAny(e.Resource), orAny(e.Remote))
}

func orAny(s string) string {
	if s == "" {
		return "any"
	}
	return s
}

func loadLab(t *testing.T) []LabScenario {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(labDir, "labels.json"))
	if os.IsNotExist(err) {
		t.Skip("no lab corpus in " + labDir)
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []LabScenario
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("labels.json: %v", err)
	}
	return out
}

// labRun is the outcome of one scenario in one form (v2, v5, pcap) and
// order.
type labRun struct {
	Scenario string
	Form     string // v2, v5 or pcap
	Order    string // file or shuffled
	Findings []Fact
	Missed   []LabFinding
	Found    map[int]Fact // expectation index to the finding that met it
	False    []Fact
	Problems []string
}

func (r *labRun) ok() bool { return len(r.Missed) == 0 && len(r.False) == 0 && len(r.Problems) == 0 }

// TestLab replays every scenario of the lab corpus as version 2 and
// version 5 flow logs, each in file order and shuffled, and as the
// captures themselves, and checks the findings against labels.json:
// every expected finding with the right type, resource and remote, and
// nothing else but what is tolerated.
//
//	go test ./internal/scenario -run TestLab -v -report
func TestLab(t *testing.T) {
	scenarios := loadLab(t)
	var (
		mu   sync.Mutex
		runs []*labRun
	)
	t.Run("scenarios", func(t *testing.T) {
		for _, s := range scenarios {
			if *only != "" && !strings.Contains(s.Scenario, *only) {
				continue
			}
			t.Run(s.Scenario, func(t *testing.T) {
				t.Parallel()
				var mine []*labRun
				for _, form := range []string{"v2", "v5", "pcap"} {
					files := labFiles(t, s.Scenario, form)
					if len(files) == 0 {
						t.Errorf("%s: no %s files", s.Scenario, form)
						continue
					}
					orders := []string{"file"}
					if form != "pcap" {
						orders = append(orders, "shuffled")
					}
					for _, order := range orders {
						r := runLab(t, s, form, order, files)
						mine = append(mine, r)
					}
				}
				mu.Lock()
				runs = append(runs, mine...)
				mu.Unlock()
				var bad []string
				for _, r := range mine {
					if !r.ok() {
						bad = append(bad, describeRun(r))
					}
				}
				// The same traffic gives the same findings in every form
				// and order.
				for _, r := range mine[1:] {
					if d := factsDiff(mine[0].Findings, r.Findings); d != "" {
						bad = append(bad, fmt.Sprintf("%s/%s differs from %s/%s:\n%s", r.Form, r.Order, mine[0].Form, mine[0].Order, d))
					}
				}
				switch {
				case len(bad) > 0 && s.KnownFailure == "":
					t.Errorf("%s (%s):\n%s", s.Scenario, s.Kind, strings.Join(bad, "\n"))
				case len(bad) > 0:
					t.Logf("known failure (%s):\n%s", s.KnownFailure, strings.Join(bad, "\n"))
				case s.KnownFailure != "":
					t.Errorf("%s passes: remove its known_failure (%s)", s.Scenario, s.KnownFailure)
				}
			})
		}
	})
	slices.SortFunc(runs, func(a, b *labRun) int {
		return cmp.Or(cmp.Compare(a.Scenario, b.Scenario), cmp.Compare(a.Form, b.Form), cmp.Compare(a.Order, b.Order))
	})
	if *report {
		writeLabReport(os.Stdout, scenarios, runs)
	}
}

// labFiles returns the inputs of a scenario in one form, sorted.
func labFiles(t *testing.T, scenario, form string) []string {
	t.Helper()
	var pattern string
	switch form {
	case "pcap":
		pattern = filepath.Join(labDir, scenario, "*.pcap.gz")
	default:
		pattern = filepath.Join(labDir, scenario, form, "*.log.gz")
	}
	files, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	return files
}

func runLab(t *testing.T, s LabScenario, form, order string, files []string) *labRun {
	t.Helper()
	r := &labRun{Scenario: s.Scenario, Form: form, Order: order, Found: map[int]Fact{}}
	if order == "shuffled" {
		dir := t.TempDir()
		seed := uint64(len(s.Scenario))*0x9e3779b97f4a7c15 + uint64(len(form))
		shuffled, err := shuffleFlowLogs(files, dir, seed)
		if err != nil {
			t.Fatal(err)
		}
		files = shuffled
	}
	// The topology names the interface each capture was taken on and
	// its security groups. Flow logs are read as a user would, without
	// it, except where a scenario needs an inventory (see needsInventory).
	opt := app.AnalyzeOptions{Paths: files}
	if form == "pcap" || needsInventory[s.Scenario] != "" {
		labTopologyOptions(t, &opt)
	}
	fs, sum, err := app.Analyze(context.Background(), opt)
	if err != nil {
		t.Fatalf("%s %s: %v", s.Scenario, form, err)
	}
	if n := sum.SkippedTotal(); n > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d bad records: %v", n, sum.Examples))
	}
	if sum.Late > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d records late", sum.Late))
	}
	r.Problems = append(r.Problems, sum.InputErrors...)
	for _, f := range fs {
		r.Findings = append(r.Findings, factOf(f))
	}
	for i, e := range s.Expect {
		found := false
		for _, f := range r.Findings {
			if e.matches(f) {
				r.Found[i], found = f, true
				break
			}
		}
		if !found {
			r.Missed = append(r.Missed, e)
		}
	}
	for _, f := range r.Findings {
		ok := slices.ContainsFunc(s.Expect, func(e LabFinding) bool { return e.matches(f) }) ||
			slices.ContainsFunc(s.Tolerate, func(e LabFinding) bool { return e.matches(f) })
		if !ok {
			r.False = append(r.False, f)
		}
	}
	return r
}

func describeRun(r *labRun) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  %s, %s order:", r.Form, r.Order)
	for _, m := range r.Missed {
		fmt.Fprintf(&b, "\n    missed %s", m)
	}
	for _, f := range r.False {
		fmt.Fprintf(&b, "\n    false positive %s (%s)", f, f.Summary)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "\n    input problem: %s", p)
	}
	if len(r.Missed) > 0 {
		for _, f := range r.Findings {
			fmt.Fprintf(&b, "\n    found %s", f)
		}
	}
	return b.String()
}

// factsDiff compares two runs' findings by type, resource and remotes.
func factsDiff(a, b []Fact) string {
	key := func(fs []Fact) []string {
		var out []string
		for _, f := range fs {
			res := f.Resource
			if eni := labInterfaceOf(res); eni != "" {
				res = eni // version 2 records name only the interface
			}
			out = append(out, fmt.Sprintf("%s %s %s", f.Type, res, strings.Join(f.Remotes, ",")))
		}
		slices.Sort(out)
		return out
	}
	ka, kb := key(a), key(b)
	if slices.Equal(ka, kb) {
		return ""
	}
	return "    " + strings.Join(ka, "\n    ") + "\n  versus\n    " + strings.Join(kb, "\n    ")
}

// shuffleFlowLogs rewrites flow log files with their records shuffled
// within windows of shuffleWindow seconds of their end time, under names
// that put the files in a random order, as a consumer of a live stream may
// see them.
func shuffleFlowLogs(files []string, dir string, seed uint64) ([]string, error) {
	rng := rand.New(rand.NewPCG(seed, 0x1ab))
	var out []string
	for _, file := range files {
		lines, err := readGzipLines(file)
		if err != nil {
			return nil, err
		}
		if len(lines) == 0 {
			continue
		}
		header, recs := lines[0], lines[1:]
		end := slices.Index(strings.Fields(header), "end")
		if end < 0 {
			return nil, fmt.Errorf("%s: no end field in the header", file)
		}
		endOf := func(l string) int64 {
			fs := strings.Fields(l)
			if end >= len(fs) {
				return 0
			}
			v, _ := strconv.ParseInt(fs[end], 10, 64)
			return v
		}
		for i := 0; i < len(recs); {
			j := i
			for j < len(recs) && endOf(recs[j])/shuffleWindow == endOf(recs[i])/shuffleWindow {
				j++
			}
			w := recs[i:j]
			rng.Shuffle(len(w), func(a, b int) { w[a], w[b] = w[b], w[a] })
			i = j
		}
		name := filepath.Join(dir, fmt.Sprintf("%08x-%s", rng.Uint32(), strings.TrimSuffix(filepath.Base(file), ".gz")))
		body := header + "\n" + strings.Join(recs, "\n") + "\n"
		if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
			return nil, err
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return out, nil
}

func readGzipLines(file string) ([]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(file, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		defer zr.Close()
		r = zr
	}
	var lines []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		if l := sc.Text(); l != "" {
			lines = append(lines, l)
		}
	}
	return lines, sc.Err()
}

// writeLabReport prints one row per scenario: what was expected, what was
// found in each form and order, and, for attacks, how many of the
// attacker's probes came before the finding.
func writeLabReport(w io.Writer, scenarios []LabScenario, runs []*labRun) {
	byScenario := map[string][]*labRun{}
	for _, r := range runs {
		byScenario[r.Scenario] = append(byScenario[r.Scenario], r)
	}
	fmt.Fprintln(w, "| scenario | kind | expected | v2 | v2 shuffled | v5 | v5 shuffled | pcap | probes before the finding |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	var attacks, found, benign, quiet int
	for _, s := range scenarios {
		rs := byScenario[s.Scenario]
		if len(rs) == 0 {
			continue
		}
		var exp []string
		for _, e := range s.Expect {
			exp = append(exp, shortType(e.Type))
		}
		if len(exp) == 0 {
			exp = []string{"nothing"}
		}
		cells := map[string]string{}
		allOK := true
		for _, r := range rs {
			cell := "ok"
			switch {
			case len(r.Missed) > 0 && len(r.False) > 0:
				cell = fmt.Sprintf("missed %d, %d false", len(r.Missed), len(r.False))
			case len(r.Missed) > 0:
				cell = fmt.Sprintf("missed %d of %d", len(r.Missed), len(s.Expect))
			case len(r.False) > 0:
				cell = fmt.Sprintf("%d false positive", len(r.False))
			case len(r.Problems) > 0:
				cell = "input problems"
			}
			allOK = allOK && r.ok()
			cells[r.Form+"/"+r.Order] = cell
		}
		if s.Kind == "benign" {
			benign++
			if allOK {
				quiet++
			}
		} else {
			attacks++
			if allOK {
				found++
			}
		}
		probes := ""
		if v5 := findRun(rs, "v5", "file"); v5 != nil && len(s.Expect) > 0 {
			if f, ok := v5.Found[0]; ok {
				probes = probesBefore(s, f)
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", s.Scenario, s.Kind, strings.Join(exp, ", "),
			cells["v2/file"], cells["v2/shuffled"], cells["v5/file"], cells["v5/shuffled"], cells["pcap/file"], probes)
	}
	fmt.Fprintf(w, "\nAttacks found in every form and order: %d of %d. Benign scenarios silent: %d of %d.\n", found, attacks, quiet, benign)
}

func findRun(rs []*labRun, form, order string) *labRun {
	for _, r := range rs {
		if r.Form == form && r.Order == order {
			return r
		}
	}
	return nil
}

// probesBefore counts the distinct (address, port) pairs that the attacker
// sent to in the scenario's version 5 flow logs up to the finding's
// creation, against all it sent to, and the time from its first packet to
// the finding. The attacker is the finding's remote address, or the
// resource's own addresses when the resource is the actor.
func probesBefore(s LabScenario, f Fact) string {
	senders := map[string]bool{}
	if f.Role == "ACTOR" {
		for _, a := range labAddresses(f.Resource) {
			senders[a] = true
		}
	} else if len(f.Remotes) > 0 {
		senders[f.Remotes[0]] = true
	}
	files, _ := filepath.Glob(filepath.Join(labDir, s.Scenario, "v5", "*.log.gz"))
	type pair struct{ addr, port string }
	first := map[pair]int64{}
	for _, file := range files {
		lines, err := readGzipLines(file)
		if err != nil || len(lines) == 0 {
			continue
		}
		h := strings.Fields(lines[0])
		src, dst, dport, start := slices.Index(h, "srcaddr"), slices.Index(h, "dstaddr"), slices.Index(h, "dstport"), slices.Index(h, "start")
		if src < 0 || dst < 0 || dport < 0 || start < 0 {
			continue
		}
		for _, l := range lines[1:] {
			fs := strings.Fields(l)
			if len(fs) != len(h) || !senders[fs[src]] {
				continue
			}
			ts, _ := strconv.ParseInt(fs[start], 10, 64)
			k := pair{fs[dst], fs[dport]}
			if v, ok := first[k]; !ok || ts < v {
				first[k] = ts
			}
		}
	}
	if len(first) == 0 {
		return ""
	}
	var before int
	begin := int64(1) << 62
	for _, ts := range first {
		begin = min(begin, ts)
		if ts <= f.Created.Unix() {
			before++
		}
	}
	return fmt.Sprintf("%d of %d, %s", before, len(first), (time.Duration(f.Created.Unix()-begin) * time.Second).String())
}

// labInterface is an interface of the lab's topology.json.
type labInterface struct {
	ID        string   `json:"id"`
	Instance  string   `json:"instance"`
	Addresses []string `json:"addresses"`
}

var labTopology = sync.OnceValue(func() []labInterface {
	b, err := os.ReadFile(filepath.Join(labDir, "topology.json"))
	if err != nil {
		return nil
	}
	var top struct {
		Interfaces []labInterface `json:"interfaces"`
	}
	if json.Unmarshal(b, &top) != nil {
		return nil
	}
	return top.Interfaces
})

// labAddresses returns the addresses of an instance or interface of the
// lab's topology.
func labAddresses(resource string) []string {
	for _, i := range labTopology() {
		if i.ID == resource || i.Instance == resource {
			return i.Addresses
		}
	}
	return nil
}

// labInterfaceOf returns the interface of an instance of the lab.
func labInterfaceOf(instance string) string {
	for _, i := range labTopology() {
		if i.Instance == instance {
			return i.ID
		}
	}
	return ""
}

// needsInventory lists the scenarios whose version 2 flow logs cannot be
// read without knowing the interfaces' addresses, and why. Version 5
// records carry flow-direction; version 2 records do not, and picket
// learns an interface's address from records that decide it (a public
// peer, a rejected record, a second peer). Two instances that talk only
// to each other, with nothing rejected, leave the two interfaces' records
// identical: either side could be either interface. Given an inventory
// (here the lab's topology, in production --topology), they are read
// like any other.
var needsInventory = map[string]string{
	"internal-syn-scan":  "app2 and web1 exchange only the scan, all of it accepted",
	"internal-hydra-ssh": "app2 and db1 exchange only the SSH sessions",
}

// labTopologyOptions sets the emulated VPC's topology, which names the
// interface each capture was taken on and the interfaces' addresses.
func labTopologyOptions(t *testing.T, opt *app.AnalyzeOptions) {
	t.Helper()
	top, err := topology.Load(filepath.Join(labDir, "topology.json"))
	if err != nil {
		t.Fatal(err)
	}
	opt.Capture.Topology = top
}
