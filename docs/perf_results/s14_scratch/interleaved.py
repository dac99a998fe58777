"""Time E+∇E variants interleaved in one process, the order alternating each round: process CPU time and page
faults per call (the session 14 scripts)."""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from collections.abc import Callable

import torch


def setup(rows: bool = False, width: bool = False) -> argparse.Namespace:
    """``--tuned`` (``tune_malloc``), ``--rounds`` and optionally ``--rows`` and ``--width``; one thread."""
    p = argparse.ArgumentParser()
    p.add_argument("--tuned", action="store_true")
    p.add_argument("--rounds", type=int, default=15)
    if rows:
        p.add_argument("--rows", type=int, default=4096)
    if width:
        p.add_argument("--width", type=int, default=256)
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.tuned:
        from ebmlab.allocator import tune_malloc

        print("tune_malloc:", tune_malloc())
    return args


def compare(variants: dict[str, Callable[[torch.Tensor], tuple]], x: torch.Tensor, rounds: int) -> None:
    """Print whether the first two variants give the same bits, then each one's median ms and page faults per call."""
    names = list(variants)
    a, b = (variants[k](x) for k in names[:2])
    print("bits equal:", torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]))
    times: dict[str, list[float]] = {k: [] for k in names}
    faults: dict[str, list[float]] = {k: [] for k in names}
    for r in range(rounds):
        for name in names[r % 2 :] + names[: r % 2]:
            f = variants[name]
            f(x)
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            t = time.process_time()
            for _ in range(10):
                f(x)
            times[name].append((time.process_time() - t) / 10 * 1e3)
            faults[name].append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / 10)
    for name in names:
        v = times[name]
        print(
            f"{name}: median {statistics.median(v):.2f} ms (min {min(v):.2f}, max {max(v):.2f}), "
            f"page faults per call: median {statistics.median(faults[name]):.0f}"
        )
