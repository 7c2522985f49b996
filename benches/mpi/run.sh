#!/usr/bin/env bash
# Distributed runs on this machine: Brunel 12.5k (networks/brunel.toml) and Brunel scaled to
# 200,000 neurons with the same in-degrees (benches/mpi/brunel_200k.toml), each on 1 rank, on
# 2 MPI ranks of 1 thread, and on 1 process of 2 threads, alternating the three so that a
# change in the machine's load weighs on all alike. Prints the medians of the loop time, the
# time rank 0 spent in the exchanges (waiting for the other rank included), the exchanges
# and the bytes each rank received, and checks that the spikes are identical.
#
# Usage: benches/mpi/run.sh [REPEATS] [DURATION_MS_200K]   (default 5 and 300)
# Needs the mpi build: cargo build --release --features mpi, and mpirun (Open MPI).
set -euo pipefail
cd "$(dirname "$0")/../.."
repeats=${1:-5}
long=${2:-300}
cargo build --release --features mpi -q
bin=target/release/synops
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

for net in networks/brunel.toml benches/mpi/brunel_200k.toml; do
  name=$(basename "$net" .toml)
  duration=1000
  [ "$name" = brunel_200k ] && duration=$long
  : > "$dir/$name.jsonl"
  for r in $(seq "$repeats"); do
    for how in rank1 ranks2 threads2; do
      out="$dir/$name-$how-$r"
      case $how in
        rank1) "$bin" run "$net" --threads 1 --duration-ms "$duration" --out "$out" --quiet ;;
        ranks2) mpirun -np 2 "$bin" run "$net" --threads 1 --duration-ms "$duration" \
                  --out "$out" --quiet ;;
        threads2) "$bin" run "$net" --threads 2 --duration-ms "$duration" --out "$out" --quiet ;;
      esac
      python3 -c '
import json, sys
s = json.load(open(sys.argv[1] + "/summary.json"))
r = s.get("ranks") or {}
print(json.dumps({"how": sys.argv[2], "loop_s": s["wall_s"], "build_s": s["build_s"],
  "exchange_s": r.get("exchange_s", 0.0), "exchanges": r.get("exchanges", 0),
  "bytes": r.get("bytes_received", 0), "spikes": s["spikes"], "rss_mb": s["peak_rss_mb"]}))' \
        "$out" "$how" >> "$dir/$name.jsonl"
      cmp -s "$out/spikes.csv" "$dir/$name-rank1-1/spikes.csv" \
        || { echo "$name: spikes of $how differ from 1 rank" >&2; exit 1; }
      [ "$r" -gt 1 ] && rm -rf "$out"
    done
  done
  python3 - "$dir/$name.jsonl" "$name" "$duration" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"\n{sys.argv[2]}: {sys.argv[3]} ms simulated, medians of {len(rows) // 3} alternating runs")
base = statistics.median(r["loop_s"] for r in rows if r["how"] == "rank1")
for how in ("rank1", "ranks2", "threads2"):
    rs = [r for r in rows if r["how"] == how]
    loop = statistics.median(r["loop_s"] for r in rs)
    ex = statistics.median(r["exchange_s"] for r in rs)
    n = rs[0]["exchanges"]
    per = f"{ex / n * 1e6:.1f} us per exchange" if n else ""
    print(f"  {how:<9} loop {loop:.3f} s ({base / loop:.2f}x 1 rank; {min(r['loop_s'] for r in rs):.3f}-"
          f"{max(r['loop_s'] for r in rs):.3f}) | exchange {ex:.3f} s, {n} exchanges {per}, "
          f"{rs[0]['bytes'] / 1e6:.2f} MB received per rank | build {rs[0]['build_s']:.2f} s | "
          f"peak RSS {rs[0]['rss_mb']:.0f} MB | spikes {rs[0]['spikes']}")
two_ranks = statistics.median(r["loop_s"] for r in rows if r["how"] == "ranks2")
two_threads = statistics.median(r["loop_s"] for r in rows if r["how"] == "threads2")
print(f"  2 ranks / 2 threads loop time: {two_ranks / two_threads:.3f}")
PY
done
