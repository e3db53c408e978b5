package main

import (
	"fmt"
	"net/url"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/podboot/podboot/pkg/podmgr"
)

func newProfileCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "profile", Short: "Manage boot and install profiles"}
	cmd.AddCommand(newProfileApplyCmd(cf), newProfileListCmd(cf), newProfileShowCmd(cf), newProfileDeleteCmd(cf))
	return cmd
}

func newProfileApplyCmd(cf *clientFlags) *cobra.Command {
	var file string
	var allowMissing bool
	cmd := &cobra.Command{
		Use:   "apply -f PROFILE.yaml",
		Short: "Create or update profiles from a YAML file (idempotent)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			query := ""
			if allowMissing {
				query = "allowMissing=true"
			}
			profiles, c, err := applyFile(cmd, cf, file, "profile", "profiles", query, func(p podmgr.Profile) string { return p.Name })
			if err != nil {
				return err
			}
			warnMissingBootloaders(cmd.Context(), c, cmd.ErrOrStderr(), profiles)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "profile file (YAML; - for stdin)")
	cmd.Flags().BoolVar(&allowMissing, "allow-missing", false, "save profiles whose kernel, initrd, stage2, bashPackage or uki is not in the artifact store yet (with a warning); without it such a profile is refused")
	return cmd
}

func newProfileListCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List profiles", Args: cobra.NoArgs}
	out := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := cf.client()
		if err != nil {
			return err
		}
		var ps []podmgr.Profile
		if err := c.Do(cmd.Context(), "GET", "/api/v1/profiles", nil, &ps); err != nil {
			return err
		}
		return printOut(cmd.OutOrStdout(), *out, ps, []string{"NAME", "KERNEL", "INITRD", "STAGE2"}, func() [][]string {
			var rows [][]string
			for _, p := range ps {
				rows = append(rows, []string{p.Name, orDash(p.Kernel), orDash(p.Initrd), orDash(p.Stage2)})
			}
			return rows
		})
	}
	return cmd
}

func newProfileShowCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "show NAME", Short: "Show a profile", Args: cobra.ExactArgs(1)}
	out := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := cf.client()
		if err != nil {
			return err
		}
		var p podmgr.Profile
		if err := c.Do(cmd.Context(), "GET", "/api/v1/profiles/"+url.PathEscape(args[0]), nil, &p); err != nil {
			return err
		}
		if *out == "json" {
			return printOut(cmd.OutOrStdout(), "json", p, nil, nil)
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

func newProfileDeleteCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a profile no pod uses",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			if err := c.Do(cmd.Context(), "DELETE", "/api/v1/profiles/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "profile %s deleted\n", args[0])
			return nil
		},
	}
}
