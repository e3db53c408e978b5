// Package adversarial attacks a running `podboot serve` the way a hostile host on a pod
// network, a leaked CI token or a careless operator would: unicast DHCP from the wrong
// place, overlong and malformed inputs, slow clients, one source hogging a shared
// resource. Each test drives the real binary through real clients or raw packets from
// network namespaces it creates (documentation ranges only) and asserts that the attack
// fails and that legitimate traffic is still served. The tests need root and run in CI.
//
// One file per surface: dhcp_test.go (relayed and unicast DHCP), boot_test.go (TFTP,
// HTTP, HTTPS, the NAT token window), api_test.go (the management API's transport,
// bodies and events), operator_test.go (tokens, roles, image push and validation).
package adversarial
