package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// outputFlag adds -o/--output (table or json) to a command that prints objects.
func outputFlag(cmd *cobra.Command) *string {
	var o string
	cmd.Flags().StringVarP(&o, "output", "o", "table", "output format: table or json")
	return &o
}

// printOut prints v as JSON, or as a table made of header and rows.
func printOut(w io.Writer, format string, v any, header []string, rows func() [][]string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "table", "":
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(header, "\t"))
		for _, r := range rows() {
			fmt.Fprintln(tw, strings.Join(r, "\t"))
		}
		return tw.Flush()
	}
	return fmt.Errorf("--output %q: use table or json", format)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// applyVerb says what an apply did.
func applyVerb(created, changed bool) string {
	switch {
	case created:
		return "created"
	case changed:
		return "configured"
	}
	return "unchanged"
}
