"""Check NIR files written by `synops export-nir`: NIR's own reader accepts each, and sinabs
imports it (`sinabs.from_nir`) and runs it for a few steps.

Usage: check_export.py FILE.nir [FILE.nir ...]   (benches/nir/run.sh runs it)
"""

import sys

import nir
import sinabs
import torch

failed = False
for path in sys.argv[1:]:
    try:
        graph = nir.read(path)
        kinds = sorted({type(n).__name__ for n in graph.nodes.values()})
        model = sinabs.from_nir(graph, batch_size=1)
        inputs = [n for n in graph.nodes.values() if isinstance(n, nir.Input)]
        size = int(list(inputs[0].input_type.values())[0].prod())
        with torch.no_grad():
            out = model(torch.ones(5, size))
        out = out[0] if isinstance(out, tuple) else out
        print(f"{path}: nir.read accepts it ({len(graph.nodes)} nodes: {', '.join(kinds)}); "
              f"sinabs.from_nir imports it and runs 5 steps (output {tuple(out.shape)})")
    except Exception as e:  # noqa: BLE001 - report every file
        failed = True
        print(f"{path}: FAILED: {e!r}")
sys.exit(1 if failed else 0)
