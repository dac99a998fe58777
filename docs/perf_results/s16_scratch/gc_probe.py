"""Python garbage collections during bg's fit and method loop (training.py), 400 steps each, twice, one thread:
collections per generation and their time per step.

    OMP_NUM_THREADS=1 python docs/perf_results/s16_scratch/gc_probe.py
"""

import gc
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
import training as T

torch.set_num_threads(1)
device = torch.device("cpu")
stats: dict[int, tuple[int, float]] = {}
started: dict[int, float] = {}


def on_collection(phase: str, info: dict) -> None:
    generation = info["generation"]
    if phase == "start":
        started[generation] = time.perf_counter()
    else:
        n, total = stats.get(generation, (0, 0.0))
        stats[generation] = (n + 1, total + time.perf_counter() - started[generation])


gc.callbacks.append(on_collection)
for fn in (T.run_fit, T.run_method_loop):  # warm-up
    fn("bg", 10, device, None)
for fn in (T.run_fit, T.run_method_loop, T.run_fit, T.run_method_loop):
    stats.clear()
    start = time.process_time()
    fn("bg", 400, device, None)
    per_step = (time.process_time() - start) / 400
    found = {g: f"{n} collections, {t / 400 * 1e6:.1f} µs per step" for g, (n, t) in sorted(stats.items())}
    print(f"{fn.__name__:16s} {per_step * 1e6:5.0f} µs per step; by generation: {found}")
