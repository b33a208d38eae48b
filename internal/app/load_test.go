package app

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	"github.com/aws/aws-sdk-go-v2/service/guardduty/types"

	"picket/internal/config"
	"picket/internal/datadir"
	"picket/internal/finding"
	"picket/internal/ingest"
	"picket/internal/store"
	"picket/internal/store/sqlite"
)

// prepopulate stores n findings of the test account's region, of four
// types and three severities over a month, so that listings page.
func prepopulate(t testing.TB, dataDir string, n int) {
	t.Helper()
	ctx := context.Background()
	dd, err := datadir.Open(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer dd.Close()
	st, err := sqlite.Open(ctx, filepath.Join(dataDir, config.DefaultSQLite))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	det, err := ingest.EnsureDetector(ctx, st, testAccount, "us-east-1", nopLog())
	if err != nil {
		t.Fatal(err)
	}
	kinds := []string{finding.TypePortscan, finding.TypePortProbeUnprotectedPort, finding.TypeSSHBruteForce, finding.TypePortSweep}
	start := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	var batch []*finding.Finding
	for i := range n {
		at := start.Add(time.Duration(i) * 20 * time.Minute)
		f := finding.New(kinds[i%len(kinds)], finding.Key{Account: testAccount, Region: "us-east-1", Resource: fmt.Sprintf("eni-%017x", i)}, det.ID, at, at.Add(time.Minute), int64(1+i%7))
		f.Severity = finding.Severity([]float64{2, 5, 8}[i%3])
		batch = append(batch, f)
	}
	if err := st.Commit(ctx, store.Batch{Findings: batch}); err != nil {
		t.Fatal(err)
	}
}

type latencies struct {
	mu   sync.Mutex
	byOp map[string][]time.Duration
	errs []string
}

func (l *latencies) add(op string, d time.Duration, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.byOp[op] = append(l.byOp[op], d)
	if err != nil && len(l.errs) < 20 {
		l.errs = append(l.errs, op+": "+err.Error())
	} else if err != nil {
		l.errs = append(l.errs[:19], fmt.Sprintf("... and more (%s: %v)", op, err))
	}
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, int(p*float64(len(d))))]
}

// TestServeLoad runs 50 concurrent API clients (the AWS SDK, signing every
// request) that list, get and count findings while the service ingests
// about half a million records: no request may fail. It logs latency
// percentiles per operation.
func TestServeLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	dataDir, watch, staging := t.TempDir(), t.TempDir(), t.TempDir()
	hours, load := 6, 2.0
	if raceEnabled {
		hours, load = 1, 1
	}
	records := genLogs(t, staging, time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC), time.Duration(hours)*time.Hour, load)
	prepopulate(t, dataDir, 2000)
	cfg := testConfig(dataDir, watch)
	cfg.Ingest.CommitInterval = config.Duration(time.Second)
	s := startService(t, cfg)
	cred, err := datadir.ReadCredential(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	httpClient := &http.Client{Transport: &http.Transport{MaxIdleConns: 100, MaxIdleConnsPerHost: 100, IdleConnTimeout: time.Minute}}
	det := finding.DetectorID(testAccount, "us-east-1")

	const clients = 50
	const minDuration = 10 * time.Second
	lat := &latencies{byOp: map[string][]time.Duration{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gd := guardduty.New(guardduty.Options{
				BaseEndpoint: aws.String(s.url()), Region: "us-east-1", HTTPClient: httpClient,
				Credentials: credentials.NewStaticCredentialsProvider(cred.AccessKeyID, string(cred.SecretAccessKey), ""),
				Retryer:     aws.NopRetryer{}, // every failure shows
			})
			call := func(op string, f func(ctx context.Context) error) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				start := time.Now()
				err := f(ctx)
				lat.add(op, time.Since(start), err)
			}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var ids []string
				call("ListFindings", func(ctx context.Context) error {
					in := &guardduty.ListFindingsInput{DetectorId: &det, MaxResults: aws.Int32(50)}
					switch (c + i) % 3 {
					case 1:
						in.FindingCriteria = &types.FindingCriteria{Criterion: map[string]types.Condition{"severity": {GreaterThanOrEqual: aws.Int64(5)}}}
						in.SortCriteria = &types.SortCriteria{AttributeName: aws.String("updatedAt"), OrderBy: types.OrderByDesc}
					case 2:
						in.FindingCriteria = &types.FindingCriteria{Criterion: map[string]types.Condition{"type": {Equals: []string{finding.TypePortscan}}}}
					}
					out, err := gd.ListFindings(ctx, in)
					if err == nil {
						ids = out.FindingIds
					}
					return err
				})
				if len(ids) > 0 {
					call("GetFindings", func(ctx context.Context) error {
						_, err := gd.GetFindings(ctx, &guardduty.GetFindingsInput{DetectorId: &det, FindingIds: ids})
						return err
					})
				}
				if i%5 == 0 {
					call("GetFindingsStatistics", func(ctx context.Context) error {
						_, err := gd.GetFindingsStatistics(ctx, &guardduty.GetFindingsStatisticsInput{DetectorId: &det, GroupBy: types.GroupByTypeFindingType})
						return err
					})
				}
			}
		}()
	}
	began := time.Now()
	moveInto(t, staging, watch)
	m := caughtUp(t, s.url(), 5*time.Minute)
	ingestTook := time.Since(began)
	if rest := minDuration - time.Since(began); rest > 0 {
		time.Sleep(rest)
	}
	close(stop)
	wg.Wait()
	elapsed := time.Since(began)
	if got := int(sum(m, "picket_records_ingested_total")); got != records {
		t.Errorf("ingested %d of %d records under load", got, records)
	}
	if len(lat.errs) > 0 {
		t.Errorf("%d clients saw errors:\n%s", clients, strings.Join(lat.errs, "\n"))
	}
	var all []time.Duration
	ops := make([]string, 0, len(lat.byOp))
	for op := range lat.byOp {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	for _, op := range ops {
		d := lat.byOp[op]
		all = append(all, d...)
		slices.Sort(d)
		t.Logf("%-22s %6d requests  p50 %7v  p90 %7v  p99 %7v  max %7v", op, len(d),
			percentile(d, .5).Round(time.Microsecond*100), percentile(d, .9).Round(time.Microsecond*100),
			percentile(d, .99).Round(time.Microsecond*100), d[len(d)-1].Round(time.Millisecond))
	}
	slices.Sort(all)
	t.Logf("%d clients, %d requests in %v (%.0f/s), all p50 %v p99 %v; ingest of %d records took %v under load",
		clients, len(all), elapsed.Round(time.Millisecond), float64(len(all))/elapsed.Seconds(),
		percentile(all, .5).Round(time.Microsecond*100), percentile(all, .99).Round(time.Microsecond*100), records, ingestTook.Round(time.Millisecond))
}
