#!/usr/bin/env bash
# Threads under contention: the default thread count against one thread, on an idle machine and
# with another process keeping one core busy (a laptop with a browser open, a shared CI runner).
#
# Usage: benches/contention.sh [BINARY] [BASELINE_BINARY]
#   BINARY            synops to measure (default: target/release/synops, built here)
#   BASELINE_BINARY   optional second synops (e.g. an earlier commit) run alternately with the
#                     first, so that both see the same machine
# Environment: REPEATS (default 5), DURATION_MS (default 1000), NETWORKS (default
# "brunel sparse_large").
#
# Prints, per network, binary and condition, the median loop time (`wall_s` of summary.json)
# with one thread and with the default thread count, and their ratio. The competing process is
# a busy loop pinned to the last core; it starts before and stops after each condition's runs.
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${REPEATS:-5}
duration=${DURATION_MS:-1000}
networks=${NETWORKS:-brunel sparse_large}
if [ $# -ge 1 ]; then bins=("$1"); else cargo build --release -q; bins=(target/release/synops); fi
if [ $# -ge 2 ]; then bins+=("$2"); fi
cores=$(nproc)
work=$(mktemp -d)
competitor=""
cleanup() { [ -n "$competitor" ] && kill "$competitor" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

wall() { # binary network threads(or "default") -> prints wall_s
  local out="$work/out" args=()
  [ "$3" != default ] && args=(--threads "$3")
  "$1" run "networks/$2.toml" --duration-ms "$duration" "${args[@]}" --out "$out" --quiet
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["wall_s"])' "$out/summary.json"
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

printf '%-13s %-8s %-9s %9s %9s %7s %s\n' network binary condition "1 thread" default ratio threads
for condition in idle contended; do
  if [ "$condition" = contended ]; then
    taskset -c "$((cores - 1))" sh -c 'while :; do :; done' &
    competitor=$!
    sleep 0.5
  fi
  for net in $networks; do
    for r in $(seq "$repeats"); do
      for b in "${!bins[@]}"; do
        for th in 1 default; do
          wall "${bins[$b]}" "$net" "$th" >> "$work/$net.$b.$condition.$th"
        done
      done
    done
    for b in "${!bins[@]}"; do
      one=$(median < "$work/$net.$b.$condition.1")
      def=$(median < "$work/$net.$b.$condition.default")
      threads=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["threads"])' "$work/out/summary.json")
      printf '%-13s %-8s %-9s %9.3f %9.3f %7.2f %s\n' "$net" "bin$b" "$condition" "$one" "$def" \
        "$(awk -v a="$def" -v b="$one" 'BEGIN {print a / b}')" "$threads"
    done
  done
  if [ -n "$competitor" ]; then kill "$competitor"; wait "$competitor" 2>/dev/null || true; competitor=""; fi
done
