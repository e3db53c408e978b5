package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/podboot/podboot/pkg/uki"
)

// issueSecureBootKey writes a new operator Secure Boot key for signing stage1 UKIs.
func issueSecureBootKey(cmd *cobra.Command, name, dir string, days int) error {
	kf, err := uki.IssueKey(name, dir, time.Duration(days)*24*time.Hour)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "certificate: %s\nkey: %s\nenrol in db (DER): %s\n", kf.Cert, kf.Key, kf.DER)
	return nil
}
