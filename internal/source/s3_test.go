package source

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// newS3 starts gofakes3, a third-party S3 implementation, on a local
// port, and returns a client of it with a bucket made.
func newS3(t *testing.T, bucket string) *s3.Client {
	t.Helper()
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	client := s3.New(s3.Options{
		Region:                     "us-east-1",
		BaseEndpoint:               aws.String(srv.URL),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider("AKIAFAKE", "secret", ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	if _, err := client.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	return client
}

func putObject(t *testing.T, c *s3.Client, bucket, key, body string) {
	t.Helper()
	if _, err := c.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
}

// consume plays the ingest loop: it reads each task the poller hands over
// (stopping the one named stopIn after one line) and returns the lines.
func consume(t *testing.T, p *S3Poller, want int, stopIn string) []string {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	tasks := make(chan *Task)
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(ctx, tasks)
	}()
	var lines []string
	deadline := time.After(10 * time.Second)
	for len(lines) < want {
		select {
		case task := <-tasks:
			max := 0
			if stopIn != "" && strings.HasSuffix(task.Name, stopIn) {
				max = 1
			}
			lines = append(lines, readLines(t, task, max)...)
			if max == 1 {
				cancel() // shut down mid-object
				<-done
				return lines
			}
		case <-deadline:
			t.Fatalf("got %d lines of %d: %q", len(lines), want, lines)
		}
	}
	// Let the poller see the end of the listing.
	for !p.Idle() {
		select {
		case task := <-tasks:
			t.Fatalf("unexpected task %s", task.Name)
		case <-time.After(5 * time.Millisecond):
		case <-deadline:
			t.Fatal("the poller never went idle")
		}
	}
	cancel()
	<-done
	return lines
}

func TestS3PollerResumes(t *testing.T) {
	const bucket = "flow-logs"
	client := newS3(t, bucket)
	prefix := "AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/03/04/"
	putObject(t, client, bucket, prefix+"b.log.gz", gzipped("b1\nb2\nb3\n"))
	putObject(t, client, bucket, prefix+"a.log", "a1\na2\n")
	putObject(t, client, bucket, prefix+"marker_$folder$", "x")
	putObject(t, client, bucket, "other/z.log", "not under the prefix\n")
	putObject(t, client, bucket, "AWSLogs/123456789012/CloudTrail-Digest/eu-west-1/2026/03/04/d.json.gz", "digest")

	cfg := S3Config{Client: client, Bucket: bucket, Prefix: "AWSLogs/", Poll: 5 * time.Millisecond, PageSize: 1}
	p := NewS3Poller(cfg)
	got := consume(t, p, 3, "b.log.gz")
	if diff := cmp.Diff([]string{"a1", "a2", "b1"}, got); diff != "" {
		t.Fatalf("first run (-want +got):\n%s", diff)
	}
	cps := p.Checkpoints()
	if len(cps) != 1 || cps[0].Name != "s3:flow-logs/AWSLogs/" {
		t.Fatalf("checkpoints %v", cps)
	}
	if pos := p.Position(); pos.Key != prefix+"b.log.gz" || pos.Pos.Line != 1 || pos.Floor != "AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/03/03/" {
		t.Errorf("checkpoint %+v", pos)
	}

	// A restart resumes inside b.log.gz, then reads what arrived since.
	putObject(t, client, bucket, prefix+"c.log", "c1\n")
	p2 := NewS3Poller(cfg)
	if err := p2.Restore(cps); err != nil {
		t.Fatal(err)
	}
	got = consume(t, p2, 3, "")
	if diff := cmp.Diff([]string{"b2", "b3", "c1"}, got); diff != "" {
		t.Errorf("after restart (-want +got):\n%s", diff)
	}
	if pos := p2.Position(); pos.After != prefix+"marker_$folder$" || pos.Key != "" { // skipped keys advance it too
		t.Errorf("final checkpoint %+v", pos)
	}

	// Objects of another flow log, and a late one, arrive in the same
	// day folder with keys that sort before the last one read; the
	// next day's objects move the floor on.
	putObject(t, client, bucket, prefix+"0-other-flow-log.log", "o1\n")
	putObject(t, client, bucket, "AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/03/05/e.log", "e1\n")
	putObject(t, client, bucket, "AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/03/06/f.log", "f1\n")
	p3 := NewS3Poller(cfg)
	p3.Restore(p2.Checkpoints())
	got = consume(t, p3, 3, "")
	if diff := cmp.Diff([]string{"o1", "e1", "f1"}, got); diff != "" {
		t.Errorf("late and new objects (-want +got):\n%s", diff)
	}
	if pos := p3.Position(); pos.Floor != "AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/03/05/" {
		t.Errorf("floor %q", pos.Floor)
	}
}

func TestS3PollerStartAfterAndChangedObject(t *testing.T) {
	const bucket = "logs"
	client := newS3(t, bucket)
	putObject(t, client, bucket, "p/1.log", "one\n")
	putObject(t, client, bucket, "p/2.log", "two\nthree\n")
	p := NewS3Poller(S3Config{Client: client, Bucket: bucket, Prefix: "p/", StartAfter: "p/1.log", Poll: 5 * time.Millisecond})
	if got := consume(t, p, 1, "2.log"); !cmp.Equal(got, []string{"two"}) {
		t.Fatalf("read %q: start_after must skip p/1.log", got)
	}
	cps := p.Checkpoints()
	// The object is replaced before the restart: its new version is
	// read from the start.
	putObject(t, client, bucket, "p/2.log", "TWO\nTHREE\n")
	p2 := NewS3Poller(S3Config{Client: client, Bucket: bucket, Prefix: "p/", Poll: 5 * time.Millisecond})
	p2.Restore(cps)
	if got := consume(t, p2, 2, ""); !cmp.Equal(got, []string{"TWO", "THREE"}) {
		t.Errorf("read %q of the replaced object", got)
	}
}

func TestDayFloor(t *testing.T) {
	for key, want := range map[string]string{
		"AWSLogs/1/vpcflowlogs/r/2026/03/04/x.log.gz":                                                               "AWSLogs/1/vpcflowlogs/r/2026/03/03/",
		"p/AWSLogs/1/vpcflowlogs/r/2026/03/01/10/x.log":                                                             "p/AWSLogs/1/vpcflowlogs/r/2026/02/28/",
		"AWSLogs/aws-account-id=1/aws-service=vpcflowlogs/aws-region=r/year=2026/month=01/day=01/hour=00/x.parquet": "AWSLogs/aws-account-id=1/aws-service=vpcflowlogs/aws-region=r/year=2025/month=12/day=31/",
		"flat/keys/x.log": "",
		"2026/03/04":      "",
	} {
		got, ok := dayFloor(key)
		if got != want || ok != (want != "") {
			t.Errorf("dayFloor(%q) = %q, %v; want %q", key, got, ok, want)
		}
	}
}

// TestS3PollerPassesOverUnreadable finishes an object as the ingest loop
// does for one in no known format: it is handed over once, not retried.
func TestS3PollerPassesOverUnreadable(t *testing.T) {
	const bucket = "logs"
	client := newS3(t, bucket)
	putObject(t, client, bucket, "p/1.bin", "not a flow log\n")
	putObject(t, client, bucket, "p/2.log", "two\n")
	p := NewS3Poller(S3Config{Client: client, Bucket: bucket, Prefix: "p/", Poll: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	tasks := make(chan *Task)
	go p.Run(ctx, tasks)
	var got []string
	deadline := time.After(10 * time.Second)
	for len(got) < 2 {
		select {
		case task := <-tasks:
			got = append(got, task.Name)
			if strings.HasSuffix(task.Name, ".bin") {
				task.Finish(task.Start, fmt.Errorf("%w: unrecognized format", ErrUnreadable))
			} else {
				readLines(t, task, 0)
			}
		case <-deadline:
			t.Fatalf("tasks so far %q", got)
		}
	}
	if diff := cmp.Diff([]string{"s3://logs/p/1.bin", "s3://logs/p/2.log"}, got); diff != "" {
		t.Errorf("tasks (-want +got):\n%s", diff)
	}
}
