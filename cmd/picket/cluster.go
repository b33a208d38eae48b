package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"picket/internal/cluster"
	"picket/internal/config"
	"picket/internal/event"
	"picket/internal/store/postgres"
)

// cmdCluster runs `picket cluster status`.
func cmdCluster(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "status" {
		fmt.Fprint(stderr, "Usage: picket cluster status [flags]\n\nPrints each partition of a cluster: the detector node holding it, where it is in the\nstream, its watermark and the records it holds (docs/cluster.md).\n")
		return 2
	}
	fs := flag.NewFlagSet("cluster status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "the cluster's configuration file (its store.postgres and cluster sections)")
	bus := fs.String("bus", "", "NATS server (default: the configuration's cluster.bus)")
	rest, err := parse(fs, args[1:])
	if err != nil {
		return usageError(stderr, fs, err)
	}
	if len(rest) > 0 {
		return usageError(stderr, fs, fmt.Errorf("unexpected argument %q", rest[0]))
	}
	cfg, err := config.Load(*configPath, func(c *config.Config) {
		if *bus != "" {
			c.Cluster.Bus = *bus
		}
	}, nil)
	if err != nil {
		fmt.Fprintf(stderr, "picket cluster status: %v\n", err)
		return 2
	}
	if cfg.Cluster.Bus == "" || string(cfg.Store.Postgres) == "" {
		fmt.Fprintln(stderr, "picket cluster status: the configuration names no cluster.bus or no store.postgres")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := cluster.Open(ctx, cluster.Config{URL: cfg.Cluster.Bus, Name: cfg.Cluster.Name, Partitions: cfg.Cluster.Partitions, Node: "status-" + fmt.Sprint(os.Getpid())})
	if err != nil {
		fmt.Fprintf(stderr, "picket cluster status: %v\n", err)
		return 1
	}
	defer b.Close()
	st, err := postgres.Open(ctx, string(cfg.Store.Postgres))
	if err != nil {
		fmt.Fprintf(stderr, "picket cluster status: %v\n", err)
		return 1
	}
	defer st.Close()
	ps, err := cluster.Status(ctx, b, st)
	if err != nil {
		fmt.Fprintf(stderr, "picket cluster status: %v\n", err)
		return 1
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PARTITION\tOWNER\tCOMMITTED\tNEWEST\tSTATE\tWATERMARK\tRECORDS\tHELD\tFORCED")
	for _, p := range ps {
		owner := p.Owner
		if owner == "" {
			owner = "-"
		}
		state := "reading"
		switch {
		case p.Ended:
			state = "ended"
		case p.Last == 0 && p.Seq == 0:
			state = "empty"
		case p.Seq >= p.Last:
			state = "caught up"
		}
		wm := "-"
		if p.Watermark != event.Never {
			wm = p.Watermark.String()
		}
		fmt.Fprintf(w, "%d\t%s\t%d\t%d\t%s\t%s\t%d\t%d\t%d\n", p.Partition, owner, p.Seq, p.Last, state, wm, p.Records, p.Pending, p.Forced)
	}
	w.Flush()
	return 0
}
