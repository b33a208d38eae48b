// Package config owns the configuration file of picket serve: its typed
// form (Config), the defaults written in code, strict decoding from YAML
// (an unknown key is an error that names its path and line) and one
// validation pass that reports every problem at once. Secrets in it redact
// themselves in logs and formatted output.
//
// cmd/picket loads the file, applies its flags over it and hands the result
// to app. The package may import decode/vpcflow, to check flow log formats.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"picket/internal/decode/vpcflow"
)

// Config is the configuration of picket serve.
type Config struct {
	// Listen is the address of the one HTTP listener: API, Firehose
	// ingest, health and metrics.
	Listen string `yaml:"listen"`
	// DataDir holds the SQLite store, generated credentials and the
	// pagination key.
	DataDir string `yaml:"data_dir"`
	// Account is the account of API callers whose credential names none,
	// and of records and paths that name none.
	Account string `yaml:"account"`
	// Region is assumed for records and paths that name none.
	Region string `yaml:"region"`
	// InsecureNoAuth serves the API without SigV4 (and Firehose without
	// an access key); allowed only on a loopback listener.
	InsecureNoAuth bool `yaml:"insecure_no_auth"`

	Log         Log          `yaml:"log"`
	Store       Store        `yaml:"store"`
	Credentials []Credential `yaml:"credentials"`
	Ingest      Ingest       `yaml:"ingest"`
	Detectors   Detectors    `yaml:"detectors"`
	Intel       Intel        `yaml:"intel"`
	Enrich      Enrich       `yaml:"enrich"`
	Inventory   Inventory    `yaml:"inventory"`
	Sources     Sources      `yaml:"sources"`
	Publish     Publish      `yaml:"publish"`
	Cluster     Cluster      `yaml:"cluster"`
}

// Cluster makes the service one node of a cluster that shares the
// pipeline over NATS JetStream and keeps its findings in PostgreSQL
// (docs/cluster.md). Without Bus the service runs in one process.
type Cluster struct {
	// Bus is the NATS server, nats://host:4222.
	Bus string `yaml:"bus"`
	// Name names the cluster's stream and buckets (PICKET by default);
	// every node of a cluster gives the same, and the same Partitions.
	Name       string `yaml:"name"`
	Partitions int    `yaml:"partitions"`
	// Roles are what this node does: ingest (read the sources and
	// publish their records), detect (run the detectors over a share of
	// the partitions) and api (serve the API and console from the
	// store). All three unless set.
	Roles []string `yaml:"roles"`
	// Node names this node (host and process ID by default); a
	// producer's name must stay the same across its restarts.
	Node string `yaml:"node"`
	// Producers names the ingest nodes (their Node names) that detector
	// nodes wait for from the start; others are waited for once they
	// register. Listing them makes a replay's merge exact however the
	// producers' first records race.
	Producers []string `yaml:"producers"`
	// MetricsListen, when set, is the address where a node serves its
	// cluster metrics (/metrics, Prometheus text) and /healthz; an api
	// node also serves the service's own on its listener.
	MetricsListen string `yaml:"metrics_listen"`
	// LeaseTTL is how long a node's leases outlive it.
	LeaseTTL Duration `yaml:"lease_ttl"`
	// Replay lists inputs (files, folders) an ingest node publishes
	// once, in event-time order as picket analyze reads them, before it
	// ends its input and stops: a replay of old logs across the cluster.
	Replay []string `yaml:"replay"`
}

// ClusterRoles are the roles a cluster node may take.
var ClusterRoles = []string{"ingest", "detect", "api"}

// HasRole reports whether the node takes role.
func (c Cluster) HasRole(role string) bool {
	return len(c.Roles) == 0 || slices.Contains(c.Roles, role)
}

// Enrich names the databases that give the addresses of API callers
// context: where they are, whose network they are on, whether they are
// inside AWS. Without them the CloudTrail detectors that need it (the
// instance credential detector needs AWS's ranges; the profile detector
// learns countries and networks) see less.
type Enrich struct {
	// GeoIPCity is a MaxMind-format city or country database (.mmdb).
	GeoIPCity string `yaml:"geoip_city"`
	// GeoIPASN is a MaxMind-format ASN or ISP database (.mmdb).
	GeoIPASN string `yaml:"geoip_asn"`
	// AWSIPRanges is AWS's published ip-ranges.json: AWSIPRangesAuto
	// (or empty, the default) for a copy kept in the data directory,
	// fetched from AWSIPRangesURL when missing or a day old and
	// refreshed daily; AWSIPRangesOff for none; else a file, used as it
	// is.
	AWSIPRanges string `yaml:"aws_ip_ranges"`
	// AWSIPRangesURL is where the kept copy is fetched from. Empty
	// fetches nothing (the copy in the data directory, if any, is used
	// however old); picket serve sets AWS's URL when neither the file
	// nor a flag names one, so that code that builds a Config, tests
	// among it, never reaches the internet unasked.
	AWSIPRangesURL string `yaml:"aws_ip_ranges_url"`
	// The files are read when the service starts, which fails with an
	// error naming a file that cannot be read; fetching never fails the
	// start: without ranges the service runs, and logs which detectors
	// are blind.
}

// Inventory says where the estate's inventory comes from: a folder of the
// JSON that the AWS CLI's describe commands print, and the AWS APIs,
// polled. With neither, findings carry what the logs say and no more.
type Inventory struct {
	// Dir is a folder of describe outputs (see inventory.Load), read at
	// start and again at each poll.
	Dir string `yaml:"dir"`
	// Regions are the regions whose APIs are polled, with the AWS SDK's
	// usual credential chain. Empty polls nothing.
	Regions []string `yaml:"regions"`
	// PollInterval is how often the APIs are polled (and Dir re-read).
	PollInterval Duration `yaml:"poll_interval"`
	// Endpoint, when set, is the base URL every AWS client calls instead
	// of AWS's (a recorded-response server, a proxy).
	Endpoint string `yaml:"endpoint"`
	// Keep is how many polled snapshots are kept, so that findings about
	// older traffic are explained with the estate as it was then.
	Keep int `yaml:"keep"`
}

// Inventory defaults.
const (
	DefaultInventoryPoll = 15 * time.Minute
	DefaultInventoryKeep = 96 // a day of 15-minute polls
)

// The values of Enrich.AWSIPRanges that name no file.
const (
	AWSIPRangesAuto = "auto"
	AWSIPRangesOff  = "off"
)

// Intel configures the trusted and threat lists managed through the API
// (IPSets, ThreatIntelSets and the entity-set variants).
type Intel struct {
	// FilesDir, when set, lets a list's location be a local file under
	// it. Otherwise a location must be an s3:// or https:// URL, as in
	// GuardDuty: an API caller cannot make the service read its files.
	FilesDir string `yaml:"files_dir"`
	// RefreshInterval is how often the lists in use are fetched again
	// (a conditional request where the location supports one). A list
	// that changed is swapped in whole; one that fails keeps its last
	// good version.
	RefreshInterval Duration `yaml:"refresh_interval"`
}

// Log configures the service log.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn or error
	Format string `yaml:"format"` // text or json
}

// Store chooses the store: SQLite in the data directory unless a
// PostgreSQL DSN is given.
type Store struct {
	// SQLite is the database file; relative paths are below DataDir.
	SQLite string `yaml:"sqlite"`
	// Postgres is a PostgreSQL connection string (URL or key=value
	// form); when set, SQLite is not used.
	Postgres Secret `yaml:"postgres"`
}

// Credential is an access key the API accepts.
type Credential struct {
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey Secret `yaml:"secret_access_key"`
	// Account the key acts as; "" means Config.Account.
	Account string `yaml:"account"`
}

// Ingest tunes the pipeline between the sources and the store.
type Ingest struct {
	// CommitInterval is how often findings, checkpoints and detection
	// state are committed together.
	CommitInterval Duration `yaml:"commit_interval"`
	// Lateness is how far behind the newest event time a record may
	// arrive; the detectors decide once the watermark passes.
	Lateness Duration `yaml:"lateness"`
	// IdleFlush is how long the service waits, with no new records, before
	// it lets the watermark reach the newest event time: the last records
	// of a quiet source are then decided without waiting for newer ones.
	IdleFlush Duration `yaml:"idle_flush"`
	// FlowFormat is the field list of headerless flow logs ("": the
	// version 2 default format).
	FlowFormat string `yaml:"flow_format"`
	// MaxKeys bounds every detector table (0: each detector's default).
	MaxKeys int `yaml:"max_keys"`
	// MemoryBudget is the memory all detection state may take (0: each
	// table's own bound).
	MemoryBudget ByteSize `yaml:"memory_budget"`
	// MaxInterfaces bounds the interfaces whose addresses the flow
	// direction resolver remembers.
	MaxInterfaces int `yaml:"max_interfaces"`
	// SilentAfter is how far, in event time, an interface's or
	// account's last record may trail the newest record read before the
	// API's coverage calls it silent (UNHEALTHY).
	SilentAfter Duration `yaml:"silent_after"`
}

// Detectors tunes the detectors.
type Detectors struct {
	// Thresholds overrides thresholds, by detector ID then threshold
	// name (see picket detectors).
	Thresholds map[string]map[string]float64 `yaml:"thresholds"`
	// Disabled lists detectors not to run.
	Disabled []string `yaml:"disabled"`
	// Allow sets allowlists, by detector ID then list name (see picket
	// detectors), such as pentest's allowed_principals.
	Allow map[string]map[string][]string `yaml:"allow"`
}

// Sources lists where records come from.
type Sources struct {
	Watch    []Watch   `yaml:"watch"`
	S3       []S3      `yaml:"s3"`
	Firehose *Firehose `yaml:"firehose"`
}

// Watch is a watched directory.
type Watch struct {
	Path string `yaml:"path"`
	// PollInterval is how often the directory is listed.
	PollInterval Duration `yaml:"poll_interval"`
	// Notify, when false, turns off change notification (inotify): the
	// directory is then only listed every PollInterval. Unset is on.
	Notify *bool `yaml:"notify"`
	// Account, Region and FlowFormat apply to records that carry none
	// and whose path is outside the S3 layout.
	Account    string `yaml:"account"`
	Region     string `yaml:"region"`
	FlowFormat string `yaml:"flow_format"`
}

// S3 is a polled S3 prefix.
type S3 struct {
	Bucket string `yaml:"bucket"`
	Prefix string `yaml:"prefix"`
	// Region of the bucket (default: Config.Region).
	Region string `yaml:"region"`
	// Endpoint overrides the S3 endpoint, for S3-compatible stores.
	Endpoint string `yaml:"endpoint"`
	// PathStyle addresses buckets in the path, as most S3-compatible
	// stores need.
	PathStyle bool `yaml:"path_style"`
	// StartAfter skips the keys up to and including it on first start.
	StartAfter   string   `yaml:"start_after"`
	PollInterval Duration `yaml:"poll_interval"`
	// AccessKeyID and SecretAccessKey, when set, sign requests;
	// otherwise the AWS SDK's default chain (environment, shared
	// config, instance role) supplies credentials.
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey Secret `yaml:"secret_access_key"`
	Account         string `yaml:"account"`
	FlowFormat      string `yaml:"flow_format"`
}

// Firehose is the Amazon Data Firehose HTTP endpoint.
type Firehose struct {
	// Path the endpoint answers on.
	Path string `yaml:"path"`
	// AccessKeys are the values X-Amz-Firehose-Access-Key may carry.
	AccessKeys []Secret `yaml:"access_keys"`
	// MaxBodyBytes bounds a request body (after gzip decoding).
	MaxBodyBytes ByteSize `yaml:"max_body_bytes"`
	// AckTimeout bounds how long a request waits for the commit of its
	// records before it is answered 503 (Firehose waits three minutes).
	AckTimeout Duration `yaml:"ack_timeout"`
	// CommitDelay is how long after a request's records are processed
	// the commit that acknowledges them starts; requests within it share
	// one commit.
	CommitDelay Duration `yaml:"commit_delay"`
	// Account, Region and FlowFormat apply to records that carry none
	// and to requests without a source ARN.
	Account    string `yaml:"account"`
	Region     string `yaml:"region"`
	FlowFormat string `yaml:"flow_format"`
}

// The defaults, in code. Default returns a Config with all of them set.
const (
	DefaultListen         = "127.0.0.1:8080"
	DefaultDataDir        = "picket-data"
	DefaultAccount        = "000000000000"
	DefaultRegion         = "us-east-1"
	DefaultSQLite         = "picket.db"
	DefaultCommitInterval = 30 * time.Second
	DefaultLateness       = 15 * time.Minute
	DefaultIdleFlush      = 15 * time.Minute
	DefaultSilentAfter    = time.Hour
	DefaultMaxInterfaces  = 100_000
	DefaultWatchPoll      = 5 * time.Second
	DefaultS3Poll         = time.Minute
	DefaultFirehosePath   = "/firehose"
	DefaultFirehoseBody   = 96 << 20 // 64 MiB buffers, base64 and JSON framing
	DefaultAckTimeout     = 150 * time.Second
	DefaultCommitDelay    = time.Second
	DefaultIntelRefresh   = time.Hour
)

// Default returns the configuration used when no file is given.
func Default() *Config {
	return &Config{
		Listen:  DefaultListen,
		DataDir: DefaultDataDir,
		Account: DefaultAccount,
		Region:  DefaultRegion,
		Log:     Log{Level: "info", Format: "text"},
		Store:   Store{SQLite: DefaultSQLite},
		Ingest: Ingest{
			CommitInterval: Duration(DefaultCommitInterval),
			Lateness:       Duration(DefaultLateness),
			IdleFlush:      Duration(DefaultIdleFlush),
			MaxInterfaces:  DefaultMaxInterfaces,
			SilentAfter:    Duration(DefaultSilentAfter),
		},
		Intel:     Intel{RefreshInterval: Duration(DefaultIntelRefresh)},
		Inventory: Inventory{PollInterval: Duration(DefaultInventoryPoll), Keep: DefaultInventoryKeep},
		Publish:   Publish{PollInterval: Duration(DefaultPublishPoll), MaxBackoff: Duration(DefaultMaxBackoff)},
	}
}

// fillDefaults sets the defaults of list entries, which Default cannot
// know in advance.
func (c *Config) fillDefaults() {
	for i := range c.Sources.Watch {
		w := &c.Sources.Watch[i]
		if w.PollInterval == 0 {
			w.PollInterval = Duration(DefaultWatchPoll)
		}
	}
	for i := range c.Sources.S3 {
		s := &c.Sources.S3[i]
		if s.PollInterval == 0 {
			s.PollInterval = Duration(DefaultS3Poll)
		}
		if s.Region == "" {
			s.Region = c.Region
		}
	}
	if f := c.Sources.Firehose; f != nil {
		if f.Path == "" {
			f.Path = DefaultFirehosePath
		}
		if f.MaxBodyBytes == 0 {
			f.MaxBodyBytes = DefaultFirehoseBody
		}
		if f.AckTimeout == 0 {
			f.AckTimeout = Duration(DefaultAckTimeout)
		}
		if f.CommitDelay == 0 {
			f.CommitDelay = Duration(DefaultCommitDelay)
		}
	}
}

// Environment variables that supply an API credential.
const (
	EnvAccessKeyID     = "PICKET_ACCESS_KEY_ID"
	EnvSecretAccessKey = "PICKET_SECRET_ACCESS_KEY"
)

// Load reads the configuration file at path ("" for none: the defaults),
// applies override (the command line's flags; may be nil) and the
// credential in the environment (getenv; nil means os.Getenv), and
// validates the result. Its error lists every problem: unknown keys,
// values of the wrong type and invalid settings, each with its key path
// and, where known, its line.
func Load(path string, override func(*Config), getenv func(string) string) (*Config, error) {
	cfg := Default()
	var probs Problems
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading config: %w", err)
		}
		probs = decode(data, cfg)
		probs.file = path
	}
	if override != nil {
		override(cfg)
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	id, secret := getenv(EnvAccessKeyID), getenv(EnvSecretAccessKey)
	switch {
	case id != "" && secret != "":
		cfg.Credentials = append(cfg.Credentials, Credential{AccessKeyID: id, SecretAccessKey: Secret(secret)})
	case id != "" || secret != "":
		probs.add(0, "environment", "%s and %s must be set together", EnvAccessKeyID, EnvSecretAccessKey)
	}
	cfg.fillDefaults()
	cfg.fillPublishDefaults(getenv, &probs)
	cfg.validate(&probs)
	if len(probs.list) > 0 {
		return cfg, &probs
	}
	return cfg, nil
}

// Parse decodes and validates a configuration held in memory, without
// overrides or environment: for tests and tools.
func Parse(data []byte) (*Config, error) {
	cfg := Default()
	probs := decode(data, cfg)
	cfg.fillDefaults()
	cfg.fillPublishDefaults(nil, &probs)
	cfg.validate(&probs)
	if len(probs.list) > 0 {
		return cfg, &probs
	}
	return cfg, nil
}

// Problem is one thing wrong with a configuration.
type Problem struct {
	Line int    // 1-based line in the file, 0 when unknown
	Path string // key path, such as sources.watch[0].path
	Msg  string
}

// Problems is the error Load returns: every problem found.
type Problems struct {
	file  string
	list  []Problem
	lines map[string]int // line of each key path in the file
}

// List returns the problems in file order (problems without a line last).
func (p *Problems) List() []Problem { return p.list }

func (p *Problems) add(line int, path, format string, args ...any) {
	// A problem without a line is placed at its key, or at the closest
	// enclosing key that the file has (a missing key at its parent).
	for k := path; line == 0 && k != ""; {
		line = p.lines[k]
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	p.list = append(p.list, Problem{Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (p *Problems) Error() string {
	slices.SortStableFunc(p.list, func(a, b Problem) int {
		switch {
		case a.Line == b.Line:
			return 0
		case a.Line == 0:
			return 1
		case b.Line == 0:
			return -1
		}
		return a.Line - b.Line
	})
	var b strings.Builder
	name := p.file
	if name == "" {
		name = "config"
	}
	fmt.Fprintf(&b, "%s: %d problem", name, len(p.list))
	if len(p.list) != 1 {
		b.WriteString("s")
	}
	for _, pr := range p.list {
		b.WriteString("\n  ")
		if pr.Line > 0 {
			fmt.Fprintf(&b, "line %d: ", pr.Line)
		}
		b.WriteString(pr.Path)
		b.WriteString(": ")
		b.WriteString(pr.Msg)
	}
	return b.String()
}

// validate checks every setting and adds a problem for each bad one.
func (c *Config) validate(p *Problems) {
	if err := checkListen(c.Listen); err != nil {
		p.add(0, "listen", "%v", err)
	} else if c.InsecureNoAuth && !Loopback(c.Listen) {
		p.add(0, "insecure_no_auth", "allowed only on a loopback listener (127.0.0.1, ::1 or localhost), not %q: anyone who can reach it could read and change findings", c.Listen)
	}
	if c.DataDir == "" {
		p.add(0, "data_dir", "required")
	}
	checkAccount(p, "account", c.Account, false)
	checkRegion(p, "region", c.Region, false)
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		p.add(0, "log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		p.add(0, "log.format", "%q is not one of text, json", c.Log.Format)
	}
	if dsn := string(c.Store.Postgres); dsn != "" {
		if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") && !strings.Contains(dsn, "=") {
			p.add(0, "store.postgres", "not a PostgreSQL connection string (postgres://... or key=value ...)")
		}
	} else if c.Store.SQLite == "" {
		p.add(0, "store.sqlite", "required when store.postgres is not set")
	}
	c.validateCluster(p)
	ids := map[string]bool{}
	for i, cr := range c.Credentials {
		path := fmt.Sprintf("credentials[%d]", i)
		switch {
		case cr.AccessKeyID == "":
			p.add(0, path+".access_key_id", "required")
		case !accessKeyRE.MatchString(cr.AccessKeyID):
			p.add(0, path+".access_key_id", "%q is not an access key ID (16 to 128 letters and digits)", cr.AccessKeyID)
		case ids[cr.AccessKeyID]:
			p.add(0, path+".access_key_id", "%q is given twice", cr.AccessKeyID)
		}
		ids[cr.AccessKeyID] = true
		if len(cr.SecretAccessKey) < 16 {
			p.add(0, path+".secret_access_key", "required, at least 16 characters")
		}
		checkAccount(p, path+".account", cr.Account, true)
	}
	in := c.Ingest
	if d := in.CommitInterval.D(); d < 100*time.Millisecond || d > time.Hour {
		p.add(0, "ingest.commit_interval", "%v is outside 100ms to 1h", d)
	}
	if d := in.IdleFlush.D(); d < time.Second || d > 7*24*time.Hour {
		p.add(0, "ingest.idle_flush", "%v is outside 1s to 168h", d)
	}
	if d := in.SilentAfter.D(); d < time.Minute || d > 30*24*time.Hour {
		p.add(0, "ingest.silent_after", "%v is outside 1m to 720h", d)
	}
	if d := in.Lateness.D(); d < 0 || d > 24*time.Hour {
		p.add(0, "ingest.lateness", "%v is outside 0 to 24h", d)
	}
	checkFormat(p, "ingest.flow_format", in.FlowFormat)
	if in.MaxKeys < 0 {
		p.add(0, "ingest.max_keys", "must not be negative")
	}
	if in.MemoryBudget < 0 {
		p.add(0, "ingest.memory_budget", "must not be negative")
	}
	if in.MaxInterfaces < 16 {
		p.add(0, "ingest.max_interfaces", "%d is less than 16", in.MaxInterfaces)
	}
	for det, ts := range c.Detectors.Thresholds {
		if len(ts) == 0 {
			p.add(0, "detectors.thresholds."+det, "no thresholds given")
		}
	}
	for i, d := range c.Detectors.Disabled {
		if d == "" {
			p.add(0, fmt.Sprintf("detectors.disabled[%d]", i), "empty detector ID")
		}
	}
	for det, ls := range c.Detectors.Allow {
		if len(ls) == 0 {
			p.add(0, "detectors.allow."+det, "no allowlists given")
		}
	}
	if c.Intel.FilesDir != "" {
		if fi, err := os.Stat(c.Intel.FilesDir); err != nil || !fi.IsDir() {
			p.add(0, "intel.files_dir", "%q is not a directory", c.Intel.FilesDir)
		}
	}
	if d := c.Intel.RefreshInterval.D(); d < time.Second || d > 7*24*time.Hour {
		p.add(0, "intel.refresh_interval", "%v is outside 1s to 168h", d)
	}
	c.validateSources(p)
	c.validatePublish(p)
	c.validateInventory(p)
	if u := c.Enrich.AWSIPRangesURL; u != "" {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			p.add(0, "enrich.aws_ip_ranges_url", "%q is not an http:// or https:// URL", u)
		}
	}
}

func (c *Config) validateCluster(p *Problems) {
	cl := c.Cluster
	if cl.Bus == "" {
		if len(cl.Roles) > 0 || len(cl.Replay) > 0 {
			p.add(0, "cluster.bus", "required when cluster.roles or cluster.replay is set")
		}
		return
	}
	if !strings.HasPrefix(cl.Bus, "nats://") && !strings.HasPrefix(cl.Bus, "tls://") {
		p.add(0, "cluster.bus", "%q is not a NATS URL (nats://host:4222)", cl.Bus)
	}
	for i, r := range cl.Roles {
		if !slices.Contains(ClusterRoles, r) {
			p.add(0, fmt.Sprintf("cluster.roles[%d]", i), "%q is not one of %s", r, strings.Join(ClusterRoles, ", "))
		}
	}
	if cl.Partitions < 0 || cl.Partitions > 4096 {
		p.add(0, "cluster.partitions", "%d is not between 1 and 4096", cl.Partitions)
	}
	if string(c.Store.Postgres) == "" && (cl.HasRole("detect") || cl.HasRole("api")) {
		p.add(0, "store.postgres", "required in a cluster: every node shares the findings in PostgreSQL")
	}
	if len(cl.Replay) > 0 && !cl.HasRole("ingest") {
		p.add(0, "cluster.replay", "only an ingest node replays inputs")
	}
	if c.Sources.Firehose != nil && cl.HasRole("ingest") && cl.HasRole("api") {
		p.add(0, "sources.firehose", "in a cluster, the Firehose endpoint is an ingest node's, on its listen address: give that node --role ingest without api")
	}
}

func (c *Config) validateInventory(p *Problems) {
	inv := &c.Inventory
	if inv.Dir != "" {
		if fi, err := os.Stat(inv.Dir); err != nil || !fi.IsDir() {
			p.add(0, "inventory.dir", "%q is not a directory", inv.Dir)
		}
	}
	if d := inv.PollInterval.D(); d < time.Minute || d > 24*time.Hour {
		p.add(0, "inventory.poll_interval", "%v is outside 1m to 24h", d)
	}
	if inv.Keep < 1 || inv.Keep > 10_000 {
		p.add(0, "inventory.keep", "%d is outside 1 to 10000", inv.Keep)
	}
	for i, r := range inv.Regions {
		if !regionName(r) {
			p.add(0, fmt.Sprintf("inventory.regions[%d]", i), "%q is not a region name", r)
		}
	}
	if u := inv.Endpoint; u != "" {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			p.add(0, "inventory.endpoint", "%q is not an http:// or https:// URL", u)
		}
	}
}

// regionName reports whether s looks like an AWS region name
// ("us-east-1", "us-gov-west-1").
func regionName(s string) bool {
	if len(s) < 6 || len(s) > 32 || !strings.Contains(s, "-") {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return s[len(s)-1] >= '0' && s[len(s)-1] <= '9'
}

func (c *Config) validateSources(p *Problems) {
	seen := map[string]int{}
	for i, w := range c.Sources.Watch {
		path := fmt.Sprintf("sources.watch[%d]", i)
		if w.Path == "" {
			p.add(0, path+".path", "required")
		} else {
			abs, err := filepath.Abs(w.Path)
			if err == nil {
				if j, dup := seen[abs]; dup {
					p.add(0, path+".path", "%q is also sources.watch[%d]", w.Path, j)
				}
				seen[abs] = i
			}
		}
		checkPoll(p, path+".poll_interval", w.PollInterval)
		checkAccount(p, path+".account", w.Account, true)
		checkRegion(p, path+".region", w.Region, true)
		checkFormat(p, path+".flow_format", w.FlowFormat)
	}
	buckets := map[string]int{}
	for i, s := range c.Sources.S3 {
		path := fmt.Sprintf("sources.s3[%d]", i)
		if s.Bucket == "" {
			p.add(0, path+".bucket", "required")
		} else if !bucketRE.MatchString(s.Bucket) {
			p.add(0, path+".bucket", "%q is not a bucket name (3 to 63 lowercase letters, digits, dots and hyphens)", s.Bucket)
		}
		key := s.Endpoint + "\x00" + s.Bucket + "\x00" + s.Prefix
		if j, dup := buckets[key]; dup {
			p.add(0, path, "the same bucket and prefix as sources.s3[%d]", j)
		}
		buckets[key] = i
		checkRegion(p, path+".region", s.Region, false)
		if s.Endpoint != "" {
			u, err := url.Parse(s.Endpoint)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				p.add(0, path+".endpoint", "%q is not an http:// or https:// URL", s.Endpoint)
			}
		}
		if (s.AccessKeyID == "") != (s.SecretAccessKey == "") {
			p.add(0, path, "access_key_id and secret_access_key must be given together")
		}
		if s.StartAfter != "" && !strings.HasPrefix(s.StartAfter, s.Prefix) {
			p.add(0, path+".start_after", "%q is not under the prefix %q", s.StartAfter, s.Prefix)
		}
		checkPoll(p, path+".poll_interval", s.PollInterval)
		checkAccount(p, path+".account", s.Account, true)
		checkFormat(p, path+".flow_format", s.FlowFormat)
	}
	if f := c.Sources.Firehose; f != nil {
		const path = "sources.firehose"
		switch {
		case !strings.HasPrefix(f.Path, "/"):
			p.add(0, path+".path", "%q does not start with /", f.Path)
		case slices.Contains(ReservedPaths, f.Path) || strings.HasPrefix(f.Path, "/detector") || strings.HasPrefix(f.Path, "/tags"):
			p.add(0, path+".path", "%q is taken by the API, health or metrics", f.Path)
		}
		if len(f.AccessKeys) == 0 && !c.InsecureNoAuth {
			p.add(0, path+".access_keys", "at least one access key is required (or insecure_no_auth on loopback)")
		}
		for i, k := range f.AccessKeys {
			if len(k) < 8 || len(k) > 4096 {
				p.add(0, fmt.Sprintf("%s.access_keys[%d]", path, i), "must be 8 to 4096 characters")
			}
		}
		if f.MaxBodyBytes < 1<<10 || f.MaxBodyBytes > 1<<30 {
			p.add(0, path+".max_body_bytes", "%d is outside 1KiB to 1GiB", f.MaxBodyBytes)
		}
		if d := f.AckTimeout.D(); d < time.Second || d > 3*time.Minute {
			p.add(0, path+".ack_timeout", "%v is outside 1s to 3m (Firehose gives up after three minutes)", d)
		}
		if d := f.CommitDelay.D(); d < 0 || d > time.Minute {
			p.add(0, path+".commit_delay", "%v is outside 0 to 1m", d)
		}
		checkAccount(p, path+".account", f.Account, true)
		checkRegion(p, path+".region", f.Region, true)
		checkFormat(p, path+".flow_format", f.FlowFormat)
	}
}

// ReservedPaths are served by picket itself on the listener.
var ReservedPaths = []string{"/healthz", "/readyz", "/metrics"}

var (
	accessKeyRE = regexp.MustCompile(`^[A-Za-z0-9]{16,128}$`)
	accountRE   = regexp.MustCompile(`^[0-9]{12}$`)
	regionRE    = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	bucketRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
)

func checkAccount(p *Problems, path, v string, optional bool) {
	if v == "" && optional {
		return
	}
	if !accountRE.MatchString(v) {
		p.add(0, path, "%q is not a 12-digit account ID", v)
	}
}

func checkRegion(p *Problems, path, v string, optional bool) {
	if v == "" && optional {
		return
	}
	if !regionRE.MatchString(v) {
		p.add(0, path, "%q is not a region name such as us-east-1", v)
	}
}

func checkFormat(p *Problems, path, v string) {
	if v == "" {
		return
	}
	if _, err := vpcflow.ParseFormat(v); err != nil {
		p.add(0, path, "%v", err)
	}
}

func checkPoll(p *Problems, path string, d Duration) {
	if d.D() < 10*time.Millisecond || d.D() > 24*time.Hour {
		p.add(0, path, "%v is outside 10ms to 24h", d.D())
	}
}

func checkListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	_ = host
	return nil
}

// Loopback reports whether a listen address can only be reached from this
// machine: an explicit loopback address or localhost. An empty host (all
// interfaces) is not loopback.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// Secret is a secret in the configuration. It redacts itself in logs and
// formatted output; convert it to string to use it.
type Secret string

// LogValue keeps the secret out of structured logs.
func (Secret) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// String keeps the secret out of fmt's %s and %v.
func (Secret) String() string { return "REDACTED" }

// GoString keeps the secret out of fmt's %#v.
func (Secret) GoString() string { return "config.Secret(REDACTED)" }

// Duration is a time.Duration written as "30s", "5m" or "1h30m".
type Duration time.Duration

// D returns the duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// ByteSize is a size in bytes written as a number with an optional unit:
// B, KiB, MiB, GiB (KB, MB and GB mean the same powers of 1024).
type ByteSize int64

// ParseByteSize parses a size such as 512MiB.
func ParseByteSize(s string) (ByteSize, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}}
	num := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range units {
		if v, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(v), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n < 0 || n*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("%q is not a size such as 512MiB", s)
	}
	return ByteSize(n * float64(mult)), nil
}

var errNotDuration = errors.New("not a duration such as 30s, 5m or 1h30m")
