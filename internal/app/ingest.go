package app

import (
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"picket/internal/decode"
	"picket/internal/decode/cloudtrail"
	"picket/internal/decode/vpcflow"
	"picket/internal/detect"
	"picket/internal/enrich"
	"picket/internal/event"
	"picket/internal/finding"
	"picket/internal/source"
	"picket/internal/store"
)

// ingest is the service's pipeline: it owns the detection engine, the
// direction resolver and the findings not yet committed, and is the only
// goroutine that touches them. Sources hand it tasks (files, objects)
// and Firehose deliveries; it decodes their records, runs them through
// enrich and detect, and every commit interval commits, in one store
// transaction, the findings reported since the last commit, every
// source's checkpoint and a snapshot of the detection state. Because the
// checkpoints and the state are taken at the same record boundary, a
// restart from the last commit neither loses nor repeats a record's
// effect.
type ingest struct {
	log     *slog.Logger
	store   store.Store
	metrics *metrics
	sources []checkpointer

	eng     *detect.Engine
	dirs    *enrich.Directions
	ipinfo  *enrich.IPInfos // nil without databases
	pending *finding.Set

	every       time.Duration // commit interval
	idleFlush   time.Duration // quiet time after which the watermark catches up
	ackDelay    time.Duration // Firehose commit delay
	account     event.ID
	region      event.ID
	flowFormat  *vpcflow.Format
	firehose    *source.Firehose
	commitCount int

	tasks  <-chan *source.Task
	pushes chan *push
	done   <-chan struct{} // closed when the loop is told to stop
	// stopped is closed when the loop no longer takes deliveries.
	stopped chan struct{}

	fileR, pushR *reader
	cur          *source.Task // the task being read
	pos          source.Position
	inPush       bool
	changed      bool // records or progress since the last commit
	acks         []*push
	ackDue       time.Time
	lastCommit   time.Time
	commitTook   time.Duration // how long the last commit took
	lastPublish  time.Time
	lastState    time.Time
	dirCap       int
	c            ingestCounters
	logged       map[string]uint64 // bad records logged, by reason
	// observed counts records given to the engine; lastActive is when
	// the loop last saw it change.
	observed, seen uint64
	lastActive     time.Time
}

// checkpointer is a source as the ingest loop sees it.
type checkpointer interface {
	Name() string
	Restore([]source.Checkpoint) error
	Checkpoints() []source.Checkpoint
}

// push is one Firehose delivery on its way to a commit.
type push struct {
	d    *source.Delivery
	done chan error
}

// pollEvery is how many lines or records pass between checks for
// deliveries, commits and shutdown.
const pollEvery = 4096

// serveState is the detection state the store keeps with each commit.
type serveState struct {
	Version    int
	Engine     []byte
	Directions []byte
}

const serveStateVersion = 1

func (g *ingest) marshalState() ([]byte, error) {
	e, err := g.eng.MarshalState()
	if err != nil {
		return nil, err
	}
	d, err := g.dirs.MarshalState()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(serveState{Version: serveStateVersion, Engine: e, Directions: d}); err != nil {
		return nil, fmt.Errorf("encoding detection state: %w", err)
	}
	return buf.Bytes(), nil
}

func (g *ingest) unmarshalState(b []byte) error {
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
	return g.dirs.UnmarshalState(st.Directions)
}

// restore loads the last committed state and checkpoints. A state this
// picket cannot read is logged and detection starts afresh (the
// checkpoints still hold, so no record is read twice).
func (g *ingest) restore(ctx context.Context) error {
	b, err := g.store.State(ctx)
	if err != nil {
		return fmt.Errorf("reading detection state: %w", err)
	}
	if len(b) > 0 {
		if err := g.unmarshalState(b); err != nil {
			g.log.Warn("detection state not restored; detection starts afresh", "error", err)
		} else {
			st := g.eng.Stats()
			g.log.Info("detection state restored", "bytes", len(b), "watermark", g.eng.Watermark().String(),
				"records", st.Records[event.KindFlow]+st.Records[event.KindAPICall])
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

// deliver hands a Firehose delivery to the loop and waits for the commit
// that holds it.
func (g *ingest) deliver(ctx context.Context, d *source.Delivery) error {
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

// run is the loop. It returns when ctx is done, after the current task
// is stopped at a record boundary, deliveries already taken are
// processed, and the final commit is made.
func (g *ingest) run(ctx context.Context) error {
	g.done = ctx.Done()
	g.lastCommit = time.Now()
	g.lastActive = g.lastCommit
	tick := time.NewTicker(min(g.every, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return g.stop()
		case t := <-g.tasks:
			g.read(ctx, t)
		case p := <-g.pushes:
			g.push(p)
		case <-tick.C:
		}
		g.maybeCatchUp()
		if err := g.maybeCommit(); err != nil {
			return err
		}
		g.publish(false)
	}
}

func (g *ingest) stop() error {
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
func (g *ingest) stopping() bool {
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

// maybeCatchUp lets the watermark reach the newest event time once no
// record has arrived for idleFlush. A replay or a busy stream never
// waits that long between records, so its findings are those of
// picket analyze; a quiet source's last activity is decided then
// rather than when its next records arrive.
func (g *ingest) maybeCatchUp() {
	now := time.Now()
	if g.observed != g.seen {
		g.seen, g.lastActive = g.observed, now
		return
	}
	if g.idleFlush > 0 && now.Sub(g.lastActive) >= g.idleFlush && g.eng.CatchUp() {
		g.changed = true
		g.log.Debug("no records for a while: the watermark caught up with the newest event", "idle", g.idleFlush)
	}
}

// maybeCommit commits when the interval is up, a delivery waits, or new
// findings have waited long enough.
func (g *ingest) maybeCommit() error {
	now := time.Now()
	since := now.Sub(g.lastCommit)
	if since >= g.every || (!g.ackDue.IsZero() && !now.Before(g.ackDue)) ||
		(g.pending.Len() > 0 && since >= max(findingsDelay, 10*g.commitTook)) {
		return g.commit(false)
	}
	return nil
}

// poll runs between records of a task: deliveries, commits, metrics. It
// reports whether to stop reading (shutdown).
func (g *ingest) poll(ctx context.Context) bool {
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
	if err := g.maybeCommit(); err != nil {
		return true
	}
	g.publish(false)
	return false
}

// commit commits the pending findings, every changed checkpoint and the
// detection state. A failed commit is retried with backoff (ingest waits
// meanwhile, which holds back the sources); at shutdown it gives up after
// a few tries, and the next start resumes from the last good commit.
func (g *ingest) commit(final bool) error {
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
	state, err := g.marshalState()
	if err != nil {
		return fmt.Errorf("saving detection state: %w", err)
	}
	findings := g.pending.Sorted()
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		var kept []*finding.Finding
		kept, err = g.fileUnderDetectors(ctx, findings)
		if err == nil {
			err = g.store.Commit(ctx, store.Batch{Findings: kept, Checkpoints: cps, State: state})
		}
		cancel()
		g.metrics.commit(time.Since(start), err, len(state))
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
	g.log.Debug("committed", "findings", len(findings), "checkpoints", len(cps), "state_bytes", len(state), "took", time.Since(start))
	g.pending = finding.NewSet()
	g.changed = false
	g.metrics.uncommitted.Store(false)
	g.lastCommit = time.Now()
	g.commitTook = g.lastCommit.Sub(start)
	g.publish(true) // what a commit made durable shows at once
	for _, p := range g.acks {
		p.done <- nil
	}
	g.acks = nil
	g.ackDue = time.Time{}
	return nil
}

// markChanged notes that there is progress to commit.
func (g *ingest) markChanged() {
	if !g.changed {
		g.changed = true
		g.metrics.uncommitted.Store(true)
	}
}

// fileUnderDetectors files each finding under the store's detector of its
// account and region, creating the detector if the region has none (with
// the ID the API would give it), and drops the findings of a disabled
// detector, as GuardDuty generates none while suspended.
func (g *ingest) fileUnderDetectors(ctx context.Context, fs []*finding.Finding) ([]*finding.Finding, error) {
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
			g.c.Dropped["detector-disabled"]++
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

func (g *ingest) detectorFor(ctx context.Context, account, region string) (*store.Detector, error) {
	d, err := g.store.DetectorFor(ctx, account, region)
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
	switch err := g.store.CreateDetector(ctx, d); {
	case err == nil:
		g.log.Info("created a detector for findings of a new region", "detector_id", d.ID, "account", account, "region", region)
		return d, nil
	case errors.Is(err, store.ErrExists):
		return g.store.DetectorFor(ctx, account, region)
	default:
		return nil, fmt.Errorf("creating the detector of %s in %s: %w", account, region, err)
	}
}

// publish hands the counters to the metrics, at most every 250ms unless
// forced.
func (g *ingest) publish(force bool) {
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
	newest := int64(0)
	if st.MaxSeen != event.Never {
		newest = int64(st.MaxSeen)
	}
	g.metrics.publish(g.c.clone(), state, newest)
}

// read reads a task's records from its start position to its end (or
// until shutdown) and finishes it.
func (g *ingest) read(ctx context.Context, t *source.Task) {
	g.cur, g.pos = t, t.Start
	start := time.Now()
	pos, err := g.fileR.read(ctx, t, &g.pos)
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
func (g *ingest) push(p *push) {
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
			_, err := g.pushR.read(context.Background(), t, &pos)
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

// observe runs one decoded flow through enrich and detect.
func (g *ingest) flow(f *event.Flow, account, region event.ID) {
	g.c.Records["flow"]++
	switch f.Status {
	case event.StatusNoData:
		g.c.NoData++
		return
	case event.StatusSkipData:
		g.c.SkipData++
		return
	}
	if f.Account.IsZero() || f.Account.String() == "unknown" {
		f.Account = account
	}
	if f.Region.IsZero() {
		f.Region = region
	}
	g.dirs.Resolve(f)
	g.observed++
	g.eng.Observe(f)
}

// apiCall completes a decoded API call from what its input says and runs
// it through detect.
func (g *ingest) apiCall(c *event.APICall, account, region event.ID) {
	g.c.Records["api-call"]++
	if c.Account.IsZero() {
		c.Account = account
	}
	if c.Region.IsZero() {
		c.Region = region
	}
	g.ipinfo.Annotate(c)
	g.observed++
	g.eng.Observe(c)
}

// bad counts a bad record and logs the first few of each reason, then
// one in ten thousand.
func (g *ingest) bad(reason string, err error) {
	g.c.Skipped[reason]++
	n := g.logged[reason] + 1
	g.logged[reason] = n
	if n <= 5 || n%10_000 == 0 {
		g.log.Warn("bad record skipped", "reason", reason, "error", err.Error(), "count", g.c.Skipped[reason])
	}
}

// reader decodes tasks. The loop has two, one for files and objects and
// one for Firehose deliveries, which may arrive while a file is read.
type reader struct {
	g     *ingest
	lines lineReader
	fdec  *vpcflow.Decoder
	flow  event.Flow
	ct    *cloudtrail.Reader
	call  event.APICall
}

func newReader(g *ingest) *reader {
	return &reader{g: g, fdec: vpcflow.NewDecoder("", nil), lines: lineReader{buf: make([]byte, 256<<10), max: vpcflow.MaxLine}}
}

// read reads t from t.Start. It keeps *pos at the position after the last
// record processed (the loop reads it at commits) and returns it with
// nil at the end, ErrStopped on shutdown, or the error that ended it.
func (r *reader) read(ctx context.Context, t *source.Task, pos *source.Position) (source.Position, error) {
	g := r.g
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
	account, region := g.account, g.region
	switch {
	case t.Layout.Account != "":
		account = event.Intern(t.Layout.Account)
	case t.Defaults.Account != "":
		account = event.Intern(t.Defaults.Account)
	}
	switch {
	case t.Layout.Region != "":
		region = event.Intern(t.Layout.Region)
	case t.Defaults.Region != "":
		region = event.Intern(t.Defaults.Region)
	}
	flowFormat := g.flowFormat
	if t.Defaults.FlowFormat != "" {
		f, err := vpcflow.ParseFormat(t.Defaults.FlowFormat)
		if err != nil {
			return *pos, err
		}
		flowFormat = &f
	}
	head := st.Head(4096)
	format := decode.Detect(head)
	if format == decode.Unknown && len(head) > 0 {
		switch {
		case bytes.Contains(head, []byte(`"logEvents"`)):
			return r.logEvents(ctx, t, st, pos, account, region, flowFormat)
		case flowFormat != nil || strings.HasPrefix(t.Name, "firehose:"):
			// Headerless flow logs in a custom format may not look like
			// flow logs; Firehose records are headerless lines.
			format = decode.VPCFlow
		}
	}
	switch format {
	case decode.VPCFlow:
		return r.flowText(ctx, t, st, pos, account, region, flowFormat)
	case decode.VPCFlowParquet:
		return r.parquet(ctx, t, st, pos, account, region)
	case decode.CloudTrail:
		return r.cloudTrail(ctx, t, st, pos, account, region)
	}
	if len(head) == 0 {
		return *pos, nil // empty
	}
	g.bad("unrecognized-format", fmt.Errorf("%s: unrecognized format (%s)", t.Name, format))
	return *pos, nil
}

// flowText reads flow log text line by line, keeping the byte offset and
// line number of the last line processed and the header in effect.
func (r *reader) flowText(ctx context.Context, t *source.Task, st *source.Stream, pos *source.Position, account, region event.ID, flowFormat *vpcflow.Format) (source.Position, error) {
	g := r.g
	format := flowFormat
	if pos.Header != "" {
		f, err := vpcflow.ParseFormat(pos.Header)
		if err != nil {
			return *pos, fmt.Errorf("resuming: saved header: %w", err)
		}
		format = &f
	}
	r.fdec.Reset(t.Name, format)
	if pos.Offset > 0 {
		if err := st.Skip(pos.Offset); err != nil {
			return *pos, fmt.Errorf("resuming at byte %d: %w", pos.Offset, err)
		}
		r.fdec.SetLine(pos.Line)
	}
	r.lines.reset(st)
	for n := 1; ; n++ {
		if n%pollEvery == 0 && g.poll(ctx) {
			return *pos, source.ErrStopped
		}
		line, size, err := r.lines.next(t.Complete)
		if err != nil {
			switch {
			case errors.Is(err, io.EOF), errors.Is(err, errPartialLine):
				return *pos, nil
			case errors.Is(err, errLineTooLong):
				pos.Offset += size
				pos.Line++
				r.fdec.SetLine(pos.Line)
				pe := &vpcflow.ParseError{File: t.Name, Line: pos.Line, Err: vpcflow.ErrLineTooLong}
				g.bad(vpcflow.Reason(pe), pe)
				continue
			}
			return *pos, err
		}
		kind, derr := r.fdec.Decode(line, &r.flow)
		pos.Offset += size
		pos.Line = r.fdec.Line()
		if kind == vpcflow.LineHeader {
			pos.Header = strings.TrimSuffix(string(line), "\r")
			continue
		}
		if derr != nil {
			var pe *vpcflow.ParseError
			reason := "other"
			if errors.As(derr, &pe) {
				reason = vpcflow.Reason(pe)
			}
			g.bad(reason, derr)
			continue
		}
		if kind == vpcflow.LineRecord {
			g.flow(&r.flow, account, region)
		}
	}
}

// parquet reads Parquet flow logs row by row; a resumed file skips the
// rows already processed.
func (r *reader) parquet(ctx context.Context, t *source.Task, st *source.Stream, pos *source.Position, account, region event.ID) (source.Position, error) {
	g := r.g
	ra, size, err := st.ReaderAt(maxParquetInMemory)
	if err != nil {
		return *pos, fmt.Errorf("reading Parquet: %w", err)
	}
	pr, err := vpcflow.NewParquetReader(ra, size, t.Name)
	if err != nil {
		return *pos, err
	}
	skip := pos.Records
	for n := 1; ; n++ {
		if n%pollEvery == 0 && g.poll(ctx) {
			return *pos, source.ErrStopped
		}
		err := pr.Next(&r.flow)
		if errors.Is(err, io.EOF) {
			return *pos, nil
		}
		row := pr.Row()
		if row <= skip {
			continue
		}
		if err != nil {
			var pe *vpcflow.ParseError
			if !errors.As(err, &pe) {
				return *pos, err
			}
			pos.Records = row
			g.bad(vpcflow.Reason(pe), err)
			continue
		}
		pos.Records = row
		g.flow(&r.flow, account, region)
	}
}

// cloudTrail reads CloudTrail events; a resumed input skips the events
// already processed.
func (r *reader) cloudTrail(ctx context.Context, t *source.Task, st *source.Stream, pos *source.Position, account, region event.ID) (source.Position, error) {
	g := r.g
	if r.ct == nil {
		r.ct = cloudtrail.NewReader(st, t.Name)
	} else {
		r.ct.Reset(st, t.Name)
	}
	skip := pos.Records
	for n := 1; ; n++ {
		if n%pollEvery == 0 && g.poll(ctx) {
			return *pos, source.ErrStopped
		}
		err := r.ct.Next(&r.call)
		if errors.Is(err, io.EOF) {
			return *pos, nil
		}
		done := r.ct.Records()
		if done <= skip {
			continue
		}
		var pe *cloudtrail.ParseError
		switch {
		case err == nil:
			pos.Records = done
			g.apiCall(&r.call, account, region)
		case errors.As(err, &pe):
			pos.Records = done
			g.bad("cloudtrail-"+pe.Reason(), err)
		default:
			return *pos, err
		}
	}
}

// maxLogEvents bounds a CloudWatch Logs subscription payload held in
// memory.
const maxLogEvents = 64 << 20

// logEvents reads a CloudWatch Logs subscription payload whose messages
// are flow log lines ({"messageType":"DATA_MESSAGE","logEvents":[{
// "message": "..."}]}), as Firehose delivers a log group's flow logs.
// Payloads are small; the position counts events.
func (r *reader) logEvents(ctx context.Context, t *source.Task, st *source.Stream, pos *source.Position, account, region event.ID, flowFormat *vpcflow.Format) (source.Position, error) {
	g := r.g
	data, err := io.ReadAll(io.LimitReader(st, maxLogEvents+1))
	if err != nil {
		return *pos, err
	}
	if len(data) > maxLogEvents {
		g.bad("too-large", fmt.Errorf("%s: CloudWatch Logs payload over %d bytes", t.Name, maxLogEvents))
		return *pos, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	for dec.More() {
		var msg struct {
			MessageType string `json:"messageType"`
			Owner       string `json:"owner"`
			LogEvents   []struct {
				Message string `json:"message"`
			} `json:"logEvents"`
		}
		if err := dec.Decode(&msg); err != nil {
			g.bad("syntax", fmt.Errorf("%s: CloudWatch Logs payload: %w", t.Name, err))
			return *pos, nil
		}
		if msg.MessageType != "DATA_MESSAGE" {
			continue // CONTROL_MESSAGE: a connectivity check
		}
		acct := account
		if len(msg.Owner) == 12 {
			acct = event.Intern(msg.Owner)
		}
		r.fdec.Reset(t.Name, flowFormat)
		for _, ev := range msg.LogEvents {
			pos.Records++
			if pos.Records <= t.Start.Records {
				continue
			}
			kind, derr := r.fdec.Decode([]byte(ev.Message), &r.flow)
			if derr != nil {
				var pe *vpcflow.ParseError
				reason := "other"
				if errors.As(derr, &pe) {
					reason = vpcflow.Reason(pe)
				}
				g.bad(reason, derr)
				continue
			}
			if kind == vpcflow.LineRecord {
				g.flow(&r.flow, acct, region)
			}
		}
	}
	return *pos, nil
}

// lineReader splits a stream into lines and says how many bytes each
// took, so that the ingest loop can checkpoint by byte offset.
type lineReader struct {
	r          io.Reader
	buf        []byte
	start, end int
	max        int
	err        error
	skipped    int64 // bytes of an overlong line discarded so far
}

var (
	errPartialLine = errors.New("last line not yet complete")
	errLineTooLong = errors.New("line too long")
)

func (l *lineReader) reset(r io.Reader) {
	l.r, l.start, l.end, l.err, l.skipped = r, 0, 0, nil, 0
}

// next returns the next line without its newline and the bytes it took
// with the newline. At the end of the input a last line without newline
// is returned if the input is complete, else errPartialLine (its bytes
// are left unread). An overlong line is skipped whole and reported with
// errLineTooLong and its size. The line is valid until the next call.
func (l *lineReader) next(complete bool) ([]byte, int64, error) {
	for {
		if i := bytes.IndexByte(l.buf[l.start:l.end], '\n'); i >= 0 {
			line := l.buf[l.start : l.start+i]
			l.start += i + 1
			if l.skipped > 0 {
				n := l.skipped + int64(i) + 1
				l.skipped = 0
				return nil, n, errLineTooLong
			}
			return line, int64(i) + 1, nil
		}
		if l.err != nil {
			if !errors.Is(l.err, io.EOF) {
				return nil, 0, l.err
			}
			if l.start == l.end && l.skipped == 0 {
				return nil, 0, io.EOF
			}
			if !complete {
				return nil, 0, errPartialLine
			}
			line := l.buf[l.start:l.end]
			n := int64(l.end - l.start)
			l.start = l.end
			if l.skipped > 0 {
				n += l.skipped
				l.skipped = 0
				return nil, n, errLineTooLong
			}
			return line, n, nil
		}
		if l.end-l.start >= l.max {
			l.skipped += int64(l.end - l.start)
			l.start = l.end
		}
		if l.start > 0 {
			n := copy(l.buf, l.buf[l.start:l.end])
			l.start, l.end = 0, n
		}
		n, err := l.r.Read(l.buf[l.end:])
		l.end += n
		if err != nil {
			l.err = err
		}
	}
}
