"""The scratch StepWatch that keeps (E, ∇E) of small chains (watch_pairs.patch, not committed) against keeping the
row sums per step, and a bare autograd ULA loop: 20-step chains of 128 × 2, interleaved, µs per step.

    git apply docs/perf_results/s11_scratch/watch_pairs.patch
    OMP_NUM_THREADS=1 python docs/perf_results/s11_scratch/watch_pairs_ab.py
    git checkout src/ebmlab/samplers/step_watch.py
"""

import math
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from ebmlab.samplers import ULA, run_chains, step_watch
from training import PlainMLP
from user_energies import mog8

torch.set_num_threads(1)
gen = torch.Generator().manual_seed(0)
x0 = torch.rand(128, 2, generator=gen) * 10 - 5
kernel = ULA(0.01)


def chain(energy):
    return lambda: run_chains(kernel, energy, x0, 20, gen, final_energy=False).x


def bare(energy):
    def run():
        x = x0
        for _ in range(20):
            x = x.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(energy(x).sum(), x)
            x = x - 0.01 * g + math.sqrt(0.02) * torch.randn(x.shape, generator=gen)
        return x.detach()

    return run


def ratio(times: dict[str, list[float]], a: str, b: str) -> float:
    return round(statistics.median(x / y for x, y in zip(times[a], times[b], strict=True)), 3)


for name, energy, reps in (("plain MLP", PlainMLP(), 10), ("mog8", mog8, 50)):
    fns = {"pairs": chain(energy), "sums": chain(energy), "bare": bare(energy)}
    times: dict[str, list[float]] = {k: [] for k in fns}
    for r in range(21):
        for k in list(fns)[:: 1 if r % 2 else -1]:
            step_watch.PAIRS_MAX_ELEMENTS = 0 if k == "sums" else 8192
            start = time.process_time()
            for _ in range(reps):
                fns[k]()
            times[k].append((time.process_time() - start) / reps / 20 * 1e6)
    medians = {k: round(statistics.median(v), 1) for k, v in times.items()}
    print(
        name,
        medians,
        "µs per step;",
        "pairs ÷ sums",
        ratio(times, "pairs", "sums"),
        "sums ÷ bare",
        ratio(times, "sums", "bare"),
    )
