package cluster

import (
	"log/slog"
	"slices"
	"strconv"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"picket/internal/detect"
	"picket/internal/event"
	"picket/internal/finding"
)

// recorder is a detector that notes the records it observes, by their
// line, and the watermarks it is advanced to.
type recorder struct {
	seen  []int64
	marks []event.Time
}

func (r *recorder) Definition() detect.Definition {
	return detect.Definition{ID: "recorder", Subscribes: []event.Kind{event.KindFlow}}
}
func (r *recorder) Observe(rec event.Record, _ detect.Emit) {
	r.seen = append(r.seen, rec.(*event.Flow).Origin.Line)
}
func (r *recorder) Advance(w event.Time, _ detect.Emit) { r.marks = append(r.marks, w) }

// newTestPartition is a partition without a bus, its engine feeding rec.
func newTestPartition(t *testing.T, maxHeld int64, producers ...string) (*partition, *recorder) {
	t.Helper()
	rec := &recorder{}
	eng, err := detect.NewEngine(nil, []detect.Detector{rec}, detect.Config{Lateness: 60, Tick: 60}, func(*finding.Finding) {})
	if err != nil {
		t.Fatal(err)
	}
	d := &Detector{maxHeld: maxHeld, cfg: DetectorConfig{Producers: producers}, log: slog.New(slog.DiscardHandler)}
	none := map[string]bool{}
	d.producers.Store(&none)
	r := &partition{d: d, eng: eng, pending: finding.NewSet(), state: partState{Producers: map[string]*producerState{}}}
	return r, rec
}

// give queues flow records from prod, at the given times; each record's
// line is its time, to tell them apart.
func give(r *partition, prod string, times ...event.Time) {
	ps := r.producer(prod)
	for _, tm := range times {
		f := &event.Flow{Start: tm, End: tm, Origin: event.Origin{Line: int64(tm)}}
		f.Has |= event.HasEnd
		ps.recs = append(ps.recs, f)
		r.queued++
		r.d.held.Add(1)
	}
	r.drain()
}

func mark(r *partition, prod string, w event.Time) {
	ps := r.producer(prod)
	ps.Mark, ps.Marked = w, true
	r.drain()
}

// TestMergeWaitsForEveryProducer checks the merge: a record is released
// only once every producer has a record waiting or has marked a
// position at least as new; ties go to the producer whose name sorts
// first; the input ends, and the engine flushes, once every producer has
// ended.
func TestMergeWaitsForEveryProducer(t *testing.T) {
	r, rec := newTestPartition(t, DefaultMaxHeld, "a", "b")
	give(r, "a", 100, 200, 300)
	if len(rec.seen) != 0 {
		t.Fatalf("released %v before b said anything", rec.seen)
	}
	mark(r, "b", 150)
	if !slices.Equal(rec.seen, []int64{100}) {
		t.Fatalf("after b marked 150: %v, want [100]", rec.seen)
	}
	give(r, "b", 200)
	// a's 200 and b's 200 tie: a's first; then a's 300 waits for b.
	if !slices.Equal(rec.seen, []int64{100, 200, 200}) {
		t.Fatalf("after b gave 200: %v, want [100 200 200]", rec.seen)
	}
	if r.flushed {
		t.Fatal("flushed before the producers ended")
	}
	mark(r, "b", event.Forever)
	mark(r, "a", event.Forever)
	if !slices.Equal(rec.seen, []int64{100, 200, 200, 300}) || !r.flushed || rec.marks[len(rec.marks)-1] != event.Forever {
		t.Fatalf("after both ended: %v flushed %v marks %v", rec.seen, r.flushed, rec.marks)
	}
	if r.d.held.Load() != 0 || r.queued != 0 || r.state.Forced != 0 {
		t.Errorf("held %d queued %d forced %d, want none", r.d.held.Load(), r.queued, r.state.Forced)
	}
}

// TestMergeForcedAtTheCap checks that a silent producer cannot make a
// node hold records without bound: at the cap the oldest are released
// and counted as forced.
func TestMergeForcedAtTheCap(t *testing.T) {
	r, rec := newTestPartition(t, 2, "a", "silent")
	give(r, "a", 10, 20, 30, 40)
	if !slices.Equal(rec.seen, []int64{10, 20, 30}) || r.state.Forced != 3 || r.d.held.Load() != 1 {
		t.Errorf("released %v, forced %d, held %d; want the three oldest forced and one held", rec.seen, r.state.Forced, r.d.held.Load())
	}
}

// message is a stream message as apply reads it.
type message struct {
	jetstream.Msg // the methods apply does not call
	seq           uint64
	hdr           nats.Header
	data          []byte
}

func (m message) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: m.seq}}, nil
}
func (m message) Headers() nats.Header { return m.hdr }
func (m message) Data() []byte         { return m.data }

// TestBadMessagesCounted checks that messages a partition cannot use
// are counted and passed over, and the good ones around them kept.
func TestBadMessagesCounted(t *testing.T) {
	r, rec := newTestPartition(t, DefaultMaxHeld, "a")
	var b batch
	b.add(&event.Flow{Start: 100, End: 100, Has: event.HasEnd, Origin: event.Origin{Line: 100}})
	good, err := b.encode()
	if err != nil {
		t.Fatal(err)
	}
	hdr := func(kind, w string) nats.Header {
		h := nats.Header{}
		h.Set(hdrKind, kind)
		h.Set(hdrProducer, "a")
		if w != "" {
			h.Set(hdrWatermark, w)
		}
		return h
	}
	for i, m := range []message{
		{hdr: hdr(kindData, ""), data: []byte("garbage")},
		{hdr: hdr(kindData, ""), data: good},
		{hdr: hdr(kindMark, "soon")},
		{hdr: hdr("other", "")},
		{hdr: nats.Header{}},
		{hdr: hdr(kindMark, strconv.FormatInt(int64(event.Forever), 10))},
	} {
		m.seq = uint64(i + 1)
		if err := r.apply(m); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.d.Stats().Bad; got != 4 {
		t.Errorf("%d bad messages counted, want 4", got)
	}
	if !slices.Equal(rec.seen, []int64{100}) || !r.flushed || r.state.Seq != 6 {
		t.Errorf("released %v, flushed %v, at sequence %d; want the good record, the end, sequence 6", rec.seen, r.flushed, r.state.Seq)
	}
}
