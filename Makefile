# podboot: `make run` starts podboot on its embedded defaults; `make test` runs the whole
# suite on a fresh machine (installs what it needs; run as root for the real-client tests).
GO ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: build run test fuzz bench-scale demo clean

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
# Needs root; the Debian cloud kernel is cached in .work/e2e-cache.
demo:
	scripts/deps.sh
	PODBOOT_E2E_CACHE=$${PODBOOT_E2E_CACHE:-$(CURDIR)/.work/e2e-cache} CI= \
		$(GO) test ./test/e2e -run TestProvisionEndToEnd -count=1 -v -timeout 20m

clean:
	rm -rf bin .work
