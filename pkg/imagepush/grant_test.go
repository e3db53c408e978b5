package imagepush_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/podboot/podboot/pkg/api"
	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/imagepush"
	"github.com/podboot/podboot/pkg/imagepush/pushtest"
	"github.com/podboot/podboot/pkg/podmgr"
)

// TestPushGrants: a ci token pushes only the kinds and name prefixes it was granted
// (default stage2), and no push changes the kind of a name that exists (issue 10: a ci
// token replaced what every PXE ROM runs). Refusals come from the headers alone.
func TestPushGrants(t *testing.T) {
	f := newFixture(t, 0)
	ctx := context.Background()
	signer := pushtest.Signer(t, f.root, "ci", pushtest.Spec{})
	admin := f.client(t, podmgr.RoleAdmin)
	ciDefault := f.client(t, podmgr.RoleCI)
	ciPkg := f.grantedClient(t, "ci-pkg", podmgr.PushGrant{Kinds: []string{"stage2", "package"}, Prefixes: []string{"os-"}})
	push := func(c *api.Client, name, version string, kind artifact.Kind, content []byte, body *refusingReader) error {
		req := imagepush.Request{Name: name, Version: version, Kind: kind, Signature: signer.Sign(t, content), Content: bytes.NewReader(content), Size: int64(len(content))}
		if body != nil {
			req.Content = body
		}
		_, err := imagepush.Push(ctx, c, req)
		return err
	}
	if err := push(admin, "undionly.kpxe", "1", artifact.KindBootloader, []byte("ipxe rom"), nil); err != nil {
		t.Fatal(err)
	}
	if err := push(admin, "os-rocky", "1", artifact.KindStage2, []byte("rocky 1"), nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		c       *api.Client
		ref     string
		kind    artifact.Kind
		status  int
		message string
	}{
		{"ci: bootloader over undionly.kpxe", ciDefault, "undionly.kpxe@99", artifact.KindBootloader, 403, "may push kinds stage2, not bootloader"},
		{"ci: stage2 named undionly.kpxe", ciDefault, "undionly.kpxe@99", artifact.KindStage2, 409, "undionly.kpxe is a bootloader"},
		{"ci: kernel", ciDefault, "vmlinuz@2", artifact.KindKernel, 403, "not kernel"},
		{"ci: initrd", ciDefault, "initrd.img@2", artifact.KindInitrd, 403, "not initrd"},
		{"ci: package without a grant", ciDefault, "tools@1", artifact.KindPackage, 403, "not package"},
		{"granted ci: outside its prefixes", ciPkg, "rocky@2", artifact.KindStage2, 403, "names starting with os-"},
		{"granted ci: bootloader", ciPkg, "os-ipxe@1", artifact.KindBootloader, 403, "not bootloader"},
		{"granted ci: package over a stage2 name", ciPkg, "os-rocky@2", artifact.KindPackage, 409, "os-rocky is a stage2"},
		{"admin: kind change", admin, "undionly.kpxe@2", artifact.KindKernel, 409, "a version of another kind (kernel) may not join it"},
		{"admin: stage2 over a bootloader", admin, "undionly.kpxe@2", artifact.KindStage2, 409, "undionly.kpxe is a bootloader"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, version, _ := strings.Cut(tt.ref, "@")
			before := f.state(t)
			guard := &refusingReader{}
			err := push(tt.c, name, version, tt.kind, []byte("rogue"), guard)
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Status != tt.status || !strings.Contains(ae.Message, tt.message) {
				t.Fatalf("want HTTP %d with %q, got %v", tt.status, tt.message, err)
			}
			if guard.read {
				t.Error("the body was sent although the headers were enough to refuse")
			}
			f.assertUnchanged(t, before)
		})
	}
	if a, _ := f.store.Resolve("undionly.kpxe"); a.Version != "1" || a.Kind != artifact.KindBootloader {
		t.Fatalf("undionly.kpxe now serves %+v", a)
	}
	for _, ok := range []struct {
		c    *api.Client
		ref  string
		kind artifact.Kind
	}{
		{ciDefault, "os-rocky@2", artifact.KindStage2},
		{ciPkg, "os-rocky@3", artifact.KindStage2},
		{ciPkg, "os-tools@1", artifact.KindPackage},
		{admin, "undionly.kpxe@2", artifact.KindBootloader},
	} {
		name, version, _ := strings.Cut(ok.ref, "@")
		if err := push(ok.c, name, version, ok.kind, []byte("good "+ok.ref), nil); err != nil {
			t.Fatalf("granted push %s: %v", ok.ref, err)
		}
	}
}

// TestPushKindsMatchStore: the kinds a token may be granted are the store's kinds.
func TestPushKindsMatchStore(t *testing.T) {
	for _, k := range podmgr.PushKinds() {
		if !artifact.ValidKind(artifact.Kind(k)) {
			t.Errorf("grantable kind %q is not an artifact kind", k)
		}
	}
	for _, k := range []artifact.Kind{artifact.KindBootloader, artifact.KindKernel, artifact.KindInitrd, artifact.KindStage2, artifact.KindPackage} {
		if !slices.Contains(podmgr.PushKinds(), string(k)) {
			t.Errorf("artifact kind %q cannot be granted", k)
		}
	}
}
