"""P̂(y|x) = N(y | M(x), Σ(x)): the Gaussian head over a Boltzmann generator's redundant latents (D > d)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ebmlab.errors import ConfigError
from ebmlab.flows import make_mlp

__all__ = ["LOG_2PI", "ConditionalGaussian"]

LOG_2PI = math.log(2.0 * math.pi)


class ConditionalGaussian(nn.Module):
    """P̂(y|x) = N(y | M(x), Σ(x)), Σ = LLᵀ, L lower-triangular with diagonal exp(κ tanh(·/κ)), κ = 7.

    One MLP maps x ∈ ℝ^d to M (k values) and L (k(k+1)/2 values); its last layer starts at zero, so
    P̂(y|x) starts as N(0, I).
    """

    def __init__(self, x_dim: int, y_dim: int, hidden: int = 64, depth: int = 2, seed: int = 0) -> None:
        super().__init__()
        if x_dim < 1 or y_dim < 1:
            raise ConfigError(f"ConditionalGaussian: x_dim and y_dim must be >= 1, got {x_dim}, {y_dim}.")
        self.x_dim, self.y_dim = x_dim, y_dim
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        self.net = make_mlp(x_dim, y_dim + y_dim * (y_dim + 1) // 2, hidden, depth, gen)
        rows, cols = torch.tril_indices(y_dim, y_dim)
        self.register_buffer("tril_flat", rows * y_dim + cols)

    def params(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(M(x), L(x), log diag L(x))`` with shapes ``(n, k)``, ``(n, k, k)``, ``(n, k)``."""
        out = self.net(x)
        k = self.y_dim
        mean, raw = out[:, :k], out[:, k:]
        chol = out.new_zeros(x.shape[0], k * k).index_copy(1, self.tril_flat, raw).reshape(-1, k, k)
        raw_diag = torch.diagonal(chol, dim1=1, dim2=2)
        log_diag = 7.0 * torch.tanh(raw_diag / 7.0)
        eye = torch.eye(self.y_dim, dtype=x.dtype, device=x.device)
        chol = chol * (1 - eye) + torch.diag_embed(log_diag.exp())
        return mean, chol, log_diag

    def terms(self, y: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(½ log det Σ(x), ½ (y − M)ᵀ Σ⁻¹ (y − M))``, each ``(n,)`` — the seed's terms of Ĵ_R."""
        mean, chol, log_diag = self.params(x)
        r = torch.linalg.solve_triangular(chol, (y - mean).unsqueeze(-1), upper=False).squeeze(-1)
        return log_diag.sum(dim=1), 0.5 * (r * r).sum(dim=1)

    def log_prob(self, y: Tensor, x: Tensor) -> Tensor:
        """log N(y | M(x), Σ(x)) = −½ log det Σ − ½ maha − (k/2) log 2π, shape ``(n,)``."""
        half_logdet, half_maha = self.terms(y, x)
        return -half_logdet - half_maha - 0.5 * self.y_dim * LOG_2PI

    def sample(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """y = M(x) + L(x) ε, ε ~ N(0, I) (reparametrised, differentiable)."""
        mean, chol, _ = self.params(x)
        eps = torch.randn(x.shape[0], self.y_dim, 1, generator=generator, dtype=x.dtype, device=x.device)
        return mean + (chol @ eps).squeeze(-1)
