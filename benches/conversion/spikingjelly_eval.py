"""SpikingJelly's conversion of a model synops ships, evaluated on the MNIST test set.

Reads the model's weights from the same file synops converts (models/cnn_small/model.onnx or
models/mlp_small/model.safetensors), calibrates SpikingJelly's ann2snn Converter on the first
training images, runs the converted network on one torch thread for max(T) steps per batch and
reads the prediction (summed outputs) at every T. SOPs of the layers after the first: the
non-zero inputs of each later Conv/Linear layer times the exact fan-out of their positions
(what synops counts). Prints one JSON line per T.
"""

import argparse
import gzip
import json
import sys
import time

import numpy as np
import torch
from torch import nn


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * k : 8 + 4 * k], "big") for k in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def mnist(folder, split):
    prefix = "train" if split == "train" else "t10k"
    x = idx(f"{folder}/{prefix}-images-idx3-ubyte.gz").astype(np.float32) / 255.0
    y = idx(f"{folder}/{prefix}-labels-idx1-ubyte.gz").astype(np.int64)
    return torch.from_numpy(x[:, None]), torch.from_numpy(y)


def cnn_small(path):
    import onnx
    from onnx import numpy_helper

    model = nn.Sequential(
        nn.Conv2d(1, 12, 5), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(12, 32, 5), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(512, 10),
    )
    graph = onnx.load(path).graph
    tensors = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for name, p in model.state_dict().items():
        p.copy_(torch.from_numpy(np.array(tensors[name])))
    return model


def mlp_small(path):
    from safetensors.numpy import load_file

    tensors = load_file(path)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    model[1].weight.data = torch.from_numpy(tensors["0.weight"])
    model[1].bias.data = torch.from_numpy(tensors["0.bias"])
    model[3].weight.data = torch.from_numpy(tensors["2.weight"])
    model[3].bias.data = torch.from_numpy(tensors["2.bias"])
    return model


def fan_outs(layer, shape):
    """Per input position of `layer` (input `shape` without batch): the outputs it feeds."""
    if isinstance(layer, nn.Linear):
        return torch.full(shape, float(layer.out_features))
    ones = torch.ones((1,) + tuple(shape))
    w = torch.ones_like(layer.weight)
    out = torch.nn.functional.conv2d(
        ones, w, stride=layer.stride, padding=layer.padding,
        dilation=layer.dilation, groups=layer.groups,
    )
    return torch.nn.functional.conv_transpose2d(
        torch.ones_like(out), w, stride=layer.stride, padding=layer.padding,
        dilation=layer.dilation, groups=layer.groups,
    )[0][tuple(slice(0, s) for s in shape)]


def spike_fan_outs(snn, x):
    """(module, table): the modules whose inputs are the spikes of a layer (an average pooling,
    or a weighted layer after a spiking one), with each position's fan-out."""
    from spikingjelly.activation_based import functional

    modules = [m for m in snn.modules() if isinstance(m, (nn.Conv2d, nn.Linear, nn.AvgPool2d))]
    shapes = {}
    def record(module, inputs, _output):
        shapes.setdefault(module, inputs[0].shape[1:])

    hooks = [m.register_forward_hook(record) for m in modules]
    with torch.no_grad():
        snn(x)
    functional.reset_net(snn)
    for h in hooks:
        h.remove()
    out = []
    weighted = [m for m in modules if not isinstance(m, nn.AvgPool2d)]
    for k, m in enumerate(modules):
        if isinstance(m, nn.AvgPool2d):
            after = modules[k + 1]
            pooled = fan_outs(after, shapes[after])
            if isinstance(after, nn.Linear):
                pooled = pooled.reshape(shapes[m][0], -1)
                side = int(round(pooled.shape[1] ** 0.5))
                pooled = pooled.reshape(shapes[m][0], side, side)
            s = m.stride if isinstance(m.stride, int) else m.stride[0]
            table = torch.zeros(shapes[m])
            spread = pooled.repeat_interleave(s, -2).repeat_interleave(s, -1)
            table[:, : spread.shape[1], : spread.shape[2]] = spread
            out.append((m, table))
        elif m is not weighted[0] and not isinstance(modules[k - 1], nn.AvgPool2d):
            out.append((m, fan_outs(m, shapes[m])))
    return out


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--model", choices=["cnn_small", "mlp_small"], required=True)
    a.add_argument("--file", required=True)
    a.add_argument("--mnist", required=True)
    a.add_argument("--timesteps", default="10,25,50")
    a.add_argument("--samples", type=int, default=10000)
    a.add_argument("--calibration", type=int, default=10000)
    a.add_argument("--mode", default="99.9%", help="Max or a percentile such as 99.9%%")
    args = a.parse_args()
    from spikingjelly.activation_based import ann2snn, functional

    torch.set_num_threads(1)
    ts = sorted(int(t) for t in args.timesteps.split(","))
    ann = (cnn_small if args.model == "cnn_small" else mlp_small)(args.file).eval()
    xc, yc = mnist(args.mnist, "train")
    xt, yt = mnist(args.mnist, "test")
    xc, yc = xc[: args.calibration], yc[: args.calibration]
    xt, yt = xt[: args.samples], yt[: args.samples]
    with torch.no_grad():
        ann_acc = (ann(xt).argmax(1) == yt).float().mean().item()
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(xc, yc), batch_size=100)
    start = time.process_time()
    recipe = ann2snn.RateCodingRecipe(dataloader=loader, mode=args.mode)
    snn = ann2snn.FXConverter(recipe=recipe).convert(ann).eval()
    convert_s = time.process_time() - start
    correct = {t: 0 for t in ts}
    seconds = {t: 0.0 for t in ts}
    with torch.no_grad():
        for b in range(0, len(xt), 100):
            x, y = xt[b : b + 100], yt[b : b + 100]
            functional.reset_net(snn)
            total = 0
            start = time.process_time()
            for t in range(1, ts[-1] + 1):
                total = total + snn(x)
                if t in correct:
                    seconds[t] += time.process_time() - start
                    correct[t] += (total.argmax(1) == y).sum().item()
    # SOPs, in a second run that is not timed, counted as synops counts them: every spike of a
    # layer times the exact fan-out of its position into the next weighted layer, through the
    # average pooling between them (the pooling folded into the next layer's delivery).
    sops = {"n": 0.0}
    for module, table in spike_fan_outs(snn, xt[:1]):
        def hook(_m, inputs, _out, table=table):
            sops["n"] += ((inputs[0] != 0).float() * table).sum().item()

        module.register_forward_hook(hook)
    sops_at = {t: 0.0 for t in ts}
    with torch.no_grad():
        for b in range(0, len(xt), 100):
            functional.reset_net(snn)
            for t in range(1, ts[-1] + 1):
                snn(xt[b : b + 100])
                if t in sops_at:
                    sops_at[t] += sops["n"]
            sops["n"] = 0.0
    n = len(xt)
    for t in ts:
        print(json.dumps({
            "tool": "spikingjelly", "mode": args.mode, "t": t, "samples": n,
            "ann_accuracy": ann_acc, "accuracy": correct[t] / n,
            "sops_per_sample": sops_at[t] / n, "eval_cpu_s": seconds[t],
            "convert_cpu_s": convert_s,
        }))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
