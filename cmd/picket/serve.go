package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"picket/internal/app"
	"picket/internal/awsip"
	"picket/internal/config"
	"picket/internal/datadir"
)

func cmdServe(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file (YAML; see the README); flags override it")
	listen := fs.String("listen", config.DefaultListen, "address of the API, Firehose, health and metrics listener")
	dataDir := fs.String("data-dir", config.DefaultDataDir, "directory for the SQLite store, generated credentials and keys")
	var watch listFlagRaw
	fs.Var(&watch, "watch", "watch a directory for flow logs (repeatable; adds to the configuration's sources)")
	account := fs.String("account", config.DefaultAccount, "account of API callers whose key names none, and of records that name none")
	region := fs.String("region", config.DefaultRegion, "region of records and paths that name none")
	insecure := fs.Bool("insecure-no-auth", false, "serve the API without SigV4 authentication (loopback listeners only)")
	logLevel := fs.String("log-level", "", "log level: debug, info, warn, error (default: the configuration's, else info)")
	logFormat := fs.String("log-format", "", "log format: text or json (default: the configuration's, else text)")
	inventoryDir := fs.String("inventory", "", "folder of AWS describe outputs that fill findings with instance and task details, the path, the rules and remediation (default: the configuration's inventory.dir)")
	awsRanges := fs.String("aws-ip-ranges", "", "AWS's ip-ranges.json, which tells whether an address is inside AWS: auto (a copy kept in the data directory, fetched from --aws-ip-ranges-url when missing or a day old, at start and while running), off, or a file (default: the configuration's, else $"+envAWSIPRanges+", else auto)")
	awsRangesURL := fs.String("aws-ip-ranges-url", "", "where --aws-ip-ranges auto fetches ip-ranges.json from (default: the configuration's, else "+awsip.DefaultURL+")")
	bus := fs.String("bus", "", "NATS JetStream server (nats://host:4222): run as a node of a cluster that shares the pipeline and keeps findings in PostgreSQL (default: the configuration's cluster.bus; none: one process)")
	roles := fs.String("role", "", "with --bus, what this node does, comma-separated: ingest, detect, api (default: the configuration's cluster.roles, else all three)")
	node := fs.String("node", "", "with --bus, this node's name; an ingest node's must stay the same across restarts (default: host and process ID)")
	metricsListen := fs.String("metrics-listen", "", "with --bus, serve this node's cluster metrics (/metrics) and /healthz at this address (default: the configuration's cluster.metrics_listen; none)")
	var replay listFlagRaw
	fs.Var(&replay, "replay", "with --bus and --role ingest, publish this file or folder once, in event-time order, then end (repeatable)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: picket serve [flags]\n\nRuns the service: ingests flow logs from watched directories, S3 prefixes and a Firehose\nendpoint, keeps findings in a store and serves them through the GuardDuty API and a web console\n(open the listen address in a browser).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	rest, err := parse(fs, args)
	if err != nil {
		return usageError(stderr, fs, err)
	}
	if len(rest) > 0 {
		return usageError(stderr, fs, fmt.Errorf("unexpected argument %q (directories to watch go after --watch)", rest[0]))
	}
	cfg, err := config.Load(*configPath, func(c *config.Config) {
		if isFlagSet(fs, "listen") {
			c.Listen = *listen
		}
		if isFlagSet(fs, "data-dir") {
			c.DataDir = *dataDir
		}
		if isFlagSet(fs, "account") {
			c.Account = *account
		}
		if isFlagSet(fs, "region") {
			c.Region = *region
		}
		for _, w := range watch {
			c.Sources.Watch = append(c.Sources.Watch, config.Watch{Path: w})
		}
		if *insecure {
			c.InsecureNoAuth = true
		}
		if *inventoryDir != "" {
			c.Inventory.Dir = *inventoryDir
		}
		if *logLevel != "" {
			c.Log.Level = *logLevel
		}
		if *bus != "" {
			c.Cluster.Bus = *bus
		}
		if *roles != "" {
			c.Cluster.Roles = strings.Split(*roles, ",")
		}
		if *node != "" {
			c.Cluster.Node = *node
		}
		c.Cluster.Replay = append(c.Cluster.Replay, replay...)
		if *metricsListen != "" {
			c.Cluster.MetricsListen = *metricsListen
		}
		if *logFormat != "" {
			c.Log.Format = *logFormat
		}
		if isFlagSet(fs, "aws-ip-ranges") {
			c.Enrich.AWSIPRanges = *awsRanges
		} else if c.Enrich.AWSIPRanges == "" {
			c.Enrich.AWSIPRanges = awsRangesDefault()
		}
		if isFlagSet(fs, "aws-ip-ranges-url") {
			c.Enrich.AWSIPRangesURL = *awsRangesURL
		} else if c.Enrich.AWSIPRangesURL == "" {
			c.Enrich.AWSIPRangesURL = awsip.DefaultURL
		}
	}, nil)
	if err != nil {
		fmt.Fprintf(stderr, "picket serve: %v\n", err)
		return 2
	}
	log := newLogger(stderr, cfg.Log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Serve(ctx, cfg, app.ServeOptions{Log: log, Notice: stderr}); err != nil {
		fmt.Fprintf(stderr, "picket serve: %v\n", err)
		return 1
	}
	return 0
}

func newLogger(w io.Writer, c config.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func cmdCredentials(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("credentials", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "the service's configuration file, for its data directory, listener, region and keys")
	dataDir := fs.String("data-dir", config.DefaultDataDir, "the service's data directory")
	profile := fs.String("profile", "picket", "AWS CLI profile name")
	endpoint := fs.String("endpoint-url", "", "URL clients reach the service at (default: from the listen address)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: picket credentials [flags]\n\nPrints how to use the API key of a picket serve (the configured key if there is one, else\n"+
			"the key generated in the data directory on first start): environment variables and\n"+
			"--endpoint-url, which every AWS CLI version takes, and an AWS CLI profile, which AWS CLI\n"+
			"v1 1.29+ and v2 2.13+ take; it says which the aws on PATH takes.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if _, err := parse(fs, args); err != nil {
		return usageError(stderr, fs, err)
	}
	cfg, err := config.Load(*configPath, func(c *config.Config) {
		if isFlagSet(fs, "data-dir") {
			c.DataDir = *dataDir
		}
	}, nil)
	if err != nil {
		fmt.Fprintf(stderr, "picket credentials: %v\n", err)
		return 2
	}
	var cred datadir.Credential
	if len(cfg.Credentials) > 0 {
		c := cfg.Credentials[0]
		cred = datadir.Credential{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, Account: c.Account}
	} else {
		cred, err = datadir.ReadCredential(cfg.DataDir)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				fmt.Fprintf(stderr, "picket credentials: no key in %s yet: start picket serve with --data-dir %s once to create one\n", cfg.DataDir, cfg.DataDir)
			} else {
				fmt.Fprintf(stderr, "picket credentials: %v\n", err)
			}
			return 1
		}
	}
	url := *endpoint
	if url == "" {
		url = datadir.EndpointURL(cfg.Listen)
	}
	datadir.WriteClientSetup(stdout, datadir.ClientSetup{Credential: cred, Profile: *profile, Region: cfg.Region, Endpoint: url,
		Account: cfg.Account, AWSCLI: awsCLIVersion()})
	return 0
}

// awsCLIVersion is what the aws on PATH says its version is, "" when
// there is none or it does not answer within seconds.
func awsCLIVersion() string {
	bin, err := exec.LookPath("aws")
	if err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--version") //nolint:gosec // the aws on PATH, asked only for its version
	// AWS CLI v1 printed its version to standard error.
	out, err := cmd.CombinedOutput()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
