package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/podboot/podboot/pkg/etcdstore"
	"github.com/podboot/podboot/pkg/podmgr"
	"github.com/podboot/podboot/pkg/storecopy"
)

func newStoreCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "store", Short: "Work on a stopped podboot's store directly (no server involved)"}
	cmd.AddCommand(newStoreMigrateCmd())
	return cmd
}

func newStoreMigrateCmd() *cobra.Command {
	var from, to string
	var ec etcdstore.Config
	cmd := &cobra.Command{
		Use:   "migrate --from bbolt:PATH|etcd:ENDPOINTS --to bbolt:PATH|etcd:ENDPOINTS",
		Short: "Copy every record from one store to another (bbolt to etcd and back), then verify",
		Long: `Copy every record (profiles, pods, hosts, tokens, leases, events, BMCs) from one store to an
empty one, then read both again and fail unless they hold the same content.
ENDPOINTS are the etcd members' client URLs, comma separated; --etcd-prefix and the TLS
flags apply to whichever side is etcd. Stop every podboot serve first: a bbolt file in use
is refused (its lock), but podboot cannot yet tell whether a serve uses an etcd prefix
(docs/ha.md). The target must be empty; a copy that fails part-way leaves part of the
data there: empty it before running again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			src, err := openMigrateStore(ctx, from, ec, true)
			if err != nil {
				return fmt.Errorf("--from %s: %w", from, err)
			}
			defer src.Close()
			dst, err := openMigrateStore(ctx, to, ec, false)
			if err != nil {
				return fmt.Errorf("--to %s: %w", to, err)
			}
			defer dst.Close()
			chunk := 1000
			if strings.HasPrefix(to, "etcd:") {
				chunk = 25 // a host is 3-4 writes; etcd takes 128 per transaction
			}
			c, err := storecopy.Copy(ctx, src, dst, chunk)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "copied and verified %s\n", c.Counts())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "source store: bbolt:PATH or etcd:ENDPOINTS")
	f.StringVar(&to, "to", "", "target store (empty): bbolt:PATH or etcd:ENDPOINTS")
	f.StringVar(&ec.Prefix, "etcd-prefix", "/podboot/", "key prefix in etcd")
	f.StringVar(&ec.CertFile, "etcd-cert", "", "client certificate for etcd")
	f.StringVar(&ec.KeyFile, "etcd-key", "", "key of --etcd-cert")
	f.StringVar(&ec.CAFile, "etcd-ca", "", "CA certificate that verifies the etcd members")
	_ = cmd.MarkFlagRequired("from")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

// openMigrateStore opens "bbolt:PATH" or "etcd:ENDPOINTS". A source bbolt file must
// exist (OpenBolt would create an empty one).
func openMigrateStore(ctx context.Context, spec string, ec etcdstore.Config, source bool) (podmgr.Store, error) {
	kind, arg, _ := strings.Cut(spec, ":")
	switch {
	case arg == "":
	case kind == "bbolt":
		if _, err := os.Stat(arg); source && err != nil {
			return nil, err
		}
		st, err := podmgr.OpenBolt(arg)
		if errors.Is(err, podmgr.ErrStoreLocked) {
			return nil, fmt.Errorf("%w: stop the podboot serve that uses it first", err)
		}
		return st, err
	case kind == "etcd":
		for _, e := range strings.Split(arg, ",") {
			if e = strings.TrimSpace(e); e != "" {
				ec.Endpoints = append(ec.Endpoints, e)
			}
		}
		return etcdstore.Open(ctx, ec)
	}
	return nil, fmt.Errorf("write bbolt:PATH or etcd:URL,URL,…")
}
