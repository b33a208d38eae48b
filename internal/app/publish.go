package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"

	"picket/internal/config"
	"picket/internal/metrics"
	"picket/internal/publish"
)

// startPublish builds the push targets of the configuration and starts
// the publisher that sends the store's outbox to them, beside the ingest
// loop, and to the publishing destinations the API creates, which it
// reads from the store as they come and go. With no targets it still
// runs, to prune the outbox. The returned stop ends it; call it before
// the store closes.
func startPublish(ctx context.Context, cfg *config.Config, st any, m *metrics.Set, log *slog.Logger) (stop func(), err error) {
	ps, ok := st.(publish.Store)
	if !ok {
		return nil, fmt.Errorf("the store has no outbox")
	}
	targets, err := pushTargets(ctx, cfg, log.With("component", "publish"))
	if err != nil {
		return nil, err
	}
	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t.Name()
	}
	var p *publish.Publisher
	obs := m.AddPush(names, func() []metrics.PushStatus {
		var out []metrics.PushStatus
		for _, b := range p.Backlogs() {
			out = append(out, metrics.PushStatus(b))
		}
		return out
	})
	for _, t := range targets {
		if h, ok := t.(*publish.SecurityHub); ok {
			h.Rejected = obs.Rejected
		}
	}
	pcfg := publish.Config{
		Store: ps, Targets: targets, Poll: cfg.Publish.PollInterval.D(), MaxBackoff: cfg.Publish.MaxBackoff.D(),
		Observer: publish.Observer{Sent: obs.Sent, Failed: obs.Failed},
		Log:      log.With("component", "publish"),
	}
	if ds, ok := st.(publish.DestinationStore); ok {
		dests, err := destinations(ctx, cfg, ds, log)
		if err != nil {
			return nil, err
		}
		pcfg.Dynamic = dests.Targets
	}
	p = publish.New(pcfg)
	if len(targets) > 0 {
		log.Info("push targets", "targets", names)
	}
	pctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.Run(pctx)
	}()
	return func() {
		cancel()
		wg.Wait()
		for _, t := range targets {
			if c, ok := t.(interface{ Close() error }); ok {
				c.Close()
			}
		}
	}, nil
}

// pushTargets builds every push target of the configuration; log is
// where the targets report what they do not fail a round for.
func pushTargets(ctx context.Context, cfg *config.Config, log *slog.Logger) ([]publish.Target, error) {
	var out []publish.Target
	pb := cfg.Publish
	for _, w := range pb.Webhooks {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		out = append(out, &publish.Webhook{
			TargetName: w.Name, URL: w.URL, Format: publish.Format(w.Format), Headers: w.Headers,
			Secret: secretBytes(w.Secret), Client: &http.Client{Transport: tr},
		})
	}
	for _, s := range pb.Syslog {
		t := &publish.Syslog{TargetName: s.Name, Addr: s.Address, Format: publish.Format(s.Format), Facility: s.Facility, Hostname: s.Hostname}
		if s.TLS {
			tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: s.ServerName}
			if tc.ServerName == "" {
				tc.ServerName, _, _ = net.SplitHostPort(s.Address)
			}
			if s.CAFile != "" {
				pem, err := os.ReadFile(s.CAFile)
				if err != nil {
					return nil, fmt.Errorf("publish.syslog %s: %w", s.Name, err)
				}
				pool := x509.NewCertPool()
				if !pool.AppendCertsFromPEM(pem) {
					return nil, fmt.Errorf("publish.syslog %s: no certificates in %s", s.Name, s.CAFile)
				}
				tc.RootCAs = pool
			}
			t.TLS = tc
		}
		out = append(out, t)
	}
	for _, e := range pb.EventBridge {
		acfg, err := awsConfig(ctx, e.Region, e.AccessKeyID, e.SecretAccessKey)
		if err != nil {
			return nil, fmt.Errorf("publish.eventbridge %s: AWS configuration: %w", e.Name, err)
		}
		client := eventbridge.NewFromConfig(acfg, func(o *eventbridge.Options) {
			if e.Endpoint != "" {
				o.BaseEndpoint = aws.String(e.Endpoint)
			}
		})
		out = append(out, &publish.EventBridge{TargetName: e.Name, Client: client, Bus: e.EventBus, Source: e.Source})
	}
	for _, s := range pb.S3 {
		acfg, err := awsConfig(ctx, s.Region, s.AccessKeyID, s.SecretAccessKey)
		if err != nil {
			return nil, fmt.Errorf("publish.s3 %s: AWS configuration: %w", s.Name, err)
		}
		client := s3.NewFromConfig(acfg, func(o *s3.Options) {
			if s.Endpoint != "" {
				o.BaseEndpoint = aws.String(s.Endpoint)
			}
			o.UsePathStyle = s.PathStyle
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		})
		out = append(out, &publish.S3{TargetName: s.Name, Client: client, Bucket: s.Bucket, Prefix: s.Prefix, KMSKeyARN: s.KMSKeyARN})
	}
	for _, h := range pb.SecurityHub {
		acfg, err := awsConfig(ctx, h.Region, h.AccessKeyID, h.SecretAccessKey)
		if err != nil {
			return nil, fmt.Errorf("publish.securityhub %s: AWS configuration: %w", h.Name, err)
		}
		client := securityhub.NewFromConfig(acfg, func(o *securityhub.Options) {
			if h.Endpoint != "" {
				o.BaseEndpoint = aws.String(h.Endpoint)
			}
		})
		out = append(out, &publish.SecurityHub{TargetName: h.Name, Client: client, Account: h.Account, Region: h.Region, Log: log})
	}
	return out, nil
}

// destinations returns the publishing destinations of the API as push
// targets, writing through the S3 client of publish.destinations; with
// no such section, destinations get no client and are shown as unable to
// publish.
func destinations(ctx context.Context, cfg *config.Config, st publish.DestinationStore, log *slog.Logger) (*publish.Destinations, error) {
	d := &publish.Destinations{Store: st, Administrator: cfg.Account, Log: log.With("component", "publish")}
	dc := cfg.Publish.Destinations
	if dc == nil {
		return d, nil
	}
	acfg, err := awsConfig(ctx, dc.Region, dc.AccessKeyID, dc.SecretAccessKey)
	if err != nil {
		return nil, fmt.Errorf("publish.destinations: AWS configuration: %w", err)
	}
	d.Client = s3.NewFromConfig(acfg, func(o *s3.Options) {
		if dc.Endpoint != "" {
			o.BaseEndpoint = aws.String(dc.Endpoint)
		}
		o.UsePathStyle = dc.PathStyle
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	d.KMS = dc.SSEKMS
	return d, nil
}

// awsConfig loads the AWS SDK's configuration for a region, with static
// keys when given, else the default credential chain.
func awsConfig(ctx context.Context, region, keyID string, secret config.Secret) (aws.Config, error) {
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(region)}
	if keyID != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(keyID, string(secret), "")))
	}
	return awsconfig.LoadDefaultConfig(ctx, opts...)
}

func secretBytes(s config.Secret) []byte {
	if s == "" {
		return nil
	}
	return []byte(string(s))
}
