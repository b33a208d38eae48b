package intel

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadFailsNamingEveryBadList(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.txt", "192.0.2.1\n")
	garbage := writeFile(t, dir, "garbage.txt", "this is\nnot a list\n")
	l, err := NewLoader(Config{Lists: []Spec{
		{Location: good, Kind: KindThreat},
		{Location: garbage, Kind: KindThreat},
		{Name: "gone", Location: filepath.Join(dir, "missing.txt"), Kind: KindTrusted},
	}})
	if err != nil {
		t.Fatal(err)
	}
	reports, err := l.Load(context.Background())
	if err == nil {
		t.Fatal("bad lists accepted")
	}
	for _, want := range []string{`threat list "garbage"`, "garbage.txt", `trusted list "gone"`, "cannot fetch", "missing.txt"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if len(reports) != 2 || reports[0].Entries != 1 {
		t.Errorf("reports %+v", reports)
	}
	if _, ok := l.Threat(netip.MustParseAddr("192.0.2.1")); ok {
		t.Error("a failed load must not swap in a partial set")
	}
}

func TestNewLoaderRejectsDuplicateNames(t *testing.T) {
	_, err := NewLoader(Config{Lists: []Spec{{Location: "a/x.txt"}, {Location: "b/x.txt"}}})
	if err == nil || !strings.Contains(err.Error(), `two lists are named "x"`) {
		t.Errorf("got %v", err)
	}
}

// TestRefreshKeepsLastGood changes a list on disk: a good change is
// swapped in, a broken one is logged and counted and the last good
// version stays in use, an unchanged file changes nothing.
func TestRefreshKeepsLastGood(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "list.txt", "192.0.2.1\n")
	var logs bytes.Buffer
	l, err := NewLoader(Config{Lists: []Spec{{Location: p}}, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	a1, a2 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	ctx := context.Background()

	if changed, err := l.Refresh(ctx); changed || err != nil {
		t.Errorf("unchanged file: changed %v, err %v", changed, err)
	}
	writeFile(t, dir, "list.txt", "192.0.2.2\n")
	bump(t, p)
	if changed, err := l.Refresh(ctx); !changed || err != nil {
		t.Fatalf("changed file: changed %v, err %v", changed, err)
	}
	if _, ok := l.Threat(a2); !ok {
		t.Error("new entry not in use")
	}
	if _, ok := l.Threat(a1); ok {
		t.Error("old entry still in use")
	}

	writeFile(t, dir, "list.txt", "\x00\x01 binary garbage")
	bump(t, p)
	changed, err := l.Refresh(ctx)
	if changed || err == nil {
		t.Fatalf("garbage: changed %v, err %v", changed, err)
	}
	if _, ok := l.Threat(a2); !ok {
		t.Error("the last good version must stay in use")
	}
	os.Remove(p)
	if _, err := l.Refresh(ctx); err == nil {
		t.Error("a missing file must fail the refresh")
	}
	st := l.Stats()
	if st.Refreshes != 4 || st.Failures != 2 || st.Swaps != 2 || st.Lists[0].Failures != 2 || !strings.Contains(st.Lists[0].LastError, "cannot fetch") {
		t.Errorf("stats %+v", st)
	}
	if n := strings.Count(logs.String(), "keeping the last good version"); n != 2 {
		t.Errorf("%d failure log lines, want 2:\n%s", n, logs.String())
	}
}

// bump moves a file's modification time forward, so that a rewrite
// within the file system's time resolution is seen as a change.
func bump(t *testing.T, p string) {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	next := st.ModTime().Add(time.Second)
	if err := os.Chtimes(p, next, next); err != nil {
		t.Fatal(err)
	}
}

// TestRefreshCutShort keeps the last good version when a refresh
// delivers a list that was cut short, and accepts it at the first load.
func TestRefreshCutShort(t *testing.T) {
	full := "192.0.2.1\n192.0.2.2\n"
	var body atomic.Value
	body.Store(full)
	version := 0
	fetch := func(_ context.Context, _, _ string) (io.ReadCloser, string, error) {
		version++
		return io.NopCloser(strings.NewReader(body.Load().(string))), string(rune('a' + version)), nil
	}
	l, err := NewLoader(Config{Lists: []Spec{{Name: "l", Location: "x", Format: FormatSTIX2}}, Fetch: fetch})
	if err != nil {
		t.Fatal(err)
	}
	body.Store(`{"type":"bundle","objects":[{"type":"indicator","pattern":"[ipv4-addr:value = '192.0.2.1']"}`)
	if _, err := l.Load(context.Background()); err != nil {
		t.Fatalf("a list cut short is used at the first load: %v", err)
	}
	body.Store(`{"type":"bundle","objects":[{"type":"indicator","pattern":"[ipv4-addr:value = '192.0.2.9']"},`)
	if _, err := l.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "JSON unreadable") {
		t.Errorf("refresh with a truncated list: %v", err)
	}
	if _, ok := l.Threat(netip.MustParseAddr("192.0.2.1")); !ok {
		t.Error("last good version lost")
	}
}

// TestRunRefreshesOnSchedule drives Run with a fake clock.
func TestRunRefreshesOnSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		fetch := func(_ context.Context, _, _ string) (io.ReadCloser, string, error) {
			n := calls.Add(1)
			return io.NopCloser(strings.NewReader("192.0.2." + string(rune('0'+n)) + "\n")), "v" + string(rune('0'+n)), nil
		}
		l, err := NewLoader(Config{Lists: []Spec{{Name: "l", Location: "x"}}, Fetch: fetch})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { l.Run(ctx, time.Hour); close(done) }()
		time.Sleep(3*time.Hour + time.Minute)
		synctest.Wait()
		cancel()
		<-done
		if n := calls.Load(); n != 4 {
			t.Errorf("%d fetches in 3 hours at an hourly refresh, want 1 + 3", n)
		}
		if _, ok := l.Threat(netip.MustParseAddr("192.0.2.4")); !ok {
			t.Error("latest version not in use")
		}
	})
}

// TestLookupsDuringRefresh runs lookups while refreshes swap sets (run
// with -race).
func TestLookupsDuringRefresh(t *testing.T) {
	i := 0
	fetch := func(_ context.Context, _, _ string) (io.ReadCloser, string, error) {
		i++
		if i%3 == 0 {
			return nil, "", errors.New("flaky")
		}
		return io.NopCloser(strings.NewReader("192.0.2.0/24\n")), string(rune('a' + i%26)), nil
	}
	l, _ := NewLoader(Config{Lists: []Spec{{Name: "l", Location: "x"}}, Fetch: fetch})
	if _, err := l.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := netip.MustParseAddr("192.0.2.7")
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, ok := l.Threat(a); !ok {
					t.Error("lookup missed during a refresh")
					return
				}
			}
		}()
	}
	for range 50 {
		l.Refresh(context.Background())
	}
	close(stop)
	wg.Wait()
}
