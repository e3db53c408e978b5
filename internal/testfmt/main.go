// Command testfmt turns `go test -json` into a CI log a person can read without a rerun:
// one line per test and subtest with its result and time, the whole output of each
// failing test (and the reason of each skip) right under it, go test's own package lines
// (`ok`, `FAIL`, build errors) as they are, and a closing count. It exits 1 when a test
// or a package failed, so `go test -json ./... | go run ./internal/testfmt` fails as
// go test would.
package main

import (
	"fmt"
	"os"
)

func main() {
	failed, err := format(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testfmt:", err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}
