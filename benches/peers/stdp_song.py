"""Brian2's STDP example (Song, Miller & Abbott 2000), as in Brian2's examples/synapses/STDP.py,
run in cpp_standalone mode: 1,000 Poisson inputs at 15 Hz onto one neuron, additive STDP, 100 s.

Usage: python stdp_song.py OUT_DIR [SEED]
Writes OUT_DIR/brian2_weights.csv (the final weights) and OUT_DIR/brian2_rates.csv (the
output rate per second), and prints the loop time.
"""
import sys
import time

from brian2 import (NeuronGroup, PoissonGroup, Synapses, SpikeMonitor, Hz, ms, mV, second,
                    run, set_device, device, defaultclock, seed as brian_seed)
import numpy as np

out = sys.argv[1]
seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
set_device("cpp_standalone", directory=f"{out}/brian2_build")
brian_seed(seed)
defaultclock.dt = 0.1 * ms

N = 1000
taum = 10 * ms
taupre = 20 * ms
taupost = taupre
Ee = 0 * mV
vt = -54 * mV
vr = -60 * mV
El = -74 * mV
taue = 5 * ms
F = 15 * Hz
gmax = 0.01
dApre = 0.01
dApost = -dApre * taupre / taupost * 1.05
dApost *= gmax
dApre *= gmax

eqs_neurons = """
dv/dt = (ge * (Ee-v) + El - v) / taum : volt
dge/dt = -ge / taue : 1
"""
inputs = PoissonGroup(N, rates=F)
neurons = NeuronGroup(1, eqs_neurons, threshold="v>vt", reset="v = vr", method="euler")
neurons.v = vr
S = Synapses(inputs, neurons,
             """w : 1
                dApre/dt = -Apre / taupre : 1 (event-driven)
                dApost/dt = -Apost / taupost : 1 (event-driven)""",
             on_pre="""ge += w
                    Apre += dApre
                    w = clip(w + Apost, 0, gmax)""",
             on_post="""Apost += dApost
                     w = clip(w + Apre, 0, gmax)""")
S.connect()
S.w = "rand() * gmax"
spikes = SpikeMonitor(neurons)
run(100 * second, report=None)
loop = device._last_run_time
w = np.array(S.w[:])
np.savetxt(f"{out}/brian2_weights.csv", w, header="weight", comments="")
times = np.array(spikes.t / second)
counts = np.histogram(times, bins=np.arange(0, 101))[0]
with open(f"{out}/brian2_rates.csv", "w") as f:
    f.write("time_ms,rate_hz\n")
    for k, c in enumerate(counts):
        f.write(f"{k * 1000.0},{c}\n")
print(f"brian2 cpp_standalone: loop {loop:.3f} s, {len(times)} output spikes")
