"""Tractable proposals / AIS base distributions: anything with ``sample(n, generator)`` and ``log_prob(x)``.

:class:`GaussianProposal` also exposes its energy −log q(x) with an analytic gradient, so that AIS
intermediate energies built on it need no autograd for the base part.
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from ebmlab.device_copies import copies_on
from ebmlab.errors import ConfigError, ShapeError

__all__ = ["GaussianProposal", "Proposal"]

_F64 = torch.float64


@runtime_checkable
class Proposal(Protocol):
    """A normalised density q that can be sampled: ``sample(n, generator) -> (n, *event)``, ``log_prob(x) -> (n,)``."""

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor: ...

    def log_prob(self, x: Tensor) -> Tensor: ...


class GaussianProposal:
    """q = N(μ, Σ) on vectors of shape ``event_shape`` (flattened to d coordinates).

    Args:
        mean: μ, shape ``event_shape``.
        cov: full covariance ``(d, d)``; or
        std: a scalar or per-coordinate standard deviation (diagonal Σ).
        dtype: dtype of the samples (default: torch's default dtype); internals are float64.

    log q(x) = −½ (x−μ)ᵀ Σ⁻¹ (x−μ) − ½ log det(2πΣ);  −∇ log q = Σ⁻¹ (x−μ).
    """

    def __init__(
        self,
        mean: Tensor,
        cov: Tensor | None = None,
        std: Tensor | float | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        mean = torch.as_tensor(mean, dtype=_F64).detach().cpu()
        self.event_shape = tuple(mean.shape) if mean.dim() > 0 else (1,)
        mu = mean.reshape(-1)
        d = mu.numel()
        if (cov is None) == (std is None):
            raise ConfigError("GaussianProposal: give exactly one of cov (full) or std (scalar/diagonal).")
        if cov is not None:
            cov = torch.as_tensor(cov, dtype=_F64).detach().cpu()
            if cov.shape != (d, d):
                raise ShapeError(f"GaussianProposal: cov must have shape ({d}, {d}), got {tuple(cov.shape)}.")
            chol, info = torch.linalg.cholesky_ex(0.5 * (cov + cov.T))
            if int(info) != 0:
                raise ConfigError("GaussianProposal: cov must be symmetric positive definite (Cholesky failed).")
        else:
            s = torch.as_tensor(std, dtype=_F64).detach().cpu().reshape(-1).expand(d)
            if not bool((s > 0).all()) or not bool(torch.isfinite(s).all()):
                raise ConfigError(f"GaussianProposal: std must be positive and finite, got {std!r}.")
            chol = torch.diag(s.clone())
        self.mean = mu
        self.chol = chol
        self.precision = torch.cholesky_inverse(chol)
        self.dim = d
        self.log_norm = 0.5 * d * math.log(2 * math.pi) + float(chol.diagonal().log().sum())
        self.dtype = dtype or torch.get_default_dtype()

    @classmethod
    def fit(
        cls, samples: Tensor, scale: float = 1.5, diagonal: bool = False, min_std: float = 1e-3
    ) -> GaussianProposal:
        """Moment-matched Gaussian with standard deviations multiplied by ``scale`` (broader than the data)."""
        if samples.dim() < 2 or samples.shape[0] < 2:
            raise ShapeError(f"GaussianProposal.fit: need samples (n >= 2, *event), got {tuple(samples.shape)}.")
        x = samples.detach().to(_F64).reshape(samples.shape[0], -1)
        mean = x.mean(0)
        if diagonal or x.shape[0] <= x.shape[1]:
            std = x.std(0).clamp_min(min_std) * scale
            return cls(mean.reshape(samples.shape[1:]), std=std, dtype=samples.dtype)
        cov = torch.cov(x.T).reshape(x.shape[1], x.shape[1]) + min_std**2 * torch.eye(x.shape[1], dtype=_F64)
        return cls(mean.reshape(samples.shape[1:]), cov=cov * scale**2, dtype=samples.dtype)

    def _flat(self, x: Tensor) -> Tensor:
        if tuple(x.shape[1:]) != self.event_shape:
            raise ShapeError(f"GaussianProposal: expected x of shape (n, {self.event_shape}), got {tuple(x.shape)}.")
        return x.reshape(x.shape[0], -1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n samples ``(n, *event_shape)``: x = μ + L ξ, on the generator's device (default: the CPU)."""
        device = generator.device if generator is not None else self.mean.device
        xi = torch.randn(n, self.dim, generator=generator, dtype=_F64, device=device)
        mean, chol = copies_on(self, ("mean", "chol"), device)
        x = mean + xi @ chol.T
        return x.reshape(n, *self.event_shape).to(self.dtype)

    def log_prob(self, x: Tensor) -> Tensor:
        """log q(x), shape ``(n,)``, in the dtype of x."""
        return -self.energy(x) - torch.as_tensor(self.log_norm, dtype=x.dtype, device="cpu")

    def energy(self, x: Tensor) -> Tensor:
        """½ (x−μ)ᵀ Σ⁻¹ (x−μ) = −log q(x) − log normaliser (differentiable in x)."""
        mean, precision = copies_on(self, ("mean", "precision"), x.device, x.dtype)
        diff = self._flat(x) - mean
        return 0.5 * (diff * (diff @ precision)).sum(1)

    __call__ = energy

    def energy_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(½ (x−μ)ᵀP(x−μ), P(x−μ)) in the dtype of x."""
        z = self._flat(x.detach())
        mean, precision = copies_on(self, ("mean", "precision"), z.device, z.dtype)
        diff = z - mean
        pd = diff @ precision
        return 0.5 * (diff * pd).sum(1), pd.reshape(x.shape)

    def log_prob_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(log q(x), ∇ log q(x)) analytically."""
        e, g = self.energy_and_grad(x)
        return -e - torch.as_tensor(self.log_norm, dtype=e.dtype, device="cpu"), -g

    def __repr__(self) -> str:
        return f"GaussianProposal(dim={self.dim}, event_shape={self.event_shape})"
