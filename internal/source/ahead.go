package source

import "io"

// ahead reads a reader on a goroutine of its own, a few chunks ahead of
// Read: decompression on one core, parsing on another. Read returns the
// bytes of the reader in order and then its error, exactly as reading it
// directly would.
type ahead struct {
	// consumed is what count said once the chunk being read was
	// filled: set by Read, on the reader's goroutine, from the chunk.
	consumed int64
	full     chan chunk
	free     chan []byte
	stop     chan struct{}
	done     chan struct{}
	cur      []byte
	buf      []byte // cur's whole buffer, returned to free once read
	err      error
}

type chunk struct {
	b     []byte
	err   error
	count int64
}

// aheadChunk and aheadChunks bound the read-ahead: 1 MiB.
const (
	aheadChunk  = 256 << 10
	aheadChunks = 4
)

// newAhead starts reading r. count, called on the reading goroutine after
// each chunk is filled, tells how much of the underlying input that took
// (see Consumed).
func newAhead(r io.Reader, count func() int64) *ahead {
	a := &ahead{
		full: make(chan chunk, aheadChunks),
		free: make(chan []byte, aheadChunks+1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	for range aheadChunks + 1 {
		a.free <- make([]byte, aheadChunk)
	}
	go a.run(r, count)
	return a
}

func (a *ahead) run(r io.Reader, count func() int64) {
	defer close(a.done)
	for {
		var b []byte
		select {
		case b = <-a.free:
		case <-a.stop:
			return
		}
		// Fill the chunk, keeping the reader's own error (a truncated
		// gzip stream says io.ErrUnexpectedEOF, which must reach the
		// parser as it is).
		n := 0
		var err error
		for n < len(b) && err == nil {
			var m int
			m, err = r.Read(b[n:])
			n += m
		}
		select {
		case a.full <- chunk{b[:n], err, count()}:
		case <-a.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

func (a *ahead) Read(p []byte) (int, error) {
	for len(a.cur) == 0 {
		if a.buf != nil {
			a.free <- a.buf[:cap(a.buf)]
			a.buf = nil
		}
		if a.err != nil {
			return 0, a.err
		}
		c := <-a.full
		a.cur, a.buf, a.err, a.consumed = c.b, c.b, c.err, c.count
	}
	n := copy(p, a.cur)
	a.cur = a.cur[n:]
	return n, nil
}

// Close stops the goroutine and waits for it, so that the reader it reads
// may be closed after.
func (a *ahead) Close() error {
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	<-a.done
	return nil
}
