package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
)

// Publish lists the push targets: where every new finding goes at once,
// and every change at its detector's publishing frequency. Each target
// has a name, unique among them, under which the store keeps what it has
// sent; renaming a target makes it a new one, which sends only findings
// committed after it appeared.
type Publish struct {
	// PollInterval is how often a target with nothing to send looks for
	// more: the bound on the wait between a commit and the start of its
	// delivery.
	PollInterval Duration `yaml:"poll_interval"`
	// MaxBackoff bounds the wait between attempts of a failing target;
	// the wait starts at a second and doubles.
	MaxBackoff  Duration      `yaml:"max_backoff"`
	Webhooks    []Webhook     `yaml:"webhooks"`
	Syslog      []Syslog      `yaml:"syslog"`
	EventBridge []EventBridge `yaml:"eventbridge"`
	S3          []PublishS3   `yaml:"s3"`
	SecurityHub []SecurityHub `yaml:"securityhub"`
	// Destinations is where the publishing destinations created through
	// the API (CreatePublishingDestination) are written: the S3 endpoint
	// and credentials for all of them; each names its own bucket and
	// prefix. Nil (no destinations key) means picket cannot write to
	// them: they are created, and shown as unable to publish.
	Destinations *Destinations `yaml:"destinations"`
}

// Destinations is how picket reaches the buckets of the API's publishing
// destinations: AWS S3 (the default) or an S3-compatible store.
type Destinations struct {
	// Endpoint overrides the S3 endpoint (http:// or https://), for an
	// S3-compatible store.
	Endpoint  string `yaml:"endpoint"`
	Region    string `yaml:"region"` // default: Config.Region
	PathStyle bool   `yaml:"path_style"`
	// AccessKeyID and SecretAccessKey (or SecretAccessKeyEnv, naming an
	// environment variable that holds the secret) sign the requests;
	// without them the AWS SDK's default chain does.
	AccessKeyID        string `yaml:"access_key_id"`
	SecretAccessKey    Secret `yaml:"secret_access_key"`
	SecretAccessKeyEnv string `yaml:"secret_access_key_env"`
	// SSEKMS has the store encrypt each object with the destination's
	// kmsKeyArn (x-amz-server-side-encryption: aws:kms). Off by default:
	// the key is then kept and shown, and the bucket's own encryption
	// applies. Turn it on only for a store that has that key (AWS S3).
	SSEKMS bool `yaml:"sse_kms"`
}

// Webhook is an HTTPS endpoint that receives each finding in a POST.
type Webhook struct {
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
	// Format is eventbridge (default), finding, ocsf or asff.
	Format string `yaml:"format"`
	// Secret signs each request with HMAC-SHA256; SecretEnv names an
	// environment variable that holds it instead.
	Secret    Secret            `yaml:"secret"`
	SecretEnv string            `yaml:"secret_env"`
	Headers   map[string]string `yaml:"headers"`
	// InsecureHTTP allows an http:// URL, for a receiver on loopback.
	InsecureHTTP bool `yaml:"insecure_http"`
}

// Syslog is a syslog receiver: RFC 5424 messages over TCP or TLS, framed
// by octet counting.
type Syslog struct {
	Name    string `yaml:"name"`
	Address string `yaml:"address"` // host:port
	TLS     bool   `yaml:"tls"`
	// CAFile holds the PEM certificates that verify the receiver (default:
	// the system's).
	CAFile string `yaml:"ca_file"`
	// ServerName is the name the receiver's certificate must carry
	// (default: the address's host).
	ServerName string `yaml:"server_name"`
	// Format of the message body: eventbridge (default), finding, ocsf
	// or asff.
	Format   string `yaml:"format"`
	Facility int    `yaml:"facility"` // 0 to 23; 0 means 10, authpriv
	Hostname string `yaml:"hostname"` // default: this machine's name
}

// EventBridge is an event bus that receives PutEvents calls.
type EventBridge struct {
	Name   string `yaml:"name"`
	Region string `yaml:"region"` // default: Config.Region
	// Endpoint overrides the EventBridge endpoint.
	Endpoint string `yaml:"endpoint"`
	// EventBus is the bus's name or ARN ("": the default bus).
	EventBus string `yaml:"event_bus"`
	// Source of the events (default aws.guardduty, which a real bus
	// refuses from anyone but AWS: set your own there).
	Source          string `yaml:"source"`
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey Secret `yaml:"secret_access_key"`
}

// SecurityHub is AWS Security Hub (or an endpoint that answers as it
// does), into which findings are imported with BatchImportFindings.
// Security Hub takes a finding of the default product only from the
// account the finding names and only in its region, so a target takes
// the findings of one account and region, and its credentials must be
// that account's.
type SecurityHub struct {
	Name string `yaml:"name"`
	// Region is where Security Hub is enabled and the findings are of;
	// required, rather than the configuration's default, because a
	// target sends nothing of other regions.
	Region string `yaml:"region"`
	// Account is the 12-digit account of the credentials and of the
	// findings the target takes; required.
	Account string `yaml:"account"`
	// Endpoint overrides the Security Hub endpoint (a VPC endpoint, or
	// a local one for tests).
	Endpoint string `yaml:"endpoint"`
	// AccessKeyID and SecretAccessKey sign the calls; without them the
	// AWS SDK's default chain does.
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey Secret `yaml:"secret_access_key"`
}

// PublishS3 is a publishing destination in S3 or an S3-compatible store.
type PublishS3 struct {
	Name      string `yaml:"name"`
	Bucket    string `yaml:"bucket"`
	Prefix    string `yaml:"prefix"`
	Region    string `yaml:"region"` // default: Config.Region
	Endpoint  string `yaml:"endpoint"`
	PathStyle bool   `yaml:"path_style"`
	// KMSKeyARN has S3 encrypt each object with that key.
	KMSKeyARN       string `yaml:"kms_key_arn"`
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey Secret `yaml:"secret_access_key"`
}

// The defaults of publishing.
const (
	DefaultPublishPoll = 250 * time.Millisecond
	DefaultMaxBackoff  = 5 * time.Minute
)

// destinationTargetPrefix begins the names under which the publisher
// keeps what each of the API's publishing destinations sent
// (publish.DestinationPrefix).
const destinationTargetPrefix = "publishingDestination/"

// publishFormats are the formats a target may name.
var publishFormats = []string{"eventbridge", "finding", "ocsf", "asff"}

func (c *Config) fillPublishDefaults(getenv func(string) string, p *Problems) {
	pb := &c.Publish
	for i := range pb.Webhooks {
		w := &pb.Webhooks[i]
		if w.SecretEnv != "" && getenv != nil {
			v := getenv(w.SecretEnv)
			if v == "" {
				p.add(0, fmt.Sprintf("publish.webhooks[%d].secret_env", i), "$%s is not set", w.SecretEnv)
			}
			w.Secret = Secret(v)
		}
	}
	for i := range pb.EventBridge {
		if pb.EventBridge[i].Region == "" {
			pb.EventBridge[i].Region = c.Region
		}
	}
	for i := range pb.S3 {
		if pb.S3[i].Region == "" {
			pb.S3[i].Region = c.Region
		}
	}
	if d := pb.Destinations; d != nil {
		if d.Region == "" {
			d.Region = c.Region
		}
		if d.SecretAccessKeyEnv != "" && d.SecretAccessKey != "" {
			p.add(0, "publish.destinations", "secret_access_key and secret_access_key_env are alternatives; give one")
		} else if d.SecretAccessKeyEnv != "" && getenv != nil {
			v := getenv(d.SecretAccessKeyEnv)
			if v == "" {
				p.add(0, "publish.destinations.secret_access_key_env", "$%s is not set", d.SecretAccessKeyEnv)
			}
			d.SecretAccessKey = Secret(v)
		}
	}
	if pb.Syslog != nil {
		host, _ := os.Hostname()
		for i := range pb.Syslog {
			if pb.Syslog[i].Hostname == "" {
				pb.Syslog[i].Hostname = host
			}
		}
	}
}

func (c *Config) validatePublish(p *Problems) {
	pb := c.Publish
	if d := pb.PollInterval.D(); d < 10*time.Millisecond || d > time.Hour {
		p.add(0, "publish.poll_interval", "%v is outside 10ms to 1h", d)
	}
	if d := pb.MaxBackoff.D(); d < time.Second || d > 24*time.Hour {
		p.add(0, "publish.max_backoff", "%v is outside 1s to 24h", d)
	}
	names := map[string]string{}
	name := func(path, n string) {
		switch {
		case n == "":
			p.add(0, path+".name", "required")
		case strings.ContainsAny(n, " \t\n"):
			p.add(0, path+".name", "%q has white space", n)
		case strings.HasPrefix(n, destinationTargetPrefix):
			p.add(0, path+".name", "%q begins with %s, which names the API's publishing destinations", n, destinationTargetPrefix)
		case names[n] != "":
			p.add(0, path+".name", "%q is also %s", n, names[n])
		default:
			names[n] = path
		}
	}
	format := func(path, f string) {
		if f == "" {
			return
		}
		for _, ok := range publishFormats {
			if f == ok {
				return
			}
		}
		p.add(0, path+".format", "%q is not one of %s", f, strings.Join(publishFormats, ", "))
	}
	endpoint := func(path, e string) {
		if e == "" {
			return
		}
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.add(0, path+".endpoint", "%q is not an http:// or https:// URL", e)
		}
	}
	keys := func(path, id string, secret Secret) {
		if (id == "") != (secret == "") {
			p.add(0, path, "access_key_id and secret_access_key must be given together")
		}
	}
	for i, w := range pb.Webhooks {
		path := fmt.Sprintf("publish.webhooks[%d]", i)
		name(path, w.Name)
		u, err := url.Parse(w.URL)
		switch {
		case w.URL == "":
			p.add(0, path+".url", "required")
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
			p.add(0, path+".url", "%q is not an https:// URL", w.URL)
		case u.Scheme == "http" && !w.InsecureHTTP:
			p.add(0, path+".url", "%q is not https:// (insecure_http allows it)", w.URL)
		}
		format(path, w.Format)
		if w.Secret != "" && len(w.Secret) < 16 {
			p.add(0, path+".secret", "at least 16 characters")
		}
	}
	for i, s := range pb.Syslog {
		path := fmt.Sprintf("publish.syslog[%d]", i)
		name(path, s.Name)
		if _, port, err := net.SplitHostPort(s.Address); err != nil || port == "" {
			p.add(0, path+".address", "%q is not host:port", s.Address)
		}
		if (s.CAFile != "" || s.ServerName != "") && !s.TLS {
			p.add(0, path, "ca_file and server_name need tls: true")
		}
		if s.CAFile != "" {
			if _, err := os.Stat(s.CAFile); err != nil {
				p.add(0, path+".ca_file", "%q cannot be read", s.CAFile)
			}
		}
		format(path, s.Format)
		if s.Facility < 0 || s.Facility > 23 {
			p.add(0, path+".facility", "%d is outside 0 to 23", s.Facility)
		}
	}
	for i, e := range pb.EventBridge {
		path := fmt.Sprintf("publish.eventbridge[%d]", i)
		name(path, e.Name)
		checkRegion(p, path+".region", e.Region, false)
		endpoint(path, e.Endpoint)
		keys(path, e.AccessKeyID, e.SecretAccessKey)
	}
	for i, s := range pb.S3 {
		path := fmt.Sprintf("publish.s3[%d]", i)
		name(path, s.Name)
		if s.Bucket == "" {
			p.add(0, path+".bucket", "required")
		} else if !bucketRE.MatchString(s.Bucket) {
			p.add(0, path+".bucket", "%q is not a bucket name (3 to 63 lowercase letters, digits, dots and hyphens)", s.Bucket)
		}
		if s.Prefix != "" && !strings.HasSuffix(s.Prefix, "/") {
			p.add(0, path+".prefix", "%q does not end in /", s.Prefix)
		}
		checkRegion(p, path+".region", s.Region, false)
		endpoint(path, s.Endpoint)
		keys(path, s.AccessKeyID, s.SecretAccessKey)
	}
	for i, h := range pb.SecurityHub {
		path := fmt.Sprintf("publish.securityhub[%d]", i)
		name(path, h.Name)
		if h.Region == "" {
			p.add(0, path+".region", "required: the region whose findings go to this Security Hub")
		} else {
			checkRegion(p, path+".region", h.Region, false)
		}
		if h.Account == "" {
			p.add(0, path+".account", "required: the account of the credentials, whose findings go to this Security Hub")
		} else {
			checkAccount(p, path+".account", h.Account, false)
		}
		endpoint(path, h.Endpoint)
		keys(path, h.AccessKeyID, h.SecretAccessKey)
	}
	if d := pb.Destinations; d != nil {
		const path = "publish.destinations"
		checkRegion(p, path+".region", d.Region, false)
		endpoint(path, d.Endpoint)
		if d.SecretAccessKeyEnv == "" || d.SecretAccessKey != "" {
			// (An unset variable is reported already.)
			keys(path, d.AccessKeyID, d.SecretAccessKey)
		}
	}
}
