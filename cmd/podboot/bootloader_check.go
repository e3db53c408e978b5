package main

import (
	"context"
	"fmt"
	"io"
	"net/url"

	"github.com/podboot/podboot/pkg/api"
	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/podmgr"
)

// bootFile is one boot file a profile makes PXE ROMs ask for.
type bootFile struct {
	firmware, ref, debianPath string
}

// profileBootFiles are the boot files of p: its own, else the defaults. The arm64 default
// is left out (most sites have no arm64 servers); one the profile names is checked.
func profileBootFiles(p podmgr.Profile) []bootFile {
	def := podmgr.DefaultBootloaders()
	files := []bootFile{
		{"BIOS", firstNonEmpty(p.Bootloaders.BIOS, def.BIOS), "/usr/lib/ipxe/undionly.kpxe"},
		{"UEFI x86-64", firstNonEmpty(p.Bootloaders.EFIx64, def.EFIx64), "/usr/lib/ipxe/ipxe.efi"},
	}
	if p.Bootloaders.EFIARM64 != "" {
		files = append(files, bootFile{"UEFI arm64", p.Bootloaders.EFIARM64, ""})
	}
	return files
}

// warnMissingBootloaders writes a warning for each boot file of the profiles that the
// artifact store does not hold: a PXE ROM would get "file not found" and stop. It is
// advice, never an error: a token that may not list images skips the check.
func warnMissingBootloaders(ctx context.Context, c *api.Client, w io.Writer, profiles []podmgr.Profile) {
	if len(profiles) == 0 {
		return
	}
	var as []artifact.Artifact
	if err := c.Do(ctx, "GET", "/api/v1/images", nil, &as); err != nil {
		return
	}
	have := map[string]bool{}
	for _, a := range as {
		if a.Kind == artifact.KindBootloader {
			have[a.Name] = true
			have[a.Ref()] = true
		}
	}
	for _, p := range profiles {
		for _, f := range profileBootFiles(p) {
			if have[f.ref] {
				continue
			}
			name, _, _ := artifact.ParseRef(f.ref)
			hint := "podboot image add " + name + ":1 FILE --kind bootloader"
			if f.debianPath != "" {
				hint = fmt.Sprintf("podboot image add %s:1 %s --kind bootloader (Debian package ipxe)", name, f.debianPath)
			}
			fmt.Fprintf(w, "warning: profile %s: %s bootloader %s is not in the artifact store: %s PXE ROMs will get \"file not found\"; add it: %s\n",
				p.Name, f.firmware, f.ref, f.firmware, hint)
		}
	}
}

// podProfiles fetches the profiles the pods name (each once); one that cannot be read
// is skipped: apply already said what it had to.
func podProfiles(ctx context.Context, c *api.Client, pods []podmgr.Pod) []podmgr.Profile {
	seen := map[string]bool{}
	var out []podmgr.Profile
	for _, pod := range pods {
		if pod.Profile == "" || seen[pod.Profile] {
			continue
		}
		seen[pod.Profile] = true
		var p podmgr.Profile
		if err := c.Do(ctx, "GET", "/api/v1/profiles/"+url.PathEscape(pod.Profile), nil, &p); err == nil {
			out = append(out, p)
		}
	}
	return out
}
