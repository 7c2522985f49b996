#!/usr/bin/env bash
# Coverage-guided fuzzing of every reader with cargo fuzz (libFuzzer), SECONDS per target.
#
# Usage: fuzz/run.sh [SECONDS]      (default 10; CI runs 8 per target, under two minutes)
#
# cargo fuzz needs nightly compiler flags (-Z sanitizer=address, coverage instrumentation);
# with the stable toolchain, RUSTC_BOOTSTRAP=1 allows them. The first corpus of each target
# is the seed set of the mutation suite, which `cargo test --test fuzz` writes into
# target/fuzz-seeds/. A crash or a timeout (20 s on one input) fails the run; libFuzzer
# saves the input under fuzz/artifacts/<target>/, to replay with
# `RUSTC_BOOTSTRAP=1 cargo fuzz run <target> fuzz/artifacts/<target>/<file>`.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
cargo test --release --test fuzz -q >/dev/null
cargo fuzz build -O
for target in $(cargo fuzz list); do
  mkdir -p "fuzz/corpus/$target"
  cp -n target/fuzz-seeds/"$target"/* "fuzz/corpus/$target/" 2>/dev/null || true
  log="fuzz/artifacts/$target.log"
  mkdir -p fuzz/artifacts
  if ! cargo fuzz run -O "$target" "fuzz/corpus/$target" -- -max_total_time="$seconds" \
    -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz $target: FAILED (log: $log)" >&2
    exit 1
  fi
  echo "fuzz $target: $seconds s, $(grep -o 'number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$') inputs, no failure"
done
