"""Evaluation noise vs training noise of D̂ for stored Gaussian runs (issue 12: single runs within 1 %).

    PYTHONPATH=src OMP_NUM_THREADS=1 python experiments/rd_eval_noise.py [--results scalar_eba] [--seeds 3]

For every run in docs/results_rd_<results>.json the learned marginal r (stored moments) is re-evaluated by
``evaluate_eba`` with ``--seeds`` evaluation seeds at 200 000 y each (the earlier evaluation size) and once
with the default precision target (SE(D̂)/D̂ ≤ ``D_REL_SE``). The exact D and R(D̂) of r (closed form,
``dual_gaussian``) are the infinite-evaluation limit: D̂ − D_exact is the evaluation's error, D_exact − D* the
training's. Writes docs/results_rd_eval_noise_<results>.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

import ebmlab.experiments.rate_distortion as rdx
from ebmlab.methods.eba import EBA
from ebmlab.ratedistortion import GaussianSource, gaussian_rate_at
from ebmlab.ratedistortion.dual_gaussian import gaussian_dual_terms

DOCS = Path(__file__).resolve().parents[1] / "docs"


def one_run(r: dict[str, Any], variances: list[float], n_seeds: int) -> dict[str, Any]:
    beta = r["beta"]
    v = torch.tensor(r["cond_var"], dtype=torch.float64)
    loc, var = torch.tensor(r["marg_loc"], dtype=torch.float64), v / (1 - 2 * beta * v)
    exact = gaussian_dual_terms(variances, loc, var, beta)
    d_star = r["distortion_closed_form"]
    m = EBA(GaussianSource(variances), "squared", beta, variant="ba")
    m.energy.set_moments(loc.float(), var.sqrt().float())

    def rel(d: float) -> float:
        return d / d_star - 1

    target, evals = rdx.D_REL_SE, []
    rdx.D_REL_SE = None  # type: ignore[assignment]  # the earlier evaluation: 200 000 y
    try:
        for s in range(n_seeds):
            b = rdx.evaluate_eba(m, 5000 + s)
            evals.append({"seed": 5000 + s, "d_rel": rel(b.distortion), "rate": b.rate_upper})
    finally:
        rdx.D_REL_SE = target
    t0 = time.process_time()
    b = rdx.evaluate_eba(m, 6000)
    return {
        "seed": r["seed"],
        "beta": beta,
        "d_rel_stored": rel(r["distortion"]),
        "d_rel_exact": rel(exact["distortion"]),
        "r_err_exact": exact["upper"] - gaussian_rate_at(variances, exact["distortion"]),
        "d_rel_200k": [e["d_rel"] for e in evals],
        "d_rel_precise": rel(b.distortion),
        "d_se_rel_precise": b.distortion_se / b.distortion,
        "r_err_precise": b.rate_upper - gaussian_rate_at(variances, b.distortion),
        "cpu_seconds_precise": time.process_time() - t0,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", default="scalar_eba")
    ap.add_argument("--seeds", type=int, default=3, help="evaluation seeds at 200 000 y per run")
    args = ap.parse_args()
    data = json.loads((DOCS / f"results_rd_{args.results}.json").read_text())
    variances = {"scalar": [1.0], "2d": [1.0, 0.5]}[args.results.split("_")[0]]
    out = []
    for r in data["runs"]:
        out.append(one_run(r, variances, args.seeds))
        o = out[-1]
        print(
            f"seed {o['seed']}: ΔD/D* stored {100 * o['d_rel_stored']:+.3f} %, exact {100 * o['d_rel_exact']:+.3f} %, "
            f"200k y: {', '.join(f'{100 * x:+.3f}' for x in o['d_rel_200k'])} %, precise {100 * o['d_rel_precise']:+.3f} "
            f"% (SE {100 * o['d_se_rel_precise']:.3f} %); ΔR exact {o['r_err_exact']:+.2e}, precise {o['r_err_precise']:+.2e}",
            flush=True,
        )
    spread = [statistics.stdev(o["d_rel_200k"]) for o in out]
    result = {
        "command": "python experiments/rd_eval_noise.py " + " ".join(sys.argv[1:]),
        "runs": out,
        "sd_over_eval_seeds_200k_mean": statistics.mean(spread),
        "sd_exact_over_runs": statistics.stdev(o["d_rel_exact"] for o in out),
    }
    (DOCS / f"results_rd_eval_noise_{args.results}.json").write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}))


if __name__ == "__main__":
    main()
