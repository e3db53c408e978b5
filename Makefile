# podboot: `make run` starts podboot on its embedded defaults; `make test` runs the whole
# suite on a fresh machine (installs what it needs; run as root for the real-client tests).
GO ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: build run test fuzz bench-scale demo e2e-hw bench-stage1 clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/podboot ./cmd/podboot

run: build
	./bin/podboot serve --data-dir $${PODBOOT_DATA_DIR:-./.work/data}

test:
	scripts/test.sh

fuzz:
	scripts/fuzz.sh 60s

# demo provisions a throwaway QEMU host end to end (central podboot, ToR with dhcrelay,
# iPXE, stage1 agent, signed stage2), printing the host's progress, then cleans up.
# Needs root; Debian's generic kernel is cached in .work/e2e-cache.
demo:
	scripts/deps.sh
	PODBOOT_E2E_CACHE=$${PODBOOT_E2E_CACHE:-$(CURDIR)/.work/e2e-cache} CI= \
		$(GO) test ./test/e2e -run TestProvisionEndToEnd -count=1 -v -timeout 10m

# e2e-hw provisions the whole device matrix of real-server NICs and storage controllers
# (test/e2e/hardware_test.go; the default suite runs two sets). Needs root.
e2e-hw:
	scripts/deps.sh
	PODBOOT_E2E_HW_MATRIX=1 $(GO) test ./test/e2e -run TestProvisionHardware -count=1 -v -timeout 20m

# bench-stage1 measures stage1 size and driver loading time per device set (bench/stage1).
bench-stage1:
	bench/stage1/run.sh

clean:
	rm -rf bin .work
