package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/agentproto"
	"github.com/podboot/podboot/pkg/podmgr"
)

// loopSite is a `podboot serve` whose pod "lo" is reached over loopback: a relay on
// 127.0.0.2 (etcdRelay) gets hosts their leases in 127.1.0.0/16, a host fetches its iPXE
// script from its leased address (so the token gate issues the provisioning token), and
// reports to the agent API with that token, as the stage1 agent does. It drives hosts
// through the real DHCP, boot and agent endpoints without namespaces or QEMU.
type loopSite struct {
	srv   *testutil.Serve
	admin *testutil.CLI
	relay *etcdRelay
	http  string // boot HTTP listener
	https string // boot HTTPS listener (the agent API)
	agent *http.Client
}

const loopProfiles = `name: default
kernel: vmlinuz
initrd: initrd.img
---
name: gpu
kernel: vmlinuz
initrd: initrd.img
stage2: gpu-os@7
`

const loopPod = `name: lo
profile: default
serverAddress: 127.0.0.1
match:
  - giaddr: 127.0.0.2
subnets:
  - cidr: 127.0.0.0/8
    gateway: 127.0.0.2
    leaseSeconds: 600
    rangeStart: 127.1.0.1
    rangeEnd: 127.1.0.200
management:
  cidr: 127.3.0.0/16
`

// newLoopSite starts serve with the extra flags and sets up pod lo, its profiles and
// their (placeholder) stage1 files.
func newLoopSite(t *testing.T, extra ...string) *loopSite {
	t.Helper()
	bin := testutil.BuildPodboot(t)
	files := t.TempDir()
	srv := testutil.StartServe(t, bin, filepath.Join(t.TempDir(), "data"), extra...)
	admin := testutil.NewCLI(t, bin, srv)
	admin.MustRun(t, "image", "add", "vmlinuz:1", writeFile(t, files, "vmlinuz", "a stage1 kernel"), "--kind", "kernel")
	admin.MustRun(t, "image", "add", "initrd.img:1", writeFile(t, files, "initrd.img", "a stage1 initrd"), "--kind", "initrd")
	// gpu-os@7 is never pushed (its version is all the tests read): --allow-missing.
	for i, p := range strings.Split(loopProfiles, "---\n") {
		admin.MustRun(t, "profile", "apply", "--allow-missing", "-f", writeFile(t, files, fmt.Sprintf("profile%d.yaml", i), p))
	}
	admin.MustRun(t, "pod", "apply", "-f", writeFile(t, files, "pod.yaml", loopPod))
	pem, err := os.ReadFile(filepath.Join(srv.DataDir, "pki", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &loopSite{srv: srv, admin: admin, relay: etcdNewRelay(t, etcdDHCPAddr(t, srv)),
		http: etcdBootHTTP(t, srv), https: logAddr(t, srv, `https listening.*addr=(127\.0\.0\.1:[0-9]+)`),
		agent: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
}

// logAddr is the first match of re's group in the serve log.
func logAddr(t *testing.T, s *testutil.Serve, re string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	var addr string
	testutil.WaitFor(t, 10*time.Second, "the log to say "+re, func() bool {
		if m := rx.FindStringSubmatch(s.Log()); m != nil {
			addr = m[1]
		}
		return addr != ""
	})
	return addr
}

// boot runs the host's DHCP exchange and fetches its iPXE script from its leased
// address: the host is booting, and the returned token is its provisioning token.
func (s *loopSite) boot(t *testing.T, mac string) string {
	t.Helper()
	ack := s.pxeDORA(t, mac)
	// The DHCP service records its offer event in the background; a real host spends
	// seconds in its PXE ROM before the next step, so wait for it as the host would.
	testutil.WaitFor(t, 20*time.Second, mac+" to be offered", func() bool {
		var h podmgr.Host
		out, _, err := s.admin.Run(context.Background(), "host", "show", mac, "-o", "json")
		return err == nil && json.Unmarshal([]byte(out), &h) == nil && h.State == podmgr.StateOffered
	})
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: (&net.Dialer{
		LocalAddr: &net.TCPAddr{IP: ack.YourIPAddr}}).DialContext}}
	resp, err := c.Get("http://" + s.http + "/boot/lo/" + strings.ReplaceAll(mac, ":", "-") + "/" + podmgr.ScriptName)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`podboot\.token=(\S+)`).FindSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("%s: iPXE script from %s: HTTP %d without a token:\n%s", mac, ack.YourIPAddr, resp.StatusCode, body)
	}
	return string(m[1])
}

// pxeDORA runs a BIOS PXE ROM's DHCP exchange through the relay and returns the ACK.
func (s *loopSite) pxeDORA(t *testing.T, mac string) *dhcpv4.DHCPv4 {
	t.Helper()
	pxe := []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")),
		dhcpv4.WithGeneric(dhcpv4.OptionClientSystemArchitectureType, []byte{0, 0})}
	offer := s.relay.exchange(t, etcdPacket(t, dhcpv4.MessageTypeDiscover, mac, pxe...), 10*time.Second)
	if offer == nil || offer.MessageType() != dhcpv4.MessageTypeOffer {
		t.Fatalf("%s: no OFFER: %v", mac, offer)
	}
	ack := s.relay.exchange(t, etcdPacket(t, dhcpv4.MessageTypeRequest, mac, append(pxe,
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(offer.YourIPAddr)),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(offer.ServerIdentifier())))...), 10*time.Second)
	if ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("%s: no ACK: %v", mac, ack)
	}
	return ack
}

// report posts to one of the host's agent endpoints with its token.
func (s *loopSite) report(t *testing.T, mac, token, path string, body string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), "POST", "https://"+s.https+agentproto.HostPath(mac)+path, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.agent.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s: agent %s: HTTP %d %s", mac, path, resp.StatusCode, b)
	}
}

// provision takes a registered host from DHCP to installed.
func (s *loopSite) provision(t *testing.T, mac string) {
	t.Helper()
	tok := s.boot(t, mac)
	s.report(t, mac, tok, agentproto.EventsPath, `{"action":"agent.booted","detail":"stage1 up"}`)
	s.report(t, mac, tok, agentproto.InstalledPath, `{"disk":"/dev/vda","sha256":"00","finish":"reboot"}`)
}

// fail takes a registered host from DHCP to failed, with the agent's reason.
func (s *loopSite) fail(t *testing.T, mac, step, reason string) {
	t.Helper()
	tok := s.boot(t, mac)
	s.report(t, mac, tok, agentproto.FailedPath, fmt.Sprintf(`{"step":%q,"reason":%q}`, step, reason))
}
