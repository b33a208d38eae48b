package detect

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"reflect"

	"github.com/klauspost/compress/zstd"

	"picket/internal/event"
	"picket/internal/finding"
)

// Env is what the host gives each detector when it is built.
type Env struct {
	// DetectorID returns the GuardDuty detector ID under which findings
	// about an account and region are filed.
	DetectorID func(account, region string) string
	// Thresholds overrides the detector's threshold defaults, by name.
	Thresholds map[string]float64
	// Allowlists overrides the detector's allowlists, by name (see
	// Definition.Allowlists).
	Allowlists map[string][]string
	// MaxKeys bounds each keyed table of the detector. Zero means the
	// detector's own default.
	MaxKeys int
	// Budget is the memory, in bytes, the detector's keyed state may
	// take; the detector sizes its tables from it (see Cap). Zero means
	// the thresholds' defaults.
	Budget int64
	// Intel answers threat-intelligence questions about addresses; nil
	// when no lists are loaded.
	Intel Intel
	// IPInfo, when not nil, says what the user's geolocation, AS and AWS
	// range databases know of an address (the zero IPInfo when nothing).
	// API calls arrive with it already attached (APICall.SourceInfo);
	// detectors of other records may call it when they build a finding,
	// never per record, to fill a remoteIpDetails with
	// finding.RemoteIPWith. It runs on the engine's goroutine.
	IPInfo IPInfoFunc
}

// IPInfoFunc looks up what enrichment knows of an address.
type IPInfoFunc func(netip.Addr) event.IPInfo

// Keys returns MaxKeys, or def when MaxKeys is zero.
func (e Env) Keys(def int) int {
	if e.MaxKeys > 0 {
		return e.MaxKeys
	}
	return def
}

// Cap sizes one table: the configured count def (or MaxKeys), lowered so
// that share of the budget holds it at entryBytes an entry (measured, see
// the detector's doc). It is at least 16.
func (e Env) Cap(def int, share float64, entryBytes int) int {
	n := e.Keys(def)
	if e.Budget > 0 {
		n = min(n, int(float64(e.Budget)*share)/entryBytes)
	}
	return max(n, 16)
}

// Config tunes the engine.
type Config struct {
	// Lateness is how far behind the latest event time the watermark
	// trails, in seconds. Flow logs reach S3 up to ten minutes or more
	// after the flow ends, and files of different interfaces interleave;
	// a record older than the watermark when it arrives is late.
	Lateness event.Time
	// Tick is the event-time interval, in seconds, at which the engine
	// advances detectors.
	Tick event.Time
	// Apart runs the detectors on a goroutine of their own, fed by the
	// goroutine that calls Observe, which runs the stages: two cores for
	// what was one. The detectors see exactly the calls, in exactly the
	// order, that they would see otherwise, so their findings are the
	// same (see apart.go). Emit is then called on the detectors'
	// goroutine; Flush, State and the state methods wait for it.
	Apart bool
}

// DefaultConfig is the engine configuration picket uses unless told
// otherwise: 15 minutes of lateness, advancing every minute.
var DefaultConfig = Config{Lateness: 15 * 60, Tick: 60}

// Stage derives records from records ahead of the detectors, such as the
// contact stage that joins the two directions of a conversation. Like a
// detector it is driven by Observe and Advance; what it passes to out is
// dispatched to the detectors subscribed to the output's kind.
type Stage interface {
	Name() string
	Consumes() []event.Kind
	Observe(rec event.Record, out func(event.Record))
	Advance(watermark event.Time, out func(event.Record))
}

// Selector is implemented by detectors that observe only some records of
// the kinds they subscribe to, and can say which from the record alone:
// Observe does nothing with a record for which Selects is false, so the
// engine may leave the call out (and, with Config.Apart, spare copying
// the record for the detectors' goroutine). Selects must not change the
// detector or read its state.
type Selector interface {
	Selects(rec event.Record) bool
}

// selects reports whether some detector subscribed to rec's kind would
// do anything with it.
func (e *Engine) selects(rec event.Record) bool {
	k := rec.Kind()
	if e.takesAll[k] {
		return true
	}
	for _, s := range e.selectors[k] {
		if s.Selects(rec) {
			return true
		}
	}
	return false
}

// Correlator is implemented by detectors that build findings out of the
// findings of others, such as attack sequences: the engine hands them
// every finding a detector reports, as it is reported (their own
// included, which they ignore), and advances them after every other
// detector, so that at each watermark they have seen what the others
// reported up to it.
type Correlator interface {
	ObserveFinding(f *finding.Finding, emit Emit)
}

// Engine dispatches records to detectors and advances them by event time.
// It is not safe for concurrent use; the distributed mode runs one engine
// per partition.
type Engine struct {
	stages  []Stage
	byKindS [event.NumKinds][]Stage
	dets    []Detector
	defs    []Definition
	byKind  [event.NumKinds][]Detector
	// takesAll marks the kinds some detector observes every record of;
	// selectors are the Selectors among the others' detectors.
	takesAll  [event.NumKinds]bool
	selectors [event.NumKinds][]Selector
	derived   func(event.Record)
	cfg       Config
	emit      Emit
	report    Emit // what detectors report to: emit, then the correlators
	corrs     []Correlator
	plain     []Detector // the detectors that are not correlators
	maxSeen   event.Time
	watermark event.Time
	nextTick  event.Time
	stats     EngineStats
	apart     *apart // nil unless Config.Apart
}

// EngineStats counts what the engine saw.
type EngineStats struct {
	Records   [event.NumKinds]uint64 // records observed, by kind
	Late      uint64                 // records older than the watermark on arrival
	Watermark event.Time
	MaxSeen   event.Time
}

// NewEngine returns an engine over stages and dets that hands findings to
// emit. It fails if two detectors share an ID, a programming error in the
// list of detectors.
func NewEngine(stages []Stage, dets []Detector, cfg Config, emit Emit) (*Engine, error) {
	if cfg.Tick <= 0 {
		cfg.Tick = DefaultConfig.Tick
	}
	if cfg.Lateness < 0 {
		cfg.Lateness = 0
	}
	e := &Engine{cfg: cfg, emit: emit, maxSeen: event.Never, watermark: event.Never, nextTick: event.Never}
	e.report = e.found
	e.derived = e.dispatch
	if cfg.Apart {
		e.apart = newApart(e)
		e.derived = e.apart.derived
	}
	for _, st := range stages {
		e.stages = append(e.stages, st)
		for _, k := range st.Consumes() {
			e.byKindS[k] = append(e.byKindS[k], st)
		}
	}
	seen := map[string]bool{}
	for _, d := range dets {
		def := d.Definition()
		if seen[def.ID] {
			return nil, fmt.Errorf("two detectors have the ID %q", def.ID)
		}
		seen[def.ID] = true
		e.dets = append(e.dets, d)
		e.defs = append(e.defs, def)
		if c, ok := d.(Correlator); ok {
			e.corrs = append(e.corrs, c)
		} else {
			e.plain = append(e.plain, d)
		}
		for _, k := range def.Subscribes {
			e.byKind[k] = append(e.byKind[k], d)
			if sel, ok := d.(Selector); ok {
				e.selectors[k] = append(e.selectors[k], sel)
			} else {
				e.takesAll[k] = true
			}
		}
	}
	return e, nil
}

// Detectors returns the engine's detectors.
func (e *Engine) Detectors() []Detector { return e.dets }

// Observe dispatches rec to the detectors subscribed to its kind, then
// advances them if the watermark crossed a tick.
func (e *Engine) Observe(rec event.Record) {
	k := rec.Kind()
	e.stats.Records[k]++
	t := rec.Time()
	if t < e.watermark {
		e.stats.Late++
	}
	for _, st := range e.byKindS[k] {
		st.Observe(rec, e.derived)
	}
	if len(e.byKind[k]) > 0 && e.selects(rec) {
		if e.apart != nil {
			e.apart.observe(rec)
		} else {
			for _, d := range e.byKind[k] {
				d.Observe(rec, e.report)
			}
		}
	}
	if t > e.maxSeen {
		e.maxSeen = t
		if e.nextTick == event.Never {
			e.nextTick = t - t%e.cfg.Tick + e.cfg.Tick
		}
		if w := t - e.cfg.Lateness; w >= e.nextTick {
			e.advance(w - w%e.cfg.Tick)
		}
	}
}

func (e *Engine) advance(w event.Time) {
	if w <= e.watermark {
		return
	}
	e.watermark = w
	e.nextTick = w + e.cfg.Tick
	for _, st := range e.stages {
		st.Advance(w, e.derived)
	}
	if e.apart != nil {
		e.apart.advance(w)
		return
	}
	e.advanceDetectors(w)
}

func (e *Engine) advanceDetectors(w event.Time) {
	for _, d := range e.plain {
		d.Advance(w, e.report)
	}
	for _, c := range e.corrs {
		c.(Detector).Advance(w, e.report)
	}
}

// found passes on a finding a detector reported, then shows it to the
// correlators. It calls e.emit when called, not when the engine was made,
// since Foresee points e.emit elsewhere for a while.
func (e *Engine) found(f *finding.Finding) {
	e.emit(f)
	for _, c := range e.corrs {
		c.ObserveFinding(f, e.report)
	}
}

// dispatch hands a derived record to the detectors subscribed to its kind.
func (e *Engine) dispatch(rec event.Record) {
	k := rec.Kind()
	e.stats.Records[k]++
	for _, d := range e.byKind[k] {
		d.Observe(rec, e.report)
	}
}

// Flush advances every detector to the end of time: the input is over.
// With Config.Apart it returns once the detectors have seen everything,
// their goroutine stopped.
func (e *Engine) Flush() {
	e.advance(event.Forever)
	e.wait()
	if e.apart != nil {
		e.apart.stop()
	}
}

// wait returns once the detectors have handled every call made so far:
// at once unless Config.Apart.
func (e *Engine) wait() {
	if e.apart != nil {
		e.apart.wait()
	}
}

// CatchUp advances the watermark to the newest event time seen, giving
// up the lateness allowance: for a source that has gone quiet, whose
// last records would otherwise wait for newer ones to be decided. It
// reports whether the watermark moved.
func (e *Engine) CatchUp() bool {
	if e.maxSeen == event.Never || e.maxSeen <= e.watermark {
		return false
	}
	e.advance(e.maxSeen)
	e.wait()
	return true
}

// Foresee passes to emit what the detectors would report beyond what they
// have reported if the input ended now: it advances every stage and
// detector to the end of time, as Flush does, then restores the engine
// from saved, a state MarshalState returned since the last record was
// observed. The engine
// is left exactly as it was, so foreseeing changes nothing of what it
// reports later; picket serve shows the foreseen findings at once and
// replaces them with what the detectors decide once the watermark passes.
// It reports whether there was anything to foresee: a record observed,
// and the engine not flushed.
func (e *Engine) Foresee(saved []byte, emit Emit) (bool, error) {
	if e.maxSeen == event.Never || e.watermark == event.Forever {
		return false, nil
	}
	e.wait()
	keep := e.emit
	e.emit = emit
	e.advance(event.Forever)
	e.wait()
	e.emit = keep
	if err := e.UnmarshalState(saved); err != nil {
		return true, fmt.Errorf("restoring the state after foreseeing: %w", err)
	}
	return true, nil
}

// Watermark returns the current watermark.
func (e *Engine) Watermark() event.Time { return e.watermark }

// Stats returns what the engine counted.
func (e *Engine) Stats() EngineStats {
	s := e.stats
	s.Watermark, s.MaxSeen = e.watermark, e.maxSeen
	return s
}

// State returns the state statistics of every stage and detector that
// keeps state, keyed by stage name or detector ID.
func (e *Engine) State() map[string][]StateStats {
	e.wait()
	out := map[string][]StateStats{}
	for _, st := range e.stages {
		if s, ok := st.(Stater); ok {
			out[st.Name()] = s.State()
		}
	}
	for i, d := range e.dets {
		if s, ok := d.(Stater); ok {
			out[e.defs[i].ID] = s.State()
		}
	}
	return out
}

// Snapshotter is implemented by stages and detectors whose state must
// survive a restart of the service: the engine saves their state with
// the sources' checkpoints, atomically, and restores it on start.
type Snapshotter interface {
	MarshalState() ([]byte, error)
	UnmarshalState([]byte) error
}

// stateVersion changes whenever a saved state's layout does; a state of
// another version is refused (the service then starts afresh).
const stateVersion = 3

type engineState struct {
	Version   int
	Watermark event.Time
	MaxSeen   event.Time
	NextTick  event.Time
	Stats     EngineStats
	Parts     map[string][]byte
}

// MarshalState saves the engine's watermark and the state of every stage
// and detector that keeps any. It fails if a component keeps state (it
// reports table statistics) but cannot save it.
func (e *Engine) MarshalState() ([]byte, error) {
	e.wait()
	st := engineState{Version: stateVersion, Watermark: e.watermark, MaxSeen: e.maxSeen, NextTick: e.nextTick, Stats: e.stats, Parts: map[string][]byte{}}
	save := func(name string, c any) error {
		sn, ok := c.(Snapshotter)
		if !ok {
			if _, keeps := c.(Stater); keeps {
				return fmt.Errorf("%s keeps state but cannot save it", name)
			}
			return nil
		}
		b, err := sn.MarshalState()
		if err != nil {
			return fmt.Errorf("saving the state of %s: %w", name, err)
		}
		st.Parts[name] = b
		return nil
	}
	for _, s := range e.stages {
		if err := save("stage "+s.Name(), s); err != nil {
			return nil, err
		}
	}
	for i, d := range e.dets {
		if err := save("detector "+e.defs[i].ID, d); err != nil {
			return nil, err
		}
	}
	// Sized for the parts, which are most of it, so that the buffer
	// does not grow by copies of itself.
	n := 1024
	for _, b := range st.Parts {
		n += len(b) + 128
	}
	buf := bytes.NewBuffer(make([]byte, 0, n))
	if err := gob.NewEncoder(buf).Encode(st); err != nil {
		return nil, fmt.Errorf("encoding engine state: %w", err)
	}
	return buf.Bytes(), nil
}

// SavedStats returns the counts of a state MarshalState saved: what
// the engine had observed and its watermark.
func SavedStats(b []byte) (EngineStats, error) {
	var st struct {
		Watermark, MaxSeen event.Time
		Stats              EngineStats
	}
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&st); err != nil {
		return EngineStats{}, fmt.Errorf("decoding engine state: %w", err)
	}
	st.Stats.Watermark, st.Stats.MaxSeen = st.Watermark, st.MaxSeen
	return st.Stats, nil
}

// UnmarshalState restores what MarshalState saved. Components missing
// from the saved state (a detector added since) start empty.
func (e *Engine) UnmarshalState(b []byte) error {
	e.wait()
	var st engineState
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&st); err != nil {
		return fmt.Errorf("decoding engine state: %w", err)
	}
	if st.Version != stateVersion {
		return fmt.Errorf("saved engine state is version %d, this picket reads version %d", st.Version, stateVersion)
	}
	load := func(name string, c any) error {
		part, ok := st.Parts[name]
		sn, can := c.(Snapshotter)
		if !ok || !can {
			return nil
		}
		if err := sn.UnmarshalState(part); err != nil {
			return fmt.Errorf("restoring the state of %s: %w", name, err)
		}
		return nil
	}
	for _, s := range e.stages {
		if err := load("stage "+s.Name(), s); err != nil {
			return err
		}
	}
	for i, d := range e.dets {
		if err := load("detector "+e.defs[i].ID, d); err != nil {
			return err
		}
	}
	e.watermark, e.maxSeen, e.nextTick, e.stats = st.Watermark, st.MaxSeen, st.NextTick, st.Stats
	return nil
}

// parted is a field of a component's saved state that EncodeState
// writes in parts after the rest (lru.Snapshot is one). encoding/gob
// builds each value it encodes in memory whole before writing it, so a
// state encoded as one value took, at every commit of picket serve, a
// buffer as large as the uncompressed state (and the copies it left as
// it grew) on top of a copy of every table; in parts, read from the
// table itself (lru.Table.View), it takes one part. This brought the
// peak heap of serve from 1.46 to 1.09-1.18 times that of analyze over
// the same data (BenchmarkServeMemory in internal/app).
type parted interface {
	EncodeParts(n int, encode func(any) error) error
	DecodeParts(decode func(any) error) error
}

// partEntries is how many entries of a table one part holds: a few
// hundred KB of gob at the sizes of the contact stage's conversations.
const partEntries = 4096

// stateWindow is how far back the compression of a saved state looks
// for matches. The encoder keeps a history of twice its window, which at
// zstd's default of 8 MiB took 16 MiB for each component at each commit;
// with 1 MiB the state after twelve hours of generated traffic (1.6
// million records) came out 5.39 MB rather than 5.37.
const stateWindow = 1 << 20

// gobState encodes v for a component's MarshalState, compressed: the
// engine then only bundles already small parts. When v is a struct, its
// exported fields that are parted are left out of v's value and follow
// it, in field order, each in parts.
func gobState(v any) ([]byte, error) {
	var parts []parted
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Struct {
		head := reflect.New(rv.Type()).Elem()
		head.Set(rv)
		for i := range head.NumField() {
			f := head.Field(i)
			if !f.CanSet() {
				continue
			}
			if _, ok := f.Addr().Interface().(parted); !ok {
				continue
			}
			p := reflect.New(f.Type())
			p.Elem().Set(f)
			parts = append(parts, p.Interface().(parted))
			f.SetZero()
		}
		v = head.Interface()
	}
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(stateWindow), zstd.WithLowerEncoderMem(true))
	if err != nil {
		return nil, err
	}
	enc := gob.NewEncoder(zw)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	for _, p := range parts {
		if err := p.EncodeParts(partEntries, enc.Encode); err != nil {
			return nil, err
		}
	}
	err = zw.Close()
	return buf.Bytes(), err
}

// EncodeState and DecodeState are the codec components use for their
// saved state (encoding/gob of a struct of exported fields, its
// lru.Snapshot fields written in parts).
func EncodeState(v any) ([]byte, error) { return gobState(v) }

// DecodeState decodes what EncodeState encoded into v, a pointer. It
// also reads states saved before tables were written in parts, when
// they were part of v's value.
func DecodeState(b []byte, v any) error {
	zr, err := zstd.NewReader(bytes.NewReader(b), zstd.WithDecoderConcurrency(1))
	if err != nil {
		return err
	}
	defer zr.Close()
	dec := gob.NewDecoder(zr)
	if err := dec.Decode(v); err != nil {
		return err
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return nil
	}
	first := true
	for i := range rv.Elem().NumField() {
		f := rv.Elem().Field(i)
		if !f.CanSet() {
			continue
		}
		p, ok := f.Addr().Interface().(parted)
		if !ok {
			continue
		}
		err := p.DecodeParts(dec.Decode)
		if first && errors.Is(err, io.EOF) {
			return nil // saved whole, in v's value
		}
		if err != nil {
			return fmt.Errorf("decoding %s: %w", rv.Elem().Type().Field(i).Name, err)
		}
		first = false
	}
	return nil
}
