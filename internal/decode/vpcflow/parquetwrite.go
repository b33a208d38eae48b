package vpcflow

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// WriteParquet writes rows as a Parquet flow log laid out the way S3
// delivery writes one: a column per field of format, in order, named like
// the field with '-' replaced by '_' (Names gives the names of columns of
// unknown fields), every column optional, INT32 for version, srcport,
// dstport, protocol, tcp-flags and traffic-path, INT64 for packets, bytes,
// start, end and the packets-lost counters, UTF-8 strings otherwise, and
// GZIP page compression.
//
// Each row holds one value per column, written as it would be in a text
// flow log: "-" is null, and a value in an integer column must be a
// decimal integer that fits the column (it need not be valid for the field:
// dstport 70000 can be written, to test the readers). WriteParquet is for
// tests and the synthetic-data generator; it holds every row in memory.
func WriteParquet(w io.Writer, format Format, rows [][]string) error {
	return writeParquet(w, format, rows, parquetLayout{})
}

// parquetLayout varies the file WriteParquet writes, for tests.
type parquetLayout struct {
	kind func(Field) parquet.Kind // the physical type of a field's column; nil for AWS's
	dash bool                     // write "-" in string columns as the string "-", not null
	opts []parquet.WriterOption   // row group and page sizes, say
}

func writeParquet(w io.Writer, format Format, rows [][]string, layout parquetLayout) error {
	if layout.kind == nil {
		layout.kind = parquetKind
	}
	schema, kinds, names, err := parquetSchema(format, layout.kind)
	if err != nil {
		return fmt.Errorf("writing Parquet flow log: %w", err)
	}
	opts := append([]parquet.WriterOption{schema, parquet.Compression(&parquet.Gzip)}, layout.opts...)
	pw := parquet.NewWriter(w, opts...)
	const batch = 1024
	buf := make([]parquet.Row, 0, batch)
	for i, rec := range rows {
		if len(rec) != len(kinds) {
			return fmt.Errorf("writing Parquet flow log: row %d has %d values, the format has %d columns", i+1, len(rec), len(kinds))
		}
		row := make(parquet.Row, len(rec))
		for j, s := range rec {
			v, err := parquetValue(kinds[j], s, layout.dash)
			if err != nil {
				return fmt.Errorf("writing Parquet flow log: row %d, column %q: %w", i+1, names[j], err)
			}
			row[j] = v.Level(0, v.DefinitionLevel(), j)
		}
		buf = append(buf, row)
		if len(buf) == batch {
			if _, err := pw.WriteRows(buf); err != nil {
				return fmt.Errorf("writing Parquet flow log: %w", err)
			}
			buf = buf[:0]
		}
	}
	if _, err := pw.WriteRows(buf); err != nil {
		return fmt.Errorf("writing Parquet flow log: %w", err)
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("writing Parquet flow log: %w", err)
	}
	return nil
}

// parquetKind returns the physical type AWS gives field fd's column.
func parquetKind(fd Field) parquet.Kind {
	switch fd {
	case FieldVersion, FieldSrcPort, FieldDstPort, FieldProtocol, FieldTCPFlags, FieldTrafficPath:
		return parquet.Int32
	case FieldPackets, FieldBytes, FieldStart, FieldEnd,
		FieldPacketsLostNoRoute, FieldPacketsLostBlackhole, FieldPacketsLostMTUExceeded, FieldPacketsLostTTLExpired:
		return parquet.Int64
	}
	return parquet.ByteArray
}

// parquetSchema builds the schema for format: a struct type made at run
// time, since parquet-go keeps the order of a struct's fields (and sorts
// the fields of a parquet.Group by name).
func parquetSchema(format Format, kind func(Field) parquet.Kind) (*parquet.Schema, []parquet.Kind, []string, error) {
	if len(format.Columns) == 0 {
		return nil, nil, nil, errors.New("empty format")
	}
	fields := make([]reflect.StructField, len(format.Columns))
	kinds := make([]parquet.Kind, len(format.Columns))
	names := make([]string, len(format.Columns))
	seen := make(map[string]bool, len(format.Columns))
	for i, fd := range format.Columns {
		name := fd.String()
		if fd == FieldOther || fd >= numFields {
			if i >= len(format.Names) || format.Names[i] == "" {
				return nil, nil, nil, fmt.Errorf("column %d has no name", i+1)
			}
			name = format.Names[i]
		}
		name = strings.ReplaceAll(name, "-", "_")
		if strings.ContainsAny(name, ",\"` ") {
			return nil, nil, nil, fmt.Errorf("column name %q is not allowed", name)
		}
		if seen[name] {
			return nil, nil, nil, fmt.Errorf("column %q appears twice", name)
		}
		seen[name] = true
		names[i] = name
		kinds[i] = kind(fd)
		var t reflect.Type
		switch kinds[i] {
		case parquet.Int32:
			t = reflect.TypeFor[*int32]()
		case parquet.Int64:
			t = reflect.TypeFor[*int64]()
		default:
			t = reflect.TypeFor[*string]()
		}
		fields[i] = reflect.StructField{
			Name: "F" + strconv.Itoa(i),
			Type: t,
			Tag:  reflect.StructTag(`parquet:"` + name + `"`),
		}
	}
	model := reflect.New(reflect.StructOf(fields)).Interface()
	return parquet.SchemaOf(model), kinds, names, nil
}

// parquetValue converts a text value for a column of kind k. "-" is null,
// or with dash the string "-" in a string column.
func parquetValue(k parquet.Kind, s string, dash bool) (parquet.Value, error) {
	if s == "-" && (!dash || k != parquet.ByteArray) {
		return parquet.NullValue().Level(0, 0, 0), nil
	}
	var v parquet.Value
	switch k {
	case parquet.Int32:
		x, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return v, fmt.Errorf("%q is not a 32-bit integer", s)
		}
		v = parquet.Int32Value(int32(x))
	case parquet.Int64:
		x, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return v, fmt.Errorf("%q is not a 64-bit integer", s)
		}
		v = parquet.Int64Value(x)
	default:
		v = parquet.ByteArrayValue([]byte(s))
	}
	return v.Level(0, 1, 0), nil
}
