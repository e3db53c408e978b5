package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// runPKICmd executes a freshly built command with args and returns its output.
func runPKICmd(t *testing.T, cmd *cobra.Command, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// TestCAAndImageSigningCommands walks the operator's path: init a CA, issue
// a signer, sign an image, verify it, and see a tampered image refused.
func TestCAAndImageSigningCommands(t *testing.T) {
	dir := t.TempDir()
	pki := filepath.Join(dir, "pki")
	if _, err := runPKICmd(t, newCACmd(), "init", "--dir", pki, "--key-type", "ecdsa", "--cn", "test root", "--name", "podboot.test", "--name", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := runPKICmd(t, newCACmd(), "init", "--dir", pki, "--key-type", "ecdsa"); err == nil {
		t.Fatal("second ca init without --force succeeded")
	}
	out, err := runPKICmd(t, newCACmd(), "show", "--dir", pki, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var shown map[string]caCertInfo
	if err := json.Unmarshal([]byte(out), &shown); err != nil {
		t.Fatalf("ca show -o json: %v\n%s", err, out)
	}
	if !strings.Contains(shown["ca"].Subject, "test root") || len(shown["server"].IPAddresses) != 1 {
		t.Fatalf("unexpected ca show output: %+v", shown)
	}
	signers := filepath.Join(dir, "signers")
	if _, err := runPKICmd(t, newCACmd(), "issue", "--dir", pki, "--code-signing", "ci", "--out", signers, "--key-type", "ecdsa", "--days", "30"); err != nil {
		t.Fatal(err)
	}

	image := filepath.Join(dir, "stage2.img")
	if err := os.WriteFile(image, bytes.Repeat([]byte("image"), 10000), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runPKICmd(t, newImageSignCmd(), "--cert", filepath.Join(signers, "ci.pem"), "--key", filepath.Join(signers, "ci.key"), image); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(pki, "ca.pem")
	tests := []struct {
		name    string
		content []byte
		wantErr string
	}{
		{"intact", nil, ""},
		{"tampered", []byte("evil"), "digest mismatch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := image
			if tc.content != nil {
				target = filepath.Join(dir, "tampered.img")
				if err := os.WriteFile(target, tc.content, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			out, err := runPKICmd(t, newImageVerifyCmd(), "--root-ca", root, image+".p7s", target)
			if tc.wantErr == "" {
				if err != nil || !strings.Contains(out, "OK") {
					t.Fatalf("verify: %v\n%s", err, out)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("verify error = %v, want it to name %q", err, tc.wantErr)
			}
		})
	}
}

func TestDefaultPKIDir(t *testing.T) {
	tests := []struct{ env, want string }{
		{"", "/var/lib/podboot/pki"},
		{"/srv/podboot", "/srv/podboot/pki"},
	}
	for _, tc := range tests {
		t.Setenv("PODBOOT_DATA_DIR", tc.env)
		if got := defaultPKIDir(); got != tc.want {
			t.Errorf("PODBOOT_DATA_DIR=%q: got %q, want %q", tc.env, got, tc.want)
		}
	}
}
