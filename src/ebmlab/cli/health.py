"""Warnings for sampler results that went bad, printed loudly on stderr and stored in the report.

A run that "succeeds" with unusable samples is worse than one that fails, so every result is checked:

* every proposal non-finite (the energy overflowed or turned NaN) or no proposal ever accepted;
* some proposals non-finite (the step size is too large for part of the space);
* a step-size adaptation that missed its target acceptance;
* chains stuck while the others move (the mean acceptance and ESS hide them);
* split-R̂ far above 1 (chains disagree: not converged, or stuck in different modes);
* bulk ESS ≈ 1 (the draws carry the information of about one independent sample);
* an importance-sampling ESS of a few draws (the estimate rests on one or two weights).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["RHAT_LIMIT", "mcmc_warnings", "report_warnings", "weights_warnings"]

#: split-R̂ above this: the chains have not mixed (Vehtari et al. 2021 recommend < 1.01 for final results)
RHAT_LIMIT = 1.1
#: bulk ESS below this many effective draws: the estimate is about one sample's worth
ESS_LIMIT = 10.0


def _num(summary: Mapping[str, Any], key: str) -> float | None:
    value = summary.get(key)
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def mcmc_warnings(summary: Mapping[str, Any], proposals: int) -> list[str]:
    """Problems visible in a sampler summary (``accept_rate``, ``nonfinite``, ``rhat_max``, ``ess_bulk_min``)."""
    out = []
    nonfinite = int(summary.get("nonfinite") or 0)
    accept = _num(summary, "accept_rate")
    if proposals > 0 and nonfinite >= proposals:
        out.append(
            f"all {proposals} proposals had a non-finite energy or gradient: the chains never moved; "
            "lower --step-size (or give --warmup to adapt it)"
        )
    elif nonfinite > 0:
        out.append(f"{nonfinite} of {proposals} proposals were non-finite and rejected; lower --step-size")
    elif accept is not None and accept == 0.0:
        out.append("no proposal was accepted: the chains never moved; lower --step-size")
    target = _num(summary, "target_accept")
    if summary.get("adaptation_reached") is False and target is not None and accept is not None:
        out.append(
            f"the step-size adaptation did not reach its target: acceptance {accept:.3f} after warm-up against "
            f"{target:.3f} (tolerance {summary.get('adaptation_tolerance')}); give more --warmup"
        )
    stuck = summary.get("stuck_chains") or []
    if stuck:
        chains = int(summary.get("n_chains") or summary.get("chains") or 0)
        shown = ", ".join(map(str, stuck[:10])) + (", ..." if len(stuck) > 10 else "")
        low = _num(summary, "accept_chain_min")
        out.append(
            f"{len(stuck)} of {chains} chains are stuck (chains {shown}; lowest per-chain acceptance "
            f"{'n/a' if low is None else format(low, '.3f')} while the mean is "
            f"{'n/a' if accept is None else format(accept, '.3f')}): they never moved or never left a small region "
            "while the others did, so the samples miss or misweight part of the target; drop them, start the "
            "chains elsewhere, run longer, or use replica exchange (--rungs)"
        )
    rhat = _num(summary, "rhat_max")
    if rhat is not None and rhat > RHAT_LIMIT:
        out.append(
            f"max split-R-hat is {rhat:.3g} (> {RHAT_LIMIT}): the chains disagree, the samples are not from the "
            "target; use more --steps/--warmup, a smaller --step-size for ula, or a Metropolis-adjusted sampler"
        )
    ess = _num(summary, "ess_bulk_min")
    if ess is not None and ess < ESS_LIMIT:
        out.append(f"min bulk ESS is {ess:.3g}: the samples are worth about that many independent draws; run longer")
    return out


def weights_warnings(ess: float | None, n: int) -> list[str]:
    """An importance-sampling estimate whose ESS is tiny (a few draws carry all the weight)."""
    if ess is None or not math.isfinite(ess):
        return []
    if ess < ESS_LIMIT or ess < 0.01 * n:
        return [
            f"the importance weights' ESS is {ess:.3g} of {n} draws: the estimate and its standard error are "
            "unreliable (a few draws carry all the weight); use more --samples or a better proposal (--method ais)"
        ]
    return []


def report_warnings(command: str, warnings: list[str]) -> None:
    """Print each warning on stderr as one loud line."""
    for text in warnings:
        print(f"ebmlab {command}: WARNING: {text}", file=sys.stderr)
