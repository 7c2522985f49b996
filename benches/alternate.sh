#!/usr/bin/env bash
# Wall time of two synops binaries on the shipped benchmark networks, alternating their runs
# (so that a change in the machine's load weighs on both alike): medians of REPEATS runs of
# 1 s on one thread, per network and engine, and their ratio.
#
# Usage: benches/alternate.sh OLD_BIN NEW_BIN [REPEATS]   (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1 new=$2 repeats=${3:-5}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
median() { sort -g "$1" | sed -n "$(( ($(wc -l < "$1") + 1) / 2 ))p"; }
for net in brunel cuba sparse_large; do
  for engine in event clock; do
    : > "$dir/old"; : > "$dir/new"
    for _ in $(seq "$repeats"); do
      for which in old new; do
        bin=$old; [ "$which" = new ] && bin=$new
        "$bin" run "networks/$net.toml" --engine "$engine" --threads 1 --out "$dir/run" --quiet
        python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["wall_s"])' \
          "$dir/run/summary.json" >> "$dir/$which"
      done
    done
    a=$(median "$dir/old"); b=$(median "$dir/new")
    echo "$net $engine old=${a}s new=${b}s new/old=$(python3 -c "print(round($b / $a, 3))")"
  done
done
