package synth_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"picket/internal/decode/resolver"
	"picket/internal/event"
	"picket/internal/source"
	"picket/internal/synth"
)

// dnsConfig is an hour of the default estate with a tunnel and a DGA
// burst embedded.
func dnsConfig(t *testing.T, seed uint64) synth.Config {
	t.Helper()
	cfg := synth.DefaultConfig
	cfg.Seed = seed
	for _, s := range []string{
		"tunnel name=tunnel from=worker:1 rate=8 duration=20m at=15m",
		"dga name=dga from=app:2 count=120 over=2m at=25m",
		"scan name=scan from=internet target=bastion:0 ports=top:100 timing=T4 at=10m",
	} {
		a, err := synth.ParseAttack(s)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Attacks = append(cfg.Attacks, a)
	}
	return cfg
}

// runDNS generates cfg, returning its flow records, its queries and the
// labels.
func runDNS(t *testing.T, cfg synth.Config) ([]synth.Record, []synth.Query, []synth.Label) {
	t.Helper()
	g, err := synth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var recs []synth.Record
	var qs []synth.Query
	if err := g.RunDNS(func(r synth.Record) { recs = append(recs, r) }, func(q synth.Query) { qs = append(qs, q) }); err != nil {
		t.Fatal(err)
	}
	return recs, qs, g.Labels()
}

// TestQueryLogDecodes writes an hour of queries as a query log and reads
// it back with the Resolver decoder: every line decodes, no type is
// unknown, and each query comes back as it was made.
func TestQueryLogDecodes(t *testing.T) {
	cfg := dnsConfig(t, 3)
	_, qs, _ := runDNS(t, cfg)
	var buf bytes.Buffer
	w := &synth.QueryWriter{Out: &buf, Account: cfg.Account, Region: cfg.Region}
	for i := range qs {
		if err := w.Add(&qs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Records() != len(qs) {
		t.Errorf("the writer counted %d queries of %d", w.Records(), len(qs))
	}
	r := resolver.NewReader(&buf, "generated.log")
	var q event.DNSQuery
	n, bad := 0, 0
	for {
		err := r.Next(&q)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if bad++; bad < 5 {
				t.Errorf("bad record: %v", err)
			}
			continue
		}
		if n >= len(qs) {
			t.Fatalf("more records than queries (%d)", len(qs))
		}
		want := qs[n]
		n++
		got := struct {
			Name, Account, Region, VPC, Instance, Src string
			T                                         int64
			Answers                                   int
			TXTorNULL                                 bool
		}{string(q.Name), q.Account.String(), q.Region.String(), q.VPC.String(), q.Instance.String(), q.Src.String(),
			int64(q.T), int(q.NumAnswers) + int(q.MoreAnswers), q.QType == event.DNSTypeTXT || q.QType == event.DNSTypeNULL}
		exp := got
		exp.Name, exp.Account, exp.Region, exp.VPC, exp.Instance, exp.Src = want.Name, cfg.Account, cfg.Region, want.Iface.VPC, want.Iface.Instance, want.Iface.Private.String()
		exp.T, exp.Answers, exp.TXTorNULL = want.Time, len(want.Answers), want.Type == "TXT" || want.Type == "NULL"
		if diff := cmp.Diff(exp, got); diff != "" {
			t.Fatalf("query %d (-made +read):\n%s", n, diff)
		}
		if q.Protocol != event.ProtoUDP || q.SrcPort != want.SrcPort || q.QType == 0 || q.RCode == event.RCodeUnknown {
			t.Fatalf("query %d: protocol %d, port %d, type %d, rcode %d", n, q.Protocol, q.SrcPort, q.QType, q.RCode)
		}
	}
	if bad > 0 || n != len(qs) {
		t.Errorf("%d bad records; read %d of %d queries", bad, n, len(qs))
	}
	if u := r.Stats().UnknownTypes; u != 0 {
		t.Errorf("%d unknown types", u)
	}
	if len(qs) < 10_000 {
		t.Errorf("%d queries in an hour: want a busy estate's", len(qs))
	}
}

// TestQueryLogGolden pins a few minutes of the query log, attacks
// included, byte for byte.
func TestQueryLogGolden(t *testing.T) {
	cfg := synth.DefaultConfig
	cfg.Duration = 3 * time.Minute
	cfg.Estate = synth.EstateConfig{Web: 1, App: 1, DB: 1, Bastion: 1, Worker: 1, Windows: 1}
	cfg.DNSRate = 0.3
	for _, s := range []string{
		"tunnel name=t from=worker:0 domain=tunnel.example rate=0.2 duration=1m at=1m",
		"dga name=d from=app:0 count=6 over=30s at=2m",
	} {
		a, err := synth.ParseAttack(s)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Attacks = append(cfg.Attacks, a)
	}
	_, qs, _ := runDNS(t, cfg)
	var got []byte
	for i := range qs {
		got = synth.AppendQuery(got, &qs[i], cfg.Account, cfg.Region)
		got = append(got, '\n')
	}
	path := filepath.Join("testdata", "querylog.golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("query log differs from %s (-want +got); rerun with -update if intended:\n%s", path, diff)
	}
}

// TestDNSLeavesFlowsAlone checks that asking for queries changes no flow
// record: the queries draw on a random source of their own.
func TestDNSLeavesFlowsAlone(t *testing.T) {
	cfg := synth.DefaultConfig
	cfg.Duration = 20 * time.Minute
	for _, s := range []string{"scan from=internet target=bastion:0 ports=top:100 timing=T4 at=5m", "sweep from=worker:0 port=22 hosts=50 network=vpc timing=T4 at=8m"} {
		a, _ := synth.ParseAttack(s)
		cfg.Attacks = append(cfg.Attacks, a)
	}
	g, _ := synth.New(cfg)
	var plain []synth.Record
	if err := g.Run(func(r synth.Record) { plain = append(plain, r) }); err != nil {
		t.Fatal(err)
	}
	tunnel, _ := synth.ParseAttack("tunnel from=worker:1 duration=5m at=2m")
	cfg.Attacks = append(cfg.Attacks, tunnel)
	recs, qs, _ := runDNS(t, cfg)
	if len(qs) == 0 || len(recs) != len(plain) {
		t.Fatalf("%d queries; %d flow records, %d without queries", len(qs), len(recs), len(plain))
	}
	for i := range recs {
		if a, b := recs[i], plain[i]; a.Iface.ID != b.Iface.ID || a.Src != b.Src || a.Dst != b.Dst || a.SrcPort != b.SrcPort ||
			a.DstPort != b.DstPort || a.Start != b.Start || a.Bytes != b.Bytes || a.Flags != b.Flags {
			t.Fatalf("flow record %d differs: %+v and %+v", i, a, b)
		}
	}
}

// TestDNSIsDeterministic checks that a seed gives the same queries and
// another seed others.
func TestDNSIsDeterministic(t *testing.T) {
	render := func(seed uint64) []byte {
		cfg := dnsConfig(t, seed)
		cfg.Duration = 30 * time.Minute
		_, qs, _ := runDNS(t, cfg)
		var b []byte
		for i := range qs {
			b = synth.AppendQuery(b, &qs[i], cfg.Account, cfg.Region)
		}
		return b
	}
	a, b, c := render(5), render(5), render(6)
	if !bytes.Equal(a, b) {
		t.Error("one seed gave two query logs")
	}
	if bytes.Equal(a, c) {
		t.Error("two seeds gave one query log")
	}
}

// TestDNSShape checks the traffic's shape: the queries are in time
// order, only instances ask, the background has its share of NXDOMAIN,
// PTR and AAAA queries, and the attacks have theirs: the tunnel's long
// unique names of TXT, NULL and CNAME under one domain at its rate, the
// DGA's burst of NXDOMAIN with one that resolves.
func TestDNSShape(t *testing.T) {
	_, qs, labels := runDNS(t, dnsConfig(t, 1))
	byName := map[string]synth.Label{}
	for _, l := range labels {
		byName[l.Name] = l
	}
	tun, dga := byName["tunnel"], byName["dga"]
	if tun.Type != "Trojan:EC2/DNSDataExfiltration" || tun.Domain == "" || tun.Resource == "" ||
		dga.Type != "Trojan:EC2/DGADomainRequest.C!DNS" || dga.Domain == "" || dga.Resource == "" {
		t.Fatalf("labels %+v", labels)
	}
	type tally struct{ queries, nx, ptr, aaaa, long int }
	var bg tally
	var tunnel tally
	tunnelNames := map[string]bool{}
	tunnelTypes := map[string]int{}
	dgaDomains := map[string]string{}
	for i, q := range qs {
		if i > 0 && q.Time < qs[i-1].Time {
			t.Fatalf("query %d at %d after one at %d", i, q.Time, qs[i-1].Time)
		}
		if q.Iface.Instance == "" {
			t.Fatalf("query from %s, which is no instance", q.Iface.ID)
		}
		switch {
		case strings.HasSuffix(q.Name, "."+tun.Domain):
			if q.Iface.Instance != tun.Resource {
				t.Fatalf("tunnel query from %s", q.Iface.Instance)
			}
			tunnel.queries++
			tunnelNames[q.Name] = true
			tunnelTypes[q.Type]++
			if len(q.Name) > 120 {
				tunnel.long++
			}
			if len(q.Name) > 253 || slices.ContainsFunc(strings.Split(q.Name, "."), func(l string) bool { return len(l) > 63 }) {
				t.Fatalf("tunnel name %q is longer than DNS allows", q.Name)
			}
		case q.Iface.Instance == dga.Resource && q.Time >= dga.Start.Unix() && q.Time <= dga.End.Unix() && !strings.Contains(q.Name, "example") && !strings.Contains(q.Name, "amazonaws") && strings.Count(q.Name, ".") == 1 && q.Type == "A":
			dgaDomains[q.Name] = q.RCode
		default:
			bg.queries++
			switch {
			case q.RCode == "NXDOMAIN":
				bg.nx++
			case q.Type == "PTR":
				bg.ptr++
			case q.Type == "AAAA":
				bg.aaaa++
			}
		}
	}
	if tunnel.queries != tun.Probes || len(tunnelNames) != tunnel.queries {
		t.Errorf("tunnel: %d queries, %d names, label says %d", tunnel.queries, len(tunnelNames), tun.Probes)
	}
	if perSec := float64(tunnel.queries) / tun.End.Sub(tun.Start).Seconds(); perSec < 7 || perSec > 9 {
		t.Errorf("tunnel rate %.1f queries a second, want about 8", perSec)
	}
	if tunnel.long < tunnel.queries/2 || tunnelTypes["NULL"] == 0 || tunnelTypes["TXT"] == 0 || tunnelTypes["CNAME"] == 0 || tunnelTypes["A"] != 0 {
		t.Errorf("tunnel: %d of %d names long, types %v", tunnel.long, tunnel.queries, tunnelTypes)
	}
	resolved := 0
	for name, rc := range dgaDomains {
		if rc == "NOERROR" {
			resolved++
			if name != dga.Domain {
				t.Errorf("%s resolved, the label names %s", name, dga.Domain)
			}
		}
	}
	if len(dgaDomains) != 120 || resolved != 1 {
		t.Errorf("DGA: %d domains, %d resolved", len(dgaDomains), resolved)
	}
	share := func(n int) float64 { return float64(n) / float64(bg.queries) }
	if s := share(bg.nx); s < 0.005 || s > 0.05 {
		t.Errorf("background NXDOMAIN share %.3f", s)
	}
	if s := share(bg.ptr); s < 0.01 || s > 0.2 {
		t.Errorf("background PTR share %.3f", s)
	}
	if s := share(bg.aaaa); s < 0.15 || s > 0.5 {
		t.Errorf("background AAAA share %.3f", s)
	}
}

// TestDNSAttacksNeedQueries checks that a DNS attack without a query log
// is an error, as is one from an interface that is no instance.
func TestDNSAttacksNeedQueries(t *testing.T) {
	for _, tt := range []struct {
		name, spec, err string
		dns             bool
	}{
		{"tunnel without queries", "tunnel from=worker:0", "not being generated", false},
		{"dga without queries", "dga from=app:0", "not being generated", false},
		{"from the NAT gateway", "tunnel from=nat:0", "not an instance", true},
		{"from nowhere", "dga from=worker:99", "worker", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := synth.DefaultConfig
			cfg.Duration = time.Minute
			a, err := synth.ParseAttack(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Attacks = []synth.Attack{a}
			g, _ := synth.New(cfg)
			var queries func(synth.Query)
			if tt.dns {
				queries = func(synth.Query) {}
			}
			if err := g.RunDNS(func(synth.Record) {}, queries); err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("error %v, want one saying %q", err, tt.err)
			}
		})
	}
}

// TestParseDNSAttacks checks the DNS attacks' settings.
func TestParseDNSAttacks(t *testing.T) {
	for _, tt := range []struct {
		spec string
		want synth.Attack
		err  string
	}{
		{spec: "tunnel from=worker:1", want: synth.Tunnel{Name: "tunnel", From: "worker:1", Rate: 8, Duration: 20 * time.Minute}},
		{spec: "tunnel name=x from=app:0 domain=Tun.Example. rate=2.5 duration=5m at=1m",
			want: synth.Tunnel{Name: "x", From: "app:0", Domain: "tun.example", Rate: 2.5, Duration: 5 * time.Minute, At: time.Minute}},
		{spec: "dga from=app:2", want: synth.DGA{Name: "dga", From: "app:2", Count: 120, Resolving: 1, Over: 2 * time.Minute}},
		{spec: "dga from=app:2 count=50 resolving=0 tlds=ru,top over=1m at=3m",
			want: synth.DGA{Name: "dga", From: "app:2", Count: 50, Resolving: -1, TLDs: []string{"ru", "top"}, Over: time.Minute, At: 3 * time.Minute}},
		{spec: "listed from=web:1", want: synth.Listed{Name: "listed", From: "web:1", Count: 5, Over: 10 * time.Minute}},
		{spec: "listed from=web:1 domain=C2.Example count=2 over=1m at=4m",
			want: synth.Listed{Name: "listed", From: "web:1", Domain: "c2.example", Count: 2, Over: time.Minute, At: 4 * time.Minute}},
		{spec: "listed count=3", err: "listed needs from="},
		{spec: "tunnel rate=2", err: "tunnel needs from="},
		{spec: "tunnel from=worker:0 rate=0", err: "not a rate"},
		{spec: "tunnel from=worker:0 speed=9", err: `unknown setting "speed"`},
		{spec: "dga from=app:0 count=0", err: "count= of at least 1"},
	} {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := synth.ParseAttack(tt.spec)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("error %v, want one saying %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestQueryWriterS3 checks the S3 layout: gzip objects of five minutes
// under AWSLogs/<account>/vpcdnsquerylogs/<vpc>/YYYY/MM/DD/, whose keys
// the source package reads, holding every query once.
func TestQueryWriterS3(t *testing.T) {
	cfg := dnsConfig(t, 2)
	cfg.Duration = 20 * time.Minute
	_, qs, _ := runDNS(t, cfg)
	dir := t.TempDir()
	w := &synth.QueryWriter{Layout: synth.LayoutS3, Dir: dir, Account: cfg.Account, Region: cfg.Region, Seed: cfg.Seed}
	for i := range qs {
		if err := w.Add(&qs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	lines := 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		keys = append(keys, filepath.ToSlash(rel))
		l := source.ParseLayout(rel)
		if l.Account != cfg.Account || l.Service != "vpcdnsquerylogs" || l.Time.IsZero() || l.Time.Minute()%5 != 0 {
			t.Errorf("%s: layout %+v", rel, l)
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			return err
		}
		lines += bytes.Count(b, []byte("\n"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	vpc := qs[0].Iface.VPC
	wantKey := "AWSLogs/" + cfg.Account + "/vpcdnsquerylogs/" + vpc + "/2026/03/04/" + cfg.Account + "_vpcdnsquerylogs_" + vpc + "_20260304T1000Z_"
	if len(keys) != 4 || !strings.HasPrefix(keys[0], wantKey) || !strings.HasSuffix(keys[0], ".log.gz") {
		t.Errorf("objects %q, want four, the first starting %s", keys, wantKey)
	}
	if lines != len(qs) || w.Records() != len(qs) {
		t.Errorf("%d lines, %d counted, of %d queries", lines, w.Records(), len(qs))
	}
}

// TestListed checks the lookups of a listed domain: a few answered
// queries of a name under the domain from the one instance, spread over
// the time given, and the domain among ThreatDomains.
func TestListed(t *testing.T) {
	cfg := synth.DefaultConfig
	cfg.Duration = 30 * time.Minute
	for _, s := range []string{"listed name=a from=web:1 count=4 over=8m at=5m", "listed name=b from=app:0 domain=c2.example count=2 at=20m"} {
		a, err := synth.ParseAttack(s)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Attacks = append(cfg.Attacks, a)
	}
	g, err := synth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var qs []synth.Query
	if err := g.RunDNS(func(synth.Record) {}, func(q synth.Query) { qs = append(qs, q) }); err != nil {
		t.Fatal(err)
	}
	labels := g.Labels()
	domains := g.ThreatDomains()
	if len(labels) != 2 || len(domains) != 2 || domains[0] != labels[0].Domain || domains[1] != "c2.example" || labels[1].Domain != "c2.example" {
		t.Fatalf("labels %+v, domains %q", labels, domains)
	}
	for _, l := range labels {
		var times []int64
		for _, q := range qs {
			if strings.HasSuffix(q.Name, "."+l.Domain) {
				if q.Iface.Instance != l.Resource || q.RCode != "NOERROR" || len(q.Answers) != 1 || q.Type != "A" {
					t.Errorf("%s: query %+v", l.Name, q)
				}
				times = append(times, q.Time)
			}
		}
		if len(times) != l.Probes || times[0] != l.Start.Unix() || times[len(times)-1] >= l.End.Unix() {
			t.Errorf("%s: queries at %v, label %+v", l.Name, times, l)
		}
	}
	if labels[0].Probes != 4 || labels[1].Probes != 2 || labels[0].Type != "Impact:EC2/MaliciousDomainRequest.Custom" {
		t.Errorf("labels %+v", labels)
	}
}
