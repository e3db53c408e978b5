package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// steps are the host events worth a line in the story, in words.
var steps = map[string]string{
	"dhcp.offer":       "offered an address and a boot program (DHCP through the ToR's dhcrelay)",
	"http.script":      "booting: iPXE fetched its script",
	"agent.booted":     "stage1 agent up (kernel and initrd from podboot)",
	"agent.network":    "agent on the network",
	"agent.chainload":  "agent chain-loads the signed stage2 image",
	"agent.verified":   "stage2 signature verified against the root CA pinned in the initrd",
	"agent.kickstart":  "kickstart applied (hostname, management network, keys)",
	"installed":        "provisioned; netboot off",
	"agent.failed":     "REFUSED the image",
	"tftp.refused":     "TFTP refused a file",
	"http.localboot":   "netboot off: told to boot its local disk",
	"kickstart.served": "",
}

// checks are the subtests after the install, in words.
var checks = map[string]string{
	"tampered_stage2_is_refused_on_the_host":                 "a tampered image was refused on the host, its disk wiped",
	"provisioned_end_to_end":                                 "the installed disk holds the kickstart's files",
	"old_token_opens_nothing":                                "the used host token opens nothing any more",
	"next_PXE_boot_gets_an_address_and_boots_the_local_disk": "the next PXE boot gets an address and boots the local disk",
	"reprovision_turns_netboot_on_again":                     "host reprovision turns netboot on again",
	"host_watch_followed_the_install_live":                   "podboot host watch followed it all live",
}

type event struct {
	Action  string
	Test    string
	Elapsed float64
	Output  string
}

// tell writes the story of the go test -json stream r to w and reports success.
func tell(r io.Reader, w io.Writer) (bool, error) {
	start := time.Now()
	seen := map[string]bool{}
	passed, ran := false, false
	var failures []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	fmt.Fprintln(w, "demo: podboot in a central namespace, a ToR running dhcrelay across a routed WAN link, QEMU servers with iPXE in the rack")
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		switch e.Action {
		case "output":
			if _, rest, ok := strings.Cut(e.Output, " watch: "); ok {
				story(w, rest, seen)
			} else if strings.Contains(e.Output, "SKIPPING") {
				failures = append(failures, strings.TrimSpace(e.Output))
			}
		case "pass", "fail":
			name, sub, isSub := strings.Cut(e.Test, "/")
			if name != "TestProvisionEndToEnd" {
				continue
			}
			if !isSub {
				ran, passed = true, e.Action == "pass"
				continue
			}
			if e.Action == "fail" {
				failures = append(failures, strings.ReplaceAll(sub, "_", " "))
				fmt.Fprintf(w, "  FAILED: %s\n", strings.ReplaceAll(sub, "_", " "))
			} else if c := checks[sub]; c != "" {
				fmt.Fprintf(w, "  checked: %s\n", c)
			}
		case "skip":
			if e.Test == "TestProvisionEndToEnd" {
				ran = true
				failures = append(failures, "skipped (needs root)")
			}
		}
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("read go test -json: %w", err)
	}
	took := time.Since(start).Round(time.Second)
	switch {
	case ran && passed && len(failures) == 0:
		fmt.Fprintf(w, "demo: PASS: provisioned end to end, tampered image refused, netboot off after the install (%s)\n", took)
		return true, nil
	case !ran:
		fmt.Fprintf(w, "demo: FAIL: the end-to-end test did not run (%s)\n", took)
	default:
		fmt.Fprintf(w, "demo: FAIL: %s (%s)\n", strings.Join(failures, "; "), took)
	}
	return false, nil
}

// story prints one watch line ("15:04:05.000 MAC STATE ACTION DETAIL") in words, once
// per host and step.
func story(w io.Writer, line string, seen map[string]bool) {
	f := strings.Fields(line)
	if len(f) < 4 {
		return
	}
	at, mac, action := f[0], f[1], f[3]
	say, ok := steps[action]
	if !ok || say == "" || seen[mac+action] {
		return
	}
	seen[mac+action] = true
	if action == "agent.failed" || action == "tftp.refused" {
		if len(f) > 4 {
			detail := strings.Join(f[4:], " ")
			if len(detail) > 100 {
				detail = detail[:100] + "…"
			}
			say += ": " + detail
		}
	}
	if i := strings.IndexByte(at, '.'); i > 0 {
		at = at[:i]
	}
	fmt.Fprintf(w, "  %s  %s  %s\n", at, mac, say)
}
