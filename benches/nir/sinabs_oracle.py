"""The sinabs oracle of `tests/nir.rs`: a small spiking CNN built in sinabs (IAF neurons, one
spike per step at most, reset by subtraction), exported with `sinabs.to_nir`, run by sinabs on
a fixed input, with every layer's spikes recorded.

Writes, into the folder given (default tests/fixtures/nir):
  sinabs_cnn.nir      the exported graph
  sinabs_cnn.json     {"steps": T, "input": [[t, i], ...], "layers": {node: [[t, i], ...]}}
                      (t: sinabs' step from 0; i: the flat index in C, H, W order)

Weights lie on a grid of 1/64 and the inputs are 0 or 1, so float32 (sinabs) and float64
(synops) sums are exact: the comparison checks the semantics, not the rounding.
Usage: benches/nir/run.sh (makes its own virtual environment with sinabs from the registry).
"""

import json
import sys

import nir
import numpy as np
import sinabs
import sinabs.layers as sl
import torch

out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/nir"
torch.manual_seed(7)
steps = 40
spike = sinabs.activation.SingleSpike
net = torch.nn.Sequential(
    torch.nn.Conv2d(2, 4, 3, stride=1, padding=1, bias=False),
    sl.IAFSqueeze(batch_size=1, spike_fn=spike),
    sl.SumPool2d(2),
    torch.nn.Conv2d(4, 6, 3, stride=2, padding=1, bias=False),
    sl.IAFSqueeze(batch_size=1, spike_fn=spike),
    torch.nn.Flatten(),
    torch.nn.Linear(6 * 2 * 2, 5, bias=False),
    sl.IAFSqueeze(batch_size=1, spike_fn=spike),
)
with torch.no_grad():
    for m in net:
        if hasattr(m, "weight"):
            m.weight.copy_(torch.round(torch.randn_like(m.weight) * 24) / 64)
x = (torch.rand(steps, 2, 8, 8) < 0.3).float()

recorded = {}
hooks = [
    m.register_forward_hook(lambda _m, _i, o, k=k: recorded.setdefault(k, []).append(o.detach().clone()))
    for k, m in enumerate(net)
    if isinstance(m, sl.IAFSqueeze)
]
with torch.no_grad():
    net(x)  # IAFSqueeze with batch size 1: the first dimension is time
for h in hooks:
    h.remove()  # to_nir runs the network once more

graph = sinabs.to_nir(net, x[:1])
# sinabs leaves the convolutions' input shapes and the flatten's input type unset and some
# parameters as torch tensors; NIR's writer needs them set, as arrays.
shapes = {"0": (8, 8), "3": (4, 4)}
for name, node in graph.nodes.items():
    if isinstance(node, nir.Conv2d):
        node.input_shape = shapes[name]
    if isinstance(node, nir.Flatten):
        node.input_type = {"input": np.array([6, 2, 2])}
    for key, value in list(vars(node).items()):
        if isinstance(value, torch.Tensor):
            setattr(node, key, value.numpy())
nir.write(f"{out}/sinabs_cnn.nir", graph)
# The IF nodes of the exported graph, in network order (sinabs names them by position).
if_nodes = [n for n, node in graph.nodes.items() if isinstance(node, nir.IF)]
if_nodes.sort(key=lambda n: int(n) if n.isdigit() else n)


def events(tensor):
    flat = tensor.reshape(tensor.shape[0], -1)
    return [[int(t), int(i)] for t, i in (flat != 0).nonzero().tolist() for _ in range(int(flat[t, i]))]


layers = {}
for node, k in zip(if_nodes, sorted(recorded)):
    layers[node] = events(torch.cat(recorded[k]))
with open(f"{out}/sinabs_cnn.json", "w") as f:
    json.dump({"steps": steps, "sinabs": sinabs.__version__, "input": events(x), "layers": layers}, f)
print({n: len(v) for n, v in layers.items()}, "input", len(events(x)))
