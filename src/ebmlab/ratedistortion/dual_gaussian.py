"""Csiszár's dual for a Gaussian source and a Gaussian marginal in closed form: the reference for the sup search.

Source y ~ N(0, diag σ²), marginal r = N(μ, diag s²), summed squared error, slope β. Per component, with
a = 1 + 2βs², Z_r(y) = a^{−½} e^{−β(y − μ)²/a} and c(x) = E_y[e^{−β(x − y)²}/Z_r(y)] is a Gaussian integral:

    ln c_k(x) = ½ ln a − ½ ln(2σ²A) + βμ²/a + (β²/A)(x − μ/a)² − βx²,   A = 2β²s²/a + 1/(2σ²),

and c(x) = Π_k c_k(x_k) (the components of y are independent and ρ sums over them). Each ln c_k is a
quadratic in x with leading coefficient κ = β²/A − β: for κ < 0 its maximum is at x* = (β²/A)(μ/a)/κ;
for κ ≥ 0 (r narrower than the optimal marginal in that component, or exactly at the edge with
μ ≠ 0) c grows without bound and sup c = ∞ (Csiszár's lower bound is then trivial for this r). Also exact:
E_y ln Z_r(y) and the tilted channel's distortion D̂, so the exact lower and upper bounds of an r follow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["gaussian_dual_terms", "gaussian_log_c"]


def _parts(variances: Sequence[float], loc: Tensor, var: Tensor, beta: float) -> tuple[Tensor, ...]:
    sig2 = torch.as_tensor(list(variances), dtype=torch.float64)
    mu, s2 = loc.double(), var.double()
    a = 1 + 2 * beta * s2
    big_a = 2 * beta**2 * s2 / a + 1 / (2 * sig2)
    return sig2, mu, s2, a, big_a


def gaussian_log_c(x: Tensor, variances: Sequence[float], loc: Tensor, var: Tensor, beta: float) -> Tensor:
    """ln c(x) for candidates x (k, d), exact (module doc)."""
    sig2, mu, _, a, big_a = _parts(variances, loc, var, beta)
    x = x.double()
    per = (
        0.5 * a.log()
        - 0.5 * (2 * sig2 * big_a).log()
        + beta * mu.square() / a
        + beta**2 / big_a * (x - mu / a).square()
        - beta * x.square()
    )
    return per.sum(-1)


def gaussian_dual_terms(variances: Sequence[float], loc: Tensor, var: Tensor, beta: float) -> dict[str, float]:
    """Exact ``log_sup`` (ln sup_x c, +inf if unbounded), ``mean_log_z`` (E_y ln Z_r), ``distortion`` (D̂ of the
    tilted channel), ``upper`` = −βD̂ − E ln Z_r and ``lower`` = upper − ln sup c (clipped at 0) at D̂."""
    sig2, mu, s2, a, big_a = _parts(variances, loc, var, beta)
    kappa = beta**2 / big_a - beta
    if bool((kappa >= 0).any()):
        log_sup = math.inf
    else:
        b = beta**2 / big_a * mu / a  # ln c_k = κx² − 2bx + const_k: maximum at x = b/κ (κ < 0)
        x_star = b / kappa
        log_sup = float(gaussian_log_c(x_star[None, :], variances, loc, var, beta)[0])
    mean_log_z = float((-0.5 * a.log() - beta * (sig2 + mu.square()) / a).sum())
    # D̂ = E_y E_Q (x − y)², Q_y = N((μ + 2βs²y)/a, s²/a): E (μ − y)²/a² + s²/a per component
    dist = float((s2 / a + (sig2 + mu.square()) / a.square()).sum())
    upper = -beta * dist - mean_log_z
    return {
        "log_sup": log_sup,
        "mean_log_z": mean_log_z,
        "distortion": dist,
        "upper": upper,
        "lower": max(upper - log_sup, 0.0),
    }
