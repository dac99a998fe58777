"""What ``fit`` adds to a training step, per step and once: ``fit`` against the method's own losses in a bare loop
(``benchmarks/training.py``'s "method loop") at two run lengths, CPU time, medians of interleaved repeats; then
the functions whose own time differs most between the two under ``cProfile`` (its per-call overhead inflates
Python-heavy entries: read it as a ranking, not as microseconds).

    OMP_NUM_THREADS=1 python benchmarks/fit_overhead.py [--workload bg] [--repeats 5] [--profile 20]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import training as T


def cpu_seconds(fn, *args) -> float:
    start = time.process_time()
    fn(*args)
    return time.process_time() - start


def own_times(fn, *args) -> dict[tuple, tuple[float, int]]:
    prof = cProfile.Profile()
    prof.enable()
    fn(*args)
    prof.disable()
    return {k: (v[2], v[1]) for k, v in pstats.Stats(prof).stats.items()}  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workload", default="bg", choices=("bg", "cd-short", "cd-persistent", "cd-short-user"))
    p.add_argument("--lengths", default="100,400", help="two run lengths (steps): per-step and fixed cost")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--profile", type=int, default=20, help="functions to list (0: no profile)")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    dev = torch.device("cpu")
    data = None if a.workload == "bg" else T.data(dev)
    short, long = (int(s) for s in a.lengths.split(","))
    for fn in (T.run_fit, T.run_method_loop):  # warm-up
        fn(a.workload, 20, dev, data)
    print(f"{a.workload}, load average {os.getloadavg()[0]:.2f}")
    diffs = {}
    for steps in (short, long):
        fit, loop = [], []
        for _ in range(a.repeats):
            fit.append(cpu_seconds(T.run_fit, a.workload, steps, dev, data))
            loop.append(cpu_seconds(T.run_method_loop, a.workload, steps, dev, data))
        f, m = statistics.median(fit), statistics.median(loop)
        diffs[steps] = f - m
        print(f"{steps:5d} steps: fit {f * 1e3:8.1f} ms, method loop {m * 1e3:8.1f} ms, fit ÷ loop {f / m:.3f}")
    per_step = (diffs[long] - diffs[short]) / (long - short)
    print(f"fit adds {per_step * 1e6:.0f} µs per step and {(diffs[short] - per_step * short) * 1e3:.1f} ms once")
    if a.profile:
        fit, loop = (own_times(fn, a.workload, long, dev, data) for fn in (T.run_fit, T.run_method_loop))
        rows = sorted((fit.get(k, (0, 0))[0] - loop.get(k, (0, 0))[0], k) for k in fit.keys() | loop.keys())
        print(f"own time, fit − method loop, under cProfile (µs per step; calls per step in fit / loop), {long} steps:")
        for d, k in reversed(rows[-a.profile :]):
            calls = fit.get(k, (0, 0))[1] / long, loop.get(k, (0, 0))[1] / long
            name = f"{k[0].split('site-packages/')[-1].split('src/')[-1]}:{k[1]}({k[2]})"
            print(f"{d / long * 1e6:7.1f}  {calls[0]:5.1f} / {calls[1]:5.1f}  {name}")
    print(f"load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
