package source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// S3API is the part of the S3 client that S3Poller uses; *s3.Client has
// it.
type S3API interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// S3Config configures an S3Poller.
type S3Config struct {
	Client S3API
	Bucket string
	Prefix string
	// StartAfter skips keys up to and including it when there is no
	// checkpoint yet.
	StartAfter string
	Poll       time.Duration
	Defaults   Defaults
	// PageSize is the number of keys a listing asks for (0: the
	// server's default, 1000 on S3).
	PageSize int32
	// MaxAttempts is how many times an object that fails to read is
	// tried before it is skipped (default 3).
	MaxAttempts int
	Log         *slog.Logger
}

// S3Poller lists an S3 prefix every poll and hands each new object to
// the ingest loop, oldest delivery first (by the time in the object's
// name in the S3 delivery layout, then by key).
//
// Its checkpoint is the last key fully processed in lexical order
// (After), the object in progress with how far it was read (Key, ETag,
// Pos), and, because AWS delivers the objects of several flow logs (and
// late ones) into the same day folder in no lexical order, the keys
// already processed since a floor: listing starts at the floor, which is
// the day folder before After's day for S3-layout keys (an object more
// than a day late is not looked for) and After itself for other keys (a
// key that sorts before it is never read). A restart lists from the
// floor, skips what was done and resumes the object in progress
// mid-stream if its ETag is unchanged.
type S3Poller struct {
	cfg S3Config

	mu       sync.Mutex
	cp       S3Checkpoint
	done     map[string]bool // cp.Done as a set
	dirty    bool
	failures map[string]int
	idle     bool // the last poll found nothing new
	outcome  error
}

// S3Checkpoint is the saved progress of an S3 prefix.
type S3Checkpoint struct {
	After string   `json:"after,omitempty"` // the last key fully processed, in lexical order
	Floor string   `json:"floor,omitempty"` // listing starts after it
	Done  []string `json:"done,omitempty"`  // keys after Floor already processed
	Key   string   `json:"key,omitempty"`   // the object in progress
	ETag  string   `json:"etag,omitempty"`  // its ETag
	Pos   Position `json:"pos"`             // how far it was read
}

// NewS3Poller returns a poller of a bucket prefix.
func NewS3Poller(cfg S3Config) *S3Poller {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Minute
	}
	return &S3Poller{cfg: cfg, failures: map[string]int{}, done: map[string]bool{}, cp: S3Checkpoint{After: cfg.StartAfter, Floor: cfg.StartAfter}}
}

// Name names the source in logs, metrics and its checkpoint.
func (p *S3Poller) Name() string { return "s3:" + p.cfg.Bucket + "/" + p.cfg.Prefix }

// Owns reports whether a checkpoint is this poller's.
func (p *S3Poller) Owns(name string) bool { return name == p.Name() }

// Restore loads the poller's checkpoint.
func (p *S3Poller) Restore(cps []Checkpoint) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, cp := range cps {
		if cp.Name != p.Name() {
			continue
		}
		var c S3Checkpoint
		if err := json.Unmarshal(cp.Data, &c); err != nil {
			return fmt.Errorf("restoring checkpoint %q: %w", cp.Name, err)
		}
		p.cp = c
		p.done = map[string]bool{}
		for _, k := range c.Done {
			p.done[k] = true
		}
	}
	return nil
}

// Checkpoints returns the poller's checkpoint if it changed.
func (p *S3Poller) Checkpoints() []Checkpoint {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.dirty {
		return nil
	}
	p.cp.Done = p.cp.Done[:0]
	for k := range p.done {
		p.cp.Done = append(p.cp.Done, k)
	}
	slices.Sort(p.cp.Done)
	b, err := json.Marshal(p.cp)
	if err != nil {
		panic(err)
	}
	p.dirty = false
	return []Checkpoint{{Name: p.Name(), Data: b}}
}

// Position returns the current checkpoint, for tests.
func (p *S3Poller) Position() S3Checkpoint {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cp
}

// Idle reports whether the last poll found nothing new.
func (p *S3Poller) Idle() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.idle
}

// Run polls until ctx is done.
func (p *S3Poller) Run(ctx context.Context, tasks chan<- *Task) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		n, err := p.poll(ctx, tasks)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			p.cfg.Log.Warn("s3: poll failed; trying again later", "source", p.Name(), "error", err)
		}
		p.mu.Lock()
		p.idle = err == nil && n == 0
		p.mu.Unlock()
		t.Reset(p.cfg.Poll)
	}
}

// maxBatch bounds the new keys one poll gathers before reading them.
const maxBatch = 10_000

// poll lists the prefix from the floor and reads each object not yet
// done, oldest delivery first. It returns the number of objects handed
// over.
func (p *S3Poller) poll(ctx context.Context, tasks chan<- *Task) (int, error) {
	p.mu.Lock()
	floor := p.cp.Floor
	p.mu.Unlock()
	in := &s3.ListObjectsV2Input{Bucket: aws.String(p.cfg.Bucket)}
	if p.cfg.Prefix != "" {
		in.Prefix = aws.String(p.cfg.Prefix)
	}
	if floor != "" {
		in.StartAfter = aws.String(floor)
	}
	if p.cfg.PageSize > 0 {
		in.MaxKeys = aws.Int32(p.cfg.PageSize)
	}
	type object struct {
		key, etag string
		t         time.Time
	}
	var batch []object
	for len(batch) < maxBatch {
		out, err := p.cfg.Client.ListObjectsV2(ctx, in)
		if err != nil {
			return 0, fmt.Errorf("listing s3://%s/%s: %w", p.cfg.Bucket, p.cfg.Prefix, err)
		}
		p.mu.Lock()
		for _, obj := range out.Contents {
			key := aws.ToString(obj.Key)
			if key <= floor || p.done[key] {
				continue
			}
			if skipKey(key) || aws.ToInt64(obj.Size) == 0 {
				p.finished(key)
				continue
			}
			batch = append(batch, object{key, strings.Trim(aws.ToString(obj.ETag), `"`), ParseLayout(key).Time})
		}
		p.mu.Unlock()
		if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
			break
		}
		in.StartAfter = nil
		in.ContinuationToken = out.NextContinuationToken
	}
	slices.SortStableFunc(batch, func(a, b object) int {
		if c := a.t.Compare(b.t); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})
	n := 0
	for _, obj := range batch {
		task := p.task(ctx, obj.key, obj.etag)
		select {
		case tasks <- task:
		case <-ctx.Done():
			return n, nil
		}
		n++
		select {
		case <-task.Done():
		case <-ctx.Done():
			return n, nil
		}
		p.mu.Lock()
		err := p.outcome
		p.mu.Unlock()
		if err != nil {
			return n, err // try this object again next poll
		}
	}
	return n, nil
}

// finished records a key as done and moves the floor up behind the
// newest key. Called with p.mu held.
func (p *S3Poller) finished(key string) {
	p.dirty = true
	p.done[key] = true
	if key <= p.cp.After {
		return
	}
	p.cp.After = key
	floor := key
	if f, ok := dayFloor(key); ok {
		floor = f
	}
	if floor < p.cfg.StartAfter {
		floor = p.cfg.StartAfter
	}
	if floor <= p.cp.Floor {
		return
	}
	p.cp.Floor = floor
	for k := range p.done {
		if k <= floor {
			delete(p.done, k)
		}
	}
}

// dayFloor returns, for a key in the S3 delivery layout (plain or Hive
// date folders), the folder of the day before its own, which sorts before
// every key of that day: ".../2026/03/04/x.log.gz" gives ".../2026/03/03/".
func dayFloor(key string) (string, bool) {
	segs := strings.Split(key, "/")
	for i := 0; i+3 < len(segs); i++ {
		y, yp, ok1 := dateSegment(segs[i], "year", 4)
		m, mp, ok2 := dateSegment(segs[i+1], "month", 2)
		d, dp, ok3 := dateSegment(segs[i+2], "day", 2)
		if !ok1 || !ok2 || !ok3 || m < 1 || m > 12 || d < 1 || d > 31 {
			continue
		}
		prev := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
		out := append(slices.Clone(segs[:i]),
			fmt.Sprintf("%s%04d", yp, prev.Year()), fmt.Sprintf("%s%02d", mp, int(prev.Month())), fmt.Sprintf("%s%02d", dp, prev.Day()))
		return strings.Join(out, "/") + "/", true
	}
	return "", false
}

// dateSegment reads a date folder such as "2026" or "year=2026".
func dateSegment(s, hiveKey string, width int) (n int, prefix string, ok bool) {
	if v, found := strings.CutPrefix(s, hiveKey+"="); found {
		prefix, s = hiveKey+"=", v
	}
	if len(s) != width || !digits(s, width) {
		return 0, "", false
	}
	n, _ = strconv.Atoi(s)
	return n, prefix, true
}

// skipKey reports keys that hold no logs: folder markers and CloudTrail
// digests.
func skipKey(key string) bool {
	return strings.HasSuffix(key, "/") || strings.HasSuffix(key, "_$folder$") ||
		strings.Contains(key, "/CloudTrail-Digest/") || ParseLayout(key).Digest
}

func (p *S3Poller) task(ctx context.Context, key, etag string) *Task {
	p.mu.Lock()
	start := Position{}
	if p.cp.Key == key && p.cp.ETag == etag {
		start = p.cp.Pos
	}
	p.outcome = nil
	p.mu.Unlock()
	name := "s3://" + p.cfg.Bucket + "/" + key
	t := NewTask(name, func() (*Stream, error) {
		out, err := p.cfg.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(p.cfg.Bucket), Key: aws.String(key)})
		if err != nil {
			return nil, fmt.Errorf("getting %s: %w", name, err)
		}
		if got := strings.Trim(aws.ToString(out.ETag), `"`); got != "" && etag != "" && got != etag {
			out.Body.Close()
			return nil, fmt.Errorf("getting %s: the object changed since it was listed (ETag %s, listed %s)", name, got, etag)
		}
		return NewStream(name, out.Body)
	}, func(pos Position, final bool, err error) {
		p.report(key, etag, pos, final, err)
	})
	t.Layout = ParseLayout(key)
	t.Defaults = p.cfg.Defaults
	t.Start = start
	t.Complete = true
	return t
}

func (p *S3Poller) report(key, etag string, pos Position, final bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dirty = true
	if !final || errors.Is(err, ErrStopped) {
		p.cp.Key, p.cp.ETag, p.cp.Pos = key, etag, pos
		return
	}
	if errors.Is(err, ErrUnreadable) {
		// Trying again would read the same object the same way and
		// count it again: an object does not change under its ETag.
		p.cfg.Log.Warn("s3: cannot read object; passing over it", "key", key, "error", err)
		err = nil
	}
	if err == nil {
		p.cp.Key, p.cp.ETag, p.cp.Pos = "", "", Position{}
		delete(p.failures, key)
		p.finished(key)
		return
	}
	p.failures[key]++
	if p.failures[key] >= p.cfg.MaxAttempts {
		p.cfg.Log.Error("s3: giving up on object", "key", key, "attempts", p.failures[key], "error", err)
		delete(p.failures, key)
		p.cp.Key, p.cp.ETag, p.cp.Pos = "", "", Position{}
		p.finished(key)
		return
	}
	p.cp.Key, p.cp.ETag, p.cp.Pos = key, etag, pos
	p.outcome = err
}
