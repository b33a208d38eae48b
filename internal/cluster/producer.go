package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"picket/internal/event"
)

// Message headers.
const (
	hdrKind      = "Picket-Kind"      // "data" or "mark"
	hdrProducer  = "Picket-Producer"  // the producer's name
	hdrWatermark = "Picket-Watermark" // a mark's position, event time in seconds
	hdrQuiet     = "Picket-Quiet"     // on a mark: the input has gone quiet
	kindData     = "data"
	kindMark     = "mark"
)

// DefaultBatch is how many records a published message carries at most.
const DefaultBatch = 1024

// Producer publishes the records of one ingest node. Its name must be
// unique among the cluster's producers and the same across its
// restarts: a restarted producer that publishes a batch again under the
// same input position is deduplicated by the stream. It is not safe for
// concurrent use.
type Producer struct {
	bus  *Bus
	name string
	size int

	parts   map[[2]event.ID]int
	batches []*batch
	counts  []int // batches published per partition for the current input
	input   string
	maxSeen event.Time
	marked  event.Time // the last position marked
	quiet   bool       // the last mark said the input was quiet
	futures []jetstream.PubAckFuture

	// records and batches count what was published; dropped the
	// records of kinds the bus does not carry; position is the last
	// position marked.
	records, published, dropped atomic.Uint64
	position                    atomic.Int64

	stop chan struct{}
	wg   sync.WaitGroup
}

// NewProducer registers a producer named name (the node's name unless
// set). Partitions wait for a registered producer's records or marks
// before they release records newer than its position; registration
// lapses if the producer dies without Close.
func NewProducer(ctx context.Context, bus *Bus, name string) (*Producer, error) {
	if name == "" {
		name = bus.cfg.Node
	}
	p := &Producer{bus: bus, name: name, size: DefaultBatch,
		parts: map[[2]event.ID]int{}, batches: make([]*batch, bus.cfg.Partitions), counts: make([]int, bus.cfg.Partitions),
		maxSeen: event.Never, marked: event.Never, stop: make(chan struct{})}
	p.position.Store(int64(event.Never))
	for i := range p.batches {
		p.batches[i] = &batch{}
	}
	if _, err := bus.producers.Put(ctx, name, []byte("live")); err != nil {
		return nil, fmt.Errorf("cluster: registering producer %s: %w", name, err)
	}
	p.wg.Add(1)
	go p.heartbeat() //nolint:gosec // the registration outlives NewProducer's context; Close stops it
	return p, nil
}

func (p *Producer) heartbeat() {
	defer p.wg.Done()
	t := time.NewTicker(p.bus.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), p.bus.cfg.LeaseTTL/3)
			if _, err := p.bus.producers.Put(ctx, p.name, []byte("live")); err != nil {
				p.bus.cfg.Log.Warn("cluster: renewing producer registration", "producer", p.name, "error", err)
			}
			cancel()
		}
	}
}

// Begin starts an input: name and start (its position when resumed)
// make the IDs of its batches.
func (p *Producer) Begin(name string, start string) {
	p.input = name + "@" + start
	clear(p.counts)
}

// Add publishes rec, which the caller may reuse once Add returns, in its
// partition's next batch.
func (p *Producer) Add(rec event.Record) error {
	acct, region := recordKey(rec)
	k := [2]event.ID{acct, region}
	part, ok := p.parts[k]
	if !ok {
		part = PartitionOf(acct, region, p.bus.cfg.Partitions)
		if len(p.parts) < 1<<16 {
			p.parts[k] = part
		}
	}
	b := p.batches[part]
	if !b.add(rec) {
		p.dropped.Add(1)
		return nil
	}
	p.maxSeen = max(p.maxSeen, rec.Time())
	if b.len() >= p.size {
		return p.publish(part)
	}
	return nil
}

// recordKey is the partition key of a record: its account and region.
func recordKey(rec event.Record) (event.ID, event.ID) {
	switch r := rec.(type) {
	case *event.Flow:
		return r.Account, r.Region
	case *event.APICall:
		return r.Account, r.Region
	case *event.DNSQuery:
		return r.Account, r.Region
	}
	return event.ID{}, event.ID{}
}

func (p *Producer) publish(part int) error {
	b := p.batches[part]
	if b.len() == 0 {
		return nil
	}
	data, err := b.encode()
	if err != nil {
		return err
	}
	n := p.counts[part]
	p.counts[part]++
	m := nats.NewMsg(p.bus.subject(part))
	m.Data = data
	m.Header.Set(hdrKind, kindData)
	m.Header.Set(hdrProducer, p.name)
	id := p.name + "|" + p.input + "|" + strconv.Itoa(part) + "|" + strconv.Itoa(n)
	f, err := p.bus.js.PublishMsgAsync(m, jetstream.WithMsgID(id))
	if err != nil {
		return fmt.Errorf("cluster: publishing to partition %d: %w", part, err)
	}
	p.futures = append(p.futures, f)
	p.records.Add(uint64(b.len()))
	p.published.Add(1)
	b.reset()
	return nil
}

// Sync publishes every partial batch and waits until the stream has
// stored everything published: only then may the caller checkpoint the
// inputs read.
func (p *Producer) Sync(ctx context.Context) error {
	for part := range p.batches {
		if err := p.publish(part); err != nil {
			return err
		}
	}
	return p.wait(ctx)
}

func (p *Producer) wait(ctx context.Context) error {
	var errs []error
	for _, f := range p.futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			errs = append(errs, err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.futures = p.futures[:0]
	if len(errs) > 0 {
		return fmt.Errorf("cluster: %d of the batches were not stored: %w", len(errs), errors.Join(errs...))
	}
	return nil
}

// Mark publishes the producer's position to every partition, after the
// batches published before it: the newest event time it has published,
// which none of its later records precedes as far as its inputs are in
// order. quiet says its input has gone quiet: once every producer says
// so, partitions let their watermark catch up with the newest event, as
// the single-process service does when its sources go quiet. It
// publishes nothing when neither has changed.
func (p *Producer) Mark(ctx context.Context, quiet bool) error {
	if p.maxSeen == event.Never {
		return nil
	}
	return p.mark(ctx, p.maxSeen, quiet)
}

func (p *Producer) mark(ctx context.Context, w event.Time, quiet bool) error {
	if w <= p.marked && quiet == p.quiet {
		return nil
	}
	if err := p.Sync(ctx); err != nil {
		return err
	}
	for part := range p.bus.cfg.Partitions {
		m := nats.NewMsg(p.bus.subject(part))
		m.Header.Set(hdrKind, kindMark)
		m.Header.Set(hdrProducer, p.name)
		m.Header.Set(hdrWatermark, strconv.FormatInt(int64(max(w, p.marked)), 10))
		if quiet {
			m.Header.Set(hdrQuiet, "1")
		}
		f, err := p.bus.js.PublishMsgAsync(m)
		if err != nil {
			return fmt.Errorf("cluster: marking partition %d: %w", part, err)
		}
		p.futures = append(p.futures, f)
	}
	if err := p.wait(ctx); err != nil {
		return err
	}
	p.marked, p.quiet = max(w, p.marked), quiet
	p.position.Store(int64(p.marked))
	return nil
}

// End publishes what is left and marks the end of the producer's input:
// detector nodes no longer wait for it. A replay ends this way; a
// service stopping for a while should Close without End, so that the
// partitions wait for it rather than count its later records late.
func (p *Producer) End(ctx context.Context) error {
	return p.mark(ctx, event.Forever, false)
}

// Close stops renewing the registration; it lapses after the lease TTL
// unless the producer ended, when it is removed at once.
func (p *Producer) Close(ctx context.Context) error {
	close(p.stop)
	p.wg.Wait()
	if p.marked == event.Forever {
		if err := p.bus.producers.Delete(ctx, p.name); err != nil {
			return fmt.Errorf("cluster: deregistering producer %s: %w", p.name, err)
		}
	}
	return nil
}

// ProducerStats are a producer's counts, safe to read while it runs.
type ProducerStats struct {
	Records, Batches uint64     // published
	Dropped          uint64     // records of kinds the bus does not carry
	Position         event.Time // the last position marked
}

// Stats returns the producer's counts.
func (p *Producer) Stats() ProducerStats {
	return ProducerStats{Records: p.records.Load(), Batches: p.published.Load(), Dropped: p.dropped.Load(), Position: event.Time(p.position.Load())}
}

// Name returns the producer's name.
func (p *Producer) Name() string { return p.name }

// Watermark returns the last watermark marked.
func (p *Producer) Watermark() event.Time { return p.marked }
