#!/usr/bin/env bash
# Fingerprints of every shipped network's results: the SHA-256 of each CSV a run writes (spikes,
# traces, rates, per-step counts) and of its summary without the timing fields, on both engines
# and on 1 and 2 threads. Run it with the old and the new binary around a refactor: the two
# outputs must be identical.
#
# Usage: benches/hashes.sh [BIN] [DURATION_MS]   (default target/release/synops, 200 ms)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/synops}
duration=${2:-200}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for net in networks/*.toml; do
  for engine in event clock; do
    for threads in 1 2; do
      out="$dir/run"
      rm -rf "$out"
      "$bin" run "$net" --engine "$engine" --threads "$threads" --duration-ms "$duration" \
        --counts-per-step --out "$out" --quiet
      summary=$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
for k in ("build_s", "wall_s", "events_per_s", "peak_rss_mb", "threads", "synops_version"):
    d.pop(k, None)
print(json.dumps(d, sort_keys=True))' "$out/summary.json" | sha256sum | cut -c1-16)
      files=$(cd "$out" && for f in *.csv; do echo "$f=$(sha256sum "$f" | cut -c1-16)"; done)
      echo "$(basename "$net" .toml) $engine t$threads summary=$summary" $files
    done
  done
done
