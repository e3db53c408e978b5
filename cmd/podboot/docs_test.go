package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCLIReferenceIsCurrent keeps docs/cli true to the code: regenerate it with
// `go run ./cmd/podboot gen-docs docs/cli` after changing a command.
func TestCLIReferenceIsCurrent(t *testing.T) {
	dir := t.TempDir()
	root := newRootCmd()
	root.SetArgs([]string{"gen-docs", dir})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	want, _ := filepath.Glob(filepath.Join(dir, "*.md"))
	have, _ := filepath.Glob(filepath.Join("..", "..", "docs", "cli", "*.md"))
	if len(want) != len(have) {
		t.Fatalf("docs/cli has %d pages, the commands make %d: run go run ./cmd/podboot gen-docs docs/cli", len(have), len(want))
	}
	for _, w := range want {
		gen, _ := os.ReadFile(w)
		cur, err := os.ReadFile(filepath.Join("..", "..", "docs", "cli", filepath.Base(w)))
		if err != nil || string(gen) != string(cur) {
			t.Errorf("docs/cli/%s is stale: run go run ./cmd/podboot gen-docs docs/cli", filepath.Base(w))
		}
	}
}
