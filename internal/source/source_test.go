package source

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
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

// TestExpandFollowsLinks gives Expand a link to a directory whose tree
// holds links to files and directories, a link loop, a second link to a
// directory, a dangling link and a named pipe.
func TestExpandFollowsLinks(t *testing.T) {
	dir := t.TempDir()
	link := func(target, name string) {
		t.Helper()
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"real/a.log", "other/b.log", "top/c.log"} {
		p := filepath.Join(dir, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(f+"\n"), 0o644)
	}
	link("../real", "top/sub")          // a directory
	link("../real", "top/sub2")         // the same directory again
	link("../other/b.log", "top/b.log") // a file
	link("c.log", "top/d.log")          // a file read already as c.log
	link(".", "top/loop")               // top itself: a loop
	link("../top", "real/back")         // a loop through sub
	link("missing", "top/dangling")
	link("top", "entry") // the argument itself is a link
	if err := syscall.Mkfifo(filepath.Join(dir, "top/pipe"), 0o644); err != nil {
		t.Fatal(err)
	}

	ins, errs := Expand([]string{filepath.Join(dir, "entry")})
	var got []string
	for _, in := range ins {
		rel, _ := filepath.Rel(dir, in.Path)
		got = append(got, rel)
	}
	want := []string{"entry/b.log", "entry/c.log", "entry/sub/a.log"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("inputs (-want +got):\n%s", diff)
	}
	var msgs []string
	for _, err := range errs {
		msgs = append(msgs, strings.ReplaceAll(err.Error(), dir+"/", ""))
	}
	wantErrs := []string{
		`reading input "entry/dangling": following symbolic link: stat entry/dangling: no such file or directory`,
		`reading input "entry/loop": directory already read as "entry" (a symbolic link loop, or a second link to it); not read again`,
		`reading input "entry/pipe": a named pipe (FIFO): not a regular file or directory`,
		`reading input "entry/sub/back": directory already read as "entry" (a symbolic link loop, or a second link to it); not read again`,
		`reading input "entry/sub2": directory already read as "entry/sub" (a symbolic link loop, or a second link to it); not read again`,
	}
	if diff := cmp.Diff(wantErrs, msgs); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

// TestExpandRefusesSpecialFiles checks a named pipe given as an argument
// is refused, not opened (which would block until a writer came).
func TestExpandRefusesSpecialFiles(t *testing.T) {
	pipe := filepath.Join(t.TempDir(), "flows.pipe")
	if err := syscall.Mkfifo(pipe, 0o644); err != nil {
		t.Fatal(err)
	}
	ins, errs := Expand([]string{pipe, "/dev/null"})
	if len(ins) != 0 {
		t.Errorf("inputs %+v, want none", ins)
	}
	if len(errs) != 2 || !errors.Is(errs[0], ErrNotRegular) || !strings.Contains(errs[0].Error(), pipe) || !strings.Contains(errs[0].Error(), "named pipe") ||
		!strings.Contains(errs[1].Error(), `"/dev/null": a character device`) {
		t.Errorf("errors %v, want the pipe and the device refused by name", errs)
	}
}
