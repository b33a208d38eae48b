package decode

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"picket/internal/decode/cloudtrail"
	"picket/internal/decode/pcap"
	"picket/internal/decode/resolver"
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
// offset, line and the header in effect (inside a line of CloudTrail
// events, at its start, with Records the events of it already read), and
// Route 53 Resolver query logs by offset and line;
// every other format by the number of records to pass over (Parquet
// rows, CloudTrail events, CloudWatch Logs events, the flow records of a
// capture or Zeek log), and reports at its end, in Offset, the bytes it
// read.
type Position struct {
	Offset  int64  `json:"offset,omitempty"`  // decompressed bytes consumed
	Line    int64  `json:"line,omitempty"`    // lines consumed (text)
	Records int64  `json:"records,omitempty"` // records consumed, good and bad (text: of the line at Offset)
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

// headSize is how much of an input Detect sees: the lines that vote on
// the format of a text input are in it.
const headSize = 64 << 10

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
	head := in.Head(headSize)
	if format == Unknown {
		format = Detect(head)
		if format == Unknown && len(head) > 0 && opt.Fallback != Unknown {
			format = opt.Fallback
		}
	}
	start := opt.Start
	switch format {
	case VPCFlow:
		r := opt.Pool.flowReader(in, name, opt.FlowFormat)
		r.SetPartial(opt.Partial)
		if start.Offset > 0 {
			if err := in.Skip(start.Offset); err != nil {
				return nil, fmt.Errorf("resuming at byte %d: %w", start.Offset, err)
			}
		}
		if err := r.Resume(start.Offset, start.Line, start.Header); err != nil {
			return nil, fmt.Errorf("resuming: saved header: %w", err)
		}
		return &flowText{r: r, pool: opt.Pool, name: name, skip: start.Records, skipAt: start.Offset}, nil
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
	case Resolver:
		if isLogEvents(head) {
			l, err := newLogEvents(in, name, opt)
			if err != nil {
				return nil, err
			}
			l.dns = resolver.NewDecoder(name)
			return l, nil
		}
		r := resolver.NewReader(in, name)
		r.SetPartial(opt.Partial)
		if start.Offset > 0 {
			if err := in.Skip(start.Offset); err != nil {
				return nil, fmt.Errorf("resuming at byte %d: %w", start.Offset, err)
			}
		}
		r.Resume(start.Offset, start.Line)
		return &queries{r: r}, nil
	case CloudTrail:
		c := &counting{r: in}
		r := opt.Pool.trailReader(c, name)
		return &trail{replay: replay{in: c, skip: start.Records}, r: r, pool: opt.Pool, name: name, flowFormat: opt.FlowFormat}, nil
	case ZeekDNS:
		if opt.Partial {
			return nil, ErrIncomplete
		}
		c := &counting{r: in}
		return &zeekDNS{replay: replay{in: c, skip: start.Records}, r: zeek.NewDNSReader(c, name)}, nil
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
	return nil, fmt.Errorf("%w: not VPC flow logs, CloudTrail, a Route 53 Resolver query log, a packet capture or a Zeek conn.log or dns.log", ErrUnrecognized)
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

// flowReader takes a flow log reader from the pool, or makes one when the
// pool (which may be nil) has none.
func (p *Pool) flowReader(in io.Reader, name string, format *vpcflow.Format) *vpcflow.Reader {
	if p == nil {
		return vpcflow.NewReader(in, name, format)
	}
	if n := len(p.flows); n > 0 {
		r := p.flows[n-1]
		p.flows = p.flows[:n-1]
		r.Reset(in, name, format)
		return r
	}
	return vpcflow.NewReader(in, name, format)
}

// trailReader takes a CloudTrail reader from the pool, or makes one when
// the pool (which may be nil) has none.
func (p *Pool) trailReader(in io.Reader, name string) *cloudtrail.Reader {
	if p == nil {
		return cloudtrail.NewReader(in, name)
	}
	if n := len(p.trails); n > 0 {
		r := p.trails[n-1]
		p.trails = p.trails[:n-1]
		r.Reset(in, name)
		return r
	}
	return cloudtrail.NewReader(in, name)
}

// putFlow gives r (which may be nil) back to the pool (which may be nil)
// unless it is full.
func (p *Pool) putFlow(r *vpcflow.Reader) {
	if p != nil && r != nil && len(p.flows) < poolSize {
		r.Reset(nil, "", nil)
		p.flows = append(p.flows, r)
	}
}

// putTrail gives r (which may be nil) back to the pool (which may be nil)
// unless it is full.
func (p *Pool) putTrail(r *cloudtrail.Reader) {
	if p != nil && r != nil && len(p.trails) < poolSize {
		r.Reset(nil, "")
		p.trails = append(p.trails, r)
	}
}

// flowText reads flow log text, and the CloudTrail events that come as
// lines of JSON among its records (one event, or a {"Records":[...]}
// document, on a line). Lines of any other format are bad records,
// ErrOtherFormat. Only a line that is no flow record is looked at again,
// so flow records take the path they would without it.
type flowText struct {
	r      *vpcflow.Reader
	f      event.Flow
	pool   *Pool
	name   string
	js     *jsonLine // the events of the JSON line being read
	skip   int64     // events to pass over in the JSON line at skipAt (resuming inside it)
	skipAt int64
}

func (t *flowText) Next() (event.Record, error) {
	for {
		if t.js != nil && t.js.active {
			rec, err := t.js.next()
			if errors.Is(err, io.EOF) {
				continue // the line is done
			}
			return rec, err
		}
		err := t.r.Next(&t.f)
		if err == nil {
			return &t.f, nil
		}
		var pe *vpcflow.ParseError
		if !errors.As(err, &pe) {
			return nil, err
		}
		line, offset := t.r.Bad()
		switch jsonKind(line) {
		case notJSON:
			return nil, err
		case otherJSON:
			return nil, &otherFormatError{name: t.name, line: pe.Line, doc: !valueEndsLine(bytes.TrimLeft(line, " \t"))}
		}
		if t.js == nil {
			t.js = &jsonLine{name: t.name, file: event.Intern(t.name)}
			t.js.r = t.pool.trailReader(nil, t.name)
		}
		skip := int64(0)
		if offset == t.skipAt {
			skip = t.skip
		}
		t.js.start(line, pe.Line, offset, skip)
	}
}

func (t *flowText) Position() Position {
	if t.js != nil && t.js.active {
		// Inside a JSON line: resume at its start, passing over the
		// events already read.
		return Position{Offset: t.js.offset, Line: t.js.line - 1, Records: t.js.n, Header: t.r.Header()}
	}
	return Position{Offset: t.r.Offset(), Line: t.r.Decoder().Line(), Header: t.r.Header()}
}

func (t *flowText) Format() Format { return VPCFlow }
func (t *flowText) Stats() Stats   { return Stats{} }

func (t *flowText) Close() {
	t.pool.putFlow(t.r)
	if t.js != nil {
		t.pool.putTrail(t.js.r)
	}
	t.r, t.js = nil, nil
}

// jsonLine reads the CloudTrail events of one line of flow log text.
type jsonLine struct {
	r      *cloudtrail.Reader
	src    bytes.Reader
	c      event.APICall
	name   string
	file   event.ID
	line   int64 // the line's number
	offset int64 // the offset of its first byte
	n      int64 // events and bad events returned or passed over
	skip   int64 // how many to pass over
	active bool
}

func (j *jsonLine) start(line []byte, n, offset, skip int64) {
	j.src.Reset(line)
	j.r.Reset(&j.src, j.name)
	j.line, j.offset, j.n, j.skip, j.active = n, offset, 0, skip, true
}

// next returns the line's next event, or io.EOF at its end.
func (j *jsonLine) next() (event.Record, error) {
	for {
		err := j.r.Next(&j.c)
		if errors.Is(err, io.EOF) {
			j.active = false
			return nil, io.EOF
		}
		j.n++
		if j.n <= j.skip {
			continue
		}
		var pe *cloudtrail.ParseError
		if errors.As(err, &pe) {
			pe.Line = j.line
			return nil, trailError{pe}
		}
		if err != nil {
			return nil, err
		}
		j.c.Origin = event.Origin{File: j.file, Line: j.line}
		return &j.c, nil
	}
}

// The kinds of line jsonKind tells apart.
const (
	notJSON   = iota // not JSON: a bad flow record
	trailJSON        // JSON with CloudTrail's keys: events
	otherJSON        // other JSON, or a line of a JSON document
)

// jsonKind says whether a line that is no flow record is JSON, and if so
// whether it holds CloudTrail events.
func jsonKind(line []byte) int {
	line = bytes.TrimLeft(line, " \t\xef\xbb\xbf")
	if len(line) == 0 {
		return notJSON
	}
	switch line[0] {
	case '{', '[':
		if isTrail(line) {
			return trailJSON
		}
		return otherJSON
	case '}', ']', '"':
		return otherJSON
	}
	if isTrailExport(line) {
		return trailJSON
	}
	return notJSON
}

// ErrOtherFormat is the reason of a line of another format among the
// lines of a file that cannot be read as such: in flow log text, a line
// of a JSON document that spans many lines, or a JSON line that is not a
// CloudTrail event. Its bad records count as "other-format".
var ErrOtherFormat = errors.New("a line of another format")

// otherFormatError is a line of ErrOtherFormat.
type otherFormatError struct {
	name string
	line int64
	doc  bool // inside a JSON document, not a JSON line of its own
}

func (e *otherFormatError) Error() string {
	what := "a JSON line that is not a CloudTrail event"
	if e.doc {
		what = "a line of a JSON document over many lines, which is read only as a file of its own"
	}
	return fmt.Sprintf("%s:%d: %v among flow log records: %s", e.name, e.line, ErrOtherFormat, what)
}
func (e *otherFormatError) Unwrap() error  { return ErrOtherFormat }
func (e *otherFormatError) Reason() string { return "other-format" }

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
// already read. Lines at its top level that are not JSON but flow log
// records or header lines (events one per line with flow log lines among
// them) are read as flow log text.
type trail struct {
	replay
	r          *cloudtrail.Reader
	c          event.APICall
	pool       *Pool
	name       string
	flowFormat *vpcflow.Format
	flows      *vpcflow.Decoder // for flow log lines, once one is met
	f          event.Flow
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
		var rec event.Record = &t.c
		if err != nil {
			err = trailError{pe}
			if line := bytes.TrimSuffix(t.r.Foreign(), []byte("\r")); flowKind(line) != lineNone {
				// Decoded even when passed over: a header line sets the
				// format of the lines after it.
				if t.flows == nil {
					t.flows = vpcflow.NewDecoder(t.name, t.flowFormat)
				}
				t.flows.SetLine(pe.Line - 1)
				kind, ferr := t.flows.Decode(line, &t.f)
				if kind == vpcflow.LineHeader && ferr == nil {
					continue // not a record, and reading again meets it too
				}
				rec, err = &t.f, ferr
			}
		}
		// Events and bad events count alike, and so do the errors of
		// the file's structure that belong to no event: reading again
		// meets them in the same order.
		if t.pass() {
			continue
		}
		if err != nil {
			return nil, err
		}
		return rec, nil
	}
}

func (t *trail) Format() Format { return CloudTrail }
func (t *trail) Stats() Stats   { return Stats{} }

func (t *trail) Close() {
	t.pool.putTrail(t.r)
	t.r = nil
}

// trailError is a bad CloudTrail event, counted under "cloudtrail-" and
// the decoder's reason, apart from bad flow records.
type trailError struct{ *cloudtrail.ParseError }

func (e trailError) Reason() string { return "cloudtrail-" + e.ParseError.Reason() }
func (e trailError) Unwrap() error  { return e.ParseError }

// queries reads Route 53 Resolver query logs, one query a line; a
// resumed input starts at the line after the last one read.
type queries struct {
	r *resolver.Reader
	q event.DNSQuery
}

func (t *queries) Next() (event.Record, error) {
	err := t.r.Next(&t.q)
	if err == nil {
		return &t.q, nil
	}
	var pe *resolver.ParseError
	if errors.As(err, &pe) {
		return nil, resolverError{pe}
	}
	return nil, err
}

func (t *queries) Position() Position { return Position{Offset: t.r.Offset(), Line: t.r.Line()} }
func (t *queries) Format() Format     { return Resolver }
func (t *queries) Stats() Stats       { return Stats{} }
func (t *queries) Close()             {}

// resolverError is a bad query log line, counted under "resolver-" and
// the decoder's reason, apart from bad flow records.
type resolverError struct{ *resolver.ParseError }

func (e resolverError) Reason() string { return "resolver-" + e.ParseError.Reason() }
func (e resolverError) Unwrap() error  { return e.ParseError }

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

// zeekDNS reads a Zeek dns.log, a query a line. Like a Zeek conn.log it
// is read whole: a resumed input is read again from its start, passing
// over the records and bad lines already returned.
type zeekDNS struct {
	replay
	r *zeek.DNSReader
	q event.DNSQuery
}

func (z *zeekDNS) Next() (event.Record, error) {
	for {
		err := z.r.Next(&z.q)
		if errors.Is(err, io.EOF) {
			z.eof = true
			return nil, io.EOF
		}
		var pe *zeek.ParseError
		if err != nil && !errors.As(err, &pe) {
			return nil, err
		}
		if z.pass() {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &z.q, nil
	}
}

func (z *zeekDNS) Format() Format { return ZeekDNS }
func (z *zeekDNS) Stats() Stats   { return Stats{} }
func (z *zeekDNS) Close()         {}

// logEvents reads CloudWatch Logs subscription payloads whose messages
// are flow log lines, or Route 53 Resolver query log lines
// ({"messageType":"DATA_MESSAGE","owner":..., "logEvents":[{"message":
// "..."}]}, one or more in a row), as a log group's subscription hands
// them to Firehose. Payloads are small and
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

	// For Route 53 Resolver query logs: messages are queries, and a
	// query's line is its event's number in the input.
	dns *resolver.Decoder
	q   event.DNSQuery
}

// isLogEvents reports whether an input starts with a CloudWatch Logs
// subscription payload.
func isLogEvents(head []byte) bool {
	b := bytes.TrimLeft(head, " \t\r\n\xef\xbb\xbf")
	return len(b) > 0 && b[0] == '{' && bytes.Contains(b, []byte(`"logEvents"`))
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
			if l.dns != nil {
				if err := l.dns.Decode([]byte(msg), l.n, &l.q); err != nil {
					var pe *resolver.ParseError
					if errors.As(err, &pe) {
						return nil, resolverError{pe}
					}
					return nil, err
				}
				if l.q.Account.IsZero() {
					l.q.Account = l.owner
				}
				return &l.q, nil
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

func (l *logEvents) Format() Format {
	if l.dns != nil {
		return Resolver
	}
	return VPCFlowCloudWatch
}
func (l *logEvents) Stats() Stats { return Stats{} }
func (l *logEvents) Close()       {}

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
