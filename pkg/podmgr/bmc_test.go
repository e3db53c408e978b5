package podmgr

import (
	"errors"
	"strings"
	"testing"
)

func TestBMCValidate(t *testing.T) {
	ok := BMC{MAC: "52:54:00:00:00:01", Driver: BMCIPMI, Address: "192.0.2.10", User: "admin", Password: []byte("sealed")}
	for _, tc := range []struct {
		name string
		edit func(*BMC)
		want string // "" = valid
	}{
		{"ipmi", func(*BMC) {}, ""},
		{"redfish by name, port", func(b *BMC) { b.Driver, b.Address, b.Port = BMCRedfish, "bmc-r7.example", 8443 }, ""},
		{"ipv6", func(b *BMC) { b.Address = "2001:db8::10" }, ""},
		{"unknown driver", func(b *BMC) { b.Driver = "amt" }, "want ipmi or redfish"},
		{"no address", func(b *BMC) { b.Address = "" }, "want a host name or IP address"},
		{"URL as address", func(b *BMC) { b.Address = "https://192.0.2.10/redfish" }, "want a host name or IP address"},
		{"userinfo in address", func(b *BMC) { b.Address = "root@192.0.2.10" }, "want a host name or IP address"},
		{"too long", func(b *BMC) { b.Address = strings.Repeat("a", 254) }, "want a host name or IP address"},
		{"port", func(b *BMC) { b.Port = 70000 }, "out of range"},
		{"only an address (the pod's defaults fill the rest)", func(b *BMC) { b.Driver, b.User, b.Password = "", "", nil }, ""},
		{"user too long", func(b *BMC) { b.User = strings.Repeat("u", 65) }, "longer than 64"},
		{"both TLS modes", func(b *BMC) { b.InsecureTLS, b.CACert = true, "pem" }, "exclude each other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := ok
			tc.edit(&b)
			err := b.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want invalid: %s", err, tc.want)
			}
		})
	}
}
