package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/podboot/podboot/pkg/podmgr"
)

// runTestServer opens and runs a server on cfg until the test ends.
func runTestServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := Open(context.Background(), cfg, discardLog(), "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Error("Run did not stop within 60s")
		}
	})
	select {
	case <-s.Ready:
	case err := <-done:
		t.Fatalf("Run ended before it was ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run not ready within 30s")
	}
	return s
}

// handshake connects to the port of listener at ip (any 127.0.0.0/8 address reaches a
// listener bound there) with SNI serverName (empty: none, as for an IP URL) and returns
// the certificate presented and whether it verifies against the CA for ip.
func handshake(t *testing.T, listener net.Addr, ip, serverName string, roots *x509.CertPool) (*x509.Certificate, error) {
	t.Helper()
	_, port, _ := net.SplitHostPort(listener.String())
	var leaf *x509.Certificate
	cfg := &tls.Config{
		ServerName:         serverName,
		InsecureSkipVerify: true, // verified below, against ip, whatever the SNI
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			var err error
			leaf, err = x509.ParseCertificate(raw[0])
			return err
		},
	}
	d := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", net.JoinHostPort(ip, port), cfg)
	if err != nil {
		t.Fatalf("TLS handshake with %s (SNI %q): %v", ip, serverName, err)
	}
	conn.Close()
	_, verr := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: ip, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	return leaf, verr
}

// dialVerified connects the way the stage1 agent does: https://IP, the CA pinned.
func dialVerified(listener net.Addr, ip string, roots *x509.CertPool) error {
	_, port, _ := net.SplitHostPort(listener.String())
	d := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", net.JoinHostPort(ip, port), &tls.Config{RootCAs: roots, ServerName: ip, MinVersion: tls.VersionTLS12})
	if err != nil {
		return err
	}
	return conn.Close()
}

func loadDefaultCert(t *testing.T, dataDir string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, PKIDir, "server.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatal("server.pem holds no PEM block")
	}
	return blk.Bytes
}

func loopbackPod(name, serverAddress, giaddr string) podmgr.Pod {
	return podmgr.Pod{
		Name:          name,
		Match:         []podmgr.MatchRule{{Giaddr: giaddr}},
		Subnets:       []podmgr.Subnet{{CIDR: "192.0.2.0/24", Gateway: "192.0.2.1"}},
		ServerAddress: serverAddress,
		Profile:       "default",
	}
}

// TestOwnCertificateCoversPodsAddedAfterStart: a pod registered while podboot runs gets
// a certificate for its server address on its first handshake, signed by podboot's CA,
// on the boot HTTPS listener and the API alike; an address or name that is no pod's
// gets the default certificate, which does not cover it.
func TestOwnCertificateCoversPodsAddedAfterStart(t *testing.T) {
	const (
		bootIP  = "127.0.0.7" // boot HTTPS listens here; the pod's address once registered
		apiIP   = "127.0.0.8" // the API listens here; a second pod's address
		movedIP = "127.0.0.9"
	)
	dataDir := t.TempDir()
	cfg := Defaults()
	cfg.DataDir = dataDir
	cfg.API.Addr = apiIP + ":0"
	cfg.DHCP.Addr, cfg.Boot.TFTPAddr = "-", "-"
	cfg.Boot.HTTPAddr, cfg.Boot.HTTPSAddr = "127.0.0.1:0", bootIP+":0"
	s := runTestServer(t, cfg)
	roots := s.PKI().CertPool()
	def := loadDefaultCert(t, dataDir)
	boot, apiAddr := s.Boot().HTTPSAddr(), s.APIAddr()

	// Before any pod: the default certificate, which does not name 127.0.0.7.
	leaf, err := handshake(t, boot, bootIP, "", roots)
	if err == nil || !bytes.Equal(leaf.Raw, def) {
		t.Fatalf("no pod yet: want the default certificate, refused for %s; got %v (verify err %v)", bootIP, leaf.IPAddresses, err)
	}
	if err := dialVerified(boot, bootIP, roots); err == nil {
		t.Fatal("an agent reached an address that is no pod's with a verified certificate")
	}

	ctx, admin := context.Background(), podmgr.Actor{Name: "test", Role: podmgr.RoleAdmin}
	mgr := s.Manager()
	if _, _, err := mgr.ApplyProfile(ctx, admin, podmgr.Profile{Name: "default"}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := mgr.CreatePod(ctx, admin, loopbackPod("pod-a", bootIP, "192.0.2.1")); err != nil {
		t.Fatal(err)
	}
	if _, err := mgr.CreatePod(ctx, admin, loopbackPod("pod-b", apiIP, "192.0.2.2")); err != nil {
		t.Fatal(err)
	}

	// Now, without a restart, as the agent connects: verified against the CA.
	for _, c := range []struct {
		name     string
		listener net.Addr
		ip       string
	}{{"boot HTTPS", boot, bootIP}, {"management API", apiAddr, apiIP}} {
		if err := dialVerified(c.listener, c.ip, roots); err != nil {
			t.Fatalf("%s at %s after the pod was registered: %v", c.name, c.ip, err)
		}
		leaf, err := handshake(t, c.listener, c.ip, "", roots)
		if err != nil || bytes.Equal(leaf.Raw, def) || len(leaf.IPAddresses) != 1 || leaf.IPAddresses[0].String() != c.ip || len(leaf.DNSNames) != 0 {
			t.Fatalf("%s: want a certificate for %s alone; got IPs %v DNS %v (verify err %v)", c.name, c.ip, leaf.IPAddresses, leaf.DNSNames, err)
		}
	}

	// A DNS name podboot does not own gets nothing issued for it: the default certificate.
	if leaf, err := handshake(t, boot, bootIP, "evil.example", roots); !bytes.Equal(leaf.Raw, def) || leaf.VerifyHostname("evil.example") == nil {
		t.Fatalf("SNI evil.example: want the default certificate, got DNS %v IPs %v (err %v)", leaf.DNSNames, leaf.IPAddresses, err)
	}

	// Once pod-a moves to another address, 127.0.0.7 is no pod's any more: refused again.
	moved := loopbackPod("pod-a", movedIP, "192.0.2.1")
	if _, _, err := mgr.ApplyPod(ctx, admin, moved); err != nil {
		t.Fatal(err)
	}
	if leaf, err := handshake(t, boot, bootIP, "", roots); err == nil || !bytes.Equal(leaf.Raw, def) {
		t.Fatalf("after the pod moved: want the default certificate, refused for %s; got %v (verify err %v)", bootIP, leaf.IPAddresses, err)
	}
}

// fakeConn is just enough net.Conn for a ClientHelloInfo.
type fakeConn struct {
	net.Conn
	local net.Addr
}

func (c fakeConn) LocalAddr() net.Addr { return c.local }

// TestOwnCertCacheIsBounded: the cache keeps at most max certificates, dropping the
// oldest; an evicted one is issued again on demand.
func TestOwnCertCacheIsBounded(t *testing.T) {
	cfg := Defaults()
	cfg.DataDir = t.TempDir()
	cfg.API.Addr = "127.0.0.1:0"
	cfg.DHCP.Addr, cfg.Boot.TFTPAddr, cfg.Boot.HTTPAddr, cfg.Boot.HTTPSAddr = "-", "-", "-", "-"
	s, err := Open(context.Background(), cfg, discardLog(), "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.closeStores)
	t.Cleanup(func() { s.apiLn.Close() })
	ctx, admin := context.Background(), podmgr.Actor{Name: "test", Role: podmgr.RoleAdmin}
	if _, _, err := s.mgr.ApplyProfile(ctx, admin, podmgr.Profile{Name: "default"}, true); err != nil {
		t.Fatal(err)
	}
	ips := []string{"127.0.1.1", "127.0.1.2", "127.0.1.3"}
	for i, ip := range ips {
		if _, err := s.mgr.CreatePod(ctx, admin, loopbackPod(fmt.Sprintf("pod-%d", i), ip, fmt.Sprintf("192.0.2.%d", i+1))); err != nil {
			t.Fatal(err)
		}
	}
	own := s.own
	own.max = 2
	get := func(ip string) *tls.Certificate {
		t.Helper()
		cert, err := own.GetCertificate(&tls.ClientHelloInfo{Conn: fakeConn{local: &net.TCPAddr{IP: net.ParseIP(ip), Port: 8443}}})
		if err != nil {
			t.Fatal(err)
		}
		if cert.Leaf.VerifyHostname(ip) != nil {
			t.Fatalf("certificate for %s does not cover it", ip)
		}
		return cert
	}
	first := get(ips[0])
	if again := get(ips[0]); again != first {
		t.Fatal("a cached certificate was issued again")
	}
	get(ips[1])
	get(ips[2])
	own.mu.Lock()
	n := len(own.cache)
	_, kept := own.cache[netip.MustParseAddr(ips[0])]
	own.mu.Unlock()
	if n != 2 || kept {
		t.Fatalf("cache holds %d certificates (oldest kept: %v), want 2 without the oldest", n, kept)
	}
	if again := get(ips[0]); again == first {
		t.Fatal("an evicted certificate came back from nowhere")
	}
}
