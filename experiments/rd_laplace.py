"""EBA on a Laplace(b) source under |x − y|: a Gaussian output marginal against a Laplace + narrow-Gaussian mixture.

    PYTHONPATH=src OMP_NUM_THREADS=1 python experiments/rd_laplace.py [--energies gaussian,mixture] [--seeds 0,1,2]

R(D) = −ln(D/b) for D ≤ b, reached at slope β with D = 1/β by r* = (bβ)^{−2} δ_0 + (1 − (bβ)^{−2}) Laplace(b)
(``ebmlab.ratedistortion.mixture``). ``gaussian`` is the default quadratic ``RDEnergy`` (cannot hold the atom);
``mixture`` is ``MixtureEnergy(1, ("laplace", "gaussian"))`` whose Gaussian component can narrow towards an atom
(scale floor e^{−7}), with one independence jump per step (proposal: exact draws of p_φ) after the MALA steps.
Both use the BA-style variant. Writes docs/results_rd_laplace_mixture<tag>.json (the command is stored in it).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from ebmlab.experiments.rate_distortion import Z_BAND, evaluate_eba, train_eba
from ebmlab.methods.eba import EBA
from ebmlab.ratedistortion import LaplaceSource, MixtureEnergy
from ebmlab.ratedistortion.model import RDEnergy
from ebmlab.samplers.langevin import MALA

DOCS = Path(__file__).resolve().parents[1] / "docs"


def run_one(energy_name: str, beta: float, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    torch.manual_seed(seed)
    src = LaplaceSource(args.scale)
    energy: Any = (
        MixtureEnergy(1, ("laplace", "gaussian"), init_scales=(1.0, args.narrow_init))
        if energy_name == "mixture"
        else RDEnergy(1)
    )
    m = EBA(
        src,
        "abs",
        beta,
        energy=energy,
        variant="ba",
        sampler=MALA(0.2),
        n_chains=args.chains,
        n_steps=10,
        jumps=args.jumps,
    )
    t0, load0 = time.perf_counter(), os.getloadavg()[0]
    train_eba(m, args.steps, seed, lr=args.lr, average=args.average)
    b = evaluate_eba(m, seed + 1000)
    out: dict[str, Any] = {
        "energy": energy_name,
        "beta": beta,
        "seed": seed,
        **bound_fields(b, beta, args.scale),
        "seconds": time.perf_counter() - t0,
        "load": [load0, os.getloadavg()[0]],
    }
    if isinstance(energy, MixtureEnergy):
        out |= {
            "weights": energy.weights().tolist(),
            "atom_weight_closed_form": 1 / (args.scale * beta) ** 2,
            "locs": energy.loc.detach()[:, 0].tolist(),
            "scales": energy.scale().detach()[:, 0].tolist(),
        }
    else:
        out |= {"loc": float(energy.mean()), "scale": float(energy.scale())}
    print(json.dumps(out), flush=True)
    return out


def bound_fields(b: Any, beta: float, scale: float) -> dict[str, Any]:
    """A run's result fields from its sandwich bounds ``b``, against R(D̂) = −ln(D̂/b) and D* = 1/β."""
    d_star, r_cf = 1.0 / beta, -math.log(b.distortion / scale)
    up, lo = b.rate_upper + Z_BAND * b.rate_upper_se, b.rate_lower - Z_BAND * b.rate_lower_se
    return {
        "distortion": b.distortion,
        "distortion_closed_form": d_star,
        "rel_err_distortion": b.distortion / d_star - 1,
        "rate": b.rate_upper,
        "rate_se": b.rate_upper_se,
        "rate_closed_form": r_cf,
        "rel_err_rate": b.rate_upper / r_cf - 1,
        "rate_upper": up,
        "rate_lower": lo,
        "rate_lower_raw": b.rate_lower,
        "log_sup": b.log_sup,
        "log_sup_se": b.log_sup_se,
        "search": b.search,
        "in_band": lo <= r_cf <= up,
    }


def reevaluate(path: Path, scale: float) -> None:
    """Recompute the bounds of stored mixture runs from their parameters (weights, locations, scales)."""
    result = json.loads(path.read_text())
    for r in result["runs"]:
        if r["energy"] != "mixture":
            continue
        e = MixtureEnergy(1, ("laplace", "gaussian"))
        with torch.no_grad():
            e.logits.copy_(torch.tensor(r["weights"]).log())
            e.loc.copy_(torch.tensor(r["locs"])[:, None])
            e.log_scale.copy_(torch.tensor(r["scales"]).log()[:, None])
        m = EBA(LaplaceSource(scale), "abs", r["beta"], energy=e, variant="ba")
        r |= bound_fields(evaluate_eba(m, r["seed"] + 1000), r["beta"], scale)
    result["summary"] = summarise(result["runs"])
    result["reevaluated"] = "python experiments/rd_laplace.py " + " ".join(sys.argv[1:])
    path.write_text(json.dumps(result, indent=1))
    print(json.dumps(result["summary"], indent=1))


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for key in sorted({(r["energy"], r["beta"]) for r in runs}):
        rs = [r for r in runs if (r["energy"], r["beta"]) == key]

        def ms(f: str, rs: list[dict[str, Any]] = rs) -> list[float]:
            v = [r[f] for r in rs]
            return [statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0]

        rows.append(
            {
                "energy": key[0],
                "beta": key[1],
                "seeds": len(rs),
                **{f: ms(f) for f in ("distortion", "rate", "rate_closed_form", "rel_err_rate", "rel_err_distortion")},
                **{f: ms(f) for f in ("rate_lower", "rate_upper", "seconds")},
                "in_band": sum(r["in_band"] for r in rs),
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--energies", default="gaussian,mixture")
    ap.add_argument("--betas", default="1.5,2,4,8")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--chains", type=int, default=2048)
    ap.add_argument("--lr", type=float, default=0.02)
    ap.add_argument("--average", type=float, default=0.5)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--narrow-init", type=float, default=0.1, help="narrow component's start, × the source's spread")
    ap.add_argument("--jumps", type=int, default=1, help="independence jumps per step (0: MALA only)")
    ap.add_argument("--tag", default="")
    ap.add_argument("--reevaluate", action="store_true", help="recompute the bounds of a finished file's runs")
    args = ap.parse_args()
    runs = []
    path = DOCS / f"results_rd_laplace_mixture{args.tag}.json"
    if args.reevaluate:
        reevaluate(path, args.scale)
        return
    command = "python experiments/rd_laplace.py " + " ".join(sys.argv[1:])
    for energy in args.energies.split(","):
        for beta in [float(b) for b in args.betas.split(",")]:
            for seed in [int(s) for s in args.seeds.split(",")]:
                runs.append(run_one(energy, beta, seed, args))
                result = {"command": command, "args": vars(args), "summary": summarise(runs), "runs": runs}
                path.write_text(json.dumps(result, indent=1))
    print(json.dumps(summarise(runs), indent=1))


if __name__ == "__main__":
    main()
