// Package ingest owns the path of a record from an input to the
// detectors, the same in every mode: a Feed opens each input through
// decode.Open, counts its records and bad records and passes each record
// through enrich; Merge reads a list of inputs in event-time order for
// picket analyze and picket convert, on the caller's goroutine (Run) or
// on one of its own that hands the records on in batches (RunBatches);
// Loop is the service's single ingest goroutine, which reads the tasks
// its sources hand it and the Firehose deliveries, runs the detection
// engine, and commits findings, checkpoints and detection state
// together.
package ingest
