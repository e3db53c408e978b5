// Package proto is the contract between the stage1 agent and podboot's agent API
// (pkg/provision): paths, JSON bodies and event names. It has no dependencies so the
// agent binary stays small and both sides compile against the same definitions.
//
// Every call is HTTPS to the server named on the kernel command line and carries the
// host's one-time provisioning token as "Authorization: Bearer TOKEN"; the MAC in the
// path names the host the token is bound to.
package proto

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
)
