package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"picket/internal/detect"
	"picket/internal/detect/all"
	"picket/internal/event"
	"picket/internal/finding"
	"picket/internal/metrics"
	"picket/internal/source"
	"picket/internal/synth"
)

// newTestIngest is an ingest loop without store or sources, to drive its
// readers directly.
func newTestIngest(t *testing.T) *Loop {
	t.Helper()
	stages, dets, err := all.Build(all.Options{Env: detect.Env{DetectorID: finding.DetectorID}})
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewLoop(LoopConfig{
		Metrics: metrics.New(nil), Stages: stages, Detectors: dets, Engine: detect.DefaultConfig,
		Feed: &Feed{Account: event.Intern("000000000000"), Region: event.Intern("us-east-1")}, MaxInterfaces: 1000,
		CommitInterval: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func fileTask(path string, start source.Position) *source.Task {
	t := source.NewTask(path, func() (*source.Stream, error) { return source.Input{Name: path, Path: path}.Open(nil) }, nil)
	t.Start, t.Complete = start, true
	return t
}

// TestReadersResume reads inputs of every format whole, and again in two
// parts, the second from the position the first stopped at: together the
// parts see every record once.
func TestReadersResume(t *testing.T) {
	dir := t.TempDir()
	// Flow logs as text with a header, gzip, and Parquet.
	gen := func(parquet, gz bool, name string) string {
		cfg := synth.DefaultConfig
		cfg.Records, cfg.Duration = 20000, 0
		g, _ := synth.New(cfg)
		format, _ := synth.FormatFor(5)
		out := filepath.Join(dir, name)
		var w *synth.Writer
		if parquet {
			w = &synth.Writer{Format: format, Layout: synth.LayoutS3, Parquet: true, Dir: out, Account: cfg.Account, Region: cfg.Region}
		} else {
			f, _ := os.Create(out)
			defer f.Close()
			w = &synth.Writer{Format: format, Header: true, Out: f, Account: cfg.Account, Region: cfg.Region}
		}
		g.Run(func(r synth.Record) { w.Add(r) })
		w.Close()
		if gz {
			b, _ := os.ReadFile(out)
			os.WriteFile(out, []byte(gzipText(string(b))), 0o644)
		}
		if parquet {
			var first string
			filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() && first == "" {
					first = p
				}
				return err
			})
			return first
		}
		return out
	}
	trail, _ := os.ReadFile("../decode/cloudtrail/testdata/records.json")
	os.WriteFile(filepath.Join(dir, "trail.json"), trail, 0o644)
	inputs := map[string]string{
		"text":       gen(false, false, "flows.log"),
		"gzip":       gen(false, true, "flows.log.gz"),
		"parquet":    gen(true, false, "parquet"),
		"cloudtrail": filepath.Join(dir, "trail.json"),
	}
	seen := func(g *Loop) uint64 {
		g.publish(true)
		n := g.c.Records["flow"] + g.c.Records["api-call"]
		for _, v := range g.c.Skipped {
			n += v
		}
		return n
	}
	for name, path := range inputs {
		t.Run(name, func(t *testing.T) {
			whole := newTestIngest(t)
			var pos source.Position
			end, err := whole.readTask(context.Background(), fileTask(path, source.Position{}), &pos)
			if err != nil {
				t.Fatal(err)
			}
			total := seen(whole)
			if total < 3 {
				t.Fatalf("%d records", total)
			}
			var cut source.Position
			first := newTestIngest(t)
			switch name {
			case "text", "gzip":
				// The first part is the input cut after a third of its
				// lines, as a file being written would be.
				st, _ := source.Input{Name: path, Path: path}.Open(nil)
				all, _ := io.ReadAll(st)
				st.Close()
				lines := bytes.SplitAfter(all, []byte("\n"))
				part := filepath.Join(t.TempDir(), "part")
				os.WriteFile(part, bytes.Join(lines[:len(lines)/3], nil), 0o644)
				task := fileTask(part, source.Position{})
				task.Complete = false
				if cut, err = first.readTask(context.Background(), task, &pos); err != nil {
					t.Fatal(err)
				}
				if cut.Header == "" || cut.Line != int64(len(lines)/3) {
					t.Errorf("cut at %+v", cut)
				}
			default:
				cut = source.Position{Records: int64(total / 3)}
				first.c.Records["cut"] = total / 3
			}
			second := newTestIngest(t)
			end2, err := second.readTask(context.Background(), fileTask(path, cut), &pos)
			if err != nil {
				t.Fatal(err)
			}
			got := seen(first) + first.c.Records["cut"] + seen(second)
			if got != total || end2 != end {
				t.Errorf("parts read %d records ending at %+v, the whole %d ending at %+v", got, end2, total, end)
			}
		})
	}
}

// TestFirehosePush processes a delivery with flow lines, a CloudTrail
// event, a gzip CloudWatch Logs payload and garbage.
func TestFirehosePush(t *testing.T) {
	g := newTestIngest(t)
	g.firehose = source.NewFirehose(source.FirehoseConfig{})
	line := "2 123456789012 eni-0a1b2c3d 10.0.0.5 198.51.100.7 443 50000 6 10 4000 1772618400 1772618460 ACCEPT OK"
	cwl := `{"messageType":"DATA_MESSAGE","owner":"123456789012","logEvents":[{"id":"1","message":"` + line + `"},{"id":"2","message":"` + line + `"}]}`
	trail, _ := os.ReadFile("../decode/cloudtrail/testdata/lines.jsonl")
	first := bytes.SplitN(trail, []byte("\n"), 2)[0]
	d := &source.Delivery{RequestID: "r1", Records: [][]byte{
		[]byte(line + "\n" + line), first, []byte(gzipText(cwl)), []byte("\x00\x01 not a record"),
	}}
	p := &push{d: d, done: make(chan error, 1)}
	g.push(p)
	g.publish(true)
	if g.c.Records["flow"] != 4 || g.c.Records["api-call"] != 1 || g.c.Skipped["binary"] != 1 {
		t.Errorf("records %v, skipped %v", g.c.Records, g.c.Skipped)
	}
	if !g.firehose.Seen("r1") || len(g.acks) != 1 || g.ackDue.IsZero() {
		t.Errorf("the delivery is not waiting for its commit")
	}
	// A retry is only acknowledged.
	g.push(&push{d: d, done: make(chan error, 1)})
	g.publish(true)
	if g.c.Records["flow"] != 4 || len(g.acks) != 2 {
		t.Errorf("a retry was processed again: %v", g.c.Records)
	}
}

func gzipText(s string) string {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.String()
}
