package vpcflow

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"

	"picket/internal/event"
)

// Parquet flow logs
//
// S3 delivery can write Parquet instead of text: one column per field of the
// flow log's format, named like the field with '-' replaced by '_'
// (account_id, log_status, pkt_srcaddr), INT32 for small numbers, INT64 for
// counters and times, UTF-8 strings otherwise, and null for a value that is
// absent. ParquetReader maps columns to fields by name and then sends each
// value through the text decoder's field code as the bytes a text record
// would hold ("-" for null), so that both encodings validate and fill an
// event.Flow the same way; a differential test holds them to it.
//
// Values are read column by column, a batch of rows at a time, and rendered
// into one reused byte arena per column; a row then costs what a text line
// costs plus the rendering of its numbers. Only the columns of known fields
// are read.
//
// A Parquet file is an index (the footer) pointing at pages, and the
// library trusts the sizes the index gives: a few corrupt bytes can ask it
// for gigabytes, and some of its decoders loop or allocate what damaged
// data declares. The reader checks the footer and, before each row group,
// the page headers of the columns it reads and the compressed data of the
// codecs that need it (see parquetcheck.go); it reads pages synchronously
// and turns a panic inside the library into an error for the file.

// parquetBatch is the number of rows decoded per column at a time: enough
// to amortize the per-batch work, small enough to keep the arenas in cache.
const parquetBatch = 256

// ParquetReader decodes the rows of one Parquet flow log. It is not safe
// for concurrent use.
type ParquetReader struct {
	name   string
	r      io.ReaderAt
	size   int64
	check  pageChecker
	file   *parquet.File
	meta   *format.FileMetaData
	format Format
	cols   []pqColumn // the columns of known fields, in file order
	dec    *Decoder   // field validation and interning, shared with text

	group     int   // next row group to open
	groupRows int64 // rows of the current row group not yet batched
	batch     int   // rows in the current batch
	pos       int   // next row of the batch
	row       int64 // number of the last row delivered (1-based)
	err       error // sticky: io.EOF or the error that ended the file
}

// pqColumn is one column of a known field and the batch of its values,
// rendered as text.
type pqColumn struct {
	field  Field
	name   string // the column's name in the file
	leaf   int    // leaf column index in the file schema
	render renderKind
	div    int64 // timestamp columns: units per second
	pad    bool  // integer account IDs: restore leading zeros

	pages  parquet.Pages
	page   parquet.Page
	values parquet.ValueReader
	buf    []parquet.Value

	text []byte // the batch's values, concatenated
	ends []int  // end of each row's value in text
	long []bool // the row's value was too long and is truncated in text
}

type renderKind uint8

const (
	renderBytes renderKind = iota
	renderInt32
	renderUint32
	renderInt64
	renderUint64
	renderBool
	renderFloat
	renderDouble
)

// accountDigits is the length of an AWS account ID, which an integer
// column loses the leading zeros of.
const accountDigits = 12

// NewParquetReader opens the Parquet flow log called name, of size bytes
// read through r. It reads the footer and maps the columns to fields; it
// fails if the file is not Parquet, is damaged, or has no column picket
// knows. Columns of unknown fields are skipped. Errors name the file.
func NewParquetReader(r io.ReaderAt, size int64, name string) (p *ParquetReader, err error) {
	defer func() {
		if v := recover(); v != nil {
			p, err = nil, fmt.Errorf("opening Parquet flow log %q: %w", name, panicError(v))
		}
	}()
	p = &ParquetReader{name: name, r: r, size: size}
	if err := p.open(); err != nil {
		return nil, fmt.Errorf("opening Parquet flow log %q: %w", name, err)
	}
	return p, nil
}

func (p *ParquetReader) open() error {
	footer, err := checkFooter(p.r, p.size)
	if err != nil {
		return err
	}
	f, err := parquet.OpenFile(p.r, p.size,
		parquet.SkipPageIndex(true),
		parquet.SkipBloomFilters(true),
		parquet.FileReadMode(parquet.ReadModeSync), // no goroutines: panics stay recoverable
	)
	if err != nil {
		return err
	}
	p.file = f
	p.meta = f.Metadata()
	p.check = pageChecker{r: p.r, dataEnd: p.size - int64(footer) - 8}
	if err := checkRowGroups(p.meta); err != nil {
		return err
	}
	if err := p.mapColumns(f.Root()); err != nil {
		return err
	}
	p.dec = NewDecoder(p.name, &p.format)
	return nil
}

// mapColumns builds the format from the top-level columns and sets up the
// columns of known fields.
func (p *ParquetReader) mapColumns(root *parquet.Column) error {
	seen := make(map[Field]string)
	for _, c := range root.Columns() {
		name := c.Name()
		fd, _ := FieldNamed(strings.ReplaceAll(strings.ToLower(name), "_", "-"))
		if !c.Leaf() {
			fd = FieldOther // a nested group: no flow log field is one
		}
		p.format.Columns = append(p.format.Columns, fd)
		if fd == FieldOther {
			p.format.Names = append(p.format.Names, name)
			continue
		}
		p.format.Names = append(p.format.Names, fd.String())
		if prev, dup := seen[fd]; dup {
			return fmt.Errorf("columns %q and %q both hold field %q", prev, name, fd)
		}
		seen[fd] = name
		if c.Repeated() || c.MaxRepetitionLevel() != 0 {
			return fmt.Errorf("column %q is repeated; flow log columns hold one value per row", name)
		}
		col := pqColumn{field: fd, name: name, leaf: c.Index(), div: 1}
		if err := col.setType(c.Type()); err != nil {
			return fmt.Errorf("column %q: %w", name, err)
		}
		switch fd {
		case FieldAccountID, FieldTGWSrcVPCAccountID, FieldTGWDstVPCAccountID:
			col.pad = col.render != renderBytes
		}
		p.cols = append(p.cols, col)
	}
	if len(p.cols) == 0 {
		return errors.New("no column names a flow log field")
	}
	for i := range p.cols {
		c := &p.cols[i]
		c.buf = make([]parquet.Value, parquetBatch)
		c.ends = make([]int, 0, parquetBatch)
		c.long = make([]bool, parquetBatch)
	}
	return nil
}

// setType chooses how the column's values are rendered as text.
func (c *pqColumn) setType(t parquet.Type) error {
	lt := t.LogicalType()
	ct := t.ConvertedType()
	unsigned := false
	if lt != nil {
		if it, ok := lt.Value.(*format.IntType); ok && !it.IsSigned {
			unsigned = true
		}
	}
	if ct != nil {
		switch *ct {
		case deprecated.Uint8, deprecated.Uint16, deprecated.Uint32, deprecated.Uint64:
			unsigned = true
		}
	}
	switch t.Kind() {
	case parquet.ByteArray, parquet.FixedLenByteArray:
		c.render = renderBytes
	case parquet.Int32:
		c.render = renderInt32
		if unsigned {
			c.render = renderUint32
		}
	case parquet.Int64:
		c.render = renderInt64
		if unsigned {
			c.render = renderUint64
		}
		c.div = timestampUnit(lt, ct)
	case parquet.Boolean:
		c.render = renderBool
	case parquet.Float:
		c.render = renderFloat
	case parquet.Double:
		c.render = renderDouble
	default:
		return fmt.Errorf("unsupported physical type %s", t.Kind())
	}
	return nil
}

// timestampUnit returns how many of a timestamp column's units make a
// second (flow log times are Unix seconds), or 1 for a plain integer.
func timestampUnit(lt *format.LogicalType, ct *deprecated.ConvertedType) int64 {
	if lt != nil {
		if ts, ok := lt.Value.(*format.TimestampType); ok {
			switch ts.Unit.Value.(type) {
			case *format.MilliSeconds:
				return 1e3
			case *format.MicroSeconds:
				return 1e6
			case *format.NanoSeconds:
				return 1e9
			}
		}
	}
	if ct != nil {
		switch *ct {
		case deprecated.TimestampMillis:
			return 1e3
		case deprecated.TimestampMicros:
			return 1e6
		}
	}
	return 1
}

// Format returns the file's columns as a format: the field of each
// top-level column in file order (FieldOther for a column picket does not
// know), with names as AWS writes them for known fields and as the file
// has them otherwise.
func (p *ParquetReader) Format() Format { return p.format }

// NumRows returns the number of rows the file's footer declares.
func (p *ParquetReader) NumRows() int64 { return p.meta.NumRows }

// Row returns the number of the last row Next returned, counting from 1.
func (p *ParquetReader) Row() int64 { return p.row }

// Next decodes the next row into f. It returns nil for a record (which may
// be a NODATA or SKIPDATA record: see f.Status), a *ParseError for a bad
// row, after which Next may be called again, io.EOF after the last row, or
// another error, naming the file, when the file turns out to be damaged;
// rows before that error were delivered. f.Origin.Line is the row number,
// counting from 1.
func (p *ParquetReader) Next(f *event.Flow) error {
	if p.pos == p.batch {
		if p.err != nil {
			return p.err
		}
		if err := p.fill(); err != nil {
			p.err = err
			p.release()
			p.check.close()
			return err
		}
	}
	i := p.pos
	p.pos++
	p.row++
	d := p.dec
	d.line = p.row
	f.Reset()
	f.Origin = event.Origin{File: d.file, Line: p.row}
	for k := range p.cols {
		c := &p.cols[k]
		start := 0
		if i > 0 {
			start = c.ends[i-1]
		}
		b := c.text[start:c.ends[i]]
		if c.long[i] {
			return d.fail(c.field.String(), string(b), ErrLineTooLong)
		}
		if err := d.field(c.field, b, f); err != nil {
			return d.fail(c.field.String(), string(truncate(b)), err)
		}
	}
	return nil
}

// fill decodes the next batch of rows, opening the next row group when the
// current one is done. It returns io.EOF after the last row group.
func (p *ParquetReader) fill() (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = p.damaged(panicError(v))
		}
	}()
	for p.groupRows == 0 {
		p.release()
		if p.group == len(p.meta.RowGroups) {
			return io.EOF
		}
		if err := p.openGroup(p.group); err != nil {
			return p.damaged(fmt.Errorf("row group %d: %w", p.group, err))
		}
		p.group++
	}
	n := int(min(p.groupRows, parquetBatch))
	for k := range p.cols {
		c := &p.cols[k]
		if err := c.read(n); err != nil {
			return p.damaged(fmt.Errorf("row group %d: column %q: %w", p.group-1, c.name, err))
		}
	}
	p.groupRows -= int64(n)
	p.batch, p.pos = n, 0
	return nil
}

// openGroup checks the page headers of row group g and opens the pages of
// the columns read.
func (p *ParquetReader) openGroup(g int) error {
	rg := &p.meta.RowGroups[g]
	for k := range p.cols {
		c := &p.cols[k]
		if c.leaf >= len(rg.Columns) {
			return fmt.Errorf("column %q missing: the row group has %d columns", c.name, len(rg.Columns))
		}
		if err := p.check.check(&rg.Columns[c.leaf].MetaData, rg.NumRows); err != nil {
			return fmt.Errorf("column %q: %w", c.name, err)
		}
	}
	chunks := p.file.RowGroups()[g].ColumnChunks()
	for k := range p.cols {
		c := &p.cols[k]
		c.pages = chunks[c.leaf].Pages()
	}
	p.groupRows = rg.NumRows
	return nil
}

// release releases the pages of the current row group.
func (p *ParquetReader) release() {
	for k := range p.cols {
		c := &p.cols[k]
		c.release()
		if c.pages != nil {
			c.pages.Close()
			c.pages = nil
		}
	}
}

func (p *ParquetReader) damaged(err error) error {
	return fmt.Errorf("reading Parquet flow log %q: %w", p.name, err)
}

func (c *pqColumn) release() {
	if c.page != nil {
		parquet.Release(c.page)
		c.page = nil
	}
	c.values = nil
}

// read renders the column's next n values into the batch.
func (c *pqColumn) read(n int) error {
	c.text = c.text[:0]
	c.ends = c.ends[:0]
	for len(c.ends) < n {
		if c.values == nil {
			page, err := c.pages.ReadPage()
			if err != nil {
				if errors.Is(err, io.EOF) {
					return io.ErrUnexpectedEOF
				}
				return err
			}
			c.page = page
			c.values = page.Values()
		}
		want := min(n-len(c.ends), len(c.buf))
		k, err := c.values.ReadValues(c.buf[:want])
		vals := c.buf[:k]
		for j := range vals {
			c.add(&vals[j])
		}
		switch {
		case errors.Is(err, io.EOF):
			c.release()
		case err != nil:
			return err
		case k == 0:
			return io.ErrNoProgress
		}
	}
	return nil
}

// add renders one value as the text decoder would see it: "-" for null.
func (c *pqColumn) add(v *parquet.Value) {
	i := len(c.ends)
	c.long[i] = false
	start := len(c.text)
	if v.IsNull() {
		c.text = append(c.text, '-')
		c.ends = append(c.ends, len(c.text))
		return
	}
	switch c.render {
	case renderBytes:
		b := v.ByteArray()
		switch {
		case len(b) == 0:
			c.text = append(c.text, '-')
		case len(b) > MaxLine:
			c.text = append(c.text, b[:maxValueInError]...)
			c.long[i] = true
		default:
			c.text = append(c.text, b...)
		}
	case renderInt32:
		c.text = strconv.AppendInt(c.text, int64(v.Int32()), 10)
	case renderUint32:
		c.text = strconv.AppendUint(c.text, uint64(v.Uint32()), 10)
	case renderInt64:
		x := v.Int64()
		if c.div > 1 {
			x = floorDiv(x, c.div)
		}
		c.text = strconv.AppendInt(c.text, x, 10)
	case renderUint64:
		c.text = strconv.AppendUint(c.text, v.Uint64(), 10)
	case renderBool:
		c.text = strconv.AppendBool(c.text, v.Boolean())
	case renderFloat:
		c.text = appendFloat(c.text, float64(v.Float()), 32)
	case renderDouble:
		c.text = appendFloat(c.text, v.Double(), 64)
	}
	if c.pad && c.text[start] != '-' {
		if digits := len(c.text) - start; digits < accountDigits {
			c.text = append(c.text, "000000000000"[:accountDigits-digits]...)
			copy(c.text[start+accountDigits-digits:], c.text[start:start+digits])
			copy(c.text[start:], "000000000000"[:accountDigits-digits])
		}
	}
	c.ends = append(c.ends, len(c.text))
}

// appendFloat renders a whole number without a fraction, so that a
// counter stored as a double (as pandas does with nullable integers) reads
// as the integer; anything else fails the fields that want integers.
func appendFloat(b []byte, x float64, bits int) []byte {
	if x == math.Trunc(x) && math.Abs(x) < 1<<63 {
		return strconv.AppendInt(b, int64(x), 10)
	}
	return strconv.AppendFloat(b, x, 'g', -1, bits)
}

func floorDiv(x, d int64) int64 {
	q := x / d
	if x%d != 0 && x < 0 {
		q--
	}
	return q
}

// panicError turns a recovered panic from the Parquet library into an
// error. Corrupt files reach code paths that index without checking.
func panicError(v any) error {
	if err, ok := v.(error); ok {
		return fmt.Errorf("corrupt file (parquet library panicked: %w)", err)
	}
	return fmt.Errorf("corrupt file (parquet library panicked: %v)", v)
}
