package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/podboot/podboot/pkg/api"
	"github.com/podboot/podboot/pkg/bmc"
	"github.com/podboot/podboot/pkg/podmgr"
)

// podIntent is one document of a pod file: the pod, and optionally its BMC defaults,
// which go to their own route (the pod record never carries a BMC secret).
type podIntent struct {
	podmgr.Pod `yaml:",inline"`
	BMC        *podBMCIntent `yaml:"bmc,omitempty"`
}

// podBMCIntent is the `bmc:` section of a pod file. Files are named, never inlined:
// passwordFile (first line) and caCertFile, relative to the pod file's directory.
type podBMCIntent struct {
	Driver       podmgr.BMCDriver `yaml:"driver,omitempty"`
	Port         int              `yaml:"port,omitempty"`
	User         string           `yaml:"user,omitempty"`
	PasswordFile string           `yaml:"passwordFile,omitempty"`
	InsecureTLS  bool             `yaml:"insecureTLS,omitempty"`
	CACertFile   string           `yaml:"caCertFile,omitempty"`
}

// settings reads the section's files (relative to dir) into what the API takes.
func (b podBMCIntent) settings(dir string, stdin io.Reader) (bmc.PodSettings, error) {
	s := bmc.PodSettings{Driver: b.Driver, Port: b.Port, User: b.User, InsecureTLS: b.InsecureTLS}
	rel := func(p string) string {
		if filepath.IsAbs(p) || p == "-" {
			return p
		}
		return filepath.Join(dir, p)
	}
	if b.PasswordFile != "" {
		pw, err := readSecretFile(rel(b.PasswordFile), stdin)
		if err != nil {
			return s, fmt.Errorf("bmc passwordFile: %w", err)
		}
		s.Password = pw
	}
	if b.CACertFile != "" {
		pem, err := os.ReadFile(rel(b.CACertFile))
		if err != nil {
			return s, fmt.Errorf("bmc caCertFile: %w", err)
		}
		s.CACert = string(pem)
	}
	return s, nil
}

// podBMCSettings reads every document's bmc section before anything is sent, so a
// missing file fails the apply with nothing changed.
func podBMCSettings(file string, docs []podIntent, stdin io.Reader) (map[string]bmc.PodSettings, error) {
	dir := "."
	if file != "-" {
		dir = filepath.Dir(file)
	}
	out := map[string]bmc.PodSettings{}
	for _, d := range docs {
		if d.BMC == nil {
			continue
		}
		s, err := d.BMC.settings(dir, stdin)
		if err != nil {
			return nil, fmt.Errorf("%s: pod %s: %w", file, d.Name, err)
		}
		out[d.Name] = s
	}
	return out, nil
}

// putPodBMC sends a pod's BMC defaults and says what was stored, never the password.
func putPodBMC(ctx context.Context, c *api.Client, w io.Writer, pod string, s bmc.PodSettings) error {
	var info bmc.PodInfo
	if err := c.Do(ctx, "PUT", "/api/v1/pods/"+url.PathEscape(pod)+"/bmc", s, &info); err != nil {
		return fmt.Errorf("pod %s: bmc defaults: %w", pod, err)
	}
	pw := "password not set"
	switch {
	case s.Password != "":
		pw = "password sealed"
	case info.PasswordSet:
		pw = "password kept"
	}
	fmt.Fprintf(w, "pod %s: bmc defaults set (driver %s, user %s, %s)\n", pod, orDash(string(info.Driver)), orDash(info.User), pw)
	return nil
}

// podShown is `pod show`'s output: the pod and its BMC defaults (never the password).
type podShown struct {
	podmgr.Pod `yaml:",inline"`
	BMC        *podBMCShown `json:"bmc,omitempty" yaml:"bmc,omitempty"`
}

type podBMCShown struct {
	Driver      podmgr.BMCDriver `json:"driver,omitempty" yaml:"driver,omitempty"`
	Port        int              `json:"port,omitempty" yaml:"port,omitempty"`
	User        string           `json:"user,omitempty" yaml:"user,omitempty"`
	Password    string           `json:"password" yaml:"password"` // "set" or "not set"
	InsecureTLS bool             `json:"insecureTLS,omitempty" yaml:"insecureTLS,omitempty"`
	CACert      bool             `json:"caCert,omitempty" yaml:"caCert,omitempty"`
}

// podBMCOf reads a pod's BMC defaults; nil when it has none.
func podBMCOf(ctx context.Context, c *api.Client, pod string) (*podBMCShown, error) {
	var info bmc.PodInfo
	err := c.Do(ctx, "GET", "/api/v1/pods/"+url.PathEscape(pod)+"/bmc", nil, &info)
	var ae *api.Error
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pod %s: bmc defaults: %w", pod, err)
	}
	pw := "not set"
	if info.PasswordSet {
		pw = "set"
	}
	return &podBMCShown{Driver: info.Driver, Port: info.Port, User: info.User, Password: pw, InsecureTLS: info.InsecureTLS, CACert: info.CACert}, nil
}

// notePodBMCKept says, for a pod file document without a bmc section whose pod has BMC
// defaults, that apply kept them: a missing section never deletes them.
func notePodBMCKept(ctx context.Context, c *api.Client, w io.Writer, pod string) error {
	b, err := podBMCOf(ctx, c, pod)
	if err != nil || b == nil {
		return err
	}
	fmt.Fprintf(w, "pod %s: no bmc section: its bmc defaults are kept (driver %s, user %s; podboot pod bmc delete %s removes them)\n", pod, orDash(string(b.Driver)), orDash(b.User), pod)
	return nil
}

func newPodBMCCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "bmc", Short: "Manage a pod's BMC defaults (set them with pod apply's bmc: section)"}
	cmd.AddCommand(newPodBMCDeleteCmd(cf))
	return cmd
}

func newPodBMCDeleteCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete POD",
		Short: "Remove a pod's BMC defaults, sealed password included (refused while hosts rely on them)",
		Long: `Remove a pod's BMC defaults, the sealed password with them; the deletion is audited
(pod.bmc.delete). It is refused (409) while a host of the pod relies on them: its own
BMC record leaves empty a field the defaults set (driver, port, user, password, or the
TLS mode). The refusal names a few such hosts and the fields: give them their own
values with 'host bmc set' first. 'pod apply' of a file without a bmc: section never
deletes the defaults; it keeps them and says so.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			if err := c.Do(cmd.Context(), "DELETE", "/api/v1/pods/"+url.PathEscape(args[0])+"/bmc", nil, nil); err != nil {
				return fmt.Errorf("pod %s: delete bmc defaults: %w", args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pod %s: bmc defaults deleted (password included)\n", args[0])
			return nil
		},
	}
}
