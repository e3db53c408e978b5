package main

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/podboot/podboot/pkg/api"
	"github.com/podboot/podboot/pkg/podmgr"
)

func newTokenCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Manage management API tokens (admin only)"}
	cmd.AddCommand(newTokenCreateCmd(cf), newTokenListCmd(cf), newTokenRevokeCmd(cf))
	return cmd
}

func newTokenCreateCmd(cf *clientFlags) *cobra.Command {
	var role, dataDir string
	var kinds, prefixes []string
	cmd := &cobra.Command{
		Use:   "create NAME --role admin|operator|ci|viewer [--allow-kind KIND,...] [--allow-prefix PREFIX,...]",
		Short: "Create a token; its secret is printed once",
		Long: `Create a token; its secret is printed once. Token names are unique.

A ci token pushes only the artifact kinds it is granted (--allow-kind; default stage2)
and, when --allow-prefix is given, only names starting with one of the prefixes.
Bootloaders, kernels and initrds are what every PXE ROM and stage1 runs: grant them
to CI only on purpose.

--data-dir DIR writes the token straight into the store of a STOPPED server: the
recovery for a lost admin token. It is refused while a server holds the data dir.`,
		Args: cobra.ExactArgs(1),
	}
	out := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		spec := podmgr.TokenSpec{Name: args[0], Role: podmgr.Role(role), Push: podmgr.PushGrant{Kinds: kinds, Prefixes: prefixes}}
		var res api.TokenCreated
		if dataDir != "" {
			secret, t, err := createTokenOffline(cmd.Context(), dataDir, spec)
			if err != nil {
				return err
			}
			res = api.TokenCreated{Token: t, Secret: secret}
		} else {
			c, err := cf.client()
			if err != nil {
				return err
			}
			req := api.TokenRequest{Name: spec.Name, Role: spec.Role, AllowKinds: kinds, AllowPrefixes: prefixes}
			if err := c.Do(cmd.Context(), "POST", "/api/v1/tokens", req, &res); err != nil {
				return err
			}
		}
		if *out == "json" {
			return printOut(cmd.OutOrStdout(), "json", res, nil, nil)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "token %s (id %s, role %s%s) created; the secret below is shown only now:\n", res.Token.Name, res.Token.ID, res.Token.Role, grantText(res.Token))
		fmt.Fprintln(cmd.OutOrStdout(), res.Secret)
		return nil
	}
	f := cmd.Flags()
	f.StringVar(&role, "role", "", "admin, operator, ci or viewer")
	f.StringSliceVar(&kinds, "allow-kind", nil, "ci only: artifact kinds it may push (stage2, package, kernel, initrd, bootloader; default stage2)")
	f.StringSliceVar(&prefixes, "allow-prefix", nil, "ci only: name prefixes it may push (default any name)")
	f.StringVar(&dataDir, "data-dir", "", "write the token into the store in DIR of a stopped server (offline recovery), not through the API")
	_ = cmd.MarkFlagRequired("role")
	return cmd
}

// grantText describes a ci token's grants for a message.
func grantText(t podmgr.Token) string {
	if t.Role != podmgr.RoleCI {
		return ""
	}
	return fmt.Sprintf(", may push kinds %s, names %s", joinOr(t.AllowKinds, "stage2"), joinOr(t.AllowPrefixes, "any"))
}

func joinOr(vs []string, none string) string {
	if len(vs) == 0 {
		return none
	}
	return strings.Join(vs, ",")
}

func newTokenListCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List tokens (never their secrets) and what ci tokens may push", Args: cobra.NoArgs}
	out := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := cf.client()
		if err != nil {
			return err
		}
		var ts []podmgr.Token
		if err := c.Do(cmd.Context(), "GET", "/api/v1/tokens", nil, &ts); err != nil {
			return err
		}
		return printOut(cmd.OutOrStdout(), *out, ts, []string{"ID", "NAME", "ROLE", "PUSH KINDS", "PUSH PREFIXES", "CREATED"}, func() [][]string {
			var rows [][]string
			for _, t := range ts {
				k, p := "-", "-"
				if t.Role == podmgr.RoleCI {
					k, p = joinOr(t.AllowKinds, "stage2"), joinOr(t.AllowPrefixes, "any")
				}
				rows = append(rows, []string{t.ID, t.Name, string(t.Role), k, p, t.CreatedAt.Format(time.RFC3339)})
			}
			return rows
		})
	}
	return cmd
}

func newTokenRevokeCmd(cf *clientFlags) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "revoke NAME|ID [--force]",
		Short: "Revoke a token; it stops working at once",
		Long: `Revoke a token, named by its name or its ID; it stops working at once.
Revoking the last admin token, or the token making the request, is refused unless
--force (after that, only 'token create --data-dir' on a stopped server recovers).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			path := "/api/v1/tokens/" + url.PathEscape(args[0])
			if force {
				path += "?force=true"
			}
			if err := c.Do(cmd.Context(), "DELETE", path, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token %s revoked\n", args[0])
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "revoke even the last admin token or your own")
	return cmd
}
