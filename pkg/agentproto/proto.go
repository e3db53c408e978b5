// Package agentproto is the contract between the stage1 agent and podboot's agent API
// (pkg/provision): paths, JSON bodies and event names. It has no dependencies so the
// agent binary stays small and both sides compile against the same definitions.
//
// Every call is HTTPS to the server named on the kernel command line and carries the
// host's one-time provisioning token as "Authorization: Bearer TOKEN"; the MAC in the
// path names the host the token is bound to.
package agentproto

import "strings"

// Prefix is where the agent API is mounted on the boot service's HTTPS listener.
const Prefix = "/agent/v1/"

// Paths below HostPath(mac).
const (
	EventsPath    = "events"
	ChainloadPath = "chainload"
	Stage2Path    = "stage2"
	SignaturePath = "stage2.p7s"
	KickstartPath = "kickstart"
	PackagePath   = "bash-package"
	InstalledPath = "installed"
	FailedPath    = "failed"
	InventoryPath = "inventory"
)

// HostPath is the base path of a host's agent endpoints: /agent/v1/hosts/52-54-00-12-34-56/.
func HostPath(mac string) string {
	return Prefix + "hosts/" + strings.ReplaceAll(strings.ToLower(mac), ":", "-") + "/"
}

// Chainload describes the stage2 image the host is to install. URLs are relative to
// the server URL the agent was booted with.
type Chainload struct {
	// Ref is the stage2 artifact, name@version.
	Ref string `json:"ref"`
	// URL serves the image (Range supported, for resuming).
	URL  string `json:"url"`
	Size int64  `json:"size"`
	// SHA256 is the image digest, lower-case hex. The agent checks the signature over
	// what it received against its pinned root CA; this digest is a second opinion.
	SHA256 string `json:"sha256"`
	// SignatureURL serves the detached CMS signature (DER).
	SignatureURL string `json:"signatureUrl"`
	// TargetDisk is the disk to write, when the pod names one (e.g. "vda").
	TargetDisk string `json:"targetDisk,omitempty"`
	// RootDevice are the profile's hints for choosing the install disk.
	RootDevice *RootDeviceHints `json:"rootDevice,omitempty"`
	// Inspect says the host is discovered, not accepted: the agent reports its
	// inventory and powers off without touching a disk (the other fields are empty).
	Inspect bool `json:"inspect,omitempty"`
}

// RootDeviceHints choose the install disk from the inventory: every hint given must
// match; among the disks that match, the smallest wins. Removable disks (USB sticks,
// SD cards) never match. No match is a failure, never a guess.
type RootDeviceHints struct {
	Serial string `json:"serial,omitempty" yaml:"serial,omitempty"`
	WWN    string `json:"wwn,omitempty" yaml:"wwn,omitempty"`
	// Model matches when the disk's model contains it (case-insensitive).
	Model string `json:"model,omitempty" yaml:"model,omitempty"`
	// MinSizeMB and MaxSizeMB bound the size (MB = 10^6 bytes); 0 is no bound.
	MinSizeMB uint64 `json:"minSizeMB,omitempty" yaml:"minSizeMB,omitempty"`
	MaxSizeMB uint64 `json:"maxSizeMB,omitempty" yaml:"maxSizeMB,omitempty"`
}

// Inventory is what the agent reports about the machine before it touches a disk.
type Inventory struct {
	System      System `json:"system"`
	CPU         CPU    `json:"cpu"`
	MemoryBytes uint64 `json:"memoryBytes"`
	Disks       []Disk `json:"disks"`
	NICs        []NIC  `json:"nics"`
	// BMC is the server's BMC LAN configuration, read through its own IPMI system
	// interface (/dev/ipmi0) when the kernel's IPMI driver finds one.
	BMC *BMC `json:"bmc,omitempty"`
}

// BMC is where the server's BMC answers on the network.
type BMC struct {
	Address string `json:"address"`
	Netmask string `json:"netmask,omitempty"`
	Gateway string `json:"gateway,omitempty"`
	MAC     string `json:"mac,omitempty"`
	// Source is static, dhcp, bios, other or unspecified.
	Source  string `json:"source,omitempty"`
	Channel int    `json:"channel"`
}

// System is the DMI (SMBIOS) identity.
type System struct {
	Vendor  string `json:"vendor,omitempty"`
	Product string `json:"product,omitempty"`
	Serial  string `json:"serial,omitempty"`
	UUID    string `json:"uuid,omitempty"`
}

// CPU is the processor model and the number of logical CPUs.
type CPU struct {
	Model string `json:"model,omitempty"`
	Count int    `json:"count"`
}

// Disk is one whole disk.
type Disk struct {
	Name       string `json:"name"`
	Model      string `json:"model,omitempty"`
	Serial     string `json:"serial,omitempty"`
	WWN        string `json:"wwn,omitempty"`
	SizeBytes  uint64 `json:"sizeBytes"`
	Rotational bool   `json:"rotational"`
	Removable  bool   `json:"removable"`
	// Bus is how it is attached: ata, scsi, nvme, virtio, usb, mmc.
	Bus string `json:"bus,omitempty"`
}

// NIC is one Ethernet interface.
type NIC struct {
	Name   string `json:"name"`
	MAC    string `json:"mac"`
	Driver string `json:"driver,omitempty"`
	// PCI is vendor:device, lower-case hex.
	PCI       string `json:"pci,omitempty"`
	Link      bool   `json:"link"`
	SpeedMbps int    `json:"speedMbps,omitempty"`
	// LLDP is the switch port the NIC is cabled to, when the switch sent an LLDPDU
	// while the agent listened.
	LLDP *LLDP `json:"lldp,omitempty"`
}

// LLDP is what the neighbouring switch said about itself and its port.
type LLDP struct {
	ChassisID       string `json:"chassisId"`
	PortID          string `json:"portId"`
	PortDescription string `json:"portDescription,omitempty"`
	SystemName      string `json:"systemName,omitempty"`
}

// Event is a step the agent reports.
type Event struct {
	Action string `json:"action"`
	Detail string `json:"detail,omitempty"`
}

// Failure is the body of the failed call.
type Failure struct {
	// Step is the action that failed (one of the Action* names).
	Step   string `json:"step"`
	Reason string `json:"reason"`
}

// Installed is the body of the installed call.
type Installed struct {
	Disk   string `json:"disk"`
	SHA256 string `json:"sha256"`
	// Finish is "reboot" or "poweroff", what the agent does next.
	Finish string `json:"finish"`
}

// The agent's events, in the order a successful install reports them.
const (
	ActionBooted    = "agent.booted"
	ActionNetwork   = "agent.network"
	ActionChainload = "agent.chainload"
	ActionVerified  = "agent.verified"
	ActionKickstart = "agent.kickstart"
	ActionWarning   = "agent.warning"
	ActionFailed    = "agent.failed"
	// ActionInventory is recorded by the server when the inventory call arrives.
	ActionInventory = "agent.inventory"
)

// Actions the agent may report through the events endpoint. Installed and failed have
// their own calls because they change the host's state.
func Actions() []string {
	return []string{ActionBooted, ActionNetwork, ActionChainload, ActionVerified, ActionKickstart, ActionWarning}
}

// Kernel command line parameters the iPXE script passes.
const (
	ParamServer = "podboot.server"
	ParamPod    = "podboot.pod"
	ParamMAC    = "podboot.mac"
	ParamToken  = "podboot.token"
	// ParamDisk overrides the target disk (e.g. podboot.disk=vda).
	ParamDisk = "podboot.disk"
	// ParamServers lists every podboot replica's HTTPS URL, comma separated: the agent
	// turns to the next when the one it uses stops answering (docs/ha.md).
	ParamServers = "podboot.servers"
	// ParamLLDP is how many seconds after its NICs come up the agent listens for LLDP
	// before it takes the inventory (podboot.lldp=30; 0: do not wait).
	ParamLLDP = "podboot.lldp"
	// ParamIP, ParamGateway and ParamDNS configure the NIC statically instead of by
	// DHCP (the virtual-media ISO, which needs no DHCP server): podboot.ip=ADDR/PREFIX,
	// podboot.gw=ADDR, podboot.dns=ADDR[,ADDR...].
	ParamIP      = "podboot.ip"
	ParamGateway = "podboot.gw"
	ParamDNS     = "podboot.dns"
)
