package cluster

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"picket/internal/detect"
	"picket/internal/event"
	"picket/internal/finding"
	"picket/internal/ingest"
	"picket/internal/store"
)

// Store is what a detector node needs of the store: PostgreSQL, shared
// by every node.
type Store interface {
	ingest.Store
}

// DetectorConfig is what a detector node is built from.
type DetectorConfig struct {
	Bus   *Bus
	Store Store
	// Build makes the stages and detectors of one partition's engine,
	// as picket analyze makes its own; it is called once per partition
	// taken.
	Build func() ([]detect.Stage, []detect.Detector, error)
	// Engine tunes the engines; its watermark comes from the marks.
	Engine detect.Config
	// Annotate, when set, fills each finding before it is committed.
	Annotate func(*finding.Finding)
	// Administrator is the administrator's account (see store.Batch).
	Administrator string
	// CommitInterval is how often a partition commits its progress (1s
	// unless set).
	CommitInterval time.Duration
	// Producers names the producers the partitions wait for from the
	// start, beside those that register in the bus: a replay's
	// producers, started together, are then merged exactly however
	// their first records race.
	Producers []string
	// MaxHeld bounds the records the node holds for the merge
	// (DefaultMaxHeld unless set).
	MaxHeld int
	// MaxPartitions caps the partitions this node takes (0: its fair
	// share, the partitions divided by the live detector nodes,
	// rounded up).
	MaxPartitions int
}

// Stats are a detector node's counts, for metrics and tests.
type Stats struct {
	Owned    int    // partitions held now
	Taken    uint64 // partitions taken, over the node's life
	Lost     uint64 // leases lost before they were let go (their uncommitted work is redone by the next owner)
	Records  uint64 // records released to the engines
	Held     int64  // records taken from the stream and held for the merge
	Forced   uint64 // records released without waiting for a producer, the held records being at their cap
	Commits  uint64
	Failed   uint64 // commits that failed (each is retried, up to five times)
	Findings uint64 // finding reports committed
	Bad      uint64 // messages skipped as unusable (each logged with its partition and sequence)
}

// Detector is a detector node.
type Detector struct {
	cfg  DetectorConfig
	bus  *Bus
	log  *slog.Logger
	mu   sync.Mutex
	runs map[int]*partition

	producers atomic.Pointer[map[string]bool]
	maxHeld   int64

	taken, lost, records, forced, commits, failed, findings, bad atomic.Uint64
	held                                                         atomic.Int64
}

// NewDetector returns a detector node; Run runs it.
func NewDetector(cfg DetectorConfig) *Detector {
	if cfg.CommitInterval <= 0 {
		cfg.CommitInterval = time.Second
	}
	d := &Detector{cfg: cfg, bus: cfg.Bus, log: cfg.Bus.cfg.Log.With("node", cfg.Bus.cfg.Node), runs: map[int]*partition{}, maxHeld: DefaultMaxHeld}
	if cfg.MaxHeld > 0 {
		d.maxHeld = int64(cfg.MaxHeld)
	}
	empty := map[string]bool{}
	d.producers.Store(&empty)
	return d
}

// Stats returns the node's counts.
func (d *Detector) Stats() Stats {
	d.mu.Lock()
	owned := len(d.runs)
	d.mu.Unlock()
	return Stats{Owned: owned, Taken: d.taken.Load(), Lost: d.lost.Load(), Records: d.records.Load(), Held: d.held.Load(),
		Forced: d.forced.Load(), Commits: d.commits.Load(), Failed: d.failed.Load(), Findings: d.findings.Load(), Bad: d.bad.Load()}
}

// Run takes and runs partitions until ctx is done, then commits each
// and lets its leases go.
func (d *Detector) Run(ctx context.Context) error {
	every := d.bus.cfg.LeaseTTL / 3
	t := time.NewTicker(every)
	defer t.Stop()
	defer d.releaseAll()
	for {
		if err := d.balance(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			d.log.Warn("cluster: balancing partitions", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// balance renews the node's registration and leases, reads the live
// producers, and takes or lets go of partitions to hold its share.
func (d *Detector) balance(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, d.bus.cfg.LeaseTTL/2)
	defer cancel()
	if _, err := d.bus.nodes.Put(rctx, d.bus.cfg.Node, []byte("live")); err != nil {
		return fmt.Errorf("registering: %w", err)
	}
	prods, err := live(rctx, d.bus.producers)
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return fmt.Errorf("reading producers: %w", err)
	}
	if prods == nil {
		prods = map[string]bool{}
	}
	d.producers.Store(&prods)
	nodes, err := live(rctx, d.bus.nodes)
	if err != nil {
		return fmt.Errorf("reading nodes: %w", err)
	}
	n := d.bus.cfg.Partitions
	share := (n + len(nodes) - 1) / max(len(nodes), 1)
	if d.cfg.MaxPartitions > 0 {
		share = min(share, d.cfg.MaxPartitions)
	}

	// Renew what is held; a lease that cannot be renewed is lost.
	d.mu.Lock()
	held := slices.Sorted(maps.Keys(d.runs))
	d.mu.Unlock()
	for _, p := range held {
		r := d.run(p)
		if r == nil {
			continue
		}
		rev, err := d.bus.leases.Update(rctx, leaseKey(p), []byte(d.bus.cfg.Node), r.rev.Load())
		if err != nil {
			d.log.Warn("cluster: lost the lease of a partition", "partition", p, "error", err)
			d.lost.Add(1)
			d.stopRun(p, false)
			continue
		}
		r.rev.Store(rev)
	}
	d.mu.Lock()
	owned := len(d.runs)
	d.mu.Unlock()
	// Let go of partitions beyond the share, the highest first.
	for i := len(held) - 1; i >= 0 && owned > share; i-- {
		if d.run(held[i]) != nil {
			d.stopRun(held[i], true)
			owned--
		}
	}
	// Take free partitions up to the share, starting at a point of the
	// node's own so that nodes starting together spread.
	h := fnv.New32a()
	h.Write([]byte(d.bus.cfg.Node))
	start := int(h.Sum32() % uint32(n))
	for i := 0; i < n && owned < share; i++ {
		p := (start + i) % n
		if d.run(p) != nil {
			continue
		}
		rev, err := d.bus.leases.Create(rctx, leaseKey(p), []byte(d.bus.cfg.Node))
		if err != nil {
			continue // held by another node
		}
		d.startRun(p, rev)
		owned++
	}
	return nil
}

func leaseKey(p int) string { return "p" + strconv.Itoa(p) }

func (d *Detector) run(p int) *partition {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.runs[p]
}

func (d *Detector) startRun(p int, rev uint64) {
	// Only stopRun ends a partition's run, so that it knows whether to
	// commit first.
	rctx, cancel := context.WithCancel(context.Background())
	r := &partition{d: d, p: p, epoch: int64(rev), cancel: cancel, done: make(chan struct{})}
	r.rev.Store(rev)
	d.mu.Lock()
	d.runs[p] = r
	d.mu.Unlock()
	d.taken.Add(1)
	d.log.Info("cluster: took a partition", "partition", p, "epoch", rev)
	go func() {
		defer close(r.done)
		err := r.loop(rctx)
		d.held.Add(-int64(r.queued))
		if err != nil && rctx.Err() == nil {
			d.log.Error("cluster: partition stopped", "partition", p, "error", err)
		}
		d.mu.Lock()
		if d.runs[p] == r {
			delete(d.runs, p)
		}
		d.mu.Unlock()
		if err != nil && rctx.Err() == nil {
			// Let another node (or this one, later) try again.
			dctx, c := context.WithTimeout(context.Background(), time.Second)
			d.bus.leases.Delete(dctx, leaseKey(p), jetstream.LastRevision(r.rev.Load()))
			c()
		}
	}()
}

// stopRun stops partition p: with release, after a last commit, giving
// up its lease; without, dropping what was not committed (the lease is
// lost).
func (d *Detector) stopRun(p int, release bool) {
	r := d.run(p)
	if r == nil {
		return
	}
	r.release.Store(release)
	r.cancel()
	<-r.done
	if release {
		ctx, cancel := context.WithTimeout(context.Background(), d.bus.cfg.LeaseTTL)
		if err := d.bus.leases.Delete(ctx, leaseKey(p), jetstream.LastRevision(r.rev.Load())); err != nil {
			d.log.Warn("cluster: releasing a partition", "partition", p, "error", err)
		}
		cancel()
	}
	d.log.Info("cluster: let go of a partition", "partition", p, "committed", release)
}

func (d *Detector) releaseAll() {
	d.mu.Lock()
	held := slices.Collect(maps.Keys(d.runs))
	d.mu.Unlock()
	for _, p := range held {
		d.stopRun(p, true)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	d.bus.nodes.Delete(ctx, d.bus.cfg.Node)
	cancel()
}

// partState is what a partition commits beside its findings: where it
// is in the stream, each producer's position and the records it has
// taken from it but not yet released to the engine, and the engine's
// state.
type partState struct {
	Version   int
	Seq       uint64
	Producers map[string]*producerState
	Engine    []byte
	Forced    uint64 // records released without waiting for a producer
}

// producerState is one producer as a partition knows it.
type producerState struct {
	// Mark is the producer's position: the newest event time it had
	// published when it last marked; none of its later records is
	// older, as far as its inputs are in order. event.Forever once it
	// ended.
	Mark   event.Time
	Marked bool
	// Quiet says the producer's input had gone quiet at its last mark.
	Quiet bool
	// Pending holds the records taken from it and not yet released.
	Pending batch

	recs []event.Record // Pending's records, from head on
	head int
}

// CheckpointName is the name under which partition p of the cluster
// named name commits its position and state.
func CheckpointName(name string, p int) string {
	return "cluster/" + name + "/partition/" + strconv.Itoa(p)
}

// PartitionProgress is what a partition's checkpoint says of it.
type PartitionProgress struct {
	Partition int
	Seq       uint64
	// Ended says every producer the partition knows has ended its
	// input and the partition has released every record.
	Ended     bool
	Producers int
	Watermark event.Time // the engine's
	Records   uint64     // records the engine observed, derived ones included
	Pending   int        // records taken from producers, not yet released
	Forced    uint64
}

// Progress reads every partition's committed progress from the store.
func Progress(ctx context.Context, st Store, name string, partitions int) ([]PartitionProgress, error) {
	cps, err := st.Checkpoints(ctx)
	if err != nil {
		return nil, err
	}
	by := map[string][]byte{}
	for _, c := range cps {
		by[c.Source] = c.Position
	}
	out := make([]PartitionProgress, partitions)
	for p := range partitions {
		out[p] = PartitionProgress{Partition: p, Watermark: event.Never}
		b, ok := by[CheckpointName(name, p)]
		if !ok {
			continue
		}
		var s partState
		if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&s); err != nil {
			return nil, fmt.Errorf("partition %d: %w", p, err)
		}
		out[p].Seq, out[p].Producers, out[p].Forced = s.Seq, len(s.Producers), s.Forced
		out[p].Ended = len(s.Producers) > 0
		for _, ps := range s.Producers {
			out[p].Pending += ps.Pending.len()
			if ps.Mark != event.Forever || ps.Pending.len() > 0 {
				out[p].Ended = false
			}
		}
		if len(s.Engine) > 0 {
			if st, err := detect.SavedStats(s.Engine); err == nil {
				out[p].Watermark = st.Watermark
				for _, n := range st.Records {
					out[p].Records += n
				}
			}
		}
	}
	return out, nil
}

// DefaultMaxHeld bounds the records a detector node holds back, over
// all its partitions, waiting for a producer: about 160 MB of flow
// records. Beyond it each partition releases its oldest, and the silent
// producer's records older than those may arrive late (counted as
// forced).
const DefaultMaxHeld = 1 << 18

// partition is one partition run by this node. It merges its
// producers' records by event time, as picket analyze merges its
// inputs: it releases to the engine the oldest of the producers' next
// records, once every producer has either a record waiting or marked a
// position at least as new. Its engine advances itself as analyze's
// does, so a partition given the records of a replay in analyze's
// order makes analyze's findings.
type partition struct {
	d       *Detector
	p       int
	epoch   int64
	rev     atomic.Uint64
	cancel  context.CancelFunc
	done    chan struct{}
	release atomic.Bool

	eng     *detect.Engine
	pending *finding.Set
	state   partState
	queued  int
	changed bool
	flushed bool
	// commitNow asks for a commit without waiting for the interval.
	commitNow bool
}

func (r *partition) name() string { return CheckpointName(r.d.bus.cfg.Name, r.p) }

func (r *partition) restore(ctx context.Context) error {
	stages, dets, err := r.d.cfg.Build()
	if err != nil {
		return fmt.Errorf("building the detectors: %w", err)
	}
	cfg := r.d.cfg.Engine
	cfg.Apart = false
	r.pending = finding.NewSet()
	r.eng, err = detect.NewEngine(stages, dets, cfg, func(f *finding.Finding) {
		if r.d.cfg.Annotate != nil {
			r.d.cfg.Annotate(f)
		}
		r.pending.Add(f)
	})
	if err != nil {
		return err
	}
	cps, err := r.d.cfg.Store.Checkpoints(ctx)
	if err != nil {
		return fmt.Errorf("reading checkpoints: %w", err)
	}
	r.state = partState{Version: 1, Producers: map[string]*producerState{}}
	for _, c := range cps {
		if c.Source != r.name() {
			continue
		}
		if err := gob.NewDecoder(bytes.NewReader(c.Position)).Decode(&r.state); err != nil {
			return fmt.Errorf("partition %d's checkpoint: %w", r.p, err)
		}
		if r.state.Producers == nil {
			r.state.Producers = map[string]*producerState{}
		}
		for _, ps := range r.state.Producers {
			if err := ps.Pending.each(func(rec event.Record) { ps.recs = append(ps.recs, rec) }); err != nil {
				return fmt.Errorf("partition %d's checkpoint: %w", r.p, err)
			}
			r.queued += len(ps.recs)
			r.d.held.Add(int64(len(ps.recs)))
		}
		if len(r.state.Engine) > 0 {
			if err := r.eng.UnmarshalState(r.state.Engine); err != nil {
				return fmt.Errorf("partition %d's detection state: %w", r.p, err)
			}
		}
		r.flushed = r.eng.Watermark() == event.Forever
	}
	return nil
}

func (r *partition) loop(ctx context.Context) error {
	if err := r.restore(ctx); err != nil {
		return err
	}
	occ := jetstream.OrderedConsumerConfig{FilterSubjects: []string{r.d.bus.subject(r.p)}, DeliverPolicy: jetstream.DeliverAllPolicy}
	if r.state.Seq > 0 {
		occ.DeliverPolicy, occ.OptStartSeq = jetstream.DeliverByStartSequencePolicy, r.state.Seq+1
	}
	cons, err := r.d.bus.js.OrderedConsumer(ctx, r.d.bus.cfg.Name, occ)
	if err != nil {
		return fmt.Errorf("consuming partition %d: %w", r.p, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(16))
	if err != nil {
		return fmt.Errorf("consuming partition %d: %w", r.p, err)
	}
	msgs, errc, stop := pump(it)
	defer stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			stop()
			if r.release.Load() {
				return r.commit()
			}
			return nil
		case m, ok := <-msgs:
			if !ok {
				return fmt.Errorf("consuming partition %d: %w", r.p, <-errc)
			}
			if err := r.apply(m); err != nil {
				return err
			}
			continue
		case <-tick.C:
			r.drain() // the live producers may have changed
		}
		if r.changed && (r.commitNow || time.Since(last) >= r.d.cfg.CommitInterval) {
			if err := r.commit(); err != nil {
				return err
			}
			last = time.Now()
		}
	}
}

// pump hands the iterator's messages over a channel, closed with the
// error that ended them on errc; stop ends it.
func pump(it jetstream.MessagesContext) (<-chan jetstream.Msg, <-chan error, func()) {
	msgs, errc, done := make(chan jetstream.Msg), make(chan error, 1), make(chan struct{})
	go func() {
		defer close(msgs)
		for {
			m, err := it.Next()
			if err != nil {
				errc <- err
				return
			}
			select {
			case msgs <- m:
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	return msgs, errc, func() {
		once.Do(func() {
			close(done)
			it.Stop()
		})
	}
}

// producer returns the state of the named producer, made if new.
func (r *partition) producer(name string) *producerState {
	ps := r.state.Producers[name]
	if ps == nil {
		ps = &producerState{Mark: event.Never}
		r.state.Producers[name] = ps
	}
	return ps
}

// apply takes a message's records, or its mark, then releases what
// it can.
func (r *partition) apply(m jetstream.Msg) error {
	meta, err := m.Metadata()
	if err != nil {
		return fmt.Errorf("partition %d: message metadata: %w", r.p, err)
	}
	seq := meta.Sequence.Stream
	if seq <= r.state.Seq {
		return nil
	}
	h := m.Headers()
	prod := h.Get(hdrProducer)
	switch {
	case prod == "":
		r.bad("skipping a message without a producer", seq)
	case h.Get(hdrKind) == kindData:
		b, err := decodeBatch(m.Data())
		if err != nil {
			r.bad("skipping a bad batch", seq, "producer", prod, "error", err)
			break
		}
		ps := r.producer(prod)
		n := len(ps.recs)
		if err := b.each(func(rec event.Record) { ps.recs = append(ps.recs, rec) }); err != nil {
			r.bad("a batch cut short", seq, "producer", prod, "error", err)
		}
		r.queued += len(ps.recs) - n
		r.d.held.Add(int64(len(ps.recs) - n))
		ps.Quiet = false
	case h.Get(hdrKind) == kindMark:
		w, err := strconv.ParseInt(h.Get(hdrWatermark), 10, 64)
		if err != nil {
			r.bad("skipping a bad mark", seq, "producer", prod)
			break
		}
		ps := r.producer(prod)
		if !ps.Marked || event.Time(w) > ps.Mark {
			ps.Mark, ps.Marked = event.Time(w), true
		}
		ps.Quiet = h.Get(hdrQuiet) != ""
	default:
		r.bad("skipping a message of unknown kind", seq, "kind", h.Get(hdrKind))
	}
	r.state.Seq = seq
	r.changed = true
	r.drain()
	return nil
}

// bad counts a message the partition cannot use and logs it, naming
// its partition and stream sequence; the messages around it are kept.
func (r *partition) bad(what string, seq uint64, attrs ...any) {
	r.d.bad.Add(1)
	r.d.log.Error("cluster: "+what, append([]any{"partition", r.p, "seq", seq}, attrs...)...)
}

// drain releases records to the engine while it may: the oldest next
// record of the producers (ties to the producer whose name sorts first,
// as analyze breaks ties by the inputs' order), once every other
// producer the partition waits for has a record waiting or has marked
// a position at least as new. It waits for the producers it has heard
// from, those registered in the bus and those configured, until each
// ends its input: a producer that dies without ending holds the
// partitions until it is restarted (or ended, docs/cluster.md).
func (r *partition) drain() {
	for name := range *r.d.producers.Load() {
		r.producer(name)
	}
	for _, name := range r.d.cfg.Producers {
		r.producer(name)
	}
	names := slices.Sorted(maps.Keys(r.state.Producers))
	// The node's counters are shared by its partitions: counted here and
	// added once a call.
	var released, forced int64
	for {
		var best *producerState
		var bt event.Time
		for _, n := range names {
			ps := r.state.Producers[n]
			if ps.head < len(ps.recs) {
				if t := ps.recs[ps.head].Time(); best == nil || t < bt {
					best, bt = ps, t
				}
			}
		}
		if best == nil {
			break
		}
		ready := true
		for _, n := range names {
			ps := r.state.Producers[n]
			if ps == best || ps.head < len(ps.recs) || ps.Mark == event.Forever {
				continue
			}
			if !ps.Marked || ps.Mark < bt {
				ready = false
				break
			}
		}
		if !ready && r.d.held.Load()-released < r.d.maxHeld {
			break
		}
		if !ready {
			r.state.Forced++
			forced++
		}
		r.eng.Observe(best.recs[best.head])
		best.recs[best.head] = nil
		best.head++
		r.queued--
		released++
		if best.head == len(best.recs) {
			best.recs, best.head = best.recs[:0], 0
		}
	}
	r.d.held.Add(-released)
	r.d.records.Add(uint64(released))
	r.d.forced.Add(uint64(forced))
	if r.queued > 0 {
		return
	}
	// Nothing waits: the input is over when every producer has ended,
	// and quiet when each has gone quiet, when the watermark catches up
	// with the newest event as the single-process service's does.
	ended, quiet := len(names) > 0, len(names) > 0
	for _, n := range names {
		ps := r.state.Producers[n]
		ended = ended && ps.Mark == event.Forever
		quiet = quiet && (ps.Quiet || ps.Mark == event.Forever)
	}
	switch {
	case ended && !r.flushed:
		r.eng.Flush() // the partition's engine runs on its own goroutine (Config.Apart off)
		// The input is over: commit at once rather than at the interval.
		r.flushed, r.changed, r.commitNow = true, true, true
		r.d.log.Info("cluster: partition input ended", "partition", r.p, "records", r.eng.Stats().Records, "findings", r.pending.Len())
	case quiet && !ended:
		if r.eng.CatchUp() {
			r.changed = true
		}
	}
}

// commit commits the findings reported since the last commit with the
// partition's position and state, fenced by the lease.
func (r *partition) commit() error {
	if !r.changed {
		return nil
	}
	eng, err := r.eng.MarshalState()
	if err != nil {
		return fmt.Errorf("partition %d: saving the detection state: %w", r.p, err)
	}
	r.state.Engine = eng
	for _, ps := range r.state.Producers {
		var b batch
		for _, rec := range ps.recs[ps.head:] {
			b.add(rec)
		}
		ps.Pending = b
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(&r.state); err != nil {
		return fmt.Errorf("partition %d: encoding the checkpoint: %w", r.p, err)
	}
	fs := r.pending.Sorted()
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err = r.commitOnce(ctx, fs, buf.Bytes())
		cancel()
		if err == nil {
			break
		}
		r.d.failed.Add(1)
		if errors.Is(err, store.ErrFenced) || attempt >= 5 {
			return fmt.Errorf("partition %d: commit: %w", r.p, err)
		}
		r.d.log.Warn("cluster: commit failed; retrying", "partition", r.p, "attempt", attempt, "error", err)
		time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
	}
	r.d.commits.Add(1)
	r.d.findings.Add(uint64(len(fs)))
	r.pending = finding.NewSet()
	r.changed, r.commitNow = false, false
	return nil
}

func (r *partition) commitOnce(ctx context.Context, fs []*finding.Finding, state []byte) error {
	kept := make([]*finding.Finding, 0, len(fs))
	dets := map[[2]string]*store.Detector{}
	for _, f := range fs {
		k := [2]string{f.AccountID, f.Region}
		det, ok := dets[k]
		if !ok {
			var err error
			if det, err = ingest.EnsureDetector(ctx, r.d.cfg.Store, f.AccountID, f.Region, r.d.log); err != nil {
				return err
			}
			dets[k] = det
		}
		if !det.Enabled {
			continue
		}
		if f.Service.DetectorID != det.ID {
			f.Service.DetectorID = det.ID
			f.Arn = finding.ARN(f.Partition, f.Region, f.AccountID, det.ID, f.ID)
		}
		kept = append(kept, f)
	}
	return r.d.cfg.Store.Commit(ctx, store.Batch{
		Findings: kept, Administrator: r.d.cfg.Administrator,
		Checkpoints: []store.Checkpoint{{Source: r.name(), Position: state, UpdatedAt: time.Now().UTC()}},
		Fence:       &store.Fence{Name: r.name(), Epoch: r.epoch},
	})
}
