package ingest

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"picket/internal/decode"
	"picket/internal/decode/vpcflow"
	"picket/internal/enrich"
	"picket/internal/event"
	"picket/internal/flowmeter"
	"picket/internal/source"
)

// Feed turns inputs into enriched records: it opens each through
// decode.Open with what the input's name and source say of its account,
// region and flow log format, counts its records and bad records, and
// passes every record through the one enrichment step. picket analyze,
// picket convert and the service's loop all read through a Feed. It is
// not safe for concurrent use.
type Feed struct {
	// Enrich completes each record; with no Directions it only fills
	// in account and region (picket convert writes what it read).
	Enrich enrich.Enricher
	// FlowFormat is the field list of headerless flow log text (nil:
	// the header, else the version 2 default).
	FlowFormat *vpcflow.Format
	// Capture is how captures and Zeek logs become flow records; the
	// account and region of each input are filled in.
	Capture flowmeter.Config
	// Account and Region are assumed for inputs and records that name
	// none.
	Account, Region event.ID
	// Only, if set, lists the formats to read; an input of another is
	// refused.
	Only []decode.Format
	// Bad, if set, is told of each bad record after it is counted; an
	// error it returns stops the reading with that error.
	Bad func(reason string, err error) error

	// Records counts the records decoded, by kind; Skipped the bad
	// records, by reason.
	Records [event.NumKinds]uint64
	Skipped map[string]uint64

	pool decode.Pool
}

// Spec is what is known of an input before it is read.
type Spec struct {
	Name     string
	Layout   source.Layout
	Defaults source.Defaults
	// Start resumes an earlier reading.
	Start decode.Position
	// Partial says the input may still grow.
	Partial bool
	// Lines says the input is flow log lines when its format cannot be
	// told (a Firehose record is one headerless line).
	Lines bool
}

// Input is an input open for reading.
type Input struct {
	Name            string
	Reader          decode.Reader
	Account, Region event.ID
	// N is the number of records read.
	N int64
}

// Open opens the stream of the input spec describes. The stream stays
// the caller's to close, after the input's Close.
func (f *Feed) Open(st *source.Stream, spec Spec) (*Input, error) {
	in := &Input{Name: spec.Name, Account: f.Account, Region: f.Region}
	switch {
	case spec.Layout.Account != "":
		in.Account = event.Intern(spec.Layout.Account)
	case spec.Defaults.Account != "":
		in.Account = event.Intern(spec.Defaults.Account)
	}
	switch {
	case spec.Layout.Region != "":
		in.Region = event.Intern(spec.Layout.Region)
	case spec.Defaults.Region != "":
		in.Region = event.Intern(spec.Defaults.Region)
	}
	opt := decode.Options{FlowFormat: f.FlowFormat, Capture: f.Capture, Start: spec.Start, Partial: spec.Partial, Pool: &f.pool}
	if spec.Defaults.FlowFormat != "" {
		ff, err := vpcflow.ParseFormat(spec.Defaults.FlowFormat)
		if err != nil {
			return nil, fmt.Errorf("flow log format: %w", err)
		}
		opt.FlowFormat = &ff
	}
	if opt.FlowFormat != nil || spec.Lines {
		opt.Fallback = decode.VPCFlow
	}
	opt.Capture.Account, opt.Capture.Region = in.Account.String(), in.Region.String()
	r, err := decode.Open(st, spec.Name, opt)
	if err != nil {
		return nil, err
	}
	if f.Only != nil && !slices.Contains(f.Only, r.Format()) {
		r.Close()
		return nil, fmt.Errorf("%w (%s): not one of %v", decode.ErrUnrecognized, r.Format(), f.Only)
	}
	in.Reader = r
	return in, nil
}

// Next returns the input's next record for the detectors, enriched, and
// valid until the next call. Bad records are counted and passed over, as
// are flow records without traffic. At the end it returns io.EOF; an
// error that Bad returned or one that ends the input is returned as is.
func (f *Feed) Next(in *Input) (event.Record, error) {
	for {
		rec, err := in.Reader.Next()
		if err == nil {
			f.Records[rec.Kind()]++
			if !f.Enrich.Record(rec, in.Account, in.Region) {
				continue
			}
			in.N++
			return rec, nil
		}
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		var bad decode.RecordError
		if !errors.As(err, &bad) {
			return nil, err
		}
		if f.Skipped == nil {
			f.Skipped = map[string]uint64{}
		}
		f.Skipped[bad.Reason()]++
		if f.Bad != nil {
			if err := f.Bad(bad.Reason(), err); err != nil {
				return nil, &StopError{Err: err}
			}
		}
	}
}

// StopError is the error with which Bad stopped the reading.
type StopError struct{ Err error }

func (e *StopError) Error() string { return e.Err.Error() }
func (e *StopError) Unwrap() error { return e.Err }

// Close releases the input's reader.
func (f *Feed) Close(in *Input) {
	if in.Reader != nil {
		in.Reader.Close()
		in.Reader = nil
	}
}

// RecordsTotal returns the number of records decoded.
func (f *Feed) RecordsTotal() uint64 {
	var n uint64
	for _, v := range f.Records {
		n += v
	}
	return n
}
