#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine: installs what it needs, then runs
# vet, the unit and real-client tests (namespaces and QEMU need root), and bounded fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -eq 0 ]; then
  scripts/deps.sh
elif [ -n "${CI:-}" ]; then
  echo "test: CI must run as root: the real-client tests need network namespaces" >&2
  exit 1
else
  scripts/deps.sh || echo "test: WARNING: not root; tests that need namespaces, dhcrelay or QEMU will fail or skip loudly" >&2
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted" >&2; exit 1; fi
echo "== go vet"
go vet ./...
echo "== go build"
go build ./...
echo "== go test"
# One line per test with its result and time, a failing test's output under it, and go
# test's own ok/FAIL lines (internal/testfmt); pipefail keeps go test's exit status.
go test -json -count=1 -timeout 30m "${@:-./...}" | go run ./internal/testfmt
echo "== fuzz (bounded)"
scripts/fuzz.sh "${FUZZTIME:-20s}"
