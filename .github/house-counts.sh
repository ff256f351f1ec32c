#!/bin/sh
# Prints the house counts of issue 23 for the tree it is run in (or for
# the tree in $1, a checkout of any commit, with the check titles of this
# one): exported names per package and check titles written as string
# literals outside a declaration, then what the release binary and
# harness/target link.
set -eu
here="$(cd "$(dirname "$0")/.." && pwd)"
tree="${1:-$here}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
titles="$tmp/titles"
(cd "$here" && go build -o "$tmp/housecount" ./.github/housecount)
(cd "$here" && go run ./cmd/gitchaos checks --json) |
  python3 -c 'import json,sys; print("\n".join(sorted({c["title"] for c in json.load(sys.stdin) if "%" not in c["title"]})))' >"$titles"
cd "$tree"
"$tmp/housecount" <"$titles"
echo "binary links testing via: $(go list -deps -f '{{.ImportPath}}{{range .Imports}}{{if eq . "testing"}} <-testing{{end}}{{end}}' ./cmd/gitchaos | grep -c '<-testing') package(s): $(go list -deps -f '{{.ImportPath}}{{range .Imports}}{{if eq . "testing"}} <-testing{{end}}{{end}}' ./cmd/gitchaos | grep '<-testing' | cut -d' ' -f1 | tr '\n' ' ')"
echo "go-git packages in harness/target's deps: $(go list -deps ./harness/target | grep -c go-git || true)"
