package podmgr

import (
	"time"
)

// UnknownHostPolicy says what a pod does with a MAC it does not know.
type UnknownHostPolicy string

const (
	// PolicyIgnore drops requests from unknown MACs (the default).
	PolicyIgnore UnknownHostPolicy = "ignore"
	// PolicyLease gives unknown MACs a plain address from the dynamic range, no boot program.
	PolicyLease UnknownHostPolicy = "lease"
	// PolicyDiscover gives unknown MACs an address and the discovery boot, and records them.
	PolicyDiscover UnknownHostPolicy = "discover"
)

// ReplyTo says where a pod's relayed DHCP replies are sent.
type ReplyTo string

const (
	// ReplyToGiaddr sends replies to giaddr:67 (RFC 2131; the default).
	ReplyToGiaddr ReplyTo = "giaddr"
	// ReplyToRelaySource sends replies to the relayed packet's UDP source.
	ReplyToRelaySource ReplyTo = "relaySource"
)

// Pod is one site: how its relayed traffic is recognised, its networks and its profile.
type Pod struct {
	Name string `json:"name" yaml:"name"`
	// Match lists the rules that tell this pod's relayed DHCP apart from every other pod's.
	Match []MatchRule `json:"match" yaml:"match"`
	// Subnets are the provisioning subnets behind the pod's relays.
	Subnets []Subnet `json:"subnets" yaml:"subnets"`
	// ServerAddress is the address this pod's relays and hosts reach podboot at:
	// option 54, next-server and the host of every boot URL.
	ServerAddress string `json:"serverAddress" yaml:"serverAddress"`
	// Management is the network the installed hosts live on (the network split).
	Management ManagementNet `json:"management" yaml:"management"`
	Profile    string        `json:"profile" yaml:"profile"`
	// UnknownHosts is the unknown-host policy; empty means ignore.
	UnknownHosts UnknownHostPolicy `json:"unknownHosts,omitempty" yaml:"unknownHosts,omitempty"`
	// DiscoverLimit caps how many discovered hosts the pod records (0: DefaultDiscoverLimit).
	DiscoverLimit int `json:"discoverLimit,omitempty" yaml:"discoverLimit,omitempty"`
	// NAT is true when hosts reach podboot through NAT, so their source address
	// cannot be checked against their lease.
	NAT bool `json:"nat,omitempty" yaml:"nat,omitempty"`
	// ReplyTo is where relayed replies go: "giaddr" (the default, RFC 2131) or
	// "relaySource", the relay's UDP source address and port, for relays that share a
	// giaddr (docs/dhcp.md, "Reply routing").
	ReplyTo ReplyTo `json:"replyTo,omitempty" yaml:"replyTo,omitempty"`
	// Artifacts are extra artifacts (name@version) the pod may serve besides its profile's.
	Artifacts []string `json:"artifacts,omitempty" yaml:"artifacts,omitempty"`
	// Kickstart holds pod-wide values for the kickstart template.
	Kickstart KickstartValues `json:"kickstart,omitzero" yaml:"kickstart,omitempty"`
	// Replica pins the pod to the replica of that name while it is live (with several
	// replicas on etcd, docs/ha.md); empty: rendezvous hashing picks one.
	Replica string `json:"replica,omitempty" yaml:"replica,omitempty"`
	// AcceptRules register discovered hosts by LLDP port or serial (acceptrules.go).
	AcceptRules []AcceptRule `json:"acceptRules,omitempty" yaml:"acceptRules,omitempty"`

	CreatedAt time.Time `json:"createdAt" yaml:"-"`
	UpdatedAt time.Time `json:"updatedAt" yaml:"-"`
}

// DefaultDiscoverLimit bounds the discovered hosts of a pod when the pod sets no limit.
const DefaultDiscoverLimit = 1024

// MatchRule is a conjunction: a relayed packet matches when every non-empty field matches.
// Among a pod's rules any one may match. Between pods the most specific matching rule wins
// (link selection, then circuit-id, then remote-id, then relay source, then giaddr).
type MatchRule struct {
	// Giaddr is the relay agent address the ToR switch puts in the packet.
	Giaddr string `json:"giaddr,omitempty" yaml:"giaddr,omitempty"`
	// RelaySource is the source address of the relayed UDP packet.
	RelaySource string `json:"relaySource,omitempty" yaml:"relaySource,omitempty"`
	// CircuitID and RemoteID are option 82 sub-options 1 and 2, compared as raw bytes;
	// write "hex:0a0b.." for values that are not printable text.
	CircuitID string `json:"circuitId,omitempty" yaml:"circuitId,omitempty"`
	RemoteID  string `json:"remoteId,omitempty" yaml:"remoteId,omitempty"`
	// LinkSelection is option 82 sub-option 5 or option 118: an address in the link's subnet.
	LinkSelection string `json:"linkSelection,omitempty" yaml:"linkSelection,omitempty"`
}

// Subnet is a provisioning subnet of a pod.
type Subnet struct {
	CIDR    string   `json:"cidr" yaml:"cidr"`
	Gateway string   `json:"gateway,omitempty" yaml:"gateway,omitempty"`
	DNS     []string `json:"dns,omitempty" yaml:"dns,omitempty"`
	Domain  string   `json:"domain,omitempty" yaml:"domain,omitempty"`
	// LeaseSeconds is the lease time (0: DefaultLeaseSeconds).
	LeaseSeconds int `json:"leaseSeconds,omitempty" yaml:"leaseSeconds,omitempty"`
	// RangeStart and RangeEnd bound the dynamic range; both empty means no dynamic range.
	RangeStart string `json:"rangeStart,omitempty" yaml:"rangeStart,omitempty"`
	RangeEnd   string `json:"rangeEnd,omitempty" yaml:"rangeEnd,omitempty"`
}

// DefaultLeaseSeconds is the lease time of a subnet that sets none.
const DefaultLeaseSeconds = 3600

// ManagementNet is the network an installed host is configured for.
type ManagementNet struct {
	CIDR    string   `json:"cidr,omitempty" yaml:"cidr,omitempty"`
	Gateway string   `json:"gateway,omitempty" yaml:"gateway,omitempty"`
	VLAN    int      `json:"vlan,omitempty" yaml:"vlan,omitempty"`
	DNS     []string `json:"dns,omitempty" yaml:"dns,omitempty"`
	Domain  string   `json:"domain,omitempty" yaml:"domain,omitempty"`
}

// KickstartValues are pod-wide inputs of the kickstart template.
type KickstartValues struct {
	SSHKeys          []string `json:"sshKeys,omitempty" yaml:"sshKeys,omitempty"`
	RootPasswordHash string   `json:"rootPasswordHash,omitempty" yaml:"rootPasswordHash,omitempty"`
	TargetDisk       string   `json:"targetDisk,omitempty" yaml:"targetDisk,omitempty"`
}

// Bootloaders maps firmware kinds to boot file names (artifact names).
type Bootloaders struct {
	BIOS     string `json:"bios,omitempty" yaml:"bios,omitempty"`
	EFIx64   string `json:"efiX64,omitempty" yaml:"efiX64,omitempty"`
	EFIARM64 string `json:"efiArm64,omitempty" yaml:"efiArm64,omitempty"`
}

// Profile is how a host boots and installs; shared by pods, overridable per host.
type Profile struct {
	Name        string      `json:"name" yaml:"name"`
	Bootloaders Bootloaders `json:"bootloaders" yaml:"bootloaders"`
	// Kernel and Initrd are stage1 artifact references (name or name@version).
	Kernel     string `json:"kernel,omitempty" yaml:"kernel,omitempty"`
	Initrd     string `json:"initrd,omitempty" yaml:"initrd,omitempty"`
	KernelArgs string `json:"kernelArgs,omitempty" yaml:"kernelArgs,omitempty"`
	// Stage2 is the signed OS image (name@version).
	Stage2 string `json:"stage2,omitempty" yaml:"stage2,omitempty"`
	// Kickstart is the kickstart template text; empty means the shipped default.
	Kickstart string `json:"kickstart,omitzero" yaml:"kickstart,omitempty"`
	// IPXEScript is the iPXE script template text; empty means the shipped default.
	IPXEScript string `json:"ipxeScript,omitempty" yaml:"ipxeScript,omitempty"`
	// BashPackage is an artifact reference of post-install scripts.
	BashPackage string `json:"bashPackage,omitempty" yaml:"bashPackage,omitempty"`
	// SecureBoot is "" (off), "distro" (UEFI x64 hosts boot shimx64.efi, grubx64.efi
	// and a per-host grub.cfg over TFTP instead of the efiX64 bootloader) or "full"
	// (they boot UKI, a signed Unified Kernel Image).
	SecureBoot SecureBoot `json:"secureBoot,omitempty" yaml:"secureBoot,omitempty"`
	// UKI is the signed stage1 UKI (name@version, kind bootloader) of secureBoot: full.
	UKI string `json:"uki,omitempty" yaml:"uki,omitempty"`
	// HTTPSBoot hands UEFI HTTP Boot clients an https:// URL of the boot HTTPS listener
	// instead of http://: for firmware with podboot's CA enrolled (docs/boot.md).
	HTTPSBoot bool `json:"httpsBoot,omitempty" yaml:"httpsBoot,omitempty"`
	// RootDevice are hints the agent chooses the install disk by (docs/agent.md).
	RootDevice *RootDeviceHints `json:"rootDevice,omitempty" yaml:"rootDevice,omitempty"`
	// Deadlines bound each provisioning stage, in seconds (deadlines.go, docs/fleet.md).
	Deadlines StageDeadlines `json:"deadlines,omitzero" yaml:"deadlines,omitempty"`

	CreatedAt time.Time `json:"createdAt" yaml:"-"`
	UpdatedAt time.Time `json:"updatedAt" yaml:"-"`
}

// RootDeviceHints choose the install disk from the host's inventory: every hint given
// must match, removable disks never do, and the smallest matching disk wins. No match
// fails the install with the inventory in the reason.
type RootDeviceHints struct {
	Serial string `json:"serial,omitempty" yaml:"serial,omitempty"`
	WWN    string `json:"wwn,omitempty" yaml:"wwn,omitempty"`
	// Model matches when the disk model contains it (case-insensitive).
	Model string `json:"model,omitempty" yaml:"model,omitempty"`
	// MinSizeMB and MaxSizeMB bound the size in MB (10^6 bytes); 0 is no bound.
	MinSizeMB uint64 `json:"minSizeMB,omitempty" yaml:"minSizeMB,omitempty"`
	MaxSizeMB uint64 `json:"maxSizeMB,omitempty" yaml:"maxSizeMB,omitempty"`
}

// DefaultBootloaders are the boot files of a profile that names none.
var defaultBootloaders = Bootloaders{BIOS: "undionly.kpxe", EFIx64: "ipxe.efi", EFIARM64: "snp-arm64.efi"}

// DefaultBootloaders returns the boot files used when a profile names none.
func DefaultBootloaders() Bootloaders { return defaultBootloaders }

// HostState is where a host is in its provisioning.
type HostState string

// The host states of SPEC section 4.
const (
	StateRegistered  HostState = "registered"
	StateDiscovered  HostState = "discovered"
	StateOffered     HostState = "offered"
	StateBooting     HostState = "booting"
	StateVerified    HostState = "verified"
	StateInstalling  HostState = "installing"
	StateProvisioned HostState = "provisioned"
	StateFailed      HostState = "failed"
)

// Host is one server, known by its MAC across all pods.
type Host struct {
	// MAC is the normalised hardware address (lower case, colon separated).
	MAC      string `json:"mac" yaml:"mac"`
	Pod      string `json:"pod" yaml:"pod"`
	Hostname string `json:"hostname,omitempty" yaml:"hostname,omitempty"`
	// ProvisioningIP is the reserved provisioning address (optional).
	ProvisioningIP string `json:"provisioningIp,omitempty" yaml:"provisioningIp,omitempty"`
	// ManagementIP is the installed host's address on the management network.
	ManagementIP string `json:"managementIp,omitempty" yaml:"managementIp,omitempty"`
	// Profile overrides the pod's profile when set.
	Profile string `json:"profile,omitempty" yaml:"profile,omitempty"`
	// Bootloaders overrides the profile's boot files, field by field.
	Bootloaders Bootloaders `json:"bootloaders,omitzero" yaml:"bootloaders,omitempty"`

	State       HostState `json:"state"`
	StateReason string    `json:"stateReason,omitempty"`
	// Netboot is true while the host may be (re)installed over the network.
	Netboot bool `json:"netboot"`
	// TokenHash is the SHA-256 of the host's provisioning token, hex; TokenExpires its end.
	TokenHash    string    `json:"tokenHash,omitempty"`
	TokenExpires time.Time `json:"tokenExpires,omitzero"`

	// Discovered hosts carry what their firmware said about them.
	Discovered  bool   `json:"discovered,omitempty"`
	Arch        string `json:"arch,omitempty"`
	VendorClass string `json:"vendorClass,omitempty"`
	GUID        string `json:"guid,omitempty"`

	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`

	// rev is the store revision of the commit that wrote this copy (etcd's revision,
	// bbolt's transaction ID), set by the change feed: the registry never lets an older
	// copy overwrite a newer one. It is not stored.
	rev uint64
}

// Role limits what a management token may do.
type Role string

// The token roles of SPEC section 4.
const (
	RoleAdmin    Role = "admin"
	RoleOperator Role = "operator"
	RoleCI       Role = "ci"
	RoleViewer   Role = "viewer"
	// RoleReplica is what one podboot replica shows another to pull artifact blobs
	// (pkg/blobsync); it may call nothing else.
	RoleReplica Role = "replica"
)

// Token is a management API token; only the hash of its secret is kept.
type Token struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role Role   `json:"role"`
	// AllowKinds and AllowPrefixes are what a ci token may push (see PushGrant); other
	// roles have none.
	AllowKinds    []string  `json:"allowKinds,omitempty"`
	AllowPrefixes []string  `json:"allowPrefixes,omitempty"`
	Hash          string    `json:"hash,omitempty"`
	CreatedAt     time.Time `json:"createdAt"`
}

// EventKind separates operator audit records from host provisioning events.
type EventKind string

const (
	// KindAudit records a change made through the management API.
	KindAudit EventKind = "audit"
	// KindHost records a step of a host's provisioning.
	KindHost EventKind = "host"
)

// Event is one audit record or host event.
type Event struct {
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Kind   EventKind `json:"kind"`
	Pod    string    `json:"pod,omitempty"`
	MAC    string    `json:"mac,omitempty"`
	Actor  string    `json:"actor,omitempty"`
	Source string    `json:"source,omitempty"`
	Action string    `json:"action"`
	State  HostState `json:"state,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// Lease is a DHCP address binding, durable in the store.
type Lease struct {
	Pod     string    `json:"pod"`
	IP      string    `json:"ip"`
	MAC     string    `json:"mac"`
	Expires time.Time `json:"expires"`
	// Declined marks an address a client reported in use: quarantined until Expires.
	Declined bool `json:"declined,omitempty"`
}
