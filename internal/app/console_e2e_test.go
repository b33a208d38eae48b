package app

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"picket/internal/config"
	"picket/internal/datadir"
)

// chromium returns the browser the console's end-to-end test drives:
// $PICKET_CHROMIUM, else chromium on PATH. Without one the test skips,
// unless PICKET_REQUIRE_CHROMIUM=1 (CI) makes that a failure.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PICKET_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("PICKET_REQUIRE_CHROMIUM") == "1" {
		t.Fatal("chromium is not installed and PICKET_REQUIRE_CHROMIUM=1: run scripts/install-test-deps")
	}
	t.Skip("chromium is not installed: run scripts/install-test-deps to test the console in a browser")
	return ""
}

// screenshots returns where the test writes its screenshots:
// $PICKET_SCREENSHOTS, else a folder of the test's own.
func screenshots(t *testing.T) string {
	if d := os.Getenv("PICKET_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

var leadingNumber = regexp.MustCompile(`\d+`)

// TestConsoleInBrowser drives the console in headless Chromium against a
// running service holding the estate example's findings: a wrong secret
// is refused; sign in; filter to one finding type; open a finding and see
// its evidence, path and remediation; create a suppression rule from it
// (its preview counts what it will archive) and see the count fall;
// archive a finding; sign out. Each page is photographed.
func TestConsoleInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	bin := chromium(t)
	shots := screenshots(t)

	watch, data := t.TempDir(), t.TempDir()
	cfg := testConfig(data, watch)
	cfg.Account = "111122223333"
	cfg.Enrich.AWSIPRanges = config.AWSIPRangesOff
	cfg.Inventory.Dir = estateInventory
	lists := t.TempDir()
	cfg.Intel.FilesDir = lists
	if err := os.WriteFile(filepath.Join(lists, "scanners.txt"), []byte("203.0.113.77\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	svc := startService(t, cfg)
	flows, err := os.ReadFile(estateFlows + "/flows.log")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	if err := os.WriteFile(filepath.Join(tmp, "flows.log"), flows, 0o644); err != nil {
		t.Fatal(err)
	}
	moveInto(t, tmp, watch)
	gd := gdClient(t, svc.url(), data)
	waitFor(t, 30*time.Second, "five findings", func() bool { return len(apiFindings(t, gd)) == 5 })
	cred, err := datadir.ReadCredential(data)
	if err != nil {
		t.Fatal(err)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox,
		chromedp.WindowSize(1366, 900), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	// The browser starts with the first action, on a context without a
	// deadline (a deadline there would stop the browser); each step then
	// runs under one of its own.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}

	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			// What the page showed, to tell why.
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if png, err := chromedp.Run(dctx, chromedp.CaptureScreenshot()); err == nil {
				os.WriteFile(filepath.Join(shots, "failed.png"), png, 0o644)
			}
			page, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`document.body.dataset.ready + " | " + document.body.innerText.slice(0, 2000)`))
			t.Fatalf("%s: %v\npage (screenshot failed.png in %s): %s", what, err, shots, page)
		}
	}
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // the whole page, as PNG
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		return s
	}
	// waitCount waits until #findings-count says n findings.
	waitCount := func(n int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			got := leadingNumber.FindString(text("#findings-count"))
			if got == strconv.Itoa(n) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the findings count says %q, want %d", text("#findings-count"), n)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	rows := func() int {
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#findings-table tr[data-finding-id]").length`))
		if err != nil {
			t.Fatalf("counting rows: %v", err)
		}
		return n
	}

	// The service's address leads to the console's sign-in.
	run("opening the console", chromedp.Navigate(svc.url()+"/"), chromedp.WaitVisible(chromedp.CSS("#signin-form")))
	shot("signin")
	run("signing in with a wrong secret",
		chromedp.SendKeys(chromedp.CSS("#access-key"), cred.AccessKeyID),
		chromedp.SendKeys(chromedp.CSS("#secret-key"), "not-the-secret"),
		chromedp.Click(chromedp.CSS("#signin-submit")),
		chromedp.WaitVisible(chromedp.CSS("#signin-error")))
	if msg := text("#signin-error"); !strings.Contains(strings.ToLower(msg), "wrong") {
		t.Errorf("the wrong secret's message: %q", msg)
	}
	run("signing in",
		chromedp.Navigate(svc.url()+"/console/"), chromedp.WaitVisible(chromedp.CSS("#signin-form")),
		chromedp.SendKeys(chromedp.CSS("#access-key"), cred.AccessKeyID),
		chromedp.SendKeys(chromedp.CSS("#secret-key"), string(cred.SecretAccessKey)),
		chromedp.Click(chromedp.CSS("#signin-submit")),
		chromedp.WaitReady(chromedp.CSS(`body[data-ready="summary"]`)),
		chromedp.WaitVisible(chromedp.CSS("#summary-chart")))
	shot("summary")

	run("opening the findings", chromedp.Navigate(svc.url()+"/console/#/findings"),
		chromedp.WaitReady(chromedp.CSS(`body[data-ready="findings"]`)))
	waitCount(5)
	shot("findings")

	run("filtering to one type",
		chromedp.SetValue(chromedp.CSS("#filter-field"), "type"),
		chromedp.SetValue(chromedp.CSS("#filter-op"), "eq"),
		chromedp.SendKeys(chromedp.CSS("#filter-value"), "Recon:EC2/Portscan"),
		chromedp.Click(chromedp.CSS("#filter-add")),
		chromedp.WaitVisible(chromedp.CSS(".filter-chip")))
	waitCount(2)
	if n := rows(); n != 2 {
		t.Fatalf("%d rows after filtering, want 2", n)
	}
	shot("findings-filtered")

	run("opening a finding",
		chromedp.Click(chromedp.CSS(`#findings-table tr[data-finding-id] .cell-type a`)),
		chromedp.WaitVisible(chromedp.CSS("#finding-detail")),
		chromedp.WaitVisible(chromedp.CSS("#detail-path svg")))
	if ev := text("#detail-evidence"); !strings.Contains(ev, "flows.log:") {
		t.Errorf("the evidence does not name the file and line: %q", ev)
	}
	if rem := text("#detail-remediation"); !strings.Contains(rem, "aws ") {
		t.Errorf("no remediation commands: %q", rem)
	}
	shot("finding")

	run("previewing a suppression rule",
		chromedp.Click(chromedp.CSS("#suppress-from-finding")),
		chromedp.WaitVisible(chromedp.CSS("#suppress-dialog")))
	deadline := time.Now().Add(20 * time.Second)
	for leadingNumber.FindString(text("#suppress-preview")) == "" {
		if time.Now().After(deadline) {
			t.Fatalf("the preview never counted: %q", text("#suppress-preview"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	preview, _ := strconv.Atoi(leadingNumber.FindString(text("#suppress-preview")))
	if preview < 1 {
		t.Fatalf("the preview says %q", text("#suppress-preview"))
	}
	shot("suppress")
	rule, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS("#suppress-name")))
	if err != nil || rule == "" {
		t.Fatalf("the rule's name: %q, %v", rule, err)
	}
	run("creating the rule",
		chromedp.Click(chromedp.CSS("#suppress-create")),
		chromedp.WaitNotVisible(chromedp.CSS("#suppress-dialog")))

	run("the rules", chromedp.Navigate(svc.url()+"/console/#/rules"),
		chromedp.WaitVisible(chromedp.CSS(`#rules-table tr[data-filter-name="`+rule+`"]`)))
	shot("rules")
	run("the findings again", chromedp.Navigate(svc.url()+"/console/#/findings"),
		chromedp.WaitReady(chromedp.CSS(`body[data-ready="findings"]`)))
	waitCount(5 - preview)

	run("archiving a finding",
		chromedp.Click(chromedp.CSS(`#findings-table tr[data-finding-id] input.row-select`)),
		chromedp.Click(chromedp.CSS("#archive-selected")))
	waitCount(4 - preview)

	// A threat list made on the lists page is loaded and becomes active.
	run("making a threat list",
		chromedp.Navigate(svc.url()+"/console/#/lists"), chromedp.WaitReady(chromedp.CSS(`body[data-ready="lists"]`)),
		chromedp.Click(chromedp.CSS("#list-new")), chromedp.WaitVisible(chromedp.CSS("#list-dialog")),
		chromedp.SetValue(chromedp.CSS("#list-kind"), "threatintelset"),
		chromedp.SendKeys(chromedp.CSS("#list-name"), "scanners"),
		chromedp.SetValue(chromedp.CSS("#list-format"), "TXT"),
		chromedp.SendKeys(chromedp.CSS("#list-location"), filepath.Join(lists, "scanners.txt")),
		chromedp.Click(chromedp.CSS("#list-save")),
		chromedp.WaitNotVisible(chromedp.CSS("#list-dialog")))
	deadline = time.Now().Add(20 * time.Second)
	for !strings.Contains(text("#lists-table"), "ACTIVE") {
		if time.Now().After(deadline) {
			t.Fatalf("the new list never became active: %q", text("#lists-table"))
		}
		time.Sleep(200 * time.Millisecond)
		run("the lists again", chromedp.Navigate(svc.url()+"/console/#/summary"), chromedp.WaitReady(chromedp.CSS(`body[data-ready="summary"]`)),
			chromedp.Navigate(svc.url()+"/console/#/lists"), chromedp.WaitReady(chromedp.CSS(`body[data-ready="lists"]`)))
	}
	shot("lists")
	run("detectors", chromedp.Navigate(svc.url()+"/console/#/detectors"), chromedp.WaitVisible(chromedp.CSS("#detectors-table")))
	shot("detectors")

	// Every field a person can fill has a name a screen reader reads, on
	// every page.
	for _, page := range []string{"summary", "findings", "rules", "lists", "detectors"} {
		run("the "+page+" page", chromedp.Navigate(svc.url()+"/console/#/"+page), chromedp.WaitReady(chromedp.CSS(`body[data-ready="`+page+`"]`)))
		unlabelled, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("input:not([type=hidden]), select, textarea, button")]
			.filter(e => e.offsetParent !== null)
			.filter(e => !(e.labels && e.labels.length) && !e.getAttribute("aria-label") && !e.getAttribute("aria-labelledby") && !(e.tagName === "BUTTON" && e.textContent.trim()))
			.map(e => e.outerHTML.slice(0, 120))`))
		if err != nil {
			t.Fatal(err)
		}
		if len(unlabelled) > 0 {
			t.Errorf("the %s page has controls without a label: %q", page, unlabelled)
		}
		errs, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll(".error")].filter(e => e.offsetParent !== null && e.textContent.trim()).map(e => e.textContent.trim())`))
		if err != nil {
			t.Fatal(err)
		}
		if len(errs) > 0 {
			t.Errorf("the %s page shows errors: %q", page, errs)
		}
	}

	// On a phone the pages fit the screen's width: wide tables scroll
	// inside their own box.
	run("a phone's screen", chromedp.EmulateViewport(390, 844), chromedp.Navigate(svc.url()+"/console/#/findings"),
		chromedp.WaitReady(chromedp.CSS(`body[data-ready="findings"]`)))
	overflow, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth - window.innerWidth`))
	if err != nil {
		t.Fatal(err)
	}
	if overflow > 0 {
		t.Errorf("on a 390-pixel screen the findings page is %d pixels too wide", overflow)
	}
	shot("findings-phone")
	run("back to a laptop's screen", chromedp.EmulateViewport(1366, 900))

	run("signing out", chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#signin-form")))
	// The session is over on the server too.
	run("the findings after sign-out", chromedp.Navigate(svc.url()+"/console/#/findings"), chromedp.WaitVisible(chromedp.CSS("#signin-form")))
	t.Logf("screenshots in %s", shots)
}
