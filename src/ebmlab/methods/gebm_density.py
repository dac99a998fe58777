"""Log-likelihood of a GEBM whose base has a density (a flow): an EBM with a learnable reference measure.

With base density g_θ, the GEBM density is q(x) = g_θ(x) e^{−E(x)} / Z, Z = E_{g_θ}[e^{−E}], so

    log q(x) = log g_θ(x) − E(x) − log Z.

log Z is estimated by importance sampling with the flow as proposal: draws xᵢ ~ g_θ, weights wᵢ = e^{−E(xᵢ)}
(q̃/g), log Ẑ = log mean wᵢ, delta-method SE, Kish ESS and Pareto k̂ of the weights (k̂ > 0.7: the SE is
not trustworthy). The mean test NLL −(1/m)Σ log q(xⱼ) has SE √(s²/m + SE(log Ẑ)²), s² the sample variance
of log g − E over the m test points (independent of the IS draws).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from ebmlab.energies.base import evaluate_energy
from ebmlab.errors import ConfigError
from ebmlab.estimators.base import Estimate, log_mean_exp, pareto_k

__all__ = ["gebm_log_z", "gebm_test_nll", "mean_nll"]


def _density_base(method: Any) -> Any:
    base = getattr(method, "base", None)
    if base is None or not hasattr(base, "log_prob") or not hasattr(base, "flow"):
        raise ConfigError("GEBM log-likelihood needs a flow base (method.base: {name: realnvp} or {name: nice}).")
    return base


@torch.no_grad()
def gebm_log_z(method: Any, n: int, generator: torch.Generator, chunk: int = 65536) -> Estimate:
    """log Z = log E_{g_θ}[e^{−E}] by importance sampling from the flow, with SE, ESS and k̂."""
    base = _density_base(method)
    if n < 2:
        raise ConfigError(f"gebm_log_z: n must be >= 2, got {n}.")
    log_w = torch.cat(
        [-evaluate_energy(method.energy, base.flow.sample(min(chunk, n - s), generator)) for s in range(0, n, chunk)]
    )
    value, se, ess = log_mean_exp(log_w)
    return Estimate(value, se, ess=ess, n=n, method="gebm-is-flow", details={"pareto_k": pareto_k(log_w)})


def mean_nll(log_q: Tensor) -> tuple[float, float]:
    """(mean, SE) of −log q over test points."""
    v = -log_q.detach().double()
    return float(v.mean()), float(v.std(unbiased=True) / math.sqrt(v.numel()))


@torch.no_grad()
def gebm_test_nll(method: Any, x: Tensor, n_is: int, generator: torch.Generator) -> dict[str, Any]:
    """Mean NLL (nats per point) of ``x`` under the GEBM and under its flow base alone, with SEs."""
    base = _density_base(method)
    log_g = base.log_prob(x)
    log_q_tilde = log_g - evaluate_energy(method.energy, x)
    log_z = gebm_log_z(method, n_is, generator)
    nll, se = mean_nll(log_q_tilde)
    base_nll, base_se = mean_nll(log_g)
    return {
        "nll": nll + log_z.value,
        "nll_se": math.sqrt(se**2 + log_z.stderr**2),
        "base_nll": base_nll,
        "base_nll_se": base_se,
        "log_z": log_z.value,
        "log_z_se": log_z.stderr,
        "is_ess": log_z.ess,
        "is_n": n_is,
        "pareto_k": log_z.details["pareto_k"],
        "c": float(method.c),
    }
