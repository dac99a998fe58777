"""Is the band's SE the SE of the comparison it is used for? (issue 12, session 7 finding)

    PYTHONPATH=src OMP_NUM_THREADS=1 python experiments/rd_band_se.py [--results scalar_eba_const] [--n 2000000]

The band check compares the upper bound Û = mean_y(−βd(y) − ln Z_r(y)) with the closed form at D̂ = mean_y d(y),
both from the same y draws. ``rd_bounds`` widens Û's SE by β·SE(D̂) in quadrature, i.e. it treats Û and D̂ as
independent. Along the curve R(D̂) moves by −β*·ΔD̂ with β* = −R′(D̂) ≈ β, so the compared quantity is
Û + β*D̂ = mean_y(−ln Z_r(y) + (β* − β) d(y)), whose per-draw sd is printed beside the band's (hypot) one for each
learned marginal of a Gaussian results file (exact Z_r; fresh draws of the source, seed 0), and the closed form's
place against the stored band's upper edge with the stored SE rescaled by that ratio (the corrected band, without
re-evaluating; ``rd_bounds`` computes it directly since session 7: ``ratedistortion.bounds.upper_bound``).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch

from ebmlab.ratedistortion import GaussianSource, gaussian_marginal_terms, gaussian_rate_at

DOCS = Path(__file__).resolve().parents[1] / "docs"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", default="scalar_eba_const")
    ap.add_argument("--variances", default="1.0", help="the source's variances (comma-separated)")
    ap.add_argument("--n", type=int, default=2_000_000)
    args = ap.parse_args()
    src = GaussianSource([float(v) for v in args.variances.split(",")])
    y = src.sample(args.n, torch.Generator().manual_seed(0)).double()
    print(
        "| β | seed | per-draw sd used by the band (hypot) | sd of the compared quantity | ratio | "
        "R(D̂) − (Û + 2 SE): stored / corrected (×10³ nats) | in band, corrected |\n|---|---|---|---|---|---|---|"
    )
    for r in json.loads((DOCS / f"results_rd_{args.results}.json").read_text())["runs"]:
        beta, v = r["beta"], torch.tensor(r["cond_var"], dtype=torch.float64)
        loc, var = torch.tensor(r["marg_loc"], dtype=torch.float64), v / (1 - 2 * beta * v)  # v = s²/(1 + 2βs²)
        log_z, d = gaussian_marginal_terms(loc, var, beta, False)(y)
        u = -beta * d - log_z
        d_hat, h, variances = float(d.mean()), 1e-5, [float(v) for v in args.variances.split(",")]
        slope = (gaussian_rate_at(variances, d_hat - h) - gaussian_rate_at(variances, d_hat + h)) / (2 * h)  # β*
        band = math.hypot(float(u.std()), beta * float(d.std()))
        paired = float((u + slope * d).std())
        ratio, cf = paired / band, r["rate_closed_form"]
        old = cf - (r["rate"] + 2 * r["rate_se"])  # > 0: outside the stored band's upper edge
        new = cf - (r["rate"] + 2 * r["rate_se"] * ratio)  # the stored SE rescaled by the per-draw sd ratio
        inside = r["rate_lower"] <= cf and new <= 0
        print(
            f"| {beta:g} | {r['seed']} | {band:.4f} | {paired:.4f} | {ratio:.3f} | {1e3 * old:+.3f} / {1e3 * new:+.3f} "
            f"| {'yes' if inside else 'NO'} |"
        )


if __name__ == "__main__":
    main()
