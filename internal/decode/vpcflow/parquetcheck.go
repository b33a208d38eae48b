package vpcflow

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
	"github.com/pierrec/lz4/v4"
)

// Sanity checks on the structure of a Parquet file, made before the
// library reads it. The library allocates whatever sizes the file declares
// (a list length in the footer, a page size or value count in a page
// header) before finding out that the bytes are not there, so a corrupt
// file of a few hundred bytes can ask for gigabytes. These checks bound
// every declared size by the bytes that hold it or by a limit far above
// what flow logs use: AWS writes pages of about 1 MiB.
//
// Compressed page data is not checked: a page that decompresses to far
// more than its header says (a compression bomb) still costs memory in
// proportion, up to the compression ratio, to the page's compressed size.

const (
	maxFooter     = 16 << 20 // bytes of file metadata
	maxPageHeader = 16 << 20 // bytes of one page header (statistics included)
	maxPage       = 64 << 20 // bytes of one page, compressed or not
	maxPageValues = 1 << 24  // values in one page (nulls included)
	maxThriftNest = 64       // nesting of thrift structs and lists
)

var parquetMagic = [4]byte{'P', 'A', 'R', '1'}

// checkFooter checks the magic numbers and the file metadata's encoding,
// and returns the metadata's length.
func checkFooter(r io.ReaderAt, size int64) (int, error) {
	if size < 12 {
		return 0, fmt.Errorf("file of %d bytes is too short for Parquet", size)
	}
	var head, tail [8]byte
	if err := readFull(r, head[:4], 0); err != nil {
		return 0, fmt.Errorf("reading magic number: %w", err)
	}
	if err := readFull(r, tail[:], size-8); err != nil {
		return 0, fmt.Errorf("reading footer: %w", err)
	}
	switch {
	case string(head[:4]) == "PARE" || string(tail[4:]) == "PARE":
		return 0, errors.New("encrypted Parquet files are not supported")
	case [4]byte(head[:4]) != parquetMagic:
		return 0, errors.New("not a Parquet file (no magic number at the start)")
	case [4]byte(tail[4:]) != parquetMagic:
		return 0, errors.New("truncated or not a Parquet file (no magic number at the end)")
	}
	n := int64(binary.LittleEndian.Uint32(tail[:4]))
	if n > size-12 {
		return 0, fmt.Errorf("truncated file: footer of %d bytes does not fit in %d bytes", n, size)
	}
	if n > maxFooter {
		return 0, fmt.Errorf("footer of %d bytes is larger than the %d allowed", n, maxFooter)
	}
	footer := make([]byte, n)
	if err := readFull(r, footer, size-8-n); err != nil {
		return 0, fmt.Errorf("reading footer: %w", err)
	}
	if _, err := skimThrift(footer); err != nil {
		return 0, fmt.Errorf("corrupt footer: %w", err)
	}
	return int(n), nil
}

// checkRowGroups checks the row counts of the row groups.
func checkRowGroups(m *format.FileMetaData) error {
	for g := range m.RowGroups {
		if n := m.RowGroups[g].NumRows; n < 0 {
			return fmt.Errorf("row group %d has %d rows", g, n)
		}
	}
	return nil
}

// chunkStart returns the offset of a column chunk's first page, as the
// library reads it.
func chunkStart(md *format.ColumnMetaData) int64 {
	if md.DictionaryPageOffset != 0 {
		return md.DictionaryPageOffset
	}
	return md.DataPageOffset
}

// pageChecker checks the pages of column chunks before the library reads
// them. It keeps its buffers from chunk to chunk.
type pageChecker struct {
	r       io.ReaderAt
	dataEnd int64 // where the footer starts
	header  []byte
	data    []byte
	out     []byte
	zstd    *zstd.Decoder
}

// check checks that a flat column chunk lies between the leading magic
// number and the footer, and reads its page headers, up to the page that
// completes the row group's rows, to check their sizes and value counts.
// For the codecs whose decoders trust a size written in the compressed
// data (Snappy, Zstandard) or loop on bad data (LZ4), it checks the data
// too; see checkCompressed.
func (pc *pageChecker) check(md *format.ColumnMetaData, rows int64) error {
	pos := chunkStart(md)
	if pos < 4 || pos > pc.dataEnd || md.TotalCompressedSize < 0 || md.TotalCompressedSize > pc.dataEnd-pos {
		return fmt.Errorf("column chunk of %d bytes at offset %d lies outside the file's %d bytes of data",
			md.TotalCompressedSize, pos, pc.dataEnd)
	}
	switch md.Codec {
	case format.Uncompressed, format.Snappy, format.Gzip, format.Brotli, format.Zstd, format.Lz4Raw:
	default:
		return fmt.Errorf("unsupported compression codec %s", md.Codec)
	}
	end := pos + md.TotalCompressedSize
	values := int64(0)
	for values < rows {
		if pos >= end {
			return fmt.Errorf("column chunk holds %d values, the row group has %d rows", values, rows)
		}
		h, n, err := readPageHeader(pc.r, pos, end, &pc.header)
		if err != nil {
			return fmt.Errorf("page header at offset %d: %w", pos, err)
		}
		if err := checkPage(&h, end-pos-int64(n)); err != nil {
			return fmt.Errorf("page at offset %d: %w", pos, err)
		}
		if err := pc.checkCompressed(md.Codec, &h, pos+int64(n)); err != nil {
			return fmt.Errorf("page at offset %d: %w", pos, err)
		}
		switch h.Type {
		case format.DataPage:
			values += int64(h.DataPageHeader.V.NumValues)
		case format.DataPageV2:
			values += int64(h.DataPageHeaderV2.V.NumValues)
		}
		pos += int64(n) + int64(h.CompressedPageSize)
	}
	return nil
}

// checkCompressed checks the compressed data of the page whose header is
// h and whose data starts at pos. GZIP and Brotli data is not checked:
// their decoders stream, and random damage makes them fail, not grow; a
// crafted compression bomb costs up to the codec's ratio times the page
// size. Snappy data starts with its decoded length, which its decoder
// allocates; Zstandard frames declare theirs likewise; the library's LZ4
// decoder doubles its buffer without end on bad data. Snappy's length is
// read, and Zstandard and LZ4 pages are decoded once here into a buffer of
// the size the header gives, to prove they fit it.
func (pc *pageChecker) checkCompressed(codec format.CompressionCodec, h *format.PageHeader, pos int64) error {
	size := int64(h.CompressedPageSize)
	want := int64(h.UncompressedPageSize)
	switch h.Type {
	case format.DataPage, format.DictionaryPage:
	case format.DataPageV2:
		v := &h.DataPageHeaderV2.V
		if v.IsCompressed.Valid && !v.IsCompressed.V {
			return nil
		}
		levels := int64(v.DefinitionLevelsByteLength) + int64(v.RepetitionLevelsByteLength)
		pos += levels
		size -= levels
		want -= levels
	default:
		return nil // not read by the library
	}
	switch codec {
	case format.Snappy:
		b, err := pc.read(pos, min(size, binary.MaxVarintLen32))
		if err != nil {
			return err
		}
		n, err := snappy.DecodedLen(b)
		if err != nil || int64(n) > max(want, 0) {
			return fmt.Errorf("corrupt Snappy data (decoded length %d, page size %d)", n, want)
		}
	case format.Lz4Raw, format.Zstd:
		b, err := pc.read(pos, size)
		if err != nil {
			return err
		}
		if want < 0 {
			return fmt.Errorf("page of %d bytes", want)
		}
		if int64(cap(pc.out)) < want {
			pc.out = make([]byte, want)
		}
		out := pc.out[:want]
		if codec == format.Lz4Raw {
			if _, err := lz4.UncompressBlock(b, out); err != nil {
				return fmt.Errorf("corrupt LZ4 data: %w", err)
			}
			return nil
		}
		if pc.zstd == nil {
			pc.zstd, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1),
				zstd.WithDecoderMaxMemory(maxPage), zstd.WithDecodeAllCapLimit(true))
			if err != nil {
				return err
			}
		}
		if _, err := pc.zstd.DecodeAll(b, out[:0]); err != nil {
			return fmt.Errorf("corrupt Zstandard data: %w", err)
		}
	}
	return nil
}

func (pc *pageChecker) read(pos, n int64) ([]byte, error) {
	if n < 0 {
		return nil, fmt.Errorf("negative data size %d", n)
	}
	if int64(cap(pc.data)) < n {
		pc.data = make([]byte, n)
	}
	b := pc.data[:n]
	if err := readFull(pc.r, b, pos); err != nil {
		return nil, err
	}
	return b, nil
}

// readFull fills b from r at off; running out of data is
// io.ErrUnexpectedEOF.
func readFull(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// close releases the Zstandard decoder's goroutines, if any.
func (pc *pageChecker) close() {
	if pc.zstd != nil {
		pc.zstd.Close()
		pc.zstd = nil
	}
}

// checkPage checks a page header's sizes and value counts; room is the
// number of bytes left in the column chunk after the header.
func checkPage(h *format.PageHeader, room int64) error {
	switch {
	case h.CompressedPageSize < 0 || int64(h.CompressedPageSize) > room:
		return fmt.Errorf("page of %d bytes does not fit in the %d bytes left in its column chunk", h.CompressedPageSize, room)
	case h.CompressedPageSize > maxPage || h.UncompressedPageSize > maxPage:
		return fmt.Errorf("page of %d bytes (%d compressed) is larger than the %d allowed", h.UncompressedPageSize, h.CompressedPageSize, maxPage)
	case h.UncompressedPageSize < 0:
		return fmt.Errorf("page of %d bytes", h.UncompressedPageSize)
	}
	var nv int32
	switch h.Type {
	case format.DataPage:
		if !h.DataPageHeader.Valid {
			return errors.New("data page without a data page header")
		}
		nv = h.DataPageHeader.V.NumValues
	case format.DataPageV2:
		if !h.DataPageHeaderV2.Valid {
			return errors.New("data page without a data page header")
		}
		v := &h.DataPageHeaderV2.V
		nv = v.NumValues
		if v.NumNulls < 0 || v.NumNulls > v.NumValues || v.NumRows < 0 || v.NumRows > v.NumValues ||
			v.DefinitionLevelsByteLength < 0 || v.RepetitionLevelsByteLength < 0 ||
			int64(v.DefinitionLevelsByteLength)+int64(v.RepetitionLevelsByteLength) > int64(h.CompressedPageSize) {
			return errors.New("inconsistent data page header")
		}
	case format.DictionaryPage:
		if !h.DictionaryPageHeader.Valid {
			return errors.New("dictionary page without a dictionary page header")
		}
		nv = h.DictionaryPageHeader.V.NumValues
	case format.IndexPage:
	default:
		return fmt.Errorf("unknown page type %d", h.Type)
	}
	if nv < 0 || nv > maxPageValues {
		return fmt.Errorf("page of %d values (at most %d allowed)", nv, maxPageValues)
	}
	return nil
}

// readPageHeader reads the page header at pos, which must end before end,
// into h and returns its length. buf is scratch space.
func readPageHeader(r io.ReaderAt, pos, end int64, buf *[]byte) (h format.PageHeader, n int, err error) {
	window := min(end-pos, 1024)
	for {
		if int64(cap(*buf)) < window {
			*buf = make([]byte, window)
		}
		b := (*buf)[:window]
		if err := readFull(r, b, pos); err != nil {
			return h, 0, err
		}
		n, err = skimThrift(b)
		if errors.Is(err, errThriftShort) && window < end-pos && window < maxPageHeader {
			window = min(window*16, end-pos, maxPageHeader)
			continue
		}
		if err != nil {
			return h, 0, err
		}
		if err := thrift.Unmarshal(new(thrift.CompactProtocol), b[:n], &h); err != nil {
			return h, 0, err
		}
		return h, n, nil
	}
}

var errThriftShort = errors.New("truncated thrift value")

// skimThrift walks the compact-protocol thrift struct at the start of b
// without decoding it, checks that every length it declares fits in the
// bytes that follow, and returns the struct's length.
func skimThrift(b []byte) (int, error) {
	s := skimmer{b: b}
	if err := s.structure(0); err != nil {
		return 0, err
	}
	return s.i, nil
}

type skimmer struct {
	b []byte
	i int
}

func (s *skimmer) left() uint64 { return uint64(len(s.b) - s.i) }

func (s *skimmer) byte() (byte, error) {
	if s.i == len(s.b) {
		return 0, errThriftShort
	}
	c := s.b[s.i]
	s.i++
	return c, nil
}

func (s *skimmer) skip(n uint64) error {
	if n > s.left() {
		return errThriftShort
	}
	s.i += int(n)
	return nil
}

func (s *skimmer) uvarint() (uint64, error) {
	v, n := binary.Uvarint(s.b[s.i:])
	switch {
	case n == 0:
		return 0, errThriftShort
	case n < 0:
		return 0, errors.New("thrift varint overflows 64 bits")
	}
	s.i += n
	return v, nil
}

func (s *skimmer) structure(depth int) error {
	if depth > maxThriftNest {
		return errors.New("thrift structures nested too deep")
	}
	for {
		c, err := s.byte()
		if err != nil {
			return err
		}
		if c == 0 {
			return nil // stop field
		}
		if c>>4 == 0 {
			if _, err := s.uvarint(); err != nil { // field ID, not a delta
				return err
			}
		}
		if err := s.value(c&0x0f, false, depth); err != nil {
			return err
		}
	}
}

// value skips one value of compact type t. Booleans take no byte as
// struct fields (the type says the value) and one byte in containers.
func (s *skimmer) value(t byte, contained bool, depth int) error {
	switch t {
	case 1, 2: // true, false
		if contained {
			return s.skip(1)
		}
		return nil
	case 3: // byte
		return s.skip(1)
	case 4, 5, 6: // i16, i32, i64
		_, err := s.uvarint()
		return err
	case 7: // double
		return s.skip(8)
	case 8: // binary
		n, err := s.uvarint()
		if err != nil {
			return err
		}
		return s.skip(n)
	case 9, 10: // list, set
		c, err := s.byte()
		if err != nil {
			return err
		}
		n, et := uint64(c>>4), c&0x0f
		if n == 15 {
			if n, err = s.uvarint(); err != nil {
				return err
			}
		}
		return s.elements(n, 1, depth, et)
	case 11: // map
		n, err := s.uvarint()
		if err != nil || n == 0 {
			return err
		}
		c, err := s.byte()
		if err != nil {
			return err
		}
		return s.elements(n, 2, depth, c>>4, c&0x0f)
	case 12: // struct
		return s.structure(depth + 1)
	case 13: // uuid
		return s.skip(16)
	}
	return fmt.Errorf("unknown thrift type %d", t)
}

// elements skips n elements, each made of one value of each type in ts.
// Every value takes at least one byte, which bounds n by the bytes left.
func (s *skimmer) elements(n uint64, per uint64, depth int, ts ...byte) error {
	if n > s.left()/per {
		return errThriftShort
	}
	if depth >= maxThriftNest {
		return errors.New("thrift structures nested too deep")
	}
	for range n {
		for _, t := range ts {
			if err := s.value(t, true, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}
