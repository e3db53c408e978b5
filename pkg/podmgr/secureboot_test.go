package podmgr

import (
	"strings"
	"testing"
)

// TestValidateProfileSecureBoot: secureBoot full needs a UKI, uki belongs to full only,
// unknown modes are refused; the EFI x64 boot file of a full profile is its UKI.
func TestValidateProfileSecureBoot(t *testing.T) {
	for _, tc := range []struct {
		sb      SecureBoot
		uki     string
		wantErr string
	}{
		{SecureBootOff, "", ""},
		{SecureBootDistro, "", ""},
		{SecureBootFull, "stage1-uki@1", ""},
		{SecureBootFull, "", "needs uki"},
		{SecureBootFull, "a/b", "plain file name"},
		{SecureBootDistro, "stage1-uki@1", "only for secureBoot: full"},
		{"shim", "", "use distro or full"},
	} {
		p := Profile{Name: "p", SecureBoot: tc.sb, UKI: tc.uki}
		err := validateProfile(&p)
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("secureBoot %q uki %q: %v, want %q", tc.sb, tc.uki, err, tc.wantErr)
		}
	}
	p := Profile{Name: "p", SecureBoot: SecureBootFull, UKI: "stage1-uki@1"}
	if f := BootFile(Host{}, p, FirmwareEFIx64); f != "stage1-uki@1" {
		t.Errorf("EFI x64 boot file %q", f)
	}
	if f := BootFile(Host{}, p, FirmwareBIOS); f == "stage1-uki@1" {
		t.Errorf("BIOS boot file %q", f)
	}
}
