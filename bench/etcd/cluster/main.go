// Command cluster runs an etcd cluster of 1 or 3 members on loopback for bench/etcd/run.sh
// (the etcd server module's embed package, the version podboot's client is built
// against). Client URLs are http://127.0.0.1:PORT, PORT+1, …; it runs until SIGTERM.
package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

func main() {
	n := flag.Int("n", 1, "members (1 or 3)")
	dir := flag.String("dir", "", "data directory")
	port := flag.Int("port", 22379, "first client port; peers use PORT+100 on")
	quota := flag.Int64("quota", 0, "backend quota in bytes (0: etcd's default, 2 GiB)")
	flag.Parse()
	if err := run(*n, *dir, *port, *quota); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

func run(n int, dir string, port int, quota int64) error {
	var cfgs []*embed.Config
	var initial []string
	for i := range n {
		peer := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", port+100+i)}
		client := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", port+i)}
		cfg := embed.NewConfig()
		cfg.Name, cfg.Dir = fmt.Sprintf("m%d", i), filepath.Join(dir, fmt.Sprintf("m%d", i))
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
		cfg.InitialClusterToken, cfg.ClusterState = "podboot-bench", embed.ClusterStateFlagNew
		cfg.Logger, cfg.LogLevel, cfg.LogOutputs = "zap", "error", []string{filepath.Join(dir, cfg.Name+".log")}
		cfg.QuotaBackendBytes = quota
		initial = append(initial, cfg.Name+"="+peer.String())
		cfgs = append(cfgs, cfg)
	}
	var members []*embed.Etcd
	for _, cfg := range cfgs {
		cfg.InitialCluster = strings.Join(initial, ",")
		e, err := embed.StartEtcd(cfg)
		if err != nil {
			return err
		}
		members = append(members, e)
	}
	for i, e := range members {
		select {
		case <-e.Server.ReadyNotify():
		case <-time.After(60 * time.Second):
			return fmt.Errorf("member %d not ready", i)
		}
	}
	fmt.Println("ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	for _, e := range members {
		e.Close()
	}
	return nil
}
