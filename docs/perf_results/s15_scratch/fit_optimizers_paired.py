"""``fit`` with the three optimiser implementations, rotating in one process on training.py's workloads: the
per-parameter loop (PyTorch's CPU default; ebmlab's before session 15), ``foreach`` (ebmlab's default since session
15, the same bits) and ``train.fused_optimizer: true`` (PyTorch's fused kernels, different rounding). CPU time of
``steps`` steps each; per round the ratio to the loop; medians over rounds. Also the optimiser steps' own CPU time
inside ``fit`` (global optimiser step hooks), which a loaded machine disturbs far less than whole runs.

    OMP_NUM_THREADS=1 python docs/perf_results/s15_scratch/fit_optimizers_paired.py [--rounds 9]   # repository root
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from ebmlab.allocator import tune_malloc
from ebmlab.training import TrainConfig, fit, optim
from training import BATCH, data, make_method

FOREACH = optim.foreach_applies
OPT_TIME = [0.0, 0.0]  # [accumulated optimiser-step CPU seconds, start of the current step]


def _pre(*_: object) -> None:
    OPT_TIME[1] = time.process_time()


def _post(*_: object) -> None:
    OPT_TIME[0] += time.process_time() - OPT_TIME[1]


VARIANTS = ("loop", "foreach", "fused")


def timed(workload: str, variant: str, x: torch.Tensor, steps: int) -> tuple[float, float]:
    """(seconds of the whole fit, seconds inside optimiser steps)."""
    optim.foreach_applies = FOREACH if variant == "foreach" else (lambda params: None)  # type: ignore[assignment]
    try:
        method = make_method(workload, torch.device("cpu"))
        config = TrainConfig(
            steps=steps, batch_size=BATCH, progress=False, log_every=10, fused_optimizer=variant == "fused"
        )
        OPT_TIME[0] = 0.0
        start = time.process_time()
        fit(method, None if workload == "bg" else x, config)
        return time.process_time() - start, OPT_TIME[0]
    finally:
        optim.foreach_applies = FOREACH


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--workloads", default="bg,cd-short-user,cd-short")
    args = p.parse_args()
    torch.set_num_threads(1)
    print("tune_malloc:", tune_malloc())
    x = data(torch.device("cpu"))
    register_optimizer_step_pre_hook(_pre)
    register_optimizer_step_post_hook(_post)
    for workload in args.workloads.split(","):
        for variant in VARIANTS:
            timed(workload, variant, x, 20)  # warm-up
        per_step: dict[str, list[float]] = {v: [] for v in VARIANTS}
        opt_step: dict[str, list[float]] = {v: [] for v in VARIANTS}
        ratios: dict[str, list[float]] = {v: [] for v in VARIANTS[1:]}
        for r in range(args.rounds):
            order = VARIANTS[r % 3 :] + VARIANTS[: r % 3]  # each variant first, middle and last in turn
            both = {v: timed(workload, v, x, args.steps) for v in order}
            t = {v: both[v][0] for v in VARIANTS}
            for v in VARIANTS:
                per_step[v].append(t[v] / args.steps)
                opt_step[v].append(both[v][1] / args.steps)
            for v in ratios:
                ratios[v].append(t[v] / t["loop"])
        line = ", ".join(f"{v} {statistics.median(per_step[v]) * 1e3:.2f}" for v in VARIANTS)
        paired = ", ".join(
            f"{v} ÷ loop {statistics.median(r):.3f} ({min(r):.3f}–{max(r):.3f})" for v, r in ratios.items()
        )
        inside = ", ".join(f"{v} {statistics.median(opt_step[v]) * 1e3:.3f}" for v in VARIANTS)
        print(f"{workload}: ms per step {line}; paired medians {paired}; optimiser steps inside fit, ms: {inside}")


if __name__ == "__main__":
    main()
