package detect

import (
	"picket/internal/event"
)

// apart runs an engine's detectors on a goroutine of their own. The
// goroutine that calls Observe runs the stages and, instead of calling
// the detectors, writes each call it would make (a record to observe, a
// watermark to advance to) into a batch; full batches go to the
// detectors' goroutine, which makes the calls in the same order. Every
// detector therefore sees exactly the sequence of calls it sees when
// the engine runs on one goroutine, and reports exactly the same
// findings: the split changes when the calls happen, never which or in
// what order.
//
// Records are copied into the batch, since the stages and decoders reuse
// theirs: flow records and contacts by value. Records of other kinds
// (API calls) are rare beside them and carry more than values, so the
// engine waits for the detectors to catch up and hands those to them on
// its own goroutine.
type apart struct {
	e       *Engine
	cur     *batch
	work    chan *batch // to the detectors' goroutine; nil marks a wait
	free    chan *batch
	synced  chan struct{}
	running bool
	sent    bool // batches went out since the last wait
}

// batchOps is how many calls a batch carries: large enough that handing
// it over costs nothing per record, small enough to stay in cache.
const batchOps = 2048

type opKind uint8

const (
	opFlow opKind = iota
	opContact
	opAdvance
)

type op struct {
	kind opKind
	i    int32      // the record's index in its kind's array
	w    event.Time // opAdvance's watermark
}

type batch struct {
	ops      []op
	flows    []event.Flow
	contacts []event.Contact
}

func newApart(e *Engine) *apart {
	a := &apart{e: e, free: make(chan *batch, 4)}
	return a
}

func (a *apart) start() {
	a.work = make(chan *batch, 2)
	a.synced = make(chan struct{})
	a.running = true
	go a.run(a.work, a.synced)
}

// run is the detectors' goroutine.
func (a *apart) run(work <-chan *batch, synced chan<- struct{}) {
	for b := range work {
		if b == nil {
			synced <- struct{}{}
			continue
		}
		a.replay(b)
		b.ops, b.flows, b.contacts = b.ops[:0], b.flows[:0], b.contacts[:0]
		select {
		case a.free <- b:
		default:
		}
	}
	close(synced)
}

func (a *apart) replay(b *batch) {
	e := a.e
	for _, o := range b.ops {
		switch o.kind {
		case opFlow:
			rec := &b.flows[o.i]
			for _, d := range e.byKind[event.KindFlow] {
				d.Observe(rec, e.report)
			}
		case opContact:
			rec := &b.contacts[o.i]
			for _, d := range e.byKind[event.KindContact] {
				d.Observe(rec, e.report)
			}
		case opAdvance:
			e.advanceDetectors(o.w)
		}
	}
}

// batch returns the batch being filled.
func (a *apart) batch() *batch {
	if a.cur == nil {
		select {
		case a.cur = <-a.free:
		default:
			a.cur = &batch{ops: make([]op, 0, batchOps)}
		}
	}
	return a.cur
}

// send hands the batch being filled to the detectors.
func (a *apart) send() {
	if a.cur == nil || len(a.cur.ops) == 0 {
		return
	}
	if !a.running {
		a.start()
	}
	a.work <- a.cur
	a.cur = nil
	a.sent = true
}

func (a *apart) add(o op) {
	b := a.batch()
	b.ops = append(b.ops, o)
	if len(b.ops) == batchOps {
		a.send()
	}
}

// observe queues rec for the detectors subscribed to its kind.
func (a *apart) observe(rec event.Record) {
	switch r := rec.(type) {
	case *event.Flow:
		b := a.batch()
		b.flows = append(b.flows, *r)
		a.add(op{kind: opFlow, i: int32(len(b.flows) - 1)})
	case *event.Contact:
		b := a.batch()
		b.contacts = append(b.contacts, *r)
		a.add(op{kind: opContact, i: int32(len(b.contacts) - 1)})
	default:
		a.wait()
		for _, d := range a.e.byKind[rec.Kind()] {
			d.Observe(rec, a.e.report)
		}
	}
}

// derived is the stages' output: counted, then queued.
func (a *apart) derived(rec event.Record) {
	a.e.stats.Records[rec.Kind()]++
	if len(a.e.byKind[rec.Kind()]) > 0 && a.e.selects(rec) {
		a.observe(rec)
	}
}

// advance queues the detectors' advance to w.
func (a *apart) advance(w event.Time) { a.add(op{kind: opAdvance, w: w}) }

// wait returns once the detectors have made every call queued so far.
func (a *apart) wait() {
	a.send()
	if !a.sent {
		return
	}
	a.work <- nil
	<-a.synced
	a.sent = false
}

// stop waits for the detectors and ends their goroutine; the next batch
// starts another.
func (a *apart) stop() {
	a.wait()
	if a.running {
		close(a.work)
		<-a.synced
		a.running = false
	}
}
