package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestBadConfigs runs every testdata/*.bad.yaml: its "# want:" lines are
// the problems it must produce, all of them and nothing else.
func TestBadConfigs(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.bad.yaml")
	if len(files) < 8 {
		t.Fatalf("only %d bad configs", len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, line := range strings.Split(string(data), "\n") {
				if w, ok := strings.CutPrefix(line, "# want: "); ok {
					want = append(want, w)
				}
			}
			_, err = Parse(data)
			var probs *Problems
			if !errors.As(err, &probs) {
				t.Fatalf("Parse: %v, want problems", err)
			}
			var got []string
			for _, p := range probs.List() {
				s := p.Path + ": " + p.Msg
				if p.Line > 0 {
					s = fmt.Sprintf("line %d: %s", p.Line, s)
				}
				got = append(got, s)
			}
			slices.Sort(got)
			slices.Sort(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s\nerror:\n%v", diff, err)
			}
		})
	}
}

func TestFullConfig(t *testing.T) {
	data, err := os.ReadFile("testdata/full.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Listen: "127.0.0.1:8443", DataDir: "/var/lib/picket", Account: "123456789012", Region: "eu-west-1",
		Log:   Log{Level: "debug", Format: "json"},
		Store: Store{SQLite: "findings.db"},
		Credentials: []Credential{{
			AccessKeyID: "AKIAPICKETEXAMPLE01", SecretAccessKey: "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY", Account: "210987654321",
		}},
		Ingest: Ingest{
			CommitInterval: Duration(10 * time.Second), Lateness: Duration(20 * time.Minute),
			FlowFormat: "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status",
			MaxKeys:    50000, MemoryBudget: 512 << 20, MaxInterfaces: 20000, IdleFlush: Duration(5 * time.Minute),
			SilentAfter: Duration(2 * time.Hour),
		},
		Detectors: Detectors{
			Thresholds: map[string]map[string]float64{"portscan": {"min_ports": 20}},
			Disabled:   []string{"bruteforce"},
			Allow: map[string]map[string][]string{"pentest": {
				"allowed_principals": {"arn:aws:iam::123456789012:role/security-audit", "audit-bot"},
			}},
		},
		Intel: Intel{FilesDir: "testdata", RefreshInterval: Duration(15 * time.Minute)},
		Enrich: Enrich{
			GeoIPCity: "/var/lib/geoip/GeoLite2-City.mmdb", GeoIPASN: "/var/lib/geoip/GeoLite2-ASN.mmdb",
			AWSIPRanges: "/var/lib/picket/ip-ranges.json", AWSIPRangesURL: "https://mirror.example.com/aws/ip-ranges.json",
		},
		Inventory: Inventory{
			Dir: "testdata", Regions: []string{"eu-west-1", "us-east-1"}, PollInterval: Duration(30 * time.Minute),
			Endpoint: "http://127.0.0.1:4566", Keep: 48,
		},
		Sources: Sources{
			Watch: []Watch{{Path: "/var/log/flowlogs", PollInterval: Duration(2 * time.Second), Notify: new(false), Account: "123456789012", Region: "eu-west-1"}},
			S3: []S3{{
				Bucket: "my-flow-logs", Prefix: "AWSLogs/123456789012/vpcflowlogs/eu-west-1/", Region: "eu-west-1",
				Endpoint: "http://127.0.0.1:9000", PathStyle: true, PollInterval: Duration(30 * time.Second),
			}},
			Firehose: &Firehose{
				Path: "/firehose", AccessKeys: []Secret{"firehose-shared-secret-1"}, MaxBodyBytes: 64 << 20,
				AckTimeout: Duration(2 * time.Minute), CommitDelay: Duration(500 * time.Millisecond),
			},
		},
		Publish: Publish{
			PollInterval: Duration(100 * time.Millisecond), MaxBackoff: Duration(time.Minute),
			Webhooks: []Webhook{{Name: "soc", URL: "https://hooks.example.com/picket", Format: "ocsf",
				Secret: "a-webhook-secret-of-32-characters", Headers: map[string]string{"X-Team": "security"}}},
			Syslog: []Syslog{{Name: "siem", Address: "siem.example.com:6514", TLS: true, ServerName: "siem.example.com",
				Format: "finding", Facility: 13, Hostname: "picket-1"}},
			EventBridge: []EventBridge{{Name: "bus", Region: "eu-west-1", Endpoint: "http://127.0.0.1:4010", EventBus: "security", Source: "picket.findings"}},
			S3: []PublishS3{{Name: "archive", Bucket: "guardduty-exports", Prefix: "picket/", Region: "eu-central-1",
				KMSKeyARN: "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"}},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

func TestDefaults(t *testing.T) {
	got, err := Parse([]byte("# nothing\n"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Default(), got); diff != "" {
		t.Errorf("empty file (-want +got):\n%s", diff)
	}
	// List entries get their defaults too.
	got, err = Parse([]byte("sources:\n  watch:\n    - path: /x\n  s3:\n    - bucket: b-1\n  firehose:\n    access_keys: [abcdefgh]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Sources.Watch[0].PollInterval.D() != DefaultWatchPoll || got.Sources.S3[0].PollInterval.D() != DefaultS3Poll ||
		got.Sources.S3[0].Region != DefaultRegion || got.Sources.Firehose.Path != DefaultFirehosePath ||
		got.Sources.Firehose.MaxBodyBytes != DefaultFirehoseBody {
		t.Errorf("list defaults not filled: %+v", got.Sources)
	}
}

// TestLoadOverridesAndEnvironment checks the order: file, then flags, then
// the credential from the environment, then validation of the whole.
func TestLoadOverridesAndEnvironment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "picket.yaml")
	os.WriteFile(path, []byte("listen: 127.0.0.1:9000\ninsecure_no_auth: true\n"), 0o600)
	env := map[string]string{EnvAccessKeyID: "AKIAENVIRONMENT0001", EnvSecretAccessKey: "env-secret-0123456789"}
	cfg, err := Load(path, func(c *Config) { c.DataDir = "/tmp/d" }, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:9000" || cfg.DataDir != "/tmp/d" || len(cfg.Credentials) != 1 || cfg.Credentials[0].AccessKeyID != "AKIAENVIRONMENT0001" {
		t.Errorf("loaded %+v", cfg)
	}
	// A flag that moves the listener off loopback makes the file's
	// insecure_no_auth invalid.
	_, err = Load(path, func(c *Config) { c.Listen = "0.0.0.0:9000" }, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "insecure_no_auth: allowed only on a loopback listener") {
		t.Errorf("public insecure listener: %v", err)
	}
	_, err = Load(path, nil, func(k string) string {
		if k == EnvAccessKeyID {
			return "AKIAENVIRONMENT0001"
		}
		return ""
	})
	if err == nil || !strings.Contains(err.Error(), "PICKET_ACCESS_KEY_ID and PICKET_SECRET_ACCESS_KEY must be set together") {
		t.Errorf("half a credential: %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), nil, nil); err == nil {
		t.Error("a missing file loaded")
	}
}

func TestErrorListsEveryProblemInFileOrder(t *testing.T) {
	_, err := Parse([]byte("listen: nope\nfoo: 1\nbar: 2\n"))
	want := "config: 3 problems\n  line 1: listen: \"nope\" is not host:port\n  line 2: foo: unknown key\n  line 3: bar: unknown key"
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
}

func TestSecretsRedact(t *testing.T) {
	s := Secret("hunter2-hunter2-hunter2")
	c := Credential{AccessKeyID: "AKIA", SecretAccessKey: s}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "secret", s, "cred", c)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v", c, c, c), logged.String()} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("secret leaked: %s", out)
		}
	}
}

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "[::1]:8080": true, "localhost:1": true, "127.1.2.3:80": true,
		"0.0.0.0:8080": false, ":8080": false, "10.0.0.1:80": false, "[::]:80": false, "example.com:80": false,
	} {
		if got := Loopback(addr); got != want {
			t.Errorf("Loopback(%q) = %v", addr, got)
		}
	}
}
