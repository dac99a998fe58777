"""Maximum mean discrepancy (MMD) with Gaussian (RBF) kernels: unbiased estimate, standard error, permutation test.

For samples x₁..x_m ~ P and y₁..y_n ~ Q and a kernel k, the unbiased U-statistic is

    MMD²_u = 1/(m(m−1)) Σ_{i≠j} k(xᵢ,xⱼ) + 1/(n(n−1)) Σ_{i≠j} k(yᵢ,yⱼ) − 2/(mn) Σ_{i,j} k(xᵢ,yⱼ),

with E[MMD²_u] = MMD²(P, Q) exactly (it can be negative). Its standard error comes from the Hájek
projection: MMD²_u − MMD² ≈ (2/m) Σᵢ ã(xᵢ) + (2/n) Σⱼ b̃(yⱼ) with ã(x) = E k(x, x') − E k(x, y) and
b̃(y) = E k(y, y') − E k(x, y), so Var ≈ 4 Var ã / m + 4 Var b̃ / n, with ã, b̃ estimated by leave-one-out
row means of the kernel matrices. This first-order SE is accurate when P ≠ Q; at P = Q the first-order
term vanishes and the plug-in SE is only of the right order (O(1/n)) — use :func:`mmd_permutation_test`
to *test* P = Q.

The RBF kernel is k(x, y) = mean_b exp(−‖x − y‖² / (2 h_b²)) over bandwidths h_b (a mixture of Gaussian
kernels is still characteristic). The default bandwidth is the median heuristic: the median pairwise
distance of the pooled sample.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from ebmlab.errors import ConfigError, ShapeError

__all__ = [
    "MMDResult",
    "MMDTest",
    "median_bandwidth",
    "mmd2_from_kernels",
    "mmd2_rbf",
    "mmd_permutation_test",
    "rbf_kernel",
]

_F64 = torch.float64


@dataclass(frozen=True)
class MMDResult:
    """Unbiased MMD² estimate ``value`` with its standard error ``se`` (first-order, see module doc)."""

    value: float
    se: float
    bandwidths: tuple[float, ...]
    n_x: int
    n_y: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class MMDTest:
    """Permutation test of P = Q: ``p_value`` and the (1 − α) null quantile ``threshold`` of MMD²_u."""

    statistic: float
    p_value: float
    threshold: float
    alpha: float
    n_permutations: int
    bandwidths: tuple[float, ...]

    @property
    def reject(self) -> bool:
        """Whether P = Q is rejected at level α."""
        return self.p_value <= self.alpha

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "reject": self.reject}


def _flat(name: str, x: Tensor) -> Tensor:
    if not isinstance(x, Tensor) or x.dim() < 1:
        raise ShapeError(f"{name} must be a tensor of shape (n, *event), got {getattr(x, 'shape', type(x).__name__)}.")
    if x.shape[0] < 2:
        raise ShapeError(f"{name} needs at least 2 samples for an unbiased MMD, got {x.shape[0]}.")
    x = x.detach().reshape(x.shape[0], -1).to(_F64)
    if not bool(torch.isfinite(x).all()):
        raise ShapeError(f"{name} holds NaN/inf values; drop or fix the non-finite samples first.")
    return x


def _check_same_dim(x: Tensor, y: Tensor) -> None:
    if x.shape[1] != y.shape[1]:
        raise ShapeError(f"x and y must have the same event size, got {x.shape[1]} and {y.shape[1]} features.")


def median_bandwidth(x: Tensor, y: Tensor, max_points: int = 1000) -> float:
    """Median pairwise Euclidean distance of the pooled sample (first ``max_points`` of each set)."""
    z = torch.cat([_flat("x", x)[:max_points], _flat("y", y)[:max_points]])
    d = torch.cdist(z, z)
    iu = torch.triu_indices(z.shape[0], z.shape[0], offset=1)
    h = float(d[iu[0], iu[1]].median())
    if not h > 0:
        raise ConfigError("median_bandwidth: all pooled samples coincide; pass explicit bandwidths.")
    return h


def _bandwidths(x: Tensor, y: Tensor, bandwidths: float | Sequence[float] | None) -> tuple[float, ...]:
    if bandwidths is None:
        return (median_bandwidth(x, y),)
    hs = (float(bandwidths),) if isinstance(bandwidths, int | float) else tuple(float(h) for h in bandwidths)
    if not hs or any(not (h > 0 and math.isfinite(h)) for h in hs):
        raise ConfigError(f"bandwidths must be positive finite numbers, got {bandwidths!r}.")
    return hs


def rbf_kernel(a: Tensor, b: Tensor, bandwidths: Sequence[float]) -> Tensor:
    """k(aᵢ, bⱼ) = mean_h exp(−‖aᵢ − bⱼ‖² / (2h²)), shape ``(len(a), len(b))``."""
    d2 = torch.cdist(a, b).square()
    return torch.stack([torch.exp(-d2 / (2.0 * h * h)) for h in bandwidths]).mean(0)


def _offdiag_row_mean(k: Tensor) -> Tensor:
    n = k.shape[0]
    return (k.sum(1) - k.diagonal()) / (n - 1)


def mmd2_from_kernels(kxx: Tensor, kyy: Tensor, kxy: Tensor) -> tuple[float, float]:
    """Unbiased MMD²_u and its first-order standard error from the three kernel matrices."""
    m, n = kxy.shape
    a = _offdiag_row_mean(kxx) - kxy.mean(1)
    b = _offdiag_row_mean(kyy) - kxy.mean(0)
    value = float(a.mean() + b.mean())
    var = 4.0 * float(a.var()) / m + 4.0 * float(b.var()) / n
    return value, math.sqrt(max(var, 0.0))


def mmd2_rbf(x: Tensor, y: Tensor, bandwidths: float | Sequence[float] | None = None) -> MMDResult:
    """Unbiased RBF-kernel MMD² between samples ``x`` (m, *event) and ``y`` (n, *event), with its SE.

    ``bandwidths``: one or several RBF bandwidths h (kernel averaged over them); ``None`` for the median
    heuristic. Computed in float64; cost O((m + n)²) memory and time.
    """
    xf, yf = _flat("x", x), _flat("y", y)
    _check_same_dim(xf, yf)
    hs = _bandwidths(xf, yf, bandwidths)
    value, se = mmd2_from_kernels(rbf_kernel(xf, xf, hs), rbf_kernel(yf, yf, hs), rbf_kernel(xf, yf, hs))
    return MMDResult(value=value, se=se, bandwidths=hs, n_x=xf.shape[0], n_y=yf.shape[0])


def _permuted_mmd2(k: Tensor, labels: Tensor, m: int, n: int) -> Tensor:
    """MMD²_u for each row of a (P, N) 0/1 label matrix (1 = 'x') over the pooled kernel matrix ``k``."""
    s = labels.to(k.dtype)
    t = 1.0 - s
    diag = k.diagonal()
    ks, kt = s @ k, t @ k
    sxx = (ks * s).sum(1) - s @ diag
    syy = (kt * t).sum(1) - t @ diag
    sxy = (ks * t).sum(1)
    return sxx / (m * (m - 1)) + syy / (n * (n - 1)) - 2.0 * sxy / (m * n)


def mmd_permutation_test(
    x: Tensor,
    y: Tensor,
    bandwidths: float | Sequence[float] | None = None,
    n_permutations: int = 200,
    alpha: float = 0.05,
    generator: torch.Generator | None = None,
) -> MMDTest:
    """Permutation test of P = Q with the unbiased RBF MMD² statistic.

    The labels of the pooled sample are permuted ``n_permutations`` times (randomness from ``generator``);
    p = (1 + #{MMD²_perm ≥ MMD²_obs}) / (1 + n_permutations), which is a valid level-α test.
    """
    if int(n_permutations) != n_permutations or n_permutations < 1:
        raise ConfigError(f"n_permutations must be an integer >= 1, got {n_permutations!r}.")
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"alpha must lie in (0, 1), got {alpha!r}.")
    xf, yf = _flat("x", x), _flat("y", y)
    _check_same_dim(xf, yf)
    hs = _bandwidths(xf, yf, bandwidths)
    m, n = xf.shape[0], yf.shape[0]
    z = torch.cat([xf, yf])
    k = rbf_kernel(z, z, hs)
    observed = _permuted_mmd2(k, torch.cat([torch.ones(m), torch.zeros(n)])[None], m, n)[0]
    perms = torch.stack([torch.randperm(m + n, generator=generator) for _ in range(int(n_permutations))])
    labels = (perms < m).to(_F64)
    null = _permuted_mmd2(k, labels, m, n)
    p_value = (1.0 + float((null >= observed).sum())) / (1.0 + n_permutations)
    threshold = float(torch.quantile(null, 1.0 - alpha))
    return MMDTest(float(observed), p_value, threshold, float(alpha), int(n_permutations), hs)
