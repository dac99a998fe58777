"""Feature-space sample quality: Fréchet distance (FD) and kernel distance (KID) between two feature sets.

FD (the formula of FID, on any features): with feature means μ₁, μ₂ and covariances Σ₁, Σ₂,

    FD = ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2 (Σ₁^{½} Σ₂ Σ₁^{½})^{½}),

where tr (Σ₁^{½} Σ₂ Σ₁^{½})^{½} = Σ √λᵢ over the eigenvalues of the symmetric PSD matrix Σ₁^{½} Σ₂ Σ₁^{½}
(equal to tr (Σ₁Σ₂)^{½}, computed stably with ``eigh`` in float64). FD is biased upwards at finite sample
size, so compare FDs only at equal sample sizes; its uncertainty here is the bootstrap standard deviation.

KID (Bińkowski et al. 2018): the unbiased MMD² with the polynomial kernel k(a, b) = (aᵀb / d + 1)³,
averaged over ``n_subsets`` random subsets of ``subset_size`` points from each set; SE = std/√n_subsets.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from ebmlab.errors import ConfigError, ShapeError
from ebmlab.metrics.mmd import mmd2_from_kernels

__all__ = ["FDResult", "KIDResult", "frechet_distance", "kernel_distance"]

_F64 = torch.float64


@dataclass(frozen=True)
class FDResult:
    """Fréchet distance ``value`` with bootstrap standard deviation ``se`` (``n_bootstrap`` resamples)."""

    value: float
    se: float
    n_x: int
    n_y: int
    n_bootstrap: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class KIDResult:
    """KID: mean unbiased polynomial-kernel MMD² over subsets, its SE (std/√n_subsets) and the std."""

    value: float
    se: float
    std: float
    subset_size: int
    n_subsets: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _features(name: str, f: Tensor, min_n: int = 2) -> Tensor:
    if not isinstance(f, Tensor) or f.dim() != 2 or f.shape[0] < min_n:
        raise ShapeError(f"{name} must be features of shape (n >= {min_n}, d), got {getattr(f, 'shape', f)}.")
    f = f.detach().to(_F64)
    if not bool(torch.isfinite(f).all()):
        raise ShapeError(f"{name} holds NaN/inf features; the samples probably diverged.")
    return f


def _sqrt_psd(s: Tensor) -> Tensor:
    w, v = torch.linalg.eigh(s)
    return (v * w.clamp(min=0).sqrt()) @ v.T


def _fd(fx: Tensor, fy: Tensor) -> float:
    mx, my = fx.mean(0), fy.mean(0)
    sx, sy = torch.cov(fx.T).reshape(fx.shape[1], -1), torch.cov(fy.T).reshape(fy.shape[1], -1)
    root = _sqrt_psd(sx)
    cross = torch.linalg.eigvalsh(root @ sy @ root).clamp(min=0).sqrt().sum()
    return float((mx - my).square().sum() + sx.trace() + sy.trace() - 2.0 * cross)


def frechet_distance(
    fx: Tensor, fy: Tensor, n_bootstrap: int = 20, generator: torch.Generator | None = None
) -> FDResult:
    """FD between feature sets ``fx`` (m, d) and ``fy`` (n, d) with a bootstrap SE (see module doc)."""
    fx, fy = _features("fx", fx), _features("fy", fy)
    if fx.shape[1] != fy.shape[1]:
        raise ShapeError(f"fx and fy must have the same feature size, got {fx.shape[1]} and {fy.shape[1]}.")
    value = _fd(fx, fy)
    boots = []
    for _ in range(int(n_bootstrap)):
        ix = torch.randint(fx.shape[0], (fx.shape[0],), generator=generator, device=fx.device)
        iy = torch.randint(fy.shape[0], (fy.shape[0],), generator=generator, device=fy.device)
        boots.append(_fd(fx[ix], fy[iy]))
    se = float(torch.tensor(boots, device="cpu").std()) if len(boots) > 1 else float("nan")
    return FDResult(value, se, fx.shape[0], fy.shape[0], int(n_bootstrap))


def _poly(a: Tensor, b: Tensor) -> Tensor:
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def kernel_distance(
    fx: Tensor,
    fy: Tensor,
    subset_size: int = 100,
    n_subsets: int = 50,
    generator: torch.Generator | None = None,
) -> KIDResult:
    """KID between feature sets ``fx`` and ``fy`` (see module doc); subsets drawn without replacement."""
    fx, fy = _features("fx", fx), _features("fy", fy)
    if fx.shape[1] != fy.shape[1]:
        raise ShapeError(f"fx and fy must have the same feature size, got {fx.shape[1]} and {fy.shape[1]}.")
    size = min(int(subset_size), fx.shape[0], fy.shape[0])
    if size < 2 or n_subsets < 1:
        raise ConfigError(f"kernel_distance needs subset_size >= 2 and n_subsets >= 1, got {size}, {n_subsets}.")
    vals = []
    for _ in range(int(n_subsets)):
        a = fx[torch.randperm(fx.shape[0], generator=generator, device=fx.device)[:size]]
        b = fy[torch.randperm(fy.shape[0], generator=generator, device=fy.device)[:size]]
        vals.append(mmd2_from_kernels(_poly(a, a), _poly(b, b), _poly(a, b))[0])
    v = torch.tensor(vals, dtype=_F64, device="cpu")
    std = float(v.std()) if len(vals) > 1 else float("nan")
    return KIDResult(float(v.mean()), std / math.sqrt(len(vals)), std, size, int(n_subsets))
