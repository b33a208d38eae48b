package cluster

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"picket/internal/event"
)

// Config is what producers and detector nodes share: where the bus is
// and how its stream is laid out. Every node of a cluster must agree on
// Name and Partitions.
type Config struct {
	// URL is the NATS server, nats://host:4222 (several separated by
	// commas).
	URL string
	// Name names the stream (upper case) and prefixes its subjects and
	// buckets; "PICKET" unless set.
	Name string
	// Partitions is the number of partitions (16 unless set). It bounds
	// how many detector nodes can share the work, and cannot change
	// once records are published.
	Partitions int
	// Node names this process in leases and logs (host and process ID
	// unless set).
	Node string
	// LeaseTTL is how long a detector node's lease on a partition, and
	// a producer's registration, lasts without renewal (10s unless
	// set): how soon a dead node's partitions move.
	LeaseTTL time.Duration
	// Dedup is how long the stream remembers the IDs of published
	// batches, so that a producer that republishes after a crash adds
	// nothing (1h unless set).
	Dedup time.Duration
	// MaxAge is how long the stream keeps records (7 days unless set);
	// a partition whose position falls behind it loses records.
	MaxAge time.Duration
	Log    *slog.Logger
}

// Defaults of Config.
const (
	DefaultName       = "PICKET"
	DefaultPartitions = 16
	DefaultLeaseTTL   = 10 * time.Second
	DefaultDedup      = time.Hour
	DefaultMaxAge     = 7 * 24 * time.Hour
)

func (c *Config) fill() error {
	if c.URL == "" {
		return errors.New("cluster: no NATS URL")
	}
	if c.Name == "" {
		c.Name = DefaultName
	}
	if strings.ContainsAny(c.Name, ". *>") {
		return fmt.Errorf("cluster: name %q: no dots, spaces or wildcards", c.Name)
	}
	if c.Partitions <= 0 {
		c.Partitions = DefaultPartitions
	}
	if c.Partitions > 4096 {
		return fmt.Errorf("cluster: %d partitions: at most 4096", c.Partitions)
	}
	if c.Node == "" {
		h, _ := os.Hostname()
		c.Node = h + "-" + strconv.Itoa(os.Getpid())
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.Dedup <= 0 {
		c.Dedup = DefaultDedup
	}
	if c.MaxAge <= 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Bus is a connection to the cluster's stream and buckets.
type Bus struct {
	cfg       Config
	nc        *nats.Conn
	js        jetstream.JetStream
	stream    jetstream.Stream
	leases    jetstream.KeyValue // partition -> owning node
	producers jetstream.KeyValue // producer -> "live"
	nodes     jetstream.KeyValue // detector node -> "live"
}

// Open connects to the bus and makes the stream and buckets if they are
// missing.
func Open(ctx context.Context, cfg Config) (*Bus, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	nc, err := nats.Connect(cfg.URL, nats.Name("picket "+cfg.Node), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("cluster: connecting to %s: %w", cfg.URL, err)
	}
	b := &Bus{cfg: cfg, nc: nc}
	if err := b.setup(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return b, nil
}

func (b *Bus) setup(ctx context.Context) error {
	var err error
	if b.js, err = jetstream.New(b.nc); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	b.stream, err = b.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        b.cfg.Name,
		Description: "picket records by partition, with watermark marks",
		Subjects:    []string{b.prefix() + ".rec.*"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      b.cfg.MaxAge,
		Duplicates:  b.cfg.Dedup,
	})
	if err != nil {
		return fmt.Errorf("cluster: stream %s: %w", b.cfg.Name, err)
	}
	kv := func(suffix, what string) (jetstream.KeyValue, error) {
		name := b.cfg.Name + "_" + suffix
		s, err := b.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name, Description: what, TTL: b.cfg.LeaseTTL, History: 1})
		if err != nil {
			return nil, fmt.Errorf("cluster: bucket %s: %w", name, err)
		}
		return s, nil
	}
	if b.leases, err = kv("leases", "picket partition leases"); err != nil {
		return err
	}
	if b.producers, err = kv("producers", "picket producers"); err != nil {
		return err
	}
	b.nodes, err = kv("nodes", "picket detector nodes")
	return err
}

// Close closes the connection, after the messages published are
// flushed.
func (b *Bus) Close() {
	b.nc.Drain()
}

func (b *Bus) prefix() string { return strings.ToLower(b.cfg.Name) }

// subject is partition p's subject.
func (b *Bus) subject(p int) string { return b.prefix() + ".rec." + strconv.Itoa(p) }

// Partitions returns the number of partitions.
func (b *Bus) Partitions() int { return b.cfg.Partitions }

// PartitionOf returns the partition of an account's region among n.
func PartitionOf(account, region event.ID, n int) int {
	h := fnv.New32a()
	h.Write([]byte(account.String()))
	h.Write([]byte{'/'})
	h.Write([]byte(region.String()))
	return int(h.Sum32() % uint32(n))
}

// live returns the keys of a bucket that have not lapsed.
func live(ctx context.Context, kv jetstream.KeyValue) (map[string]bool, error) {
	ks, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for k := range ks.Keys() {
		out[k] = true
	}
	return out, nil
}
