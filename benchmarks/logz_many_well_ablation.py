"""What closes the many-well-32 bracket gap: the forward run's base and the replica-exchange ladder's base/kernel.

Only the energy is used (no exact samples). Forward AIS (``--n`` chains × ``--temperatures`` sigmoid HMC
temperatures) from three bases — the defensive base of ``log_z(..., "ais")``, one wide Gaussian with the Laplace
mixture's mean and covariance, and a Gaussian fitted to the tempered draws of the default ladder — and the
default ladder (:func:`~ebmlab.estimators.tempered_start.tempered_target_samples`) from three hot ends (the wide
Gaussian's full covariance, its diagonal, the diagonal floored at the RMS = ``ladder_base``) and with one leapfrog
step (MALA-like) instead of five.

    python benchmarks/logz_many_well_ablation.py --seed 0 --json docs/figures/logz_many_well_ablation.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n", type=int, default=256)
    p.add_argument("--temperatures", type=int, default=300)
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args()
    import torch

    from ebmlab.estimators.ais import ais
    from ebmlab.estimators.laplace import laplace_proposal
    from ebmlab.estimators.proposals import GaussianProposal
    from ebmlab.estimators.tempered_start import tempered_target_samples
    from ebmlab.estimators.user import CountedEnergy, default_starts, defensive_base, ladder_base, wide_base
    from ebmlab.samplers import GeometricPath, make_betas
    from ebmlab.targets import get_target

    torch.set_default_dtype(torch.float64)
    target = get_target("many-well-32")
    exact = float(target.log_z())
    energy = CountedEnergy(lambda x: target.energy(x))
    g = torch.Generator().manual_seed(a.seed)
    q = laplace_proposal(energy, (32,), g, n_starts=default_starts(32))
    wide = wide_base(q)
    diagonal = GaussianProposal(wide.mean, std=torch.diagonal(wide.chol @ wide.chol.T).sqrt())
    rows: list[dict[str, Any]] = []

    def ladder(name: str, base: Any, **kw: Any) -> Any:
        energy.count, t0 = 0, time.perf_counter()
        ts = tempered_target_samples(energy, base, a.n, g, **kw)
        left = float((ts.pooled[:, 0::2] < target.barrier).double().mean())
        rows.append({"part": "ladder", "variant": name, "validated": ts.validated, "reasons": ts.reasons,
                     "left_well_fraction": left, "exact_left_well_fraction": target.left_well_mass(),
                     "energy_evaluations": energy.count, "seconds": time.perf_counter() - t0} | ts.diagnostics)  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
        return ts

    ladder("hot end: wide Gaussian, full covariance", wide)
    ladder("hot end: its diagonal", diagonal)
    ts = ladder("hot end: diagonal floored at the RMS (ladder_base, default)", ladder_base(q))
    ladder("ladder_base, 1 leapfrog step (MALA-like)", ladder_base(q), n_leapfrog=1)
    pooled = ts.pooled
    fitted = GaussianProposal(pooled.mean(0), cov=torch.cov(pooled.T))
    betas = make_betas("sigmoid", a.temperatures)
    for name, base in (("defensive base", defensive_base(q)), ("wide Gaussian", wide), ("fitted to ladder", fitted)):
        energy.count, t0 = 0, time.perf_counter()
        est = ais(GeometricPath(base, energy), "hmc", a.n, betas, g).estimate()
        rows.append({"part": "forward AIS", "variant": name, "n": a.n, "temperatures": a.temperatures,
                     "log_z": est.value, "stderr": est.stderr, "error": est.value - exact, "ess": est.ess,
                     "energy_evaluations": energy.count, "seconds": time.perf_counter() - t0})  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    if a.json:
        from ebmlab.config import atomic_write_text

        command = "python benchmarks/logz_many_well_ablation.py " + " ".join(sys.argv[1:])
        meta = {"exact": exact, "seed": a.seed, "command": command, "load_average": os.getloadavg()}
        atomic_write_text(a.json, json.dumps(meta | {"rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
