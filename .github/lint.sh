#!/bin/sh
# Lints .github/workflows with actionlint (https://github.com/rhysd/actionlint),
# built from the Go module proxy by `go run` on first use. Later runs are
# served from the Go module and build caches and work offline: the module
# cache is put first in GOPROXY, so `go run` finds the pinned version (and
# its deprecation and version lists) there before asking the network.
# actionlint also runs shellcheck on `run:` scripts when shellcheck is on
# PATH. Called by `make lint`; extra arguments go to actionlint (e.g. files).
set -eu
ACTIONLINT_VERSION="${ACTIONLINT_VERSION:-v1.7.12}"
cd "$(dirname "$0")/.."
modcache="$(go env GOMODCACHE)"
GOPROXY="file://${modcache}/cache/download,$(go env GOPROXY)"
export GOPROXY
exec go run "github.com/rhysd/actionlint/cmd/actionlint@${ACTIONLINT_VERSION}" "$@"
