"""Isotropic Gaussian mixtures: ``gmm-40`` (40 modes in [−40, 40]²) and ``mog8`` (8 modes on a circle)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from ebmlab.errors import ConfigError, ShapeError
from ebmlab.targets.base import Target

__all__ = ["GMM40_MEANS", "GaussianMixture", "circle_means", "gmm_40", "mog8"]

_F64 = torch.float64
_LOOP_DIMS = 16  # up to this dimension, squared distances are accumulated coordinate by coordinate

# Means of ``gmm-40``: drawn once as (torch.rand(40, 2, generator=torch.Generator().manual_seed(40),
# dtype=torch.float64) * 2 - 1) * 40, i.e. uniform in [-40, 40]², rounded to 4 decimals and pinned here
# so that the benchmark never depends on the torch RNG implementation.
GMM40_MEANS: tuple[tuple[float, float], ...] = (
    (35.4421, -8.8279),
    (33.5544, -7.9180),
    (-14.5601, -7.0074),
    (-34.7010, 5.3928),
    (26.8919, -6.1691),
    (37.0234, -2.2921),
    (-39.3974, -15.5780),
    (-8.7172, 35.1407),
    (-7.5899, 4.6144),
    (15.5800, -23.6502),
    (21.3655, 28.2579),
    (19.1762, 20.2705),
    (13.3201, -38.4949),
    (-16.9417, -27.9166),
    (-29.1829, -26.3289),
    (-6.6590, 38.5588),
    (27.8937, 38.8040),
    (6.5934, 35.2185),
    (-29.5425, 36.9323),
    (-30.8747, 7.8596),
    (-34.4689, -9.6267),
    (25.7844, 16.3881),
    (32.2451, 6.8970),
    (9.5297, 10.0977),
    (27.4971, -9.6072),
    (23.7994, 5.9259),
    (31.7258, 36.3754),
    (-13.3855, 10.5962),
    (-37.6368, -5.0686),
    (34.6919, -38.9163),
    (-36.5715, -4.7807),
    (27.5208, 21.6914),
    (2.7840, 1.3278),
    (-8.0185, 35.8712),
    (-3.3138, 17.7476),
    (36.8554, -16.7366),
    (39.3314, -17.9338),
    (35.7480, -33.9088),
    (9.3104, -20.1627),
    (19.5381, -17.5015),
)


class GaussianMixture(Target):
    """Normalised mixture p(x) = Σₖ wₖ N(x; mₖ, σₖ² I), energy E = −log p, so log Z = 0.

    With logits ℓₖ(x) = log wₖ − d log σₖ − (d/2) log 2π − |x − mₖ|² / (2σₖ²):
    E = −logsumexp ℓ,  ∇E = Σₖ rₖ (x − mₖ)/σₖ² with responsibilities r = softmax ℓ (computed once).
    Exact samples: k ~ Categorical(w), x = mₖ + σₖ ξ.
    """

    def __init__(
        self,
        means: Tensor | Sequence[Sequence[float]],
        stds: float | Tensor | Sequence[float] = 1.0,
        weights: Tensor | Sequence[float] | None = None,
        name: str = "gmm",
    ) -> None:
        means = torch.as_tensor(means, dtype=_F64, device="cpu").detach()  # built on the CPU, moved with .to
        if means.dim() != 2 or means.shape[0] < 1:
            raise ConfigError(f"GaussianMixture: means must have shape (K, d), got {tuple(means.shape)}")
        k, d = means.shape
        stds = torch.as_tensor(stds, dtype=_F64, device="cpu").detach().expand(k).clone()
        weights = (
            torch.full((k,), 1.0 / k, dtype=_F64, device="cpu")
            if weights is None
            else torch.as_tensor(weights, dtype=_F64, device="cpu").detach().reshape(-1)
        )
        if weights.shape != (k,) or not bool((weights >= 0).all()) or float(weights.sum()) <= 0:
            raise ConfigError(f"GaussianMixture: weights must be {k} non-negative numbers, not all zero")
        if not bool((stds > 0).all()):
            raise ConfigError("GaussianMixture: stds must be positive")
        self.means: Tensor = means
        self.stds: Tensor = stds
        self.weights: Tensor = weights / weights.sum()
        self._log_coef = self.weights.log() - d * stds.log() - 0.5 * d * math.log(2 * math.pi)
        lo = (means - 7 * stds[:, None]).min(0).values
        hi = (means + 7 * stds[:, None]).max(0).values
        bounds = tuple((float(a), float(b)) for a, b in zip(lo, hi, strict=True))
        super().__init__(name, (d,), bounds)

    @property
    def n_components(self) -> int:
        return self.means.shape[0]

    def _tensors(self) -> dict[str, Tensor]:
        inv_var = self.stds.pow(-2)
        return {
            "means": self.means,
            "means_t": self.means.T.contiguous(),
            "log_coef": self._log_coef,
            "neg_half_inv_var": -0.5 * inv_var,
            "inv_var": inv_var,
            "scaled_means": self.means * inv_var[:, None],
        }

    def _logits(self, x: Tensor, c: dict[str, Tensor], inplace: bool) -> Tensor:
        """ℓ(x) of shape (n, K); ``inplace`` reuses buffers (only when no autograd graph is needed)."""
        if self.dim > _LOOP_DIMS:
            sq = (x[:, None, :] - c["means"]).square().sum(-1)
            return (
                sq.mul_(c["neg_half_inv_var"]).add_(c["log_coef"])
                if inplace
                else (c["log_coef"] + sq * c["neg_half_inv_var"])
            )
        mt = c["means_t"]  # accumulate |x − m|² coordinate by coordinate: (n, K) memory, no cancellation
        if not inplace:
            sq = (x[:, 0:1] - mt[0]).square()
            for i in range(1, self.dim):
                sq = sq + (x[:, i : i + 1] - mt[i]).square()
            return c["log_coef"] + sq * c["neg_half_inv_var"]
        sq = torch.sub(x[:, 0:1], mt[0]).square_()
        if self.dim > 1:
            tmp = torch.empty_like(sq)
            for i in range(1, self.dim):
                sq.addcmul_(torch.sub(x[:, i : i + 1], mt[i], out=tmp), tmp)
        return sq.mul_(c["neg_half_inv_var"]).add_(c["log_coef"])

    def energy(self, x: Tensor) -> Tensor:
        x = self._check(x)
        c = self._constants(x)
        if torch.is_grad_enabled() and x.requires_grad:
            return -torch.logsumexp(self._logits(x, c, inplace=False), dim=1)
        logits = self._logits(x, c, inplace=True)
        top = logits.amax(1, keepdim=True)
        return -(top[:, 0] + logits.sub_(top).exp_().sum(1).log())

    def energy_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = self._check(x).detach()
        c = self._constants(x)
        logits = self._logits(x, c, inplace=True)
        top = logits.amax(1, keepdim=True)
        w = logits.sub_(top).exp_()  # unnormalised responsibilities, one exp pass
        total = w.sum(1)
        # ∇E = Σₖ rₖ (x − mₖ)/σₖ² = (x Σₖ wₖ/σₖ² − Σₖ wₖ mₖ/σₖ²) / Σₖ wₖ
        grad = (x * (w @ c["inv_var"])[:, None] - w @ c["scaled_means"]) / total[:, None]
        return -(top[:, 0] + total.log()), grad

    def log_z(self) -> float:
        return 0.0

    def _sample(self, n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
        cdf = self.weights.cumsum(0).to(device)
        u = torch.rand(n, generator=generator, dtype=_F64, device=device)
        idx = torch.searchsorted(cdf, u, right=True).clamp_(max=self.n_components - 1)
        xi = torch.randn(n, self.dim, generator=generator, dtype=_F64, device=device)
        return self.means.to(device)[idx] + self.stds.to(device)[idx, None] * xi

    def mode_coverage(self, samples: Tensor, radius: float = 3.0) -> float:
        """Fraction of components with at least one sample within ``radius`` of their mean."""
        samples = samples.detach().reshape(samples.shape[0], -1).to(_F64)
        if samples.shape[1] != self.dim:
            raise ShapeError(f"mode_coverage: expected samples (n, {self.dim}), got {tuple(samples.shape)}")
        means = self.means.to(samples.device)
        hit = torch.zeros(self.n_components, dtype=torch.bool, device=samples.device)
        for chunk in samples.split(8192):
            hit |= (torch.cdist(means, chunk, compute_mode="donot_use_mm_for_euclid_dist") <= radius).any(1)
        return float(hit.double().mean())


def circle_means(n_modes: int, radius: float) -> Tensor:
    """``n_modes`` points equally spaced on a circle of ``radius`` (the first on the positive x-axis)."""
    angles = torch.arange(n_modes, dtype=_F64, device="cpu") * (2 * math.pi / n_modes)
    return radius * torch.stack((angles.cos(), angles.sin()), dim=1)


def gmm_40(std: float = 1.0) -> GaussianMixture:
    """``gmm-40``: 40 equal-weight N(mₖ, std² I) components, means ``GMM40_MEANS`` (uniform in [−40, 40]²)."""
    return GaussianMixture(torch.tensor(GMM40_MEANS, dtype=_F64, device="cpu"), std, name="gmm-40")


def mog8(radius: float = 4.0, std: float = 0.5) -> GaussianMixture:
    """``mog8``: 8 equal-weight Gaussians of std 0.5 with means on a circle of radius 4."""
    return GaussianMixture(circle_means(8, radius), std, name="mog8")
