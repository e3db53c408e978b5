package podmgr

import "github.com/podboot/podboot/pkg/artifact"

// ArtifactRef is one artifact reference a profile makes: the field that holds it and
// the reference (name, or name@version).
type ArtifactRef struct {
	Field string
	Ref   string
}

// ArtifactRefs lists the artifact references p names itself, empty fields left out.
// Bootloaders are not among them: every profile names the default ones, also for
// firmware a site does not have, and the CLI only warns about those.
func (p Profile) ArtifactRefs() []ArtifactRef {
	var refs []ArtifactRef
	for _, r := range []ArtifactRef{
		{"kernel", p.Kernel}, {"initrd", p.Initrd}, {"stage2", p.Stage2},
		{"bashPackage", p.BashPackage}, {"uki", p.UKI},
	} {
		if r.Ref != "" {
			refs = append(refs, r)
		}
	}
	return refs
}

// checkArtifactRefs refuses a reference that cannot name an artifact (vmlinuz:1 for
// vmlinuz@1), naming the field.
func checkArtifactRefs(p Profile) error {
	for _, r := range p.ArtifactRefs() {
		if _, _, err := artifact.ParseRef(r.Ref); err != nil {
			return invalidf("profile %s: %s %q is not an artifact reference: give name or name@version (letters, digits, '.', '_', '+' or '-'), as in vmlinuz@1", p.Name, r.Field, r.Ref)
		}
	}
	return nil
}
