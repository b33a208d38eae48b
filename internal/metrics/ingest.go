package metrics

import "maps"

// Ingest is the ingest loop's counters. The loop owns one Ingest and
// counts in its plain fields without locking; now and then it hands a
// Clone to Set.Publish.
type Ingest struct {
	Records  map[string]uint64 // records passed to the detectors, by record kind
	NoData   uint64            // flow log NODATA records
	SkipData uint64            // flow log SKIPDATA records
	Skipped  map[string]uint64 // bad records skipped, by reason
	Bytes    map[string]uint64 // input bytes, by source type
	Inputs   map[string]uint64 // inputs read, by source type
	Failed   map[string]uint64 // inputs that could not be read to their end, by source type
	Findings map[string]uint64 // finding reports, by finding type
	Dropped  map[string]uint64 // finding reports not stored, by reason
	Late     uint64            // records older than the watermark on arrival
}

// NewIngest returns zero counters with their maps made.
func NewIngest() Ingest {
	return Ingest{
		Records: map[string]uint64{}, Skipped: map[string]uint64{}, Bytes: map[string]uint64{},
		Inputs: map[string]uint64{}, Failed: map[string]uint64{}, Findings: map[string]uint64{},
		Dropped: map[string]uint64{},
	}
}

// Clone returns a deep copy of c, which the caller may keep counting in
// while the copy is published.
func (c Ingest) Clone() Ingest {
	return Ingest{
		Records: clone(c.Records), NoData: c.NoData, SkipData: c.SkipData, Skipped: clone(c.Skipped),
		Bytes: clone(c.Bytes), Inputs: clone(c.Inputs), Failed: clone(c.Failed),
		Findings: clone(c.Findings), Dropped: clone(c.Dropped), Late: c.Late,
	}
}

// clone copies m; a nil map gives an empty one, so that a clone can be
// counted in.
func clone(m map[string]uint64) map[string]uint64 {
	out := make(map[string]uint64, len(m))
	maps.Copy(out, m)
	return out
}
