#!/usr/bin/env bash
# Flake table (issue 14): 20 gate runs of the correct reference fetcher on
# the local testbed over 20 seeds: seeds 1-10 as they come, 11-15 with two
# busy-loop CPU hogs running beside the gate, 16-20 at --scopes 50.
# Prints one Markdown row per run (seed, condition, exit, wall time, load
# average when it started) and exits 1 if any run did not pass.
# Usage: .github/flake-table.sh [gitchaos binary] [report dir]
set -uo pipefail
bin=${1:-}
out=${2:-$(mktemp -d -t gitchaos-flake-XXXXXX)}
mkdir -p "$out" || exit 2
ownbin=""
hogs=()
stop_hogs() { for p in "${hogs[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; hogs=(); }
trap 'stop_hogs; [ -z "$ownbin" ] || rm -f "$ownbin"' EXIT
if [ -z "$bin" ]; then
  ownbin=$(mktemp -t gitchaos-bin-XXXXXX)
  bin=$ownbin
  go build -o "$bin" ./cmd/gitchaos || exit 2
fi
echo "| seed | condition | exit | wall | load avg at start |"
echo "|---|---|---|---|---|"
bad=0
for seed in $(seq 1 20); do
  cond=quiet; args=()
  if [ "$seed" -ge 11 ] && [ "$seed" -le 15 ]; then
    cond="two CPU hogs"
    for _ in 1 2; do (while :; do :; done) & hogs+=($!); done
  elif [ "$seed" -ge 16 ]; then
    cond="--scopes 50"; args=(--scopes 50)
  fi
  load=$(cut -d' ' -f1 /proc/loadavg)
  t0=$(date +%s.%N)
  "$bin" gate --seed "$seed" "${args[@]}" --out "$out/seed-$seed" >"$out/seed-$seed.log" 2>&1
  code=$?
  t1=$(date +%s.%N)
  stop_hogs
  if [ "$code" -eq 2 ]; then
    echo "seed $seed: usage or setup error (exit 2), not a flake; see $out/seed-$seed.log" >&2
    exit 2
  fi
  [ "$code" -eq 0 ] || bad=$((bad + 1))
  printf '| %d | %s | %d | %.1f s | %s |\n' "$seed" "$cond" "$code" "$(awk "BEGIN{print $t1 - $t0}")" "$load"
done
echo
echo "$((20 - bad))/20 passed; logs and reports in $out"
[ "$bad" -eq 0 ]
