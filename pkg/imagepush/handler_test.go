package imagepush_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/pkg/api"
	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/imagepush"
	"github.com/podboot/podboot/pkg/imagepush/pushtest"
	"github.com/podboot/podboot/pkg/podmgr"
)

// refusingReader fails the test if the client ever sends the body.
type refusingReader struct{ read bool }

func (r *refusingReader) Read(p []byte) (int, error) {
	r.read = true
	return 0, io.ErrUnexpectedEOF
}

func TestPushRefusals(t *testing.T) {
	const max = 1 << 20
	f := newFixture(t, max)
	ctx := context.Background()
	good := pushtest.Signer(t, f.root, "ci signer", pushtest.Spec{})
	other := pushtest.Signer(t, pushtest.Root(t, "other root"), "rogue", pushtest.Spec{})
	tlsCert := pushtest.Signer(t, f.root, "tls", pushtest.Spec{EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	noDS := pushtest.Signer(t, f.root, "no ds", pushtest.Spec{KeyUsage: x509.KeyUsageKeyEncipherment})
	expired := pushtest.Signer(t, f.root, "old", pushtest.Spec{NotBefore: time.Now().AddDate(-2, 0, 0), NotAfter: time.Now().AddDate(-1, 0, 0)})
	future := pushtest.Signer(t, f.root, "future", pushtest.Spec{NotBefore: time.Now().Add(24 * time.Hour)})

	content := bytes.Repeat([]byte("stage2 image "), 4096)
	sig := good.Sign(t, content)
	// v1 exists before every case: conflicts and no-ops are measured against it.
	if res, err := imagepush.Push(ctx, f.client(t, podmgr.RoleCI), imagepush.Request{Name: "stage2", Version: "1", Kind: artifact.KindStage2,
		Signature: sig, Content: bytes.NewReader(content), Size: int64(len(content))}); err != nil || !res.Created || res.Image.Signer != "CN=ci signer" {
		t.Fatalf("first push: %+v %v", res, err)
	}
	tampered := bytes.Clone(content)
	tampered[len(tampered)/2] ^= 1
	otherContent := []byte("another image")

	tests := []struct {
		name     string
		role     podmgr.Role
		req      imagepush.Request
		status   int
		reason   string // in the message
		noUpload bool   // refused from the headers: the body must never be sent
	}{
		{name: "tampered content", req: imagepush.Request{Version: "2", Signature: sig, Content: bytes.NewReader(tampered), Size: int64(len(tampered))},
			status: 422, reason: "digest mismatch"},
		{name: "untrusted root", req: imagepush.Request{Version: "2", Signature: other.Sign(t, content)}, status: 422, reason: "untrusted root", noUpload: true},
		{name: "server EKU", req: imagepush.Request{Version: "2", Signature: tlsCert.Sign(t, content)}, status: 422, reason: "wrong key usage", noUpload: true},
		{name: "no digitalSignature", req: imagepush.Request{Version: "2", Signature: noDS.Sign(t, content)}, status: 422, reason: "wrong key usage", noUpload: true},
		{name: "expired", req: imagepush.Request{Version: "2", Signature: expired.Sign(t, content)}, status: 422, reason: "expired or not yet valid", noUpload: true},
		{name: "not yet valid", req: imagepush.Request{Version: "2", Signature: future.Sign(t, content)}, status: 422, reason: "expired or not yet valid", noUpload: true},
		{name: "malformed signature", req: imagepush.Request{Version: "2", Signature: sig[:len(sig)/2]}, status: 422, reason: "malformed signature", noUpload: true},
		{name: "truncated file", req: imagepush.Request{Version: "2", Signature: sig, ImageSize: int64(len(content)) + 1}, status: 422, reason: "truncated file", noUpload: true},
		{name: "no signature", req: imagepush.Request{Version: "2"}, status: 400, reason: "no signature", noUpload: true},
		{name: "bad name", req: imagepush.Request{Name: "a..b", Version: "2", Signature: sig}, status: 400, noUpload: true},
		{name: "bad kind", req: imagepush.Request{Version: "2", Kind: "rootkit", Signature: sig}, status: 400, noUpload: true},
		{name: "too large", req: imagepush.Request{Version: "2", Signature: sig, Size: max + 1}, status: 413, noUpload: true},
		{name: "declared digest differs", req: imagepush.Request{Version: "2", Signature: sig, Content: bytes.NewReader(content), Size: int64(len(content)), SHA256: digest(otherContent)},
			status: 400, reason: "differs from the declared"},
		{name: "version exists, declared digest", req: imagepush.Request{Signature: sig, SHA256: digest(otherContent)}, status: 409, reason: "immutable", noUpload: true},
		{name: "version exists, other content", req: imagepush.Request{Signature: good.Sign(t, otherContent), Content: bytes.NewReader(otherContent), Size: int64(len(otherContent))},
			status: 409, reason: "immutable"},
		{name: "viewer", role: podmgr.RoleViewer, req: imagepush.Request{Version: "2", Signature: sig}, status: 403, noUpload: true},
		{name: "operator", role: podmgr.RoleOperator, req: imagepush.Request{Version: "2", Signature: sig}, status: 403, noUpload: true},
		{name: "no token", role: "none", req: imagepush.Request{Version: "2", Signature: sig}, status: 401, noUpload: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			if req.Name == "" {
				req.Name = "stage2"
			}
			if req.Version == "" {
				req.Version = "1"
			}
			if req.Kind == "" {
				req.Kind = artifact.KindStage2
			}
			guard := &refusingReader{}
			if req.Content == nil {
				req.Content = guard
				if req.Size == 0 {
					req.Size = int64(len(content))
				}
			}
			role := tt.role
			if role == "" {
				role = podmgr.RoleCI
			}
			before := f.state(t)
			_, err := imagepush.Push(ctx, f.client(t, role), req)
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Status != tt.status || !strings.Contains(ae.Message, tt.reason) {
				t.Fatalf("want HTTP %d with %q, got %v", tt.status, tt.reason, err)
			}
			if tt.noUpload && guard.read {
				t.Error("the body was sent although the headers were enough to refuse")
			}
			f.assertUnchanged(t, before)
		})
	}
}

func TestPushIdempotentAndAdmin(t *testing.T) {
	f := newFixture(t, 0)
	ctx := context.Background()
	signer := pushtest.Signer(t, f.root, "ci", pushtest.Spec{})
	content := []byte("kernel bytes")
	req := func() imagepush.Request {
		return imagepush.Request{Name: "vmlinuz", Version: "6.1", Kind: artifact.KindKernel, Signature: signer.Sign(t, content),
			Content: bytes.NewReader(content), Size: int64(len(content))}
	}
	first, err := imagepush.Push(ctx, f.client(t, podmgr.RoleAdmin), req())
	if err != nil || !first.Created || first.Image.Kind != artifact.KindKernel || !first.Image.Signed() {
		t.Fatalf("admin push: %+v %v", first, err)
	}
	before := f.state(t)
	for _, declare := range []bool{false, true} {
		r := req()
		if declare {
			r.SHA256 = digest(content)
			r.Content = &refusingReader{}
		}
		again, err := imagepush.Push(ctx, f.client(t, podmgr.RoleAdmin), r)
		if err != nil || again.Created || again.Image.CreatedAt != first.Image.CreatedAt {
			t.Fatalf("re-push (declared digest %v): %+v %v", declare, again, err)
		}
		if rr, ok := r.Content.(*refusingReader); ok && rr.read {
			t.Fatal("re-push with a declared digest uploaded the body")
		}
		f.assertUnchanged(t, before)
	}
}

func TestPushEmptyImage(t *testing.T) {
	f := newFixture(t, 0)
	signer := pushtest.Signer(t, f.root, "ci", pushtest.Spec{})
	res, err := imagepush.Push(context.Background(), f.client(t, podmgr.RoleCI), imagepush.Request{Name: "empty", Version: "1", Kind: artifact.KindStage2,
		Signature: signer.Sign(t, nil), Content: bytes.NewReader(nil)})
	if err != nil || res.Image.Size != 0 {
		t.Fatalf("empty push: %+v %v", res, err)
	}
}

func TestParseRef(t *testing.T) {
	tests := []struct {
		ref, name, version string
		ok                 bool
	}{
		{"stage2:1.0", "stage2", "1.0", true},
		{"stage2@1.0", "stage2", "1.0", true},
		{"stage2", "", "", false},
		{"stage2:", "", "", false},
		{"../x:1", "", "", false},
		{"a:b:c", "", "", false},
	}
	for _, tt := range tests {
		n, v, err := imagepush.ParseRef(tt.ref)
		if (err == nil) != tt.ok || n != tt.name || v != tt.version {
			t.Errorf("ParseRef(%q) = %q, %q, %v", tt.ref, n, v, err)
		}
	}
}
