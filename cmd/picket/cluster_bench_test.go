package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"picket/internal/cluster"
	"picket/internal/store/postgres"
)

// BenchmarkCluster measures the distributed mode on this machine: a
// generated estate of eight accounts (one hour each at load 4, about 1.4
// million flow records in the S3 layout) is published by one replay
// producer, then read from the stream by 1, 2 and 4 detector processes
// sharing 16 partitions, until every partition has ended its input and
// committed. It reports records per second for the detectors (from the
// first process's start to the last partition's final commit) and for
// the producer; the CPU the detector processes, the NATS server and
// PostgreSQL spent on it, per million records (from /proc, on Linux);
// and, as the parent's metric, picket analyze over the same input. It
// needs the local NATS and PostgreSQL:
//
//	go test -run '^$' -bench BenchmarkCluster -benchtime 1x ./cmd/picket
func BenchmarkCluster(b *testing.B) {
	url := natsURL(b)
	bin := buildPicket(b)
	logs := b.TempDir()
	records := 0
	for i := range 8 {
		acct := fmt.Sprintf("1000000000%02d", i+1)
		out, err := exec.Command(bin, "generate", "--layout", "s3", "--out", logs, "--account", acct,
			"--seed", strconv.Itoa(i+1), "--duration", "1h", "--load", "4").CombinedOutput()
		if err != nil {
			b.Fatalf("generate: %v\n%s", err, out)
		}
		var n int
		if _, err := fmt.Sscanf(strings.TrimPrefix(string(out), "picket generate: "), "%d", &n); err != nil {
			b.Fatalf("generate said %q", out)
		}
		records += n
	}
	start := time.Now()
	out, err := exec.Command(bin, "analyze", "--output", "jsonl", logs).Output()
	if err != nil {
		b.Fatalf("analyze: %v", err)
	}
	b.ReportMetric(float64(records)/time.Since(start).Seconds(), "analyze-records/s")
	var lines []json.RawMessage
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		lines = append(lines, json.RawMessage(l))
	}
	findings := byID(b, lines)

	for _, n := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("detectors=%d", n), func(b *testing.B) {
			for range b.N {
				runClusterBench(b, bin, url, logs, records, findings, n)
			}
		})
	}
}

func runClusterBench(b *testing.B, bin, url, logs string, records int, findings map[string]any, detectors int) {
	dsn := clusterPostgres(b)
	name := "PICKETBENCH" + strings.ToUpper(randomHex(4))
	const partitions = 16
	dir := b.TempDir()
	cfg := filepath.Join(dir, "picket.yaml")
	yaml := fmt.Sprintf("store:\n  postgres: %q\ncluster:\n  bus: %s\n  name: %s\n  partitions: %d\n  producers: [ingest]\n", dsn, url, name, partitions)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { dropCluster(url, name) })

	b.StopTimer()
	pubNATS := procCPU("nats-server")
	start := time.Now()
	ing := exec.Command(bin, "serve", "--config", cfg, "--data-dir", filepath.Join(dir, "ingest"), "--role", "ingest", "--node", "ingest", "--replay", logs)
	if out, err := ing.CombinedOutput(); err != nil {
		b.Fatalf("ingest: %v\n%s", err, out)
	}
	b.ReportMetric(float64(records)/time.Since(start).Seconds(), "publish-records/s")
	if pubNATS >= 0 {
		b.ReportMetric((procCPU("nats-server")-pubNATS).Seconds()/(float64(records)/1e6), "nats-publish-cpu-s/Mrec")
	}
	ingCPU := ing.ProcessState.UserTime() + ing.ProcessState.SystemTime()
	b.ReportMetric(ingCPU.Seconds()/(float64(records)/1e6), "ingest-cpu-s/Mrec")

	b.StartTimer()
	natsCPU, pgCPU := procCPU("nats-server"), procCPU("postgres")
	start = time.Now()
	var procs []*exec.Cmd
	for i := range detectors {
		p := exec.Command(bin, "serve", "--config", cfg, "--data-dir", filepath.Join(dir, "d"+strconv.Itoa(i)), "--role", "detect", "--node", "detect-"+strconv.Itoa(i))
		if err := p.Start(); err != nil {
			b.Fatal(err)
		}
		procs = append(procs, p)
	}
	stopped := false
	defer func() {
		if !stopped {
			for _, p := range procs {
				p.Process.Kill()
				p.Wait()
			}
		}
	}()
	ctx := context.Background()
	st, err := postgres.Open(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	deadline := time.Now().Add(10 * time.Minute)
	for {
		ps, err := cluster.Progress(ctx, st, name, partitions)
		if err != nil {
			b.Fatal(err)
		}
		done := true
		var observed uint64
		for _, p := range ps {
			done = done && p.Ended
			observed += p.Records
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the partitions did not end in 10 minutes (%d records observed)", observed)
		}
		time.Sleep(100 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(records)/elapsed.Seconds(), "records/s")
	natsCPU, pgCPU = procCPU("nats-server")-natsCPU, procCPU("postgres")-pgCPU
	var detCPU time.Duration
	for _, p := range procs {
		p.Process.Signal(os.Interrupt)
		p.Wait()
		detCPU += p.ProcessState.UserTime() + p.ProcessState.SystemTime()
	}
	stopped = true
	if got := storedJSON(b, dsn); !reflect.DeepEqual(got, findings) {
		b.Errorf("the cluster stored %d findings, not the %d analyze reports", len(got), len(findings))
	}
	per := func(d time.Duration) float64 { return d.Seconds() / (float64(records) / 1e6) }
	b.ReportMetric(per(detCPU), "detect-cpu-s/Mrec")
	if natsCPU >= 0 && pgCPU >= 0 {
		b.ReportMetric(per(natsCPU), "nats-cpu-s/Mrec")
		b.ReportMetric(per(pgCPU), "postgres-cpu-s/Mrec")
	}
}

// procCPU returns the CPU time (user and system) the processes whose
// command is name have spent, from /proc; -1 where /proc cannot tell.
func procCPU(name string) time.Duration {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return -1
	}
	var ticks int64
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ... : comm is in parentheses, utime and
		// stime are the 14th and 15th fields.
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open || s[open+1:end] != name {
			continue
		}
		f := strings.Fields(s[end+1:])
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + st
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ, 100 on Linux
}
