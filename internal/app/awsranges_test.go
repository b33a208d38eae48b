package app

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"picket/internal/awsip"
	"picket/internal/finding"
)

// rangesDoc is an ip-ranges.json whose EC2 prefix holds the instance's
// address in stolenTrail.
const rangesDoc = `{"syncToken":"1709294400","createDate":"2024-03-01-12-00-00","prefixes":[` +
	`{"ip_prefix":"3.80.0.0/12","region":"us-east-1","service":"AMAZON","network_border_group":"us-east-1"},` +
	`{"ip_prefix":"3.80.0.0/12","region":"us-east-1","service":"EC2","network_border_group":"us-east-1"}]}`

// stolenTrail writes a trail in which an instance's role session calls
// from its own AWS address, then from an address outside AWS: with AWS's
// ranges that is InstanceCredentialExfiltration.OutsideAWS; without,
// nothing can be said.
func stolenTrail(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{"Records":[`)
	for i, ip := range []string{"3.85.1.2", "3.85.1.2", "198.51.100.7"} {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, `{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLEWEBROLE01:i-0a1b2c3d4e5f67890",`+
			`"arn":"arn:aws:sts::111122223333:assumed-role/web-instance-role/i-0a1b2c3d4e5f67890","accountId":"111122223333","accessKeyId":"ASIAEXAMPLEWEBSESS01",`+
			`"sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAEXAMPLEWEBROLE01","arn":"arn:aws:iam::111122223333:role/web-instance-role",`+
			`"accountId":"111122223333","userName":"web-instance-role"},"attributes":{"creationDate":"2024-03-01T09:12:44Z","mfaAuthenticated":"false"},"ec2RoleDelivery":"2.0"}},`+
			`"eventTime":"2024-03-01T1%d:00:00Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","awsRegion":"us-east-1","sourceIPAddress":%q,`+
			`"userAgent":"aws-cli/2.15.0","requestID":"req-%d","eventID":"evt-%d","readOnly":true,"eventType":"AwsApiCall","managementEvent":true,`+
			`"recipientAccountId":"111122223333","eventCategory":"Management"}`, i, ip, i, i)
	}
	b.WriteString("]}\n")
	path := filepath.Join(t.TempDir(), "trail.json")
	writeFile(t, path, []byte(b.String()), false)
	return path
}

// rangesServer serves doc, last modified at modified, or fails with
// status when it is set, and counts requests.
func rangesServer(t *testing.T, doc string, modified time.Time, status *atomic.Int32) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if status != nil && status.Load() != 0 {
			http.Error(w, "down", int(status.Load()))
			return
		}
		http.ServeContent(w, r, "ip-ranges.json", modified, strings.NewReader(doc))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// published is when rangesDoc was published.
var published = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func hasType(fs []*finding.Finding, typ string) bool {
	return slices.ContainsFunc(fs, func(f *finding.Finding) bool { return f.Type == typ })
}

// TestAnalyzeFetchesAWSRanges checks that an analysis with a directory
// for the copy fetches AWS's ranges once, keeps them, uses the copy the
// next time, and that the credential detector sees with them.
func TestAnalyzeFetchesAWSRanges(t *testing.T) {
	trail := stolenTrail(t)
	srv, requests := rangesServer(t, rangesDoc, published, nil)
	dir := filepath.Join(t.TempDir(), "cache")
	opt := AnalyzeOptions{Paths: []string{trail}, AWSIPRanges: AWSIPRangesAuto, AWSIPRangesDir: dir, AWSIPRangesURL: srv.URL, Workers: 1}

	fs, sum, err := Analyze(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	r := sum.AWSRanges
	if r.Origin != "fetched" || r.Ranges != "1 AWS prefixes published 2024-03-01" || r.Path != filepath.Join(dir, awsip.CacheFile) || r.Problem != "" || r.Blind != nil {
		t.Errorf("first run: %+v", r)
	}
	if !hasType(fs, finding.TypeCredentialExfilOutsideAWS) {
		t.Errorf("no %s with the fetched ranges", finding.TypeCredentialExfilOutsideAWS)
	}
	if b, err := os.ReadFile(r.Path); err != nil || string(b) != rangesDoc {
		t.Errorf("copy: %q, %v", b, err)
	}

	_, sum, err = Analyze(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if sum.AWSRanges.Origin != "cache" || requests.Load() != 1 {
		t.Errorf("second run: %+v after %d requests", sum.AWSRanges, requests.Load())
	}
}

// TestAnalyzeWithoutAWSRanges checks what an analysis says when it has
// no ranges: which detectors were blind, and why.
func TestAnalyzeWithoutAWSRanges(t *testing.T) {
	trail := stolenTrail(t)
	down, _ := rangesServer(t, rangesDoc, published, nil)
	down.Close()
	credexfilTypes := []string{finding.TypeCredentialExfilOutsideAWS, finding.TypeCredentialExfilInsideAWS, finding.TypeResourceCredentialExfil}
	tests := []struct {
		name    string
		opt     AnalyzeOptions
		problem string
		blind   bool
	}{
		{"offline, no copy", AnalyzeOptions{AWSIPRangesDir: t.TempDir(), AWSIPRangesURL: down.URL}, "fetching AWS ip ranges", true},
		{"turned off", AnalyzeOptions{AWSIPRanges: AWSIPRangesOff, AWSIPRangesDir: t.TempDir(), AWSIPRangesURL: down.URL}, "turned off", true},
		{"not fetching, no copy", AnalyzeOptions{AWSIPRangesDir: t.TempDir()}, "fetching is off", true},
		{"nothing given", AnalyzeOptions{}, "no file given", true},
		{"detector disabled", AnalyzeOptions{Disabled: []string{"credexfil"}}, "no file given", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opt.Paths = []string{trail}
			fs, sum, err := Analyze(context.Background(), tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			r := sum.AWSRanges
			if r.Ranges != "" || r.Origin != "" || !strings.Contains(r.Problem, tt.problem) {
				t.Errorf("report %+v, want no ranges and a problem mentioning %q", r, tt.problem)
			}
			want := []BlindDetector(nil)
			if tt.blind {
				want = []BlindDetector{{ID: "credexfil", FindingTypes: credexfilTypes}}
			}
			if !slices.EqualFunc(r.Blind, want, func(a, b BlindDetector) bool { return a.ID == b.ID && slices.Equal(a.FindingTypes, b.FindingTypes) }) {
				t.Errorf("blind %+v, want %+v", r.Blind, want)
			}
			if hasType(fs, finding.TypeCredentialExfilOutsideAWS) {
				t.Error("OutsideAWS without ranges")
			}
		})
	}
}

// TestAnalyzeStaleAWSRanges checks that an old copy is used, and said
// to be old, when the server fails, and that a document that is not
// ip-ranges.json does not replace it.
func TestAnalyzeStaleAWSRanges(t *testing.T) {
	trail := stolenTrail(t)
	for _, tt := range []struct {
		name, doc string
		status    int32
		want      string
	}{
		{"server error", rangesDoc, http.StatusBadGateway, "502"},
		{"not the document", "<html>sign in to the hotel wifi</html>", 0, "refused the document"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var status atomic.Int32
			status.Store(tt.status)
			srv, _ := rangesServer(t, tt.doc, time.Now(), &status) // changed since the copy
			dir := t.TempDir()
			path := filepath.Join(dir, awsip.CacheFile)
			writeFile(t, path, []byte(rangesDoc), false)
			old := time.Now().Add(-72 * time.Hour)
			if err := os.Chtimes(path, old, old); err != nil {
				t.Fatal(err)
			}
			fs, sum, err := Analyze(context.Background(), AnalyzeOptions{Paths: []string{trail}, AWSIPRangesDir: dir, AWSIPRangesURL: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			r := sum.AWSRanges
			if r.Origin != "stale" || r.Ranges == "" || !strings.Contains(r.Problem, tt.want) || r.Blind != nil {
				t.Errorf("report %+v", r)
			}
			if !hasType(fs, finding.TypeCredentialExfilOutsideAWS) {
				t.Error("the stale copy was not used")
			}
			if b, _ := os.ReadFile(path); string(b) != rangesDoc {
				t.Error("the copy was replaced")
			}
		})
	}
}

// TestServeFetchesAWSRanges checks that the service fetches the ranges
// into its data directory when the configuration names a URL, and
// starts without them, blind but running, when it cannot.
func TestServeFetchesAWSRanges(t *testing.T) {
	srv, requests := rangesServer(t, rangesDoc, published, nil)
	dataDir := t.TempDir()
	cfg := testConfig(dataDir)
	cfg.Enrich.AWSIPRangesURL = srv.URL
	s := startService(t, cfg)
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dataDir, awsip.CacheFile)); err != nil || string(b) != rangesDoc || requests.Load() != 1 {
		t.Errorf("copy %q, %v after %d requests", b, err, requests.Load())
	}

	srv.Close()
	cfg = testConfig(t.TempDir())
	cfg.Enrich.AWSIPRangesURL = srv.URL
	s = startService(t, cfg)
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
}
