"""Kinetic versus overdamped latent samplers on a trained GEBM with a 2-D latent over 25 modes (docs/gebm.md).

For each training seed: train ``configs/gebm_grid25.yaml`` (MLP base z ∈ ℝ² → x ∈ ℝ², 25-mode grid data).
Ground truth: ν(z) ∝ η(z) e^{−E(G(z))} on a 400×400 latent grid over [−5, 5]² (quadrature; η's mass outside
is < 1e-5); each grid point is labelled by the data mode nearest to G(z) (within 0.5, else "outside"), which
gives the exact mode masses of ℚ. All chains start at the same latent point (the grid maximum of ν, inside
one mode) and get the same budget of gradient evaluations: ULA (h), kinetic Langevin (BAOAB, h, γ ∈ {0.1, 1, 10}),
HMC (ε, L leapfrog steps, budget / L iterations). Per chain: distinct modes visited and mode switches
(changes of label between consecutive labelled states); pooled over chains: TV between visited-mode
frequencies (after a 20 % burn-in) and the quadrature masses, and bulk ESS (min over the two coordinates).

    python experiments/gebm_kinetic.py                 # 3 seeds, writes docs/gebm_kinetic.json + figure
    python experiments/gebm_kinetic.py --seeds 0 --steps 300 --budget 200   # smoke run
    python experiments/gebm_kinetic.py --sharpen 100 --step-sizes 0.0001 0.01 0.01 --out docs/gebm_kinetic_beta100.json   # sharpened ν_β
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import torch

from ebmlab.diagnostics import ess_bulk
from ebmlab.experiments import load_experiment_config, run_experiment
from ebmlab.methods.gebm_toys import grid25
from ebmlab.samplers import HMC, ULA, KineticLangevin, sample

ROOT = Path(__file__).resolve().parents[1]
RADIUS = 0.5


def labels(method, z: torch.Tensor) -> torch.Tensor:
    """Mode index of G(z) (nearest grid mode within RADIUS), −1 outside."""
    with torch.no_grad():
        x = method.base(z.float()).double()
    d = torch.cdist(x, grid25().means)
    dist, idx = d.min(1)
    return torch.where(dist <= RADIUS, idx, torch.full_like(idx, -1))


def quadrature(method, beta: float, half: float = 5.0, n: int = 400) -> tuple[torch.Tensor, torch.Tensor]:
    """(mode masses (25,) plus outside mass, grid argmax of ν)."""
    axis = torch.linspace(-half, half, n)
    z = torch.cartesian_prod(axis, axis)
    with torch.no_grad():
        log_nu = -method.latent_target(beta)(z).double()
    p = torch.softmax(log_nu, 0)
    lab = labels(method, z)
    masses = torch.zeros(26, dtype=torch.float64).index_add_(0, lab + 1, p)  # index 0: outside
    return masses, z[log_nu.argmax()]


def chain_stats(method, trace: torch.Tensor, masses: torch.Tensor) -> dict[str, float]:
    """trace: (steps, chains, 2)."""
    t, c, _ = trace.shape
    lab = labels(method, trace.reshape(-1, 2)).reshape(t, c)
    visited, switches = [], []
    for j in range(c):
        seq = lab[:, j][lab[:, j] >= 0]
        visited.append(len(torch.unique(seq)))
        switches.append(int((seq[1:] != seq[:-1]).sum()))
    kept = lab[t // 5 :].reshape(-1)
    freq = torch.zeros(26, dtype=torch.float64).index_add_(0, kept + 1, torch.ones(kept.numel(), dtype=torch.float64))
    freq /= freq.sum()
    ess = ess_bulk(trace[t // 5 :]).min()
    return {
        "modes_visited": statistics.mean(visited),
        "modes_visited_max": max(visited),
        "switches_per_chain": statistics.mean(switches),
        "tv_mode_mass": 0.5 * float((freq - masses).abs().sum()),
        "ess_bulk_min": float(ess),
    }


def samplers(budget: int, h_ula: float, h_kin: float, eps_hmc: float) -> dict[str, tuple[object, int]]:
    out: dict[str, tuple[object, int]] = {f"ula h={h_ula:g}": (ULA(h_ula), budget)}
    for gamma in (0.1, 1.0, 10.0):
        out[f"kinetic h={h_kin:g} γ={gamma:g}"] = (KineticLangevin(h_kin, friction=gamma), budget)
    out[f"hmc ε={eps_hmc:g} L=10"] = (HMC(eps_hmc, n_leapfrog=10), budget // 10)
    return out


def run_seed(
    seed: int, steps: int | None, budget: int, chains: int, beta: float, h: tuple[float, float, float]
) -> dict[str, dict[str, float]]:
    overrides = [f"train.seed={seed}"] + ([f"train.steps={steps}"] if steps else [])
    cfg = load_experiment_config(ROOT / "configs" / "gebm_grid25.yaml", overrides)
    with tempfile.TemporaryDirectory() as tmp:
        method = run_experiment(cfg, Path(tmp) / "run").method
    masses, z_star = quadrature(method, beta)
    target = method.latent_target(beta)
    z0 = z_star.expand(chains, 2).clone()
    out: dict[str, dict[str, float]] = {
        "quadrature": {"outside_mass": float(masses[0]), "start_mode": int(labels(method, z_star[None])[0])}
    }
    for name, (kernel, n_steps) in samplers(budget, *h).items():
        res = sample(target, kernel, z0, n_steps, seed=100 + seed, diagnostics=False)
        out[name] = chain_stats(method, res.samples, masses) | {"accept_rate": res.accept_rate, "iterations": n_steps}
        print(f"seed {seed} {name:22s} " + " ".join(f"{k} {v:.3g}" for k, v in out[name].items()), flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=None, help="training steps (default: the config's)")
    p.add_argument("--budget", type=int, default=2000, help="gradient evaluations per chain")
    p.add_argument("--chains", type=int, default=64)
    p.add_argument("--step-sizes", type=float, nargs=3, default=[0.01, 0.1, 0.1], help="ULA h, kinetic h, HMC ε")
    p.add_argument("--sharpen", type=float, default=1.0, help="β of ν_β ∝ η e^{−βE∘G} (1: the GEBM itself)")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "gebm_kinetic.json")
    args = p.parse_args()
    torch.manual_seed(0)
    per_seed = [
        run_seed(s, args.steps, args.budget, args.chains, args.sharpen, tuple(args.step_sizes)) for s in args.seeds
    ]
    table = {}
    for name in per_seed[0]:
        if name == "quadrature":
            continue
        table[name] = {}
        for key in per_seed[0][name]:
            vals = [s[name][key] for s in per_seed]
            table[name][key] = statistics.mean(vals)
            table[name][key + "_sd"] = statistics.stdev(vals) if len(vals) > 1 else float("nan")
    doc = {
        "seeds": args.seeds,
        "sharpen": args.sharpen,
        "budget": args.budget,
        "chains": args.chains,
        "table": table,
        "per_seed": per_seed,
    }
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    for name, row in table.items():
        print(f"{name:22s} " + " ".join(f"{k} {row[k]:.3g}±{row[k + '_sd']:.2g}" for k in per_seed[0][name]))


if __name__ == "__main__":
    main()
