"""Neal's funnel: v ~ N(0, σ²), xᵢ | v ~ N(0, eᵛ) (``funnel-10``: 10-D, σ = 3)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ebmlab.errors import ConfigError
from ebmlab.targets.base import Target

__all__ = ["Funnel"]

_F64 = torch.float64
_Q = 5.0  # bounds: v within ±5σ, xᵢ within ±5 e^{5σ/2} (each coordinate's mass outside < 1e-6)


class Funnel(Target):
    """Neal's funnel in ``dim`` dimensions, coordinates ``(v, x₁, …, x_{d−1})``, normalised: log Z = 0.

    E = −log p = v²/(2σ²) + (d−1) v/2 + ½ e^{−v} Σᵢ xᵢ² + (d/2) log 2π + log σ;
    ∂E/∂v = v/σ² + (d−1)/2 − ½ e^{−v} Σᵢ xᵢ²,  ∂E/∂xᵢ = e^{−v} xᵢ.
    Exact samples: v = σ ξ₀, xᵢ = e^{v/2} ξᵢ. ``bounds`` hold each coordinate's mass to 1e-6, which for
    the xᵢ is a huge box (±5 e^{2.5σ}); plots usually crop it.
    """

    def __init__(self, dim: int = 10, scale: float = 3.0, name: str | None = None) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2:
            raise ConfigError(f"Funnel: dim must be an int >= 2 (v plus at least one x), got {dim!r}")
        if not scale > 0:
            raise ConfigError(f"Funnel: scale must be positive, got {scale!r}")
        self.scale = float(scale)
        self._const = 0.5 * dim * math.log(2 * math.pi) + math.log(self.scale)
        x_bound = _Q * math.exp(0.5 * _Q * self.scale)
        bounds = ((-_Q * self.scale, _Q * self.scale),) + ((-x_bound, x_bound),) * (dim - 1)
        super().__init__(name or f"funnel-{dim}", (dim,), bounds)

    def energy(self, x: Tensor) -> Tensor:
        x = self._check(x)
        v, rest = x[:, 0], x[:, 1:]
        sq = rest.square().sum(-1)
        half_var = 0.5 / self.scale**2
        return half_var * v * v + 0.5 * (self.dim - 1) * v + 0.5 * torch.exp(-v) * sq + self._const

    def energy_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = self._check(x).detach()
        v, rest = x[:, 0], x[:, 1:]
        sq = rest.square().sum(-1)
        inv = torch.exp(-v)
        half_sq = 0.5 * inv * sq
        e = (0.5 / self.scale**2) * v * v + 0.5 * (self.dim - 1) * v + half_sq + self._const
        gv = v / self.scale**2 + 0.5 * (self.dim - 1) - half_sq
        return e, torch.cat((gv[:, None], rest * inv[:, None]), dim=1)

    def log_z(self) -> float:
        return 0.0

    def _sample(self, n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
        xi = torch.randn(n, self.dim, generator=generator, dtype=_F64, device=device)
        v = self.scale * xi[:, 0]
        return torch.cat((v[:, None], xi[:, 1:] * torch.exp(0.5 * v)[:, None]), dim=1)
