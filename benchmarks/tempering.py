"""Replica exchange vs plain MALA at the same gradient budget, side by side in one run.

Target: 8 Gaussians (σ = 0.2) on a circle of radius 2 with unequal weights w_k ∝ 2^{−k/2} (k = 0..7), so
that getting the mode weights right needs chains to move between modes. Both samplers start from
N(0, 2²I) and spend the same number of energy-and-gradient evaluations:

* ``ReplicaExchange(MALA(λ), n_rungs=R)`` with n chains per rung: R·n evaluations per round (n of them
  at the exactly-drawn β = 0 rung); the β = 1 rung gives n samples per round;
* plain ``MALA(λ)`` with R·n chains, one step per round;
* a bare PyTorch MALA loop over R·n chains (no ebmlab sampler code) for the time per round,

on the mixture (analytic gradient: tiny per-chain work, so per-operation overhead dominates) and on an
MLP energy 2 → 128 → 128 → 1 (the size used by contrastive divergence on the 2-D toys).

Reported: wall time per round (median of ``--repeats`` runs) and its ratio to the bare loop, and, on the
mixture, the total-variation distance between the exact weights and the samples' mode fractions, averaged over the
last half of the rounds (mean ± s.d. over ``--repeats`` seeds). Run::

    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE python benchmarks/tempering.py
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import format_table, machine_info, time_median, write_json
from ebmlab.energies import MLPEnergy, energy_and_grad
from ebmlab.samplers import MALA, ReplicaExchange
from ebmlab.targets.gmm import GaussianMixture, circle_means


def make_target() -> GaussianMixture:
    w = torch.tensor([2.0 ** (-k / 2) for k in range(8)], dtype=torch.float64)
    return GaussianMixture(circle_means(8, 2.0), 0.2, (w / w.sum()).tolist())


def mode_tv(x: torch.Tensor, target: GaussianMixture) -> float:
    """TV between the exact mode weights and the fractions of ``x`` nearest to each mean."""
    nearest = torch.cdist(x.double(), target.means).argmin(1)
    frac = torch.bincount(nearest, minlength=8).double() / x.shape[0]
    return 0.5 * float((frac - torch.as_tensor(target.weights, dtype=torch.float64)).abs().sum())


def run_tempering(target: Any, n: int, rungs: int, rounds: int, step: float, seed: int) -> torch.Tensor:
    """β = 1 samples of the last half of the rounds."""
    pt = ReplicaExchange(MALA(step), n_rungs=rungs, base_scale=2.0)
    gen = torch.Generator().manual_seed(seed)
    return pt.sample(target, n, 2, rounds - rounds // 2, gen, burn_in=rounds // 2).samples.reshape(-1, 2)


def run_mala(target: Any, n: int, rounds: int, step: float, seed: int) -> torch.Tensor:
    """Samples of the last half of the steps."""
    kernel = MALA(step)
    gen = torch.Generator().manual_seed(seed)
    state = kernel.init(target, 2.0 * torch.randn(n, 2, generator=gen))
    kept = []
    for t in range(rounds):
        state, _ = kernel.step(target, state, gen)
        if t >= rounds // 2:
            kept.append(state.x)
    return torch.cat(kept)


def run_bare(target: Any, n: int, rounds: int, step: float, seed: int) -> None:
    """MALA written out in plain PyTorch (the time floor for one gradient per chain per round); E and ∇E come
    from :func:`ebmlab.energies.energy_and_grad`, i.e. the energy's own analytic or hand-written gradient."""
    gen = torch.Generator().manual_seed(seed)
    x = 2.0 * torch.randn(n, 2, generator=gen)
    e, g = energy_and_grad(target, x)
    for _ in range(rounds):
        xi = torch.randn(x.shape, generator=gen)
        y = x - step * g + math.sqrt(2 * step) * xi
        e_y, g_y = energy_and_grad(target, y)
        back = x - y + step * g_y
        log_a = e - e_y - back.square().sum(1) / (4 * step) + 0.5 * xi.square().sum(1)
        acc = torch.rand(n, generator=gen).log() < log_a
        x = torch.where(acc[:, None], y, x)
        e = torch.where(acc, e_y, e)
        g = torch.where(acc[:, None], g_y, g)


def timing_rows(energy: object, label: str, n: int, r: int, t: int, lam: float, repeats: int) -> list[list[str]]:
    """Time per round of the three samplers on one energy; the ratio is to the bare loop."""
    runs = {
        "replica exchange": (f"{r}×{n}", lambda: run_tempering(energy, n, r, t, lam, 0)),
        "MALA alone": (f"{n * r}", lambda: run_mala(energy, n * r, t, lam, 0)),
        "bare PyTorch MALA loop": (f"{n * r}", lambda: run_bare(energy, n * r, t, lam, 0)),
    }
    times = {name: time_median(fn, repeats=repeats) for name, (_, fn) in runs.items()}
    bare = times["bare PyTorch MALA loop"].median
    return [
        [label, name, chains, f"{1e3 * times[name].median / t:.3f}", f"{times[name].median / bare:.2f}"]
        for name, (chains, _) in runs.items()
    ]


def many_well_ladder(rounds: int = 600, seed: int = 0) -> None:
    """many-well-32, 32 rungs, MALA(0.05), 512 chains per rung: acceptance per rung with one step size and after
    300 rounds of :meth:`ReplicaExchange.adapt`, and the β = 1 rung's left-well fraction against the exact one."""
    from ebmlab.targets import get_target

    target = get_target("many-well-32")
    exact = float((target.sample(20000, generator=torch.Generator().manual_seed(1))[:, 0::2] < 0).double().mean())
    for adapt in (0, 300):
        pt = ReplicaExchange(MALA(0.05), n_rungs=32, base_scale=1.5, beta_min=0.01)
        gen = torch.Generator().manual_seed(seed)
        state = pt.init(target, 512, 32, gen)
        if adapt:
            state = pt.adapt(target, state, adapt, gen)
        result = pt.sample(target, 512, 32, rounds, gen, state=state)
        left = float((result.samples[-1][:, 0::2] < 0).double().mean())
        steps = (
            "one step 0.05"
            if pt.step_sizes is None
            else f"steps {float(pt.step_sizes[0]):.3f} … {float(pt.step_sizes[-1]):.3f}"
        )
        print(
            f"many-well-32, {adapt} adaptation rounds ({steps}): acceptance per rung "
            f"{float(result.accept[1:].max()):.2f} … {float(result.accept[-1]):.2f} (β = 1); "
            f"left-well fraction at β = 1 after {rounds} rounds {left:.3f} (exact {exact:.3f})"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chains", type=int, default=256, help="chains per rung (MALA gets rungs × chains)")
    parser.add_argument("--rungs", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--step", type=float, default=0.02, help="MALA step size λ")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--many-well", action="store_true", help="only the per-rung step-size check on many-well-32")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.many_well:
        many_well_ladder()
        return 0
    target = make_target()
    n, r, t, lam = args.chains, args.rungs, args.rounds, args.step
    torch.manual_seed(0)
    mlp = MLPEnergy(2, (128, 128)).requires_grad_(False)
    rows = timing_rows(target, "8-mode mixture (analytic ∇E)", n, r, t, lam, args.repeats)
    rows += timing_rows(mlp, "MLP 2→128→128→1", n, r, max(t // 5, 1), lam, args.repeats)
    print(format_table(["energy", "sampler", "chains", "ms / round", "× bare loop"], rows))
    tv_pt = [mode_tv(run_tempering(target, n, r, t, lam, s), target) for s in range(args.repeats)]
    tv_mala = [mode_tv(run_mala(target, n * r, t, lam, s), target) for s in range(args.repeats)]

    def fmt(v: list[float]) -> str:
        return f"{statistics.mean(v):.3f} ± {statistics.stdev(v):.3f}" if len(v) > 1 else f"{v[0]:.3f}"

    print()
    print(
        format_table(
            ["sampler (same gradient evaluations)", "mode-weight TV, last half of the rounds"],
            [["replica exchange, β = 1 rung", fmt(tv_pt)], ["MALA alone", fmt(tv_mala)]],
        )
    )
    print(f"{t} rounds; step {lam}; times: medians of {args.repeats} runs; TV: mean ± s.d. over {args.repeats} seeds")
    if args.json:
        write_json(
            args.json,
            {"machine": machine_info(), "args": vars(args), "timing": rows, "tv": {"pt": tv_pt, "mala": tv_mala}},
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
