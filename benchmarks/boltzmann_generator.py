"""Boltzmann generator with NICE (seed 004): every number and figure of docs/boltzmann_generator.md.

Sections (all by default):

* ``double-well``  seed 004's example U = x⁴ − 4x² + x from ``configs/bg_double_well.yaml`` (z ∈ ℝ², annealed),
  the same without annealing, and D = 1; log C by importance sampling, the bounds against their floors,
  and the figure ``bg_double_well.png`` (U recovered by direct sampling and by importance reweighting);
* ``latent-dims``  seed Remark 2: J_R for D = 1, 2, 3, 4 and the chosen D;
* ``many-well``    ``configs/bg_many_well_32.yaml``: NICE, RealNVP, and NICE with a forward-KL term on exact
  samples; log Z error, SE, ESS, left/right well occupancy and distinct modes;
* ``gmm``          ``configs/bg_gmm_40.yaml``: the same three variants; log Z error, SE, ESS, mode coverage.

    python benchmarks/boltzmann_generator.py                    # everything (about 15 min on 2 busy cores)
    python benchmarks/boltzmann_generator.py double-well latent-dims
    python benchmarks/boltzmann_generator.py --quick            # smoke test (few steps; numbers meaningless)

Writes ``docs/figures/bg_double_well.png`` and ``docs/figures/boltzmann_generator.json`` (see ``--figures``,
``--json``; ``--quick`` writes neither unless they are given). Every run is seeded: the same command gives
the same numbers on the same machine and torch. A rerun of some sections keeps the others in the JSON.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from scipy import optimize

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import format_table, machine_info, write_json
from ebmlab.experiments import build_experiment, load_experiment_config
from ebmlab.methods.boltzmann_generator import BoltzmannGenerator
from ebmlab.methods.boltzmann_generator_tools import many_well_mode_stats, recover_potential, select_latent_dim
from ebmlab.training import fit

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
SECTIONS = ("double-well", "latent-dims", "many-well", "gmm")
LOG_2PI = math.log(2 * math.pi)
ANCHOR_MANY_WELL = 0.03  # published: flow-based AIS (FAB), mean absolute log Z error on Many-Well-32


# -- helpers -------------------------------------------------------------------------------------------
def _deep_update(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_update(out[key], value)
        else:
            out[key] = value
    return out


def train_config(name: str, changes: dict[str, Any], quick: bool) -> tuple[BoltzmannGenerator, Any, float]:
    """Build ``configs/<name>`` with ``changes`` and fit it (no evaluation hook); returns (bg, target, s)."""
    raw = yaml.safe_load((CONFIGS / name).read_text())
    raw = _deep_update(raw, changes)
    raw["train"] = {**raw["train"], "progress": False}
    raw.pop("eval", None)
    if quick:
        raw["train"]["steps"] = 200
        if raw["method"].get("anneal_steps"):
            raw["method"]["anneal_steps"] = 100
    config = load_experiment_config(raw)
    experiment = build_experiment(config)
    t0 = time.perf_counter()
    fit(experiment.method, experiment.data, config.train)
    experiment.method.eval()
    return experiment.method, experiment.energy, time.perf_counter() - t0


def evaluate(bg: BoltzmannGenerator, target: Any, n: int, seed: int = 1) -> dict[str, Any]:
    """IS log Z (value, SE, ESS, Pareto k̂, error, z-score) and the bounds L, J_R = L + log C, Ĵ."""
    est = bg.estimate_log_z(n, torch.Generator().manual_seed(seed))
    bound = bg.free_energy_bound(n, torch.Generator().manual_seed(seed + 1))
    log_c = target.log_z()
    d, big_d = bg.dim, bg.latent_dim
    h_z = 0.5 * big_d * (1 + LOG_2PI)
    return {
        "log_z": est.value,
        "log_z_se": est.stderr,
        "ess": est.ess,
        "ess_fraction": est.ess / n,
        "pareto_k": est.details.get("pareto_k"),
        "log_z_true": log_c,
        "log_z_error": est.value - log_c,
        "z_score": est.z_score(log_c),
        "L": bound.value,
        "L_se": bound.stderr,
        "J_R": bound.value + log_c,  # the KL bound in nats (J for D = d)
        # seed convention: Ĵ (D = d) or Ĵ_R without the ½(D − d) log 2π of −log P̂; same mean as below
        "J_hat": bound.value + h_z - 0.5 * (big_d - d) * LOG_2PI,
        "J_hat_floor": h_z - 0.5 * (big_d - d) * LOG_2PI - log_c,
        "n": n,
    }


def _fmt(x: float, digits: int = 4) -> str:
    return f"{x:.{digits}f}"


# -- double well (seed 004's example) ------------------------------------------------------------------
def best_gaussian_j() -> float:
    """min over Gaussians N(m, s²) of Ĵ = E[U(m + s z)] − log s (Gauss–Hermite, 60 nodes; Nelder–Mead)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(60)
    weights = weights / weights.sum()

    def j(p: np.ndarray) -> float:
        x = p[0] + math.exp(p[1]) * nodes
        return float(weights @ (x**4 - 4 * x**2 + x)) - p[1]

    return float(optimize.minimize(j, x0=[-1.4, -1.0], method="Nelder-Mead", options={"xatol": 1e-9}).fun)


def section_double_well(quick: bool, n: int, figures: Path | None) -> dict[str, Any]:
    variants = {
        "D=2, annealed (config)": {},
        "D=2, plain reverse KL": {"method": {"anneal_steps": 0}},
        "D=1 (Gaussian), plain": {"method": {"latent_dim": 1, "anneal_steps": 0}},
        "D=2, plain, 4 couplings, lr 3e-3, 1000 steps": {
            "method": {"anneal_steps": 0, "n_couplings": 4},
            "train": {"steps": 1000, "lr": 0.003},
        },
    }
    out: dict[str, Any] = {"variants": {}, "best_gaussian_J_hat": best_gaussian_j()}
    models = {}
    for name, changes in variants.items():
        bg, target, seconds = train_config("bg_double_well.yaml", changes, quick)
        res = evaluate(bg, target, n)
        x = bg.sample(n, torch.Generator().manual_seed(3))
        res["right_well_fraction"] = float((x[:, 0] > target.barrier).double().mean())
        res["train_seconds"] = seconds
        out["variants"][name] = res
        models[name] = bg
    out["right_well_mass_exact"] = 1 - target.left_well_mass()
    rows = [
        [
            k,
            f"{v['log_z']:.4f} ± {v['log_z_se']:.4f}",
            f"{v['z_score']:+.1f}",
            f"{v['ess_fraction']:.2f}",
            f"{v['L']:.4f} ± {v['L_se']:.4f}",
            _fmt(v["J_R"]),
            f"{v['J_hat']:.4f} (floor {v['J_hat_floor']:.4f})",
            f"{v['right_well_fraction']:.4f}",
            f"{v['train_seconds']:.0f}",
        ]
        for k, v in out["variants"].items()
    ]
    print(f"\n## double-well (log C = {target.log_z():.6f}, right-well mass {out['right_well_mass_exact']:.4f})\n")
    header = ["model", "log Ĉ (IS)", "z", "ESS/n", "L = J_R − log C", "J_R", "Ĵ", "right-well frac", "train s"]
    print(format_table(header, rows))
    print(f"\nbest Gaussian (D = 1) Ĵ = {out['best_gaussian_J_hat']:.6f}; floor −3.613345")
    if figures is not None:
        _figure_double_well(models, target, n, figures / "bg_double_well.png", out)
    return out


def _figure_double_well(models: dict[str, BoltzmannGenerator], target: Any, n: int, path: Path, out: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.linspace(-2.5, 2.5, 400)
    u_true = grid**4 - 4 * grid**2 + grid
    curves = {
        k: recover_potential(bg, n, bins=60, value_range=(-2.5, 2.5), generator=torch.Generator().manual_seed(4))
        for k, bg in models.items()
        if k in ("D=2, annealed (config)", "D=2, plain reverse KL")
    }
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    for ax, which, title in zip(
        axes,
        ("u_direct", "u_importance"),
        ("(a) direct sampling from P(x)", "(b) importance sampling, proposal P(x)"),
        strict=True,
    ):
        ax.plot(grid, u_true, color="black", lw=1.5, label="true U")
        for (k, c), style in zip(
            curves.items(), (dict(color="red", lw=1.5), dict(color="tab:blue", lw=1, ls="--")), strict=True
        ):
            ax.plot(c.centers, getattr(c, which), label=k, **style)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("x")
        ax.set_ylim(-7, 6)
    axes[0].set_ylabel("U(x)  (offset by log Ĉ, not fitted)")
    axes[1].legend(fontsize=8, loc="upper center")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    out["figure"] = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    print(f"\nfigure: {out['figure']} ({path.stat().st_size // 1024} KB)")


# -- seed Remark 2: choose D by the smallest J_R -------------------------------------------------------
def section_latent_dims(quick: bool, n: int) -> dict[str, Any]:
    raw = yaml.safe_load((CONFIGS / "bg_double_well.yaml").read_text())
    method = {k: v for k, v in raw["method"].items() if k not in ("name", "latent_dim")}
    train = raw["train"]
    steps = 200 if quick else int(train["steps"])
    if quick:
        method["anneal_steps"] = 100
    from ebmlab.targets import get_target

    target = get_target("double-well")
    t0 = time.perf_counter()
    sel = select_latent_dim(
        target,
        1,
        (1, 2, 3, 4),
        steps=steps,
        lr=float(train["lr"]),
        n_eval=n,
        seed=int(train["seed"]),
        log_z=target.log_z(),
        **method,
    )
    rows, table = [], []
    for big_d, bound in sorted(sel.bounds.items()):
        res = evaluate(sel.models[big_d], target, n, seed=5)
        table.append(
            {
                "D": big_d,
                "L": bound.value,
                "L_se": bound.stderr,
                "J_R": bound.value + target.log_z(),
                **{k: res[k] for k in ("log_z", "log_z_se", "J_hat", "J_hat_floor")},
            }
        )
        rows.append(
            [
                big_d,
                f"{bound.value:.4f} ± {bound.stderr:.4f}",
                f"{bound.value + target.log_z():.4f}",
                f"{res['J_hat']:.4f} (floor {res['J_hat_floor']:.4f})",
                f"{res['log_z']:.4f} ± {res['log_z_se']:.4f}",
            ]
        )
    print("\n## latent dimension (seed Remark 2; double-well, config hyper-parameters)\n")
    print(format_table(["D", "L = J_R − log C", "J_R", "Ĵ_R (seed convention)", "log Ĉ (IS)"], rows))
    print(f"\nchosen D = {sel.best} (smallest L); {time.perf_counter() - t0:.0f} s")
    return {"table": table, "best": sel.best}


# -- harder targets ------------------------------------------------------------------------------------
def section_many_well(quick: bool, n: int) -> dict[str, Any]:
    data = {"name": "target", "target": "many-well-32", "n": 100_000}
    variants = {
        "NICE": {},
        "RealNVP": {"method": {"flow": "realnvp"}},
        "NICE + forward KL (exact samples)": {"method": {"forward_kl_weight": 1.0}, "data": data},
    }
    out: dict[str, Any] = {"variants": {}, "anchor_mae": ANCHOR_MANY_WELL}
    rows = []
    for name, changes in variants.items():
        bg, target, seconds = train_config("bg_many_well_32.yaml", changes, quick)
        res = evaluate(bg, target, n)
        stats = many_well_mode_stats(bg.sample(n, torch.Generator().manual_seed(3)), target)
        res.update({k: v for k, v in stats.items()}, train_seconds=seconds)
        out["variants"][name] = res
        rows.append(
            [
                *_estimate_cells(name, res),
                f"{stats['pairs_both_wells']}/16",
                f"{stats['occupancy_mae']:.3f}",
                f"{stats['distinct_modes']}",
                f"{seconds:.0f}",
            ]
        )
    out["missed_mass_if_all_left"] = 16 * math.log(stats["left_mass_exact"])
    print(
        f"\n## many-well-32 (log Z = {target.log_z():.6f}; exact left-well mass per pair "
        f"{stats['left_mass_exact']:.4f}; all-left log-mass {out['missed_mass_if_all_left']:.4f})\n"
    )
    print(
        format_table(
            [
                *ESTIMATE_HEADER,
                "pairs w/ both wells",
                "occupancy MAE",
                "distinct modes",
                "train s",
            ],
            rows,
        )
    )
    return out


def _gmm_balance(target: Any, x: torch.Tensor) -> dict[str, Any]:
    means = target.means.to(torch.float64)
    d = torch.cdist(x.double(), means)
    nearest = d.argmin(1)
    near = d.min(1).values <= 3.0
    counts = torch.bincount(nearest[near], minlength=target.n_components).double()
    share = counts / x.shape[0]
    return {
        "mode_coverage": target.mode_coverage(x),
        "modes_with_10pct_share": int((share >= 0.1 / target.n_components).sum()),
        "largest_mode_share": float(share.max()),
    }


def section_gmm(quick: bool, n: int) -> dict[str, Any]:
    data = {"name": "target", "target": "gmm-40", "n": 100_000}
    variants = {
        "NICE": {},
        "RealNVP": {"method": {"flow": "realnvp"}},
        "NICE + forward KL (exact samples)": {"method": {"forward_kl_weight": 1.0}, "data": data},
    }
    out: dict[str, Any] = {"variants": {}}
    rows = []
    for name, changes in variants.items():
        bg, target, seconds = train_config("bg_gmm_40.yaml", changes, quick)
        res = evaluate(bg, target, n)
        res.update(_gmm_balance(target, bg.sample(n, torch.Generator().manual_seed(3))), train_seconds=seconds)
        out["variants"][name] = res
        rows.append(
            [
                *_estimate_cells(name, res),
                f"{res['mode_coverage']:.3f}",
                f"{res['modes_with_10pct_share']}/40",
                f"{seconds:.0f}",
            ]
        )
    print("\n## gmm-40 (log Z = 0)\n")
    print(
        format_table(
            [
                *ESTIMATE_HEADER,
                "mode coverage",
                "modes ≥ 10% of share",
                "train s",
            ],
            rows,
        )
    )
    return out


#: the columns the many-well-32 and gmm-40 tables start with, and their cells
ESTIMATE_HEADER = ["model", "log Z err", "SE", "z", "ESS/n", "k̂", "J_R (KL bound)"]


def _estimate_cells(name: str, res: dict[str, Any]) -> list[str]:
    return [
        name,
        f"{res['log_z_error']:+.3f}",
        f"{res['log_z_se']:.4f}",
        f"{res['z_score']:+.0f}",
        f"{res['ess_fraction']:.3f}",
        f"{res['pareto_k']:.2f}",
        f"{res['J_R']:.3f}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sections", nargs="*", choices=[*SECTIONS, []], help="sections to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="few training steps and samples (smoke test)")
    parser.add_argument("--n", type=int, default=100_000, help="evaluation samples per estimate")
    parser.add_argument(
        "--figures", type=Path, default=None, help="figure directory (default docs/figures; none with --quick)"
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="results JSON (default: FIGURES/boltzmann_generator.json)"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    sections = args.sections or list(SECTIONS)
    n = 5000 if args.quick else args.n
    figures = args.figures if args.figures is not None or args.quick else ROOT / "docs" / "figures"
    results: dict[str, Any] = {"machine": machine_info(), "quick": args.quick, "n_eval": n}
    t0 = time.perf_counter()
    if "double-well" in sections:
        results["double_well"] = section_double_well(args.quick, n, figures)
    if "latent-dims" in sections:
        results["latent_dims"] = section_latent_dims(args.quick, n)
    if "many-well" in sections:
        results["many_well"] = section_many_well(args.quick, n)
    if "gmm" in sections:
        results["gmm"] = section_gmm(args.quick, n)
    results["seconds"] = time.perf_counter() - t0
    path = args.json or ROOT / "docs" / "figures" / "boltzmann_generator.json"
    if not args.quick or args.json:
        if path.exists():  # keep the sections not rerun
            results = {**json.loads(path.read_text()), **results}
        write_json(path, results)
        print(f"\nresults: {path}")
    print(f"total {results['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
