package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"

	"github.com/podboot/podboot/pkg/podmgr"
	"github.com/podboot/podboot/pkg/server"
)

// createTokenOffline writes a token straight into the store in dataDir: the recovery
// when no admin token is left. It needs the store to itself, so it fails while a
// server holds it (bbolt's file lock), and it never creates a store that is not there.
func createTokenOffline(ctx context.Context, dataDir string, spec podmgr.TokenSpec) (string, podmgr.Token, error) {
	path := filepath.Join(dataDir, server.DBFile)
	if _, err := os.Stat(path); err != nil {
		return "", podmgr.Token{}, fmt.Errorf("offline token create: no podboot store at %s: %w", path, err)
	}
	st, err := podmgr.OpenBolt(path)
	if errors.Is(err, podmgr.ErrStoreLocked) {
		return "", podmgr.Token{}, fmt.Errorf("offline token create: a running podboot serve holds %s: stop it first, or create the token through the API (without --data-dir)", dataDir)
	}
	if err != nil {
		return "", podmgr.Token{}, fmt.Errorf("offline token create: %w", err)
	}
	defer st.Close()
	mgr, err := podmgr.Open(ctx, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return "", podmgr.Token{}, fmt.Errorf("offline token create: %w", err)
	}
	who := "offline"
	if u, err := user.Current(); err == nil {
		who += ":" + u.Username
	}
	secret, t, err := mgr.IssueToken(ctx, podmgr.Actor{Name: who, Role: podmgr.RoleAdmin, Source: "local"}, spec)
	if err != nil {
		return "", podmgr.Token{}, fmt.Errorf("offline token create: %w", err)
	}
	return secret, t, nil
}
