package app

import (
	"bytes"
	"compress/gzip"
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"picket/internal/enrich"
	"picket/internal/event"
)

func trailEvent(ts, name, ip string) string {
	return `{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/alice",` +
		`"accountId":"111122223333","userName":"alice"},"eventTime":"` + ts + `","eventSource":"ec2.amazonaws.com","eventName":"` + name +
		`","awsRegion":"eu-west-1","sourceIPAddress":"` + ip + `","userAgent":"aws-cli/2","eventID":"` + name + `","recipientAccountId":"111122223333"}`
}

func writeFile(t *testing.T, path string, data []byte, gz bool) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if gz {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(data)
		zw.Close()
		data = buf.Bytes()
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestAnalyzeCloudTrailAndFlows runs one analysis over flow logs and
// CloudTrail in the S3 layout: both are read, digest files are skipped,
// bad events are counted apart from bad flow records, and the summary
// counts records by kind.
func TestAnalyzeCloudTrailAndFlows(t *testing.T) {
	dir := t.TempDir()
	trail := filepath.Join(dir, "AWSLogs/111122223333/CloudTrail/eu-west-1/2024/03/01/111122223333_CloudTrail_eu-west-1_20240301T1005Z_abc.json.gz")
	writeFile(t, trail, []byte(`{"Records":[`+
		trailEvent("2024-03-01T10:00:00Z", "DescribeInstances", "203.0.113.5")+","+
		`{"eventVersion":"1.08","eventTime":1709287200,"eventName":"Bad","eventSource":"ec2.amazonaws.com"},`+
		trailEvent("2024-03-01T10:02:00Z", "DescribeVolumes", "ec2.amazonaws.com")+`]}`), true)
	digest := filepath.Join(dir, "AWSLogs/111122223333/CloudTrail-Digest/eu-west-1/2024/03/01/111122223333_CloudTrail-Digest_eu-west-1_trail_eu-west-1_20240301T1100Z.json.gz")
	writeFile(t, digest, []byte(`{"awsAccountId":"111122223333","digestStartTime":"2024-03-01T10:00:00Z","logFiles":[]}`), true)
	lines := trailEvent("2024-03-01T10:01:00Z", "GetCallerIdentity", "2001:db8::5") + "\n"
	writeFile(t, filepath.Join(dir, "lake.jsonl"), []byte(lines), false)
	flows := "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n" +
		"2 111122223333 eni-0a1 198.51.100.9 10.0.0.5 40000 22 6 1 40 1709287200 1709287260 REJECT OK\n" +
		"2 111122223333 eni-0a1 198.51.100.9 10.0.0.5 40001 23 6 1 40 1709287260 1709287320 REJECT OK\n"
	writeFile(t, filepath.Join(dir, "flows.log"), []byte(flows), false)

	_, sum, err := Analyze(context.Background(), AnalyzeOptions{Paths: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.ByKind["api-call"] != 3 || sum.ByKind["flow"] != 2 || sum.Records != 5 {
		t.Errorf("records by kind %v (total %d), want 3 API calls and 2 flows", sum.ByKind, sum.Records)
	}
	if sum.Inputs != 3 || sum.Formats["cloudtrail"] != 2 || sum.Formats["vpc-flow-logs"] != 1 {
		t.Errorf("inputs %d, formats %v: want the digest skipped", sum.Inputs, sum.Formats)
	}
	if sum.Skipped["cloudtrail-type"] != 1 || len(sum.Examples) != 1 || !strings.Contains(sum.Examples[0], `record 2: field "eventTime"`) {
		t.Errorf("skipped %v, examples %v", sum.Skipped, sum.Examples)
	}
	if len(sum.InputErrors) != 0 {
		t.Errorf("input errors %v", sum.InputErrors)
	}
	// A digest named explicitly is read, holds no events, and is no error.
	_, sum, err = Analyze(context.Background(), AnalyzeOptions{Paths: []string{digest}})
	if err != nil || len(sum.InputErrors) != 0 || sum.Records != 0 {
		t.Errorf("explicit digest: %v, %v, %d records", err, sum.InputErrors, sum.Records)
	}
}

func testCityDB(t *testing.T) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoLite2-City", IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	_, n, _ := net.ParseCIDR("203.0.113.0/24")
	tree.Insert(n, mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String("DE"), "names": mmdbtype.Map{"en": mmdbtype.String("Germany")}}})
	path := filepath.Join(t.TempDir(), "city.mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestEnrichAPICalls checks that the pipeline fills an API call's source
// information from the databases given, and the account and region it
// lacks from its input.
func TestEnrichAPICalls(t *testing.T) {
	ranges := filepath.Join(t.TempDir(), "ip-ranges.json")
	writeFile(t, ranges, []byte(`{"prefixes":[{"ip_prefix":"203.0.113.0/25","region":"eu-central-1","service":"EC2"}]}`), false)
	opt := AnalyzeOptions{GeoIPCity: testCityDB(t), AWSIPRanges: ranges}
	opt.Log = slog.New(slog.DiscardHandler)
	ipinfo, closeFn, err := enrich.OpenIPInfos(opt.GeoIPCity, opt.GeoIPASN, opt.AWSIPRanges, opt.Log)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	e := &enrich.Enricher{IPInfo: ipinfo}
	a := &event.APICall{SourceIP: netip.MustParseAddr("203.0.113.5")}
	e.Record(a, event.Intern("999999999999"), event.Intern("ap-south-1"))
	in := a.SourceInfo
	if in.CountryCode.String() != "DE" || !in.AWS.True() || in.AWSService.String() != "EC2" ||
		a.Account.String() != "999999999999" || a.Region.String() != "ap-south-1" {
		t.Errorf("%+v", a)
	}
}

// TestBadDatabases checks that a database that cannot be loaded stops
// the analysis at start with an error naming it.
func TestBadDatabases(t *testing.T) {
	junk := filepath.Join(t.TempDir(), "junk.json")
	writeFile(t, junk, []byte("not json"), false)
	for _, opt := range []AnalyzeOptions{
		{GeoIPCity: "/nonexistent/city.mmdb"},
		{GeoIPASN: junk},
		{AWSIPRanges: junk},
	} {
		opt.Paths = []string{t.TempDir()}
		_, _, err := Analyze(context.Background(), opt)
		name := opt.GeoIPCity + opt.GeoIPASN + opt.AWSIPRanges
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v", name, err)
		}
	}
}
