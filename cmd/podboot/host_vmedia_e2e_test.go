package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/agentproto"
	"github.com/podboot/podboot/pkg/podmgr"
)

const vmediaPodYAML = `name: pod-v
match:
  - giaddr: 192.0.2.1
subnets:
  - cidr: 192.0.2.0/24
    gateway: 192.0.2.1
    dns: [192.0.2.53]
serverAddress: 127.0.0.1
profile: bare
`

// TestReprovisionViaVirtualMediaThroughCLI: `host reprovision MAC --via virtual-media`
// through the real binary and CLI. Refusals first, each with the host unchanged and
// nothing sent to the BMC: no BMC, an IPMI BMC, no provisioningIp, no stage1 in the
// profile; a viewer gets 403. Then a QEMU guest with no network at all, behind the
// Redfish fixture driving it over QMP: serve publishes the ISO on its boot HTTPS
// listener, the fixture fetches it from there, the guest boots the profile's stage1
// kernel with the host's static address, token and serve's HTTPS URL on its command
// line. The agent's `installed`, sent with that token, makes serve eject the media,
// clear the boot override and withdraw the ISO.
func TestReprovisionViaVirtualMediaThroughCLI(t *testing.T) {
	bin := testutil.BuildPodboot(t)
	srv := testutil.StartServe(t, bin, t.TempDir())
	admin := testutil.NewCLI(t, bin, srv)
	files := t.TempDir()
	admin.MustRun(t, "image", "add", "vmlinuz:1", testutil.DebianCloudVmlinuz(t), "--kind", "kernel")
	admin.MustRun(t, "image", "add", "initrd:1", writeFile(t, files, "initrd", "no init here\n"), "--kind", "initrd")
	admin.MustRun(t, "profile", "apply", "-f", writeFile(t, files, "stage1.yaml", "name: stage1\nkernel: vmlinuz@1\ninitrd: initrd@1\nkernelArgs: console=ttyS0 panic=-1\n"))
	admin.MustRun(t, "profile", "apply", "-f", writeFile(t, files, "bare.yaml", "name: bare\nkernelArgs: console=ttyS0\n"))
	admin.MustRun(t, "pod", "apply", "-f", writeFile(t, files, "pod-v.yaml", vmediaPodYAML))
	const (
		vmMAC, noIPMAC, bareMAC, ipmiMAC, noBMCMAC = "52:54:00:f1:00:01", "52:54:00:f1:00:02", "52:54:00:f1:00:03", "52:54:00:f1:00:04", "52:54:00:f1:00:05"
		pass                                       = "rf-Secret-3307"
	)
	admin.MustRun(t, "host", "add", vmMAC, "--pod", "pod-v", "--ip", "192.0.2.50", "--profile", "stage1")
	admin.MustRun(t, "host", "add", noIPMAC, "--pod", "pod-v", "--profile", "stage1")
	admin.MustRun(t, "host", "add", bareMAC, "--pod", "pod-v", "--ip", "192.0.2.51", "--profile", "bare")
	admin.MustRun(t, "host", "add", ipmiMAC, "--pod", "pod-v", "--ip", "192.0.2.52", "--profile", "stage1")
	admin.MustRun(t, "host", "add", noBMCMAC, "--pod", "pod-v", "--ip", "192.0.2.53", "--profile", "stage1")

	dir := t.TempDir()
	sock, serial := filepath.Join(dir, "qmp.sock"), filepath.Join(dir, "serial.log")
	testutil.StartGuestWithoutNetwork(t, sock, serial)
	rf := testutil.StartRedfishBMC(t, "admin", pass)
	rf.DriveQEMU(sock, "cdrom0", dir)
	operator := roleCLI(t, admin, "operator")
	pw := writeFile(t, files, "pw", pass+"\n")
	ca := writeFile(t, files, "bmc-ca.pem", rf.CACert)
	for _, mac := range []string{vmMAC, noIPMAC, bareMAC} {
		operator.MustRun(t, "host", "bmc", "set", mac, "--driver", "redfish", "--address", rf.Host, "--port", fmt.Sprint(rf.Port), "--user", "admin", "--password-file", pw, "--bmc-ca-cert", ca)
	}
	operator.MustRun(t, "host", "bmc", "set", ipmiMAC, "--driver", "ipmi", "--address", "127.0.0.1", "--port", fmt.Sprint(testutil.FreeTCPPort(t)), "--user", "admin", "--password-file", pw)

	showHost := func(mac string) podmgr.Host {
		t.Helper()
		var h podmgr.Host
		if err := json.Unmarshal([]byte(admin.MustRun(t, "host", "show", mac, "-o", "json")), &h); err != nil {
			t.Fatalf("host show %s: %v", mac, err)
		}
		return h
	}

	t.Run("refused with nothing changed", func(t *testing.T) {
		for _, tc := range []struct {
			mac, want string
		}{
			{noBMCMAC, "has no BMC"},
			{ipmiMAC, "needs the redfish driver"},
			{noIPMAC, "needs a provisioningIp"},
			{bareMAC, `profile "bare" has no stage1 kernel and initrd`},
		} {
			before := showHost(tc.mac)
			msg := operator.MustFail(t, "host", "reprovision", tc.mac, "--via", "virtual-media")
			if !strings.Contains(msg, tc.want) {
				t.Errorf("%s: %q, want %q", tc.mac, msg, tc.want)
			}
			if after := showHost(tc.mac); after.State != before.State || after.Netboot != before.Netboot {
				t.Errorf("%s: a refused reprovision changed the host: %+v -> %+v", tc.mac, before, after)
			}
		}
		if msg := roleCLI(t, admin, "viewer").MustFail(t, "host", "reprovision", vmMAC, "--via", "virtual-media"); !strings.Contains(msg, "HTTP 403") {
			t.Errorf("viewer: %q, want 403", msg)
		}
		if msg := operator.MustFail(t, "host", "reprovision", vmMAC, "--via", "floppy"); !strings.Contains(msg, `--via "floppy"`) {
			t.Errorf("--via floppy: %q", msg)
		}
		if got := rf.Actions(); len(got) != 0 {
			t.Fatalf("refused requests reached the BMC: %v", got)
		}
	})

	out := operator.MustRun(t, "host", "reprovision", vmMAC, "--via", "virtual-media")
	if !strings.Contains(out, "stage1 ISO inserted") {
		t.Fatalf("reprovision said %q", out)
	}
	acts := rf.Actions()
	if len(acts) < 2 || !strings.HasPrefix(acts[1], "InsertMedia CD1 https://127.0.0.1:") || !strings.Contains(acts[1], "/vmedia/"+vmMAC+"/pbv_") {
		t.Fatalf("BMC saw %v, want the ISO inserted from serve's boot HTTPS listener", acts)
	}
	isoURL := strings.TrimPrefix(acts[1], "InsertMedia CD1 ")
	bootURL := isoURL[:strings.Index(isoURL, "/vmedia/")]
	testutil.WaitFor(t, 4*time.Minute, "the guest to boot the ISO's kernel", func() bool {
		b, _ := os.ReadFile(serial)
		return bytes.Contains(b, []byte("podboot.ip=192.0.2.50/24"))
	})
	cmdline, _ := os.ReadFile(serial)
	for _, want := range []string{"podboot.server=" + bootURL, "podboot.gw=192.0.2.1", "podboot.dns=192.0.2.53", "podboot.mac=" + vmMAC, "panic=-1"} {
		if !bytes.Contains(cmdline, []byte(want)) {
			t.Errorf("the guest's command line lacks %q", want)
		}
	}
	m := regexp.MustCompile(`podboot\.token=(pbh_\S+)`).FindSubmatch(cmdline)
	if m == nil {
		t.Fatalf("no token on the guest's command line")
	}

	// The agent's last call, with the token the ISO carried, over serve's pinned CA.
	postInstalled(t, admin.CACert, bootURL+agentproto.Prefix+"hosts/"+podmgr.MACPath(vmMAC)+"/"+agentproto.InstalledPath, string(m[1]))
	want := []string{"EjectMedia CD1", "Boot  Disabled "}
	testutil.WaitFor(t, time.Minute, "the media ejected and the boot override cleared", func() bool {
		got := rf.Actions()
		return len(got) >= 2 && slices.Equal(got[len(got)-2:], want)
	})
	acts = rf.Actions()
	acts[1] = "InsertMedia CD1"
	if full := []string{"EjectMedia CD1", "InsertMedia CD1", "Boot Cd Once Legacy", "Reset ForceOff", "Reset On", "EjectMedia CD1", "Boot  Disabled "}; !slices.Equal(acts, full) {
		t.Fatalf("BMC saw %v, want %v", acts, full)
	}
	if h := showHost(vmMAC); h.State != podmgr.StateProvisioned || h.Netboot {
		t.Fatalf("after installed: state %s netboot %v", h.State, h.Netboot)
	}
	testutil.WaitFor(t, 10*time.Second, "the ISO withdrawn", func() bool {
		left, _ := filepath.Glob(filepath.Join(srv.DataDir, "vmedia", "*.iso"))
		return len(left) == 0
	})
	if resp, err := insecureGet(isoURL); err != nil || resp != http.StatusNotFound {
		t.Fatalf("the ISO URL after the install: %d %v, want 404", resp, err)
	}
}

// postInstalled reports installed as the agent does, trusting only serve's CA.
func postInstalled(t *testing.T, caFile, url, token string) {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	cl := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	body, _ := json.Marshal(agentproto.Installed{Disk: "/dev/vda", SHA256: strings.Repeat("0", 64), Finish: "reboot"})
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("POST installed: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST installed: HTTP %d", resp.StatusCode)
	}
}

func insecureGet(url string) (int, error) {
	cl := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := cl.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
