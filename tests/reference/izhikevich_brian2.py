"""Reference spike times of the Izhikevich (2003) firing patterns from Brian2, for
tests/models.rs: one neuron per pattern, his published parameters (Fig. 2), I = 10, dt =
0.1 ms, 500 ms, forward Euler (Brian2's method = "euler", the one synops' izhikevich uses).

Usage: python izhikevich_brian2.py > izhikevich_brian2.json   (needs brian2)
"""
import sys, json
import brian2 as b2
from brian2 import ms
b2.prefs.codegen.target = "numpy"
b2.defaultclock.dt = 0.1 * ms
patterns = {"regular_spiking": (0.02, 0.2, -65, 8), "intrinsically_bursting": (0.02, 0.2, -55, 4),
            "chattering": (0.02, 0.2, -50, 2), "fast_spiking": (0.1, 0.2, -65, 2),
            "low_threshold_spiking": (0.02, 0.25, -65, 2)}
out = {}
for name, (a, b, c, d) in patterns.items():
    eqs = """dv/dt = (0.04*v**2 + 5*v + 140 - u + I)/ms : 1
             du/dt = a*(b*v - u)/ms : 1
             a : 1
             b : 1
             c : 1
             d : 1
             I : 1"""
    G = b2.NeuronGroup(1, eqs, threshold="v >= 30", reset="v = c; u += d", method="euler")
    G.a, G.b, G.c, G.d, G.I = a, b, c, d, 10
    G.v = -65
    G.u = b * -65
    m = b2.SpikeMonitor(G)
    net = b2.Network(G, m)
    net.run(500 * ms)
    out[name] = [round(float(t / ms), 4) for t in m.t]
print(json.dumps(out))
