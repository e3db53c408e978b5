package testutil

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
)

// EtcdCluster is a real etcd cluster (the server module's embed package, v3.7.3) running
// inside the test process on loopback. Only tests import embed: podboot's binary is a
// client of an etcd it does not run.
type EtcdCluster struct {
	t       testing.TB
	dir     string
	members []*etcdMember
	// TLS, when the cluster was started with StartEtcdTLS, is what a client needs.
	TLS *EtcdTLS
}

// EtcdTLS are the files of a TLS cluster: the CA that signed the members' certificate,
// and a client certificate and key the members accept.
type EtcdTLS struct {
	CAFile, CertFile, KeyFile string
}

type etcdMember struct {
	cfg *embed.Config
	e   *embed.Etcd // nil while stopped
}

// StartEtcd starts an n-member cluster (1 or 3) with data and logs (level error) in
// t.TempDir, waits until a write goes through, and stops it when the test ends.
func StartEtcd(t testing.TB, n int) *EtcdCluster {
	t.Helper()
	return startEtcd(t, n, false)
}

// StartEtcdTLS is StartEtcd with clients served over HTTPS only, with client
// certificate authentication; c.TLS names the files a client needs.
func StartEtcdTLS(t testing.TB, n int) *EtcdCluster {
	t.Helper()
	return startEtcd(t, n, true)
}

func startEtcd(t testing.TB, n int, withTLS bool) *EtcdCluster {
	t.Helper()
	c := &EtcdCluster{t: t, dir: t.TempDir()}
	if withTLS {
		c.TLS = writeTestPKI(t, c.dir)
	}
	// Close one member after the other: closing all at once waits out a 7 s timeout.
	t.Cleanup(func() {
		for i := range c.members {
			c.Stop(i)
		}
	})
	// The ports were free a moment ago; another test may take one before etcd binds it.
	// Then the whole cluster starts again on new ports (a member's peers know its URL).
	for attempt := 1; ; attempt++ {
		err := c.startMembers(n, withTLS, attempt)
		if err == nil {
			break
		}
		inUse := errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use")
		if attempt == 5 || !inUse {
			t.Fatalf("start etcd: %v", err)
		}
		t.Logf("start etcd, attempt %d: %v; again on other ports", attempt, err)
	}
	for i := range c.members {
		c.waitReady(i)
	}
	c.waitWritable()
	return c
}

// startMembers configures n members on fresh loopback ports and starts them all; on a
// failure it stops the ones it started.
func (c *EtcdCluster) startMembers(n int, withTLS bool, attempt int) error {
	c.members = nil
	var initial []string
	for i := range n {
		peer := loopbackURL(FreeTCPPort(c.t))
		client := loopbackURL(FreeTCPPort(c.t))
		if withTLS {
			client.Scheme = "https"
		}
		name := fmt.Sprintf("m%d", i)
		cfg := embed.NewConfig()
		cfg.Name, cfg.Dir = name, filepath.Join(c.dir, fmt.Sprintf("%s.%d", name, attempt))
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
		cfg.InitialClusterToken, cfg.ClusterState = "podboot-test", embed.ClusterStateFlagNew
		cfg.Logger, cfg.LogLevel = "zap", "error"
		cfg.LogOutputs = []string{filepath.Join(c.dir, name+".log")}
		if withTLS {
			cfg.ClientTLSInfo = transport.TLSInfo{CertFile: c.TLS.CertFile, KeyFile: c.TLS.KeyFile, TrustedCAFile: c.TLS.CAFile, ClientCertAuth: true}
		}
		initial = append(initial, name+"="+peer.String())
		c.members = append(c.members, &etcdMember{cfg: cfg})
	}
	for _, m := range c.members {
		m.cfg.InitialCluster = strings.Join(initial, ",")
	}
	// Start every member before waiting: a member of a new cluster is ready only once
	// a quorum of its peers runs.
	for i, m := range c.members {
		e, err := embed.StartEtcd(m.cfg)
		if err != nil {
			for j := range i {
				c.Stop(j)
			}
			return fmt.Errorf("member %d: %w", i, err)
		}
		m.e = e
	}
	return nil
}

func loopbackURL(port int) url.URL {
	return url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", port)}
}

func (c *EtcdCluster) start(i int) {
	c.t.Helper()
	e, err := embed.StartEtcd(c.members[i].cfg)
	if err != nil {
		c.t.Fatalf("start etcd member %d: %v", i, err)
	}
	c.members[i].e = e
}

func (c *EtcdCluster) waitReady(i int) {
	c.t.Helper()
	e := c.members[i].e
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		c.t.Fatalf("etcd member %d: %v", i, err)
	case <-time.After(30 * time.Second):
		c.t.Fatalf("etcd member %d not ready after 30s (log in %s)", i, c.dir)
	}
}

// waitWritable waits until a Put through all endpoints commits.
func (c *EtcdCluster) waitWritable() {
	c.t.Helper()
	cli := c.Client()
	WaitFor(c.t, 30*time.Second, "etcd to accept a write", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := cli.Put(ctx, "/podboot-test/ready", "1")
		return err == nil
	})
}

// Endpoints are the client URLs of all members (stopped ones too).
func (c *EtcdCluster) Endpoints() []string {
	var out []string
	for _, m := range c.members {
		out = append(out, m.cfg.AdvertiseClientUrls[0].String())
	}
	return out
}

// Client is a client of every member, closed when the test ends.
func (c *EtcdCluster) Client() *clientv3.Client {
	c.t.Helper()
	cfg := clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second,
		DialKeepAliveTime: 10 * time.Second, DialKeepAliveTimeout: 3 * time.Second}
	if c.TLS != nil {
		tlsCfg, err := transport.TLSInfo{CertFile: c.TLS.CertFile, KeyFile: c.TLS.KeyFile, TrustedCAFile: c.TLS.CAFile}.ClientConfig()
		if err != nil {
			c.t.Fatalf("etcd client TLS: %v", err)
		}
		cfg.TLS = tlsCfg
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		c.t.Fatalf("etcd client: %v", err)
	}
	c.t.Cleanup(func() { cli.Close() })
	return cli
}

// Stop closes member i (a no-op when it is stopped). Its data dir stays for Restart.
func (c *EtcdCluster) Stop(i int) {
	if m := c.members[i]; m.e != nil {
		m.e.Close()
		m.e = nil
	}
}

// Restart starts a stopped member i again on its data dir and ports and waits until it
// is ready.
func (c *EtcdCluster) Restart(i int) {
	c.t.Helper()
	c.Stop(i)
	c.start(i)
	c.waitReady(i)
}
