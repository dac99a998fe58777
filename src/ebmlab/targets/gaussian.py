"""Multivariate Gaussian target with a full covariance (``gaussian-50``: condition number 100)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ebmlab.errors import ConfigError
from ebmlab.targets.base import Target

__all__ = ["Gaussian", "gaussian_50"]

_F64 = torch.float64


class Gaussian(Target):
    """N(μ, Σ) as the unnormalised energy E(x) = ½ (x−μ)ᵀ P (x−μ), P = Σ⁻¹.

    log Z = (d/2) log 2π + ½ log det Σ;  ∇E = P (x−μ);  exact samples x = μ + L ξ with Σ = L Lᵀ.
    ``mean``, ``covariance`` and ``precision`` are float64 tensors.
    """

    def __init__(self, mean: Tensor, covariance: Tensor, name: str = "gaussian") -> None:
        mean = torch.as_tensor(mean, dtype=_F64).detach().cpu().reshape(-1)
        cov = torch.as_tensor(covariance, dtype=_F64).detach().cpu()
        d = mean.numel()
        if d == 0 or cov.shape != (d, d):
            raise ConfigError(
                f"Gaussian: covariance must have shape ({d}, {d}) to match mean of shape ({d},), got {tuple(cov.shape)}"
            )
        if not torch.allclose(cov, cov.T, rtol=1e-10, atol=1e-12):
            raise ConfigError("Gaussian: covariance must be symmetric")
        cov = 0.5 * (cov + cov.T)
        chol, info = torch.linalg.cholesky_ex(cov)
        if int(info) != 0:
            raise ConfigError("Gaussian: covariance must be positive definite (Cholesky failed)")
        precision = torch.cholesky_inverse(chol)
        self.mean: Tensor = mean
        self.covariance: Tensor = cov
        self.precision: Tensor = 0.5 * (precision + precision.T)
        self._chol = chol
        self._log_det = float(2.0 * chol.diagonal().log().sum())
        std = cov.diagonal().sqrt()
        bounds = tuple((float(m - 7 * s), float(m + 7 * s)) for m, s in zip(mean, std, strict=True))
        super().__init__(name, (d,), bounds)

    @classmethod
    def random(
        cls,
        dim: int = 50,
        eig_range: tuple[float, float] = (0.1, 10.0),
        seed: int = 0,
        name: str | None = None,
    ) -> Gaussian:
        """A random Gaussian: covariance eigenvalues log-spaced in ``eig_range`` (condition number
        hi/lo), a Haar-random rotation and a N(0, I) mean, all from ``torch.Generator().manual_seed(seed)``.
        """
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ConfigError(f"Gaussian.random: dim must be a positive int, got {dim!r}")
        lo, hi = (float(v) for v in eig_range)
        if not 0 < lo <= hi:
            raise ConfigError(f"Gaussian.random: eig_range must satisfy 0 < lo <= hi, got {eig_range}")
        g = torch.Generator(device="cpu").manual_seed(seed)
        eig = torch.logspace(math.log10(lo), math.log10(hi), dim, dtype=_F64)  # [lo] when dim == 1
        q, r = torch.linalg.qr(torch.randn(dim, dim, generator=g, dtype=_F64))
        q = q * torch.sign(r.diagonal())  # Haar-distributed orthogonal matrix
        mean = torch.randn(dim, generator=g, dtype=_F64)
        cov = (q * eig) @ q.T
        return cls(mean, cov, name=name or f"gaussian-{dim}")

    def _tensors(self) -> dict[str, Tensor]:
        return {"mean": self.mean, "precision": self.precision}

    def energy(self, x: Tensor) -> Tensor:
        x = self._check(x)
        c = self._constants(x)
        diff = x - c["mean"]
        return 0.5 * (diff * (diff @ c["precision"])).sum(-1)

    def energy_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = self._check(x).detach()
        c = self._constants(x)
        diff = x - c["mean"]
        grad = diff @ c["precision"]
        return 0.5 * (diff * grad).sum(-1), grad

    def log_z(self) -> float:
        return 0.5 * self.dim * math.log(2 * math.pi) + 0.5 * self._log_det

    def _sample(self, n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
        xi = torch.randn(n, self.dim, generator=generator, dtype=_F64, device=device)
        return self.mean.to(device) + xi @ self._chol.T.to(device)


def gaussian_50(dim: int = 50, seed: int = 0) -> Gaussian:
    """``gaussian-50``: ``Gaussian.random(dim, eig_range=(0.1, 10), seed)`` (condition number 100)."""
    return Gaussian.random(dim=dim, eig_range=(0.1, 10.0), seed=seed, name=f"gaussian-{dim}")
