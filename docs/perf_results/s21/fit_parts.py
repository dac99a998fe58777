"""What each per-step feature of fit costs on bg: fit with one feature replaced by a no-op (the gradient norm, the
divergence monitor, zero_grad) and the method loop, 150 steps each, order rotated, 15 rounds, CPU time; paired
differences from fit.

    OMP_NUM_THREADS=1 python docs/perf_results/s21/fit_parts.py
"""

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
import training as T
from ebmlab.training import loop, monitor, optim

torch.set_num_threads(1)
dev = torch.device("cpu")
x = T.data(dev)
steps = 150
original = (optim.total_norm, monitor.DivergenceMonitor.flagged, loop.Trainer._zero_grad)


def variant(name: str) -> None:
    optim.total_norm, monitor.DivergenceMonitor.flagged, loop.Trainer._zero_grad = original
    if name == "no grad norm":
        optim.total_norm = lambda grads: torch.zeros(())
    elif name == "no monitor":
        monitor.DivergenceMonitor.flagged = lambda self, *a, **k: False
    elif name == "no zero_grad":
        loop.Trainer._zero_grad = lambda self: None


names = ["fit", "no grad norm", "no monitor", "no zero_grad", "method loop"]
times: dict[str, list[float]] = {n: [] for n in names}
for r in range(15):
    for name in names[r % len(names) :] + names[: r % len(names)]:
        variant(name)
        start = time.process_time()
        (T.run_method_loop if name == "method loop" else T.run_fit)("bg", steps, dev, x)
        times[name].append((time.process_time() - start) / steps * 1e6)
variant("fit")
for name in names:
    diff = statistics.median(a - b for a, b in zip(times[name], times["fit"], strict=True))
    print(f"{name:14s} {statistics.median(times[name]):7.0f} µs/step  (paired difference from fit: {diff:+6.0f} µs)")
