#!/usr/bin/env bash
# Mean firing rate of the COBA benchmark on synops, Brian2 (cpp_standalone, forward Euler) and
# NEST (iaf_cond_exp) over SEEDS seeds (default 20) each: the network is chaotic, so single runs
# of different simulators (different random connectivity) differ by several percent; the
# means over seeds are what must agree. Uses the environment of benches/peers/run.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${PEERS_VENV:-benches/peers/.venv}
py="$venv/bin/python"
seeds=${SEEDS:-20}
cargo build --release -q
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for s in $(seq "$seeds"); do
  target/release/synops run networks/coba.toml --seed "$s" --threads 1 --out "$dir/s" --quiet
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mean_rate_hz"])' \
    "$dir/s/summary.json" >> "$dir/synops"
  SEED=$s "$py" benches/peers/brian2_net.py coba cpp_standalone 1 2>/dev/null | tail -1 \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["rate_hz"])' >> "$dir/brian2"
  SEED=$s "$py" benches/peers/nest_net.py coba 2 2>/dev/null | tail -1 \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["rate_hz"])' >> "$dir/nest"
done
python3 - "$dir" <<'PY'
import statistics as st, sys
d = sys.argv[1]
rates = {s: [float(x) for x in open(f"{d}/{s}")] for s in ("synops", "brian2", "nest")}
# Self-sustained activity can die out (the initial conductances start it, nothing restarts
# it): a run below 1 Hz is reported as extinct and left out of the mean of the others.
alive = {s: [x for x in r if x >= 1.0] for s, r in rates.items()}
mean = {s: st.mean(r) for s, r in alive.items()}
print(f"COBA mean rate over {len(rates['synops'])} seeds [Hz], extinct runs (< 1 Hz) left out:")
for s, r in rates.items():
    a = alive[s]
    print(f"  {s:<7} {mean[s]:6.2f} ± {st.stdev(a) / len(a) ** 0.5:4.2f} (s.e.m.), "
          f"median {st.median(r):5.2f}, extinct {len(r) - len(a)}  runs: "
          + ", ".join(f"{x:.2f}" for x in r))
print(f"  largest / smallest mean: {max(mean.values()) / min(mean.values()):.3f}")
PY
