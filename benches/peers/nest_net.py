"""Brunel (NEST's brunel_delta example), CUBA and COBA (iaf_cond_exp) in NEST, 1 s.

Usage: python nest_net.py brunel|cuba|coba THREADS
Prints one JSON line: build_s, loop_s, spikes, rate_hz, synapses, peak_rss_mb.
"""
import json
import resource
import sys
import time

network, threads = sys.argv[1], int(sys.argv[2])
import nest

nest.set_verbosity("M_ERROR")
nest.ResetKernel()
nest.SetKernelStatus({"resolution": 0.1, "local_num_threads": threads,
                      "rng_seed": int(__import__("os").environ.get("SEED", "1")),
                      "print_time": False})
start = time.perf_counter()
if network == "brunel":
    NE, NI, CE, CI = 10000, 2500, 1000, 250
    J, g, eta, theta, tau = 0.1, 5.0, 2.0, 20.0, 20.0
    nu_th = theta / (J * CE * tau)
    p_rate = 1000.0 * eta * nu_th * CE
    params = {"C_m": 1.0, "tau_m": tau, "t_ref": 2.0, "E_L": 0.0, "V_reset": 0.0, "V_m": 0.0,
              "V_th": theta}
    ex = nest.Create("iaf_psc_delta", NE, params=params)
    inn = nest.Create("iaf_psc_delta", NI, params=params)
    noise = nest.Create("poisson_generator", params={"rate": p_rate})
    rec = nest.Create("spike_recorder")
    nodes = ex + inn
    nest.Connect(noise, nodes, syn_spec={"weight": J, "delay": 1.5})
    nest.Connect(ex, nodes, {"rule": "fixed_indegree", "indegree": CE},
                 {"weight": J, "delay": 1.5})
    nest.Connect(inn, nodes, {"rule": "fixed_indegree", "indegree": CI},
                 {"weight": -g * J, "delay": 1.5})
    neurons = NE + NI
elif network == "coba":
    # Brette et al. (2007) benchmark 1: iaf_cond_exp, C_m = tau_m g_L = 200 pF, jumps of 6 nS
    # and 67 nS, initial conductances as in Brian2's example.
    params = {"C_m": 200.0, "g_L": 10.0, "E_L": -60.0, "V_th": -50.0, "V_reset": -60.0,
              "t_ref": 5.0, "E_ex": 0.0, "E_in": -80.0, "tau_syn_ex": 5.0, "tau_syn_in": 10.0}
    pop = nest.Create("iaf_cond_exp", 4000, params=params)
    pop.V_m = nest.random.uniform(-60.0, -50.0)
    pop.g_ex = nest.random.normal(40.0, 15.0)
    pop.g_in = nest.random.normal(200.0, 120.0)
    rec = nest.Create("spike_recorder")
    nodes = pop
    nest.Connect(pop[:3200], pop, {"rule": "pairwise_bernoulli", "p": 0.02},
                 {"weight": 6.0, "delay": 0.1})
    nest.Connect(pop[3200:], pop, {"rule": "pairwise_bernoulli", "p": 0.02},
                 {"weight": -67.0, "delay": 0.1})
    neurons = 4000
else:
    # CUBA with currents in pA: C_m = 250 pF, g_L = C_m / tau_m, so a current I gives I/g_L mV.
    import numpy as np
    tau_m, c_m = 20.0, 250.0
    g_l = c_m / tau_m
    params = {"C_m": c_m, "tau_m": tau_m, "tau_syn_ex": 5.0, "tau_syn_in": 10.0, "t_ref": 5.0,
              "E_L": -49.0, "V_reset": -60.0, "V_th": -50.0}
    pop = nest.Create("iaf_psc_exp", 4000, params=params)
    pop.V_m = nest.random.uniform(-60.0, -50.0)
    rec = nest.Create("spike_recorder")
    nodes = pop
    # Brian2's ge jumps by we mV and enters dv/dt as ge/tau_m: NEST's weight is we * g_L pA.
    nest.Connect(pop[:3200], pop, {"rule": "pairwise_bernoulli", "p": 0.02},
                 {"weight": 1.62 * g_l, "delay": 0.1})
    nest.Connect(pop[3200:], pop, {"rule": "pairwise_bernoulli", "p": 0.02},
                 {"weight": -9.0 * g_l, "delay": 0.1})
    neurons = 4000
nest.Connect(nodes, rec)
nest.Prepare()
build_s = time.perf_counter() - start
t0 = time.perf_counter()
nest.Run(1000.0)
loop_s = time.perf_counter() - t0
nest.Cleanup()
spikes = int(rec.n_events)
synapses = int(nest.GetKernelStatus("num_connections"))
print(json.dumps({
    "simulator": "nest", "target": f"{threads} thread(s)", "network": network, "build_s": build_s,
    "compile_s": 0.0, "loop_s": loop_s, "spikes": spikes, "rate_hz": spikes / neurons,
    "synapses": synapses, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
