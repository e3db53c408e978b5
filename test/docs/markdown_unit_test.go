package docs

import (
	"slices"
	"testing"
)

func TestCommands(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"lines and comments", "# a comment\na x   # trailing\n\nb y\n", []string{"a x   # trailing", "b y"}},
		{"continuation", "a \\\n  --b c\nd", []string{"a \\\n  --b c", "d"}},
		{"heredoc", "cat > f <<'EOF'\nx: 1\n# not a comment\nEOF\nnext", []string{"cat > f <<'EOF'\nx: 1\n# not a comment\nEOF", "next"}},
		{"loop", "for f in a b; do\n  echo $f\ndone\nafter", []string{"for f in a b; do\n  echo $f\ndone", "after"}},
		{"one-line loop", "for f in a; do echo $f; done\nafter", []string{"for f in a; do echo $f; done", "after"}},
		{"hash in quotes", `echo "a # b"`, []string{`echo "a # b"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := commands(tc.body); !slices.Equal(got, tc.want) {
				t.Errorf("commands(%q)\n got %q\nwant %q", tc.body, got, tc.want)
			}
		})
	}
}

func TestBlocks(t *testing.T) {
	md := "text\n```sh\na\n```\n<!-- docs-test: skip: on the switch -->\n```sh\nb\n```\n```\nc\n```\n"
	got := blocks(md)
	if len(got) != 3 || got[0].lang != "sh" || got[0].body != "a" || got[0].skip != "" ||
		got[1].skip != "on the switch" || got[1].body != "b" || got[2].lang != "" || got[2].line != 9 {
		t.Fatalf("blocks: %+v", got)
	}
}
