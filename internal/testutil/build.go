package testutil

import "testing"

// BuildCmd builds the Go command pkg (an import path) once per test binary run and
// returns the binary's path, like BuildPodboot for other commands (bench/storm's simulator).
func BuildCmd(t testing.TB, pkg, name string) string {
	t.Helper()
	return buildOnce(t, pkg, name)
}
