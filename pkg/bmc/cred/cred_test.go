package cred

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/podboot/podboot/pkg/podmgr"
)

func TestSealOpen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, DefaultKeyFile)
	kr, err := Load(path, true)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	s, err := kr.Seal("52:54:00:00:00:01", []byte("hunter2"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := kr.Open("52:54:00:00:00:01", s); err != nil || string(got) != "hunter2" {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := kr.Open("52:54:00:00:00:02", s); err == nil {
		t.Fatal("a password sealed for one host opened for another")
	}
	other, _ := Load(filepath.Join(dir, "other.key"), true)
	if _, err := other.Open("52:54:00:00:00:01", s); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("other key: %v, want ErrWrongKey", err)
	}
	os.Chmod(path, 0o644)
	if _, err := Load(path, false); err == nil {
		t.Fatal("a world-readable key file was accepted")
	}
}

// TestRotate: rotate-key re-seals hosts' passwords and pods' defaults under the new key
// (the old one no longer opens them); a pod's password is bound to the pod's name.
func TestRotate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, DefaultKeyFile)
	kr, _ := Load(path, true)
	st, err := podmgr.OpenBolt(filepath.Join(dir, "podboot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err := podmgr.Open(ctx, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	a := podmgr.Actor{Name: "t", Role: podmgr.RoleAdmin}
	if _, _, err := m.ApplyProfile(ctx, a, podmgr.Profile{Name: "prof"}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreatePod(ctx, a, podmgr.Pod{Name: "p1", Match: []podmgr.MatchRule{{Giaddr: "192.0.2.1"}}, Subnets: []podmgr.Subnet{{CIDR: "192.0.2.0/24"}}, ServerAddress: "198.51.100.10", Profile: "prof"}); err != nil {
		t.Fatal(err)
	}
	mac := "52:54:00:00:00:01"
	if _, err := m.AddHosts(ctx, a, []podmgr.Host{{MAC: mac, Pod: "p1"}}); err != nil {
		t.Fatal(err)
	}
	sealed, _ := kr.Seal(mac, []byte("pw1"))
	if err := m.SetBMC(ctx, a, podmgr.BMC{MAC: mac, Driver: podmgr.BMCIPMI, Address: "192.0.2.10", User: "u", Password: sealed}); err != nil {
		t.Fatal(err)
	}
	// Pod defaults are re-sealed too; a host that relies on them (no password) is skipped.
	podSealed, _ := kr.Seal(podmgr.PodBMCSealKey("p1"), []byte("pod-pw"))
	if err := m.SetPodBMC(ctx, a, podmgr.PodBMC{Pod: "p1", Driver: podmgr.BMCIPMI, User: "u", Password: podSealed}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddHosts(ctx, a, []podmgr.Host{{MAC: "52:54:00:00:00:02", Pod: "p1"}}); err != nil {
		t.Fatal(err)
	}
	if err := m.SetBMC(ctx, a, podmgr.BMC{MAC: "52:54:00:00:00:02", Address: "192.0.2.11"}); err != nil {
		t.Fatal(err)
	}
	n, err := Rotate(ctx, st, path)
	if err != nil || n != 2 {
		t.Fatalf("rotate: %d %v", n, err)
	}
	nk, err := Load(path, false)
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := m.BMCOf(ctx, mac)
	if pw, err := nk.Open(mac, b.Password); err != nil || string(pw) != "pw1" {
		t.Fatalf("after rotation: %q %v", pw, err)
	}
	if _, err := kr.Open(mac, b.Password); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("old key still opens the record: %v", err)
	}
	pd, _, _ := m.PodBMCOf(ctx, "p1")
	if pw, err := nk.Open(podmgr.PodBMCSealKey("p1"), pd.Password); err != nil || string(pw) != "pod-pw" {
		t.Fatalf("pod defaults after rotation: %q %v", pw, err)
	}
	if _, err := nk.Open(mac, pd.Password); err == nil {
		t.Fatal("the pod's sealed password opens as a host's")
	}
}
