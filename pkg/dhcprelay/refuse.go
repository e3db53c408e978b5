package dhcprelay

// Reasons a request is refused (the reason label of podboot_dhcp_refused_total).
const (
	// A non-relayed packet whose IP source is not its ciaddr.
	refuseSource = "source_not_ciaddr"
	// A non-relayed packet whose ciaddr is not the MAC's current lease.
	refuseNotLeased = "not_leased"
	// A non-relayed REQUEST that would move the host to another address.
	refuseMoves = "moves_host"
	// A DECLINE or RELEASE of an address other than the MAC's own.
	refuseNotOwn = "not_own_address"
	// A reservation on a subnet's network, broadcast or gateway address, or the relay's.
	refuseUnusable = "unusable_address"
	// A relayed packet (giaddr set) whose UDP source is a host's address: inside a pod's
	// provisioning subnet, and not a gateway, giaddr or relaySource of any pod.
	refuseHostRelay = "relayed_by_host"
)
