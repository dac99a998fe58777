"""The density c-estimator on a non-Gaussian 40-D source, against Csiszár's bound in closed form.

    PYTHONPATH=src OMP_NUM_THREADS=1 python experiments/rd_density_mixture40.py [--f 0.5,0.8] [--tag T]

Source: independent components y_k = ±μ_k + N(0, s_k²) (equal weights), μ_k² = f σ_k², s_k² = (1 − f) σ_k², with the
40-D variances σ_k² = 4e^{−k} (f = 0 is the Gaussian source). The proposal of ``density_c`` (a Gaussian moment fit
times the tilt) is then not the integrand: the weights p/q correct it, and their ESS falls with f and with the
number of coordinates the tilt leaves to the moment fit (the switched-off ones). For a Gaussian r = N(μ_r, diag v)
every term of the bound is closed form: E_y ln Z_r and D̂ depend on y through its first two moments (as for the
Gaussian source), and per component and source mode m, with a = 1 + 2βv,

    ln c_m(x) = ½ ln a − ½ ln(s²P) + L²/(2P) + C₀,   P = 1/s² + 4β²v/a,   L = m/s² + 2βx − 2βμ_r/a,
    C₀ = −m²/(2s²) − βx² + βμ_r²/a;   c_k = ½(c_{+μ} + c_{−μ}),   sup c = Π_k sup c_k

(a 1-D search per component: a grid, then two finer grids around the best point). r: the stored learned 40-D
marginals (fitted to the Gaussian source — Csiszár's bound holds for any r). Reported per run: lower − 2 SE from
``evaluate_eba(..., log_prob=)`` against the exact bound of the same widened r at the same D̂ (sound iff ≤), the
weights' ESS, and R_G(D̂) of the Gaussian source with the same variances (the largest R(D) at those variances, so
an upper reference for this source's R(D̂)). Writes docs/results_rd_density_mixture40<tag>.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ebmlab.experiments.rate_distortion import Z_BAND, evaluate_eba
from ebmlab.methods.eba import EBA
from ebmlab.ratedistortion import Source, gaussian_rate_at
from ebmlab.ratedistortion.dual_gaussian import gaussian_dual_terms

DOCS = Path(__file__).resolve().parents[1] / "docs"
VAR40 = [4 * math.exp(-k) for k in range(40)]
RUNS = ("40d_b1", "40d_b1_s2", "40d_b30", "40d_b30_s2", "40d_b1000", "40d_b1000_s2")


class MixtureProductSource(Source):
    """y_k = ±μ_k + N(0, s_k²) independently, μ_k² = f σ_k², s_k² = (1 − f) σ_k² (module doc); has ``log_prob``."""

    def __init__(self, variances: list[float], f: float) -> None:
        sig2 = torch.tensor(variances, dtype=torch.float64)
        self.mu, self.s2, self.dim, self.name = (f * sig2).sqrt(), (1 - f) * sig2, len(variances), f"mixture{f:g}"

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        sign = torch.randint(0, 2, (n, self.dim), generator=generator).double() * 2 - 1
        return sign * self.mu + self.s2.sqrt() * torch.randn(n, self.dim, generator=generator, dtype=torch.float64)

    def log_prob(self, y: Tensor) -> Tensor:
        lp = [-0.5 * (y - m).square() / self.s2 - 0.5 * torch.log(2 * math.pi * self.s2) for m in (self.mu, -self.mu)]
        return (torch.logaddexp(*lp) - math.log(2)).sum(-1)


def log_c_k(x: Tensor, src: MixtureProductSource, loc: Tensor, var: Tensor, beta: float) -> Tensor:
    """ln c_k(x_k) per component for x (n, d), exact (module doc)."""
    a, s2 = 1 + 2 * beta * var, src.s2
    p = 1 / s2 + 4 * beta**2 * var / a
    parts = []
    for m in (src.mu, -src.mu):
        lin = m / s2 + 2 * beta * x - 2 * beta * loc / a
        c0 = -m.square() / (2 * s2) - beta * x.square() + beta * loc.square() / a
        parts.append(0.5 * a.log() - 0.5 * (s2 * p).log() + lin.square() / (2 * p) + c0)
    return torch.logaddexp(*parts) - math.log(2)


def exact_log_sup(src: MixtureProductSource, loc: Tensor, var: Tensor, beta: float) -> float:
    """Σ_k max_x ln c_k(x): a grid over ±(6σ_k + 6/√β + |μ_r|), then two finer grids around the maximiser;
    +inf where the maximiser sits on the grid's edge (c_k unbounded)."""
    sig = (src.s2 + src.mu.square()).sqrt()
    half = 6 * sig + 6 / math.sqrt(beta) + loc.abs()
    t = torch.linspace(-1, 1, 4001, dtype=torch.float64)[:, None]
    x = t * half
    vals = log_c_k(x, src, loc, var, beta)
    idx = vals.argmax(0)
    if bool(((idx == 0) | (idx == len(t) - 1)).any()):
        return math.inf
    best, step = x[idx, torch.arange(src.dim)], half * 2 / 4000
    for _ in range(2):
        x = best + t * step
        vals = log_c_k(x, src, loc, var, beta)
        best, step = x[vals.argmax(0), torch.arange(src.dim)], step * 2 / 4000
    return float(log_c_k(best[None], src, loc, var, beta).sum())


def one_run(r: dict[str, Any], f: float) -> dict[str, Any]:
    src, beta, seed = MixtureProductSource(VAR40, f), r["beta"], r["seed"]
    v = torch.tensor(r["cond_var"], dtype=torch.float64)
    loc, var = torch.tensor(r["marg_loc"], dtype=torch.float64), v / (1 - 2 * beta * v)
    m = EBA(src, "squared", beta, variant="ba")
    m.energy.set_moments(loc.float(), var.sqrt().float())
    t0, c0 = time.perf_counter(), time.process_time()
    b = evaluate_eba(m, seed + 1000, log_prob=src.log_prob)
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    w = float(b.search.rsplit("r widened x", 1)[1]) if "r widened x" in b.search else 1.0
    terms = gaussian_dual_terms(VAR40, loc, var * w, beta)  # E ln Z_r: the source's first two moments only
    log_sup = exact_log_sup(src, loc, var * w, beta)
    lower_exact = -beta * b.distortion - terms["mean_log_z"] - log_sup
    lower = b.rate_lower - Z_BAND * b.rate_lower_se
    return {
        "f": f,
        "beta": beta,
        "seed": seed,
        "lower_reported": lower,
        "refused": b.rate_lower == 0.0,
        "lower_exact_same_r": lower_exact,
        "sound": lower <= lower_exact,
        "upper_reported": b.rate_upper + Z_BAND * b.rate_upper_se,
        "rate_gaussian_at_d_hat": gaussian_rate_at(VAR40, b.distortion),
        "distortion": b.distortion,
        "distortion_exact": gaussian_dual_terms(VAR40, loc, var, beta)["distortion"],
        "log_sup_found": b.log_sup,
        "log_sup_found_se": b.log_sup_se,
        "log_sup_exact": log_sup,
        "widen_chosen": w,
        "ess": getattr(b, "ess", None),
        "search": b.search,
        "cpu_seconds": cpu,
        "wall_seconds": wall,
    }


def table(tag: str) -> None:
    """Markdown table of docs/results_rd_density_mixture40<tag>.json (docs/rate_distortion.md)."""
    res = json.loads((DOCS / f"results_rd_density_mixture40{tag}.json").read_text())
    print(f"`{res['command']}`\n")
    print(
        "| f | β | seed | lower − 2 SE | exact lower (same r, same D̂) | sound | R_G(D̂) | upper + 2 SE "
        "| ln sup c found ± SE | exact | widening | ESS of c(x*)'s weights | CPU s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in res["runs"]:
        low = "0 (refused)" if r["refused"] else f"{r['lower_reported']:.3f}"
        found = "–" if r["refused"] else f"{r['log_sup_found']:.4f} ± {r['log_sup_found_se']:.4f}"
        print(
            f"| {r['f']:g} | {r['beta']:g} | {r['seed']} | {low} | {r['lower_exact_same_r']:.3f} | "
            f"{'yes' if r['sound'] else 'NO'} | {r['rate_gaussian_at_d_hat']:.3f} | {r['upper_reported']:.3f} | "
            f"{found} | {r['log_sup_exact']:.4f} | ×{r['widen_chosen']:g} | {r['ess']:.0f} | {r['cpu_seconds']:.0f} |"
        )
    print(f"\n{res['n_sound']}/{len(res['runs'])} sound, {res['n_refused']} refused.")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--f", default="0.5,0.8", help="mode separations f = μ²/σ² (comma-separated)")
    ap.add_argument("--tag", default="")
    ap.add_argument("--table", action="store_true", help="print the markdown table of the results file")
    args = ap.parse_args()
    if args.table:
        table(args.tag)
        return
    runs = [r for name in RUNS for r in json.loads((DOCS / f"results_rd_{name}.json").read_text())["runs"]]
    out = []
    for f in (float(s) for s in args.f.split(",")):
        for r in runs:
            row = one_run(r, f)
            out.append(row)
            print(
                f"f={f:g} β={row['beta']:g} seed {row['seed']}: lower {row['lower_reported']:.4f} "
                f"(exact, same r {row['lower_exact_same_r']:.4f}, sound {row['sound']}) R_G(D̂) "
                f"{row['rate_gaussian_at_d_hat']:.4f} upper {row['upper_reported']:.4f}; ln sup c "
                f"{row['log_sup_found']:.4f} ± {row['log_sup_found_se']:.4f} (exact {row['log_sup_exact']:.4f}) "
                f"x{row['widen_chosen']:g} ESS {row['ess']}; {row['cpu_seconds']:.0f} s CPU",
                flush=True,
            )
    result = {
        "command": "python experiments/rd_density_mixture40.py " + " ".join(sys.argv[1:]),
        "runs": out,
        "n_sound": sum(r["sound"] for r in out),
        "n_refused": sum(r["refused"] for r in out),
        "load_average_end": os.getloadavg(),
    }
    (DOCS / f"results_rd_density_mixture40{args.tag}.json").write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}))


if __name__ == "__main__":
    main()
