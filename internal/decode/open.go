package decode

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"picket/internal/decode/cloudtrail"
	"picket/internal/decode/pcap"
	"picket/internal/decode/vpcflow"
	"picket/internal/decode/zeek"
	"picket/internal/event"
	"picket/internal/flowmeter"
)

// Input is a byte stream as the decoders read it, already decompressed:
// its first bytes can be seen before reading, it can skip ahead to resume,
// and it gives random access for columnar formats. The source package's
// Stream is one.
type Input interface {
	io.Reader
	// Head returns up to n of the first bytes without consuming them.
	Head(n int) []byte
	// Skip moves n bytes past the start.
	Skip(n int64) error
	// ReaderAt returns random access to the bytes and their size,
	// holding at most max bytes in memory.
	ReaderAt(max int64) (io.ReaderAt, int64, error)
}

// Position is how far a Reader has read an input: enough to resume
// exactly after the last record it returned. Text flow logs resume by
// offset, line and the header in effect; every other format by the
// number of records to pass over (Parquet rows, CloudTrail events,
// CloudWatch Logs events, the flow records of a capture or Zeek log),
// and reports at its end, in Offset, the bytes it read.
type Position struct {
	Offset  int64  `json:"offset,omitempty"`  // decompressed bytes consumed
	Line    int64  `json:"line,omitempty"`    // lines consumed (text)
	Records int64  `json:"records,omitempty"` // records consumed, good and bad
	Header  string `json:"header,omitempty"`  // the flow log header line in effect (text)
}

// IsZero reports whether p is the start of an input.
func (p Position) IsZero() bool { return p == Position{} }

// Options say how to read an input.
type Options struct {
	// Format is the input's format; Unknown means: detect it.
	Format Format
	// Fallback is assumed when detection fails on a non-empty input: a
	// headerless flow log in a custom format may not look like one.
	Fallback Format
	// FlowFormat is the field list of flow log text without a header
	// (nil: the header, else the version 2 default).
	FlowFormat *vpcflow.Format
	// Capture says how packet captures and Zeek conn.logs become flow
	// records.
	Capture flowmeter.Config
	// Start resumes an earlier reader's position.
	Start Position
	// Partial says the input may still grow. A last text line without
	// its newline is then left for later, and formats that are read whole
	// (captures, Zeek logs) refuse with ErrIncomplete.
	Partial bool
	// Pool, if set, lends and takes back readers' buffers.
	Pool *Pool
}

// Stats are what a reader counted apart from records.
type Stats struct {
	Packets     int64 // frames read from a capture
	NonIP       int64 // frames without IP, skipped
	Connections int64 // Zeek connections read
	Late        uint64
	Evicted     uint64
}

// Reader reads the records of one input, whatever its format.
type Reader interface {
	// Next returns the next record, valid until the next call. At the
	// end it returns io.EOF; for a bad record, a RecordError, after
	// which Next may be called again; any other error means the input
	// cannot be read further (records before it were returned).
	Next() (event.Record, error)
	// Position is the position after the last record returned (or bad
	// record reported).
	Position() Position
	// Format is the input's format.
	Format() Format
	// Stats returns the reader's counts so far.
	Stats() Stats
	// Close returns the reader's buffers to its pool. It does not close
	// the input.
	Close()
}

// RecordError is a bad record: the error names the input, the line or
// record and the field, and Reason is a short, stable name for counting.
type RecordError interface {
	error
	Reason() string
}

// Errors of Open.
var (
	// ErrEmpty is returned for an input with no bytes.
	ErrEmpty = errors.New("input is empty")
	// ErrUnrecognized is wrapped by the error for an input whose format
	// picket cannot read.
	ErrUnrecognized = errors.New("unrecognized format")
	// ErrIncomplete is returned for a capture or Zeek log that may still
	// grow: they are read whole, once written.
	ErrIncomplete = errors.New("input is still being written")
)

// maxInMemory bounds an input that must be held in memory: Parquet that
// is not a plain file, a CloudWatch Logs payload.
const (
	maxParquetInMemory = 1 << 30
	maxLogEvents       = 64 << 20
)

// Open returns the reader of an input called name (the name its records'
// origins and errors give). The input stays the caller's to close.
func Open(in Input, name string, opt Options) (Reader, error) {
	format := opt.Format
	head := in.Head(4096)
	if format == Unknown {
		format = Detect(head)
		if format == Unknown && len(head) > 0 && opt.Fallback != Unknown {
			format = opt.Fallback
		}
	}
	start := opt.Start
	switch format {
	case VPCFlow:
		var r *vpcflow.Reader
		if opt.Pool != nil {
			r = opt.Pool.flowReader(in, name, opt.FlowFormat)
		} else {
			r = vpcflow.NewReader(in, name, opt.FlowFormat)
		}
		r.SetPartial(opt.Partial)
		if start.Offset > 0 {
			if err := in.Skip(start.Offset); err != nil {
				return nil, fmt.Errorf("resuming at byte %d: %w", start.Offset, err)
			}
		}
		if err := r.Resume(start.Offset, start.Line, start.Header); err != nil {
			return nil, fmt.Errorf("resuming: saved header: %w", err)
		}
		return &flowText{r: r, pool: opt.Pool}, nil
	case VPCFlowParquet:
		ra, size, err := in.ReaderAt(maxParquetInMemory)
		if err != nil {
			return nil, fmt.Errorf("reading Parquet: %w", err)
		}
		r, err := vpcflow.NewParquetReader(ra, size, name)
		if err != nil {
			return nil, err
		}
		return &flowParquet{r: r, skip: start.Records}, nil
	case VPCFlowCloudWatch:
		return newLogEvents(in, name, opt)
	case CloudTrail:
		c := &counting{r: in}
		var r *cloudtrail.Reader
		if opt.Pool != nil {
			r = opt.Pool.trailReader(c, name)
		} else {
			r = cloudtrail.NewReader(c, name)
		}
		return &trail{replay: replay{in: c, skip: start.Records}, r: r, pool: opt.Pool}, nil
	case Pcap, Pcapng, ZeekConn:
		if opt.Partial {
			return nil, ErrIncomplete
		}
		c := &counting{r: in}
		m := &metered{replay: replay{in: c, skip: start.Records}, format: format}
		if format == ZeekConn {
			m.zeek = zeek.NewReader(c, name, opt.Capture)
			return m, nil
		}
		r, err := pcap.NewReader(c, name, opt.Capture)
		if err != nil {
			return nil, err
		}
		m.pcap = r
		return m, nil
	}
	if len(head) == 0 {
		return nil, ErrEmpty
	}
	if format == Resolver {
		return nil, fmt.Errorf("%w (%s): Route 53 Resolver query logs are not read yet", ErrUnrecognized, format)
	}
	return nil, fmt.Errorf("%w: not VPC flow logs, CloudTrail, a packet capture or a Zeek conn.log", ErrUnrecognized)
}

// Pool keeps the buffers and intern caches of finished readers for the
// next inputs: trails come as thousands of small files, and a flow log
// reader's buffer is 256 KiB. It is not safe for concurrent use.
type Pool struct {
	flows  []*vpcflow.Reader
	trails []*cloudtrail.Reader
}

// poolSize bounds the readers a pool keeps of each kind.
const poolSize = 16

func (p *Pool) flowReader(in io.Reader, name string, format *vpcflow.Format) *vpcflow.Reader {
	if n := len(p.flows); n > 0 {
		r := p.flows[n-1]
		p.flows = p.flows[:n-1]
		r.Reset(in, name, format)
		return r
	}
	return vpcflow.NewReader(in, name, format)
}

func (p *Pool) trailReader(in io.Reader, name string) *cloudtrail.Reader {
	if n := len(p.trails); n > 0 {
		r := p.trails[n-1]
		p.trails = p.trails[:n-1]
		r.Reset(in, name)
		return r
	}
	return cloudtrail.NewReader(in, name)
}

// flowText reads flow log text.
type flowText struct {
	r    *vpcflow.Reader
	f    event.Flow
	pool *Pool
}

func (t *flowText) Next() (event.Record, error) {
	if err := t.r.Next(&t.f); err != nil {
		return nil, err
	}
	return &t.f, nil
}

func (t *flowText) Position() Position {
	return Position{Offset: t.r.Offset(), Line: t.r.Decoder().Line(), Header: t.r.Header()}
}

func (t *flowText) Format() Format { return VPCFlow }
func (t *flowText) Stats() Stats   { return Stats{} }

func (t *flowText) Close() {
	if t.pool != nil && t.r != nil && len(t.pool.flows) < poolSize {
		t.r.Reset(nil, "", nil)
		t.pool.flows = append(t.pool.flows, t.r)
	}
	t.r = nil
}

// flowParquet reads Parquet flow logs; a resumed input passes over the
// rows already read.
type flowParquet struct {
	r    *vpcflow.ParquetReader
	f    event.Flow
	skip int64
}

func (t *flowParquet) Next() (event.Record, error) {
	for {
		err := t.r.Next(&t.f)
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		if t.r.Row() <= t.skip {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &t.f, nil
	}
}

func (t *flowParquet) Position() Position { return Position{Records: t.r.Row()} }
func (t *flowParquet) Format() Format     { return VPCFlowParquet }
func (t *flowParquet) Stats() Stats       { return Stats{} }
func (t *flowParquet) Close()             {}

// trail reads CloudTrail events; a resumed input passes over the events
// already read.
type trail struct {
	replay
	r    *cloudtrail.Reader
	c    event.APICall
	pool *Pool
}

func (t *trail) Next() (event.Record, error) {
	for {
		err := t.r.Next(&t.c)
		if errors.Is(err, io.EOF) {
			t.eof = true
			return nil, io.EOF
		}
		var pe *cloudtrail.ParseError
		if err != nil && !errors.As(err, &pe) {
			return nil, err
		}
		// Events and bad events count alike, and so do the errors of
		// the file's structure that belong to no event: reading again
		// meets them in the same order.
		if t.pass() {
			continue
		}
		if err != nil {
			return nil, trailError{pe}
		}
		return &t.c, nil
	}
}

func (t *trail) Format() Format { return CloudTrail }
func (t *trail) Stats() Stats   { return Stats{} }

func (t *trail) Close() {
	if t.pool != nil && t.r != nil && len(t.pool.trails) < poolSize {
		t.r.Reset(nil, "")
		t.pool.trails = append(t.pool.trails, t.r)
	}
	t.r = nil
}

// trailError is a bad CloudTrail event, counted under "cloudtrail-" and
// the decoder's reason, apart from bad flow records.
type trailError struct{ *cloudtrail.ParseError }

func (e trailError) Reason() string { return "cloudtrail-" + e.ParseError.Reason() }
func (e trailError) Unwrap() error  { return e.ParseError }

// metered reads a packet capture or a Zeek conn.log, whose packets or
// connections a flow meter turns into flow records. A resumed input is
// read again from its start, passing over the records already returned:
// the meter's windows depend on everything before them.
type metered struct {
	replay
	format Format
	pcap   *pcap.Reader
	zeek   *zeek.Reader
	f      event.Flow
}

func (m *metered) Next() (event.Record, error) {
	for {
		var err error
		if m.zeek != nil {
			err = m.zeek.Next(&m.f)
		} else {
			err = m.pcap.Next(&m.f)
		}
		if err != nil {
			var bad RecordError
			if !errors.As(err, &bad) {
				if errors.Is(err, io.EOF) {
					m.eof = true
				}
				return nil, err
			}
		}
		// Bad packets and lines count with the records: reading again
		// meets them in the same order.
		if m.pass() {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &m.f, nil
	}
}

func (m *metered) Format() Format { return m.format }

func (m *metered) Stats() Stats {
	if m.zeek != nil {
		s := m.zeek.Stats()
		return Stats{Connections: s.Lines, Late: s.Meter.Late, Evicted: s.Meter.Evicted}
	}
	s := m.pcap.Stats()
	return Stats{Packets: s.Frames, NonIP: s.NonIP, Late: s.Meter.Late, Evicted: s.Meter.Evicted}
}

func (m *metered) Close() {}

// logEvents reads CloudWatch Logs subscription payloads whose messages
// are flow log lines ({"messageType":"DATA_MESSAGE","owner":...,
// "logEvents":[{"message":"..."}]}, one or more in a row), as a log
// group's subscription hands them to Firehose. Payloads are small and
// held whole; the position counts events.
type logEvents struct {
	name   string
	format *vpcflow.Format
	dec    *json.Decoder
	fdec   *vpcflow.Decoder
	msgs   []string
	i      int
	owner  event.ID
	f      event.Flow
	n      int64
	skip   int64
	size   int64
	done   bool
}

func newLogEvents(in Input, name string, opt Options) (*logEvents, error) {
	data, err := io.ReadAll(io.LimitReader(in, maxLogEvents+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxLogEvents {
		return nil, fmt.Errorf("CloudWatch Logs payload over %d bytes", maxLogEvents)
	}
	return &logEvents{
		name: name, format: opt.FlowFormat, skip: opt.Start.Records, size: int64(len(data)),
		dec: json.NewDecoder(bytes.NewReader(data)), fdec: vpcflow.NewDecoder(name, opt.FlowFormat),
	}, nil
}

// payloadError is a CloudWatch Logs payload that is not valid JSON.
type payloadError struct {
	name string
	err  error
}

func (e *payloadError) Error() string {
	return fmt.Sprintf("%s: CloudWatch Logs payload: %v", e.name, e.err)
}
func (e *payloadError) Unwrap() error  { return e.err }
func (e *payloadError) Reason() string { return "syntax" }

func (l *logEvents) Next() (event.Record, error) {
	for {
		if l.i < len(l.msgs) {
			msg := l.msgs[l.i]
			l.i++
			l.n++
			if l.n <= l.skip {
				continue
			}
			kind, err := l.fdec.Decode([]byte(msg), &l.f)
			if err != nil {
				return nil, err
			}
			if kind != vpcflow.LineRecord {
				continue
			}
			if !l.owner.IsZero() && (l.f.Account.IsZero() || l.f.Account.String() == "unknown") {
				l.f.Account = l.owner
			}
			return &l.f, nil
		}
		if l.done || !l.dec.More() {
			l.done = true
			return nil, io.EOF
		}
		var msg struct {
			MessageType string `json:"messageType"`
			Owner       string `json:"owner"`
			LogEvents   []struct {
				Message string `json:"message"`
			} `json:"logEvents"`
		}
		if err := l.dec.Decode(&msg); err != nil {
			// The rest of the payload is one bad record, counted like
			// an event so that a resumed reader passes over it.
			l.done = true
			l.n++
			if l.n <= l.skip {
				return nil, io.EOF
			}
			return nil, &payloadError{name: l.name, err: err}
		}
		if msg.MessageType != "DATA_MESSAGE" {
			continue // CONTROL_MESSAGE: a connectivity check
		}
		l.owner = event.ID{}
		if len(msg.Owner) == 12 {
			l.owner = event.Intern(msg.Owner)
		}
		l.fdec.Reset(l.name, l.format)
		l.msgs = l.msgs[:0]
		for _, e := range msg.LogEvents {
			l.msgs = append(l.msgs, e.Message)
		}
		l.i = 0
	}
}

func (l *logEvents) Position() Position {
	p := Position{Records: l.n}
	if l.done {
		p.Offset = l.size
	}
	return p
}

func (l *logEvents) Format() Format { return VPCFlowCloudWatch }
func (l *logEvents) Stats() Stats   { return Stats{} }
func (l *logEvents) Close()         {}

// replay is the position of a reader that resumes by reading its input
// again from the start and passing over what an earlier reader returned:
// records and bad records alike, which a reading meets in the same order
// every time.
type replay struct {
	in   *counting
	n    int64 // records and bad records returned or passed over
	skip int64 // how many to pass over
	eof  bool
}

// pass counts one record or bad record and reports whether to pass over
// it.
func (r *replay) pass() bool {
	r.n++
	return r.n <= r.skip
}

// Position is the count so far and, at the end, the bytes read.
func (r *replay) Position() Position {
	p := Position{Records: r.n}
	if r.eof {
		p.Offset = r.in.n
	}
	return p
}

// counting counts the bytes read through it: the decompressed bytes a
// Position's Offset gives. source.Stream has a reader like it, which
// counts the bytes of the file, compressed or not, for its own purpose;
// decode may not import source (see meta_test.go), and five lines are not
// worth a package of their own.
type counting struct {
	r io.Reader
	n int64
}

func (c *counting) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
