package main

import (
	"fmt"
	"net/url"
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
	var role string
	cmd := &cobra.Command{
		Use:   "create NAME --role admin|operator|ci|viewer",
		Short: "Create a token; its secret is printed once",
		Args:  cobra.ExactArgs(1),
	}
	out := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := cf.client()
		if err != nil {
			return err
		}
		var res api.TokenCreated
		if err := c.Do(cmd.Context(), "POST", "/api/v1/tokens", api.TokenRequest{Name: args[0], Role: podmgr.Role(role)}, &res); err != nil {
			return err
		}
		if *out == "json" {
			return printOut(cmd.OutOrStdout(), "json", res, nil, nil)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "token %s (id %s, role %s) created; the secret below is shown only now:\n", res.Token.Name, res.Token.ID, res.Token.Role)
		fmt.Fprintln(cmd.OutOrStdout(), res.Secret)
		return nil
	}
	cmd.Flags().StringVar(&role, "role", "", "admin, operator, ci or viewer")
	_ = cmd.MarkFlagRequired("role")
	return cmd
}

func newTokenListCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List tokens (never their secrets)", Args: cobra.NoArgs}
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
		return printOut(cmd.OutOrStdout(), *out, ts, []string{"ID", "NAME", "ROLE", "CREATED"}, func() [][]string {
			var rows [][]string
			for _, t := range ts {
				rows = append(rows, []string{t.ID, t.Name, string(t.Role), t.CreatedAt.Format(time.RFC3339)})
			}
			return rows
		})
	}
	return cmd
}

func newTokenRevokeCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token; it stops working at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			if err := c.Do(cmd.Context(), "DELETE", "/api/v1/tokens/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token %s revoked\n", args[0])
			return nil
		},
	}
}
