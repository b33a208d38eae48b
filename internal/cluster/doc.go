// Package cluster owns picket's distributed mode: the pipeline of picket
// serve split across processes over NATS JetStream, with the findings in
// PostgreSQL.
//
// Ingest nodes (Producer) read inputs through the same ingest.Feed as
// picket analyze and the single-process service, and publish each
// record to one of a fixed number of partitions, the JetStream subjects
// <prefix>.rec.<n>, by the record's account and region: the unit that
// no detector's state or finding crosses, so that all the evidence of
// every finding meets in one partition. Between their records they
// publish watermark marks, the event time they have published up to,
// less the allowed lateness; a producer that ends says so with a mark
// at the end of time.
//
// Detector nodes (Detector) hold a lease per partition in a JetStream
// key-value bucket, a share of the partitions each, and take over the
// partitions of a node whose leases lapse. A partition runs its own
// detection engine over the partition's messages in stream order, with
// the watermark set from the marks (the least of its live producers'),
// and commits its findings, its position in the stream and its
// detection state in one PostgreSQL transaction, fenced by the lease's
// number so that a node that lost its lease cannot commit over its
// successor. A node killed at any moment is replaced by another that
// resumes from the last commit: nothing is lost, nothing counted twice.
//
// API nodes need nothing of this package: they serve the store.
package cluster
