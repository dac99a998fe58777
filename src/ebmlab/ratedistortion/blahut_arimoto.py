"""Blahut–Arimoto (1972) for R(D) at slope β on a discrete (or discretised) source, vectorised.

With source probabilities p(y), a reproduction alphabet {x_j} and A_ij = exp(−β ρ(x_j, y_i)), iterate

    Z_i = Σ_j q_j A_ij,   c_j = Σ_i p_i A_ij / Z_i,   q_j ← q_j c_j,

then Q(x_j | y_i) = q_j A_ij / Z_i, D = Σ_i p_i Σ_j Q_ij ρ_ij and R = I(X; Y) ≤ −βD − Σ p_i ln Z_i.
Blahut's bounds sandwich R(D) at the current D:

    −βD − Σ p_i ln Z_i − ln max_j c_j  ≤  R(D)  ≤  −βD − Σ p_i ln Z_i,

so iterating until the gap ln max_j c_j < ``tol`` gives R to within ``tol`` nats (the returned
``gap``). Everything is in log space, so large β does not underflow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ebmlab.errors import ConfigError, ShapeError

__all__ = ["BAResult", "blahut_arimoto", "discretize_density"]


@dataclass(frozen=True)
class BAResult:
    """Rate (upper bound at D) and lower bound in nats, distortion, output marginal q, iterations, gap."""

    beta: float
    distortion: float
    rate: float
    rate_lower: float
    q: Tensor
    iterations: int
    gap: float


def blahut_arimoto(p_y: Tensor, rho: Tensor, beta: float, tol: float = 1e-7, max_iter: int = 100_000) -> BAResult:
    """Run BA on source probabilities ``p_y`` (n,) and distortions ``rho`` (n, m) at slope β."""
    if not (beta > 0 and math.isfinite(beta)):
        raise ConfigError(f"beta must be a positive finite number, got {beta!r}.")
    p_y, rho = p_y.to(torch.float64), rho.to(torch.float64)
    if p_y.dim() != 1 or rho.dim() != 2 or rho.shape[0] != p_y.shape[0]:
        raise ShapeError(f"BA needs p_y (n,) and rho (n, m), got {tuple(p_y.shape)} and {tuple(rho.shape)}.")
    if bool((p_y < 0).any()) or abs(float(p_y.sum()) - 1.0) > 1e-6:
        raise ConfigError("BA: p_y must be a probability vector (non-negative, summing to 1).")
    log_p = p_y.clamp_min(1e-300).log()
    log_a = -beta * rho
    log_q = torch.full((rho.shape[1],), -math.log(rho.shape[1]), dtype=torch.float64)
    gap, it = math.inf, 0
    for it in range(1, max_iter + 1):  # noqa: B007 (the count is returned)
        log_z = torch.logsumexp(log_q[None, :] + log_a, dim=1)
        log_c = torch.logsumexp(log_p[:, None] + log_a - log_z[:, None], dim=0)
        gap = float(log_c.max())
        if gap < tol:
            break
        log_q = log_q + log_c
        log_q = log_q - torch.logsumexp(log_q, 0)
    log_z = torch.logsumexp(log_q[None, :] + log_a, dim=1)
    cond = (log_q[None, :] + log_a - log_z[:, None]).exp()
    d = float((p_y[:, None] * cond * rho).sum())
    upper = -beta * d - float((p_y * log_z).sum())
    return BAResult(float(beta), d, upper, upper - gap, log_q.exp(), it, gap)


def discretize_density(log_density: Tensor, grid: Tensor) -> Tensor:
    """Probabilities of grid points (n,) from log-density values on a uniform grid (normalised mass)."""
    if grid.dim() != 1 or log_density.shape != grid.shape:
        raise ShapeError("discretize_density needs a 1-D grid and log-density values of the same shape.")
    return torch.softmax(log_density.to(torch.float64), dim=0)
