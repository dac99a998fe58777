"""MALA's block step with the row test (before: finite_rows over E and ∇E, then masked_fill + nan_to_num + clamp)
against the log-α test (after: base.clamp_log_alpha_), in one process, alternating, CPU time; the rest of the
step is the library's own (block_steps.step_fn). Both give the same chains here (checked). Energies: mog8 and
MLPEnergy(64, (256, 256)) at 128 chains, and mog8 at 4096.

    OMP_NUM_THREADS=1 python docs/perf_results/s21/mh_test_inproc.py [rounds]
"""

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from ebmlab.energies import energy_and_grad
from ebmlab.samplers import MALA
from ebmlab.samplers.base import row_sums, select
from ebmlab.samplers.block_steps import step_fn
from ebmlab.samplers.langevin import log_ratio
from user_energies import build_problem

torch.set_num_threads(1)
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 15


def before(lam: float, eg):
    """The MALA block step of b344f5c, op for op."""
    scale = (2.0 * lam) ** 0.5

    def mala(x, e, g, v, noise, u):
        (log_u,) = u
        y = x.add(g, alpha=-lam).add_(noise, alpha=scale)
        e_y, g_y = eg(y)
        s = row_sums(e_y, g_y)
        bad = (s - s) != 0
        log_alpha = (
            log_ratio(e, e_y, g, g_y, noise, lam, 1.0)
            .masked_fill_(bad, -float("inf"))
            .nan_to_num_(nan=-float("inf"), neginf=-float("inf"))
            .clamp_(max=0.0)
        )
        acc = log_u < log_alpha
        return select(acc, y, x, fresh=True), torch.where(acc, e_y, e), select(acc, g_y, g), v, log_alpha, bad, None

    return mala


def run(step, x, e, g, noise, log_u):
    for t in range(noise.shape[0]):
        x, e, g, *_ = step(x, e, g, None, noise[t], (log_u[t],))
    return x


for name, chains in (("mog8", 128), ("mlp", 128), ("mog8", 4096)):
    problem = build_problem(name)
    energy, dim, lam = problem.energy, problem.event[0], problem.step_size
    gen = torch.Generator().manual_seed(0)
    x0 = problem.x0(chains)
    e0, g0 = energy_and_grad(energy, x0)
    n = 200
    noise = torch.randn(n, chains, dim, generator=gen)
    log_u = torch.rand(n, chains, generator=gen).log()
    eg = lambda x, energy=energy: energy_and_grad(energy, x)  # noqa: E731
    steps = {"before": before(lam, eg), "after": step_fn(MALA(lam), eg, lam)}
    outs = {k: run(s, x0, e0, g0, noise, log_u) for k, s in steps.items()}
    assert torch.equal(outs["before"], outs["after"]), "the two steps differ"
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(rounds):
        for k, s in steps.items():
            start = time.process_time()
            run(s, x0, e0, g0, noise, log_u)
            times[k].append((time.process_time() - start) / n * 1e6)
    ratio = [a / b for a, b in zip(times["after"], times["before"], strict=True)]
    print(
        f"{name}/{chains}: before {statistics.median(times['before']):.1f} µs/step (min {min(times['before']):.1f}), "
        f"after {statistics.median(times['after']):.1f} (min {min(times['after']):.1f}); "
        f"after ÷ before per round: median {statistics.median(ratio):.3f}, range {min(ratio):.3f}–{max(ratio):.3f}"
    )
