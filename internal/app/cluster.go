package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"picket/internal/cluster"
	"picket/internal/config"
	"picket/internal/decode"
	"picket/internal/detect"
	"picket/internal/enrich"
	"picket/internal/event"
	"picket/internal/ingest"
	"picket/internal/intel/live"
	"picket/internal/source"
	"picket/internal/store"
)

// serveCluster runs this process as a node of a cluster (config.Cluster):
// the roles it takes run side by side until ctx is done or one fails.
func serveCluster(ctx context.Context, cfg *config.Config, opt ServeOptions) error {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	log := opt.Log
	cl := cfg.Cluster
	bus, err := cluster.Open(ctx, cluster.Config{
		URL: cl.Bus, Name: cl.Name, Partitions: cl.Partitions, Node: cl.Node, LeaseTTL: cl.LeaseTTL.D(), Log: log,
	})
	if err != nil {
		return err
	}
	defer bus.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var nodes clusterNodes
	if cl.MetricsListen != "" {
		stop, err := serveClusterMetrics(cl.MetricsListen, &nodes, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	run := func(role string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx); err != nil {
				errs <- fmt.Errorf("%s: %w", role, err)
				cancel()
			}
		}()
	}
	replayOnly := len(cl.Replay) > 0 && !cl.HasRole("detect") && !cl.HasRole("api")
	if cl.HasRole("api") {
		// The API and the console over the shared store, with no sources
		// of its own: the single-process service minus its ingest.
		apiCfg := *cfg
		apiCfg.Cluster = config.Cluster{}
		apiCfg.Sources = config.Sources{}
		run("api", func(ctx context.Context) error { return Serve(ctx, &apiCfg, opt) })
	}
	if cl.HasRole("detect") {
		run("detect", func(ctx context.Context) error {
			return runDetectNode(ctx, cfg, bus, &nodes, log.With("role", "detect"))
		})
	}
	if cl.HasRole("ingest") {
		run("ingest", func(ctx context.Context) error {
			err := runIngestNode(ctx, cfg, bus, &nodes, log.With("role", "ingest"))
			if err == nil && replayOnly {
				cancel() // a replay node's work is done
			}
			return err
		})
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// clusterEnrich opens what enrichment reads (AWS's ranges, the GeoIP
// databases) as the single-process service does.
func clusterEnrich(ctx context.Context, cfg *config.Config, log *slog.Logger) (*enrich.IPInfos, func(), error) {
	rangesPath, _, err := serveAWSRanges(cfg, cfg.DataDir, log.With("component", "awsip")).load(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("enrich: %w", err)
	}
	ipinfo, closeIPInfo, err := enrich.OpenIPInfos(cfg.Enrich.GeoIPCity, cfg.Enrich.GeoIPASN, rangesPath, log.With("component", "enrich"))
	if err != nil {
		return nil, nil, fmt.Errorf("enrich: %w", err)
	}
	return ipinfo, closeIPInfo, nil
}

// runDetectNode runs the detector node: the same detectors as picket
// analyze and the single-process service, one engine per partition.
func runDetectNode(ctx context.Context, cfg *config.Config, bus *cluster.Bus, nodes *clusterNodes, log *slog.Logger) error {
	st, err := openStore(ctx, cfg, cfg.DataDir, log.With("component", "store"))
	if err != nil {
		return err
	}
	defer st.Close()
	// The API nodes manage the lists; a detector node follows the store
	// (listSync) and refreshes their contents as the service does.
	lists := live.New(log.With("component", "intel"), cfg.Intel.FilesDir)
	defer lists.Wait()
	if _, err := lists.Sync(ctx, st); err != nil {
		return fmt.Errorf("threat lists: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait() // before the store closes
	defer cancel()
	wg.Go(func() { lists.Run(ctx, cfg.Intel.RefreshInterval.D()) })
	wg.Go(func() {
		t := time.NewTicker(listSync)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if changed, err := lists.Sync(ctx, st); err != nil {
					log.Warn("threat lists: following the store", "error", err)
				} else if changed {
					log.Info("threat lists: the lists in use changed")
				}
			}
		}
	})
	ipinfo, closeIPInfo, err := clusterEnrich(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeIPInfo()
	est, err := newEstate(ctx, cfg.Inventory, log.With("component", "inventory"))
	if err != nil {
		return err
	}
	// Each partition's engine gets its share of the memory budget.
	budget := int64(cfg.Ingest.MemoryBudget) / int64(max(bus.Partitions(), 1))
	build := func() ([]detect.Stage, []detect.Detector, error) { return buildDetectors(cfg, lists, ipinfo, budget) }
	d := cluster.NewDetector(cluster.DetectorConfig{
		Bus: bus, Store: st, Build: build,
		Engine:         engineConfig(cfg),
		Annotate:       annotator(est),
		Administrator:  cfg.Account,
		Producers:      cfg.Cluster.Producers,
		CommitInterval: cfg.Ingest.CommitInterval.D(),
	})
	nodes.detector.Store(d)
	return d.Run(ctx)
}

// clusterFeed is the ingest node's Feed: the single-process service's,
// with a direction table of its own.
func clusterFeed(cfg *config.Config, ipinfo *enrich.IPInfos) (*ingest.Feed, error) {
	feed, err := newFeed(cfg, ipinfo)
	if err != nil {
		return nil, err
	}
	feed.Skipped = map[string]uint64{}
	feed.Enrich.Directions = enrich.NewDirections(cfg.Ingest.MaxInterfaces)
	return feed, nil
}

// runIngestNode runs the producer: a replay of cluster.replay, ended
// once published, or else the configured sources, each input
// checkpointed in the store once its records are stored in the stream.
func runIngestNode(ctx context.Context, cfg *config.Config, bus *cluster.Bus, nodes *clusterNodes, log *slog.Logger) error {
	ipinfo, closeIPInfo, err := clusterEnrich(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeIPInfo()
	feed, err := clusterFeed(cfg, ipinfo)
	if err != nil {
		return err
	}
	prod, err := cluster.NewProducer(ctx, bus, cfg.Cluster.Node)
	if err != nil {
		return err
	}
	nodes.producer.Store(prod)
	log = log.With("node", prod.Name())
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		prod.Close(cctx)
		cancel()
	}()
	feed.Bad = func(reason string, err error) error {
		log.Debug("bad record", "reason", reason, "error", err)
		return nil
	}
	if len(cfg.Cluster.Replay) > 0 {
		return replay(ctx, cfg.Cluster.Replay, feed, prod, log)
	}
	return ingestSources(ctx, cfg, feed, prod, log)
}

// listSync is how often a detector node reads which threat and trusted
// lists are active.
const listSync = 30 * time.Second

// markEvery is how many records a producer publishes between marks.
const markEvery = 1 << 16

// replay publishes inputs in event-time order, as picket analyze reads
// them, then ends the producer's input.
func replay(ctx context.Context, paths []string, feed *ingest.Feed, prod *cluster.Producer, log *slog.Logger) error {
	inputs, errs := source.Expand(paths)
	for _, e := range errs {
		log.Warn("input unreadable", "error", e)
	}
	prod.Begin("replay:"+strings.Join(paths, ","), "0")
	merge := &ingest.Merge{Feed: feed, InputError: func(name string, err error) {
		log.Warn("input failed", "input", name, "error", err)
	}}
	n := 0
	err := merge.Run(ctx, inputs, func(rec event.Record) error {
		if err := prod.Add(rec); err != nil {
			return err
		}
		if n++; n%markEvery == 0 {
			return prod.Mark(ctx, false)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := prod.End(ctx); err != nil {
		return err
	}
	st := prod.Stats()
	log.Info("replay published", "inputs", merge.Inputs, "records", st.Records, "batches", st.Batches, "skipped", feed.Skipped)
	return nil
}

// ingestSources reads the configured sources' inputs one at a time,
// publishing each input's records, then its mark, before the input's
// checkpoint is committed.
func ingestSources(ctx context.Context, cfg *config.Config, feed *ingest.Feed, prod *cluster.Producer, log *slog.Logger) error {
	// Without PostgreSQL the checkpoints are the node's own, in SQLite in
	// its data directory.
	if string(cfg.Store.Postgres) == "" {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
	}
	st, err := openStore(ctx, cfg, cfg.DataDir, log.With("component", "store"))
	if err != nil {
		return err
	}
	defer st.Close()
	runners, err := taskSources(ctx, cfg, log, nil)
	if err != nil {
		return err
	}
	var sources []ingest.Checkpointer
	for _, r := range runners {
		sources = append(sources, r)
	}
	var firehose *source.Firehose
	pushes := make(chan *delivery)
	if f := cfg.Sources.Firehose; f != nil {
		fc := firehoseConfig(f, log)
		fc.Deliver = func(ctx context.Context, d *source.Delivery) error {
			p := &delivery{d: d, done: make(chan error, 1)}
			select {
			case pushes <- p:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case err := <-p.done:
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		fh := source.NewFirehose(fc)
		stop, err := serveFirehose(cfg.Listen, f.Path, fh, log)
		if err != nil {
			return err
		}
		defer stop()
		sources = append(sources, fh)
		firehose = fh
	}
	if len(sources) == 0 {
		return errors.New("an ingest node needs sources (sources.watch, sources.s3, sources.firehose) or cluster.replay")
	}
	// The checkpoints are the producer's: its sources resume where it
	// left off.
	prefix := "cluster/" + prod.Name() + "/"
	cps, err := st.Checkpoints(ctx)
	if err != nil {
		return err
	}
	for _, s := range sources {
		var mine []source.Checkpoint
		for _, c := range cps {
			if name, ok := strings.CutPrefix(c.Source, prefix); ok {
				mine = append(mine, source.Checkpoint{Name: name, Data: c.Position})
			}
		}
		if err := s.Restore(mine); err != nil {
			return fmt.Errorf("restoring %s: %w", s.Name(), err)
		}
	}
	tasks := make(chan *source.Task)
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	for _, r := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Run(rctx, tasks); err != nil && rctx.Err() == nil {
				log.Error("source stopped", "error", err)
			}
		}()
	}
	defer wg.Wait()
	defer stop()
	idle := cfg.Ingest.IdleFlush.D()
	quiet := time.NewTimer(time.Hour)
	defer quiet.Stop()
	for {
		if idle > 0 {
			quiet.Reset(idle)
		}
		var ack *delivery
		select {
		case <-ctx.Done():
			return nil
		case <-quiet.C:
			// Gone quiet: the watermark catches up with the newest
			// event, as the single-process service's does.
			if err := prod.Mark(ctx, true); err != nil {
				return err
			}
			continue
		case t := <-tasks:
			if err := publishTask(ctx, t, feed, prod); err != nil {
				log.Warn("input failed", "input", t.Name, "error", err)
			}
		case p := <-pushes:
			if err := publishDelivery(ctx, firehose, p.d, feed, prod, log); err != nil {
				p.done <- err
				continue
			}
			ack = p
		}
		if err := prod.Mark(ctx, false); err != nil {
			return err
		}
		var out []store.Checkpoint
		for _, s := range sources {
			for _, c := range s.Checkpoints() {
				out = append(out, store.Checkpoint{Source: prefix + c.Name, Position: c.Data, UpdatedAt: time.Now().UTC()})
			}
		}
		err := st.Commit(ctx, store.Batch{Checkpoints: out})
		if ack != nil {
			// A delivery is acknowledged once its records are in the
			// stream and its request ID is committed with the
			// checkpoints.
			ack.done <- err
		}
		if err != nil {
			return fmt.Errorf("committing checkpoints: %w", err)
		}
	}
}

// publishTask publishes one input's records and waits until the stream
// holds them, then finishes the task so that its source checkpoints it.
// Inputs that cannot be read are finished as the single-process
// service's loop finishes them.
func publishTask(ctx context.Context, t *source.Task, feed *ingest.Feed, prod *cluster.Producer) (err error) {
	pos := t.Start
	defer func() { t.Finish(pos, err) }()
	st, err := t.Open()
	if err != nil {
		return err
	}
	defer st.Close()
	in, err := feed.Open(st, ingest.Spec{Name: t.Name, Layout: t.Layout, Defaults: t.Defaults, Start: decode.Position(t.Start), Partial: !t.Complete})
	switch {
	case errors.Is(err, decode.ErrEmpty):
		return nil
	case errors.Is(err, decode.ErrIncomplete):
		return source.ErrStopped
	case errors.Is(err, decode.ErrUnrecognized):
		return fmt.Errorf("%w: %w", source.ErrUnreadable, err)
	case err != nil:
		return err
	}
	defer feed.Close(in)
	prod.Begin(t.Name, fmt.Sprintf("%d.%d.%d", t.Start.Offset, t.Start.Line, t.Start.Records))
	if err := publishInput(ctx, in, feed, prod); err != nil {
		return err
	}
	pos = source.Position(in.Reader.Position())
	return nil
}

// publishInput publishes an open input's records and waits until the
// stream holds them.
func publishInput(ctx context.Context, in *ingest.Input, feed *ingest.Feed, prod *cluster.Producer) error {
	for {
		rec, err := feed.Next(in)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if err := prod.Add(rec); err != nil {
			return err
		}
	}
	return prod.Sync(ctx)
}

// delivery is a Firehose delivery on its way to the stream.
type delivery struct {
	d    *source.Delivery
	done chan error
}

// publishDelivery publishes the records of a Firehose delivery the
// endpoint has not seen processed, under batch IDs made from the
// request's, so that a delivery Firehose retries after a crash adds
// nothing.
func publishDelivery(ctx context.Context, fh *source.Firehose, d *source.Delivery, feed *ingest.Feed, prod *cluster.Producer, log *slog.Logger) error {
	if fh.Seen(d.RequestID) {
		return nil
	}
	for i, rec := range d.Records {
		name := d.Name(i)
		st, err := source.NewStream(name, io.NopCloser(bytes.NewReader(rec)))
		if err != nil {
			return err
		}
		in, err := feed.Open(st, ingest.Spec{Name: name, Defaults: d.Defaults, Lines: true})
		if err == nil {
			prod.Begin(name, "0")
			err = publishInput(ctx, in, feed, prod)
			feed.Close(in)
		}
		st.Close()
		if err != nil && !errors.Is(err, decode.ErrEmpty) {
			log.Warn("firehose record not read to its end", "record", name, "error", err)
			if ctx.Err() != nil || prod.Sync(ctx) != nil {
				return err // not stored: Firehose delivers it again
			}
		}
	}
	fh.Processed(d.RequestID)
	return nil
}

// serveFirehose answers Firehose deliveries on addr at path until stop
// is called.
func serveFirehose(addr, path string, fh *source.Firehose, log *slog.Logger) (stop func(), err error) {
	// Firehose may take minutes to send a large delivery; the endpoint
	// bounds bodies itself (sources.firehose.max_body_bytes).
	stopHTTP, err := serveNodeHTTP(addr, path, fh, "the Firehose endpoint", log)
	if err != nil {
		return nil, err
	}
	return func() {
		fh.Close()
		stopHTTP()
	}, nil
}

// serveNodeHTTP serves h at path, and /healthz, on addr until stop is
// called; what names the listener in errors and the log.
func serveNodeHTTP(addr, path string, h http.Handler, what string, log *slog.Logger) (stop func(), err error) {
	mux := http.NewServeMux()
	mux.Handle(path, h)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	log.Info(what+" listening", "addr", ln.Addr().String(), "path", path)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		srv.Shutdown(ctx)
		cancel()
	}, nil
}

// clusterNodes are the roles a cluster process runs, for its metrics.
type clusterNodes struct {
	detector atomic.Pointer[cluster.Detector]
	producer atomic.Pointer[cluster.Producer]
}

// serveClusterMetrics serves a cluster node's metrics (docs/cluster.md
// says what each means) and /healthz on addr until stop is called.
func serveClusterMetrics(addr string, nodes *clusterNodes, log *slog.Logger) (stop func(), err error) {
	reg := prometheus.NewRegistry()
	det := func(f func(cluster.Stats) float64) func() float64 {
		return func() float64 {
			if d := nodes.detector.Load(); d != nil {
				return f(d.Stats())
			}
			return 0
		}
	}
	prod := func(f func(cluster.ProducerStats) float64) func() float64 {
		return func() float64 {
			if p := nodes.producer.Load(); p != nil {
				return f(p.Stats())
			}
			return 0
		}
	}
	gauge := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}
	counter := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
	}
	gauge("picket_cluster_partitions_owned", "Partitions this detector node holds the lease of.", det(func(s cluster.Stats) float64 { return float64(s.Owned) }))
	counter("picket_cluster_partitions_taken_total", "Partition leases this node has taken.", det(func(s cluster.Stats) float64 { return float64(s.Taken) }))
	counter("picket_cluster_leases_lost_total", "Leases that lapsed before this node let them go; their uncommitted work is redone by the next owner.", det(func(s cluster.Stats) float64 { return float64(s.Lost) }))
	counter("picket_cluster_records_total", "Records released to this node's engines.", det(func(s cluster.Stats) float64 { return float64(s.Records) }))
	gauge("picket_cluster_records_held", "Records taken from the stream and held until every producer has passed their time.", det(func(s cluster.Stats) float64 { return float64(s.Held) }))
	counter("picket_cluster_records_forced_total", "Records released without waiting for a silent producer, the held records being at their cap.", det(func(s cluster.Stats) float64 { return float64(s.Forced) }))
	counter("picket_cluster_commits_total", "Partition commits (findings, position, held records and state in one transaction).", det(func(s cluster.Stats) float64 { return float64(s.Commits) }))
	counter("picket_cluster_commits_failed_total", "Partition commits that failed and were retried or ended the partition's run.", det(func(s cluster.Stats) float64 { return float64(s.Failed) }))
	counter("picket_cluster_messages_bad_total", "Messages skipped as unusable (a batch that does not decode, a mark without a position); each is logged with its partition and stream sequence.", det(func(s cluster.Stats) float64 { return float64(s.Bad) }))
	counter("picket_cluster_findings_committed_total", "Finding reports committed by this node.", det(func(s cluster.Stats) float64 { return float64(s.Findings) }))
	counter("picket_cluster_published_records_total", "Records this ingest node published.", prod(func(s cluster.ProducerStats) float64 { return float64(s.Records) }))
	counter("picket_cluster_published_batches_total", "Messages of records this ingest node published.", prod(func(s cluster.ProducerStats) float64 { return float64(s.Batches) }))
	counter("picket_cluster_published_dropped_total", "Records of kinds the bus does not carry.", prod(func(s cluster.ProducerStats) float64 { return float64(s.Dropped) }))
	gauge("picket_cluster_producer_position_seconds", "The event time (Unix seconds) this ingest node last marked as its position.", prod(func(s cluster.ProducerStats) float64 {
		if s.Position == event.Never || s.Position == event.Forever {
			return 0
		}
		return float64(s.Position)
	}))
	return serveNodeHTTP(addr, "/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), "cluster metrics", log)
}
