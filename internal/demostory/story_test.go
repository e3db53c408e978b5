package main

import (
	"strings"
	"testing"
)

func TestTell(t *testing.T) {
	ev := func(action, test, out string) string {
		return `{"Action":"` + action + `","Test":"` + test + `","Output":` + quote(out) + `}`
	}
	watch := func(rest string) string {
		return ev("output", "TestProvisionEndToEnd", "    provision_test.go:360: watch: "+rest+"\n")
	}
	base := []string{
		ev("output", "TestProvisionEndToEnd", "    provision_test.go:103: stage1 build:\nnote: module x not found\n"),
		watch("14:00:01.000 52:54:00:e2:e0:01 offered dhcp.offer address 192.0.2.101"),
		watch("14:00:02.000 52:54:00:e2:e0:01 offered dhcp.offer address 192.0.2.101"),
		watch("14:00:09.000 52:54:00:e2:e0:01 verified agent.verified signature good"),
		watch("14:00:10.000 52:54:00:e2:e0:02 failed agent.failed stage2 refused: digest mismatch"),
		watch("14:00:12.000 52:54:00:e2:e0:01 provisioned installed disk=vda"),
		ev("pass", "TestProvisionEndToEnd/tampered_stage2_is_refused_on_the_host", ""),
	}
	for _, tc := range []struct {
		name  string
		tail  []string
		ok    bool
		wants []string
	}{
		{"pass", []string{ev("pass", "TestProvisionEndToEnd", "")}, true, []string{
			"14:00:01  52:54:00:e2:e0:01  offered an address",
			"52:54:00:e2:e0:02  REFUSED the image: stage2 refused: digest mismatch",
			"checked: a tampered image was refused",
			"demo: PASS: provisioned end to end"}},
		{"fail", []string{ev("fail", "TestProvisionEndToEnd/provisioned_end_to_end", ""), ev("fail", "TestProvisionEndToEnd", "")}, false, []string{
			"FAILED: provisioned end to end", "demo: FAIL: provisioned end to end"}},
		{"not run", nil, false, []string{"demo: FAIL: the end-to-end test did not run"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			ok, err := tell(strings.NewReader(strings.Join(append(append([]string{}, base...), tc.tail...), "\n")), &b)
			if err != nil || ok != tc.ok {
				t.Fatalf("tell: ok=%v err=%v\n%s", ok, err, b.String())
			}
			got := b.String()
			for _, w := range tc.wants {
				if !strings.Contains(got, w) {
					t.Errorf("story lacks %q:\n%s", w, got)
				}
			}
			if strings.Count(got, "offered an address") != 1 || strings.Contains(got, "note:") {
				t.Errorf("story repeats a step or shows test noise:\n%s", got)
			}
		})
	}
}

func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
