"""bg (benchmarks/training.py's Boltzmann generator): is fit's torch.autograd.grad(loss, params) slower than the
method loop's loss.backward()? CPU time per call, medians of 40 × 50, one thread.

    OMP_NUM_THREADS=1 python docs/perf_results/s21/grad_vs_backward.py
"""

import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import interleaved

import training as T

torch.set_num_threads(1)
m = T.make_method("bg", torch.device("cpu"))
params = [p for p in m.parameters()]
gen = torch.Generator().manual_seed(0)


def loss():
    return m.objective(None, gen)["loss"]


def by_grad():
    l = loss()
    gs = torch.autograd.grad(l, params, allow_unused=True)
    for p, g in zip(params, gs, strict=True):
        p.grad = g


def by_backward():
    l = loss()
    for p in params:
        p.grad = None
    l.backward()


def by_backward_inputs():
    l = loss()
    for p in params:
        p.grad = None
    torch.autograd.backward(l, inputs=params)


def only_loss():
    loss()


fs = {
    "loss only": only_loss,
    "autograd.grad": by_grad,
    "backward()": by_backward,
    "backward(inputs=)": by_backward_inputs,
}
for f in fs.values():
    f()
t = interleaved(fs, rounds=40, calls=50)
base = statistics.median(t["loss only"])
for k, v in t.items():
    print(
        f"{k:20s} median {statistics.median(v):8.1f} µs  min {min(v):8.1f}  (backward part {statistics.median(v) - base:7.1f})"
    )
print("params", len(params))
