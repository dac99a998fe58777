"""Per-chain health of a :func:`~ebmlab.samplers.sample` run: what a mean over chains hides.

``chain_report(result, kernel, thin)`` gathers, JSON-ready:

* per-chain acceptance over the post-warm-up steps (min / median / max over chains);
* stuck chains: chains flagged by :func:`ebmlab.diagnostics.chain_health` (kept draws that never move, or a
  spread far below the median chain's) or whose acceptance is below ``stuck_ratio`` × the median chain's;
* ESS per draw (min bulk ESS / kept draws) and ESS per gradient evaluation (min bulk ESS / post-warm-up
  gradient evaluations, ``steps · chains · grads_per_step``), the cost-aware efficiency.
"""

from __future__ import annotations

from typing import Any

import torch

from ebmlab.diagnostics import chain_health
from ebmlab.samplers.base import Sampler
from ebmlab.samplers.driver import SampleResult

__all__ = ["chain_report", "grads_per_step"]


def grads_per_step(kernel: Sampler) -> int:
    """Energy-gradient evaluations per transition and chain: HMC's L leapfrog steps, 1 for Langevin kernels."""
    if not kernel.uses_gradient:
        return 0
    return int(getattr(kernel, "n_leapfrog", 1))


def chain_report(result: SampleResult, kernel: Sampler, thin: int, stuck_ratio: float = 0.1) -> dict[str, Any]:
    """Per-chain acceptance, stuck chains (indices) and ESS per draw / per gradient of ``result`` (module doc)."""
    grads = grads_per_step(kernel)
    health = chain_health(result.samples, grads_per_draw=thin * grads if grads else None, stuck_ratio=stuck_ratio)
    acc = result.accept_per_chain
    stuck = set(health["stuck_chains"])
    out: dict[str, Any] = {}
    if acc is not None and acc.numel():
        acc = acc.to(torch.float64)
        med = float(acc.median())
        if kernel.metropolis_adjusted and med > 0:
            stuck |= {int(i) for i in torch.nonzero(acc < stuck_ratio * med).flatten()}
        out |= {"accept_chain_min": float(acc.min()), "accept_chain_median": med, "accept_chain_max": float(acc.max())}
    out |= {
        "n_stuck": len(stuck),
        "stuck_chains": sorted(stuck),
        "move_rate_min": health["move_rate_min"],
        "move_rate_median": health["move_rate_median"],
        "ess_per_draw": result.diagnostics.get("ess_bulk_min_per_draw"),
        "ess_per_grad": health.get("ess_per_grad"),
        "grads_per_step": grads,
    }
    return out
