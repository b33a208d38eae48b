package ingest

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"picket/internal/decode"
	"picket/internal/event"
	"picket/internal/source"
)

// Merge reads a list of inputs through a Feed and hands their records
// on in event-time order, as picket analyze and picket convert need:
// inputs are opened in groups of MaxOpen, in the order given (in the S3
// layout each group covers a stretch of time), and within a group the
// records of all inputs are merged by time, so that the files of
// different interfaces interleave as the traffic did. Ties keep the
// inputs' order.
type Merge struct {
	Feed *Feed
	// Stdin is read for the input "-".
	Stdin io.Reader
	// MaxOpen bounds the inputs open at once (0: 256).
	MaxOpen int
	// Progress, if set, is called now and then with the input bytes
	// consumed so far and the total (-1 when unknown).
	Progress func(done, total int64)
	// InputError is told of an input that cannot be read, or not to its
	// end; the others are read on.
	InputError func(name string, err error)
	// Closed, if set, is told of each input read, before its reader is
	// released.
	Closed func(in *Input)

	// Inputs counts the inputs opened, Formats them by format (those
	// that could not be opened by the format their first bytes show),
	// and Bytes the input bytes consumed (compressed size for gzip).
	Inputs  int
	Formats map[string]int
	Bytes   int64

	total, done int64
	lastReport  time.Time
}

// cursor is one open input positioned on its next record.
type cursor struct {
	in     *Input
	idx    int // position in the group, to break ties in time
	stream *source.Stream
	rec    event.Record
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

// Run reads the inputs and calls emit with each record, which is valid
// only during the call. It returns an error only to stop everything: the
// context's, emit's, or the one with which the Feed's Bad stopped.
func (m *Merge) Run(ctx context.Context, inputs []source.Input, emit func(event.Record) error) error {
	if m.MaxOpen <= 0 {
		m.MaxOpen = 256
	}
	if m.Formats == nil {
		m.Formats = map[string]int{}
	}
	m.total = 0
	for _, in := range inputs {
		if in.Size < 0 {
			m.total = -1
			break
		}
		m.total += in.Size
	}
	for i := 0; i < len(inputs); i += m.MaxOpen {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := m.group(ctx, inputs[i:min(i+m.MaxOpen, len(inputs))], emit); err != nil {
			return err
		}
	}
	return nil
}

// aheadFiles is the most inputs a group may have for its gzip files to be
// decompressed ahead (source.Input.Ahead): more decompressing goroutines
// than cores gain nothing, and each holds 1 MiB.
const aheadFiles = 4

func (m *Merge) group(ctx context.Context, group []source.Input, emit func(event.Record) error) error {
	var h cursorHeap
	defer func() {
		for _, c := range h {
			m.close(c)
		}
	}()
	for i, in := range group {
		// A gzip file is decompressed ahead of the parser on a core of
		// its own when the group is a few large files (the dense
		// single-file case); a group of many small objects is not.
		in.Ahead = len(group) <= aheadFiles
		c, err := m.open(in, i)
		if err != nil {
			m.inputError(in.Name, err)
			continue
		}
		ok, err := m.advance(c)
		if err != nil {
			m.close(c)
			return err
		}
		if ok {
			h = append(h, c)
		} else {
			m.close(c)
		}
	}
	heap.Init(&h)
	for n := 1; len(h) > 0; n++ {
		c := h[0]
		if err := emit(c.rec); err != nil {
			return err
		}
		ok, err := m.advance(c)
		if err != nil {
			return err
		}
		if ok {
			heap.Fix(&h, 0)
		} else {
			heap.Pop(&h)
			m.close(c)
		}
		if n&0xffff == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			m.progress(false)
		}
	}
	m.progress(true)
	return nil
}

func (m *Merge) open(in source.Input, idx int) (*cursor, error) {
	st, err := in.Open(m.Stdin)
	if err != nil {
		return nil, err
	}
	input, err := m.Feed.Open(st, Spec{Name: in.Name, Layout: in.Layout})
	if err != nil {
		m.Formats[decode.Detect(st.Head(64<<10)).String()]++
		st.Close()
		return nil, err
	}
	m.Formats[input.Reader.Format().String()]++
	m.Inputs++
	return &cursor{in: input, idx: idx, stream: st}, nil
}

// advance moves c to its next record. It returns false at the end of the
// input (or when the input fails), and an error only to stop everything.
func (m *Merge) advance(c *cursor) (bool, error) {
	rec, err := m.Feed.Next(c.in)
	switch {
	case err == nil:
		c.rec = rec
		return true, nil
	case errors.Is(err, io.EOF):
		return false, nil
	}
	var stop *StopError
	if errors.As(err, &stop) {
		return false, err
	}
	m.inputError(c.in.Name, fmt.Errorf("reading stopped after %d records: %w", c.in.N, err))
	return false, nil
}

func (m *Merge) close(c *cursor) {
	if c.stream == nil {
		return
	}
	if m.Closed != nil {
		m.Closed(c.in)
	}
	m.Feed.Close(c.in)
	m.done += c.stream.Consumed()
	m.Bytes += c.stream.Consumed()
	c.stream.Close()
	c.stream = nil
}

func (m *Merge) inputError(name string, err error) {
	if m.InputError != nil {
		m.InputError(name, err)
	}
}

func (m *Merge) progress(final bool) {
	if m.Progress == nil {
		return
	}
	now := time.Now()
	if !final && now.Sub(m.lastReport) < 200*time.Millisecond {
		return
	}
	m.lastReport = now
	m.Progress(m.done, m.total)
}
