"""MALA's work beside E+∇E, old log α (x − y + λ∇E(y), two squared norms) against the new short form
(langevin.log_ratio), in one process, interleaved: a block of 16 eager steps whose energy returns cached (E, ∇E),
CPU time per step, min and median over 15 interleaved rounds. Also the block with records off.

    OMP_NUM_THREADS=1 python docs/perf_results/s12_scratch/mala_arith_ab.py
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from ebmlab.energies import energy_and_grad
from ebmlab.samplers import MALA
from ebmlab.samplers.base import clamp_log_alpha_, nonfinite_rows
from ebmlab.samplers.block_steps import block_extras, block_fn, step_fn
from user_energies import build_problem

K = 16


def old_step(eg, lam: float, temp: float = 1.0):
    """The MALA block step before session 12 (block_steps.py at 09461e2), for the A/B only."""
    scale, denom = math.sqrt(2.0 * lam * temp), 4.0 * lam * temp

    def mala(x, e, g, v, noise, u):
        log_u, half_sq_noise = u
        y = x.add(g, alpha=-lam).add_(noise, alpha=scale)
        e_y, g_y = eg(y)
        bad = nonfinite_rows(e_y, g_y)
        back = (x - y).add_(g_y * lam)
        sq = back.reshape(back.shape[0], -1).square_().sum(dim=1)
        d = e - e_y if temp == 1.0 else (e - e_y).div_(temp)
        log_alpha = clamp_log_alpha_(d.sub_(sq.div_(denom)).add_(half_sq_noise), bad)
        acc = log_u < log_alpha
        rows = acc.reshape(acc.shape + (1,) * (x.dim() - 1))
        return torch.where(rows, y, x), torch.where(acc, e_y, e), torch.where(rows, g_y, g), v, log_alpha, bad, None

    return mala


def old_extras(noise, u):
    return torch.log(u), 0.5 * noise.reshape(noise.shape[0], noise.shape[1], -1).square().sum(2)


def main() -> None:
    torch.set_num_threads(1)
    for name, n in (("mlp", 128), ("mlp", 4096), ("many-well", 128), ("many-well", 4096)):
        measure(name, n)


def measure(name: str, n: int) -> None:
    p = build_problem(name)
    x = p.x0(n)
    e, g = energy_and_grad(p.energy, x)

    def cached(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return e, g

    lam = p.step_size
    kernel = MALA(lam)
    old = block_fn(old_step(cached, lam), old_extras, True)
    new = block_fn(step_fn(kernel, cached, lam), *block_extras(kernel))
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(K, *x.shape, generator=gen)
    uniform = torch.rand(K, n, generator=gen)
    variants = {
        "old": lambda: old(x, e, g, None, noise, uniform),
        "new": lambda: new(x, e, g, None, noise, uniform),
        "new, no records": lambda: new(x, e, g, None, noise, uniform, False),
    }
    reps = max(2, 20000 // n)
    times: dict[str, list[float]] = {k: [] for k in variants}
    for fn in variants.values():
        fn()
    for _ in range(15):
        for k, fn in variants.items():
            t0 = time.process_time()
            for _ in range(reps):
                fn()
            times[k].append((time.process_time() - t0) / reps / K * 1e6)
    base = statistics.median(times["old"])
    cells = ", ".join(
        f"{k}: {min(v):.1f} / {statistics.median(v):.1f} µs ({statistics.median(v) / base:.2f}×)"
        for k, v in times.items()
    )
    print(f"{name} / {n}: per step, min / median — {cells}")


if __name__ == "__main__":
    main()
