#!/usr/bin/env bash
# Plasticity against Brian2, in one run on this machine:
#  1. Song, Miller & Abbott (2000) as in Brian2's STDP example (networks/stdp_song.toml,
#     benches/peers/stdp_song.py): the final weight histograms (ten bins of [0, w_max]), the
#     fractions of weights in the bottom and top tenth, and the output rate every 10 s.
#  2. Brunel 12.5k with Morrison et al.'s power-law STDP on the 10 million
#     excitatory-to-excitatory synapses (networks/brunel_stdp.toml,
#     benches/peers/brian2_net.py brunel_stdp): 1 s, single thread, synops and Brian2
#     cpp_standalone alternating, $REPEATS times each (default 2); loop times and rates.
#
# Usage: benches/peers/stdp.sh   (Brian2 from $PEERS_VENV, default benches/peers/.venv,
# installed as benches/peers/run.sh does)
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${PEERS_VENV:-benches/peers/.venv}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q brian2 "numpy<2.3"
fi
py="$venv/bin/python"
repeats=${REPEATS:-2}
cargo build --release -q
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

echo "== stdp_song (100 s)"
target/release/synops run networks/stdp_song.toml --out "$dir/song" --quiet
"$py" benches/peers/stdp_song.py "$dir/song" 1 | tail -1
"$py" - "$dir/song" <<'PY'
import csv, sys
d = sys.argv[1]
w_max = 0.01
rows = list(csv.DictReader(open(f"{d}/weights.csv")))
last = max(float(r["time_ms"]) for r in rows)
ours = [float(r["weight"]) for r in rows if float(r["time_ms"]) == last]
theirs = [float(x) for x in open(f"{d}/brian2_weights.csv").read().split()[1:]]
def tenths(ws):
    h = [0] * 10
    for w in ws:
        h[min(int(w / w_max * 10), 9)] += 1
    return h
for name, ws in (("synops", ours), ("brian2", theirs)):
    h = tenths(ws)
    print(f"{name:8} tenths {h}  bottom {h[0] / len(ws):.3f}  top {h[9] / len(ws):.3f}")
ho, ht = tenths(ours), tenths(theirs)
print(f"difference: bottom {abs(ho[0] - ht[0]) / 10:.1f} points, top {abs(ho[9] - ht[9]) / 10:.1f} points")
r_ours = [float(r["rate_hz"]) for r in csv.DictReader(open(f"{d}/rates.csv"))]
r_theirs = [float(r["rate_hz"]) for r in csv.DictReader(open(f"{d}/brian2_rates.csv"))]
mean10 = lambda r: [round(sum(r[k:k + 10]) / 10, 1) for k in range(0, 100, 10)]
print("output rate per 10 s [Hz], synops:", mean10(r_ours))
print("output rate per 10 s [Hz], brian2:", mean10(r_theirs))
PY

echo "== brunel_stdp (1 s, 1 thread, alternating)"
for r in $(seq "$repeats"); do
  target/release/synops run networks/brunel_stdp.toml --threads 1 --out "$dir/b$r" --quiet
  "$py" - "$dir/b$r/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
updates = sum(p.get("synaptic_updates", 0) for p in s["projections"])
print(f"synops  loop {s['wall_s']:.2f} s  rate {s['mean_rate_hz']:.2f} Hz  synaptic updates {updates}")
PY
  "$py" benches/peers/brian2_net.py brunel_stdp cpp_standalone 1 | tail -1 > "$dir/brian2_$r.json"
  "$py" - "$dir/brian2_$r.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(f"brian2  loop {s['loop_s']:.2f} s  rate {s['rate_hz']:.2f} Hz  (+ {s['compile_s']:.1f} s compile)")
PY
done
