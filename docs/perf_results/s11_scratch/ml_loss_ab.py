"""ml_loss + backward of a plain-module energy, this tree's against another file's (e.g. a worktree at 746cc40).

OMP_NUM_THREADS=1 python docs/perf_results/s11_scratch/ml_loss_ab.py <before>/src/ebmlab/methods/maximum_likelihood.py
"""

import importlib.util
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from ebmlab.methods.maximum_likelihood import ml_loss
from ebmlab.methods.negatives import NegativeBatch
from training import PlainMLP

spec = importlib.util.spec_from_file_location("before_ml", sys.argv[1])
before = importlib.util.module_from_spec(spec)
spec.loader.exec_module(before)
torch.set_num_threads(1)
net, gen = PlainMLP(), torch.Generator().manual_seed(0)
data, negx = torch.randn(128, 2, generator=gen), torch.randn(128, 2, generator=gen)
batch = NegativeBatch(negx, negx, None, {}, "x")


def fifty(loss_fn):
    def run():
        for _ in range(50):
            loss, log = loss_fn(net, data, batch, 0.0)
            net.zero_grad(set_to_none=True)
            loss.backward()
            [float(v) for v in log.values()]

    return run


fns = {"before": fifty(before.ml_loss), "this tree": fifty(ml_loss)}
times: dict[str, list[float]] = {k: [] for k in fns}
for r in range(21):
    for k in list(fns)[:: 1 if r % 2 else -1]:
        start = time.process_time()
        fns[k]()
        times[k].append((time.process_time() - start) / 50 * 1e6)
for k, v in times.items():
    print(f"{k}: {statistics.median(v):.1f} µs per ml_loss + backward")
print(
    "this tree ÷ before:",
    round(statistics.median(a / b for a, b in zip(times["this tree"], times["before"], strict=True)), 3),
)
