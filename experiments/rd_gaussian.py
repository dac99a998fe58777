"""EBA rate–distortion against closed forms: Gaussian (1-, 2-, 10-, 40-D), Bernoulli–Hamming, Laplace (BA).

    PYTHONPATH=src OMP_NUM_THREADS=1 python experiments/rd_gaussian.py SECTION [--seeds 0,1,2] [--steps 400]

SECTION: scalar, 2d, 10d, 40d, bernoulli, laplace, slope. Writes docs/results_rd_<section>.json and
docs/figures/rd_<section>.png. Sizes are chosen for minutes per run on one core: 512 chains (256 y's,
two chains per y), 10 MALA steps (λ = 0.2 in whitened coordinates) per training step, Adam with cosine decay.
Every number in docs/rate_distortion.md comes from these files.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from ebmlab.experiments.rate_distortion import Z_BAND, closed_form_rate, estimate_rd, evaluate_eba, train_eba
from ebmlab.methods.eba import EBA
from ebmlab.ratedistortion import (
    BernoulliSource,
    GaussianSource,
    LaplaceSource,
    gaussian_conditional,
    gaussian_marginal_terms,
)
from ebmlab.ratedistortion import closed_form as cf
from ebmlab.ratedistortion.dual_gaussian import gaussian_dual_terms
from ebmlab.ratedistortion.model import RDEnergy
from ebmlab.samplers.langevin import MALA

DOCS = Path(__file__).resolve().parents[1] / "docs"
SECTIONS = {
    "scalar": ([1.0], [0.61, 5.0, 200.0]),  # 0.1, 1.15, 3.0 nats
    "2d": ([1.0, 0.5], [1.5, 10.0, 400.0]),  # ≈ 0.1–3 nats per dimension
    "10d": ([4 * math.exp(-0.5 * k) for k in range(10)], [0.5, 2.0]),  # 3 and 6 active components
    "40d": ([4 * math.exp(-k) for k in range(40)], [30.0, 1000.0]),
    "slope": ([1.0], [4.5, 5.0, 5.5]),
}


def bound_fields(b: Any, source: Any, distortion: str) -> dict[str, Any]:
    """A result row's rate fields from sandwich bounds ``b``: the band widened by ``Z_BAND`` standard errors."""
    return {
        "distortion": b.distortion,
        "rate": b.rate_upper,
        "rate_se": b.rate_upper_se,
        "rate_upper": b.rate_upper + Z_BAND * b.rate_upper_se,
        "rate_lower": b.rate_lower - Z_BAND * b.rate_lower_se,
        "log_sup": b.log_sup,
        "log_sup_se": b.log_sup_se,
        "search": b.search,
        "rate_closed_form": closed_form_rate(source, distortion, b.distortion),
    }


def run_one(
    source: Any,
    distortion: str,
    beta: float,
    seed: int,
    steps: int,
    variant: str,
    trace: bool,
    n_chains: int = 512,
    lr: float = 0.02,
    average: float = 0.5,
    n_steps: int = 10,
    whitened_loc: bool = True,
    schedule: str = "cosine",
) -> dict[str, Any]:
    torch.manual_seed(seed)
    energy = RDEnergy(source.dim, whitened_loc=whitened_loc) if isinstance(source, GaussianSource) else None
    m = EBA(source, distortion, beta, energy, variant=variant, sampler=MALA(0.2), n_chains=n_chains, n_steps=n_steps)
    t0 = time.perf_counter()
    lrd: list[tuple[int, float, float]] = []
    params: list[tuple[int, list[float], list[float], float]] = []
    callbacks = []
    if trace and m.energy.gaussian() is not None:
        y_fixed = source.sample(50_000, torch.Generator().manual_seed(999))
        prev: list[torch.Tensor] = []

        def cb(step: int, values: dict[str, float]) -> None:
            # L_RD(φ_t) = −E_y ln Z_φ(y), exact in φ for the quadratic energy, on 50 000 fixed y; with the SE
            # of its change since the last checkpoint (paired over the same y: the evaluation's MC error)
            if step % 10 == 0:
                loc, var = (t.double() for t in m.energy.gaussian())
                per_y = -gaussian_marginal_terms(loc, var, beta)(y_fixed)[0]
                se = float((per_y - prev[0]).std() / math.sqrt(len(per_y))) if prev else 0.0
                prev[:] = [per_y]
                lrd.append((step, float(per_y.mean()), se))
                if isinstance(source, GaussianSource):  # the marginal and L_RD exact in y too (source mean 0)
                    params.append((step, loc.tolist(), var.tolist(), exact_l_rd(source, loc, var, beta)))

        callbacks.append(cb)
    run = train_eba(m, steps, seed, lr=lr, average=average, callbacks=callbacks, schedule=schedule)
    crit = run.final_metrics.get("rate_critic")
    b = evaluate_eba(m, seed + 1000)
    out: dict[str, Any] = {
        "beta": beta,
        "seed": seed,
        "variant": variant,
        **bound_fields(b, source, distortion),
        "rate_critic": crit,
        "seconds": time.perf_counter() - t0,
        "l_rd_trace": lrd,
        "param_trace": params,
        "whitened_loc": whitened_loc,
        "n_chains": n_chains,
        "lr": lr,
        "average": average,
        "mala_steps": n_steps,
        "schedule": schedule,
    }
    if isinstance(source, GaussianSource):
        pt = cf.gaussian_rd(source.variances, beta)
        out |= {"distortion_closed_form": pt.distortion, "rate_at_beta_closed_form": pt.rate}
        loc, var = (t.double() for t in m.energy.gaussian())
        a = 1 + 2 * beta * var
        # the learned marginal's exact D and rate (infinite evaluation): D̂ minus this is evaluation noise
        ex = gaussian_dual_terms(source.variances, loc, var, beta)
        out |= {"distortion_exact": ex["distortion"], "rate_exact": ex["upper"]}
        m_star, v_star, _ = gaussian_conditional(source.variances, beta)
        out |= {
            "mean_map": (2 * beta * var / a).tolist(),
            "mean_map_closed_form": m_star,
            "cond_var": (var / a).tolist(),
            "cond_var_closed_form": v_star,
            "marg_loc": loc.tolist(),
        }
    else:
        pt = cf.bernoulli_rd(source.p, beta)
        out |= {"distortion_closed_form": pt.distortion, "rate_at_beta_closed_form": pt.rate}
        out["logits"] = m.energy.logits.detach().tolist()  # the learned marginal, for --reevaluate
    print(json.dumps({k: v for k, v in out.items() if not isinstance(v, list)}), flush=True)
    return out


def exact_l_rd(source: GaussianSource, loc: torch.Tensor, var: torch.Tensor, beta: float) -> float:
    """L_RD(φ) = −E_y ln Z_φ(y) in closed form for y ~ N(0, diag σ²), r = N(μ, diag s²), summed squared error:
    Σ_k ½ ln a_k + β(σ_k² + μ_k²)/a_k with a_k = 1 + 2βs_k² (no Monte Carlo at all)."""
    a = 1 + 2 * beta * var
    sig2 = torch.tensor(source.variances, dtype=torch.float64)
    return float((0.5 * a.log() + beta * (sig2 + loc.square()) / a).sum())


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for key in sorted({(r["variant"], r["beta"]) for r in runs}):
        rs = [r for r in runs if (r["variant"], r["beta"]) == key]

        def ms(f: Any, rs: list[dict[str, Any]] = rs) -> list[float]:
            vals = [f(r) for r in rs]
            return [statistics.mean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0]

        rows.append(
            {
                "variant": key[0],
                "beta": key[1],
                "n_seeds": len(rs),
                "rate_closed_form_at_beta": rs[0]["rate_at_beta_closed_form"],
                "d_rel_err": ms(lambda r: r["distortion"] / r["distortion_closed_form"] - 1),
                "d_rel_err_per_run": [r["distortion"] / r["distortion_closed_form"] - 1 for r in rs],
                # the learned marginals' exact ΔD (runs since session 7; the training's share of the error)
                "d_rel_err_exact_per_run": [
                    r["distortion_exact"] / r["distortion_closed_form"] - 1 for r in rs if "distortion_exact" in r
                ],
                "r_err_matched_d_per_run": [r["rate"] - r["rate_closed_form"] for r in rs],
                "inside_band_per_run": [r["rate_lower"] <= r["rate_closed_form"] <= r["rate_upper"] for r in rs],
                "r_err_matched_d": ms(lambda r: r["rate"] - r["rate_closed_form"]),
                "r_rel_err_matched_d": ms(
                    lambda r: (r["rate"] - r["rate_closed_form"]) / max(r["rate_closed_form"], 1e-12)
                ),
                "inside_band": all(r["rate_lower"] <= r["rate_closed_form"] <= r["rate_upper"] for r in rs),
                "band_width": ms(lambda r: r["rate_upper"] - r["rate_lower"]),
                "seconds": ms(lambda r: r["seconds"]),
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("section", choices=[*SECTIONS, "bernoulli", "laplace"])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--variants", default="eba")
    ap.add_argument("--chains", type=int, default=512)
    ap.add_argument("--mala-steps", type=int, default=10, help="MALA steps per training step")
    ap.add_argument("--trace", action="store_true", help="record L_RD(φ_t) every 10 steps (always on for slope)")
    ap.add_argument("--lr", type=float, default=0.02)
    ap.add_argument("--average", type=float, default=0.5, help="Polyak average over this last fraction of steps")
    ap.add_argument(
        "--schedule", default="cosine", choices=["cosine", "constant"], help="lr schedule (cosine: results before s7)"
    )
    ap.add_argument("--whitened-loc", action="store_true", help="μ = s·ν in RDEnergy: the default since session 6")
    ap.add_argument("--raw-loc", action="store_true", help="μ a raw parameter (results before session 6)")
    ap.add_argument("--betas", default=None, help="override the section's betas (comma-separated)")
    ap.add_argument("--tag", default="", help="suffix of the results file (results_rd_<section><tag>.json)")
    ap.add_argument("--finalize", action="store_true", help="summarise the runs a stopped section finished")
    ap.add_argument("--reevaluate", action="store_true", help="recompute the bounds of a finished section")
    ap.add_argument("--merge", default=None, help="results_rd_<part>.json files (comma-separated parts) into one")
    args = ap.parse_args()
    if args.merge:
        merge(args.section + args.tag, args.merge.split(","))
        return
    if args.reevaluate:
        reevaluate(args.section + args.tag)
        return
    if args.finalize:
        finalize(args.section + args.tag)
        return
    seeds = [int(s) for s in args.seeds.split(",")]
    runs: list[dict[str, Any]] = []
    if args.section == "laplace":
        pts = estimate_rd(LaplaceSource(1.0), "abs", [1.5, 2.0, 4.0, 8.0], "ba", ba_grid=481, ba_tol=1e-4)
        result: dict[str, Any] = {
            "section": "laplace",
            "method": "ba (grid 481 on [-12b, 12b], tol 1e-4, at most 5000 iterations)",
            "points": pts,
            "rel_err_matched_d": [(p["rate"] - p["rate_closed_form"]) / p["rate_closed_form"] for p in pts],
        }
    else:
        if args.section == "bernoulli":
            source, dist, betas = BernoulliSource(0.3), "hamming", [1.0, 2.0, 4.0]
        else:
            variances, betas = SECTIONS[args.section]
            source, dist = GaussianSource(variances), "squared"
        if args.betas:
            betas = [float(b) for b in args.betas.split(",")]
        for variant in args.variants.split(","):
            for beta in betas:
                for seed in seeds:
                    runs.append(
                        run_one(
                            source,
                            dist,
                            beta,
                            seed,
                            args.steps,
                            variant,
                            args.section == "slope" or args.trace,
                            args.chains,
                            args.lr,
                            args.average,
                            args.mala_steps,
                            not args.raw_loc,
                            args.schedule,
                        )
                    )
                    partial = DOCS / f"results_rd_{args.section}{args.tag}.partial.json"
                    partial.write_text(json.dumps({"command": " ".join(sys.argv[1:]), "runs": runs}))
        result = {
            "section": args.section,
            "steps": args.steps,
            "chains": args.chains,
            "lr": args.lr,
            "average": args.average,
            "command": "python experiments/rd_gaussian.py " + " ".join(sys.argv[1:]),
            "summary": summarise(runs),
            "runs": runs,
        }
        if args.section == "slope":
            result["slopes"] = slopes(runs)
        from ebmlab.cli.rd import plot_rd

        first = [r for r in runs if r["seed"] == seeds[0] and r["variant"] == args.variants.split(",")[0]]
        plot_rd(first, source, dist, DOCS / "figures" / f"rd_{args.section}{args.tag}.png")
    path = DOCS / f"results_rd_{args.section}{args.tag}.json"
    path.write_text(json.dumps(result, indent=1))
    (DOCS / f"results_rd_{args.section}{args.tag}.partial.json").unlink(missing_ok=True)
    print(json.dumps(result.get("summary", result.get("rel_err_matched_d")), indent=1))


def finalize(name: str) -> None:
    """Write results_rd_<name>.json from the runs a stopped section had finished (its partial file)."""
    partial = DOCS / f"results_rd_{name}.partial.json"
    data = json.loads(partial.read_text())
    runs = data["runs"]
    result = {
        "section": name,
        "steps": None,
        "command": f"python experiments/rd_gaussian.py {data['command']} (stopped after {len(runs)} runs)",
        "summary": summarise(runs),
        "runs": runs,
    }
    m = re.search(r"--steps (\d+)", data["command"])
    c = re.search(r"--chains (\d+)", data["command"])
    result |= {"steps": int(m[1]) if m else None, "chains": int(c[1]) if c else None}
    (DOCS / f"results_rd_{name}.json").write_text(json.dumps(result, indent=1))
    partial.unlink()
    print(json.dumps(result["summary"], indent=1))


def merge(name: str, parts: list[str]) -> None:
    """results_rd_<name>.json from finished parts (each keeps its command); summary over all their runs."""
    datas = [json.loads((DOCS / f"results_rd_{p}.json").read_text()) for p in parts]
    runs = [r for d in datas for r in d["runs"]]
    result = {
        "section": name,
        "steps": datas[0].get("steps"),
        "chains": datas[0].get("chains"),
        "command": "; ".join(d["command"] for d in datas),
        "summary": summarise(runs),
        "runs": runs,
    }
    (DOCS / f"results_rd_{name}.json").write_text(json.dumps(result, indent=1))
    for p in parts:
        if p != name:
            (DOCS / f"results_rd_{p}.json").unlink()
            (DOCS / "figures" / f"rd_{p}.png").unlink(missing_ok=True)
    print(json.dumps(result["summary"], indent=1))


def reevaluate(section: str) -> None:
    """Recompute the bounds of a finished section from its stored marginals (same evaluation seeds)."""
    path = DOCS / f"results_rd_{section}.json"
    result = json.loads(path.read_text())
    if section.startswith("bernoulli"):  # the learned alphabet marginal (runs since session 6 store it)
        for r in result["runs"]:
            m = EBA(BernoulliSource(0.3), "hamming", r["beta"], variant="ba")
            with torch.no_grad():
                m.energy.logits.copy_(torch.tensor(r["logits"]))
            r |= bound_fields(evaluate_eba(m, r["seed"] + 1000), m.source, "hamming")
        result["summary"] = summarise(result["runs"])
        path.write_text(json.dumps(result, indent=1))
        print(json.dumps(result["summary"], indent=1))
        return
    variances = SECTIONS[section.split("_")[0]][0]
    for r in result["runs"]:
        m = EBA(GaussianSource(variances), "squared", r["beta"], variant="ba")
        v, beta = torch.tensor(r["cond_var"], dtype=torch.float64), r["beta"]
        var = v / (1 - 2 * beta * v)  # v = s²/(1 + 2βs²)
        m.energy.set_moments(torch.tensor(r["marg_loc"]), var.sqrt().float())
        b = evaluate_eba(m, r["seed"] + 1000)
        r |= bound_fields(b, m.source, "squared")
    result["summary"] = summarise(result["runs"])
    path.write_text(json.dumps(result, indent=1))
    print(json.dumps(result["summary"], indent=1))


def slopes(runs: list[dict[str, Any]]) -> list[dict[str, float]]:
    """dR/dD by central differences between β(1 ± 0.1) per seed, against −β; and the largest L_RD increase."""
    out = []
    for seed in sorted({r["seed"] for r in runs}):
        rs = sorted((r for r in runs if r["seed"] == seed), key=lambda r: r["beta"])
        lo, mid, hi = rs
        slope = (hi["rate"] - lo["rate"]) / (hi["distortion"] - lo["distortion"])
        incr = max(max(b[1] - a[1] for a, b in zip(r["l_rd_trace"], r["l_rd_trace"][1:], strict=False)) for r in rs)
        out.append(
            {
                "seed": seed,
                "slope": slope,
                "minus_beta": -mid["beta"],
                "rel_err": slope / -mid["beta"] - 1,
                "max_l_rd_increase_per_10_steps": incr,
            }
        )
    return out


if __name__ == "__main__":
    main()
