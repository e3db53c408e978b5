package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/podboot/podboot/pkg/agentproto"
	"github.com/podboot/podboot/pkg/web"
)

// TestWebDashboardInChromium drives the dashboard of a real `podboot serve` in headless
// Chromium over the DevTools protocol: a wrong token is refused at the login form, a
// viewer token logs in (into a Secure, HttpOnly, SameSite=Strict cookie that page scripts
// cannot read), the fleet lists the pods (one failing), the pod page lists its hosts and
// its failed host with the agent's reason, and the host page shows each step of a
// provision live (server-sent events) as the host runs DHCP, fetches its iPXE script and
// reports through the agent API (booting, verified, provisioned), and then as an operator
// reprovisions it through the API (registered). Screenshots of the three pages go to
// PODBOOT_TEST_SCREENSHOTS (a directory) when set, else to the test's temporary directory;
// docs/web/ holds copies.
func TestWebDashboardInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is missing: run scripts/deps.sh (the dashboard's tests drive a real browser)")
	}
	site := newLoopSite(t)
	srv, admin := site.srv, site.admin
	files := t.TempDir()
	admin.MustRun(t, "pod", "apply", "-f", writeFile(t, files, "pod-b.yaml", "name: rack-b\nprofile: default\nserverAddress: 198.51.100.10\n"+
		"match:\n  - giaddr: 203.0.113.1\nsubnets:\n  - cidr: 203.0.113.0/24\n    gateway: 203.0.113.1\n"))
	const mac = "52:54:00:0e:00:01"
	admin.MustRun(t, "host", "add", mac, "--pod", "lo", "--hostname", "node1", "--mgmt-ip", "127.3.0.1")
	admin.MustRun(t, "host", "add", "52:54:00:0e:00:02", "--pod", "lo", "--hostname", "node2", "--mgmt-ip", "127.3.0.2")
	admin.MustRun(t, "host", "add", "52:54:00:0e:00:03", "--pod", "lo", "--hostname", "node3", "--mgmt-ip", "127.3.0.3")
	admin.MustRun(t, "host", "add", "52:54:00:0e:01:01", "--pod", "rack-b", "--hostname", "rack-b-node1")
	site.provision(t, "52:54:00:0e:00:02")
	site.fail(t, "52:54:00:0e:00:03", "agent.verified", "stage2 signature does not verify")
	viewer := strings.TrimSpace(admin.MustRun(t, "token", "create", "dashboard", "--role", "viewer"))

	shots := os.Getenv("PODBOOT_TEST_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := browser(t, chromium)
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(c, actions...); err != nil {
			page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`))
			t.Fatalf("browser: %s: %v\npage: %s", what, err, page)
		}
	}
	text := func(sel string) string {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		s, err := chromedp.Run(c, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("browser: read %s: %v", sel, err)
		}
		return s
	}
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("browser: screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Not logged in: the dashboard sends the browser to the login form.
	run("open the dashboard", chromedp.Navigate(srv.Server+"/ui/"), chromedp.WaitVisible(chromedp.ID("token")))
	run("log in with a wrong token",
		chromedp.SetValue(chromedp.ID("token"), "pbt_not-a-token"), chromedp.Click(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.CSS(".error")))
	if errText := text(".error"); !strings.Contains(errText, "not valid") {
		t.Fatalf("wrong token: login page says %q, want it refused as not valid", errText)
	}

	run("log in with a viewer token",
		chromedp.SetValue(chromedp.ID("token"), viewer), chromedp.Click(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("pods")))
	if pods := text("#pods"); !strings.Contains(pods, "lo") || !strings.Contains(pods, "rack-b") || !strings.Contains(pods, "failing") {
		t.Fatalf("fleet page lists %q, want lo (failing) and rack-b", pods)
	}
	checkCookie(t, ctx, viewer)
	shot("fleet.png")

	run("open pod lo", chromedp.Click(chromedp.CSS(`a[href="/ui/pods/lo"]`)), chromedp.WaitVisible(chromedp.ID("hosts")))
	if hosts := text("#hosts"); !strings.Contains(hosts, mac) || !strings.Contains(hosts, "node2") || strings.Contains(hosts, "rack-b-node1") {
		t.Fatalf("pod lo's host list is %q, want node1 and node2 and no host of rack-b", hosts)
	}
	if failures := text("#failures"); !strings.Contains(failures, "node3") || !strings.Contains(failures, "signature does not verify") {
		t.Fatalf("pod lo's failed hosts: %q, want node3 with its reason", failures)
	}
	shot("pod.png")

	run("open pod lo's last day", chromedp.Click(chromedp.ID("status-link")), chromedp.WaitVisible(chromedp.ID("relays-heard")))
	if kinds := text("#failure-kinds"); !strings.Contains(kinds, "signature does not verify") {
		t.Fatalf("pod lo's failures by stage: %q, want the agent's reason", kinds)
	}
	if relays := text("#relays-heard"); !strings.Contains(relays, "127.0.0.2") {
		t.Fatalf("pod lo's relays heard: %q, want the relay on 127.0.0.2", relays)
	}
	if day := text("#lastday"); !strings.HasPrefix(day, "1 provisioned") || !strings.Contains(day, "1 failed") {
		t.Fatalf("pod lo's last day: %q, want 1 provisioned and 1 failed", day)
	}
	shot("status.png")
	run("back to pod lo", chromedp.Navigate(srv.Server+"/ui/pods/lo"), chromedp.WaitVisible(chromedp.ID("hosts")))

	run("open the host and its live stream", chromedp.Click(chromedp.CSS(`#hosts a[href="/ui/hosts/`+mac+`"]`)),
		chromedp.WaitVisible(chromedp.ID("live")))
	waitState := func(state, action string) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		_, err := chromedp.Run(c, chromedp.Poll[bool](`document.getElementById("state").textContent === "`+state+`" &&
			Array.from(document.querySelectorAll("#timeline td")).some(td => td.textContent === "`+action+`")`,
			chromedp.WithPollingTimeout(20*time.Second)))
		if err != nil {
			t.Fatalf("browser: the host page did not show %s and state %s live: %v", action, state, err)
		}
	}
	tok := site.boot(t, mac)
	waitState("booting", "http.script")
	site.report(t, mac, tok, agentproto.EventsPath, `{"action":"agent.booted","detail":"stage1 up"}`)
	waitState("booting", "agent.booted")
	site.report(t, mac, tok, agentproto.EventsPath, `{"action":"agent.verified","detail":"stage2 signature verified"}`)
	waitState("verified", "agent.verified")
	site.report(t, mac, tok, agentproto.InstalledPath, `{"disk":"/dev/vda","sha256":"00","finish":"reboot"}`)
	waitState("provisioned", "installed")
	if nb := text("#netboot"); nb != "off" {
		t.Fatalf("host page says netboot %q after installed, want off", nb)
	}
	run("reload the host page", chromedp.Navigate(srv.Server+"/ui/hosts/"+mac), chromedp.WaitVisible(chromedp.ID("live")))
	if attempts := text("#attempts"); !strings.Contains(attempts, "installed") {
		t.Fatalf("host page's provision attempts: %q, want one installed", attempts)
	}
	shot("host.png")
	admin.MustRun(t, "host", "reprovision", mac)
	waitState("registered", "reprovision")

	// Logging out ends the session: the dashboard asks for a token again.
	run("log out", chromedp.Click(chromedp.CSS("header form button.link")), chromedp.WaitVisible(chromedp.ID("token")))
	t.Logf("screenshots in %s", shots)
}

// browser starts headless Chromium (closed when the test ends). It trusts podboot's
// self-made certificate by ignoring certificate errors: the test is about the pages.
func browser(t *testing.T, chromium string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.Flag("ignore-certificate-errors", true), chromedp.WindowSize(1280, 860))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// checkCookie: the session cookie holds the token, HttpOnly, Secure, SameSite=Strict, and
// the page's scripts cannot see it.
func checkCookie(t *testing.T, ctx context.Context, secret string) {
	t.Helper()
	res, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) (network.GetCookiesResult, error) {
		return cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{})
	})
	if err != nil {
		t.Fatal(err)
	}
	cookies := res.Cookies
	visible, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.cookie`))
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, c := range cookies {
		if c.Name != web.CookieName {
			continue
		}
		found = true
		if c.Value != secret || !c.HTTPOnly || !c.Secure || c.SameSite != network.CookieSameSiteStrict || c.Path != "/" {
			t.Fatalf("session cookie %+v: want the token, HttpOnly, Secure, SameSite=Strict, Path=/", c)
		}
	}
	if !found {
		t.Fatalf("no %s cookie after login: %+v", web.CookieName, cookies)
	}
	if strings.Contains(visible, "pbt_") {
		t.Fatalf("page scripts can read the token: document.cookie = %q", visible)
	}
}
