package s3policy

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	input "picket/internal/decode"
	"picket/internal/decode/cloudtrail"
	"picket/internal/detect"
	"picket/internal/event"
	"picket/internal/finding"
)

// TestDatasets runs the detector over the real trails of emulated attacks
// in shared/datasets/cloudtrail, read in memory and never copied, and
// skips when the folder is absent. Their S3 calls are benign look-alikes
// of what the detector reports: buckets created with the private canned
// ACL, CloudTrail's bucket policy for its service principal, and a policy
// that shares a bucket with one other account (Stratus Red Team's
// aws.exfiltration.s3-backdoor-bucket-policy). None of them opens a
// bucket to everyone, so the detector must stay quiet while reading
// every one of them.
func TestDatasets(t *testing.T) {
	dir := os.Getenv("PICKET_DATASETS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "..", "shared", "datasets")
	}
	dir = filepath.Join(dir, "cloudtrail")
	paths, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(paths) == 0 {
		t.Skipf("real trails not available in %s", dir)
	}
	d, err := New(detect.Env{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	reported := 0
	for _, path := range paths {
		for _, m := range archiveMembers(t, path) {
			if input.Detect(m.data[:min(len(m.data), 4096)]) != input.CloudTrail {
				continue
			}
			r := cloudtrail.NewReader(bytes.NewReader(m.data), m.name)
			for {
				var c event.APICall
				err := r.Next(&c)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					// A bad record is skipped, as picket analyze skips it.
					continue
				}
				if checks[c.EventName.String()] != nil && c.EventSource.String() == "s3.amazonaws.com" {
					seen[c.EventName.String()]++
				}
				d.Observe(&c, nil)
			}
		}
	}
	d.Advance(event.Forever, func(f *finding.Finding) {
		reported++
		t.Errorf("%s: %s", f.Type, f.Description)
	})
	if seen["PutBucketPolicy"] == 0 || seen["CreateBucket"] == 0 {
		t.Errorf("the trails' S3 calls were not read: %v", seen)
	}
	t.Logf("S3 calls judged: %v; findings: %d", seen, reported)
}

type archived struct {
	name string
	data []byte
}

// archiveMembers opens a dataset file in memory: the files of a tar.gz
// or zip archive, or the content of a .gz file, each decompressed.
func archiveMembers(t *testing.T, path string) []archived {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []archived
	switch {
	case strings.HasSuffix(path, ".tar.gz"):
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		tr := tar.NewReader(zr)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if h.Typeflag != tar.TypeReg {
				continue
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			out = append(out, archived{h.Name, gunzip(t, b)})
		}
	case strings.HasSuffix(path, ".zip"):
		zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, f := range zr.File {
			if f.FileInfo().IsDir() {
				continue
			}
			rc, err := f.Open()
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			out = append(out, archived{f.Name, gunzip(t, b)})
		}
	case strings.HasSuffix(path, ".gz"):
		out = append(out, archived{filepath.Base(path), gunzip(t, raw)})
	}
	return out
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		return b
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
