#!/usr/bin/env bash
# NIR interchange with the Python tools, in a virtual environment made here (torch, sinabs,
# nir from the registry):
#  1. regenerates the sinabs oracle of tests/nir.rs (tests/fixtures/nir/sinabs_cnn.*) when
#     ORACLE=1;
#  2. exports a converted MLP (models/mlp_small, converted with calibration data when
#     data/mnist is there, else its shipped network) and the oracle network with
#     `synops export-nir`, and checks that nir.read() accepts them and sinabs imports and runs
#     them.
#
# Usage: benches/nir/run.sh        VENV (default target/nir-venv)
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${VENV:-target/nir-venv}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q torch sinabs nir nirtorch numpy
fi
cargo build --release -q
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
if [ "${ORACLE:-0}" = 1 ]; then
  "$venv/bin/python" benches/nir/sinabs_oracle.py tests/fixtures/nir
fi
target/release/synops import-nir tests/fixtures/nir/sinabs_cnn.nir --dt-ms 1 --time-unit steps \
  --reset subtract --out "$out/oracle" --quiet
target/release/synops export-nir "$out/oracle.toml" -o "$out/oracle_export.nir" --quiet
if [ -d data/mnist ]; then
  target/release/synops convert models/mlp_small/model.safetensors --calibration mnist:data/mnist \
    --calibration-samples 1000 --out "$out/mlp" > /dev/null
  target/release/synops export-nir "$out/mlp.toml" -o "$out/mlp.nir" --quiet
  files="$out/oracle_export.nir $out/mlp.nir"
else
  echo "data/mnist is not there: the converted MLP is skipped"
  files="$out/oracle_export.nir"
fi
"$venv/bin/python" benches/nir/check_export.py $files
