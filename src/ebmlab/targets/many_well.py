"""Many-well: independent 2-D double-well pairs (the ``many-well-32`` benchmark is 16 pairs)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ebmlab.errors import ConfigError
from ebmlab.targets.base import Target
from ebmlab.targets.double_well import quartic_well

__all__ = ["ManyWell"]

_F64 = torch.float64
_X2_BOUND = math.sqrt(2 * 25.0)  # |x₂| where ½x₂² reaches 25 (same criterion as the quartic bounds)


class ManyWell(Target):
    """Sum of ``n_pairs`` independent pairs E(x₁, x₂) = x₁⁴ + b x₁² + c x₁ + ½ x₂² (b = −6, c = 0.5).

    Coordinates are interleaved: pair i is ``(x[2i], x[2i+1])``; event shape ``(2 n_pairs,)``.
    log Z = n_pairs · (log ∫ exp(−x⁴ − b x² − c x) dx + ½ log 2π) (164.695675 for 16 pairs).
    Exact samples: x₂ ~ N(0, 1), x₁ by rejection from the 1-D quartic (see ``QuarticWell``).
    With 2 wells per pair the density has 2^n_pairs modes.
    """

    def __init__(self, n_pairs: int = 16, b: float = -6.0, c: float = 0.5, name: str | None = None) -> None:
        if isinstance(n_pairs, bool) or not isinstance(n_pairs, int) or n_pairs < 1:
            raise ConfigError(f"ManyWell: n_pairs must be a positive int, got {n_pairs!r}")
        self.n_pairs = n_pairs
        self.b, self.c = float(b), float(c)
        self._well = quartic_well(self.b, self.c)
        bounds = (self._well.bounds, (-_X2_BOUND, _X2_BOUND)) * n_pairs
        super().__init__(name or f"many-well-{2 * n_pairs}", (2 * n_pairs,), bounds)

    @property
    def barrier(self) -> float:
        """x₁ of the local maximum of the quartic between its wells (the same for every pair)."""
        return self._well.barrier

    def left_well_mass(self) -> float:
        """P(x₁ < barrier) for one pair, exact (quadrature)."""
        return float(self._well.left_mass)

    def pair_log_z(self) -> float:
        """log Z of one pair: log ∫ exp(−x⁴ − b x² − c x) dx + ½ log 2π."""
        return float(self._well.log_z) + 0.5 * math.log(2 * math.pi)

    def energy(self, x: Tensor) -> Tensor:
        x = self._check(x)
        x1, x2 = x[:, 0::2], x[:, 1::2]
        x1sq = x1 * x1
        return ((x1sq + self.b) * x1sq + self.c * x1).sum(-1) + 0.5 * (x2 * x2).sum(-1)

    def energy_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = self._check(x).detach()
        x1, x2 = x[:, 0::2], x[:, 1::2]
        x1sq = x1 * x1
        e = ((x1sq + self.b) * x1sq + self.c * x1).sum(-1) + 0.5 * (x2 * x2).sum(-1)
        g1 = (4.0 * x1sq + 2.0 * self.b) * x1 + self.c
        return e, torch.stack((g1, x2), dim=-1).reshape(x.shape)

    def log_z(self) -> float:
        return self.n_pairs * self.pair_log_z()

    def _sample(self, n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
        x1 = self._well.sample(n * self.n_pairs, generator, device).reshape(n, self.n_pairs)
        x2 = torch.randn(n, self.n_pairs, generator=generator, dtype=_F64, device=device)
        return torch.stack((x1, x2), dim=-1).reshape(n, 2 * self.n_pairs)
