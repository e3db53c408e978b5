package stage1

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrepareAgent(t *testing.T) {
	notModule := t.TempDir()
	otherModule := t.TempDir()
	if err := os.WriteFile(filepath.Join(otherModule, "go.mod"), []byte("module example.com/other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		embedded []byte
		src      string
		want     AgentSource
		errWants []string
	}{
		{name: "embedded wins over any source", embedded: []byte("\x7fELF agent"), src: notModule, want: AgentEmbedded},
		{name: "no agent, no source tree", src: notModule, errWants: []string{"--agent FILE", "make build", notModule}},
		{name: "no agent, another module", src: otherModule, errWants: []string{"not podboot's source tree"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, from, err := PrepareAgent(context.Background(), tc.embedded, tc.src, t.TempDir())
			if tc.errWants != nil {
				if !errors.Is(err, ErrNoAgent) {
					t.Fatalf("err %v, want ErrNoAgent", err)
				}
				for _, w := range tc.errWants {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %q", err, w)
					}
				}
				return
			}
			if err != nil || from != tc.want {
				t.Fatalf("PrepareAgent: %q, %v; want %q", from, err, tc.want)
			}
			b, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(b, tc.embedded) {
				t.Fatalf("agent file %q: %v", b, err)
			}
		})
	}
}

func TestIsPodbootModule(t *testing.T) {
	if !isPodbootModule("../..") {
		t.Fatal("the repository root is not recognised as podboot's module")
	}
	if isPodbootModule(".") {
		t.Fatal("pkg/stage1 (no go.mod) is taken for the module")
	}
}
