"""Probabilistic PCA: the linear-Gaussian latent model where every variational quantity is exact.

p(z) = N(0, I_d), p(x | z) = N(Wz + μ, σ² I_D), so (Tipping & Bishop 1999)

    p(x) = N(μ, C), C = WWᵀ + σ²I;   p(z | x) = N(M⁻¹Wᵀ(x − μ), σ² M⁻¹), M = WᵀW + σ²I.

For a Gaussian q = N(m, S) the ELBO is closed-form,

    L = −(D/2) log 2πσ² − (‖x − μ − Wm‖² + tr(WSWᵀ))/(2σ²) − (d/2) log 2π − (‖m‖² + tr S)/2 + ½ log det(2πe S),

and so is KL(q ‖ p(z|x)); eq. 2.21, L + KL = log p(x), then holds to rounding. Within the mean-field
family S = diag(s²) the per-example optimum is m* = posterior mean, s*² = σ²/diag(M) (the inverse diagonal
of the posterior precision): its KL is the approximation gap, and an encoder's excess over it is the
amortisation gap (Cremer, Li & Duvenaud 2018).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ebmlab.densities.base import check_event, positive_count
from ebmlab.errors import ConfigError

__all__ = ["LinearGaussian"]

_LOG_2PI = math.log(2.0 * math.pi)


class LinearGaussian(nn.Module):
    """PPCA with loading W ``(D, d)``, offset μ ``(D,)`` and noise σ (parameters; float64 recommended)."""

    def __init__(self, weight: Tensor, mean: Tensor, noise_std: float) -> None:
        super().__init__()
        weight = torch.as_tensor(weight).detach().clone()
        if weight.dim() != 2 or not float(noise_std) > 0:
            raise ConfigError(
                f"LinearGaussian: weight must be (D, d) and noise_std > 0, got {tuple(weight.shape)}, {noise_std}."
            )
        self.weight = nn.Parameter(weight)
        self.mean = nn.Parameter(torch.as_tensor(mean, dtype=weight.dtype).detach().clone().reshape(-1))
        self.log_noise = nn.Parameter(torch.tensor(math.log(float(noise_std)), dtype=weight.dtype))

    @classmethod
    def random(cls, dim: int, latent_dim: int, noise_std: float, generator: torch.Generator) -> LinearGaussian:
        w = torch.randn(dim, latent_dim, generator=generator, dtype=torch.float64)
        return cls(w, torch.randn(dim, generator=generator, dtype=torch.float64), noise_std)

    @property
    def event_shape(self) -> tuple[int, ...]:
        return (self.weight.shape[0],)

    @property
    def latent_dim(self) -> int:
        return int(self.weight.shape[1])

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        n = positive_count(n, "LinearGaussian.sample")
        w = self.weight
        z = torch.randn((n, self.latent_dim), generator=generator, dtype=w.dtype, device=w.device)
        eps = torch.randn((n, *self.event_shape), generator=generator, dtype=w.dtype, device=w.device)
        return z @ self.weight.T + self.mean + self.log_noise.exp() * eps

    def log_joint(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x, z) = log N(z; 0, I) + log N(x; Wz + μ, σ²I), shape ``(n,)``."""
        var = torch.exp(2 * self.log_noise)
        r = x - z @ self.weight.T - self.mean
        lx = -0.5 * r.square().sum(1) / var - 0.5 * x.shape[1] * (_LOG_2PI + torch.log(var))
        return lx - 0.5 * z.square().sum(1) - 0.5 * z.shape[1] * _LOG_2PI

    def marginal_cov(self) -> Tensor:
        return self.weight @ self.weight.T + torch.exp(2 * self.log_noise) * torch.eye(
            self.event_shape[0], dtype=self.weight.dtype, device=self.weight.device
        )

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log p(x) = log N(x; μ, WWᵀ + σ²I)."""
        check_event(x, self.event_shape, "LinearGaussian.log_prob")
        return torch.distributions.MultivariateNormal(self.mean, self.marginal_cov()).log_prob(x)

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """p(z | x) = N(mean ``(n, d)``, cov ``(d, d)``)."""
        var = torch.exp(2 * self.log_noise)
        m = self.weight.T @ self.weight + var * torch.eye(
            self.latent_dim, dtype=self.weight.dtype, device=self.weight.device
        )
        mean = torch.linalg.solve(m, self.weight.T @ (x - self.mean).T).T
        return mean, var * torch.linalg.inv(m)

    def mean_field_optimum(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The per-example best diagonal Gaussian q: (posterior mean, log s) with s² = 1/diag(precision)."""
        mean, cov = self.posterior(x)
        log_s = -0.5 * torch.log(torch.diagonal(torch.linalg.inv(cov)))
        return mean, log_s.expand_as(mean)

    def elbo_exact(self, x: Tensor, loc: Tensor, log_scale: Tensor) -> Tensor:
        """Closed-form ELBO of q = N(loc, diag exp(2 log_scale)) per example, ``(n,)`` (differentiable)."""
        var, (dd, d) = torch.exp(2 * self.log_noise), self.weight.shape
        s2 = torch.exp(2 * log_scale)
        r = x - loc @ self.weight.T - self.mean
        tr_wsw = (s2 * self.weight.square().sum(0)).sum(-1)
        e_lx = -0.5 * dd * (_LOG_2PI + torch.log(var)) - 0.5 * (r.square().sum(1) + tr_wsw) / var
        e_lz = -0.5 * d * _LOG_2PI - 0.5 * (loc.square().sum(1) + s2.sum(-1))
        entropy = log_scale.sum(-1) + 0.5 * d * (1.0 + _LOG_2PI)
        return e_lx + e_lz + entropy

    def kl_to_posterior(self, x: Tensor, loc: Tensor, log_scale: Tensor) -> Tensor:
        """KL(N(loc, diag s²) ‖ p(z | x)) in closed form, ``(n,)``."""
        mean, cov = self.posterior(x)
        prec = torch.linalg.inv(cov)
        s2 = torch.exp(2 * log_scale)
        diff = mean - loc
        quad = ((diff @ prec) * diff).sum(1)
        tr = (torch.diagonal(prec) * s2).sum(-1)
        logdet = torch.logdet(cov) - 2 * log_scale.sum(-1)
        return 0.5 * (tr + quad - self.latent_dim + logdet)
