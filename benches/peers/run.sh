#!/usr/bin/env bash
# Side-by-side benchmark: synops, Brian2 (cpp_standalone and cython runtime) and NEST on the
# same networks (Brunel 12.5k as in NEST's brunel_delta example, CUBA 4000 and COBA 4000 as in
# Brian2's examples; COBA on NEST's iaf_cond_exp), 1 s of simulated time, on this machine, in
# this run.
#
# Usage: benches/peers/run.sh [--quick]      (--quick skips Brian2's cython runtime)
# Installs Brian2 and NEST from PyPI into a virtual environment (benches/peers/.venv, or
# $PEERS_VENV) the first time. Prints a table; writes target/peers.json.
#
# Loop times of short runs vary from run to run on a shared machine: synops and Brian2's
# cpp_standalone binary (the two fastest, whose ratio the targets name) each run the loop
# $REPEATS times (default 5) and report the median. synops alternates its 1-thread and 2-thread
# runs, so that a change in the machine's load during the script weighs on both alike. NEST
# and Brian2's cython runtime, whose loops take seconds, run once.
set -euo pipefail
cd "$(dirname "$0")/../.."
quick=${1:-}
venv=${PEERS_VENV:-benches/peers/.venv}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q brian2 nest-simulator "numpy<2.3"
fi
py="$venv/bin/python"
repeats=${REPEATS:-5}
cargo build --release -q
out=target/peers.jsonl
: > "$out"

synops() { # network [file] [label]: 1 and 2 threads, alternating
  local dir; dir=$(mktemp -d)
  local file=${2:-networks/$1.toml} label=${3:-}
  for r in $(seq "$repeats"); do
    for th in 1 2; do
      mkdir -p "$dir/$th/$r"
      /usr/bin/time -f "%M" -o "$dir/$th/$r/rss" target/release/synops run "$file" \
        --threads "$th" --out "$dir/$th/$r" --quiet
    done
  done
  for th in 1 2; do
    "$py" - "$dir/$th" "$1" "$th" "$repeats" "$label" >> "$out" <<'PY'
import json, sys
d, net, th, repeats, label = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
runs = [(json.load(open(f"{d}/{r}/summary.json")), r) for r in range(1, repeats + 1)]
runs.sort(key=lambda x: x[0]["wall_s"])
s, r = runs[len(runs) // 2]  # the median loop time
rss = int(open(f"{d}/{r}/rss").read().split()[-1]) / 1024
print(json.dumps({"simulator": "synops", "target": f"event{label}, {th} thread(s)", "network": net,
  "build_s": s["build_s"], "compile_s": 0.0, "loop_s": s["wall_s"], "spikes": s["spikes"],
  "rate_hz": s["mean_rate_hz"], "synapses": s["synapses"], "peak_rss_mb": rss,
  "loop_s_all": [x[0]["wall_s"] for x in runs]}))
PY
  done
  rm -rf "$dir"
}

# COBA also with method = "euler", Brian2's method, to compare like with like.
sed 's/^tau_syn_inh_ms = 10.0$/tau_syn_inh_ms = 10.0\nmethod = "euler"/' networks/coba.toml \
  > target/coba_euler.toml
for net in brunel cuba coba; do
  echo "== $net" >&2
  synops "$net"
  if [ "$net" = coba ]; then synops coba target/coba_euler.toml " euler"; fi
  "$py" benches/peers/brian2_net.py "$net" cpp_standalone "$repeats" 2>/dev/null | tail -1 >> "$out"
  if [ "$quick" != "--quick" ]; then
    "$py" benches/peers/brian2_net.py "$net" cython 2>/dev/null | tail -1 >> "$out"
  fi
  "$py" benches/peers/nest_net.py "$net" 1 2>/dev/null | tail -1 >> "$out"
  "$py" benches/peers/nest_net.py "$net" 2 2>/dev/null | tail -1 >> "$out"
done

"$py" - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
json.dump(rows, open("target/peers.json", "w"), indent=1)
for net in ("brunel", "cuba", "coba"):
    rs = [r for r in rows if r["network"] == net]
    base = next(r for r in rs if r["simulator"] == "synops" and r["target"] == "event, 1 thread(s)")
    print(f"\n{net}: 1 s simulated; ratio = loop time / synops event engine 1 thread ({base['loop_s']:.3f} s)")
    print(f"{'simulator':<10} {'target':<22} {'loop s':>8} {'ratio':>7} {'build s':>8} {'compile s':>9} "
          f"{'events/s':>10} {'rate Hz':>8} {'B/synapse':>9}")
    for r in rs:
        events = r["spikes"] * (r["synapses"] / (12500 if net == "brunel" else 4000))
        print(f"{r['simulator']:<10} {r['target']:<22} {r['loop_s']:>8.3f} {r['loop_s'] / base['loop_s']:>6.2f}x "
              f"{r['build_s']:>8.2f} {r['compile_s']:>9.2f} {events / r['loop_s']:>10.3e} {r['rate_hz']:>8.2f} "
              f"{r['peak_rss_mb'] * 1e6 / r['synapses']:>9.1f}")
    two = next(r for r in rs if r["simulator"] == "synops" and r["target"] == "event, 2 thread(s)")
    print(f"  synops loop time, 1 thread / 2 threads: {base['loop_s'] / two['loop_s']:.2f}")
    for r in rs:
        runs = r.get("loop_s_all", [])
        if len(runs) > 1:
            print(f"  {r['simulator']} {r['target']}: median of {len(runs)} loops, "
                  f"{min(runs):.4f} to {max(runs):.4f} s")
PY
