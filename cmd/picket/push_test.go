package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"picket/internal/publish"
)

// TestServePushCrash runs picket serve with a webhook push target over a
// directory of flow logs, kills it with SIGKILL while it ingests and
// pushes, restarts it, and checks that every finding in the store reached
// the webhook: at least once, none lost across the kill.
func TestServePushCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds picket and runs serve")
	}
	bin := buildPicket(t)
	work := t.TempDir()
	logs := filepath.Join(work, "logs")
	gen := exec.Command(bin, "generate", "--layout", "s3", "--out", logs, "--duration", "3h", "--load", "2")
	out, err := gen.CombinedOutput()
	if err != nil {
		t.Fatalf("generate: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`(\d+) records`).FindSubmatch(out)
	records, _ := strconv.Atoi(string(m[1]))

	secret := "push-crash-test-secret-0123456789"
	var mu sync.Mutex
	got := map[string]int{}      // deliveries by finding ID
	eventIDs := map[string]int{} // deliveries by event ID
	var bad []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := publish.Verify([]byte(secret), r.Header.Get(publish.HeaderTimestamp), r.Header.Get(publish.HeaderSignature), body, time.Now(), time.Minute); err != nil {
			mu.Lock()
			bad = append(bad, err.Error())
			mu.Unlock()
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var e publish.EventBridgeEvent
		if err := json.Unmarshal(body, &e); err != nil || e.Detail == nil {
			http.Error(w, "not an event", http.StatusBadRequest)
			return
		}
		time.Sleep(5 * time.Millisecond) // a receiver that takes its time keeps a backlog
		mu.Lock()
		got[e.Detail.ID]++
		eventIDs[e.ID]++
		mu.Unlock()
	}))
	defer hook.Close()
	delivered := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(got)
	}

	dir := filepath.Join(work, "crash")
	os.MkdirAll(dir, 0o700)
	cfgPath := filepath.Join(dir, "picket.yaml")
	cfg := fmt.Sprintf("listen: 127.0.0.1:0\ndata_dir: %s\naccount: \"123456789012\"\nlog: {level: info}\n"+
		"ingest:\n  commit_interval: 250ms\nsources:\n  watch:\n    - path: %s\n      poll_interval: 50ms\n"+
		"publish:\n  poll_interval: 50ms\n  webhooks:\n    - name: hook\n      url: %s\n      insecure_http: true\n      secret: %s\n",
		filepath.Join(dir, "data"), logs, hook.URL, secret)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	p := startServe(t, bin, cfgPath)
	waitUntil(t, 5*time.Minute, "some findings pushed while records are read", func() bool {
		m := scrapeMetrics(t, p.url)
		return delivered() > 0 && metricSum(m, "picket_records_ingested_total") < float64(records)
	})
	p.crash(t)
	before := delivered()
	t.Logf("killed with SIGKILL after %d findings reached the webhook", before)

	p = startServe(t, bin, cfgPath)
	caughtUp(t, p.url, 5*time.Minute)
	var final map[string]float64
	drained := func() bool {
		final = scrapeMetrics(t, p.url)
		_, seen := final[`picket_push_pending{target="hook"}`]
		return seen && final[`picket_push_oldest_pending_seconds{target="hook"}`] == 0 && final[`picket_push_failing{target="hook"}`] == 0
	}
	waitUntil(t, time.Minute, "the push backlog to drain", func() bool {
		if !drained() {
			return false
		}
		time.Sleep(500 * time.Millisecond) // past a poll that began before the last commit
		return drained()
	})
	p.stop(t)

	stored := storedFindings(t, filepath.Join(dir, "data"))
	mu.Lock()
	defer mu.Unlock()
	for _, b := range bad {
		t.Errorf("webhook: %s", b)
	}
	var missing []string
	for id := range stored {
		if got[id] == 0 {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d of %d stored findings never reached the webhook: %v", len(missing), len(stored), missing)
	}
	if len(stored) < 3 {
		t.Errorf("only %d findings: the logs should hold several attacks", len(stored))
	}
	again := 0
	for _, n := range eventIDs {
		again += n - 1
	}
	count := final[`picket_push_latency_seconds_count{target="hook"}`]
	mean := 0.0
	if count > 0 {
		mean = final[`picket_push_latency_seconds_sum{target="hook"}`] / count
	}
	t.Logf("%d findings stored, %d delivered, %d deliveries sent again (at least once); commit to delivery after the restart: mean %.3fs over %.0f",
		len(stored), len(got), again, mean, count)
}
