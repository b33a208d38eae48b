package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"picket/internal/config"
	"picket/internal/inventory"
	"picket/internal/inventory/awspoll"
)

// estate keeps the service's inventory: the snapshots of the configured
// folder and those the poller took, swapped in whole so that the ingest
// loop reads them without locks.
type estate struct {
	cur      atomic.Pointer[inventory.Inventory]
	dir      string
	poller   *awspoll.Poller
	interval time.Duration
	keep     int
	log      *slog.Logger
	polled   []*inventory.Snapshot // the poller's, newest last; only Run touches it
}

// newEstate loads the inventory folder, failing the start when it cannot
// be read, and prepares the poller (which makes no call yet). It returns
// nil when the configuration names neither.
func newEstate(ctx context.Context, cfg config.Inventory, log *slog.Logger) (*estate, error) {
	if cfg.Dir == "" && len(cfg.Regions) == 0 {
		return nil, nil
	}
	e := &estate{dir: cfg.Dir, interval: cfg.PollInterval.D(), keep: cfg.Keep, log: log}
	if e.interval <= 0 {
		e.interval = config.DefaultInventoryPoll
	}
	if e.keep <= 0 {
		e.keep = config.DefaultInventoryKeep
	}
	if len(cfg.Regions) > 0 {
		p, err := awspoll.New(ctx, awspoll.Config{Regions: cfg.Regions, Endpoint: cfg.Endpoint, Log: log})
		if err != nil {
			return nil, fmt.Errorf("inventory: %w", err)
		}
		e.poller = p
	}
	if err := e.reload(); err != nil {
		return nil, err
	}
	return e, nil
}

// Current returns the inventory in use; nil before any was read.
func (e *estate) Current() *inventory.Inventory {
	if e == nil {
		return nil
	}
	return e.cur.Load()
}

// reload reads the folder again and publishes it with the polled
// snapshots.
func (e *estate) reload() error {
	var snaps []*inventory.Snapshot
	if e.dir != "" {
		inv, rep, err := inventory.Load(e.dir)
		if err != nil {
			return fmt.Errorf("inventory: %w", err)
		}
		logReport(e.log, "inventory folder read", e.dir, rep)
		snaps = append(snaps, inv.Snapshots()...)
	}
	e.cur.Store(inventory.New(append(snaps, e.polled...)...))
	return nil
}

// Run polls the AWS APIs (and re-reads the folder) every interval until
// ctx ends, starting at once. A failed poll keeps the last good
// snapshots.
func (e *estate) Run(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if e.poller != nil {
			snap, rep, err := e.poller.Poll(ctx, time.Now().UTC())
			if err != nil {
				e.log.Warn("inventory poll failed; keeping the last snapshots", "error", err)
			} else {
				logReport(e.log, "inventory polled", "AWS", rep)
				e.polled = append(e.polled, snap)
				if len(e.polled) > e.keep {
					e.polled = e.polled[len(e.polled)-e.keep:]
				}
			}
		}
		if err := e.reload(); err != nil {
			e.log.Warn("inventory folder unreadable; keeping the last snapshots", "error", err)
		}
		t.Reset(e.interval)
	}
}

func logReport(log *slog.Logger, msg, from string, rep *inventory.Report) {
	if rep == nil {
		return
	}
	args := []any{"from", from, "files", rep.Files, "skipped", rep.Skipped}
	for k, n := range rep.Counts {
		args = append(args, k, n)
	}
	log.Info(msg, args...)
	for _, p := range rep.Problems {
		log.Warn("inventory problem", "error", p)
	}
}
