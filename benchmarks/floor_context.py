"""What one E+∇E costs inside a chain: the floor of ``samplers_user.py`` (back-to-back evaluations at one x) against
the same evaluations with a ULA drift's two elementwise passes between them, with the drift's own time, CPU time,
medians of interleaved rounds. "chain ÷ (floor + drift)" above 1 would be what an evaluation loses to the passes
between evaluations (colder caches); on the project's CPU it was 1.00–1.07 with the tuned allocator
(docs/performance_log.md, "Session 10"): the floor is reachable inside a chain.

    OMP_NUM_THREADS=1 python benchmarks/floor_context.py [--cases mlp:4096,conv:4096,many-well:4096] [--malloc tuned]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import format_table, set_malloc
from ebmlab.energies import energy_and_grad
from user_energies import build_problem


def variants(energy, x: torch.Tensor, steps: int, lam: float, sigma: float) -> dict:
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    g0 = energy_and_grad(energy, x)[1]

    def floor():
        for _ in range(steps):
            energy_and_grad(energy, x)

    def drift_alone():
        for _ in range(steps):
            x.add(g0, alpha=-lam).add_(noise, alpha=sigma)

    def chain():  # ULA's drift, then E+∇E at the new point (fixed noise: no draws in the timing)
        y, g = x, g0
        for _ in range(steps):
            y = y.add(g, alpha=-lam).add_(noise, alpha=sigma)
            g = energy_and_grad(energy, y)[1]

    def drift_then_floor():  # the same passes, but E+∇E always at x: the passes' effect without new positions
        for _ in range(steps):
            x.add(g0, alpha=-lam).add_(noise, alpha=sigma)
            energy_and_grad(energy, x)

    return {
        "floor": floor,
        "drift alone": drift_alone,
        "drift + E+∇E (chain)": chain,
        "drift + E+∇E at x": drift_then_floor,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", default="mlp:4096,conv:4096,many-well:4096", help="energy:chains, comma-separated")
    p.add_argument("--steps", type=int, default=16)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--malloc", default="system", choices=("system", "tuned"))
    a = p.parse_args(argv)
    set_malloc(a.malloc)
    torch.set_num_threads(1)
    print(f"load average {os.getloadavg()[0]:.2f}, malloc {a.malloc}")
    header = ["case", "floor", "drift alone", "floor + drift", "drift + E+∇E (chain)", "drift + E+∇E at x"]
    rows = []
    for case in a.cases.split(","):
        name, chains = case.split(":")
        problem = build_problem(name)
        fns = variants(
            problem.energy, problem.x0(int(chains)), a.steps, problem.step_size, (2 * problem.step_size) ** 0.5
        )
        times: dict[str, list[float]] = {k: [] for k in fns}
        for _ in range(a.rounds):
            for k, fn in fns.items():
                start = time.process_time()
                fn()
                times[k].append((time.process_time() - start) / a.steps * 1e3)
        med = {k: statistics.median(v) for k, v in times.items()}
        base = med["floor"] + med["drift alone"]
        cells = [med["floor"], med["drift alone"], base, med["drift + E+∇E (chain)"], med["drift + E+∇E at x"]]
        rows.append([case, *(f"{c:.3f}" for c in cells), f"{cells[3] / base:.3f}"])
    print(format_table([*header, "chain ÷ (floor + drift)"], rows))
    print(f"ms per step; load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
