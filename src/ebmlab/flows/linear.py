"""Invertible linear map with an exact log-determinant (LU parametrisation) and an elementwise shift.

``LULinear`` is the seed-004 matrix S:  x = S z  with

    S = P · L · (U + diag(s)),   s_i = σ_i · exp(ℓ_i),

P a fixed permutation, L unit lower-triangular, U strictly upper-triangular, σ_i ∈ {±1} fixed signs and
ℓ learned. Because |det P| = |det L| = 1 and U + diag(s) is triangular,

    log|det S| = Σ_i ℓ_i,

exactly and in O(D); the diagonal never reaches zero, so S stays invertible for every parameter value.
The inverse is two triangular solves.

``Shift`` is x = z + b (log-det 0). In one dimension the only volume-preserving C¹ bijections of ℝ are
x = ±z + b, so the D = 1 "NICE network" F of seed 004 is exactly a shift (there is nothing to couple);
:func:`~ebmlab.flows.nice` then builds S·F(z) as s·z + b (same family, better conditioned).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ebmlab.errors import ConfigError
from ebmlab.flows.base import Bijection, check_vectors

__all__ = ["LULinear", "Shift"]


class LULinear(Bijection):
    """x = S z with S = P L (U + diag(σ·exp ℓ)) (see the module docstring).

    Args:
        dim: D.
        init: ``"identity"`` (S = I) or ``"random"`` (S = a random orthogonal matrix, through its LU
            decomposition, drawn with ``generator``).
        generator: randomness for ``init="random"``.
        init_scale: multiplies the initial S (ℓ starts at log|diag| + log init_scale), e.g. to start a
            Boltzmann generator as wide as its target.
    """

    perm: Tensor
    sign: Tensor
    lower_mask: Tensor

    def __init__(
        self, dim: int, init: str = "identity", generator: torch.Generator | None = None, init_scale: float = 1.0
    ) -> None:
        super().__init__()
        if dim < 1:
            raise ConfigError(f"LULinear: dim must be >= 1, got {dim}.")
        if not init_scale > 0:
            raise ConfigError(f"LULinear: init_scale must be > 0, got {init_scale}.")
        self.dim = int(dim)
        eye = torch.eye(self.dim)
        if init == "identity":
            perm, lower, upper = eye.clone(), eye.clone(), eye.clone()
        elif init == "random":
            q, _ = torch.linalg.qr(torch.randn(self.dim, self.dim, generator=generator))
            perm, lower, upper = torch.linalg.lu(q)
        else:
            raise ConfigError(f"LULinear: init must be 'identity' or 'random', got {init!r}.")
        diag = torch.diagonal(upper)
        self.register_buffer("perm", perm)
        self.register_buffer("sign", torch.where(diag < 0, -1.0, 1.0))
        self.register_buffer("lower_mask", torch.tril(torch.ones(self.dim, self.dim), -1))
        self.lower = nn.Parameter(torch.tril(lower, -1))
        self.upper = nn.Parameter(torch.triu(upper, 1) * init_scale)
        self.log_s = nn.Parameter(diag.abs().log() + math.log(init_scale))

    def _factors(self) -> tuple[Tensor, Tensor]:
        eye = torch.eye(self.dim, dtype=self.log_s.dtype, device=self.log_s.device)
        lower = self.lower * self.lower_mask + eye
        upper = self.upper * self.lower_mask.T + torch.diag(self.sign * self.log_s.exp())
        return lower, upper

    def weight(self) -> Tensor:
        """The matrix S = P L (U + diag s), shape ``(D, D)``."""
        lower, upper = self._factors()
        return self.perm @ lower @ upper

    def log_abs_det(self) -> Tensor:
        """log|det S| = Σ ℓ_i (a scalar tensor)."""
        return self.log_s.sum()

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        check_vectors(z, self.dim, "LULinear.forward")
        x = z @ self.weight().T
        return x, self.log_abs_det().expand(z.shape[0])

    def inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        check_vectors(x, self.dim, "LULinear.inverse")
        lower, upper = self._factors()
        rhs = (x @ self.perm).T  # Pᵀ x as columns
        a = torch.linalg.solve_triangular(lower, rhs, upper=False, unitriangular=True)
        z = torch.linalg.solve_triangular(upper, a, upper=True).T
        return z, (-self.log_abs_det()).expand(x.shape[0])


class Shift(Bijection):
    """x = z + b, log|det| = 0 (the D = 1 NICE network; see the module docstring)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        if dim < 1:
            raise ConfigError(f"Shift: dim must be >= 1, got {dim}.")
        self.dim = int(dim)
        self.bias = nn.Parameter(torch.zeros(self.dim))

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        check_vectors(z, self.dim, "Shift.forward")
        return z + self.bias, z.new_zeros(z.shape[0])

    def inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        check_vectors(x, self.dim, "Shift.inverse")
        return x - self.bias, x.new_zeros(x.shape[0])
