"""Estimates with uncertainty, and the weight statistics shared by the importance-sampling estimators.

For importance weights wᵢ = exp(ℓᵢ) with E[w] = Z:

* log Ẑ = log (1/n Σ wᵢ), computed as a log-sum-exp (stable for any range of ℓ);
* its standard error by the delta method, SE(log Ẑ) = SE(Ẑ)/Ẑ = s_w / (w̄ √n), with s_w the sample
  standard deviation of the weights (equivalently ≈ √(1/ESS − 1/n));
* the Kish effective sample size ESS = (Σ wᵢ)² / Σ wᵢ².

log Ẑ is biased low by about SE²/2 (Jensen); the delta-method SE is itself noisy and too small when the
weights are heavy-tailed, which the generalised-Pareto shape k̂ of the largest weights diagnoses
(Vehtari et al., "Pareto smoothed importance sampling": k̂ > 0.7 means the SE cannot be trusted).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor

from ebmlab.errors import NonFiniteError, ShapeError

__all__ = ["Estimate", "groups_se", "kish_ess", "log_mean_exp", "pareto_k", "pareto_k_fit"]


@dataclass(frozen=True)
class Estimate:
    """A scalar estimate with its uncertainty.

    Attributes:
        value: the estimate.
        stderr: its standard error (Monte Carlo), or an error bound for deterministic rules (see
            ``method``'s documentation); 0 for exact enumeration up to float64 rounding.
        ess: effective sample size of the weights or samples behind it, where that applies.
        n: number of samples / chains / grid points used.
        method: name of the estimator.
        exact: True when the value is exact up to floating-point rounding (enumeration).
        details: extra diagnostics (acceptance rates, Pareto k̂, schedule, ...).
    """

    value: float
    stderr: float
    ess: float | None = None
    n: int | None = None
    method: str = ""
    exact: bool = False
    details: dict[str, Any] = field(default_factory=dict, compare=False)

    def interval(self, z: float = 1.96) -> tuple[float, float]:
        """value ± z·stderr."""
        return self.value - z * self.stderr, self.value + z * self.stderr

    def z_score(self, truth: float) -> float:
        """(value − truth) / stderr (inf when stderr is 0 and the value differs)."""
        diff = self.value - truth
        if self.stderr > 0:
            return diff / self.stderr
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    def __str__(self) -> str:
        ess = "" if self.ess is None else f", ESS {self.ess:.1f}"
        return f"{self.value:.6g} ± {self.stderr:.2g}{ess}" + (f" ({self.method})" if self.method else "")


def _check_log_weights(log_w: Tensor, who: str) -> Tensor:
    if log_w.dim() != 1 or log_w.numel() < 2:
        raise ShapeError(f"{who}: expected a 1-D tensor of at least 2 log-weights, got shape {tuple(log_w.shape)}.")
    log_w = log_w.detach().to(torch.float64)
    if torch.isnan(log_w).any() or torch.isposinf(log_w).any():
        bad = int((torch.isnan(log_w) | torch.isposinf(log_w)).sum())
        raise NonFiniteError(
            f"{who}: {bad} of {log_w.numel()} log-weights are NaN or +inf; expected finite values (or -inf for "
            "zero weight). Check the energy and the proposal's log_prob for overflow."
        )
    if not torch.isfinite(log_w).any():
        raise NonFiniteError(
            f"{who}: all {log_w.numel()} weights are zero (log-weight -inf); the proposal puts no mass where "
            "exp(-E) does. Use a broader proposal."
        )
    return log_w


def groups_se(values: list[float]) -> float:
    """SE of the pooled estimate from the scatter of G independent group estimates (sd/√G); 0 for G < 2.

    >>> groups_se([1.0, 3.0])  # sd √2, over √2
    1.0
    """
    if len(values) < 2:
        return 0.0
    return float(torch.tensor(values, dtype=torch.float64, device="cpu").std()) / math.sqrt(len(values))


def log_mean_exp(log_w: Tensor) -> tuple[float, float, float]:
    """``(log mean exp(ℓ), delta-method SE, Kish ESS)`` of log-weights ℓ, in float64."""
    log_w = _check_log_weights(log_w, "log_mean_exp")
    n = log_w.numel()
    m = log_w.max()
    w = (log_w - m).exp()  # in [0, 1], max = 1
    mean = w.mean()
    value = float(m + mean.log())
    stderr = float(w.std(unbiased=True) / (mean * math.sqrt(n)))
    return value, stderr, kish_ess(log_w)


def kish_ess(log_w: Tensor) -> float:
    """Kish effective sample size (Σw)²/Σw² of weights given as logs."""
    log_w = log_w.detach().to(torch.float64)
    return float((2 * torch.logsumexp(log_w, 0) - torch.logsumexp(2 * log_w, 0)).exp())


def pareto_k(log_w: Tensor, min_tail: int = 50) -> float:
    """Shape k̂ of a generalised Pareto fitted to the largest weights (PSIS diagnostic).

    The tail is the M = min(n/5, 3√n) largest weights above the (M+1)-th largest, fitted by the empirical-Bayes
    estimator of Zhang & Stephens (2009) with the weak prior toward 0.5 of Vehtari et al. (PSIS): k̂ < 0.5: the
    weights have finite variance and the SE is reliable; 0.5–0.7: the estimate is usable, its SE is not;
    > 0.7: neither. (Unlike a maximum-likelihood fit, this stays near or below 0 for short, bounded tails.)

    **Threshold stability.** Importance weights always have a finite mean (E_q[w] = Z), so their tail shape is
    k ≤ 1; a fit with k̂ > 1 says the top M draws are not yet the tail (e.g. a plateau of near-equal weights
    under a small bounded bump, where the exceedances look like "many near 0, a few far"). A generalised
    Pareto tail above a threshold is one with the *same* k above any higher threshold, so the fit is repeated
    on the top M/2, M/4, … (while at least ``min_tail`` draws remain) and the first k̂ ≤ 1 is returned; when
    none is, the first k̂. (:func:`pareto_k_fit` also returns the tail size used.)
    Returns nan when fewer than 5 tail weights are available.
    """
    return pareto_k_fit(log_w, min_tail)[0]


def pareto_k_fit(log_w: Tensor, min_tail: int = 50) -> tuple[float, int]:
    """``(k̂, M)``: :func:`pareto_k` and the number of tail draws behind it (0 when k̂ is nan)."""
    log_w = log_w.detach().to(torch.float64).flatten()
    log_w = log_w[torch.isfinite(log_w)]
    n = log_w.numel()
    m = int(min(n / 5, 3 * math.sqrt(n)))
    first = (math.nan, 0)
    while m >= 5:
        k = _tail_shape(log_w, m)
        if first[1] == 0:
            first = (k, m if math.isfinite(k) else 0)
        if not k > 1.0 or m // 2 < min_tail:
            return (k, m) if math.isfinite(k) and k <= 1.0 else first
        m //= 2
    return first


def _tail_shape(log_w: Tensor, m: int) -> float:
    """k̂ of the m largest weights' exceedances over the (m+1)-th largest (nan if they are all equal)."""
    top = torch.topk(log_w, m + 1).values
    w = (top - top[0]).exp()
    x = torch.sort(w[:m] - w[m]).values
    if not bool((x > 0).any()):
        return math.nan
    x = x / x[-1]  # the shape is scale-free
    return _gpd_shape(x)


def _gpd_shape(x: Tensor, prior_b: float = 3.0, prior_k: float = 10.0) -> float:
    """Zhang–Stephens (2009) posterior-mean estimate of the generalised Pareto shape from sorted exceedances
    x (ascending, > 0 at the end): a grid of θ_j = 1/x_(n) + (1 − √(m/(j − ½)))/(prior_b · x_(n/4)), profile
    k(θ) = mean log(1 − θx), weights ∝ exp(n(log(−θ/k) − k − 1)); then shrunk toward ½ by ``prior_k``
    pseudo-observations."""
    n = x.numel()
    m = 30 + int(math.sqrt(n))
    j = torch.arange(1, m + 1, dtype=torch.float64, device=x.device)
    quartile = float(x[max(0, int(n / 4 + 0.5) - 1)])
    if quartile <= 0:
        quartile = float(x[x > 0][0])
    theta = 1.0 / float(x[-1]) + (1.0 - torch.sqrt(m / (j - 0.5))) / (prior_b * quartile)
    k = torch.log1p(-theta[:, None] * x[None, :]).mean(1)
    ok = torch.isfinite(k) & (k != 0) & (-theta / k > 0)
    theta, k = theta[ok], k[ok]
    if theta.numel() == 0:
        return math.nan
    log_lik = n * (torch.log(-theta / k) - k - 1.0)
    weights = torch.softmax(log_lik, 0)
    theta_hat = float((weights * theta).sum())
    k_hat = float(torch.log1p(-theta_hat * x).mean())
    return (n * k_hat + 0.5 * prior_k) / (n + prior_k)
