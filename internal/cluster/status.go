package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// PartitionStatus is a partition as the bus and the store show it.
type PartitionStatus struct {
	PartitionProgress
	// Owner is the detector node holding the lease, "" when none does.
	Owner string
	// Last is the stream sequence of the partition's newest message, 0
	// when it has none; the partition has read everything published
	// when Seq is at least Last.
	Last uint64
}

// Status reads every partition's lease holder, newest message and
// committed progress.
func Status(ctx context.Context, bus *Bus, st Store) ([]PartitionStatus, error) {
	prog, err := Progress(ctx, st, bus.cfg.Name, bus.cfg.Partitions)
	if err != nil {
		return nil, fmt.Errorf("reading the partitions' checkpoints: %w", err)
	}
	out := make([]PartitionStatus, len(prog))
	for i, p := range prog {
		out[i].PartitionProgress = p
		e, err := bus.leases.Get(ctx, leaseKey(p.Partition))
		switch {
		case err == nil:
			out[i].Owner = string(e.Value())
		case !errors.Is(err, jetstream.ErrKeyNotFound):
			return nil, fmt.Errorf("reading the lease of partition %d: %w", p.Partition, err)
		}
		m, err := bus.stream.GetLastMsgForSubject(ctx, bus.subject(p.Partition))
		switch {
		case err == nil:
			out[i].Last = m.Sequence
		case !errors.Is(err, jetstream.ErrMsgNotFound):
			return nil, fmt.Errorf("reading partition %d's newest message: %w", p.Partition, err)
		}
	}
	return out, nil
}
