package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"picket/internal/app"
	"picket/internal/awsip"
	"picket/internal/detect"
	"picket/internal/event"
	"picket/internal/export"
	"picket/internal/intel"
)

func cmdAnalyze(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("analyze", flag.ContinueOnError)
	fs.SetOutput(stderr)
	output := fs.String("output", "table", "output format: table, json ({\"findings\":[...]}, as GetFindings returns) or jsonl")
	fs.StringVar(output, "o", "table", "short for --output")
	format := fs.String("flow-format", "", "fields of headerless flow logs, as a header line or an AWS LogFormat string (default: the header line, else the version 2 default format)")
	account := fs.String("account", app.DefaultAccount, "account ID for records that carry none")
	region := fs.String("region", app.DefaultRegion, "region for records and paths that name none")
	strict := fs.Bool("strict", false, "stop at the first bad record")
	lateness := fs.Duration("lateness", 15*time.Minute, "how far records may arrive behind the newest event time before they count as late")
	maxKeys := fs.Int("max-keys", 0, "bound every detector's keyed state to this many entries (0: each detector's default)")
	var budget byteSize
	fs.Var(&budget, "memory-budget", "memory that detection state may take, such as 512MiB or 2GiB (default: each table's own bound)")
	workers := fs.Int("workers", 0, "goroutines to keep busy (0: one per core): 1 runs decoding and detection on one (when at most four inputs are read at once, their gzip files are decompressed ahead on another, whatever the number); with more, inputs are read, decoded and given direction on one goroutine, the contact stage runs on another and the detectors on a third, in a pipeline. Findings are the same for any number")
	quiet := fs.Bool("quiet", false, "no summary or progress on stderr")
	progress := fs.String("progress", "auto", "progress bar on stderr: auto (when stderr is a terminal and the input is large), always, never")
	thresholds := thresholdFlags{}
	fs.Var(thresholds, "set", "override a detector threshold, as DETECTOR.THRESHOLD=VALUE (repeatable; see 'picket detectors')")
	var disabled listFlag
	fs.Var(&disabled, "disable", "detector IDs not to run (repeatable or comma-separated)")
	allow := allowFlags{}
	fs.Var(allow, "allow", "set a detector allowlist, as DETECTOR.LIST=NAME[,NAME...] (repeatable; see 'picket detectors')")
	var lists []intel.Spec
	addListFlags(fs, &lists)
	geoCity := fs.String("geoip-city", "", "MaxMind-format city or country database (.mmdb, e.g. GeoLite2-City) that locates API callers")
	geoASN := fs.String("geoip-asn", "", "MaxMind-format ASN or ISP database (.mmdb, e.g. GeoLite2-ASN) that names API callers' networks")
	awsRanges := fs.String("aws-ip-ranges", awsRangesDefault(), "AWS's ip-ranges.json, which tells whether an address is inside AWS: auto (a copy kept in --cache-dir, fetched from --aws-ip-ranges-url when missing or a day old), off, or a file; $"+envAWSIPRanges+" sets the default")
	awsRangesURL := fs.String("aws-ip-ranges-url", awsip.DefaultURL, "where --aws-ip-ranges auto fetches ip-ranges.json from")
	cacheDir := fs.String("cache-dir", defaultCacheDir(), "directory that keeps the copy of AWS's ip-ranges.json")
	cf := addCaptureFlags(fs)
	invDir := fs.String("inventory", "", "folder of AWS describe outputs (describe-network-interfaces, describe-instances, describe-security-groups, ...; subfolders named by time for snapshots) that fill findings with instance and task details, the path, the rules and remediation")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: picket analyze [flags] PATH...\n\nReads VPC flow logs (text or gzip, files, directories in the S3 layout, Parquet, or - for stdin)\nCloudTrail logs (S3 log files, JSON lines, EventBridge and CloudWatch Logs shapes),\nRoute 53 Resolver query logs and Zeek dns.logs,\npacket captures (pcap, pcapng) and Zeek conn.logs (recorded as VPC Flow Logs would record\nthe same traffic), formats detected from content, and prints GuardDuty findings.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	paths, err := parse(fs, args)
	if err != nil {
		return usageError(stderr, fs, err)
	}
	if len(paths) == 0 {
		fmt.Fprintln(stderr, "picket analyze: no input: give files, directories or - for stdin")
		return 2
	}
	if *workers < 0 {
		return usageError(stderr, fs, fmt.Errorf("--workers %d: want 0 (one per core) or more", *workers))
	}
	outFmt, err := export.ParseFormat(*output)
	if err != nil {
		return usageError(stderr, fs, err)
	}
	capture, err := cf.options()
	if err != nil {
		return usageError(stderr, fs, err)
	}
	inv, err := loadInventory(*invDir, stderr, *quiet)
	if err != nil {
		fmt.Fprintf(stderr, "picket analyze: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	opt := app.AnalyzeOptions{
		Inventory: inv,
		Capture:   capture,
		Paths:     paths, Stdin: stdin, FlowFormat: *format, Account: *account, Region: *region,
		Thresholds: thresholds, Allowlists: allow, Disabled: disabled, Strict: *strict, MaxKeys: *maxKeys, MemoryBudget: int64(budget), Lists: lists,
		GeoIPCity: *geoCity, GeoIPASN: *geoASN, AWSIPRanges: *awsRanges, AWSIPRangesDir: *cacheDir, AWSIPRangesURL: *awsRangesURL,
		Workers: *workers,
		Engine:  detect.Config{Lateness: event.Time(lateness.Seconds()), Tick: detect.DefaultConfig.Tick},
		Log:     slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	}
	var bar *progressBar
	if !*quiet && (*progress == "always" || *progress == "auto" && isTerminal(stderr)) {
		bar = &progressBar{w: stderr, always: *progress == "always"}
		opt.Progress = bar.update
	}
	findings, sum, err := app.Analyze(ctx, opt)
	if bar != nil {
		bar.clear()
	}
	if err != nil {
		fmt.Fprintf(stderr, "picket analyze: %v\n", err)
		if sum != nil && !*quiet {
			writeSummary(stderr, sum)
		}
		return 1
	}
	if err := export.Write(stdout, outFmt, findings); err != nil {
		fmt.Fprintf(stderr, "picket analyze: writing findings: %v\n", err)
		return 1
	}
	if !*quiet {
		writeSummary(stderr, sum)
	}
	if len(sum.InputErrors) > 0 {
		return 1
	}
	return 0
}

func writeSummary(w io.Writer, s *app.Summary) {
	fmt.Fprintf(w, "\npicket: %d input(s), %s, %d records in %s", s.Inputs, bytesHuman(s.Bytes), s.Records, s.Elapsed.Round(time.Millisecond))
	if secs := s.Elapsed.Seconds(); secs > 0 && s.Records > 0 {
		fmt.Fprintf(w, " (%.0f records/s)", float64(s.Records)/secs)
	}
	fmt.Fprintln(w)
	if len(s.ByKind) > 1 || s.ByKind["api-call"] > 0 || s.ByKind["dns-query"] > 0 {
		kinds := make([]string, 0, len(s.ByKind))
		for k := range s.ByKind {
			kinds = append(kinds, k)
		}
		slices.Sort(kinds)
		parts := []string{}
		for _, k := range kinds {
			parts = append(parts, fmt.Sprintf("%s %d", k, s.ByKind[k]))
		}
		fmt.Fprintf(w, "  records by kind: %s\n", strings.Join(parts, ", "))
	}
	writeIntelSummary(w, s.Intel)
	writeAWSRangesSummary(w, s)
	if s.NoData+s.SkipData > 0 {
		fmt.Fprintf(w, "  no traffic: %d NODATA, %d SKIPDATA records\n", s.NoData, s.SkipData)
	}
	if n := s.SkippedTotal(); n > 0 {
		parts := []string{}
		for _, r := range s.SortedSkipReasons() {
			parts = append(parts, fmt.Sprintf("%s %d", r, s.Skipped[r]))
		}
		fmt.Fprintf(w, "  skipped %d bad record(s): %s\n", n, strings.Join(parts, ", "))
		if s.Skipped["other-format"] > 0 {
			fmt.Fprintln(w, "    other-format: lines of another format among flow log records, each counted; a JSON document over many lines is not read there: give such a document as a file of its own")
		}
		for _, e := range s.Examples {
			fmt.Fprintf(w, "    %s\n", e)
		}
	}
	for _, e := range s.InputErrors {
		fmt.Fprintf(w, "  input error: %s\n", e)
	}
	if s.Late > 0 {
		fmt.Fprintf(w, "  %d record(s) arrived later than the watermark allows (raise --lateness)\n", s.Late)
	}
	for det, tables := range s.State {
		for _, t := range tables {
			if t.Evicted > 0 {
				fmt.Fprintf(w, "  %s: %d %s evicted to stay within %d entries\n", det, t.Evicted, t.Table, t.Cap)
			}
		}
	}
	fmt.Fprintf(w, "  findings: %d", s.Findings)
	if s.Findings > 0 {
		parts := []string{}
		for _, l := range []string{"Critical", "High", "Medium", "Low"} {
			if n := s.BySeverity[l]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", l, n))
			}
		}
		fmt.Fprintf(w, " (%s)", strings.Join(parts, ", "))
	}
	fmt.Fprintln(w)
}

func bytesHuman(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// progressBar draws input progress on a terminal.
type progressBar struct {
	w      io.Writer
	always bool
	drawn  bool
	start  time.Time
}

// largeInput is the input size from which the bar appears on its own.
const largeInput = 64 << 20

func (p *progressBar) update(done, total int64) {
	if p.start.IsZero() {
		p.start = time.Now()
	}
	if !p.always && (total < largeInput || time.Since(p.start) < time.Second) {
		return
	}
	const width = 30
	if total <= 0 {
		fmt.Fprintf(p.w, "\r%s read", bytesHuman(done))
	} else {
		frac := min(float64(done)/float64(total), 1)
		n := int(frac * width)
		fmt.Fprintf(p.w, "\r[%s%s] %3.0f%% %s / %s", strings.Repeat("#", n), strings.Repeat(".", width-n), frac*100, bytesHuman(done), bytesHuman(total))
	}
	p.drawn = true
}

func (p *progressBar) clear() {
	if p.drawn {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", 70))
	}
}
