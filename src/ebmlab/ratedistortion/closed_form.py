"""Closed-form rate–distortion functions (nats), parametrised by the slope β = −dR/dD.

* Gaussian y ~ N(0, diag σ²), summed squared error (Cover & Thomas thm 10.3.3, reverse water-filling):
  water level θ = 1/(2β); D_k = min(θ, σ_k²), R_k = max(0, ½ ln(σ_k²/θ)); components with σ_k² ≤ θ are
  switched off (x_k ≡ 0, R_k = 0, D_k = σ_k²). For per-dimension MSE ρ = (1/d)Σ, θ = d/(2β) and D/d.
  The optimal channel per active component: x = m·y + √v·ξ with m = (σ² − θ)/σ², v = θ(σ² − θ)/σ²,
  output marginal r* = N(0, σ² − θ).
* Bernoulli(p), Hamming: R(D) = H(p) − H(D) for 0 ≤ D ≤ min(p, 1 − p); at slope β, D = 1/(1 + e^β).
* Laplace(0, b), absolute error: R(D) = −ln(D/b) for 0 < D ≤ b (zero above); at slope β, D = 1/β.
* Shannon lower bound R(D) ≥ h(Y) − max_{E ρ(Z) ≤ D} h(Z): for summed squared error in d dimensions
  h(Y) − (d/2) ln(2πe D/d); for absolute error (d = 1) h(Y) − 1 − ln(2D); for Hamming on bits H(p) − H(D).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ebmlab.errors import ConfigError

__all__ = [
    "RDPoint",
    "bernoulli_rd",
    "binary_entropy",
    "gaussian_conditional",
    "gaussian_rate_at",
    "gaussian_rd",
    "laplace_rd",
    "shannon_lower_bound",
]


@dataclass(frozen=True)
class RDPoint:
    """A point (D, R) of an R(D) curve at slope −β (nats; D in the distortion's own units)."""

    beta: float
    distortion: float
    rate: float


def _beta(beta: float) -> float:
    if not (beta > 0 and math.isfinite(beta)):
        raise ConfigError(f"beta must be a positive finite number, got {beta!r}; e.g. --beta 0.5,1,2.")
    return float(beta)


def _variances(variances: Sequence[float]) -> list[float]:
    v = [float(s) for s in variances]
    if not v or not all(s > 0 and math.isfinite(s) for s in v):
        raise ConfigError(f"variances must be positive finite numbers, got {v}.")
    return v


def binary_entropy(p: float) -> float:
    """H(p) in nats (0 at p ∈ {0, 1})."""
    if p <= 0.0 or p >= 1.0:
        return 0.0
    return -p * math.log(p) - (1 - p) * math.log1p(-p)


def gaussian_rd(variances: Sequence[float], beta: float, per_dim: bool = False) -> RDPoint:
    """R(D) at slope β for N(0, diag σ²) under summed squared error (``per_dim``: mean squared error)."""
    v, b = _variances(variances), _beta(beta)
    theta = (len(v) if per_dim else 1.0) / (2.0 * b)
    d = sum(min(theta, s) for s in v)
    r = sum(0.5 * math.log(s / theta) for s in v if s > theta)
    return RDPoint(b, d / len(v) if per_dim else d, r)


def gaussian_rate_at(variances: Sequence[float], distortion: float, per_dim: bool = False) -> float:
    """R(D) for N(0, diag σ²) at a given distortion (water level θ by bisection on Σ min(θ, σ_k²) = D)."""
    v = _variances(variances)
    total = distortion * len(v) if per_dim else distortion
    if total >= sum(v):
        return 0.0
    if total <= 0:
        return math.inf
    lo, hi = 0.0, max(v)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if sum(min(mid, s) for s in v) < total else (lo, mid)
    theta = 0.5 * (lo + hi)
    return sum(0.5 * math.log(s / theta) for s in v if s > theta)


def gaussian_conditional(variances: Sequence[float], beta: float) -> tuple[list[float], list[float], list[float]]:
    """Optimal channel per component at slope β (summed squared error): mean map m, variance v, r*'s variance."""
    v, b = _variances(variances), _beta(beta)
    theta = 1.0 / (2.0 * b)
    m = [max(s - theta, 0.0) / s for s in v]
    var = [theta * max(s - theta, 0.0) / s for s in v]
    return m, var, [max(s - theta, 0.0) for s in v]


def bernoulli_rd(p: float, beta: float) -> RDPoint:
    """Bernoulli(p) under Hamming distortion at slope β: D = min(1/(1 + e^β), min(p, 1 − p))."""
    if not 0.0 < p < 1.0:
        raise ConfigError(f"p must lie in (0, 1), got {p!r}.")
    b = _beta(beta)
    d = min(1.0 / (1.0 + math.exp(b)), min(p, 1.0 - p))
    return RDPoint(b, d, max(binary_entropy(p) - binary_entropy(d), 0.0))


def laplace_rd(scale: float, beta: float) -> RDPoint:
    """Laplace(0, b) under absolute error at slope β: D = min(1/β, b), R = −ln(D/b) (valid for D ≤ b)."""
    if not (scale > 0 and math.isfinite(scale)):
        raise ConfigError(f"scale must be a positive finite number, got {scale!r}.")
    b = _beta(beta)
    d = min(1.0 / b, scale)
    return RDPoint(b, d, -math.log(d / scale))


def shannon_lower_bound(entropy: float, distortion: float, kind: str, dim: int = 1) -> float:
    """Shannon lower bound h(Y) − max h(Z) with E ρ(Z) ≤ D, clipped at 0 (``kind``: squared, mse, abs, hamming)."""
    if distortion <= 0:
        raise ConfigError(f"the Shannon lower bound needs a distortion > 0, got {distortion!r}.")
    if kind in ("squared", "mse"):
        per = distortion if kind == "mse" else distortion / dim
        slb = entropy - 0.5 * dim * math.log(2 * math.pi * math.e * per)
    elif kind == "abs" and dim == 1:
        slb = entropy - 1.0 - math.log(2.0 * distortion)
    elif kind == "hamming" and dim == 1:
        slb = entropy - binary_entropy(min(distortion, 0.5))
    else:
        raise ConfigError(f"no Shannon lower bound for distortion {kind!r} in {dim} dimensions.")
    return max(slb, 0.0)
