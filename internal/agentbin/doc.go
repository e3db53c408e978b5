// Package agentbin carries the static podboot-agent inside the podboot binary, so that
// `podboot stage1 build` works from an installed podboot alone (no Go, no source tree).
//
// `make build` compiles the agent (CGO_ENABLED=0) into this directory's podboot-agent
// file and builds podboot with the podboot_agent build tag, which embeds it. A plain
// `go build ./...` (a fresh clone, go vet, the tests) has no such file and no tag:
// Static returns nil and stage1 build compiles the agent from source instead.
package agentbin

// File is the file name `make build` writes the agent to, in this directory.
const File = "podboot-agent"
