"""Two small reference methods: a worked example of the :class:`~ebmlab.training.Method` contract and end-to-end checks
of the loop, the configs and the CLI (registered as ``gaussian-mle`` and ``gaussian-reverse-kl``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ebmlab.energies.base import EnergyFn, evaluate_energy
from ebmlab.errors import ConfigError, ShapeError
from ebmlab.training.method import DEFAULT_GROUP, Losses, Method, StepContext

__all__ = ["GaussianMLE", "ReverseKLGaussian"]

_LOG_2PI = math.log(2 * math.pi)


class _DiagonalGaussian(Method):
    """q(x) = N(x; μ, diag σ²) with learnable μ and log σ (zeros at the start)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ConfigError(f"{type(self).__name__}: dim must be an integer >= 1, got {dim!r}.")
        self.dim = dim
        self.mu = nn.Parameter(torch.zeros(dim))
        self.log_sigma = nn.Parameter(torch.zeros(dim))

    def log_prob(self, x: Tensor) -> Tensor:
        """log q(x) = -½‖(x-μ)/σ‖² - Σ log σ - (d/2) log 2π, shape ``(n,)``."""
        z = (x - self.mu) * torch.exp(-self.log_sigma)
        return -0.5 * z.square().sum(-1) - self.log_sigma.sum() - 0.5 * self.dim * _LOG_2PI

    def entropy(self) -> Tensor:
        """H(q) = Σ log σ + (d/2)(1 + log 2π)."""
        return self.log_sigma.sum() + 0.5 * self.dim * (1 + _LOG_2PI)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """n draws x = μ + σ ε, ε ~ N(0, I) from ``generator``."""
        eps = torch.randn(n, self.dim, generator=generator, device=self.mu.device, dtype=self.mu.dtype)
        return self.mu + torch.exp(self.log_sigma) * eps


class GaussianMLE(_DiagonalGaussian):
    """Maximum likelihood fit of N(μ, diag σ²) to data: loss = mean over the batch of -log q(x).

    Deterministic given the batch (it ignores the generator); the optimum is the data's mean and
    (biased) standard deviation per coordinate.
    """

    def losses(self, batch: Tensor | None, ctx: StepContext) -> Losses:
        if batch is None or batch.dim() != 2 or batch.shape[1] != self.dim:
            shape = None if batch is None else tuple(batch.shape)
            raise ShapeError(f"GaussianMLE(dim={self.dim}) needs data batches of shape (n, {self.dim}), got {shape}.")
        nll = -self.log_prob(batch).mean()
        return Losses({DEFAULT_GROUP: nll}, {"nll": nll.detach(), "sigma_mean": self.log_sigma.detach().exp().mean()})


class ReverseKLGaussian(_DiagonalGaussian):
    """Fit q = N(μ, diag σ²) to p(x) ∝ exp(-E(x)) from the energy alone (``data=None``).

    Minimises the variational free energy F(q) = E_q[E(x)] - H(q) = KL(q‖p) - log Z ≥ -log Z with the
    reparameterisation x = μ + σ ε, ε ~ N(0, I) drawn from the loop's generator (``n_samples`` per
    step). A one-layer Boltzmann generator; ``-loss`` estimates a lower bound on log Z.
    The energy is held, not registered: its parameters (if any) are not trained or checkpointed.
    """

    energy: EnergyFn

    def __init__(self, energy: EnergyFn, dim: int, n_samples: int = 256) -> None:
        super().__init__(dim)
        if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
            raise ConfigError(f"ReverseKLGaussian: n_samples must be an integer >= 1, got {n_samples!r}.")
        self.__dict__["energy"] = energy  # not a submodule
        self.n_samples = n_samples

    def losses(self, batch: Tensor | None, ctx: StepContext) -> Losses:
        eps = torch.randn(self.n_samples, self.dim, generator=ctx.generator, device=self.mu.device)
        x = self.mu + torch.exp(self.log_sigma) * eps
        e = evaluate_energy(self.energy, x)
        energy_mean, entropy = e.mean(), self.entropy()
        free_energy = energy_mean - entropy
        return Losses({DEFAULT_GROUP: free_energy}, {"energy": energy_mean.detach(), "entropy": entropy.detach()})
