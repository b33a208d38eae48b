// Package fetch owns getting the bytes of threat-intel lists from where
// users keep them: local files, http(s):// URLs, and S3 objects given as
// s3://bucket/key or in the https:// S3 URL forms GuardDuty accepts as a
// list's location. Requests are conditional (ETag, Last-Modified, a file's
// size and modification time), so that refreshing an unchanged list costs
// no download. Fetcher.Fetch has the signature of intel.FetchFunc; the
// composition root hands it to an intel.Loader.
//
// The package imports the standard library and the AWS SDK only; no picket
// package but the composition root imports it.
package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Options configures a Fetcher.
type Options struct {
	// HTTP is the client for http(s) URLs; nil means one with a two-minute
	// timeout.
	HTTP *http.Client
	// S3Endpoint replaces the S3 endpoint (MinIO, LocalStack, a test
	// server), as AWS_ENDPOINT_URL_S3 does; with either, and with
	// S3PathStyle, buckets are addressed in the path rather than the host
	// name, as such endpoints expect.
	S3Endpoint  string
	S3PathStyle bool
	// S3Region is the region of the S3 client; "" takes it from the
	// environment and AWS configuration, else us-east-1.
	S3Region string
	// MaxBytes bounds a list's size (0: 1 GiB): a list that is larger is
	// an error rather than an exhausted memory.
	MaxBytes int64
}

// DefaultMaxBytes bounds a list's size unless Options says otherwise.
const DefaultMaxBytes = 1 << 30

// Fetcher fetches lists. It is safe for concurrent use; the S3 client is
// made on the first s3:// fetch.
type Fetcher struct {
	opt    Options
	s3once sync.Once
	s3     *s3.Client
	s3err  error
}

// New returns a Fetcher.
func New(opt Options) *Fetcher {
	if opt.HTTP == nil {
		opt.HTTP = &http.Client{Timeout: 2 * time.Minute}
	}
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = DefaultMaxBytes
	}
	return &Fetcher{opt: opt}
}

// ErrTooLarge is returned (wrapped) for a list larger than MaxBytes.
var ErrTooLarge = errors.New("list larger than the size limit")

// Fetch returns the content of the list at location and its version. When
// version is the list's current version, it returns a nil body and no
// error: the list has not changed.
func (f *Fetcher) Fetch(ctx context.Context, location, version string) (io.ReadCloser, string, error) {
	switch {
	case strings.HasPrefix(location, "s3://"):
		bucket, key, ok := strings.Cut(strings.TrimPrefix(location, "s3://"), "/")
		if !ok || bucket == "" || key == "" {
			return nil, "", fmt.Errorf("%q is not s3://bucket/key", location)
		}
		return f.fetchS3(ctx, bucket, key, "", version)
	case strings.HasPrefix(location, "http://"), strings.HasPrefix(location, "https://"):
		if bucket, key, region, ok := S3URL(location); ok {
			return f.fetchS3(ctx, bucket, key, region, version)
		}
		return f.fetchHTTP(ctx, location, version)
	}
	return f.fetchFile(strings.TrimPrefix(location, "file://"), version)
}

func (f *Fetcher) fetchFile(p, version string) (io.ReadCloser, string, error) {
	fh, err := os.Open(p)
	if err != nil {
		return nil, "", err
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, "", err
	}
	if st.IsDir() {
		fh.Close()
		return nil, "", fmt.Errorf("%s is a directory", p)
	}
	if st.Size() > f.opt.MaxBytes {
		fh.Close()
		return nil, "", fmt.Errorf("%s: %d bytes: %w of %d bytes", p, st.Size(), ErrTooLarge, f.opt.MaxBytes)
	}
	v := "file:" + strconv.FormatInt(st.Size(), 10) + "@" + strconv.FormatInt(st.ModTime().UnixNano(), 10)
	if v == version {
		fh.Close()
		return nil, v, nil
	}
	return fh, v, nil
}

func (f *Fetcher) fetchHTTP(ctx context.Context, u, version string) (io.ReadCloser, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("User-Agent", "picket (threat list refresh)")
	switch {
	case strings.HasPrefix(version, "etag:"):
		req.Header.Set("If-None-Match", strings.TrimPrefix(version, "etag:"))
	case strings.HasPrefix(version, "modified:"):
		req.Header.Set("If-Modified-Since", strings.TrimPrefix(version, "modified:"))
	}
	resp, err := f.opt.HTTP.Do(req)
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode == http.StatusNotModified {
		resp.Body.Close()
		return nil, version, nil
	}
	if resp.StatusCode != http.StatusOK {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		resp.Body.Close()
		return nil, "", fmt.Errorf("GET %s: %s: %s", redact(u), resp.Status, strings.TrimSpace(string(snippet)))
	}
	if resp.ContentLength > f.opt.MaxBytes {
		resp.Body.Close()
		return nil, "", fmt.Errorf("GET %s: %d bytes: %w of %d bytes", redact(u), resp.ContentLength, ErrTooLarge, f.opt.MaxBytes)
	}
	v := ""
	if e := resp.Header.Get("ETag"); e != "" {
		v = "etag:" + e
	} else if m := resp.Header.Get("Last-Modified"); m != "" {
		v = "modified:" + m
	}
	return f.limit(resp.Body), v, nil
}

// redact drops a URL's user information and query, which may hold
// credentials, for error messages.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	p.User, p.RawQuery = nil, ""
	return p.String()
}

func (f *Fetcher) client(ctx context.Context) (*s3.Client, error) {
	f.s3once.Do(func() {
		opts := []func(*config.LoadOptions) error{}
		if f.opt.S3Region != "" {
			opts = append(opts, config.WithRegion(f.opt.S3Region))
		}
		cfg, err := config.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			f.s3err = fmt.Errorf("loading AWS configuration: %w", err)
			return
		}
		if cfg.Region == "" {
			cfg.Region = "us-east-1"
		}
		f.s3 = s3.NewFromConfig(cfg, func(o *s3.Options) {
			if f.opt.S3Endpoint != "" {
				o.BaseEndpoint = aws.String(f.opt.S3Endpoint)
			}
			// A custom endpoint (the option, or AWS_ENDPOINT_URL_S3 in the
			// environment) is MinIO, LocalStack or the like, which expect
			// the bucket in the path.
			o.UsePathStyle = f.opt.S3PathStyle || o.BaseEndpoint != nil
		})
	})
	return f.s3, f.s3err
}

func (f *Fetcher) fetchS3(ctx context.Context, bucket, key, region, version string) (io.ReadCloser, string, error) {
	c, err := f.client(ctx)
	if err != nil {
		return nil, "", err
	}
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if etag, ok := strings.CutPrefix(version, "etag:"); ok {
		in.IfNoneMatch = aws.String(etag)
	}
	var optFns []func(*s3.Options)
	if region != "" && f.opt.S3Endpoint == "" {
		optFns = append(optFns, func(o *s3.Options) { o.Region = region })
	}
	out, err := c.GetObject(ctx, in, optFns...)
	if err != nil {
		var re *awshttp.ResponseError
		if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotModified {
			return nil, version, nil
		}
		return nil, "", fmt.Errorf("s3://%s/%s: %w", bucket, key, err)
	}
	if out.ContentLength != nil && *out.ContentLength > f.opt.MaxBytes {
		out.Body.Close()
		return nil, "", fmt.Errorf("s3://%s/%s: %d bytes: %w of %d bytes", bucket, key, *out.ContentLength, ErrTooLarge, f.opt.MaxBytes)
	}
	v := ""
	if out.ETag != nil {
		v = "etag:" + *out.ETag
	}
	return f.limit(out.Body), v, nil
}

// limit fails a body that grows past MaxBytes.
func (f *Fetcher) limit(rc io.ReadCloser) io.ReadCloser {
	return &limited{rc: rc, left: f.opt.MaxBytes}
}

type limited struct {
	rc   io.ReadCloser
	left int64
}

func (l *limited) Read(p []byte) (int, error) {
	if l.left <= 0 {
		var one [1]byte
		n, err := l.rc.Read(one[:])
		if n > 0 {
			return 0, ErrTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.rc.Read(p)
	l.left -= int64(n)
	return n, err
}

func (l *limited) Close() error { return l.rc.Close() }

// S3URL recognizes the https:// forms of an S3 object's location that
// GuardDuty accepts: https://s3.amazonaws.com/bucket/key,
// https://s3-REGION.amazonaws.com/bucket/key (and s3.REGION), and the
// virtual-hosted https://bucket.s3.amazonaws.com/key,
// https://bucket.s3-REGION.amazonaws.com/key (and s3.REGION). region is
// "" when the URL does not name one.
func S3URL(location string) (bucket, key, region string, ok bool) {
	u, err := url.Parse(location)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil {
		return "", "", "", false
	}
	host := strings.ToLower(u.Hostname())
	rest, found := strings.CutSuffix(host, ".amazonaws.com")
	if !found {
		return "", "", "", false
	}
	path := strings.TrimPrefix(u.Path, "/")
	regionOf := func(s string) (string, bool) {
		switch {
		case s == "s3":
			return "", true
		case strings.HasPrefix(s, "s3-"):
			return strings.TrimPrefix(s, "s3-"), true
		case strings.HasPrefix(s, "s3."):
			return strings.TrimPrefix(s, "s3."), true
		}
		return "", false
	}
	if r, isS3 := regionOf(rest); isS3 {
		// path style: /bucket/key
		b, k, ok := strings.Cut(path, "/")
		if !ok || b == "" || k == "" {
			return "", "", "", false
		}
		return b, k, r, true
	}
	// virtual hosted: bucket.s3[-.]region
	i := strings.Index(rest, ".s3")
	if i <= 0 || path == "" {
		return "", "", "", false
	}
	r, isS3 := regionOf(rest[i+1:])
	if !isS3 {
		return "", "", "", false
	}
	return rest[:i], path, r, true
}
