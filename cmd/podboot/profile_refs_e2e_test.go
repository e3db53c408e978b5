package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
)

// TestProfileArtifactReferences saves profiles through the real CLI and serve: a
// reference that cannot name an artifact is refused naming its field, one that names
// no stored artifact is refused unless --allow-missing (then saved with a warning),
// and a refused profile is not stored.
func TestProfileArtifactReferences(t *testing.T) {
	bin := testutil.BuildPodboot(t)
	files := t.TempDir()
	admin := testutil.NewCLI(t, bin, testutil.StartServe(t, bin, t.TempDir()))
	admin.MustRun(t, "image", "add", "vmlinuz:1", writeFile(t, files, "vmlinuz", "a kernel"), "--kind", "kernel")
	admin.MustRun(t, "image", "add", "initrd.img:1", writeFile(t, files, "initrd.img", "an initrd"), "--kind", "initrd")

	for _, tc := range []struct {
		name, body   string
		allowMissing bool
		wantErr      string // "" saves
		wantWarning  string
	}{
		{name: "pinned", body: "kernel: vmlinuz@1\ninitrd: initrd.img@1\n"},
		{name: "bare", body: "kernel: vmlinuz\ninitrd: initrd.img\n"},
		{name: "colon", body: "kernel: vmlinuz:1\n", wantErr: `kernel "vmlinuz:1" is not an artifact reference: give name or name@version`},
		{name: "colon-allowed", body: "initrd: initrd.img:1\n", allowMissing: true, wantErr: `initrd "initrd.img:1" is not an artifact reference`},
		{name: "slash", body: "stage2: ../os@1\n", wantErr: `stage2 "../os@1" is not an artifact reference`},
		{name: "no-version", body: "kernel: vmlinuz@2\n", wantErr: `kernel "vmlinuz@2" is not in the artifact store`},
		{name: "two-missing", body: "kernel: vmlinuz@1\nstage2: os@1\nbashPackage: site-scripts\n",
			wantErr: `stage2 "os@1" is not in the artifact store; bashPackage "site-scripts" is not in the artifact store: push them first`},
		{name: "uki", body: "secureBoot: full\nuki: stage1-uki@1\n", wantErr: `uki "stage1-uki@1" is not in the artifact store`},
		{name: "later", body: "kernel: vmlinuz@1\nstage2: os@2\n", allowMissing: true, wantWarning: `warning: profile later: stage2 "os@2" is not in the artifact store`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"profile", "apply", "-f", writeFile(t, files, tc.name+".yaml", "name: "+tc.name+"\n"+tc.body)}
			if tc.allowMissing {
				args = append(args, "--allow-missing")
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out, errs, err := admin.Run(ctx, args...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(errs, tc.wantErr) {
					t.Fatalf("apply: err %v, stderr %q, want an error with %q", err, errs, tc.wantErr)
				}
				if _, errs, err := admin.Run(ctx, "profile", "show", tc.name); err == nil {
					t.Fatalf("the refused profile %s was stored", tc.name)
				} else if !strings.Contains(errs, "not found") {
					t.Fatalf("profile show %s: %v %s", tc.name, err, errs)
				}
				return
			}
			if err != nil || !strings.Contains(out, "profile "+tc.name+" created") {
				t.Fatalf("apply: %v\nstdout %s\nstderr %s", err, out, errs)
			}
			if tc.wantWarning != "" && !strings.Contains(errs, tc.wantWarning) {
				t.Fatalf("stderr lacks %q:\n%s", tc.wantWarning, errs)
			}
		})
	}
}
