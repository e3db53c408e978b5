// Package artifacts holds what podboot ships inside its binary: the default iPXE script
// and kickstart templates. They are embedded so that a podboot binary is complete on its
// own and a profile that names no template still boots.
package artifacts

import "embed"

// Templates holds templates/*.tmpl.
//
//go:embed templates/*.tmpl
var Templates embed.FS

// IPXETemplate is the default per-host iPXE script template.
func IPXETemplate() string { return mustRead("templates/ipxe.tmpl") }

// GrubTemplate is the per-host grub.cfg template of Secure Boot distro profiles.
func GrubTemplate() string { return mustRead("templates/grub.tmpl") }

func mustRead(name string) string {
	b, err := Templates.ReadFile(name)
	if err != nil {
		panic("artifacts: embedded " + name + " missing: " + err.Error())
	}
	return string(b)
}
