"""A 1-D Ising chain: a discrete Boltzmann system with an exact transfer-matrix log Z (ground truth).

E(s) = −J Σᵢ sᵢ sᵢ₊₁ − h Σᵢ sᵢ,  sᵢ ∈ {−1, +1}, i = 1..n (periodic: sₙ₊₁ = s₁; open: the sum stops at n−1).

Transfer matrix T_{ab} = exp(β J a b + β h (a + b)/2), a, b ∈ {±1}:
periodic: Z_β = tr Tⁿ = λ₊ⁿ + λ₋ⁿ;  open: Z_β = vᵀ T^{n−1} v with vₐ = exp(β h a / 2).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ebmlab.errors import ConfigError, ShapeError

if TYPE_CHECKING:
    from ebmlab.estimators.spaces import BinarySpace

__all__ = ["IsingChain"]


class IsingChain:
    """Energy of an n-spin Ising chain, input ``(batch, n)`` with entries ±1."""

    def __init__(self, n: int, coupling: float = 1.0, field: float = 0.0, periodic: bool = True) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise ConfigError(f"IsingChain: n must be an int >= 2, got {n!r}.")
        self.n, self.coupling, self.field, self.periodic = n, float(coupling), float(field), bool(periodic)

    def __call__(self, s: Tensor) -> Tensor:
        if s.dim() != 2 or s.shape[1] != self.n:
            raise ShapeError(f"IsingChain: expected spins of shape (batch, {self.n}), got {tuple(s.shape)}.")
        right = torch.roll(s, -1, dims=1) if self.periodic else s[:, 1:]
        left = s if self.periodic else s[:, :-1]
        return -self.coupling * (left * right).sum(1) - self.field * s.sum(1)

    def space(self, dtype: torch.dtype = torch.float64) -> BinarySpace:
        """All 2ⁿ spin configurations."""
        from ebmlab.estimators.spaces import BinarySpace

        return BinarySpace(self.n, values=(-1.0, 1.0), dtype=dtype)

    def log_z(self, beta: float = 1.0) -> float:
        """Exact log Z_β by the transfer matrix (float64)."""
        b, j, h = float(beta), self.coupling, self.field
        spins = torch.tensor([-1.0, 1.0], dtype=torch.float64)
        t = torch.exp(b * j * spins[:, None] * spins[None, :] + 0.5 * b * h * (spins[:, None] + spins[None, :]))
        if self.periodic:
            lam = torch.linalg.eigvalsh(t)  # symmetric: real eigenvalues, ascending
            lam_max = float(lam[-1])
            ratio = float(lam[0]) / lam_max
            return self.n * math.log(lam_max) + math.log1p(ratio**self.n)
        v = torch.exp(0.5 * b * h * spins)
        return float(torch.log(v @ torch.linalg.matrix_power(t, self.n - 1) @ v))
