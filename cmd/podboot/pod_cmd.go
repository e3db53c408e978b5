package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/podboot/podboot/pkg/api"
	"github.com/podboot/podboot/pkg/podmgr"
)

func newPodCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "pod", Short: "Register and manage pods (sites)"}
	cmd.AddCommand(newPodRegisterCmd(cf), newPodApplyCmd(cf), newPodListCmd(cf), newPodShowCmd(cf), newPodDeleteCmd(cf), newPodStatusCmd(cf), newPodCheckCmd(cf), newPodBMCCmd(cf))
	return cmd
}

func newPodRegisterCmd(cf *clientFlags) *cobra.Command {
	var (
		p                 podmgr.Pod
		rule              podmgr.MatchRule
		sub               podmgr.Subnet
		dynRange, unknown string
		mgmtCIDR, mgmtGW  string
		mgmtVLAN          int
		dns               []string
	)
	cmd := &cobra.Command{
		Use:   "register NAME --giaddr ADDR --subnet CIDR --server-address ADDR --profile PROFILE",
		Short: "Register a new pod with one match rule and one provisioning subnet",
		Long: `Register a new pod. The flags give one match rule (all of its set fields must match)
and one provisioning subnet; use 'pod apply -f' for pods with several of either.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p.Name = args[0]
			if missing := registerMissing(rule, sub, p); len(missing) > 0 {
				return &usageError{cmd: cmd, err: fmt.Errorf("pod register %s: missing %s", p.Name, strings.Join(missing, ", "))}
			}
			if rule != (podmgr.MatchRule{}) {
				p.Match = []podmgr.MatchRule{rule}
			}
			sub.DNS = dns
			if dynRange != "" {
				start, end, ok := strings.Cut(dynRange, "-")
				if !ok {
					return fmt.Errorf("--range %q: write START-END, e.g. 192.0.2.100-192.0.2.200", dynRange)
				}
				sub.RangeStart, sub.RangeEnd = strings.TrimSpace(start), strings.TrimSpace(end)
			}
			if sub.CIDR != "" {
				p.Subnets = []podmgr.Subnet{sub}
			}
			p.UnknownHosts = podmgr.UnknownHostPolicy(unknown)
			p.Management = podmgr.ManagementNet{CIDR: mgmtCIDR, Gateway: mgmtGW, VLAN: mgmtVLAN}
			c, err := cf.client()
			if err != nil {
				return err
			}
			var out podmgr.Pod
			if err := c.Do(cmd.Context(), "POST", "/api/v1/pods", p, &out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pod %s registered\n", out.Name)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&rule.Giaddr, "giaddr", "", "relay agent address (giaddr) of the pod's ToR relay")
	f.StringVar(&rule.RelaySource, "relay-source", "", "source address of the relayed packets")
	f.StringVar(&rule.CircuitID, "circuit-id", "", "option 82 circuit-id (text, or hex:...)")
	f.StringVar(&rule.RemoteID, "remote-id", "", "option 82 remote-id (text, or hex:...)")
	f.StringVar(&rule.LinkSelection, "link-selection", "", "option 82 link-selection / option 118 address")
	f.StringVar(&sub.CIDR, "subnet", "", "provisioning subnet CIDR")
	f.StringVar(&sub.Gateway, "gateway", "", "provisioning gateway (router option)")
	f.StringSliceVar(&dns, "dns", nil, "DNS servers handed out")
	f.StringVar(&sub.Domain, "domain", "", "domain name handed out")
	f.IntVar(&sub.LeaseSeconds, "lease-time", 0, "lease time in seconds (default 3600)")
	f.StringVar(&dynRange, "range", "", "dynamic range START-END (for the lease and discover policies)")
	f.StringVar(&p.ServerAddress, "server-address", "", "address the pod's relays and hosts reach podboot at (option 54, next-server, URLs)")
	f.StringVar(&p.Profile, "profile", "", "profile the pod's hosts boot with")
	f.StringVar(&unknown, "unknown-hosts", "ignore", "what to do with unknown MACs: ignore, lease or discover")
	f.BoolVar(&p.NAT, "nat", false, "hosts reach podboot through NAT (turns off the leased-address check on boot files)")
	f.StringVar(&mgmtCIDR, "mgmt-cidr", "", "management network CIDR")
	f.StringVar(&mgmtGW, "mgmt-gateway", "", "management network gateway")
	f.IntVar(&mgmtVLAN, "mgmt-vlan", 0, "management network VLAN (0: untagged)")
	return cmd
}

// nameIn adds "KIND NAME: " to err unless the server's message names the object
// already: one format, "invalid: pod pod-b: ..." (podmgr's), not both orders.
func nameIn(err error, kind, name string) error {
	if strings.Contains(err.Error(), kind+" "+name) {
		return err
	}
	return fmt.Errorf("%s %s: %w", kind, name, err)
}

// registerMissing lists every flag pod register needs and was not given, so the user
// hears of all of them at once (the server would refuse one at a time).
func registerMissing(rule podmgr.MatchRule, sub podmgr.Subnet, p podmgr.Pod) []string {
	var missing []string
	if rule == (podmgr.MatchRule{}) {
		missing = append(missing, "a match rule (--giaddr ADDR, or --relay-source, --circuit-id, --remote-id, --link-selection)")
	}
	if sub.CIDR == "" {
		missing = append(missing, "--subnet CIDR")
	}
	if p.ServerAddress == "" {
		missing = append(missing, "--server-address ADDR")
	}
	return missing
}

// readDocs decodes every YAML document of a file (or stdin for "-") into T.
func readDocs[T any](path string) ([]T, error) {
	var r io.Reader
	if path == "-" {
		r = os.Stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var out []T
	for i := 1; ; i++ {
		var v T
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, i, err)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no YAML document", path)
	}
	return out, nil
}

func newPodApplyCmd(cf *clientFlags) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "apply -f POD.yaml",
		Short: "Create or update pods from their intent file (idempotent)",
		Long: `Apply a pod intent file: one YAML document per pod. A pod that does not exist is
created; one that differs is updated; one that already says exactly this is left alone
and reported unchanged.

A pod's optional 'bmc:' section sets BMC defaults for every host of the pod (driver,
port, user, passwordFile, insecureTLS, caCertFile; files relative to the pod file):
a host's own 'host bmc set' fields override them field by field. The password is
sealed on the server and never shown; without passwordFile the stored one is kept. A
document without a bmc: section keeps the pod's stored defaults (and says so): remove
them with 'pod bmc delete'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return errors.New("-f FILE is required (use - for standard input)")
			}
			intents, err := readDocs[podIntent](file)
			if err != nil {
				return err
			}
			bmcs, err := podBMCSettings(file, intents, cmd.InOrStdin())
			if err != nil {
				return err
			}
			docs := make([]podmgr.Pod, len(intents))
			for i, d := range intents {
				docs[i] = d.Pod
			}
			pods, c, err := applyDocs(cmd, cf, file, docs, "pod", "pods", func(p podmgr.Pod) string { return p.Name })
			if err != nil {
				return err
			}
			for _, d := range intents {
				if s, ok := bmcs[d.Name]; ok {
					if err := putPodBMC(cmd.Context(), c, cmd.OutOrStdout(), d.Name, s); err != nil {
						return err
					}
				} else if err := notePodBMCKept(cmd.Context(), c, cmd.OutOrStdout(), d.Name); err != nil {
					return err
				}
			}
			warnMissingBootloaders(cmd.Context(), c, cmd.ErrOrStderr(), podProfiles(cmd.Context(), c, pods))
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "pod intent file (YAML; - for stdin)")
	return cmd
}

func newPodListCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List pods", Args: cobra.NoArgs}
	out := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := cf.client()
		if err != nil {
			return err
		}
		var pods []podmgr.Pod
		if err := c.Do(cmd.Context(), "GET", "/api/v1/pods", nil, &pods); err != nil {
			return err
		}
		return printOut(cmd.OutOrStdout(), *out, pods, []string{"NAME", "MATCH", "SUBNETS", "SERVER", "PROFILE", "UNKNOWN-HOSTS"}, func() [][]string {
			var rows [][]string
			for _, p := range pods {
				var subs []string
				for _, s := range p.Subnets {
					subs = append(subs, s.CIDR)
				}
				rows = append(rows, []string{p.Name, matchSummary(p.Match), strings.Join(subs, ","), p.ServerAddress, p.Profile, string(p.UnknownHosts)})
			}
			return rows
		})
	}
	return cmd
}

func matchSummary(rules []podmgr.MatchRule) string {
	var parts []string
	for _, r := range rules {
		var f []string
		for _, kv := range [][2]string{{"giaddr", r.Giaddr}, {"src", r.RelaySource}, {"circuit", r.CircuitID}, {"remote", r.RemoteID}, {"link", r.LinkSelection}} {
			if kv[1] != "" {
				f = append(f, kv[0]+"="+kv[1])
			}
		}
		parts = append(parts, strings.Join(f, "+"))
	}
	return strings.Join(parts, " | ")
}

func newPodShowCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "show NAME", Short: "Show a pod", Args: cobra.ExactArgs(1)}
	out := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := cf.client()
		if err != nil {
			return err
		}
		var p podShown
		if err := c.Do(cmd.Context(), "GET", "/api/v1/pods/"+url.PathEscape(args[0]), nil, &p.Pod); err != nil {
			return err
		}
		if p.BMC, err = podBMCOf(cmd.Context(), c, args[0]); err != nil {
			return err
		}
		if *out == "json" {
			return printOut(cmd.OutOrStdout(), "json", p, nil, nil)
		}
		if *out != "table" {
			return fmt.Errorf("--output %q: use table or json", *out)
		}
		b, err := yaml.Marshal(p)
		if err != nil {
			return err
		}
		_, err = cmd.OutOrStdout().Write(b)
		return err
	}
	return cmd
}

func newPodDeleteCmd(cf *clientFlags) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a pod (refused while it has hosts, unless --force)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			path := "/api/v1/pods/" + url.PathEscape(args[0]) + "?force=" + strconv.FormatBool(force)
			if err := c.Do(cmd.Context(), "DELETE", path, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pod %s deleted\n", args[0])
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "delete the pod together with its hosts and leases")
	return cmd
}

// applyFile PUTs every YAML document of file to /api/v1/COLLECTION/NAME, the idempotent
// apply of pods and profiles, and says for each whether it was created, configured or
// left unchanged.
// It returns the objects as stored, with the client it used (for checks after the
// apply); query (encoded, may be empty) goes on every PUT.
func applyFile[T any](cmd *cobra.Command, cf *clientFlags, file, kind, collection, query string, name func(T) string) ([]T, *api.Client, error) {
	if file == "" {
		return nil, nil, errors.New("-f FILE is required (use - for standard input)")
	}
	docs, err := readDocs[T](file)
	if err != nil {
		return nil, nil, err
	}
	return applyDocsQuery(cmd, cf, file, docs, kind, collection, query, name)
}

// applyDocs PUTs docs (read from file) as applyFile does.
func applyDocs[T any](cmd *cobra.Command, cf *clientFlags, file string, docs []T, kind, collection string, name func(T) string) ([]T, *api.Client, error) {
	return applyDocsQuery(cmd, cf, file, docs, kind, collection, "", name)
}

// applyDocsQuery is applyDocs with query (encoded, may be empty) on every PUT; the
// server's warnings go to standard error.
func applyDocsQuery[T any](cmd *cobra.Command, cf *clientFlags, file string, docs []T, kind, collection, query string, name func(T) string) ([]T, *api.Client, error) {
	c, err := cf.client()
	if err != nil {
		return nil, nil, err
	}
	var applied []T
	for _, d := range docs {
		n := name(d)
		if n == "" {
			return nil, nil, fmt.Errorf("%s: a %s without a name: add 'name:'", file, kind)
		}
		var res api.ApplyResult[T]
		path := "/api/v1/" + collection + "/" + url.PathEscape(n)
		if query != "" {
			path += "?" + query
		}
		if err := c.Do(cmd.Context(), "PUT", path, d, &res); err != nil {
			return nil, nil, nameIn(err, kind, n)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s %s %s\n", kind, n, applyVerb(res.Created, res.Changed))
		for _, w := range res.Warnings {
			fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s %s: %s\n", kind, n, w)
		}
		applied = append(applied, res.Object)
	}
	return applied, c, nil
}
