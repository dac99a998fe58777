"""The stepping-stone and flow runners of :func:`ebmlab.estimators.user.log_z` (user-realistic defaults).

* :func:`stepping_stone`: the stepping-stone identity on a replica-exchange ladder (MALA, per-rung step sizes
  adapted) from the defensive base; its diagnostics add per-rung mixing (split-half drift z of each rung's
  log-ratio) and per-rung tail coverage (Pareto k̂ of each rung's ratio weights) to the groups' scatter.
* :func:`flow_proposal`: a RealNVP trained by reverse KL in coordinates whitened by the wide base, mixed
  defensively with the Laplace mixture (:mod:`ebmlab.estimators.user_flow`).
"""

from __future__ import annotations

from typing import Any

import torch

from ebmlab.densities import Density
from ebmlab.energies.base import EnergyFn
from ebmlab.estimators.base import Estimate, groups_se
from ebmlab.estimators.laplace import MixtureProposal
from ebmlab.estimators.proposals import GaussianProposal
from ebmlab.estimators.stepping_stone import log_z_stepping_stone
from ebmlab.estimators.user_flow import DefensiveMixture, train_flow
from ebmlab.samplers import MALA

__all__ = ["flow_proposal", "stepping_stone"]


def stepping_stone(
    energy: EnergyFn,
    base: Density,
    shape: tuple[int, ...],
    n_chains: int,
    generator: torch.Generator,
    *,
    n_rounds: int = 500,
    burn_in: int = 200,
    adapt_rounds: int = 200,
    n_rungs: int = 16,
    progress: bool = False,
) -> tuple[Estimate, dict[str, Any]]:
    """``(estimate, diagnostics for the verdict)``; ``n_chains`` chains per rung."""
    est = log_z_stepping_stone(
        energy,
        shape,
        n_chains,
        n_rounds,
        burn_in,
        kernel=MALA(0.05),
        n_rungs=n_rungs,
        base=base,
        adapt_rounds=adapt_rounds,
        generator=generator,
        progress=progress,
    )
    d = est.details
    groups = d["groups"]
    diag = {"groups": groups, "rung_drift_z": d["rung_drift_z"], "rung_pareto_k": d["rung_pareto_k"]}
    if len(groups[0]) >= 2:  # the SE is at least the scatter of the groups' estimates
        se = max(est.stderr, groups_se(groups[0]))
        est = Estimate(est.value, se, ess=est.ess, n=est.n, method=est.method, details=d)
    return est, diag


def flow_proposal(
    energy: EnergyFn,
    q: MixtureProposal,
    wide: GaussianProposal,
    shape: tuple[int, ...],
    seed: int,
    *,
    steps: int = 1000,
    alpha: float = 0.8,
    batch_size: int = 256,
) -> tuple[DefensiveMixture, dict[str, Any]]:
    """``(α·flow + (1 − α)·q, details)``: the flow starts as the wide base (the mixture's mean and covariance)."""
    flow, info = train_flow(energy, wide.mean, wide.chol, shape, steps=steps, batch_size=batch_size, seed=seed)
    mix = DefensiveMixture(flow, q, alpha)
    note = (
        f"{alpha:g} × a RealNVP trained by reverse KL ({steps} steps of {batch_size}) in coordinates whitened by "
        f"the mixture's mean and covariance + {1 - alpha:g} × the Laplace mixture"
    )
    return mix, {"flow": note, "flow_loss": info["loss"]}
