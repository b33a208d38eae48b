package source

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseLayout(t *testing.T) {
	tests := []struct {
		path string
		want Layout
	}{
		{"bucket/AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/03/04/123456789012_vpcflowlogs_eu-west-1_fl-0a1b2c3d_20260304T1015Z_fe123456.log.gz",
			Layout{Account: "123456789012", Service: "vpcflowlogs", Region: "eu-west-1", FlowLogID: "fl-0a1b2c3d", Time: time.Date(2026, 3, 4, 10, 15, 0, 0, time.UTC)}},
		{"logs/prefix/AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=us-east-1/year=2026/month=03/day=04/hour=10/x.log.parquet",
			Layout{Account: "123456789012", Service: "vpcflowlogs", Region: "us-east-1", Time: time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)}},
		{"AWSLogs/o-abc123/123456789012/CloudTrail/us-east-1/2026/03/04/123456789012_CloudTrail_us-east-1_20260304T0000Z_abc.json.gz",
			Layout{Account: "123456789012", Service: "CloudTrail", Region: "us-east-1", Time: time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)}},
		{"AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2026/03/04/123456789012_CloudTrail-Digest_us-east-1_trail_us-east-1_20260304T000000Z.json.gz",
			Layout{Account: "123456789012", Service: "CloudTrail-Digest", Region: "us-east-1", Time: time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC), Digest: true}},
		{"/var/log/flows/eni-1.log", Layout{}},
		{"AWSLogs/not-an-account/vpcflowlogs/us-east-1/x.log", Layout{}},
	}
	for _, tt := range tests {
		if got := ParseLayout(tt.path); got != tt.want {
			t.Errorf("ParseLayout(%q) =\n%+v, want\n%+v", tt.path, got, tt.want)
		}
	}
}

func TestExpandWalksInPathOrderAndSkips(t *testing.T) {
	dir := t.TempDir()
	files := []string{
		"AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/03/04/b.log",
		"AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/03/03/a.log",
		"AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2026/03/04/d.json.gz",
		".hidden/c.log",
		"x/.dotfile",
		"x/y_$folder$",
	}
	for _, f := range files {
		p := filepath.Join(dir, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("x"), 0o644)
	}
	ins, errs := Expand([]string{dir, filepath.Join(dir, "missing"), "-"})
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "missing") {
		t.Errorf("errors %v, want one naming the missing path", errs)
	}
	var got []string
	for _, in := range ins {
		rel, _ := filepath.Rel(dir, in.Name)
		if in.Path == "" {
			rel = in.Name
		}
		got = append(got, rel)
	}
	want := []string{
		"AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/03/03/a.log",
		"AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/03/04/b.log",
		"stdin",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("inputs\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if ins[0].Layout.Region != "us-east-1" {
		t.Errorf("layout not parsed: %+v", ins[0].Layout)
	}
}

func TestOpenDetectsGzipByContent(t *testing.T) {
	dir := t.TempDir()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("hello flow logs\n"))
	zw.Close()
	plain := filepath.Join(dir, "plain.gz") // misleading name
	os.WriteFile(plain, []byte("plain text\n"), 0o644)
	zipped := filepath.Join(dir, "zipped.log") // no .gz suffix
	os.WriteFile(zipped, gz.Bytes(), 0o644)
	for path, want := range map[string]string{plain: "plain text\n", zipped: "hello flow logs\n"} {
		s, err := Input{Name: path, Path: path}.Open(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(s.Head(100), []byte(want[:5])) {
			t.Errorf("%s: head %q", path, s.Head(100))
		}
		b, _ := io.ReadAll(s)
		if string(b) != want || s.Compressed != (path == zipped) {
			t.Errorf("%s: read %q compressed=%v", path, b, s.Compressed)
		}
		if s.Consumed() == 0 {
			t.Errorf("%s: consumed bytes not counted", path)
		}
		s.Close()
	}
	// Standard input, and a gzip header that lies.
	s, err := Input{Name: "stdin"}.Open(strings.NewReader("from stdin"))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(s); string(b) != "from stdin" {
		t.Errorf("stdin read %q", b)
	}
	if _, err := (Input{Name: "stdin"}).Open(bytes.NewReader([]byte{0x1f, 0x8b, 0, 0})); err == nil {
		t.Error("a broken gzip header opened without error")
	}
}
