package ingest

import (
	"context"
	"errors"
	"fmt"

	"picket/internal/event"
	"picket/internal/source"
)

// Batch is a run of records in the order Merge emits them, copied out of
// the decoders' buffers so that they outlive the reading: flows by value
// (every field of an event.Flow is a value), API calls with their
// borrowed bytes copied into the batch's own arena, DNS queries likewise
// (their name and answer data). A batch is recycled
// once its consumer is done with it, so that the records of a long
// reading take no allocation each.
type Batch struct {
	refs  []ref
	flows []event.Flow
	calls []event.APICall
	dns   []event.DNSQuery
	arena []byte // the borrowed bytes of calls and queries
}

// ref places a record of the batch: which slice, and where in it.
type ref struct {
	kind event.Kind
	i    uint32
}

// Batch bounds. A batch is handed on at batchRecords records, or sooner
// when its API calls' bytes reach batchBytes (an event may be megabytes).
// BenchmarkRunBatches: the hand-off costs 40-50 ns a flow (the copy of a
// 616-byte event.Flow, and its reading on the other core) with batches
// of 64 to 4096 records alike.
//
// The engine works in bursts: at each watermark tick (a minute of event
// time) it closes a minute's conversations at once, for tens of
// milliseconds of a dense estate, while the reading goes on. With room
// for aheadBatches batches (64k flows, 40 MB) the reading runs through a
// tick: picket analyze of the dense estate (5M records, two cores) took
// 4.9-5.3 s against 6.1 s with 4 batches, for 80 MB more resident.
const (
	batchRecords = 1024
	batchBytes   = 256 << 10
	aheadBatches = 64
)

// Len returns the number of records in b.
func (b *Batch) Len() int { return len(b.refs) }

// At returns the i-th record of b, valid while b is.
func (b *Batch) At(i int) event.Record {
	r := b.refs[i]
	switch r.kind {
	case event.KindFlow:
		return &b.flows[r.i]
	case event.KindDNSQuery:
		return &b.dns[r.i]
	}
	return &b.calls[r.i]
}

// add copies rec into b. It reports false for a record of a kind that it
// cannot copy (decoders produce flows, API calls and DNS queries only).
func (b *Batch) add(rec event.Record) bool {
	switch r := rec.(type) {
	case *event.Flow:
		if cap(b.flows) == 0 {
			// Made at full size once: grown by doubling, a batch
			// would leave as much garbage as it holds.
			b.flows = make([]event.Flow, 0, batchRecords)
		}
		if cap(b.refs) == 0 {
			b.refs = make([]ref, 0, batchRecords)
		}
		b.refs = append(b.refs, ref{event.KindFlow, uint32(len(b.flows))})
		b.flows = append(b.flows, *r)
	case *event.APICall:
		b.refs = append(b.refs, ref{event.KindAPICall, uint32(len(b.calls))})
		b.calls = append(b.calls, *r)
		c := &b.calls[len(b.calls)-1]
		for _, p := range borrowed(c) {
			*p = b.keep(*p)
		}
	case *event.DNSQuery:
		b.refs = append(b.refs, ref{event.KindDNSQuery, uint32(len(b.dns))})
		b.dns = append(b.dns, *r)
		q := &b.dns[len(b.dns)-1]
		q.Name = b.keep(q.Name)
		for i := range q.NumAnswers {
			q.Answers[i].Data = b.keep(q.Answers[i].Data)
		}
	default:
		return false
	}
	return true
}

// keep copies p into the arena and returns the copy: nil stays nil, and
// empty stays empty but not nil. The arena may move as it grows; the
// copies made before stay where they are.
func (b *Batch) keep(p []byte) []byte {
	if p == nil {
		return nil
	}
	if b.arena == nil {
		b.arena = make([]byte, 0, 64<<10)
	}
	start := len(b.arena)
	b.arena = append(b.arena, p...)
	return b.arena[start:len(b.arena):len(b.arena)]
}

// borrowed lists the fields of c that point into a decoder's buffer
// (TestBatchCopiesEveryBorrowedField keeps the list complete).
func borrowed(c *event.APICall) [9]*[]byte {
	return [9]*[]byte{&c.Raw, &c.EventID, &c.RequestID, &c.SharedEventID, &c.RequestParameters,
		&c.ResponseElements, &c.Resources, &c.AdditionalEventData, &c.ServiceEventDetails}
}

func (b *Batch) full() bool { return len(b.refs) >= batchRecords || len(b.arena) >= batchBytes }

func (b *Batch) reset() {
	b.refs, b.flows, b.calls, b.dns, b.arena = b.refs[:0], b.flows[:0], b.calls[:0], b.dns[:0], b.arena[:0]
	if cap(b.arena) > 4*batchBytes {
		b.arena = nil // grown for a huge event: not kept in every batch
	}
}

// errConsumerStopped stops the reading when the consumer of batches
// failed: the consumer's error is the one returned.
var errConsumerStopped = errors.New("consumer stopped")

// RunBatches is Run with the reading on a goroutine of its own: the
// inputs are read, decompressed, decoded, merged and enriched there, up
// to aheadBatches batches ahead of emit, which is called on the calling
// goroutine with every record in batches, in the order Run gives them. A
// batch is valid only during the call.
//
// The Merge's and Feed's callbacks (Progress, InputError, Closed, Bad)
// are called on the reading goroutine, one at a time, and all before
// RunBatches returns, when what the Merge and Feed counted is complete.
// An error of emit stops the reading and is returned, as is the
// context's error, which is also checked before each batch; an error
// that stops Run (Bad's) is returned after the records before it were
// emitted.
func (m *Merge) RunBatches(ctx context.Context, inputs []source.Input, emit func(*Batch) error) error {
	// Every batch fits in free, so that handing one back never blocks.
	full := make(chan *Batch, aheadBatches)
	free := make(chan *Batch, aheadBatches+2)
	for range cap(free) {
		free <- &Batch{}
	}
	stop := make(chan struct{}) // closed when emit failed
	done := make(chan error, 1)
	go func() {
		defer close(full)
		b := <-free
		send := func() bool {
			select {
			case full <- b:
				return true
			case <-stop:
				return false
			}
		}
		err := m.Run(ctx, inputs, func(rec event.Record) error {
			if !b.add(rec) {
				return fmt.Errorf("handing on records: %v records cannot be copied", rec.Kind())
			}
			if !b.full() {
				return nil
			}
			if !send() {
				return errConsumerStopped
			}
			b = nil // the consumer's now
			select {
			case b = <-free:
				return nil
			case <-stop:
				return errConsumerStopped
			}
		})
		if b != nil && b.Len() > 0 && !errors.Is(err, errConsumerStopped) {
			send()
		}
		done <- err
	}()
	var emitErr error
	for b := range full {
		if emitErr == nil {
			if emitErr = ctx.Err(); emitErr == nil {
				emitErr = emit(b)
			}
			if emitErr != nil {
				close(stop)
			}
		}
		b.reset()
		free <- b
	}
	err := <-done
	if emitErr != nil {
		return emitErr
	}
	return err
}
