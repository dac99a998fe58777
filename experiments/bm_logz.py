"""Exact checks for Boltzmann machines of ≤ 20 units: AIS log Z vs enumeration, and β from a mean energy μ.

* RBM (12 visible + 8 hidden) and fully visible BM (16 units), random couplings: log Z by enumeration, and
  by AIS over ``--seeds`` independent runs (``ebmlab.estimators.ais``: Bernoulli base, Gibbs transitions —
  for the RBM the tempered joint path of Salakhutdinov & Murray 2008 with block Gibbs on its two layers,
  for the FVBM the geometric path with single-site Gibbs). Reported: each estimate ± SE, z-scores
  (estimate − exact)/SE, and the fraction within 2 SE.
* β from μ (seed 003 eq. 2.6, the maximum-entropy reading): for the FVBM and for the RBM's joint energy,
  μ = E_{β*}[E] at β* = 1.3 (exact); β solved by enumeration reproduces μ to rounding, and β̂ from samples
  at β₀ = 1.2 by reweighting (``beta_for_mean_energy_from_samples``) — exact draws and independent Gibbs
  chains — is compared with β* in units of its SE.

Run (≈ 1 min)::

    OMP_NUM_THREADS=1 python experiments/bm_logz.py

Writes ``docs/results_bm_logz.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ebmlab.energies.binary import RBM, FullyVisibleBM  # noqa: E402
from ebmlab.estimators import BinarySpace, BoltzmannDistribution, beta_for_mean_energy_from_samples  # noqa: E402
from ebmlab.estimators.rbm_ais import fvbm_ais, rbm_ais  # noqa: E402


def random_models(seed: int = 0) -> tuple[RBM, FullyVisibleBM]:
    g = torch.Generator().manual_seed(seed)
    rbm = RBM(12, 8, weight_init=1.0, generator=g).double()
    fvbm = FullyVisibleBM(16, weight_init=0.4, generator=g).double()
    with torch.no_grad():
        rbm.v_bias.copy_(-0.5 + 0.5 * torch.randn(12, generator=g, dtype=torch.float64))
        rbm.h_bias.copy_(-0.5 + 0.5 * torch.randn(8, generator=g, dtype=torch.float64))
        fvbm.bias.copy_(-0.5 + 0.5 * torch.randn(16, generator=g, dtype=torch.float64))
    return rbm, fvbm


def summarise(exact: float, ests: list) -> dict:
    z = [e.z_score(exact) for e in ests]
    return {
        "exact": exact,
        "estimates": [e.value for e in ests],
        "stderr": [e.stderr for e in ests],
        "z": z,
        "within_2se": sum(abs(v) < 2 for v in z) / len(z),
        "mean_z": sum(z) / len(z),
    }


def beta_part(name: str, energy, dim: int, gibbs, seeds: list[int], n: int) -> dict:
    space = BinarySpace(dim, dtype=torch.float64)
    dist = BoltzmannDistribution(energy, 1.0, space)
    mu = dist.with_beta(1.3).internal_energy().value
    beta = dist.beta_for_mean_energy(mu)
    mu_back = dist.with_beta(beta).internal_energy().value
    states = space.states()
    p0 = dist.spectrum.probabilities(1.2)
    rows = {"exact_draws": [], "gibbs_chains": []}
    for s in seeds:
        g = torch.Generator().manual_seed(s)
        x = states[torch.multinomial(p0, n, replacement=True, generator=g)]
        with torch.no_grad():
            rows["exact_draws"].append(beta_for_mean_energy_from_samples(mu, energy(x), 1.2))
            x = gibbs((torch.rand(n, dim, generator=g, dtype=torch.float64) < 0.5).double(), 200, g, 1.2)
            rows["gibbs_chains"].append(beta_for_mean_energy_from_samples(mu, energy(x), 1.2))
    out = {"mu": mu, "beta_true": 1.3, "beta_enumeration": beta, "mu_reproduced_abs_error": abs(mu_back - mu)}
    for key, ests in rows.items():
        out[key] = {
            "beta": [e.value for e in ests],
            "stderr": [e.stderr for e in ests],
            "z": [e.z_score(1.3) for e in ests],
            "ess": [e.ess for e in ests],
        }
    print(
        f"{name}: μ={mu:.6f}, β(enum)={beta:.12f}, |μ(β)−μ|={abs(mu_back - mu):.2e}; "
        f"z(exact draws)={[round(z, 2) for z in out['exact_draws']['z']]}, "
        f"z(Gibbs)={[round(z, 2) for z in out['gibbs_chains']['z']]}"
    )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    p.add_argument("--chains", type=int, default=200)
    p.add_argument("--temperatures", type=int, default=1000)
    p.add_argument("--samples", type=int, default=4000)
    p.add_argument("--out", default=str(ROOT / "docs" / "results_bm_logz.json"))
    args = p.parse_args()
    torch.set_num_threads(1)
    rbm, fvbm = random_models()
    out: dict = {"settings": vars(args)}
    for name, model, runner in (("rbm_12x8", rbm, rbm_ais), ("fvbm_16", fvbm, fvbm_ais)):
        exact = model.log_z()
        ests = [runner(model, args.chains, args.temperatures, torch.Generator().manual_seed(s)) for s in args.seeds]
        out[name] = summarise(exact, ests)
        r = out[name]
        print(
            f"{name}: exact log Z {exact:.4f}; AIS {[f'{e.value:.4f}±{e.stderr:.4f}' for e in ests]}; "
            f"within 2 SE {r['within_2se']:.0%}, mean z {r['mean_z']:.2f}"
        )
    out["beta_from_mu_fvbm"] = beta_part("fvbm_16", fvbm, 16, fvbm.gibbs, args.seeds[:5], args.samples)
    joint = rbm.joint()
    out["beta_from_mu_rbm_joint"] = beta_part("rbm_joint", joint, 20, joint.gibbs, args.seeds[:5], args.samples)
    Path(args.out).write_text(json.dumps(out, indent=1, default=lambda o: None if not math.isfinite(o) else o))


if __name__ == "__main__":
    main()
