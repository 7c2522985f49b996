#!/usr/bin/env bash
# Conversion side by side: SpikingJelly and synops convert the same exported model, calibrate on
# the same training images and evaluate the same MNIST test images at the same T, one thread
# each; prints accuracy, SOPs per image (layers after the first, spikes x exact fan-out) and
# CPU seconds of the evaluation (cumulative to each T: one run of the longest T, read at every
# T, for both tools). Runs alternate REPEAT times; each line is one run.
#
# Usage: benches/conversion/run.sh [cnn_small|mlp_small]
#   TIMESTEPS (default 10,25,50), SAMPLES (default 10000), CALIBRATION (default 10000),
#   MODE (SpikingJelly's normalization, default 99.9%), REPEAT (default 1),
#   VENV (default target/conversion-venv: made here with torch, spikingjelly, onnx, safetensors).
set -euo pipefail
cd "$(dirname "$0")/../.."
model=${1:-cnn_small}
case "$model" in
  cnn_small) file=models/cnn_small/model.onnx ;;
  mlp_small) file=models/mlp_small/model.safetensors ;;
  *) echo "unknown model $model (cnn_small or mlp_small)" >&2; exit 2 ;;
esac
ts=${TIMESTEPS:-10,25,50}
samples=${SAMPLES:-10000}
calibration=${CALIBRATION:-10000}
mode=${MODE:-99.9%}
venv=${VENV:-target/conversion-venv}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q torch spikingjelly onnx safetensors numpy
fi
cargo build --release -q
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# synops' options (default: percentile 99.9 from zero; SYNOPS_OPTIONS="--percentile 99.999
# --initial-potential 0.5" is its best on cnn_small).
options=${SYNOPS_OPTIONS:-}
label=${SYNOPS_LABEL:-${options:+tuned}}
label=${label:-p99.9}
target/release/synops convert "$file" --calibration mnist:data/mnist \
  --calibration-samples "$calibration" $options --out "$out/snn" > /dev/null
for run in $(seq "${REPEAT:-1}"); do
  "$venv/bin/python" benches/conversion/spikingjelly_eval.py --model "$model" --file "$file" \
    --mnist data/mnist --timesteps "$ts" --samples "$samples" --calibration "$calibration" \
    --mode "$mode" 2> /dev/null | "$venv/bin/python" benches/conversion/format.py spikingjelly
  target/release/synops eval "$out/snn.toml" --data mnist:data/mnist --timesteps "$ts" \
    --samples "$samples" --threads 1 --quiet --out "$out/eval"
  python3 benches/conversion/format.py synops "$out/eval/eval.json" "$label"
done
