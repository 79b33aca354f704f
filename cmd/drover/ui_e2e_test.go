package main

// The web dashboard in headless Chromium (Debian's chromium, driven with
// chromedp) against a `drover local up` cluster: real master, etcd and
// agents (fake hypervisor). Screenshots are kept in $DROVER_ARTIFACTS, or
// cmd/drover/testdata/artifacts (ignored by git).

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/realtest"
)

// browser is one headless Chromium with one tab.
type browser struct {
	t   *testing.T
	ctx context.Context
}

// chromiumPath finds Debian's chromium, or skips (fails under
// DROVER_REQUIRE_REAL).
func chromiumPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		realtest.Need(t, "chromium not installed (Debian package chromium)")
	}
	return path
}

func startBrowser(t *testing.T, path string, timeout time.Duration) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path),
		// The cluster's CA is not in the browser's store; the test is about
		// the page, not about the certificate.
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.WindowSize(1400, 1200))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	actx, cancelA := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA(); cancel() })
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{t: t, ctx: bctx}
}

func (b *browser) do(what string, acts ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, acts...); err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
}

// js evaluates an expression that yields a string.
func (b *browser) js(expr string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("browser: %s: %v", expr, err)
	}
	return s
}

// waitJS waits (without reloading anything) until expr is true in the page.
func (b *browser) waitJS(what, expr string, limit time.Duration) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(limit))); err != nil {
		b.t.Fatalf("browser: %s (%s): not within %v: %v\npage: %s", what, expr, limit, err,
			b.js(`document.body.innerText.slice(0, 3000)`))
	}
}

// screenshot keeps the whole page as an artifact (PNG: quality 100).
func (b *browser) screenshot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	dir := os.Getenv("DROVER_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("testdata", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	abs, _ := filepath.Abs(p)
	b.t.Logf("screenshot: %s (%d bytes)", abs, len(png))
}

// cellText is the text of the first element matching a CSS selector ("" if none).
func cellText(sel string) string {
	return fmt.Sprintf(`(document.querySelector(%q) || {textContent: ""}).textContent`, sel)
}

func TestDashboardInChromium(t *testing.T) {
	realtest.Short(t, "end-to-end: local cluster and headless Chromium")
	chromium := chromiumPath(t)
	lc := startLocal(t, 1, 2, "127.0.3")
	waitFor(t, 60*time.Second, "both nodes online", func() bool {
		st := lc.nodeStatus()
		return st["node1"] == "online" && st["node2"] == "online"
	})
	tarball := filepath.Join(t.TempDir(), "tiny.tar.gz")
	writeTinyRootfs(t, tarball, "ui")
	lc.mustCLI("template", "import", "tiny", tarball)
	lc.mustCLI("instance", "add", "-t", "file", "--disk", "64M", "-o", "tiny", "-n", "node1", "-B", "vcpus=1,memory=256M", "web1")
	lc.mustCLI("instance", "add", "-t", "diskless", "-o", "tiny", "-n", "node2", "db1")
	lc.mustCLI("instance", "shutdown", "db1")

	if _, errOut, code := lc.cli([]string{"DROVER_TOKEN=not-a-token"}, "ui"); code != exitAuth {
		t.Fatalf("drover ui with a bad token: exit %d: %s", code, errOut)
	}
	link := strings.TrimSpace(lc.mustCLI("ui"))
	if !strings.Contains(link, "/ui/login?once=") {
		t.Fatalf("drover ui: %q", link)
	}
	b := startBrowser(t, chromium, 100*time.Second)
	b.do("open the one-time link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#dashboard")))
	if u := b.js(`location.pathname`); u != "/ui/" {
		t.Fatalf("after the link: at %s", u)
	}
	if w := b.js(cellText("#whoami")); w != "admin (admin)" {
		t.Fatalf("whoami: %q", w)
	}
	// The page shows what the CLI lists.
	b.waitJS("nodes and instances shown", `document.querySelector("#node-node2") && document.querySelector("#inst-db1")`, 20*time.Second)
	nodes := lc.nodeStatus()
	if len(nodes) != 2 {
		t.Fatalf("node list: %v", nodes)
	}
	for node, st := range nodes {
		b.waitJS("node "+node+" "+st, cellText("#node-"+node+" .state")+` === `+jsString(st), 20*time.Second)
	}
	insts := lc.instances()
	if len(insts) != 2 {
		t.Fatalf("instance list: %v", insts)
	}
	for inst, st := range insts {
		b.waitJS("instance "+inst+" "+st, cellText("#inst-"+inst+" .state")+` === `+jsString(st), 20*time.Second)
	}
	if row := b.js(cellText("#inst-web1")); !strings.Contains(row, "node1") || !strings.Contains(row, "file") || !strings.Contains(row, "64 MiB") {
		t.Errorf("web1 row: %q", row)
	}
	if row := b.js(cellText("#node-node1")); !strings.Contains(row, "vm-capable") || !strings.Contains(row, "fake") {
		t.Errorf("node1 row: %q", row)
	}

	// A job started from the CLI shows up, and its log grows, with no
	// reload: the marker set now must still be there afterwards.
	b.js(`window.droverMarker = "same page"`)
	id := strings.TrimSpace(lc.mustCLI("debug", "delay", "--duration", "60s", "--steps", "60", "--submit"))
	submitted := time.Now()
	b.waitJS("job "+id+" listed", `document.querySelector("#job-`+id+`")`, 20*time.Second)
	t.Logf("job %s in the page %v after the CLI returned", id, time.Since(submitted).Round(time.Millisecond))
	// The last message moves on with every step; the log panel keeps them.
	b.waitJS("job "+id+" log past step 1", `/step ([2-9]|[1-9][0-9])\/60 done/.test(`+cellText("#job-"+id+" .lastlog")+`)`, 30*time.Second)
	b.waitJS("job log panel", cellText("#job-log-body")+`.includes("step 2/60 done")`, 10*time.Second)
	if m := b.js(`window.droverMarker || "reloaded"`); m != "same page" {
		t.Fatalf("the page reloaded: %q", m)
	}
	b.screenshot("ui-dashboard.png")

	// Cancel from the page.
	b.do("click cancel", chromedp.Click(chromedp.CSS(`button.cancel[data-job="`+id+`"]`)))
	b.waitJS("job "+id+" canceled", cellText("#job-"+id+" .state")+` === "canceled"`, 30*time.Second)
	var j api.Job
	if err := json.Unmarshal([]byte(lc.mustCLI("--output", "json", "job", "info", id)), &j); err != nil || j.State != api.JobCanceled || !j.CancelRequested {
		t.Fatalf("job %s after the click: %+v %v", id, j.State, err)
	}

	// A read-only user logs in with a password and gets no cancel button.
	lc.mustCLI("user", "add", "--role", "read", "viewer")
	passwd := exec.Command(droverBin, "user", "passwd", "viewer")
	passwd.Env = append(os.Environ(), lc.env...)
	passwd.Stdin = strings.NewReader("viewer-pass-1\n")
	if out, err := passwd.CombinedOutput(); err != nil {
		t.Fatalf("user passwd: %v\n%s", err, out)
	}
	b.do("log out", chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login-user")))
	b.do("log in as viewer",
		chromedp.SendKeys(chromedp.CSS("#login-user"), "viewer"),
		chromedp.SendKeys(chromedp.CSS("#login-pass"), "viewer-pass-1"),
		chromedp.Click(chromedp.CSS(`#login-password button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#dashboard")))
	if w := b.js(cellText("#whoami")); w != "viewer (read)" {
		t.Fatalf("whoami: %q", w)
	}
	id2 := strings.TrimSpace(lc.mustCLI("debug", "delay", "--duration", "60s", "--steps", "60", "--submit"))
	b.waitJS("job "+id2+" running", cellText("#job-"+id2+" .state")+` === "running"`, 30*time.Second)
	if n := b.js(`String(document.querySelectorAll("button.cancel").length)`); n != "0" {
		t.Fatalf("viewer sees %s cancel buttons", n)
	}
	b.screenshot("ui-dashboard-viewer.png")
	lc.mustCLI("job", "cancel", id2)
}

func jsString(s string) string { b, _ := json.Marshal(s); return string(b) }
