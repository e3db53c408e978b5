package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/podboot/podboot/pkg/api"
	"github.com/podboot/podboot/pkg/bmc"
	"github.com/podboot/podboot/pkg/bmc/cred"
	"github.com/podboot/podboot/pkg/etcdstore"
	"github.com/podboot/podboot/pkg/podmgr"
	"github.com/podboot/podboot/pkg/server"
)

// hostBMCCmds are the out-of-band commands under `podboot host`.
func hostBMCCmds(cf *clientFlags) []*cobra.Command {
	b := &cobra.Command{Use: "bmc", Short: "Set or show a host's BMC (IPMI or Redfish) for power and boot-device control"}
	b.AddCommand(newHostBMCSetCmd(cf), newHostBMCShowCmd(cf))
	return []*cobra.Command{b, newHostPowerCmd(cf), newHostBootDeviceCmd(cf), newHostMediaCmd(cf)}
}

func hostPath(mac, tail string) string { return "/api/v1/hosts/" + url.PathEscape(mac) + tail }

func newHostBMCSetCmd(cf *clientFlags) *cobra.Command {
	var in bmc.Settings
	var driver, pwFile, caFile string
	cmd := &cobra.Command{
		Use:   "set MAC --address ADDR [--driver ipmi|redfish] [--port N] [--user U] [--password-file F] [--insecure-tls|--bmc-ca-cert F]",
		Short: "Store a host's BMC; the password is sealed on the server and never shown again",
		Long: `Stores how podboot reaches a host's BMC. The password is read from --password-file
(first line; "-" reads standard input), sent to the server over the management API's
HTTPS and sealed there with the server's BMC key (AES-256-GCM); no command or API route
returns it. IPMI uses RMCP+ (lanplus) with cipher suite 3 on UDP port 623 unless --port
says otherwise; Redfish uses HTTPS (443), verified against --ca-cert, or not verified
with --insecure-tls. (--bmc-ca-cert, not --ca-cert: that global flag names the CA of
podboot's own API.) Driver, port, user, password and TLS mode left out come from the
host's pod's BMC defaults ('bmc:' in 'pod apply'), field by field.`,
		Example: "  podboot host bmc set 52:54:00:12:34:56 --driver ipmi --address 192.0.2.10 --user admin --password-file bmc.pw",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in.Driver = podmgr.BMCDriver(driver)
			if pwFile != "" {
				pw, err := readSecretFile(pwFile, cmd.InOrStdin())
				if err != nil {
					return fmt.Errorf("--password-file: %w", err)
				}
				in.Password = pw
			}
			if caFile != "" {
				b, err := os.ReadFile(caFile)
				if err != nil {
					return fmt.Errorf("--bmc-ca-cert: %w", err)
				}
				in.CACert = string(b)
			}
			c, err := cf.client()
			if err != nil {
				return err
			}
			var info bmc.Info
			if err := c.Do(cmd.Context(), "PUT", hostPath(args[0], "/bmc"), in, &info); err != nil {
				return err
			}
			pw := "password sealed"
			if in.Password == "" {
				pw = "no password: the pod's default"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "host %s: bmc %s %s user %s set (%s)\n", info.MAC, orDash(string(info.Driver)), info.Address, orDash(info.User), pw)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&driver, "driver", "", "ipmi or redfish")
	f.StringVar(&in.Address, "address", "", "BMC host name or IP address")
	f.IntVar(&in.Port, "port", 0, "BMC port (default 623 for ipmi, 443 for redfish)")
	f.StringVar(&in.User, "user", "", "BMC user")
	f.StringVar(&pwFile, "password-file", "", `file holding the BMC password ("-": standard input)`)
	f.BoolVar(&in.InsecureTLS, "insecure-tls", false, "redfish: do not verify the BMC's certificate")
	f.StringVar(&caFile, "bmc-ca-cert", "", "redfish: PEM CA certificate that verifies the BMC")
	_ = cmd.MarkFlagRequired("address")
	cmd.MarkFlagsMutuallyExclusive("insecure-tls", "bmc-ca-cert")
	return cmd
}

// readSecretFile reads the first line of path ("-": r).
func readSecretFile(path string, r io.Reader) (string, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(io.LimitReader(r, 4096))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimRight(line, "\r")
	if line == "" {
		return "", errors.New("empty password")
	}
	return line, nil
}

func newHostBMCShowCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "show MAC", Short: "Show a host's BMC (never its password)", Args: cobra.ExactArgs(1)}
	out := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := cf.client()
		if err != nil {
			return err
		}
		var info bmc.Info
		if err := c.Do(cmd.Context(), "GET", hostPath(args[0], "/bmc"), nil, &info); err != nil {
			return err
		}
		return printOut(cmd.OutOrStdout(), *out, info, []string{"MAC", "DRIVER", "ADDRESS", "PORT", "USER", "TLS"}, func() [][]string {
			tls := "verified"
			if info.InsecureTLS {
				tls = "insecure"
			} else if info.CACert {
				tls = "ca-cert"
			}
			port := "-"
			if info.Port != 0 {
				port = fmt.Sprint(info.Port)
			}
			return [][]string{{info.MAC, string(info.Driver), info.Address, port, info.User, tls}}
		})
	}
	return cmd
}

// bulkFlags select one host (the MAC argument) or every host of --pod, run with at most
// --parallel BMC operations at once.
type bulkFlags struct {
	pod      string
	parallel int
}

func (b *bulkFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&b.pod, "pod", "", "every host of this pod that has a BMC, instead of one MAC")
	cmd.Flags().IntVar(&b.parallel, "parallel", 8, "with --pod: at most this many BMC operations at once")
}

// run calls fn for the MAC in args, or for every host of --pod; with --pod it prints a
// line per host as each finishes ("[n/total]") and fails if any host failed.
func (b *bulkFlags) run(cmd *cobra.Command, args []string, c *api.Client, fn func(ctx context.Context, mac string) (string, error)) error {
	ctx, w := cmd.Context(), cmd.OutOrStdout()
	if b.pod == "" {
		if len(args) != 1 {
			return errors.New("give a host's MAC, or --pod POD")
		}
		msg, err := fn(ctx, args[0])
		if err != nil {
			return err
		}
		fmt.Fprintln(w, msg)
		return nil
	}
	if len(args) != 0 {
		return errors.New("give a MAC or --pod, not both")
	}
	if b.parallel < 1 {
		return errors.New("--parallel must be at least 1")
	}
	var hs []podmgr.Host
	if err := c.Do(ctx, "GET", "/api/v1/hosts?pod="+url.QueryEscape(b.pod), nil, &hs); err != nil {
		return err
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, b.parallel)
	done, failed := 0, 0
	for _, h := range hs {
		wg.Add(1)
		sem <- struct{}{}
		go func(mac string) {
			defer wg.Done()
			defer func() { <-sem }()
			msg, err := fn(ctx, mac)
			mu.Lock()
			defer mu.Unlock()
			done++
			if err != nil {
				failed++
				msg = fmt.Sprintf("host %s: FAILED: %v", mac, err)
			}
			fmt.Fprintf(w, "[%d/%d] %s\n", done, len(hs), msg)
		}(h.MAC)
	}
	wg.Wait()
	if failed > 0 {
		return fmt.Errorf("%d of %d hosts of pod %s failed", failed, len(hs), b.pod)
	}
	return nil
}

func newHostPowerCmd(cf *clientFlags) *cobra.Command {
	var bf bulkFlags
	cmd := &cobra.Command{
		Use:   "power status|on|off|cycle|reset|soft MAC|--pod POD",
		Short: "Ask a host's BMC for its power state, or switch it",
		Long: `Talks to the host's BMC (see 'podboot host bmc set') through the server. Every call,
status included, is on the host's timeline and in the audit log. Errors say whether the
BMC refused the credentials (auth failed), did not answer in time (unreachable) or
cannot do the action (not supported).`,
		Example: "  podboot host power status 52:54:00:12:34:56\n  podboot host power cycle --pod berlin-1 --parallel 16",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			op := args[0]
			if op != "status" {
				if _, err := bmc.ParsePowerAction(op); err != nil {
					return err
				}
			}
			return bf.run(cmd, args[1:], c, func(ctx context.Context, mac string) (string, error) {
				var res bmc.PowerResult
				if op == "status" {
					if err := c.Do(ctx, "GET", hostPath(mac, "/power"), nil, &res); err != nil {
						return "", err
					}
					return fmt.Sprintf("host %s: power %s", mac, res.State), nil
				}
				if err := c.Do(ctx, "POST", hostPath(mac, "/power"), bmc.PowerRequest{Action: bmc.PowerAction(op)}, &res); err != nil {
					return "", err
				}
				return fmt.Sprintf("host %s: power %s sent", mac, op), nil
			})
		},
	}
	bf.register(cmd)
	return cmd
}

func newHostBootDeviceCmd(cf *clientFlags) *cobra.Command {
	var bf bulkFlags
	var once, uefi bool
	cmd := &cobra.Command{
		Use:     "boot-device MAC|--pod POD pxe|http|disk|cd [--once] [--uefi]",
		Short:   "Set a host's next boot device through its BMC",
		Example: "  podboot host boot-device 52:54:00:12:34:56 pxe --once --uefi",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			dev, err := bmc.ParseBootDevice(args[len(args)-1])
			if err != nil {
				return err
			}
			return bf.run(cmd, args[:len(args)-1], c, func(ctx context.Context, mac string) (string, error) {
				req := bmc.BootDeviceRequest{Device: dev, Once: once, UEFI: uefi}
				if err := c.Do(ctx, "PUT", hostPath(mac, "/boot-device"), req, nil); err != nil {
					return "", err
				}
				return fmt.Sprintf("host %s: next boot %s (once=%v uefi=%v)", mac, dev, once, uefi), nil
			})
		},
	}
	cmd.Flags().BoolVar(&once, "once", false, "only for the next boot (default: every boot)")
	cmd.Flags().BoolVar(&uefi, "uefi", false, "UEFI boot (default: legacy BIOS)")
	bf.register(cmd)
	return cmd
}

func newHostMediaCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "virtual-media", Short: "Map or remove a host's virtual CD through its BMC (redfish)"}
	insert := &cobra.Command{
		Use:     "insert MAC URL",
		Short:   "Map the image at URL (http or https, fetched by the BMC) as the host's virtual CD",
		Long:    "Finds the BMC's virtual CD/DVD (under the ComputerSystem, or under its Manager on older BMCs), ejects a medium already in it, and inserts URL read-only. Set the next boot with 'podboot host boot-device MAC cd --once'.",
		Example: "  podboot host virtual-media insert 52:54:00:12:34:56 https://198.51.100.10/images/rescue.iso",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			if err := c.Do(cmd.Context(), "PUT", hostPath(args[0], "/virtual-media"), bmc.MediaRequest{Image: args[1]}, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "host %s: virtual CD holds %s\n", args[0], args[1])
			return nil
		},
	}
	eject := &cobra.Command{
		Use:   "eject MAC",
		Short: "Remove the medium from the host's virtual CD (an empty drive is not an error)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			if err := c.Do(cmd.Context(), "DELETE", hostPath(args[0], "/virtual-media"), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "host %s: virtual CD empty\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(insert, eject)
	return cmd
}

// reprovisionPowerCycle is `host reprovision --power-cycle`: through the BMC, next boot
// network, netboot on, power-cycle.
func reprovisionPowerCycle(ctx context.Context, c *api.Client, mac string, uefi *bool) (string, error) {
	var h podmgr.Host
	if err := c.Do(ctx, "POST", hostPath(mac, "/bmc/reprovision"), bmc.ReprovisionRequest{UEFI: uefi}, &h); err != nil {
		return "", err
	}
	return fmt.Sprintf("host %s in pod %s: state %s, netboot on, next boot PXE, power-cycled", h.MAC, h.Pod, h.State), nil
}

// reprovisionVirtualMedia is `host reprovision --via virtual-media`: through the Redfish
// BMC, the host's stage1 ISO as its virtual CD, next boot CD once, power-cycle.
func reprovisionVirtualMedia(ctx context.Context, c *api.Client, mac string, uefi *bool) (string, error) {
	var h podmgr.Host
	if err := c.Do(ctx, "POST", hostPath(mac, "/bmc/reprovision"), bmc.ReprovisionRequest{UEFI: uefi, Via: bmc.ViaVirtualMedia}, &h); err != nil {
		return "", err
	}
	return fmt.Sprintf("host %s in pod %s: state %s, netboot on, stage1 ISO inserted, next boot CD, power-cycled", h.MAC, h.Pod, h.State), nil
}

func newBMCCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "bmc", Short: "Server-side BMC credential maintenance"}
	cmd.AddCommand(newBMCRotateKeyCmd())
	return cmd
}

func newBMCRotateKeyCmd() *cobra.Command {
	var dataDir, keyFile, storeSpec string
	var ec etcdstore.Config
	cmd := &cobra.Command{
		Use:   "rotate-key [--data-dir DIR] [--key-file F] [--store bbolt:PATH|etcd:ENDPOINTS]",
		Short: "Re-seal every BMC password with a new key (run with podboot serve stopped)",
		Long: `Makes a new BMC key, re-seals every stored BMC password with it in one store
transaction, then replaces the key file. The new key is first written to KEYFILE.next;
if the command is interrupted, the server still opens every password (it reads
KEYFILE.next too) and running the command again completes the rotation. Stop podboot
serve first (a bbolt store in use is refused); restart it afterwards to load the new key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keyFile == "" {
				keyFile = filepath.Join(dataDir, cred.DefaultKeyFile)
			}
			if storeSpec == "" {
				storeSpec = "bbolt:" + filepath.Join(dataDir, server.DBFile)
			}
			st, err := openMigrateStore(cmd.Context(), storeSpec, ec, true)
			if err != nil {
				return fmt.Errorf("--store %s: %w", storeSpec, err)
			}
			defer st.Close()
			n, err := cred.Rotate(cmd.Context(), st, keyFile)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "re-sealed %d BMC passwords; new key in %s\n", n, keyFile)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", server.DefaultDataDir, "the server's data dir")
	f.StringVar(&keyFile, "key-file", "", "the BMC key file (default DATA_DIR/bmc.key)")
	f.StringVar(&storeSpec, "store", "", "the store (default bbolt:DATA_DIR/podboot.db)")
	f.StringVar(&ec.Prefix, "etcd-prefix", "/podboot/", "key prefix in etcd")
	f.StringVar(&ec.CertFile, "etcd-cert", "", "client certificate for etcd")
	f.StringVar(&ec.KeyFile, "etcd-key", "", "key of --etcd-cert")
	f.StringVar(&ec.CAFile, "etcd-ca", "", "CA certificate that verifies the etcd members")
	return cmd
}
