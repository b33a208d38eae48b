package source

import (
	"errors"
	"sync"
)

// Position is how far an input has been read: enough to resume exactly
// after the last record delivered, and no earlier. Text is resumed by
// offset (a file seeks, gzip decompresses and skips), Parquet and
// CloudTrail by the number of records to pass over.
type Position struct {
	Offset  int64  `json:"offset,omitempty"`  // decompressed bytes consumed
	Line    int64  `json:"line,omitempty"`    // lines consumed (text)
	Records int64  `json:"records,omitempty"` // records consumed (Parquet rows, CloudTrail events)
	Header  string `json:"header,omitempty"`  // the flow log header line in effect (text)
}

// IsZero reports whether p is the start of an input.
func (p Position) IsZero() bool { return p == Position{} }

// Defaults apply to the records of an input that carry no account or
// region and whose name says none, and to headerless flow logs.
type Defaults struct {
	Account    string
	Region     string
	FlowFormat string
}

// Checkpoint is a source's saved progress under a name unique among all
// sources (a watched file is "file:" and its absolute path; an S3 prefix
// "s3:" and its bucket and prefix; the Firehose endpoint "firehose").
type Checkpoint struct {
	Name string
	Data []byte
}

// ErrStopped is what a reader passes to Task.Finish when it stopped
// before the end of the input, at a record boundary, because the service
// is shutting down.
var ErrStopped = errors.New("stopped before the end of the input")

// ErrUnreadable is wrapped by the error a reader passes to Task.Finish
// when it gave up on the input as it is, such as a file in no format
// picket reads. Having counted it once, it asks the source not to hand
// the input over again until it changes: a watched file until its size
// or modification time does, an S3 object never.
var ErrUnreadable = errors.New("cannot be read as it is")

// Task is one input that a source hands to the ingest loop, which reads
// its records from Start on, reports its progress with Progress as it
// commits, and ends it with Finish. The source waits for Finish before it
// hands over the next input, so that inputs are read in a stable order.
type Task struct {
	// Name names the input in messages and in the Origin of its records:
	// a path, s3://bucket/key, or firehose:<request ID>#<record>.
	Name     string
	Layout   Layout
	Defaults Defaults
	Start    Position
	// Complete says the input will not grow. When false (a file being
	// appended to), a last line without its newline is left for a later
	// task rather than read as a cut record.
	Complete bool

	open   func() (*Stream, error)
	report func(p Position, final bool, err error)

	once sync.Once
	done chan struct{}
}

// NewTask returns a task whose input open returns from its beginning, and
// which calls report with its progress (final false) and its end (final
// true, with Finish's error). The source package's own sources build
// their tasks this way; tests build theirs.
func NewTask(name string, open func() (*Stream, error), report func(p Position, final bool, err error)) *Task {
	return &Task{Name: name, open: open, report: report, done: make(chan struct{})}
}

// Open opens the input from its beginning (Stream.Skip moves to Start).
func (t *Task) Open() (*Stream, error) { return t.open() }

// Progress records that every record before p has been processed; the
// source includes p in its next checkpoints.
func (t *Task) Progress(p Position) {
	if t.report != nil {
		t.report(p, false, nil)
	}
}

// Finish ends the task at p: err is nil when the reader reached the end
// of the input, ErrStopped when it stopped early, an error wrapping
// ErrUnreadable when it gave up on the input as it is, or why reading
// failed. Calls after the first are ignored.
func (t *Task) Finish(p Position, err error) {
	t.once.Do(func() {
		if t.report != nil {
			t.report(p, true, err)
		}
		close(t.done)
	})
}

// Done is closed once the task is finished.
func (t *Task) Done() <-chan struct{} { return t.done }
