// Command demostory tells what `make demo` showed: it reads `go test -json` of
// test/e2e's TestProvisionEndToEnd and prints a short story — each host's steps as
// `podboot host watch` reported them, and the checks after the install — then a one-line
// verdict. The raw log is kept by the caller for when something fails.
package main

import (
	"fmt"
	"os"
)

func main() {
	ok, err := tell(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demostory:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}
