package cloudtrail_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"picket/internal/decode"
	"picket/internal/decode/cloudtrail"
	"picket/internal/event"
)

// datasetDir is where the team keeps real third-party trails (see
// shared/datasets/SOURCES.md). They are never copied into the repository:
// the tests read them in place, archives included, and skip when the
// folder is absent.
func datasetDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PICKET_DATASETS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "..", "shared", "datasets")
	}
	dir = filepath.Join(dir, "cloudtrail")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("real trails not available: %v", err)
	}
	return dir
}

// member is one file of a dataset, read into memory (decompressed).
type member struct {
	name string
	data []byte
}

// members opens a dataset file: a tar.gz or zip archive yields its files,
// a .gz file its decompressed content.
func members(t *testing.T, path string) []member {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Base(path)
	var out []member
	switch {
	case strings.HasSuffix(base, ".tar.gz"):
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(zr)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Typeflag != tar.TypeReg {
				continue
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, member{h.Name, gunzipIf(t, b)})
		}
	case strings.HasSuffix(base, ".zip"):
		zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range zr.File {
			if f.FileInfo().IsDir() {
				continue
			}
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, member{f.Name, gunzipIf(t, b)})
		}
	default:
		out = append(out, member{base, gunzipIf(t, raw)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func gunzipIf(t *testing.T, b []byte) []byte {
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

// result is what decoding one input gave.
type result struct {
	events []*event.APICall
	errs   []*cloudtrail.ParseError
	fatal  error
}

func decodeAll(name string, data []byte) result {
	var res result
	r := cloudtrail.NewReader(bytes.NewReader(data), name)
	var c event.APICall
	for {
		err := r.Next(&c)
		if errors.Is(err, io.EOF) {
			return res
		}
		var pe *cloudtrail.ParseError
		if errors.As(err, &pe) {
			res.errs = append(res.errs, pe)
			continue
		}
		if err != nil {
			res.fatal = err
			return res
		}
		res.events = append(res.events, c.Clone())
	}
}

// TestDatasets decodes every real trail and checks the counts that
// shared/datasets/SOURCES.md gives, and that each event has the fields
// every CloudTrail event has.
func TestDatasets(t *testing.T) {
	dir := datasetDir(t)
	tests := []struct {
		file   string
		events int
		errors int // bad events or structure, all in known places
		notCT  bool
	}{
		{file: "flaws2_cloud_attack_cloudtrail.tar.gz", events: 37},
		{file: "invictus_aws_dataset_stratus_2023-07-10.tar.gz", events: 2900},
		// Logstash output: eventTime moved to @timestamp.
		{file: "otrf_ec2_proxy_s3_exfiltration.json.gz", events: 103},
		{file: "stratus_red_team_detonation_logs.tar.gz", events: 310},
		// ec2-user-data.json lacks the comma between its events twice:
		// two structural errors, and all the events are still read.
		{file: "stratus_detonations_zmallen.zip", events: 15, errors: 2},
		// A CSV export with Python-repr identities: not CloudTrail JSON.
		{file: "otrf_aws_s3_honeybucket_logs.csv.gz", notCT: true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			events, nerr := 0, 0
			types := map[string]int{}
			failed, byService, v6 := 0, 0, 0
			for _, m := range members(t, filepath.Join(dir, tt.file)) {
				format := decode.Detect(m.data[:min(len(m.data), 4096)])
				if tt.notCT {
					if format == decode.CloudTrail {
						t.Errorf("%s: detected as CloudTrail", m.name)
					}
					continue
				}
				if format != decode.CloudTrail {
					t.Errorf("%s: detected as %v, not CloudTrail", m.name, format)
				}
				res := decodeAll(m.name, m.data)
				if res.fatal != nil {
					t.Errorf("%s: %v", m.name, res.fatal)
				}
				for _, e := range res.errs {
					t.Logf("%s", e)
				}
				events += len(res.events)
				nerr += len(res.errs)
				for _, c := range res.events {
					types[c.Identity.Type.String()]++
					if c.Failed() {
						failed++
					}
					if c.ByAWSService() {
						byService++
					}
					if c.SourceIP.Is6() {
						v6++
					}
					if c.EventTime <= 0 || c.EventName.IsZero() || c.EventSource.IsZero() || len(c.EventID) == 0 {
						t.Errorf("%s: event lacks a basic field: %+v", c.Origin, c)
					}
					if !c.SourceIP.IsValid() && c.SourceService.IsZero() && !strings.Contains(m.name, "aws.") {
						t.Errorf("%s: no source address or service", c.Origin)
					}
				}
			}
			t.Logf("%s: %d events, %d errors; identity types %v; %d failed calls, %d by AWS services, %d from IPv6",
				tt.file, events, nerr, types, failed, byService, v6)
			if events != tt.events || nerr != tt.errors {
				t.Errorf("decoded %d events with %d errors, want %d and %d", events, nerr, tt.events, tt.errors)
			}
		})
	}
}
