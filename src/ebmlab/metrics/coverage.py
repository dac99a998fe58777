"""Mode coverage of samples from a mixture: which modes receive samples, and in what proportions.

Samples are assigned to a mode (or to none: label −1), e.g. to the nearest centre within a radius
(``assign_to_centers``) or to the nearest ring (``assign_to_rings``). With counts cₖ over K modes:

* ``covered`` = fraction of modes with cₖ ≥ ``min_count``;
* ŵₖ = cₖ / Σc, the weights of the assigned samples (``outside`` = fraction assigned to no mode);
* TV(ŵ, w) = ½ Σ |ŵₖ − wₖ| and KL(ŵ ‖ w) = Σ ŵₖ log(ŵₖ / wₖ) to the target weights w (uniform by
  default). KL(ŵ ‖ w) is finite even when modes are missed (a missed mode shows in ``covered`` and TV).

Uncertainty: SEs of TV and KL from a parametric bootstrap (multinomial resampling of the counts), and
the expected TV of an exact sampler with the same number of assigned samples (``tv_floor``), since even
perfect samples have TV > 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from ebmlab.errors import ConfigError, ShapeError

__all__ = ["ModeCoverage", "assign_to_centers", "assign_to_rings", "mode_coverage", "mode_coverage_from_labels"]

_F64 = torch.float64


@dataclass(frozen=True)
class ModeCoverage:
    """Coverage summary (see module doc); ``counts`` and ``weights`` are per mode."""

    covered: float
    n_covered: int
    n_modes: int
    counts: tuple[int, ...]
    weights: tuple[float, ...]
    outside: float
    tv: float
    tv_se: float
    tv_floor: float
    kl: float
    kl_se: float
    min_count: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def assign_to_centers(samples: Tensor, centers: Tensor, radius: float) -> Tensor:
    """Label of the nearest centre for each sample, or −1 when it is farther than ``radius``."""
    if samples.dim() != 2 or centers.dim() != 2 or samples.shape[1] != centers.shape[1]:
        raise ShapeError(
            f"assign_to_centers: samples (n, d) and centers (K, d) must agree in d, got {tuple(samples.shape)} "
            f"and {tuple(centers.shape)}."
        )
    d = torch.cdist(samples.detach().to(_F64), centers.detach().to(_F64))
    dist, label = d.min(1)
    return torch.where(dist <= radius, label, torch.full_like(label, -1))


def assign_to_rings(
    samples: Tensor, radii: Sequence[float], width: float, center: Sequence[float] = (0.0, 0.0)
) -> Tensor:
    """Label of the nearest circle of radius rₖ (about ``center``) for 2-D samples, −1 if | ‖x‖ − rₖ | > width."""
    if samples.dim() != 2 or samples.shape[1] != 2:
        raise ShapeError(f"assign_to_rings expects 2-D samples (n, 2), got {tuple(samples.shape)}.")
    r = (samples.detach().to(_F64) - torch.tensor(center, dtype=_F64, device=samples.device)).norm(dim=1)
    gap = (r[:, None] - torch.tensor(list(radii), dtype=_F64, device=samples.device)[None]).abs()
    dist, label = gap.min(1)
    return torch.where(dist <= width, label, torch.full_like(label, -1))


def _tv_kl(counts: Tensor, w: Tensor) -> tuple[Tensor, Tensor]:
    """TV and KL(ŵ‖w) for a batch of count vectors (B, K)."""
    what = counts / counts.sum(-1, keepdim=True).clamp(min=1)
    tv = 0.5 * (what - w).abs().sum(-1)
    kl = torch.where(what > 0, what * (what.clamp(min=1e-300) / w).log(), torch.zeros_like(what)).sum(-1)
    return tv, kl


def mode_coverage_from_labels(
    labels: Tensor,
    n_modes: int,
    min_count: int = 1,
    weights: Sequence[float] | Tensor | None = None,
    n_bootstrap: int = 200,
    seed: int = 0,
) -> ModeCoverage:
    """Coverage from mode labels in {−1, 0, …, n_modes − 1} (−1: no mode); see module doc."""
    if n_modes < 1 or min_count < 1:
        raise ConfigError(f"n_modes and min_count must be >= 1, got {n_modes}, {min_count}.")
    labels = labels.detach().reshape(-1).long().cpu()  # counts and bootstrap: on the CPU
    if labels.numel() == 0 or int(labels.max()) >= n_modes or int(labels.min()) < -1:
        raise ShapeError(
            f"labels must be non-empty and lie in [-1, {n_modes}), got range "
            f"[{int(labels.min()) if labels.numel() else 'empty'}, {int(labels.max()) if labels.numel() else ''}]."
        )
    w = (
        torch.full((n_modes,), 1.0 / n_modes, dtype=_F64, device="cpu")
        if weights is None
        else torch.as_tensor(weights).to(device="cpu", dtype=_F64)
    )
    if w.shape != (n_modes,) or not bool((w > 0).all()) or abs(float(w.sum()) - 1.0) > 1e-6:
        raise ConfigError(f"weights must be {n_modes} positive numbers summing to 1, got {w.tolist()}.")
    inside = labels[labels >= 0]
    counts = torch.bincount(inside, minlength=n_modes).to(_F64)
    m = int(inside.numel())
    tv, kl = _tv_kl(counts[None], w)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    if m > 0:
        what = counts / m
        boot = _multinomial(m, what, n_bootstrap, gen)
        tv_b, kl_b = _tv_kl(boot, w)
        tv_floor = float(_tv_kl(_multinomial(m, w, n_bootstrap, gen), w)[0].mean())
        tv_se, kl_se = float(tv_b.std()), float(kl_b.std())
    else:
        tv_se = kl_se = tv_floor = float("nan")
    n_cov = int((counts >= min_count).sum())
    return ModeCoverage(
        covered=n_cov / n_modes,
        n_covered=n_cov,
        n_modes=n_modes,
        counts=tuple(int(c) for c in counts),
        weights=tuple(float(c) / m if m else 0.0 for c in counts),
        outside=1.0 - m / labels.numel(),
        tv=float(tv[0]) if m else float("nan"),
        tv_se=tv_se,
        tv_floor=tv_floor,
        kl=float(kl[0]) if m else float("nan"),
        kl_se=kl_se,
        min_count=int(min_count),
    )


def _multinomial(m: int, p: Tensor, n: int, gen: torch.Generator) -> Tensor:
    """(n, K) multinomial count vectors with m trials, from ``gen``."""
    k = p.numel()
    draws = torch.multinomial(p.to(_F64), m * n, replacement=True, generator=gen).reshape(n, m)
    offsets = torch.arange(n, device=draws.device)[:, None] * k
    return torch.bincount((draws + offsets).reshape(-1), minlength=n * k).reshape(n, k).to(_F64)


def mode_coverage(
    samples: Tensor,
    centers: Tensor,
    radius: float,
    min_count: int = 1,
    weights: Sequence[float] | Tensor | None = None,
) -> ModeCoverage:
    """Coverage of point modes: samples within ``radius`` of their nearest centre count for that mode."""
    if not radius > 0 or not math.isfinite(radius):
        raise ConfigError(f"radius must be a positive finite number, got {radius!r}.")
    return mode_coverage_from_labels(assign_to_centers(samples, centers, radius), centers.shape[0], min_count, weights)
