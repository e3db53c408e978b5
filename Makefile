# podboot: `make run` starts podboot on its embedded defaults; `make test` runs the whole
# suite on a fresh machine (installs what it needs; run as root for the real-client tests).
GO ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: build run test fuzz bench-scale demo e2e-hw bench-stage1 clean

BIN ?= bin/podboot
AGENT := internal/agentbin/podboot-agent

# build makes bin/podboot with the static podboot-agent embedded (the podboot_agent tag),
# so `podboot stage1 build` needs neither Go nor the source tree. The agent flags are
# those of pkg/stage1.BuildAgent: the same source gives the same agent bytes. The agent
# is renamed into place, so two builds at once (tests) never embed a half-written file.
build:
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -buildvcs=false -ldflags "-s -w" -o $(AGENT).$$$$ ./cmd/podboot-agent && mv -f $(AGENT).$$$$ $(AGENT)
	$(GO) build -tags podboot_agent -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/podboot

run: build
	./bin/podboot serve --data-dir $${PODBOOT_DATA_DIR:-./.work/data}

test:
	scripts/test.sh

fuzz:
	scripts/fuzz.sh 60s

# demo provisions a throwaway QEMU host end to end (central podboot, ToR with dhcrelay,
# iPXE, stage1 agent, signed stage2), tells the story and a one-line verdict, then cleans
# up. Needs root (it says so and fails otherwise); the log is in .work/demo.log.
demo:
	scripts/demo.sh

# e2e-hw runs only the device matrix of real-server NICs and storage controllers
# (test/e2e/hardware_test.go; make test runs it too). Needs root.
e2e-hw:
	scripts/deps.sh
	$(GO) test ./test/e2e -run TestProvisionHardware -count=1 -v -timeout 20m

# bench-stage1 measures stage1 size and driver loading time per device set (bench/stage1).
bench-stage1:
	bench/stage1/run.sh

clean:
	rm -rf bin .work $(AGENT)
