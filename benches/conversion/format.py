"""Lines of benches/conversion/run.sh: `format.py spikingjelly < JSON lines` or
`format.py synops EVAL_JSON`."""

import json
import sys


def line(tool, mode, t, accuracy, sops, cpu):
    cpu = f"{cpu:8.1f} s" if cpu is not None else "       - "
    print(f"{tool:<12} {mode:>6} T={t:<4} accuracy {100 * accuracy:.2f}%  SOPs {sops:>12,.0f}  CPU {cpu}")


if sys.argv[1] == "spikingjelly":
    for text in sys.stdin:
        r = json.loads(text)
        line("spikingjelly", r["mode"], r["t"], r["accuracy"], r["sops_per_sample"], r["eval_cpu_s"])
else:
    d = json.load(open(sys.argv[2]))
    last = d["timesteps"][-1]["t"]
    for t in d["timesteps"]:
        # One run to the longest T serves every T: its time is that of the longest.
        cpu = d["wall_s"] if t["t"] == last else None
        line("synops", sys.argv[3], t["t"], t["accuracy"], sum(t["sops_per_layer"][1:]), cpu)
