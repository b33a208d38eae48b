package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	"github.com/aws/aws-sdk-go-v2/service/guardduty/types"

	"picket/internal/config"
	"picket/internal/finding"
	"picket/internal/source"
)

// BenchmarkFindingLatency measures, end to end, how long a finding takes
// to show through the API after the file that completes its evidence is
// dropped into the watched directory of a service with the default
// configuration (commit interval, lateness, idle flush, watch polling).
// The logs are a live stream of five-minute flow log objects, each with a
// port scan by an instance; a probe is answered when ListFindings, signed
// as a client's, lists a port scan updated at or after that object's scan.
//
//   - caught-up: each object is dropped once the last one's finding shows,
//     as in a stream that keeps up; light background traffic.
//   - sustained-light, sustained-heavy: objects are dropped at a steady
//     rate whatever the service does, with more background traffic: the
//     lag under sustained ingest.
//
// It reports the latency's percentiles (p50-ms, p99-ms, max-ms) and, for
// sustained, the records per second offered. Run it with, for example,
// -benchtime=40x.
func BenchmarkFindingLatency(b *testing.B) {
	b.Run("caught-up", func(b *testing.B) { benchLatency(b, 0.2, 0) })
	b.Run("sustained-light", func(b *testing.B) { benchLatency(b, 5, 500*time.Millisecond) })
	b.Run("sustained-heavy", func(b *testing.B) { benchLatency(b, 20, 250*time.Millisecond) })
}

// benchLatency drops b.N objects of generated logs at background load
// load, one every every (0: each once the last one's finding shows).
func benchLatency(b *testing.B, load float64, every time.Duration) {
	staging := b.TempDir()
	start := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	n := b.N
	var specs []string
	scanAt := make([]time.Time, n)
	for k := range n {
		at := time.Duration(k)*5*time.Minute + 90*time.Second
		scanAt[k] = start.Add(at)
		specs = append(specs, fmt.Sprintf("scan from=app:1 target=203.0.113.%d ports=1-100 timing=T4 at=%s", 1+k%250, at))
	}
	records := genLogsLoad(b, staging, start, time.Duration(n)*5*time.Minute, load, specs...)
	objects := stagedObjects(b, staging, start.Add(time.Duration(n)*5*time.Minute))
	if len(objects) < n {
		b.Fatalf("%d objects for %d probes", len(objects), n)
	}

	dataDir, watch := b.TempDir(), b.TempDir()
	cfg := config.Default()
	cfg.Listen, cfg.DataDir, cfg.Account = "127.0.0.1:0", dataDir, testAccount
	cfg.Sources.Watch = []config.Watch{{Path: watch, PollInterval: config.Duration(config.DefaultWatchPoll)}}
	s := startService(b, cfg)
	gd := gdClient(b, s.url(), dataDir)
	ctx := context.Background()
	// The detector of the logs' account, which the first commit creates.
	det := finding.DetectorID(cfg.Account, cfg.Region)
	shown := func(k int) bool {
		out, err := gd.ListFindings(ctx, &guardduty.ListFindingsInput{DetectorId: &det, MaxResults: aws.Int32(1),
			FindingCriteria: &types.FindingCriteria{Criterion: map[string]types.Condition{
				"type":      {Equals: []string{finding.TypePortscan}},
				"updatedAt": {GreaterThanOrEqual: aws.Int64(scanAt[k].UnixMilli())},
			}}})
		if err != nil {
			return false // no detector before the first commit
		}
		return len(out.FindingIds) > 0
	}
	drop := func(k int) time.Time {
		for _, o := range objects[k] {
			dst := filepath.Join(watch, o.rel)
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				b.Fatal(err)
			}
			if err := os.Rename(o.path, dst); err != nil {
				b.Fatal(err)
			}
		}
		return time.Now()
	}
	// wait polls until probe k shows and returns when it did.
	wait := func(k int) time.Time {
		deadline := time.Now().Add(5 * time.Minute)
		for !shown(k) {
			if time.Now().After(deadline) {
				b.Fatalf("probe %d did not show within 5 minutes", k)
			}
			time.Sleep(5 * time.Millisecond)
		}
		return time.Now()
	}

	lat := make([]time.Duration, n)
	b.ResetTimer()
	began := time.Now()
	if every == 0 {
		for k := range n {
			t0 := drop(k)
			lat[k] = wait(k).Sub(t0)
		}
	} else {
		dropped := make([]time.Time, n)
		var mu sync.Mutex
		go func() {
			tick := time.NewTicker(every)
			defer tick.Stop()
			for k := range n {
				t := drop(k)
				mu.Lock()
				dropped[k] = t
				mu.Unlock()
				<-tick.C
			}
		}()
		for k := range n {
			for {
				mu.Lock()
				ok := !dropped[k].IsZero()
				mu.Unlock()
				if ok {
					break
				}
				time.Sleep(time.Millisecond)
			}
			at := wait(k)
			mu.Lock()
			lat[k] = at.Sub(dropped[k])
			mu.Unlock()
		}
	}
	elapsed := time.Since(began)
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	if every > 0 {
		b.ReportMetric(float64(records)/elapsed.Seconds(), "offered-records/s")
	}
	b.ReportMetric(0, "ns/op")
}

// stagedObject is a generated object and its path under the staging
// directory.
type stagedObject struct{ path, rel string }

// stagedObjects groups the objects under dir by five-minute delivery
// slot from the start of the data, leaving out those delivered at or
// after end.
func stagedObjects(b *testing.B, dir string, end time.Time) [][]stagedObject {
	b.Helper()
	bySlot := map[int64][]stagedObject{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		l := source.ParseLayout(path)
		if l.Time.IsZero() || !l.Time.Before(end) {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		slot := l.Time.Unix() / 300
		bySlot[slot] = append(bySlot[slot], stagedObject{path, rel})
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	slots := make([]int64, 0, len(bySlot))
	for s := range bySlot {
		slots = append(slots, s)
	}
	sort.Slice(slots, func(i, j int) bool { return slots[i] < slots[j] })
	out := make([][]stagedObject, len(slots))
	for i, s := range slots {
		out[i] = bySlot[s]
	}
	return out
}
