// Package app is the composition root: it builds the pipeline of each mode
// (source, decode, enrich, detect, finding, and later store and API) from
// a typed configuration, starts its parts in order and stops them in
// reverse. cmd/picket parses flags into that configuration and calls app;
// nothing else imports app.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sort"
	"time"

	"picket/internal/decode/vpcflow"
	"picket/internal/detect"
	"picket/internal/detect/all"
	"picket/internal/enrich"
	"picket/internal/event"
	"picket/internal/explain"
	"picket/internal/finding"
	"picket/internal/ingest"
	"picket/internal/intel"
	"picket/internal/intel/live"
	"picket/internal/inventory"
	"picket/internal/source"
)

// AnalyzeOptions configures a batch analysis.
type AnalyzeOptions struct {
	// Paths are files, directories, or "-" for standard input.
	Paths []string
	// Stdin is read for "-".
	Stdin io.Reader
	// FlowFormat is the field list of flow log inputs that have no header
	// line ("" means: the header, else the version 2 default).
	FlowFormat string
	// Account and Region are assumed for records and paths that name none.
	Account string
	Region  string
	// Capture says how packet captures and Zeek conn.logs become flow
	// records.
	Capture CaptureOptions
	// Inventory, when not empty, fills findings with what it knows of
	// their resources: instance and task details, the path the traffic
	// took, the rules that admitted it, remediation (see explain).
	Inventory *inventory.Inventory
	// Thresholds overrides detector thresholds, by detector then name.
	Thresholds map[string]map[string]float64
	// Allowlists overrides detector allowlists, by detector then name.
	Allowlists map[string]map[string][]string
	// Disabled lists detectors not to run.
	Disabled []string
	// Engine tunes the watermark.
	Engine detect.Config
	// MaxKeys bounds every keyed table of every detector (0: their
	// defaults).
	MaxKeys int
	// MemoryBudget, when set, is the memory in bytes that detection state
	// (the contact stage and every detector's tables) may take.
	MemoryBudget int64
	// Intel is the threat intelligence the detectors consult, or nil.
	Intel detect.Intel
	// Lists are threat, trusted and Tor lists to load into Intel when it
	// is nil; a list that cannot be used at all fails the analysis.
	Lists []intel.Spec
	// GeoIPCity and GeoIPASN are MaxMind-format databases (.mmdb: a City
	// or Country one, an ASN or ISP one) that locate API callers;
	// AWSIPRanges is AWS's ip-ranges.json, which tells whether a caller is
	// inside AWS, or AWSIPRangesOff. All optional; one that cannot be
	// loaded fails the analysis at start.
	GeoIPCity   string
	GeoIPASN    string
	AWSIPRanges string
	// AWSIPRangesDir, used when AWSIPRanges is "" or AWSIPRangesAuto, is
	// the directory that keeps a copy of AWS's ip-ranges.json, fetched
	// from AWSIPRangesURL when missing or a day old (an empty URL fetches
	// nothing: the copy is used however old). Without a copy the
	// analysis goes on and the summary says which detectors were blind.
	// Both empty, the zero value: no ranges, and nothing fetched.
	AWSIPRangesDir string
	AWSIPRangesURL string
	// Strict makes the first bad record fatal.
	Strict bool
	// MaxOpen bounds the inputs read at once when merging by event time.
	MaxOpen int
	// Progress, if set, is called now and then with the input bytes
	// consumed so far and the total (-1 when unknown). With more than one
	// worker it is called on the reading goroutine, never concurrently
	// with itself, and not after Analyze returns.
	Progress func(done, total int64)
	// Workers is how many goroutines the analysis keeps busy (0:
	// runtime.GOMAXPROCS(0)). With 1 everything runs on the calling
	// goroutine; with more, the inputs are read, decompressed, decoded,
	// merged and given their direction on a goroutine of their own, up
	// to 64k records (about 40 MB) ahead of the stages, and the detectors
	// run on a third (detect.Config.Apart). The findings and the summary
	// are the same for every number.
	Workers int
	// Log receives warnings; nil discards them.
	Log *slog.Logger
}

// Summary reports what an analysis read, skipped and found.
type Summary struct {
	Inputs      int               // inputs opened
	InputErrors []string          // inputs that could not be read, or not to the end
	Bytes       int64             // input bytes consumed (compressed size for gzip)
	Records     uint64            // records decoded
	ByKind      map[string]uint64 // records decoded by kind ("flow", "api-call")
	NoData      uint64            // NODATA records (no traffic in the window)
	SkipData    uint64            // SKIPDATA records (AWS skipped records)
	Skipped     map[string]uint64 // bad records by reason
	Examples    []string          // the first bad records, as "file:line: message"
	Formats     map[string]int    // inputs by detected format
	Late        uint64            // records behind the watermark on arrival
	Directions  enrich.DirectionStats
	State       map[string][]detect.StateStats
	Findings    int
	Intel       []intel.Report // the threat, trusted and Tor lists loaded
	AWSRanges   AWSRangesReport
	BySeverity  map[string]int
	Elapsed     time.Duration
}

// SkippedTotal returns the number of bad records.
func (s *Summary) SkippedTotal() uint64 {
	var n uint64
	for _, v := range s.Skipped {
		n += v
	}
	return n
}

const maxExamples = 5

// ErrStrict wraps the bad record that stopped a strict analysis.
var ErrStrict = errors.New("bad record in strict mode")

// Analyze reads every input, runs the detectors over the records in event
// time order and returns the findings, most severe first. Inputs that
// cannot be read are reported in the summary and the rest are analyzed;
// the error is non-nil only when the analysis could not run (bad
// configuration, or a bad record under Strict).
func Analyze(ctx context.Context, opt AnalyzeOptions) ([]*finding.Finding, *Summary, error) {
	start := time.Now()
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Engine.Tick == 0 {
		opt.Engine = detect.DefaultConfig
	}
	if err := opt.Capture.check(); err != nil {
		return nil, nil, err
	}
	var flowFormat *vpcflow.Format
	if opt.FlowFormat != "" {
		f, err := vpcflow.ParseFormat(opt.FlowFormat)
		if err != nil {
			return nil, nil, fmt.Errorf("flow log format: %w", err)
		}
		flowFormat = &f
	}
	region := opt.Region
	if region == "" {
		region = DefaultRegion
	}
	account := opt.Account
	if account == "" {
		account = DefaultAccount
	}
	rangesPath, ranges, err := newAWSRangesSource(opt.AWSIPRanges, opt.AWSIPRangesDir, opt.AWSIPRangesURL, opt.Log).load(ctx)
	if err != nil {
		return nil, nil, err
	}
	ipinfo, closeIPInfo, err := enrich.OpenIPInfos(opt.GeoIPCity, opt.GeoIPASN, rangesPath, opt.Log)
	if err != nil {
		return nil, nil, err
	}
	defer closeIPInfo()
	lists, err := loadAnalyzeIntel(ctx, &opt)
	if err != nil {
		return nil, nil, err
	}
	env := detect.Env{DetectorID: finding.DetectorID, MaxKeys: opt.MaxKeys, Intel: opt.Intel}
	if ipinfo.Enabled() {
		env.IPInfo = ipinfo.Lookup // the engine runs on this goroutine
	}
	stages, dets, err := all.Build(all.Options{Env: env, Thresholds: opt.Thresholds, Allowlists: opt.Allowlists, Disabled: opt.Disabled, Budget: opt.MemoryBudget})
	if err != nil {
		return nil, nil, err
	}
	set := finding.NewSet()
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	// With more than one worker the detectors run on a goroutine of
	// their own, fed by the one that runs the contact stage (see
	// detect.Config.Apart): three goroutines in a pipeline, reading,
	// stages, detectors.
	opt.Engine.Apart = workers > 1
	ann := &explain.Annotator{Inventory: func() *inventory.Inventory { return opt.Inventory }}
	eng, err := detect.NewEngine(stages, dets, opt.Engine, func(f *finding.Finding) {
		ann.Annotate(f)
		set.Add(f)
	})
	if err != nil {
		return nil, nil, err
	}

	sum := &Summary{Skipped: map[string]uint64{}, Formats: map[string]int{}, BySeverity: map[string]int{}, ByKind: map[string]uint64{}}
	sum.Intel = lists
	sum.AWSRanges = ranges
	if rangesPath == "" {
		sum.AWSRanges.Blind = blindWithout(dets)
	}
	inputs, errs := source.Expand(opt.Paths)
	for _, e := range errs {
		sum.InputErrors = append(sum.InputErrors, e.Error())
		opt.Log.Warn("input unreadable", "error", e)
	}
	dirs := enrich.NewDirections(100_000)
	if top := opt.Capture.Topology; top != nil {
		// The topology is an inventory of the interfaces' addresses: it
		// decides the direction of flow log records that lack one.
		acct := event.Intern(account)
		if top.Account != "" {
			acct = event.Intern(top.Account)
		}
		for _, in := range top.Interfaces {
			for _, a := range in.Addresses {
				dirs.Learn(acct, event.Intern(in.ID), a)
			}
		}
	}
	feed := &ingest.Feed{
		Enrich:     enrich.Enricher{Directions: dirs, IPInfo: ipinfo},
		FlowFormat: flowFormat, Capture: opt.Capture.meter(),
		Account: event.Intern(account), Region: event.Intern(region),
		Skipped: sum.Skipped,
		Bad: func(reason string, err error) error {
			if len(sum.Examples) < maxExamples {
				sum.Examples = append(sum.Examples, err.Error())
			}
			if opt.Strict {
				return fmt.Errorf("%w: %w", ErrStrict, err)
			}
			return nil
		},
	}
	merge := &ingest.Merge{
		Feed: feed, Stdin: opt.Stdin, MaxOpen: opt.MaxOpen, Progress: opt.Progress, Formats: sum.Formats,
		InputError: func(name string, err error) {
			sum.InputErrors = append(sum.InputErrors, fmt.Sprintf("%s: %v", name, err))
			opt.Log.Warn("input failed", "input", name, "error", err)
		},
	}
	if workers == 1 {
		err = merge.Run(ctx, inputs, func(rec event.Record) error {
			eng.Observe(rec)
			return nil
		})
	} else {
		// The reading runs ahead on a goroutine of its own. IPInfos is
		// not safe for concurrent use and the engine consults it too, so
		// API calls are located here, on the engine's goroutine, just
		// before the engine sees them, as the Feed would have.
		feed.Enrich.IPInfo = nil
		err = merge.RunBatches(ctx, inputs, func(b *ingest.Batch) error {
			for i := range b.Len() {
				rec := b.At(i)
				if c, ok := rec.(*event.APICall); ok {
					ipinfo.Annotate(c)
				}
				eng.Observe(rec)
			}
			return nil
		})
	}
	sum.Inputs, sum.Bytes = merge.Inputs, merge.Bytes
	sum.Records = feed.RecordsTotal()
	for k, n := range feed.Records {
		if n > 0 {
			sum.ByKind[event.Kind(k).String()] = n
		}
	}
	sum.NoData, sum.SkipData = feed.Enrich.NoData, feed.Enrich.SkipData
	if err != nil {
		return nil, sum, err
	}
	eng.Flush()

	st := eng.Stats()
	sum.Late = st.Late
	sum.Directions = dirs.Stats()
	sum.State = eng.State()
	out := set.Sorted()
	sum.Findings = len(out)
	for _, f := range out {
		sum.BySeverity[f.Severity.Label()]++
	}
	sum.Elapsed = time.Since(start)
	return out, sum, nil
}

// DefaultRegion and DefaultAccount are assumed for records that carry no
// region or account and come from paths outside the S3 layout.
const (
	DefaultRegion  = "us-east-1"
	DefaultAccount = "000000000000"
)

// SortedSkipReasons returns the skip reasons by descending count.
func (s *Summary) SortedSkipReasons() []string {
	out := make([]string, 0, len(s.Skipped))
	for k := range s.Skipped {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		if s.Skipped[out[i]] != s.Skipped[out[j]] {
			return s.Skipped[out[i]] > s.Skipped[out[j]]
		}
		return out[i] < out[j]
	})
	return out
}

// loadAnalyzeIntel loads the lists of an analysis into opt.Intel, unless
// the caller gave an Intel.
func loadAnalyzeIntel(ctx context.Context, opt *AnalyzeOptions) ([]intel.Report, error) {
	if len(opt.Lists) == 0 || opt.Intel != nil {
		return nil, nil
	}
	l, reports, err := live.LoadLists(ctx, opt.Lists, live.Options{Log: opt.Log})
	if err != nil {
		return reports, fmt.Errorf("loading threat intelligence: %w", err)
	}
	opt.Intel = live.Adapt(l)
	return reports, nil
}
