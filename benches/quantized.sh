#!/usr/bin/env bash
# Evaluation speed of a converted network with float weights against the same network with
# 8-bit weights (dense rows of one byte per weight, integer arithmetic), alternating their
# runs: medians of REPEATS evaluations of SAMPLES MNIST test images at T = 50 on one thread,
# per engine, and their ratio. Needs the shipped mlp_small model and MNIST files.
#
# Usage: benches/quantized.sh [BIN] [REPEATS] [SAMPLES]   (default target/release/synops, 5, 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/synops} repeats=${2:-5} samples=${3:-1000}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
median() { sort -g "$1" | sed -n "$(( ($(wc -l < "$1") + 1) / 2 ))p"; }
common=(models/mlp_small/model.safetensors --calibration mnist:data/mnist --calibration-samples 2000 --timesteps 50)
"$bin" convert "${common[@]}" --out "$dir/float" > /dev/null
"$bin" convert "${common[@]}" --quantize 8 --out "$dir/int8" > /dev/null
for engine in event clock; do
  : > "$dir/float.t"; : > "$dir/int8.t"
  for _ in $(seq "$repeats"); do
    for which in float int8; do
      "$bin" eval "$dir/$which.toml" --data mnist:data/mnist --samples "$samples" \
        --timesteps 50 --threads 1 --engine "$engine" --out "$dir/eval" --quiet
      python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["wall_s"])' \
        "$dir/eval/eval.json" >> "$dir/$which.t"
    done
  done
  a=$(median "$dir/float.t"); b=$(median "$dir/int8.t")
  echo "mlp_small T=50 $engine float=${a}s int8=${b}s int8/float=$(python3 -c "print(round($b / $a, 3))")"
done
