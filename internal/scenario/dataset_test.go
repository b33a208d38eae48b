package scenario

import (
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"picket/internal/synth"
)

// datasetDir returns the shared datasets folder (../shared/datasets next
// to the repository, or $PICKET_DATASETS), skipping the test when it is
// absent. The files are read in place, never copied into the repository.
func datasetDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PICKET_DATASETS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "datasets")
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("no datasets folder (%v); set PICKET_DATASETS to run this", err)
	}
	return dir
}

// zeekDataset is one labelled Zeek conn.log and what picket should make
// of it.
type zeekDataset struct {
	file string
	what string
	// label names the ground truth of a connection when the log has no
	// label column.
	label  func(c *Conn) string
	expect []datasetExpect
}

// datasetExpect is a finding the dataset should yield: its type, role and
// the address of the scanning host (the actor's interface, or a remote
// address the finding names).
type datasetExpect struct {
	Type  string
	Role  string
	Actor string
}

var zeekDatasets = []zeekDataset{
	{
		file:  "labelled/slips/portscan_vertical_zeek_conn.json.log",
		what:  "nmap vertical scan 192.168.1.9 -> scanme.nmap.org (REJ/RSTO)",
		label: func(c *Conn) string { return "Malicious/vertical-scan" },
		expect: []datasetExpect{
			{Type: "Recon:EC2/Portscan", Role: "ACTOR", Actor: "192.168.1.9"},
		},
	},
	{
		file: "labelled/slips/portscan_horizontal_zeek_conn.log",
		what: "Slips fixture: a host contacting many hosts (Slips raises a horizontal scan)",
		label: func(c *Conn) string {
			if c.Orig.String() == "10.0.2.112" {
				return "Malicious/horizontal-scan"
			}
			return "Background"
		},
	},
	{
		file: "labelled/stratosphere_002_nmap_portscan_zeek_conn.json.log.gz",
		what: "nmap ping sweeps and SYN/connect scans by 172.16.1.11 over three /24s",
		label: func(c *Conn) string {
			if c.Orig.String() == "172.16.1.11" && c.RespPort != 53 {
				return "Malicious/nmap-scans"
			}
			return "Background/dns-and-other"
		},
		expect: []datasetExpect{
			{Type: "Recon:EC2/Portscan", Role: "ACTOR", Actor: "172.16.1.11"},
		},
	},
	{file: "labelled/stratosphere_008_ctu_normal40_zeek_conn_labeled.log.gz", what: "CTU-Normal-40 day 1: a Windows host and unsolicited internet scanning of it"},
	{file: "labelled/stratosphere_010_ctu_normal40_zeek_conn_labeled.log.gz", what: "CTU-Normal-40 day 2"},
	{file: "labelled/stratosphere_011_ctu_normal40_zeek_conn_labeled.log.gz", what: "CTU-Normal-40 day 3"},
	{file: "labelled/stratosphere_012_ctu_normal40_zeek_conn_labeled.log.gz", what: "CTU-Normal-40 day 4"},
	{file: "labelled/stratosphere_001_njrat_zeek_conn_labeled.log.gz", what: "NjRAT botnet capture: command and control, no scanning"},
	{file: "labelled/slips/ctu-sme-11_remcos_zeek_conn_labeled.log.gz", what: "RemcosRAT exfiltration and benign devices, no scanning"},
}

// labelResult is what picket made of one label's connections.
type labelResult struct {
	label    string
	conns    int
	sources  map[netip.Addr]bool // originators
	detected map[netip.Addr]bool // originators that a finding names
	reached  map[netip.Addr]bool // remote originators that a local host answered on a port other than 80 and 443
	types    map[string]int      // findings naming its originators, by type
}

// TestZeekDatasets converts the labelled Zeek conn logs of the shared
// datasets into flow logs, analyzes them, and reports for each label how
// many of its originating hosts a finding names. It fails only on an
// expected scan that is not found; run with -v (and -report for markdown)
// to see the table.
func TestZeekDatasets(t *testing.T) {
	dir := datasetDir(t)
	var table strings.Builder
	fmt.Fprintln(&table, "| dataset | label | connections | originators | named by a finding | reached an open port (inbound) | of those, named | finding types |")
	fmt.Fprintln(&table, "|---|---|---|---|---|---|---|---|")
	for _, ds := range zeekDatasets {
		t.Run(filepath.Base(ds.file), func(t *testing.T) {
			f, err := os.Open(filepath.Join(dir, ds.file))
			if os.IsNotExist(err) {
				t.Skipf("%s is absent", ds.file)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			conns, err := ReadZeekConn(f)
			if err != nil {
				t.Fatal(err)
			}
			var z ZeekConverter
			recs := z.Records(conns)
			res, findings := analyzeRecords(t, recs, &z)
			if len(recs) == 0 {
				t.Fatal("no records")
			}
			results := labelResults(conns, findings, res, ds.label)
			t.Logf("%s: %d connections (%d with no local end), %d records, %d findings", ds.what, len(conns), z.Skipped, len(recs), len(findings))
			for _, f := range findings {
				t.Logf("  %s %s (%s) role=%s remotes=%s count=%d: %s", f.Type, f.Resource, res[f.Resource], f.Role, shortList(f.Remotes, 4), f.Count, f.Summary)
			}
			for _, lr := range results {
				both := 0
				var missed []string
				for a := range lr.reached {
					if lr.detected[a] {
						both++
					} else {
						missed = append(missed, a.String())
					}
				}
				if len(missed) > 0 {
					slices.Sort(missed)
					t.Logf("  %s: reached an open port but no finding names them: %s", lr.label, strings.Join(missed, ", "))
				}
				fmt.Fprintf(&table, "| %s | %s | %d | %d | %d | %d | %d | %s |\n", strings.TrimSuffix(filepath.Base(ds.file), ".gz"), lr.label, lr.conns, len(lr.sources), len(lr.detected), len(lr.reached), both, typeCounts(lr.types))
			}
			for _, e := range ds.expect {
				found := false
				for _, f := range findings {
					if f.Type == e.Type && f.Role == e.Role && (res[f.Resource].String() == e.Actor || slices.Contains(f.Remotes, e.Actor)) {
						found = true
					}
				}
				if !found {
					t.Errorf("no %s %s finding about %s", e.Type, e.Role, e.Actor)
				}
			}
		})
	}
	if *report || testing.Verbose() {
		out := io.Writer(os.Stdout)
		fmt.Fprint(out, "\n"+table.String())
	}
}

// analyzeRecords writes records to a temporary flow log (version 5, with
// tcp-flags and flow-direction) and analyzes it. It returns the findings
// and the address of each instance a finding may name.
func analyzeRecords(t *testing.T, recs []synth.Record, z *ZeekConverter) (map[string]netip.Addr, []Fact) {
	t.Helper()
	dir := t.TempDir()
	if err := writeRecords(filepath.Join(dir, "flows.log"), recs, 5); err != nil {
		t.Fatal(err)
	}
	s := &Scenario{Config: synth.DefaultConfig}
	findings, problems, err := analyze(dir, s)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Logf("input: %s", p)
	}
	res := map[string]netip.Addr{}
	for a, i := range z.ifaces {
		res[i.Instance] = a
		res[i.ID] = a
	}
	return res, findings
}

// labelResults tallies, per label, the connections, their originators and
// the originators that findings name as the actor: the finding's resource
// for role ACTOR, a remote address for role TARGET. Attribution is by
// host: an attacker's own benign connections count under both labels.
func labelResults(conns []Conn, findings []Fact, res map[string]netip.Addr, label func(*Conn) string) []*labelResult {
	named := map[netip.Addr][]string{}
	for _, f := range findings {
		// The suspect is the actor: our instance for role ACTOR (its
		// remote is the victim), the remote hosts for role TARGET.
		var addrs []netip.Addr
		if f.Role == "ACTOR" {
			addrs = append(addrs, res[f.Resource])
		} else {
			for _, r := range f.Remotes {
				if a, err := netip.ParseAddr(r); err == nil {
					addrs = append(addrs, a)
				}
			}
		}
		for _, a := range addrs {
			named[a] = append(named[a], f.Type)
		}
	}
	by := map[string]*labelResult{}
	for i := range conns {
		c := &conns[i]
		l := c.Label
		if label != nil {
			l = label(c)
		}
		if l == "" {
			l = "(none)"
		}
		lr := by[l]
		if lr == nil {
			lr = &labelResult{label: l, sources: map[netip.Addr]bool{}, detected: map[netip.Addr]bool{}, reached: map[netip.Addr]bool{}, types: map[string]int{}}
			by[l] = lr
		}
		lr.conns++
		lr.sources[c.Orig] = true
		if lo, lrsp := c.local(); !lo && lrsp && c.answered() && c.RespPort != 80 && c.RespPort != 443 {
			lr.reached[c.Orig] = true
		}
		if types, ok := named[c.Orig]; ok && !lr.detected[c.Orig] {
			lr.detected[c.Orig] = true
			for _, typ := range types {
				lr.types[typ]++
			}
		}
	}
	out := make([]*labelResult, 0, len(by))
	for _, lr := range by {
		out = append(out, lr)
	}
	slices.SortFunc(out, func(a, b *labelResult) int { return cmp.Compare(a.label, b.label) })
	return out
}

func typeCounts(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s ×%d", shortType(k), v))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}
