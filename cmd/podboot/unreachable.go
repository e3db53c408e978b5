package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
)

// unreachable recognises an API call that never reached a server (refused, no route,
// unknown name, timeout) and says so in one line: "cannot reach URL (cause): is `podboot
// serve` running at URL?" instead of Go's doubled "GET URL: Get "URL": dial tcp: ...".
func unreachable(err error) (string, bool) {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return "", false
	}
	var op *net.OpError
	var dns *net.DNSError
	cause := ""
	switch {
	case errors.As(ue.Err, &op):
		cause = op.Err.Error()
	case errors.As(ue.Err, &dns):
		cause = "unknown host " + dns.Name
	case ue.Timeout():
		cause = "timed out"
	default:
		return "", false
	}
	server := ue.URL
	if u, perr := url.Parse(ue.URL); perr == nil {
		server = u.Scheme + "://" + u.Host
	}
	return fmt.Sprintf("cannot reach %s (%s): is `podboot serve` running at %s? (--server, PODBOOT_SERVER or the client config name it)", server, cause, server), true
}
