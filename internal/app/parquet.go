package app

import (
	"errors"
	"fmt"

	"picket/internal/decode/vpcflow"
	"picket/internal/event"
	"picket/internal/source"
)

// maxParquetInMemory bounds a Parquet input that must be held in memory
// (from standard input); files are read in place.
const maxParquetInMemory = 1 << 30

func openParquet(st *source.Stream, name string) (recordReader, error) {
	ra, size, err := st.ReaderAt(maxParquetInMemory)
	if err != nil {
		return nil, fmt.Errorf("reading Parquet: %w", err)
	}
	r, err := vpcflow.NewParquetReader(ra, size, name)
	if err != nil {
		return nil, err
	}
	return &flowParquet{r: r}, nil
}

type flowParquet struct {
	r *vpcflow.ParquetReader
	f event.Flow
}

func (t *flowParquet) Next() (event.Record, error) {
	err := t.r.Next(&t.f)
	if err != nil {
		var pe *vpcflow.ParseError
		if errors.As(err, &pe) {
			return nil, flowError{pe}
		}
		return nil, err
	}
	return &t.f, nil
}
