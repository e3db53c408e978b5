package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// usageError is a mistake in a command line: it is shown with the command's usage line
// and, when one is likely, what the user probably meant.
type usageError struct {
	cmd  *cobra.Command
	err  error
	hint string
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// explainUsage renders e: the error, the usage line, the hint, where the help is.
func (e *usageError) explainUsage() string {
	var b strings.Builder
	b.WriteString(e.err.Error())
	fmt.Fprintf(&b, "\nusage: %s", e.cmd.UseLine())
	if e.hint != "" {
		fmt.Fprintf(&b, "\n%s", e.hint)
	}
	fmt.Fprintf(&b, "\nsee '%s --help'", e.cmd.CommandPath())
	return b.String()
}

// flagAliases are names people try for a flag that is called otherwise.
var flagAliases = map[string]string{"cidr": "subnet", "ip-address": "ip", "mgmt": "mgmt-ip", "file": "f"}

// withUsageErrors makes every argument and flag error of the tree a usageError, and
// marks required flags "(required)" in their help.
func withUsageErrors(root *cobra.Command) {
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &usageError{cmd: c, err: err, hint: flagHint(c, err)}
	})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if args := c.Args; args != nil {
			c.Args = func(c *cobra.Command, a []string) error {
				if err := args(c, a); err != nil {
					return &usageError{cmd: c, err: err, hint: argsHint(c, a)}
				}
				return nil
			}
		}
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if _, req := f.Annotations[cobra.BashCompOneRequiredFlag]; req && !strings.HasSuffix(f.Usage, "(required)") {
				f.Usage += " (required)"
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// flagHint suggests the flag meant by an unknown one: a known alias, else the closest
// name (at most two edits away).
func flagHint(c *cobra.Command, err error) string {
	msg := err.Error()
	name, ok := strings.CutPrefix(msg, "unknown flag: --")
	if !ok {
		return ""
	}
	if alias, ok := flagAliases[name]; ok && c.Flags().Lookup(alias) != nil {
		return "did you mean --" + alias + "?"
	}
	best, bestD := "", 3
	c.Flags().VisitAll(func(f *pflag.Flag) {
		if d := editDistance(name, f.Name); d < bestD {
			best, bestD = f.Name, d
		}
	})
	if best != "" {
		return "did you mean --" + best + "?"
	}
	return ""
}

// argsHint: an argument where the command takes none but has -f is a forgotten -f.
func argsHint(c *cobra.Command, args []string) string {
	if len(args) == 1 && c.Flags().ShorthandLookup("f") != nil {
		if ext := filepath.Ext(args[0]); ext == ".yaml" || ext == ".yml" || ext == ".csv" || fileExists(args[0]) {
			return fmt.Sprintf("did you mean -f %s?", args[0])
		}
	}
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// editDistance is the Levenshtein distance of two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// asUsage finds a usageError in err.
func asUsage(err error) (*usageError, bool) {
	var ue *usageError
	return ue, errors.As(err, &ue)
}
