package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"picket/internal/api"
	"picket/internal/awsip"
	"picket/internal/config"
	"picket/internal/console"
	"picket/internal/datadir"
	"picket/internal/decode/vpcflow"
	"picket/internal/detect"
	"picket/internal/detect/all"
	"picket/internal/enrich"
	"picket/internal/event"
	"picket/internal/explain"
	"picket/internal/finding"
	"picket/internal/ingest"
	"picket/internal/intel/live"
	"picket/internal/metrics"
	"picket/internal/source"
	"picket/internal/store/postgres"
	"picket/internal/store/sqlite"
)

// ServeOptions is what the command line gives Serve besides the
// configuration.
type ServeOptions struct {
	// Log receives the service log; nil discards it.
	Log *slog.Logger
	// Notice receives the one-time notice about generated credentials
	// (standard error); nil discards it.
	Notice io.Writer
	// Ready, if set, is called with the listener's address once the
	// service is ready.
	Ready func(addr string)
}

// The API loads and retires lists through the live lists, and vets
// their locations through the optional CheckLocation.
var (
	_ api.SetLoader       = (*live.Lists)(nil)
	_ api.LocationChecker = (*live.Lists)(nil)
)

// Serve runs picket serve until ctx is done. It starts its actors in
// order (data directory, store, HTTP listener, detection state restored,
// ingest loop, sources; then ready) and stops them in reverse: the
// sources stop, the ingest loop stops at a record boundary, takes the
// deliveries already received and commits a last batch with the state,
// the listener drains, the store closes.
func Serve(ctx context.Context, cfg *config.Config, opt ServeOptions) (err error) {
	log := opt.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opt.Notice == nil {
		opt.Notice = io.Discard
	}
	if cfg.Cluster.Bus != "" {
		return serveCluster(ctx, cfg, opt)
	}
	if cfg.InsecureNoAuth && !config.Loopback(cfg.Listen) {
		return fmt.Errorf("--insecure-no-auth is allowed only on a loopback listener, not %s", cfg.Listen)
	}

	// 1. The data directory, locked.
	dd, err := datadir.Open(cfg.DataDir)
	if err != nil {
		return err
	}
	defer dd.Close()
	tokenKey, err := dd.TokenKey()
	if err != nil {
		return err
	}
	creds, err := apiCredentials(cfg, dd, opt.Notice, log)
	if err != nil {
		return err
	}

	// 2. The store.
	st, err := openStore(ctx, cfg, dd.Path(), log.With("component", "store"))
	if err != nil {
		return err
	}
	defer func() {
		if cerr := st.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing the store: %w", cerr)
		}
	}()

	// 3. Threat intelligence, detection, the ingest loop and the sources
	// (not yet running).
	lists := live.New(log.With("component", "intel"), cfg.Intel.FilesDir)
	defer lists.Wait() // list loads under way end before the store closes
	m := metrics.New(log.With("component", "metrics"))
	m.SetIntel(func() metrics.IntelStatus { return metrics.IntelStatus(lists.Status()) })
	ranges := serveAWSRanges(cfg, dd.Path(), log.With("component", "awsip"))
	rangesPath, rangesReport, err := ranges.load(ctx)
	if err != nil {
		return fmt.Errorf("enrich: %w", err)
	}
	ipinfo, closeIPInfo, err := enrich.OpenIPInfos(cfg.Enrich.GeoIPCity, cfg.Enrich.GeoIPASN, rangesPath, log.With("component", "enrich"))
	if err != nil {
		return fmt.Errorf("enrich: %w", err)
	}
	logAWSRanges(log.With("component", "awsip"), rangesReport, rangesPath == "", cfg.Detectors.Disabled)
	defer closeIPInfo()
	stopPublish, err := startPublish(ctx, cfg, st, m, log)
	if err != nil {
		return err
	}
	defer stopPublish() // before the store closes
	est, err := newEstate(ctx, cfg.Inventory, log.With("component", "inventory"))
	if err != nil {
		return err
	}
	g, err := newLoop(cfg, st, m, log, lists, ipinfo, est)
	if err != nil {
		return err
	}
	runners, err := taskSources(ctx, cfg, log, m)
	if err != nil {
		return err
	}
	var sources []ingest.Checkpointer
	for _, r := range runners {
		sources = append(sources, r)
	}
	tasks := make(chan *source.Task)
	fh := source.NewFirehose(source.FirehoseConfig{Deliver: g.Deliver, Log: log.With("source", "firehose"), Observe: m.FirehoseRequest})
	if f := cfg.Sources.Firehose; f != nil {
		fc := firehoseConfig(f, log)
		fc.Deliver, fc.Observe = g.Deliver, m.FirehoseRequest
		fh = source.NewFirehose(fc)
		g.SetAckDelay(f.CommitDelay.D())
	}
	g.SetSources(tasks, append(sources, fh), fh)

	// 4. The HTTP listener: health and metrics answer from here on, the
	// API once the store is open (it is), ingest endpoints once ready.
	handler, err := api.New(api.Config{
		Store: st, Credentials: api.StaticCredentials(creds...), InsecureNoAuth: cfg.InsecureNoAuth,
		Account: cfg.Account, Region: cfg.Region, TokenKey: tokenKey, Logger: log.With("component", "api"), Sets: lists,
		MaxInFlight: apiConcurrency(), Observe: m.APIRequest, Usage: g.Usage, SilentAfter: cfg.Ingest.SilentAfter.D(),
	})
	if err != nil {
		return err
	}
	con, err := console.New(console.Config{API: handler, Region: cfg.Region, Log: log.With("component", "console")})
	if err != nil {
		return err
	}
	var ready atomic.Bool
	get := map[string]http.Handler{
		"/healthz": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "ok\n")
		}),
		"/readyz": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !ready.Load() {
				http.Error(w, "not ready: starting or stopping", http.StatusServiceUnavailable)
				return
			}
			io.WriteString(w, "ready\n")
		}),
		"/metrics": m,
	}
	all := map[string]http.Handler{}
	if f := cfg.Sources.Firehose; f != nil {
		all[f.Path] = fh
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	srv := &http.Server{
		Handler: edge(get, all, con, handler),
		// Headers must arrive within ReadHeaderTimeout, and they may be
		// up to maxHeaderBytes; the API refuses more than
		// api.DefaultMaxHeaderBytes of them in its own error shape.
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    maxHeaderBytes,
		// The API bounds the time of each body with its own read
		// deadline (21 s at most, for the largest body allowed), so
		// ReadTimeout bounds what else reads bodies: a Firehose delivery
		// of up to 96 MiB must come at 1.6 MB/s or more.
		ReadTimeout: time.Minute,
		IdleTimeout: 2 * time.Minute,
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	httpErr := make(chan error, 1)
	go func() { httpErr <- srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if serr := srv.Shutdown(sctx); serr != nil {
			log.Warn("HTTP shutdown", "error", serr)
		}
	}()
	log.Info("listening", "addr", ln.Addr().String(), "endpoint", datadir.EndpointURL(ln.Addr().String()))

	// 5. Restore the lists in use and the detection state, then start the
	// ingest loop and the sources.
	if err := lists.Restore(ctx, st); err != nil {
		return err
	}
	if err := g.Restore(ctx); err != nil {
		return err
	}
	ingestCtx, stopIngest := context.WithCancel(context.Background())
	defer stopIngest()
	ingestErr := make(chan error, 1)
	go func() { ingestErr <- g.Run(ingestCtx) }()
	srcCtx, stopSources := context.WithCancel(context.Background())
	defer stopSources()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		lists.Run(srcCtx, cfg.Intel.RefreshInterval.D())
	}()
	if c := ranges.cache(); c != nil {
		// The copy in the data directory is fetched again when it turns
		// a day old, so that a restart finds it current. The running
		// service keeps the ranges it started with: enrich holds them
		// for its life and has no way to swap them.
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Run(srcCtx, awsip.DefaultCheck, nil)
		}()
	}
	if est != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			est.Run(srcCtx)
		}()
	}
	for _, r := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Run(srcCtx, tasks); err != nil {
				log.Error("source stopped", "error", err)
			}
		}()
	}
	ready.Store(true)
	m.SetReady(true)
	log.Info("ready", "watch", len(cfg.Sources.Watch), "s3", len(cfg.Sources.S3), "firehose", cfg.Sources.Firehose != nil)
	if opt.Ready != nil {
		opt.Ready(ln.Addr().String())
	}

	// 6. Run until told to stop or an actor fails, then stop in reverse.
	var runErr error
	select {
	case <-ctx.Done():
		log.Info("stopping")
	case err := <-ingestErr:
		runErr = fmt.Errorf("ingest: %w", err)
		ingestErr <- nil
	case err := <-httpErr:
		runErr = fmt.Errorf("HTTP server: %w", err)
	}
	ready.Store(false)
	m.SetReady(false)
	fh.Close()
	stopSources()
	wg.Wait()
	stopIngest()
	if err := <-ingestErr; err != nil && runErr == nil {
		runErr = fmt.Errorf("ingest: %w", err)
	}
	log.Info("stopped", "commits", g.Commits())
	return runErr
}

// newLoop builds the detection engine and the ingest loop around it.
//
// ipinfo, which may be nil, enriches API calls; only the ingest loop's
// goroutine, which runs the engine, uses it.
func newLoop(cfg *config.Config, st ingest.Store, m *metrics.Set, log *slog.Logger, in detect.Intel, ipinfo *enrich.IPInfos, est *estate) (*ingest.Loop, error) {
	feed, err := newFeed(cfg, ipinfo)
	if err != nil {
		return nil, err
	}
	stages, dets, err := buildDetectors(cfg, in, ipinfo, int64(cfg.Ingest.MemoryBudget))
	if err != nil {
		return nil, err
	}
	return ingest.NewLoop(ingest.LoopConfig{
		Log: log.With("component", "ingest"), Store: st, Metrics: m,
		Stages: stages, Detectors: dets,
		Engine: engineConfig(cfg),
		Feed:   feed, MaxInterfaces: cfg.Ingest.MaxInterfaces,
		CommitInterval: cfg.Ingest.CommitInterval.D(), IdleFlush: cfg.Ingest.IdleFlush.D(), AckDelay: config.DefaultCommitDelay,
		Administrator: cfg.Account,
		Annotate:      annotator(est),
	})
}

// newFeed is the service's Feed, in one process or on a cluster's
// ingest nodes: the configuration's account, region and flow log
// format, and the callers' context from ipinfo.
func newFeed(cfg *config.Config, ipinfo *enrich.IPInfos) (*ingest.Feed, error) {
	feed := &ingest.Feed{Account: event.Intern(cfg.Account), Region: event.Intern(cfg.Region)}
	if cfg.Ingest.FlowFormat != "" {
		f, err := vpcflow.ParseFormat(cfg.Ingest.FlowFormat)
		if err != nil {
			return nil, fmt.Errorf("ingest.flow_format: %w", err)
		}
		feed.FlowFormat = &f
	}
	if ipinfo.Enabled() {
		feed.Enrich.IPInfo = ipinfo
	}
	return feed, nil
}

// buildDetectors makes the service's stages and detectors, with
// budget bytes of memory for their tables.
func buildDetectors(cfg *config.Config, in detect.Intel, ipinfo *enrich.IPInfos, budget int64) ([]detect.Stage, []detect.Detector, error) {
	// Detectors file findings under a region's default detector ID; the
	// commit files them under the store's detector of the region.
	env := detect.Env{DetectorID: finding.DetectorID, MaxKeys: cfg.Ingest.MaxKeys, Intel: in}
	if ipinfo.Enabled() {
		env.IPInfo = ipinfo.Lookup
	}
	stages, dets, err := all.Build(all.Options{Env: env, Thresholds: cfg.Detectors.Thresholds, Allowlists: cfg.Detectors.Allow, Disabled: cfg.Detectors.Disabled, Budget: budget})
	if err != nil {
		return nil, nil, fmt.Errorf("detectors: %w", err)
	}
	return stages, dets, nil
}

// engineConfig is the detection engine's configuration.
func engineConfig(cfg *config.Config) detect.Config {
	return detect.Config{Lateness: event.Time(cfg.Ingest.Lateness.D() / time.Second), Tick: detect.DefaultConfig.Tick}
}

// taskSource is a source that hands over tasks and keeps checkpoints:
// a watched folder or an S3 prefix.
type taskSource interface {
	ingest.Checkpointer
	Run(context.Context, chan<- *source.Task) error
}

// taskSources builds the configuration's watched folders and S3
// prefixes; m, when set, is told of each.
func taskSources(ctx context.Context, cfg *config.Config, log *slog.Logger, m *metrics.Set) ([]taskSource, error) {
	var out []taskSource
	for _, w := range cfg.Sources.Watch {
		wt, err := source.NewWatcher(w.Path, w.PollInterval.D(), source.Defaults{Account: w.Account, Region: w.Region, FlowFormat: w.FlowFormat}, log.With("source", "watch:"+w.Path))
		if err != nil {
			return nil, err
		}
		if w.Notify != nil && !*w.Notify {
			wt.SetNotify(false)
		}
		out = append(out, wt)
		if m != nil {
			m.AddWatch(wt.Name(), func() metrics.WatchStatus { return metrics.WatchStatus(wt.Status()) })
		}
	}
	for _, s := range cfg.Sources.S3 {
		client, err := s3Client(ctx, s)
		if err != nil {
			return nil, err
		}
		p := source.NewS3Poller(source.S3Config{
			Client: client, Bucket: s.Bucket, Prefix: s.Prefix, StartAfter: s.StartAfter, Poll: s.PollInterval.D(),
			Defaults: source.Defaults{Account: s.Account, Region: s.Region, FlowFormat: s.FlowFormat},
			Log:      log.With("source", "s3://"+s.Bucket+"/"+s.Prefix),
		})
		out = append(out, p)
		if m != nil {
			m.AddS3(p.Name(), p.Idle)
		}
	}
	return out, nil
}

// firehoseConfig is the configured Firehose endpoint's configuration,
// but for where it delivers.
func firehoseConfig(f *config.Firehose, log *slog.Logger) source.FirehoseConfig {
	keys := make([]string, len(f.AccessKeys))
	for i, k := range f.AccessKeys {
		keys[i] = string(k)
	}
	return source.FirehoseConfig{
		AccessKeys: keys, MaxBodyBytes: int64(f.MaxBodyBytes), AckTimeout: f.AckTimeout.D(),
		Defaults: source.Defaults{Account: f.Account, Region: f.Region, FlowFormat: f.FlowFormat},
		Log:      log.With("source", "firehose"),
	}
}

// annotator returns the function that fills findings from the estate's
// inventory, or nil without one.
func annotator(est *estate) func(*finding.Finding) {
	if est == nil {
		return nil
	}
	a := &explain.Annotator{Inventory: est.Current}
	return a.Annotate
}

// serviceStore is the store as the service uses it: what the API, the
// ingest loop and the lists each ask of it, and Close.
type serviceStore interface {
	api.Store
	ingest.Store
	live.Store
	Close() error
}

// openStore opens PostgreSQL when the configuration gives a DSN, else
// SQLite in the data directory dir; the store logs to log.
func openStore(ctx context.Context, cfg *config.Config, dir string, log *slog.Logger) (serviceStore, error) {
	if dsn := string(cfg.Store.Postgres); dsn != "" {
		s, err := postgres.Open(ctx, dsn)
		if err != nil {
			return nil, fmt.Errorf("store.postgres: %w", err)
		}
		s.SetLogger(log)
		return s, nil
	}
	path := cfg.Store.SQLite
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	s.SetLogger(log)
	return s, nil
}

// credentialsCommand is the picket credentials command that prints how
// to reach a service listening on listen with the key in data directory
// dir: it names the endpoint when the listener is not the default one
// the command assumes (and is not a port the system picks).
func credentialsCommand(listen, dir string) string {
	cmd := "picket credentials --data-dir " + dir
	if listen != config.DefaultListen && !strings.HasSuffix(listen, ":0") {
		cmd += " --endpoint-url " + datadir.EndpointURL(listen)
	}
	return cmd
}

// apiCredentials gathers the keys the API accepts: from the configuration
// and environment, else the data directory's generated key (created on
// first start, with a notice saying how to use it; the secret is never
// logged).
func apiCredentials(cfg *config.Config, dd *datadir.Dir, notice io.Writer, log *slog.Logger) ([]api.Credential, error) {
	var out []api.Credential
	for _, c := range cfg.Credentials {
		out = append(out, api.Credential{AccessKeyID: c.AccessKeyID, Secret: api.Secret(c.SecretAccessKey), Account: c.Account})
	}
	if len(out) == 0 && !cfg.InsecureNoAuth {
		c, created, err := dd.GeneratedCredential()
		if err != nil {
			return nil, err
		}
		out = append(out, api.Credential{AccessKeyID: c.AccessKeyID, Secret: api.Secret(c.SecretAccessKey), Account: c.Account})
		if created {
			fmt.Fprintf(notice, "picket: created an API key for this service in %s (readable by you only).\n"+
				"  access key ID: %s\n"+
				"  To use it with the AWS CLI or an SDK, run:  %s\n"+
				"  To use the web console, open %s/ and sign in with it (the command above prints its secret).\n",
				dd.File(datadir.CredentialsFile), c.AccessKeyID, credentialsCommand(cfg.Listen, dd.Path()), datadir.EndpointURL(cfg.Listen))
		}
	}
	ids := make([]string, len(out))
	for i, c := range out {
		ids[i] = c.AccessKeyID
	}
	if cfg.InsecureNoAuth {
		log.Warn("API authentication is off (--insecure-no-auth): anyone who can reach the listener can use the API", "listen", cfg.Listen)
	} else {
		log.Info("API credentials", "access_key_ids", ids)
	}
	return out, nil
}

// s3Client builds the S3 client of a source: its region, endpoint
// override and path-style addressing, and static keys or the SDK's
// default credential chain.
func s3Client(ctx context.Context, s config.S3) (*s3.Client, error) {
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(s.Region)}
	if s.AccessKeyID != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(s.AccessKeyID, string(s.SecretAccessKey), "")))
	}
	acfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3 source %s: AWS configuration: %w", s.Bucket, err)
	}
	return s3.NewFromConfig(acfg, func(o *s3.Options) {
		if s.Endpoint != "" {
			o.BaseEndpoint = aws.String(s.Endpoint)
		}
		o.UsePathStyle = s.PathStyle
		// S3-compatible stores do not all compute the newer checksums.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}), nil
}

// maxHeaderBytes is the server's hard limit on a request's header
// fields: above it Go's server answers 431 in plain text and closes the
// connection. It is well over api.DefaultMaxHeaderBytes, so that the API
// answers the requests between the two in GuardDuty's error shape.
const maxHeaderBytes = 2 << 20

// edge dispatches the listener's requests: GET and HEAD of the paths in
// get, and any method of the paths in all, to their handlers, matching
// the path exactly; everything else to the API as it came. Unlike
// http.ServeMux it neither cleans paths nor redirects, so a path with
// "..", "." or "//" segments reaches the API, which answers it (a 4xx in
// GuardDuty's shape) only after checking its signature.
func edge(get, all map[string]http.Handler, con, api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p == "/console" || strings.HasPrefix(p, console.Prefix) {
			con.ServeHTTP(w, r)
			return
		}
		if r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) && r.Header.Get("Authorization") == "" {
			// A browser at the service's address: the console.
			http.Redirect(w, r, console.Prefix, http.StatusFound)
			return
		}
		h, ok := all[r.URL.Path]
		if !ok && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			h, ok = get[r.URL.Path]
		}
		if !ok {
			h = api
		}
		h.ServeHTTP(w, r)
	})
}

// apiConcurrency bounds the API requests served at once. Go shares the
// processors among runnable goroutines, so fifty busy API clients would
// leave the one ingest goroutine a fiftieth of the machine; with this
// bound a flood of API calls queues (and its latency grows) while ingest
// keeps about a third.
func apiConcurrency() int { return max(2, runtime.GOMAXPROCS(0)) }
