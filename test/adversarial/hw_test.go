package adversarial

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
)

// hwUnknownMAC is a machine nobody registered, plugged into pod-nat's rack.
const hwUnknownMAC = "52:54:00:ad:b0:d1"

// TestHWDiscoveredHostGetsNoInstall (issue 14): a pod whose policy is discover used to
// give an unknown MAC the full install: its token opened the kickstart (the pod's SSH
// keys and password hash) and the stage2 image. Driven the way such a machine would:
// a real DHCP exchange through the relay, the iPXE script over HTTP for its token, then
// curl against the agent API. The discovered host gets inspection only: chainload says
// inspect, every install endpoint answers 403.
func TestHWDiscoveredHostGetsNoInstall(t *testing.T) {
	b := bootStart(t)
	pods := filepath.Join(t.TempDir(), "pods.yaml")
	bootWrite(t, pods, bootPodYAML("pod-nat", "192.0.2.1", "192.0.2.0/24", "192.0.2.100", "192.0.2.150")+"unknownHosts: discover\n")
	b.cli.MustRun(t, "pod", "apply", "-f", pods)

	host := b.torA.Host("hwd", hwUnknownMAC)
	host.Run("udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "5", "-T", "2", "-s", b.udhcpcScript)
	testutil.WaitFor(t, 10*time.Second, "the unknown MAC to be recorded as discovered", func() bool {
		return strings.Contains(b.cli.MustRun(t, "host", "show", hwUnknownMAC), "discovered")
	})
	tok := bootToken(t, host, "pod-nat", hwUnknownMAC)
	if tok == "" {
		t.Fatal("the discovered host got no token (it needs one to report its inventory)")
	}
	base := "https://" + bootServer + ":8443/agent/v1/hosts/" + strings.ReplaceAll(hwUnknownMAC, ":", "-") + "/"
	curl := func(args ...string) string {
		full := append([]string{"curl", "-s", "-w", "\n%{http_code}", "--cacert", filepath.Join(b.data, "pki", "ca.pem"), "-H", "Authorization: Bearer " + tok}, args...)
		return host.Run(full...)
	}
	for _, req := range [][]string{
		{base + "kickstart"},
		{base + "stage2"},
		{base + "stage2.p7s"},
		{base + "bash-package"},
		{"-X", "POST", "-d", `{"disk":"sda","sha256":"x","finish":"reboot"}`, base + "installed"},
	} {
		if out := curl(req...); !strings.HasSuffix(out, "\n403") {
			t.Errorf("%v with a discovered host's token: %q, want 403", req, out)
		}
	}
	if out := curl(base + "chainload"); !strings.Contains(out, `"inspect":true`) || !strings.HasSuffix(out, "\n200") || strings.Contains(out, "stage2") {
		t.Errorf("chainload for a discovered host: %q, want inspect only", out)
	}
	if out := b.cli.MustRun(t, "host", "show", hwUnknownMAC, "-o", "json"); !strings.Contains(out, `"discovered": true`) && !strings.Contains(out, `"discovered":true`) {
		t.Errorf("host after the refused requests:\n%s", out)
	}
}
