package docs

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/podboot/podboot/internal/testutil"
)

var catHeredocRE = regexp.MustCompile(`(?s)cat > (\S+) <<'EOF'\n(.*?)\nEOF\n`)

// TestTestdataIsWhatTheDocsWrite: the YAML and CSV files README's quick start and docs/quickstart.md
// write with cat <<'EOF' are the fixtures in testdata/, byte for byte, so a user can
// take either and the docs test (which runs the pages) covers both.
func TestTestdataIsWhatTheDocsWrite(t *testing.T) {
	src := srcDir(t)
	for _, c := range []struct{ page, dir string }{
		{"README.md", "testdata"},
		{"docs/quickstart.md", "testdata/quickstart"},
	} {
		md := readDoc(t, src, c.page)
		want := map[string]string{}
		for _, m := range catHeredocRE.FindAllStringSubmatch(md, -1) {
			want[m[1]] = m[2] + "\n"
		}
		entries, err := os.ReadDir(filepath.Join(src, c.dir))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range entries {
			if ext := filepath.Ext(e.Name()); e.IsDir() || (ext != ".yaml" && ext != ".csv") {
				continue
			}
			n++
			got := readDoc(t, src, filepath.Join(c.dir, e.Name()))
			if w, ok := want[e.Name()]; !ok || got != w {
				t.Errorf("%s/%s differs from what %s writes (or %s writes none):\n--- testdata\n%s--- %s\n%s", c.dir, e.Name(), c.page, c.page, got, c.page, w)
			}
		}
		if n == 0 {
			t.Errorf("%s holds no fixtures", c.dir)
		}
	}
}

// TestTestdataStage2Recipe runs testdata/stage2/recipe.sh against a CA made with
// podboot ca init: the signed image it makes verifies against that CA.
func TestTestdataStage2Recipe(t *testing.T) {
	t.Setenv("PATH", os.Getenv("PATH")+":/usr/sbin:/sbin")
	for _, tool := range []string{"sfdisk", "mkfs.ext4"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("SKIP: %s is missing (scripts/deps.sh installs it)", tool)
		}
	}
	src := srcDir(t)
	bin := testutil.BuildPodboot(t)
	work := t.TempDir()
	env := append(os.Environ(), "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"))
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Env, cmd.Dir = env, work
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run(bin, "ca", "init", "--dir", "pki")
	run(filepath.Join(src, "testdata/stage2/recipe.sh"), "pki", "out")
	run(bin, "image", "verify", "--root-ca", "pki/ca.pem", "out/os.img.p7s", "out/os.img")
}
