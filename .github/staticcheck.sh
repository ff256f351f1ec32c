#!/bin/sh
# Runs staticcheck (https://staticcheck.dev) over the module, built from the
# Go module proxy by `go run` on first use and served from the module and
# build caches afterwards (the module cache is put first in GOPROXY, as in
# lint.sh). Called by `make lint`; extra arguments go to staticcheck.
set -eu
STATICCHECK_VERSION="${STATICCHECK_VERSION:-v0.8.2}"
cd "$(dirname "$0")/.."
modcache="$(go env GOMODCACHE)"
GOPROXY="file://${modcache}/cache/download,$(go env GOPROXY)"
export GOPROXY
if [ $# -eq 0 ]; then set -- ./...; fi
exec go run "honnef.co/go/tools/cmd/staticcheck@${STATICCHECK_VERSION}" "$@"
