package ingest

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"picket/internal/decode"
	"picket/internal/detect"
	"picket/internal/enrich"
	"picket/internal/event"
	"picket/internal/finding"
	"picket/internal/metrics"
	"picket/internal/source"
	"picket/internal/store"
)

// Loop is the service's pipeline: it owns the detection engine, the
// direction resolver and the findings not yet committed, and is the only
// goroutine that touches them. Sources hand it tasks (files, objects)
// and Firehose deliveries; it reads their records through a Feed, runs
// them through detect, and every commit interval commits, in one store
// transaction, the findings reported since the last commit, every
// source's checkpoint and a snapshot of the detection state. Because the
// checkpoints and the state are taken at the same record boundary, a
// restart from the last commit neither loses nor repeats a record's
// effect.
type Loop struct {
	log     *slog.Logger
	store   Store
	metrics *metrics.Set
	// annotate fills findings from the inventory (LoopConfig.Annotate).
	annotate func(*finding.Finding)
	sources  []Checkpointer

	eng     *detect.Engine
	dirs    *enrich.Directions
	feed    *Feed
	pending *finding.Set

	admin       string        // the administrator's account
	every       time.Duration // commit interval
	idleFlush   time.Duration // quiet time after which the watermark catches up
	ackDelay    time.Duration // Firehose commit delay
	firehose    *source.Firehose
	commitCount int

	tasks  <-chan *source.Task
	pushes chan *push
	done   <-chan struct{} // closed when the loop is told to stop
	// stopped is closed when the loop no longer takes deliveries.
	stopped chan struct{}

	// early is the set of early findings the last commit stored, as
	// foreseen with foreseenAt records observed and the watermark at
	// foreseenMark; a commit foresees again when either has moved.
	early        []*finding.Finding
	foreseenAt   uint64
	foreseenMark event.Time
	foresaw      bool
	// committedAt is how many records had been observed at the last
	// commit.
	committedAt uint64

	cur         *source.Task // the task being read
	next        *source.Task // a task taken, to be read next
	pos         source.Position
	inPush      bool
	changed     bool // records or progress since the last commit
	acks        []*push
	ackDue      time.Time
	lastCommit  time.Time
	commitTook  time.Duration // how long the last commit took
	lastPublish time.Time
	lastState   time.Time
	dirCap      int
	c           metrics.Ingest
	logged      map[string]uint64 // bad records logged, by reason
	// observed counts records given to the engine; lastActive is when
	// the loop last saw it change.
	observed, seen uint64
	lastActive     time.Time
	// usage counts what was read, by data source, account and
	// interface; committed is its table as of the last commit.
	usage     *usage
	committed atomic.Pointer[[]store.Usage]
}

// Store is what the loop needs of the store.
type Store interface {
	State(ctx context.Context) ([]byte, error)
	Checkpoints(ctx context.Context) ([]store.Checkpoint, error)
	Commit(ctx context.Context, b store.Batch) error
	DetectorFor(ctx context.Context, account, region string) (*store.Detector, error)
	CreateDetector(ctx context.Context, d *store.Detector) error // store.ErrExists when the region has one
}

// Checkpointer is a source as the loop sees it.
type Checkpointer interface {
	Name() string
	Restore([]source.Checkpoint) error
	Checkpoints() []source.Checkpoint
}

// LoopConfig is what a Loop is built from.
type LoopConfig struct {
	Log     *slog.Logger
	Store   Store
	Metrics *metrics.Set
	// Stages and Detectors are the detection engine's, which Engine
	// tunes.
	Stages    []detect.Stage
	Detectors []detect.Detector
	Engine    detect.Config
	// Feed reads the inputs; the loop sets its Bad and its Enrich's
	// Directions (a table of MaxInterfaces interfaces).
	Feed          *Feed
	MaxInterfaces int
	// CommitInterval is how often progress is committed; IdleFlush the
	// quiet time after which the watermark catches up with the newest
	// event (0: never); AckDelay how long a Firehose delivery waits for
	// the commit that acknowledges it.
	CommitInterval, IdleFlush, AckDelay time.Duration
	// Annotate, when set, fills each finding with what the inventory
	// knows before it is kept.
	Annotate func(*finding.Finding)
	// MaxUsageKeys bounds the usage table (0: DefaultMaxUsageKeys).
	MaxUsageKeys int
	// Administrator is the administrator's account, whose suppression
	// rules in a region archive every account's new findings there.
	Administrator string
}

// NewLoop builds the detection engine and the loop around it.
func NewLoop(cfg LoopConfig) (*Loop, error) {
	g := &Loop{
		log: cfg.Log, store: cfg.Store, metrics: cfg.Metrics, feed: cfg.Feed,
		pending: finding.NewSet(), every: cfg.CommitInterval, ackDelay: cfg.AckDelay, idleFlush: cfg.IdleFlush,
		pushes: make(chan *push), stopped: make(chan struct{}),
		c: metrics.NewIngest(), logged: map[string]uint64{},
		dirs: enrich.NewDirections(cfg.MaxInterfaces), dirCap: cfg.MaxInterfaces,
		usage: newUsage(cfg.MaxUsageKeys), admin: cfg.Administrator,
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	g.feed.Enrich.Directions = g.dirs
	if g.feed.Skipped == nil {
		g.feed.Skipped = map[string]uint64{}
	}
	g.feed.Bad = func(reason string, err error) error {
		g.logBad(reason, err)
		return nil
	}
	var err error
	g.annotate = cfg.Annotate
	g.eng, err = detect.NewEngine(cfg.Stages, cfg.Detectors, cfg.Engine, func(f *finding.Finding) {
		if g.annotate != nil {
			g.annotate(f)
		}
		g.pending.Add(f)
		g.c.Findings[f.Type]++
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

// SetSources sets the sources (their tasks, those whose checkpoints
// each commit saves, and the Firehose endpoint), which may be built
// after the loop because the Firehose endpoint delivers to it. Call it
// before Restore.
func (g *Loop) SetSources(tasks <-chan *source.Task, sources []Checkpointer, fh *source.Firehose) {
	g.tasks, g.sources, g.firehose = tasks, sources, fh
}

// SetAckDelay sets how long a Firehose delivery waits for the commit
// that acknowledges it.
func (g *Loop) SetAckDelay(d time.Duration) { g.ackDelay = d }

// Stats returns the detection engine's counts.
func (g *Loop) Stats() detect.EngineStats { return g.eng.Stats() }

// Commits returns the number of commits made.
func (g *Loop) Commits() int { return g.commitCount }

// push is one Firehose delivery on its way to a commit.
type push struct {
	d    *source.Delivery
	done chan error
}

// pollEvery is how many lines or records pass between checks for
// deliveries, commits and shutdown.
const pollEvery = 4096

// serveState is the detection state the store keeps with each commit.
// It is a versioned gob, as the engine's own envelope is (see
// detect.Engine.MarshalState), and holds that with the directions'
// table, and the usage table. The two codecs stay apart: each has its fields and its version
// and names itself in errors, and moving either to detect.EncodeState,
// which compresses, would make the states stored so far unreadable.
type serveState struct {
	Version    int
	Engine     []byte
	Directions []byte
	// Usage was added within version 1: gob leaves it empty in a state
	// saved before, and a picket of before ignores it.
	Usage []store.Usage
}

const serveStateVersion = 1

// marshalState returns the state to commit and, within it, the engine's.
func (g *Loop) marshalState(usage []store.Usage) (state, engine []byte, err error) {
	e, err := g.eng.MarshalState()
	if err != nil {
		return nil, nil, err
	}
	d, err := g.dirs.MarshalState()
	if err != nil {
		return nil, nil, err
	}
	buf := bytes.NewBuffer(make([]byte, 0, len(e)+len(d)+1024))
	if err := gob.NewEncoder(buf).Encode(serveState{Version: serveStateVersion, Engine: e, Directions: d, Usage: usage}); err != nil {
		return nil, nil, fmt.Errorf("encoding detection state: %w", err)
	}
	return buf.Bytes(), e, nil
}

// UnmarshalState restores the detection state a commit saved.
func (g *Loop) UnmarshalState(b []byte) error {
	var st serveState
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&st); err != nil {
		return fmt.Errorf("decoding detection state: %w", err)
	}
	if st.Version != serveStateVersion {
		return fmt.Errorf("detection state is version %d, this picket reads version %d", st.Version, serveStateVersion)
	}
	if err := g.eng.UnmarshalState(st.Engine); err != nil {
		return err
	}
	if err := g.dirs.UnmarshalState(st.Directions); err != nil {
		return err
	}
	g.usage.restore(st.Usage)
	rows := g.usage.rows()
	g.committed.Store(&rows)
	return nil
}

// Usage returns what the loop had read as of its last commit: records and
// bytes by data source, account, region and interface, with the event
// times of the first and last record. It is safe to call from any
// goroutine; the slice must not be modified.
func (g *Loop) Usage() []store.Usage {
	if p := g.committed.Load(); p != nil {
		return *p
	}
	return nil
}

// Restore loads the last committed state and checkpoints. A state this
// picket cannot read is logged and detection starts afresh (the
// checkpoints still hold, so no record is read twice).
func (g *Loop) Restore(ctx context.Context) error {
	b, err := g.store.State(ctx)
	if err != nil {
		return fmt.Errorf("reading detection state: %w", err)
	}
	if len(b) > 0 {
		if err := g.UnmarshalState(b); err != nil {
			g.log.Warn("detection state not restored; detection starts afresh", "error", err)
		} else {
			st := g.eng.Stats()
			g.log.Info("detection state restored", "bytes", len(b), "watermark", g.eng.Watermark().String(),
				"records", st.Records[event.KindFlow]+st.Records[event.KindAPICall]+st.Records[event.KindDNSQuery])
		}
	}
	cps, err := g.store.Checkpoints(ctx)
	if err != nil {
		return fmt.Errorf("reading checkpoints: %w", err)
	}
	list := make([]source.Checkpoint, len(cps))
	for i, c := range cps {
		list[i] = source.Checkpoint{Name: c.Source, Data: c.Position}
	}
	for _, s := range g.sources {
		if err := s.Restore(list); err != nil {
			return err
		}
	}
	g.log.Info("checkpoints restored", "count", len(cps))
	return nil
}

// Deliver hands a Firehose delivery to the loop and waits for the commit
// that holds it.
func (g *Loop) Deliver(ctx context.Context, d *source.Delivery) error {
	p := &push{d: d, done: make(chan error, 1)}
	select {
	case g.pushes <- p:
	case <-g.stopped:
		return source.ErrShuttingDown
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run is the loop. It returns when ctx is done, after the current task
// is stopped at a record boundary, deliveries already taken are
// processed, and the final commit is made.
func (g *Loop) Run(ctx context.Context) error {
	g.done = ctx.Done()
	g.lastCommit = time.Now()
	g.lastActive = g.lastCommit
	tick := time.NewTicker(min(g.every, earlyDelay))
	defer tick.Stop()
	for {
		if t := g.next; t != nil {
			g.next = nil
			if ctx.Err() != nil {
				return g.stop()
			}
			g.read(ctx, t)
		} else {
			select {
			case <-ctx.Done():
				return g.stop()
			case t := <-g.tasks:
				g.read(ctx, t)
			case p := <-g.pushes:
				g.push(p)
			case <-tick.C:
			}
		}
		g.maybeCatchUp()
		if err := g.maybeCommit(g.quiet()); err != nil {
			return err
		}
		g.publish(false)
	}
}

// quiet reports whether no task comes within nextTaskWait; a task that
// does is taken, to be read next. (Sources hand over one task at a time,
// the next as soon as the last is finished.) While Firehose deliveries
// wait for their commit the loop is not quiet: those share one commit
// within the acknowledgement delay, as configured.
func (g *Loop) quiet() bool {
	if g.next != nil || len(g.acks) > 0 {
		return false
	}
	t := time.NewTimer(nextTaskWait)
	defer t.Stop()
	select {
	case task := <-g.tasks:
		g.next = task
		return false
	case <-t.C:
		return true
	}
}

// nextTaskWait is how long the loop waits for a source's next task
// before it takes itself for quiet: a source with more to read hands
// over the next task within microseconds of the last one's end.
const nextTaskWait = 20 * time.Millisecond

func (g *Loop) stop() error {
	for {
		select {
		case p := <-g.pushes:
			g.push(p)
			continue
		default:
		}
		break
	}
	close(g.stopped)
	err := g.commit(true)
	g.publish(true)
	for _, p := range g.acks {
		p.done <- source.ErrShuttingDown
	}
	g.acks = nil
	return err
}

// stopping reports whether the loop has been told to stop.
func (g *Loop) stopping() bool {
	select {
	case <-g.done:
		return true
	default:
		return false
	}
}

// findingsDelay is how soon after the last commit new findings are
// committed, rather than a whole commit interval later: findings are
// rare next to records, and users wait for them. So that these commits
// cost at most a tenth of ingest, they also wait ten times as long as
// the last commit took (a large detection state takes a second or more to
// save).
const findingsDelay = 5 * time.Second

// earlyDelay is how soon after the last commit the records read since
// are committed, with the findings they make and the early findings they
// let the engine foresee, while the loop has more to read (once it has
// read everything it was given they are committed sooner, see
// maybeCommit). So that commits take at most about a tenth of a busy
// loop's time, they also wait ten times as long as the last commit took.
const earlyDelay = 250 * time.Millisecond

// maybeCatchUp lets the watermark reach the newest event time once no
// record has arrived for idleFlush. A replay or a busy stream never
// waits that long between records, so its findings are those of
// picket analyze; a quiet source's last activity is decided then
// rather than when its next records arrive.
func (g *Loop) maybeCatchUp() {
	now := time.Now()
	if g.observed != g.seen {
		g.seen, g.lastActive = g.observed, now
		return
	}
	if g.idleFlush > 0 && now.Sub(g.lastActive) >= g.idleFlush && g.eng.CatchUp() {
		g.markChanged()
		g.log.Debug("no records for a while: the watermark caught up with the newest event", "idle", g.idleFlush)
	}
}

// maybeCommit commits when the interval is up, a delivery waits, new
// findings or records have waited long enough, or, when the loop is
// quiet (it has read everything it was given), at once if it read records
// since the last commit, unless commits would then take more than a third
// of its time: a large detection state takes a second or more to save and
// foresee, and a stream that arrives in small pieces would otherwise
// leave no time to read.
func (g *Loop) maybeCommit(quiet bool) error {
	now := time.Now()
	since := now.Sub(g.lastCommit)
	read := g.observed != g.committedAt
	if since >= g.every || (!g.ackDue.IsZero() && !now.Before(g.ackDue)) ||
		(g.pending.Len() > 0 && since >= max(findingsDelay, 10*g.commitTook)) ||
		(read && (quiet && since >= 2*g.commitTook || since >= max(earlyDelay, 10*g.commitTook))) {
		return g.commit(false)
	}
	return nil
}

// poll runs between records of a task: deliveries, commits, metrics. It
// reports whether to stop reading (shutdown).
func (g *Loop) poll(ctx context.Context) bool {
	if g.inPush {
		return false
	}
	if ctx.Err() != nil {
		return true
	}
	select {
	case p := <-g.pushes:
		g.push(p)
	default:
	}
	if err := g.maybeCommit(false); err != nil {
		return true
	}
	g.publish(false)
	return false
}

// commit commits the pending findings, every changed checkpoint and the
// detection state. A failed commit is retried with backoff (ingest waits
// meanwhile, which holds back the sources); at shutdown it gives up after
// a few tries, and the next start resumes from the last good commit.
func (g *Loop) commit(final bool) error {
	start := time.Now()
	if g.cur != nil {
		g.cur.Progress(g.pos)
	}
	var cps []store.Checkpoint
	for _, s := range g.sources {
		for _, c := range s.Checkpoints() {
			cps = append(cps, store.Checkpoint{Source: c.Name, Position: c.Data, UpdatedAt: start.UTC()})
		}
	}
	if !g.changed && len(cps) == 0 && len(g.acks) == 0 && g.pending.Len() == 0 {
		g.lastCommit = start
		return nil
	}
	usage := g.usage.rows()
	state, engine, err := g.marshalState(usage)
	if err != nil {
		return fmt.Errorf("saving detection state: %w", err)
	}
	if err := g.foresee(engine); err != nil {
		return err
	}
	findings := g.pending.Sorted()
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		var kept, early []*finding.Finding
		kept, err = g.fileUnderDetectors(ctx, findings, true)
		if err == nil {
			early, err = g.fileUnderDetectors(ctx, g.early, false)
		}
		if err == nil {
			err = g.store.Commit(ctx, store.Batch{Findings: kept, Early: early, Administrator: g.admin, Checkpoints: cps, State: state})
		}
		cancel()
		g.metrics.Commit(time.Since(start), err, len(state))
		if err == nil {
			break
		}
		g.log.Error("commit failed", "attempt", attempt, "error", err)
		if (final || g.stopping()) && attempt >= 3 {
			return fmt.Errorf("commit at shutdown: %w", err)
		}
		time.Sleep(min(time.Duration(attempt)*time.Second, 30*time.Second))
	}
	g.commitCount++
	g.committed.Store(&usage)
	g.log.Debug("committed", "findings", len(findings), "checkpoints", len(cps), "state_bytes", len(state), "took", time.Since(start))
	g.pending = finding.NewSet()
	g.changed = false
	g.committedAt = g.observed
	g.lastCommit = time.Now()
	g.commitTook = g.lastCommit.Sub(start)
	// What a commit made durable shows at once, before the flag says
	// that nothing read is uncommitted: a scrape never sees the flag
	// clear with the counts of before.
	g.publish(true)
	g.metrics.SetUncommitted(false)
	for _, p := range g.acks {
		p.done <- nil
	}
	g.acks = nil
	g.ackDue = time.Time{}
	return nil
}

// foresee sets g.early to what the detectors would report beyond what they
// have if the input ended now (detect.Engine.Foresee), from engine, the
// engine's state as the commit saves it. It foresees again only when
// records were observed or the watermark moved since it last did; the
// store replaces the early findings of the last commit with these.
func (g *Loop) foresee(engine []byte) error {
	if g.foresaw && g.foreseenAt == g.observed && g.foreseenMark == g.eng.Watermark() {
		return nil
	}
	set := finding.NewSet()
	if _, err := g.eng.Foresee(engine, func(f *finding.Finding) {
		if g.annotate != nil {
			g.annotate(f)
		}
		set.Add(f)
	}); err != nil {
		return fmt.Errorf("foreseeing findings: %w", err)
	}
	g.early = set.Sorted()
	g.foresaw, g.foreseenAt, g.foreseenMark = true, g.observed, g.eng.Watermark()
	return nil
}

// markChanged notes that there is progress to commit.
func (g *Loop) markChanged() {
	if !g.changed {
		g.changed = true
		g.metrics.SetUncommitted(true)
	}
}

// fileUnderDetectors files each finding under the store's detector of its
// account and region, creating the detector if the region has none (with
// the ID the API would give it), and drops the findings of a disabled
// detector, as GuardDuty generates none while suspended; count says
// whether to count those (not for early findings, foreseen again at every
// commit).
func (g *Loop) fileUnderDetectors(ctx context.Context, fs []*finding.Finding, count bool) ([]*finding.Finding, error) {
	type region struct{ account, region string }
	dets := map[region]*store.Detector{}
	out := make([]*finding.Finding, 0, len(fs))
	for _, f := range fs {
		k := region{f.AccountID, f.Region}
		d, ok := dets[k]
		if !ok {
			var err error
			if d, err = g.detectorFor(ctx, k.account, k.region); err != nil {
				return nil, err
			}
			dets[k] = d
		}
		if !d.Enabled {
			if count {
				g.c.Dropped["detector-disabled"]++
			}
			continue
		}
		if f.Service.DetectorID != d.ID {
			f.Service.DetectorID = d.ID
			f.Arn = finding.ARN(f.Partition, f.Region, f.AccountID, d.ID, f.ID)
		}
		out = append(out, f)
	}
	return out, nil
}

func (g *Loop) detectorFor(ctx context.Context, account, region string) (*store.Detector, error) {
	return EnsureDetector(ctx, g.store, account, region, g.log)
}

// EnsureDetector returns the store's detector of an account's region,
// creating it, with the ID the API would give it, if the region has none.
func EnsureDetector(ctx context.Context, st Store, account, region string, log *slog.Logger) (*store.Detector, error) {
	d, err := st.DetectorFor(ctx, account, region)
	if err == nil {
		return d, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("finding the detector of %s in %s: %w", account, region, err)
	}
	now := time.Now().UTC()
	d = &store.Detector{
		ID: finding.DetectorID(account, region), Account: account, Region: region, Enabled: true,
		FindingPublishingFrequency: "SIX_HOURS", CreatedAt: now, UpdatedAt: now,
	}
	switch err := st.CreateDetector(ctx, d); {
	case err == nil:
		log.Info("created a detector for findings of a new region", "detector_id", d.ID, "account", account, "region", region)
		return d, nil
	case errors.Is(err, store.ErrExists):
		return st.DetectorFor(ctx, account, region)
	default:
		return nil, fmt.Errorf("creating the detector of %s in %s: %w", account, region, err)
	}
}

// publish hands the counters to the metrics, at most every 250ms unless
// forced.
func (g *Loop) publish(force bool) {
	now := time.Now()
	if !force && now.Sub(g.lastPublish) < 250*time.Millisecond {
		return
	}
	g.lastPublish = now
	var state map[string][]detect.StateStats
	if force || now.Sub(g.lastState) >= time.Second {
		state = g.eng.State()
		state["directions"] = []detect.StateStats{{Table: "interfaces", Len: g.dirs.Stats().Interfaces, Cap: g.dirCap, Evicted: g.dirs.Stats().Evicted}}
		g.lastState = now
	}
	st := g.eng.Stats()
	g.c.Late = st.Late
	for k, n := range g.feed.Records {
		if n > 0 {
			g.c.Records[event.Kind(k).String()] = n
		}
	}
	g.c.NoData, g.c.SkipData = g.feed.Enrich.NoData, g.feed.Enrich.SkipData
	g.c.Skipped = g.feed.Skipped
	newest := int64(0)
	if st.MaxSeen != event.Never {
		newest = int64(st.MaxSeen)
	}
	g.metrics.Publish(g.c.Clone(), state, newest)
}

// read reads a task's records from its start position to its end (or
// until shutdown) and finishes it.
func (g *Loop) read(ctx context.Context, t *source.Task) {
	g.cur, g.pos = t, t.Start
	start := time.Now()
	pos, err := g.readTask(ctx, t, &g.pos)
	g.cur = nil
	g.markChanged()
	kind := sourceKind(t.Name)
	switch {
	case err == nil:
		g.c.Inputs[kind]++
		g.log.Debug("input read", "input", t.Name, "from_line", t.Start.Line, "to_line", pos.Line, "records", pos.Records, "took", time.Since(start))
	case errors.Is(err, source.ErrStopped):
	default:
		g.c.Failed[kind]++
		g.log.Warn("input not read to its end", "input", t.Name, "error", err, "line", pos.Line, "records", pos.Records)
	}
	t.Finish(pos, err)
}

// readTask reads t from t.Start through the Feed into the engine. It
// keeps *pos at the position after the last record processed (the loop
// reads it at commits) and returns it with nil at the end, ErrStopped on
// shutdown (or for a capture still being written, read once complete),
// an error wrapping source.ErrUnreadable for an input in no format it
// reads, or the error that ended it.
func (g *Loop) readTask(ctx context.Context, t *source.Task, pos *source.Position) (source.Position, error) {
	*pos = t.Start
	st, err := t.Open()
	if err != nil {
		return *pos, err
	}
	defer func() {
		if kind := sourceKind(t.Name); kind != "firehose" {
			g.c.Bytes[kind] += uint64(st.Consumed())
		}
		st.Close()
	}()
	in, err := g.feed.Open(st, Spec{
		Name: t.Name, Layout: t.Layout, Defaults: t.Defaults, Start: decode.Position(t.Start),
		Partial: !t.Complete, Lines: strings.HasPrefix(t.Name, "firehose:"),
	})
	switch {
	case errors.Is(err, decode.ErrEmpty):
		return *pos, nil
	case errors.Is(err, decode.ErrIncomplete):
		return *pos, source.ErrStopped
	case errors.Is(err, decode.ErrUnrecognized):
		// Counted once here; the source holds the input back until it
		// changes rather than hand it over, and count it, at every poll.
		g.bad("unrecognized-format", fmt.Errorf("%s: %w", t.Name, err))
		return *pos, fmt.Errorf("%w: %w", source.ErrUnreadable, err)
	case err != nil:
		return *pos, err
	}
	defer g.feed.Close(in)
	g.usage.last = nil
	for n := 1; ; n++ {
		if n%pollEvery == 0 && g.poll(ctx) {
			return *pos, source.ErrStopped
		}
		before := pos.Offset
		rec, err := g.feed.Next(in)
		*pos = source.Position(in.Reader.Position())
		if err != nil {
			if errors.Is(err, io.EOF) {
				g.usage.addBytes(pos.Offset - before)
				return *pos, nil
			}
			return *pos, err
		}
		g.usage.add(rec, pos.Offset-before)
		g.observed++
		g.eng.Observe(rec)
	}
}

func sourceKind(name string) string {
	switch {
	case strings.HasPrefix(name, "s3://"):
		return "s3"
	case strings.HasPrefix(name, "firehose:"):
		return "firehose"
	}
	return "watch"
}

// push processes a Firehose delivery whole (no commit falls inside it)
// and queues its acknowledgement for the next commit, which comes within
// the commit delay. A delivery already processed (a retry) is only
// acknowledged.
func (g *Loop) push(p *push) {
	if !g.firehose.Seen(p.d.RequestID) {
		g.inPush = true
		for i, rec := range p.d.Records {
			name := p.d.Name(i)
			t := source.NewTask(name, func() (*source.Stream, error) {
				return source.NewStream(name, io.NopCloser(bytes.NewReader(rec)))
			}, nil)
			t.Defaults = p.d.Defaults
			t.Complete = true
			var pos source.Position
			_, err := g.readTask(context.Background(), t, &pos)
			g.c.Bytes["firehose"] += uint64(len(rec))
			if err != nil {
				g.c.Failed["firehose"]++
				g.log.Warn("firehose record not read to its end", "record", name, "error", err)
			} else {
				g.c.Inputs["firehose"]++
			}
		}
		g.inPush = false
		g.firehose.Processed(p.d.RequestID)
		g.markChanged()
	}
	g.acks = append(g.acks, p)
	if g.ackDue.IsZero() {
		g.ackDue = time.Now().Add(g.ackDelay)
	}
}

// bad counts a bad record the Feed did not see and logs it as the Feed's
// are logged.
func (g *Loop) bad(reason string, err error) {
	g.feed.Skipped[reason]++
	g.logBad(reason, err)
}

// logBad logs the first few bad records of each reason, then one in ten
// thousand.
func (g *Loop) logBad(reason string, err error) error {
	n := g.logged[reason] + 1
	g.logged[reason] = n
	if n <= 5 || n%10_000 == 0 {
		g.log.Warn("bad record skipped", "reason", reason, "error", err.Error(), "count", g.feed.Skipped[reason])
	}
	return nil
}
