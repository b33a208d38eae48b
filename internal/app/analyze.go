// Package app is the composition root: it builds the pipeline of each mode
// (source, decode, enrich, detect, finding, and later store and API) from
// a typed configuration, starts its parts in order and stops them in
// reverse. cmd/picket parses flags into that configuration and calls app;
// nothing else imports app.
package app

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"time"

	"picket/internal/decode"
	"picket/internal/decode/vpcflow"
	"picket/internal/detect"
	"picket/internal/detect/all"
	"picket/internal/enrich"
	"picket/internal/event"
	"picket/internal/finding"
	"picket/internal/intel"
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
	// inside AWS. All optional; one that cannot be loaded fails the
	// analysis at start.
	GeoIPCity   string
	GeoIPASN    string
	AWSIPRanges string
	// Strict makes the first bad record fatal.
	Strict bool
	// MaxOpen bounds the inputs read at once when merging by event time.
	MaxOpen int
	// Progress, if set, is called now and then with the input bytes
	// consumed so far and the total (-1 when unknown).
	Progress func(done, total int64)
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
	if opt.MaxOpen <= 0 {
		opt.MaxOpen = 256
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
	ipinfo, closeIPInfo, err := openIPInfo(opt)
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
	eng, err := detect.NewEngine(stages, dets, opt.Engine, func(f *finding.Finding) { set.Add(f) })
	if err != nil {
		return nil, nil, err
	}

	sum := &Summary{Skipped: map[string]uint64{}, Formats: map[string]int{}, BySeverity: map[string]int{}, ByKind: map[string]uint64{}}
	sum.Intel = lists
	inputs, errs := source.Expand(opt.Paths)
	for _, e := range errs {
		sum.InputErrors = append(sum.InputErrors, e.Error())
		opt.Log.Warn("input unreadable", "error", e)
	}
	var total int64
	for _, in := range inputs {
		if in.Size < 0 {
			total = -1
			break
		}
		total += in.Size
	}

	p := &pipeline{
		opt: opt, sum: sum, eng: eng, flowFormat: flowFormat,
		account: event.Intern(account), region: event.Intern(region),
		dirs: enrich.NewDirections(100_000), total: total, ipinfo: ipinfo,
	}
	if top := opt.Capture.Topology; top != nil {
		// The topology is an inventory of the interfaces' addresses: it
		// decides the direction of flow log records that lack one.
		acct := p.account
		if top.Account != "" {
			acct = event.Intern(top.Account)
		}
		for _, in := range top.Interfaces {
			for _, a := range in.Addresses {
				p.dirs.Learn(acct, event.Intern(in.ID), a)
			}
		}
	}
	// Inputs are merged by event time in groups of MaxOpen, in path
	// order: in the S3 layout each group covers a stretch of time, and
	// files of different interfaces interleave as the records did.
	for i := 0; i < len(inputs); i += opt.MaxOpen {
		if err := ctx.Err(); err != nil {
			return nil, sum, err
		}
		group := inputs[i:min(i+opt.MaxOpen, len(inputs))]
		if err := p.run(ctx, group); err != nil {
			return nil, sum, err
		}
	}
	eng.Flush()

	st := eng.Stats()
	sum.Late = st.Late
	sum.Directions = p.dirs.Stats()
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

type pipeline struct {
	opt        AnalyzeOptions
	sum        *Summary
	eng        *detect.Engine
	flowFormat *vpcflow.Format
	account    event.ID
	region     event.ID
	dirs       *enrich.Directions
	ipinfo     *enrich.IPInfos
	trails     []*trailReader // CloudTrail readers to reuse
	total      int64
	done       int64
	lastReport time.Time
}

// cursor is one open input positioned on its next record.
type cursor struct {
	in      source.Input
	idx     int // position in the group, to break ties in time
	stream  *source.Stream
	reader  recordReader
	rec     event.Record
	n       int64 // records read
	account event.ID
	region  event.ID
}

type recordReader interface {
	// Next returns the next record, io.EOF at the end, a bad-record error
	// (after which Next may be called again), or a fatal error.
	Next() (event.Record, error)
}

// badRecord is implemented by errors that describe one bad record, after
// which reading goes on.
type badRecord interface {
	error
	Reason() string
}

type cursorHeap []*cursor

func (h cursorHeap) Len() int { return len(h) }
func (h cursorHeap) Less(i, j int) bool {
	ti, tj := h[i].rec.Time(), h[j].rec.Time()
	if ti != tj {
		return ti < tj
	}
	return h[i].idx < h[j].idx
}
func (h cursorHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *cursorHeap) Push(x any)   { *h = append(*h, x.(*cursor)) }
func (h *cursorHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

func (p *pipeline) run(ctx context.Context, group []source.Input) error {
	var h cursorHeap
	defer func() {
		for _, c := range h {
			p.closeCursor(c)
		}
	}()
	for i, in := range group {
		c, err := p.open(in, i)
		if err != nil {
			p.inputError(in, err)
			continue
		}
		ok, err := p.advance(c)
		if err != nil {
			return err
		}
		if ok {
			h = append(h, c)
		} else {
			p.closeCursor(c)
		}
	}
	heap.Init(&h)
	n := 0
	for len(h) > 0 {
		c := h[0]
		p.observe(c)
		ok, err := p.advance(c)
		if err != nil {
			return err
		}
		if ok {
			heap.Fix(&h, 0)
		} else {
			heap.Pop(&h)
			p.closeCursor(c)
		}
		if n++; n&0xffff == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			p.progress(false)
		}
	}
	p.progress(true)
	return nil
}

func (p *pipeline) open(in source.Input, idx int) (*cursor, error) {
	st, err := in.Open(p.opt.Stdin)
	if err != nil {
		return nil, err
	}
	c := &cursor{in: in, idx: idx, stream: st, account: p.account, region: p.region}
	if in.Layout.Account != "" {
		c.account = event.Intern(in.Layout.Account)
	}
	if in.Layout.Region != "" {
		c.region = event.Intern(in.Layout.Region)
	}
	format := decode.Detect(st.Head(4096))
	if p.flowFormat != nil && format == decode.Unknown {
		format = decode.VPCFlow // a headerless custom format may not look like flow logs
	}
	p.sum.Formats[format.String()]++
	switch format {
	case decode.VPCFlow, decode.Pcap, decode.Pcapng, decode.ZeekConn:
		r, err := openFlows(format, st, in.Name, p.flowFormat, &p.opt.Capture, c.account, c.region)
		if err != nil {
			st.Close()
			return nil, err
		}
		c.reader = r
	case decode.VPCFlowParquet:
		r, err := openParquet(st, in.Name)
		if err != nil {
			st.Close()
			return nil, err
		}
		c.reader = r
	case decode.CloudTrail:
		c.reader = p.openTrail(st, in.Name)
	default:
		st.Close()
		if len(st.Head(1)) == 0 {
			return nil, errEmpty
		}
		return nil, fmt.Errorf("unrecognized format (%s): not VPC flow logs, CloudTrail, a packet capture or a Zeek conn.log", format)
	}
	p.sum.Inputs++
	return c, nil
}

var errEmpty = errors.New("input is empty")

// advance moves c to its next good record, counting bad ones. It returns
// false at the end of the input (or when the input fails), and an error
// only to stop the whole analysis (strict mode).
func (p *pipeline) advance(c *cursor) (bool, error) {
	for {
		rec, err := c.reader.Next()
		if err == nil {
			p.sum.Records++
			p.sum.ByKind[rec.Kind().String()]++
			if a, ok := rec.(*event.APICall); ok {
				p.apiCall(c, a)
			}
			if f, ok := rec.(*event.Flow); ok {
				switch f.Status {
				case event.StatusNoData:
					p.sum.NoData++
					continue
				case event.StatusSkipData:
					p.sum.SkipData++
					continue
				}
				if f.Account.IsZero() || f.Account.String() == "unknown" {
					f.Account = c.account
				}
				if f.Region.IsZero() {
					f.Region = c.region
				}
				p.dirs.Resolve(f)
			}
			c.rec = rec
			c.n++
			return true, nil
		}
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		var bad badRecord
		if errors.As(err, &bad) {
			p.sum.Skipped[bad.Reason()]++
			if len(p.sum.Examples) < maxExamples {
				p.sum.Examples = append(p.sum.Examples, err.Error())
			}
			if p.opt.Strict {
				return false, fmt.Errorf("%w: %w", ErrStrict, err)
			}
			continue
		}
		p.inputError(c.in, fmt.Errorf("reading stopped after %d records: %w", c.n, err))
		return false, nil
	}
}

func (p *pipeline) observe(c *cursor) { p.eng.Observe(c.rec) }

func (p *pipeline) closeCursor(c *cursor) {
	if c.stream != nil {
		p.done += c.stream.Consumed()
		p.sum.Bytes += c.stream.Consumed()
		c.stream.Close()
		c.stream = nil
		p.releaseTrail(c.reader)
	}
}

func (p *pipeline) inputError(in source.Input, err error) {
	msg := fmt.Sprintf("%s: %v", in.Name, err)
	p.sum.InputErrors = append(p.sum.InputErrors, msg)
	p.opt.Log.Warn("input failed", "input", in.Name, "error", err)
}

func (p *pipeline) progress(final bool) {
	if p.opt.Progress == nil {
		return
	}
	now := time.Now()
	if !final && now.Sub(p.lastReport) < 200*time.Millisecond {
		return
	}
	p.lastReport = now
	p.opt.Progress(p.done, p.total)
}

// flowText reads flow log text.
type flowText struct {
	r *vpcflow.Reader
	f event.Flow
}

func (t *flowText) Next() (event.Record, error) {
	err := t.r.Next(&t.f)
	if err != nil {
		var pe *vpcflow.ParseError
		if errors.As(err, &pe) {
			return nil, flowError{pe}
		}
		return nil, err
	}
	return &t.f, nil
}

type flowError struct{ *vpcflow.ParseError }

func (e flowError) Reason() string { return vpcflow.Reason(e.ParseError) }
func (e flowError) Unwrap() error  { return e.ParseError }

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
