"""Gradient-free samplers that only reweight draws of a proposal q: the baselines of seed 002's latent MCMC.

Both target π(x) ∝ q(x) w(x) given log w (``log_weight``) and a sampler of q (``propose(n, generator)``);
for a GEBM's latent posterior ν(z) ∝ η(z) exp(−E(G(z))) with q = η, log w(z) = −E(G(z)).

* **Sampling-importance-resampling** (Rubin 1987): draw N proposals, resample n of them with
  probabilities wᵢ / Σⱼ wⱼ (with replacement). Exact as N → ∞; for finite N the draws follow the
  self-normalised weighted empirical measure (bias O(1/N)); the Kish ESS (Σw)² / Σw² says how many
  distinct proposals carry the mass.
* **Independent Metropolis–Hastings** (Tierney 1994): propose x' ~ q independently of the state and accept
  with probability min(1, w(x') / w(x)). π is exactly stationary (detailed balance), for any number of
  steps after convergence; the acceptance rate shows how well q covers π.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ebmlab.errors import ConfigError, NonFiniteError
from ebmlab.samplers.base import select

__all__ = ["IMHResult", "SIRResult", "independent_metropolis_hastings", "sampling_importance_resampling"]

Proposal = Callable[[int, torch.Generator], Tensor]
LogWeight = Callable[[Tensor], Tensor]


def kish_ess(log_w: Tensor) -> float:
    """Kish effective sample size (Σw)² / Σw² of weights given as logs."""
    return float((2 * torch.logsumexp(log_w, 0) - torch.logsumexp(2 * log_w, 0)).exp())


@dataclass
class SIRResult:
    """``samples`` (n, *event), ``index`` into the proposals, Kish ``ess`` of the N weights."""

    samples: Tensor
    index: Tensor
    ess: float
    n_proposals: int


@dataclass
class IMHResult:
    """``samples`` (n_kept, n_chains, *event), final ``state``, mean ``accept_rate``."""

    samples: Tensor
    state: Tensor
    accept_rate: float


def _count(name: str, value: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ConfigError(f"{name} must be an integer >= 1, got {value!r}.")
    return int(value)


def _log_weights(log_weight: LogWeight, x: Tensor, who: str) -> Tensor:
    with torch.no_grad():
        lw = log_weight(x).detach().to(torch.float64)
    if lw.shape != (x.shape[0],):
        raise ConfigError(f"{who}: log_weight must map (n, *event) to (n,), got {tuple(lw.shape)}.")
    if torch.isnan(lw).any() or torch.isposinf(lw).any():
        raise NonFiniteError(f"{who}: log-weights contain NaN/+inf; check the energy for overflow at the proposals.")
    return lw


def sampling_importance_resampling(
    propose: Proposal,
    log_weight: LogWeight,
    n: int,
    n_proposals: int,
    generator: torch.Generator,
    chunk: int = 65536,
) -> SIRResult:
    """``n`` draws resampled (with replacement) from ``n_proposals`` proposals by weight w = exp(log_weight)."""
    n, n_proposals = _count("n", n), _count("n_proposals", n_proposals)
    xs, lws = [], []
    for start in range(0, n_proposals, chunk):
        x = propose(min(chunk, n_proposals - start), generator)
        xs.append(x)
        lws.append(_log_weights(log_weight, x, "sampling_importance_resampling"))
    x, lw = torch.cat(xs), torch.cat(lws)
    if not torch.isfinite(lw).any():
        raise NonFiniteError("sampling_importance_resampling: every weight is zero; the proposal misses the target.")
    p = torch.softmax(lw, 0)
    index = torch.multinomial(p.to(x.device), n, replacement=True, generator=generator)
    return SIRResult(samples=x[index], index=index, ess=kish_ess(lw), n_proposals=n_proposals)


def independent_metropolis_hastings(
    propose: Proposal,
    log_weight: LogWeight,
    n_chains: int,
    n_steps: int,
    generator: torch.Generator,
    x0: Tensor | None = None,
    thin: int = 1,
) -> IMHResult:
    """``n_chains`` chains of independent MH with proposal q: accept x' w.p. min(1, w(x')/w(x)).

    Chains start at ``x0`` (default: one draw of q each); every ``thin``-th state is kept.
    """
    n_chains, n_steps, thin = _count("n_chains", n_chains), _count("n_steps", n_steps), _count("thin", thin)
    x = propose(n_chains, generator) if x0 is None else x0.detach().clone()
    if x.shape[0] != n_chains:
        raise ConfigError(f"independent_metropolis_hastings: x0 has {x.shape[0]} rows, expected n_chains={n_chains}.")
    lw = _log_weights(log_weight, x, "independent_metropolis_hastings")
    kept, accepted = [], 0.0
    for t in range(n_steps):
        y = propose(n_chains, generator)
        lw_y = _log_weights(log_weight, y, "independent_metropolis_hastings")
        u = torch.rand(n_chains, generator=generator, dtype=torch.float64, device=generator.device).to(lw.device)
        accept = u.log() < lw_y - lw
        x = select(accept, y, x)  # a new tensor: the kept states are never overwritten
        lw = torch.where(accept, lw_y, lw)
        accepted += float(accept.double().mean())
        if (t + 1) % thin == 0:
            kept.append(x)
    samples = torch.stack(kept) if kept else x.new_empty((0, *x.shape))
    return IMHResult(samples=samples, state=x, accept_rate=accepted / n_steps)
