package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"picket/internal/cluster"
	"picket/internal/pgtest"
	"picket/internal/store/postgres"
)

// natsURL returns the NATS server the cluster tests use (the local one
// by default), skipping the test when it cannot be reached, unless
// PICKET_REQUIRE_NATS=1.
func natsURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("PICKET_NATS_URL")
	if url == "" {
		url = "nats://127.0.0.1:4222"
	}
	nc, err := nats.Connect(url, nats.Timeout(5*time.Second))
	if err != nil {
		if os.Getenv("PICKET_REQUIRE_NATS") == "1" {
			t.Fatalf("NATS unreachable at %s: %v", url, err)
		}
		t.Skipf("NATS unreachable at %s: %v", url, err)
	}
	nc.Close()
	return url
}

// clusterPostgres returns a connection string to a fresh schema of the
// test server (pgtest.DSN).
func clusterPostgres(t testing.TB) string { return pgtest.DSN(t, "picket_cluster_") }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// node is a picket serve process of a cluster.
type node struct {
	name string
	cmd  *exec.Cmd
	log  string
}

func startNode(t *testing.T, bin, cfg, name, role string, args ...string) *node {
	t.Helper()
	dir := filepath.Dir(cfg)
	n := &node{name: name, log: filepath.Join(dir, name+".log")}
	f, err := os.Create(n.log)
	if err != nil {
		t.Fatal(err)
	}
	argv := append([]string{"serve", "--config", cfg, "--data-dir", filepath.Join(dir, name), "--role", role, "--node", name, "--log-level", "debug"}, args...)
	n.cmd = exec.Command(bin, argv...)
	n.cmd.Stdout, n.cmd.Stderr = f, f
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if n.cmd.ProcessState == nil {
			n.cmd.Process.Kill()
			n.cmd.Wait()
		}
		f.Close()
		if t.Failed() {
			b, _ := os.ReadFile(n.log)
			t.Logf("log of %s:\n%s", name, tail(string(b), 40))
		}
	})
	return n
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(l[max(0, len(l)-lines):], "\n")
}

// analyzeJSON returns what picket analyze reports over paths, by
// finding ID, each finding decoded as generic JSON.
func analyzeJSON(t *testing.T, bin string, paths ...string) map[string]any {
	t.Helper()
	out, err := exec.Command(bin, append([]string{"analyze", "--output", "json"}, paths...)...).Output()
	if err != nil {
		t.Fatalf("picket analyze: %v", err)
	}
	var doc struct{ Findings []json.RawMessage }
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	return byID(t, doc.Findings)
}

func byID(t testing.TB, raw []json.RawMessage) map[string]any {
	t.Helper()
	m := map[string]any{}
	for _, r := range raw {
		var f map[string]any
		if err := json.Unmarshal(r, &f); err != nil {
			t.Fatal(err)
		}
		m[f["id"].(string)] = f
	}
	return m
}

// storedJSON returns the findings a PostgreSQL store holds, by ID.
func storedJSON(t testing.TB, dsn string) map[string]any {
	t.Helper()
	raw, err := storedRaw(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return byID(t, raw)
}

func storedRaw(dsn string) ([]json.RawMessage, error) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT body FROM findings ORDER BY id")
	if err != nil {
		return nil, err
	}
	var raw []json.RawMessage
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		raw = append(raw, b)
	}
	return raw, rows.Err()
}

// TestClusterMatchesAnalyze runs the labelled example corpus through a
// cluster of two ingest and three detector processes on the real NATS
// JetStream and PostgreSQL, kills one detector process with SIGKILL
// while its partition is half read, starts another, and checks that the
// stored findings are exactly those picket analyze reports, byte for
// byte as JSON.
func TestClusterMatchesAnalyze(t *testing.T) {
	url := natsURL(t)
	dsn := clusterPostgres(t)
	bin := buildPicket(t)
	examples := filepath.Join(repoRoot, "examples", "flowlogs")
	var files []string
	filepath.WalkDir(examples, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	slices.Sort(files)
	if len(files) < 4 {
		t.Fatalf("%d example files", len(files))
	}
	want := analyzeJSON(t, bin, examples)
	if len(want) == 0 {
		t.Fatal("analyze found nothing in the examples")
	}

	name := "PICKETTEST" + strings.ToUpper(randomHex(4))
	const partitions = 8
	dir := t.TempDir()
	cfg := filepath.Join(dir, "picket.yaml")
	yaml := fmt.Sprintf(`store:
  postgres: %q
ingest:
  commit_interval: 100ms
cluster:
  bus: %s
  name: %s
  partitions: %d
  lease_ttl: 2s
  producers: [ingest-a, ingest-b]
`, dsn, url, name, partitions)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropCluster(url, name) })

	var dets []*node
	for i := 1; i <= 3; i++ {
		dets = append(dets, startNode(t, bin, cfg, "detect-"+strconv.Itoa(i), "detect"))
	}
	// The two producers split the inputs: every other file each.
	var half [2][]string
	for i, f := range files {
		half[i%2] = append(half[i%2], "--replay", f)
	}
	// The first producer publishes its half; the partitions take its
	// records and hold them, as they wait for the second producer.
	ingA := startNode(t, bin, cfg, "ingest-a", "ingest", half[0]...)
	if err := ingA.cmd.Wait(); err != nil {
		t.Fatalf("ingest-a: %v", err)
	}
	ctx := context.Background()
	st, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Kill, with SIGKILL (no last commit), the owner of a partition that
	// has committed a position and records it holds.
	waitUntil(t, 2*time.Minute, "a partition to commit records it holds", func() bool {
		ps, err := cluster.Progress(ctx, st, name, partitions)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if p.Pending == 0 {
				continue
			}
			owner := leaseOwner(t, url, name, p.Partition)
			for _, d := range dets {
				if d.name == owner {
					d.cmd.Process.Kill()
					d.cmd.Wait()
					t.Logf("killed %s holding partition %d at stream sequence %d with %d records held", d.name, p.Partition, p.Seq, p.Pending)
					return true
				}
			}
		}
		return false
	})
	// Another detector process takes its partitions over once their
	// leases lapse, and the second producer publishes the other half.
	metrics := freeAddr(t)
	startNode(t, bin, cfg, "detect-4", "detect", "--metrics-listen", metrics)
	ingB := startNode(t, bin, cfg, "ingest-b", "ingest", half[1]...)
	if err := ingB.cmd.Wait(); err != nil {
		t.Fatalf("ingest-b: %v", err)
	}
	waitUntil(t, 2*time.Minute, "every partition to end its input", func() bool {
		ps, err := cluster.Progress(ctx, st, name, partitions)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if !p.Ended || p.Forced > 0 {
				return false
			}
		}
		return true
	})
	out, err := exec.Command(bin, "cluster", "status", "--config", cfg).CombinedOutput()
	if err != nil || strings.Count(string(out), " ended ") != partitions {
		t.Errorf("picket cluster status: %v, want every partition ended:\n%s", err, out)
	}
	m := scrapeMetrics(t, "http://"+metrics)
	// detect-4 took its share of the partitions (the dead node's, or
	// others' once it asked for its share) and committed them.
	if m["picket_cluster_partitions_owned"] == 0 || m["picket_cluster_commits_total"] == 0 || m["picket_cluster_records_held"] != 0 {
		t.Errorf("detect-4's metrics: partitions %v, commits %v, held %v; want partitions and commits, none held",
			m["picket_cluster_partitions_owned"], m["picket_cluster_commits_total"], m["picket_cluster_records_held"])
	}
	got := storedJSON(t, dsn)
	if len(got) != len(want) {
		t.Errorf("the cluster stored %d findings, analyze reports %d", len(got), len(want))
	}
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			t.Errorf("finding %s (%s) missing", id, w.(map[string]any)["type"])
			continue
		}
		if !reflect.DeepEqual(g, w) {
			gb, _ := json.MarshalIndent(g, "", " ")
			wb, _ := json.MarshalIndent(w, "", " ")
			t.Errorf("finding %s differs:\ncluster: %s\nanalyze: %s", id, gb, wb)
		}
	}
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// findingCounts is each finding's type and count, by ID: what a
// stream's findings are compared by while their watermark catches up.
func findingCounts(fs map[string]any) map[string]string {
	out := map[string]string{}
	for id, f := range fs {
		m := f.(map[string]any)
		out[id] = fmt.Sprintf("%s count=%v", m["type"], m["service"].(map[string]any)["count"])
	}
	return out
}

// leaseOwner returns the node holding partition p's lease.
func leaseOwner(t *testing.T, url, name string, p int) string {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, name+"_leases")
	if err != nil {
		return ""
	}
	e, err := kv.Get(ctx, "p"+strconv.Itoa(p))
	if err != nil {
		return ""
	}
	return string(e.Value())
}

// dropCluster deletes a test cluster's stream and buckets.
func dropCluster(url, name string) {
	nc, err := nats.Connect(url)
	if err != nil {
		return
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	js.DeleteStream(ctx, name)
	for _, b := range []string{"leases", "producers", "nodes"} {
		js.DeleteKeyValue(ctx, name+"_"+b)
	}
}

// TestAccountsJudgedApart analyzes the same generated hour of traffic
// under two accounts, the private addresses of one repeating the
// other's, and checks that each account gets every finding it gets when
// analyzed alone: one account's hosts never count towards, or hide
// behind, the other's, as each account's GuardDuty sees only its logs
// (and as the cluster, partitioned by account, judges them).
func TestAccountsJudgedApart(t *testing.T) {
	bin := buildPicket(t)
	dir := t.TempDir()
	// Different seeds give the accounts their own interface and instance
	// IDs, unique as AWS's are, over the same address plan.
	for i, acct := range []string{"111122223333", "444455556666"} {
		out, err := exec.Command(bin, "generate", "--layout", "s3", "--out", dir, "--account", acct, "--seed", strconv.Itoa(i+1), "--duration", "1h").CombinedOutput()
		if err != nil {
			t.Fatalf("generate: %v\n%s", err, out)
		}
	}
	both := analyzeJSON(t, bin, dir)
	n := 0
	for _, acct := range []string{"111122223333", "444455556666"} {
		alone := analyzeJSON(t, bin, filepath.Join(dir, "AWSLogs", acct))
		if len(alone) < 4 {
			t.Errorf("account %s alone: %d findings, want one for each of the 4 attacks at least", acct, len(alone))
		}
		n += len(alone)
		for id, w := range alone {
			if g, ok := both[id]; !ok || !reflect.DeepEqual(g, w) {
				t.Errorf("finding %s (%s) of account %s differs when the other account is analyzed with it", id, w.(map[string]any)["type"], acct)
			}
		}
	}
	if len(both) != n {
		t.Errorf("%d findings together, %d apart", len(both), n)
	}
}

// TestClusterWatch streams: an ingest node watches a folder into which
// the example corpus is copied, a detector node detects, and an API node
// serves. The stored findings are analyze's (the watermark catching up
// once the input goes quiet decides them), the API lists them, and an
// ingest node killed with SIGKILL and started again under its name
// resumes from its checkpoints without counting anything twice.
func TestClusterWatch(t *testing.T) {
	url := natsURL(t)
	dsn := clusterPostgres(t)
	bin := buildPicket(t)
	examples := filepath.Join(repoRoot, "examples", "flowlogs")
	want := analyzeJSON(t, bin, examples)

	name := "PICKETTEST" + strings.ToUpper(randomHex(4))
	dir := t.TempDir()
	watch := filepath.Join(dir, "logs")
	if err := os.Mkdir(watch, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "picket.yaml")
	yaml := fmt.Sprintf("store:\n  postgres: %q\ningest:\n  commit_interval: 200ms\n  idle_flush: 1s\ncluster:\n  bus: %s\n  name: %s\n  partitions: 4\n  lease_ttl: 2s\n  producers: [ingest-w]\n", dsn, url, name)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropCluster(url, name) })
	startNode(t, bin, cfg, "detect-w", "detect")
	ing := startNode(t, bin, cfg, "ingest-w", "ingest", "--watch", watch)
	api := freeAddr(t)
	startNode(t, bin, cfg, "api-w", "api", "--listen", api, "--insecure-no-auth")

	filepath.WalkDir(examples, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(watch, d.Name()), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return err
	})
	wantSum := findingCounts(want)
	waitUntil(t, 2*time.Minute, "the stored findings to be analyze's", func() bool {
		raw, err := storedRaw(dsn) // the schema is made by the first node to open it
		return err == nil && reflect.DeepEqual(findingCounts(byID(t, raw)), wantSum)
	})

	// The API node serves them, through the detector of its account,
	// which administers the account of the findings.
	var ids []string
	waitUntil(t, time.Minute, "the API to list the findings", func() bool {
		var dets struct {
			DetectorIDs []string `json:"detectorIds"`
		}
		resp, err := http.Get("http://" + api + "/detector")
		if err != nil {
			return false
		}
		err = json.NewDecoder(resp.Body).Decode(&dets)
		resp.Body.Close()
		if err != nil || len(dets.DetectorIDs) != 1 {
			return false
		}
		resp, err = http.Post("http://"+api+"/detector/"+dets.DetectorIDs[0]+"/findings", "application/json", strings.NewReader("{}"))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var out struct {
			FindingIDs []string `json:"findingIds"`
		}
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&out) != nil {
			return false
		}
		ids = out.FindingIDs
		return len(ids) == len(want)
	})
	for _, id := range ids {
		if _, ok := want[id]; !ok {
			t.Errorf("the API lists %s, which analyze does not report", id)
		}
	}

	// A restarted ingest node reads nothing again.
	ing.cmd.Process.Kill()
	ing.cmd.Wait()
	startNode(t, bin, cfg, "ingest-w", "ingest", "--watch", watch)
	time.Sleep(4 * time.Second)
	if got := findingCounts(storedJSON(t, dsn)); !reflect.DeepEqual(got, wantSum) {
		t.Errorf("after the ingest node's restart the findings are %v, want %v", got, wantSum)
	}
}

// TestClusterFirehose delivers the example corpus to an ingest node's
// Firehose endpoint, one file a record: the stored findings are
// analyze's, and the same request delivered again, as Firehose retries
// one it had no answer to, counts nothing twice.
func TestClusterFirehose(t *testing.T) {
	url := natsURL(t)
	dsn := clusterPostgres(t)
	bin := buildPicket(t)
	examples := filepath.Join(repoRoot, "examples", "flowlogs")
	want := analyzeJSON(t, bin, examples)

	name := "PICKETTEST" + strings.ToUpper(randomHex(4))
	dir := t.TempDir()
	listen := freeAddr(t)
	cfg := filepath.Join(dir, "picket.yaml")
	yaml := fmt.Sprintf("listen: %s\nstore:\n  postgres: %q\ningest:\n  commit_interval: 200ms\n  idle_flush: 1s\nsources:\n  firehose:\n    access_keys: [firehose-test-key]\n    account: \"123456789012\"\ncluster:\n  bus: %s\n  name: %s\n  partitions: 4\n  lease_ttl: 2s\n  producers: [ingest-f]\n", listen, dsn, url, name)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropCluster(url, name) })
	startNode(t, bin, cfg, "detect-f", "detect")
	startNode(t, bin, cfg, "ingest-f", "ingest")

	var records []map[string]string
	filepath.WalkDir(examples, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			zr, err := gzip.NewReader(f)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			records = append(records, map[string]string{"data": base64.StdEncoding.EncodeToString(b)})
		}
		return err
	})
	body, _ := json.Marshal(map[string]any{"requestId": "req-1", "timestamp": time.Now().UnixMilli(), "records": records})
	post := func() int {
		req, _ := http.NewRequest("POST", "http://"+listen+"/firehose", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Amz-Firehose-Request-Id", "req-1")
		req.Header.Set("X-Amz-Firehose-Access-Key", "firehose-test-key")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitUntil(t, time.Minute, "the Firehose endpoint to take the delivery", func() bool { return post() == 200 })
	wantSum := findingCounts(want)
	waitUntil(t, 2*time.Minute, "the stored findings to be analyze's", func() bool {
		raw, err := storedRaw(dsn)
		return err == nil && reflect.DeepEqual(findingCounts(byID(t, raw)), wantSum)
	})
	if code := post(); code != 200 {
		t.Fatalf("the delivery again: %d", code)
	}
	time.Sleep(3 * time.Second)
	if got := findingCounts(storedJSON(t, dsn)); !reflect.DeepEqual(got, wantSum) {
		t.Errorf("after the delivery was repeated the findings are %v, want %v", got, wantSum)
	}
}
