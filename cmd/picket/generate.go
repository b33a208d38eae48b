package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"picket/internal/decode/vpcflow"
	"picket/internal/synth"
)

// defaultAttacks are embedded when no --attack is given: one of each kind
// the detectors look for.
var defaultAttacks = []string{
	"scan name=internet-scan-of-bastion from=internet target=bastion:0 ports=top:100 timing=T4 at=10m",
	"scan name=compromised-app-scans-db from=app:1 target=db:0 ports=top:200 timing=T4 at=20m",
	"sweep name=worker-sweeps-ssh from=worker:0 port=22 hosts=200 network=vpc timing=T4 at=30m",
	"bruteforce name=ssh-bruteforce-on-bastion from=internet target=bastion:0 port=22 attempts=80 interval=3s at=40m",
}

// defaultDNSAttacks join the default attacks when Resolver query logs are
// written: a DNS tunnel and malware searching its generated domains.
var defaultDNSAttacks = []string{
	"tunnel name=dns-tunnel-from-worker from=worker:1 rate=8 duration=20m at=15m",
	"dga name=dga-lookups-from-app from=app:2 count=120 resolving=1 over=2m at=25m",
}

// defaultListedAttack joins the default attacks when a threat list is
// written: an instance resolving a domain the list names.
const defaultListedAttack = "listed name=listed-domain-from-web from=web:1 count=5 over=10m at=35m"

func cmdGenerate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	d := synth.DefaultConfig
	seed := fs.Uint64("seed", d.Seed, "random seed: the same seed gives the same output")
	records := fs.Int("records", 0, "stop after about this many records (0: run for --duration)")
	duration := fs.Duration("duration", d.Duration, "traffic time to simulate")
	start := fs.String("start", d.Start.Format(time.RFC3339), "start time (RFC 3339)")
	version := fs.Int("version", 2, "flow log version whose fields to write (2 to 11; 2 is the default format)")
	format := fs.String("format", "", "custom field list instead of --version, as a header line")
	layout := fs.String("layout", "single", "file layout: single (one stream), s3 (AWSLogs/... objects every 5 minutes), per-interface")
	out := fs.String("out", "-", "output: - (stdout, single layout) or a file or directory")
	gz := fs.Bool("gzip", false, "gzip the output (s3 layout objects are always gzip)")
	header := fs.Bool("header", true, "write a header line naming the fields (s3 layout always does)")
	parquet := fs.Bool("parquet", false, "write Parquet objects (s3 layout only)")
	load := fs.Float64("load", d.Load, "background traffic scale")
	noise := fs.Float64("noise", d.Noise, "internet background noise scale")
	interfaces := fs.Int("interfaces", 19, "interfaces in the estate: the default three-tier estate grown to about this many, every role alike")
	account := fs.String("account", d.Account, "account ID")
	region := fs.String("region", d.Region, "region")
	labels := fs.String("labels", "", "write the attacks' ground truth as JSON to this file")
	noAttacks := fs.Bool("no-attacks", false, "background traffic only")
	dns := fs.Bool("dns", false, "write the Route 53 Resolver query logs of the estate's instances too, with a DNS tunnel and DGA lookups among the default attacks: with --layout s3 under --out's AWSLogs/<account>/vpcdnsquerylogs/, otherwise to --dns-out")
	dnsOut := fs.String("dns-out", "", "with --layout single or per-interface: write the Resolver query log to this file (- for stdout when the flow logs go to a file); implies --dns")
	threatList := fs.String("threat-list", "", "write the domains that listed attacks resolve to this file, a threat list for analyze --threat-list (needs --dns or --dns-out; adds a listed attack to the default ones)")
	dnsRate := fs.Float64("dns-rate", 3, "names the estate's instances look up a second at --load 1 (scales with --load)")
	preset := fs.String("preset", "", "dense: the dense estate of the performance benchmarks (2,000 interfaces, about 2,000 records a second, twenty attacks) unless --interfaces, --load or --attack say otherwise")
	var attacks listFlagRaw
	fs.Var(&attacks, "attack", "embed an attack, such as \"scan from=internet target=bastion:0 ports=top:100 timing=T4\" (repeatable; default: one of each kind)")
	if _, err := parse(fs, args); err != nil {
		return usageError(stderr, fs, err)
	}
	st, err := time.Parse(time.RFC3339, *start)
	if err != nil {
		return usageError(stderr, fs, fmt.Errorf("--start: %w", err))
	}
	cfg := d
	cfg.Seed, cfg.Records, cfg.Duration, cfg.Start = *seed, *records, *duration, st.UTC()
	cfg.Load, cfg.Noise, cfg.Account, cfg.Region = *load, *noise, *account, *region
	switch *preset {
	case "":
	case "dense":
		if !isFlagSet(fs, "interfaces") {
			*interfaces = synth.DenseInterfaces
		}
		if !isFlagSet(fs, "load") {
			cfg.Load = synth.DenseLoad
		}
		if len(attacks) == 0 && !*noAttacks {
			attacks = synth.DenseAttacks
		}
	default:
		return usageError(stderr, fs, fmt.Errorf("--preset: %q is not a preset (dense)", *preset))
	}
	cfg.Estate = synth.ScaledEstate(*interfaces)
	if *records > 0 && !isFlagSet(fs, "duration") {
		cfg.Duration = 0
	}
	lay, err := synth.ParseLayout(*layout)
	if err != nil {
		return usageError(stderr, fs, err)
	}
	withDNS := (*dns && lay == synth.LayoutS3) || *dnsOut != ""
	if *dns && !withDNS {
		return usageError(stderr, fs, fmt.Errorf("--dns: with --layout %s, give --dns-out FILE", *layout))
	}
	if *threatList != "" && !withDNS {
		return usageError(stderr, fs, fmt.Errorf("--threat-list: the listed domains are resolved in the query logs; give --dns or --dns-out"))
	}
	if *dnsOut != "" && lay == synth.LayoutS3 {
		return usageError(stderr, fs, fmt.Errorf("--dns-out: --layout s3 writes the query logs under --out; give --dns instead"))
	}
	if *dnsRate <= 0 {
		return usageError(stderr, fs, fmt.Errorf("--dns-rate %v: want a rate above 0", *dnsRate))
	}
	cfg.DNSRate = *dnsRate
	specs := []string(attacks)
	if len(specs) == 0 && !*noAttacks {
		specs = defaultAttacks
		if withDNS && *preset == "" {
			specs = append(slices.Clone(specs), defaultDNSAttacks...)
		}
		if *threatList != "" && *preset == "" {
			specs = append(specs, defaultListedAttack)
		}
	}
	for _, s := range specs {
		a, err := synth.ParseAttack(s)
		if err != nil {
			return usageError(stderr, fs, err)
		}
		cfg.Attacks = append(cfg.Attacks, a)
	}
	var f vpcflow.Format
	if *format != "" {
		f, err = vpcflow.ParseFormat(*format)
	} else {
		f, err = synth.FormatFor(*version)
	}
	if err != nil {
		return usageError(stderr, fs, err)
	}
	w := &synth.Writer{Format: f, Layout: lay, Header: *header, Gzip: *gz, Parquet: *parquet, Account: cfg.Account, Region: cfg.Region, Seed: cfg.Seed}
	switch {
	case *parquet && lay != synth.LayoutS3:
		return usageError(stderr, fs, fmt.Errorf("--parquet needs --layout s3"))
	case lay == synth.LayoutSingle && *out == "-":
		w.Out = stdout
	case lay == synth.LayoutSingle:
		file, err := os.Create(*out)
		if err != nil {
			fmt.Fprintf(stderr, "picket generate: %v\n", err)
			return 1
		}
		defer file.Close()
		w.Out = file
	case *out == "-":
		return usageError(stderr, fs, fmt.Errorf("--layout %s writes files: give --out DIR", *layout))
	default:
		w.Dir = *out
	}
	var qw *synth.QueryWriter
	if withDNS {
		qw = &synth.QueryWriter{Layout: synth.LayoutS3, Dir: *out, Account: cfg.Account, Region: cfg.Region, Seed: cfg.Seed}
		switch {
		case lay == synth.LayoutS3:
		case *dnsOut == "-" && w.Out == stdout:
			return usageError(stderr, fs, fmt.Errorf("--dns-out -: the flow logs already go to stdout; give --out FILE"))
		case *dnsOut == "-":
			qw.Layout, qw.Out = synth.LayoutSingle, stdout
		default:
			file, err := os.Create(*dnsOut)
			if err != nil {
				fmt.Fprintf(stderr, "picket generate: %v\n", err)
				return 1
			}
			defer file.Close()
			qw.Layout, qw.Out, qw.Gzip = synth.LayoutSingle, file, *gz
		}
	}
	g, err := synth.New(cfg)
	if err != nil {
		return usageError(stderr, fs, err)
	}
	var werr error
	flows := func(r synth.Record) {
		if werr == nil {
			werr = w.Add(r)
		}
	}
	var queries func(synth.Query)
	if qw != nil {
		queries = func(q synth.Query) {
			if werr == nil {
				werr = qw.Add(&q)
			}
		}
	}
	if err := g.RunDNS(flows, queries); err != nil {
		fmt.Fprintf(stderr, "picket generate: %v\n", err)
		return 2
	}
	if err := w.Close(); werr == nil {
		werr = err
	}
	if qw != nil {
		if err := qw.Close(); werr == nil {
			werr = err
		}
	}
	if werr != nil {
		fmt.Fprintf(stderr, "picket generate: writing: %v\n", werr)
		return 1
	}
	if *threatList != "" {
		list := "# domains that picket generate's listed attacks resolve\n"
		for _, d := range g.ThreatDomains() {
			list += d + "\n"
		}
		if err := os.WriteFile(*threatList, []byte(list), 0o644); err != nil {
			fmt.Fprintf(stderr, "picket generate: %v\n", err)
			return 1
		}
	}
	if *labels != "" {
		b, _ := json.MarshalIndent(g.Labels(), "", "  ")
		if err := os.WriteFile(*labels, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintf(stderr, "picket generate: %v\n", err)
			return 1
		}
	}
	if qw != nil {
		fmt.Fprintf(stderr, "picket generate: %d records (%d flow records, %d DNS queries), %d attack(s)\n",
			w.Records()+qw.Records(), w.Records(), qw.Records(), len(cfg.Attacks))
		return 0
	}
	fmt.Fprintf(stderr, "picket generate: %d records, %d attack(s)\n", w.Records(), len(cfg.Attacks))
	return 0
}

func isFlagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

// listFlagRaw collects a repeated flag without splitting on commas.
type listFlagRaw []string

func (l *listFlagRaw) String() string     { return fmt.Sprint([]string(*l)) }
func (l *listFlagRaw) Set(s string) error { *l = append(*l, s); return nil }
