package app

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"picket/internal/config"
)

// recordedAWS answers the describe calls of the inventory poller from the
// poller's recorded responses.
func recordedAWS(t *testing.T) *httptest.Server {
	const dir = "../inventory/awspoll/testdata"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		name, typ := "", "text/xml"
		if target := r.Header.Get("X-Amz-Target"); target != "" {
			name, typ = target[strings.LastIndexByte(target, '.')+1:]+".json", "application/x-amz-json-1.1"
		} else {
			form, _ := url.ParseQuery(string(body))
			name = form.Get("Action")
			if tok := form.Get("NextToken"); tok != "" {
				name += "." + tok
			}
			name += ".xml"
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("no recorded response %s", name)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", typ)
		w.Write(data)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestEstatePolls checks the service's inventory: the folder is read at
// start, and polls of the AWS APIs (here a server that answers from
// recorded responses) add dated snapshots beside it.
func TestEstatePolls(t *testing.T) {
	srv := recordedAWS(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE01")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "example")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	cfg := config.Inventory{
		Dir: estateInventory, Regions: []string{"us-east-1"}, Endpoint: srv.URL,
		PollInterval: config.Duration(time.Minute), Keep: 2,
	}
	est, err := newEstate(context.Background(), cfg, nopLog())
	if err != nil {
		t.Fatal(err)
	}
	if snaps := est.Current().Snapshots(); len(snaps) != 1 || !snaps[0].Time.IsZero() {
		t.Fatalf("before polling: %d snapshots, want the folder's undated one", len(snaps))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		est.Run(ctx)
		close(done)
	}()
	waitFor(t, 30*time.Second, "a polled snapshot", func() bool { return len(est.Current().Snapshots()) == 2 })
	cancel()
	<-done
	snaps := est.Current().Snapshots()
	polled := snaps[1]
	if polled.Time.IsZero() || len(polled.Interfaces) == 0 || len(polled.Instances) == 0 || len(polled.Tasks) == 0 || len(polled.LoadBalancers) == 0 {
		t.Errorf("the polled snapshot: %d interfaces, %d instances, %d tasks, %d load balancers",
			len(polled.Interfaces), len(polled.Instances), len(polled.Tasks), len(polled.LoadBalancers))
	}
	// Findings about older traffic are explained with the folder's
	// snapshot, newer ones with the poll's.
	if est.Current().At(polled.Time.Add(-time.Hour)) != snaps[0] || est.Current().At(polled.Time.Add(time.Second)) != polled {
		t.Error("At does not pick the snapshot of the time")
	}
}

func TestEstateBadFolder(t *testing.T) {
	if _, err := newEstate(context.Background(), config.Inventory{Dir: t.TempDir(), PollInterval: config.Duration(time.Minute), Keep: 1}, nopLog()); err == nil {
		t.Error("an empty inventory folder started")
	}
}
