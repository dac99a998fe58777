"""Held-out energies with exact log Z for calibrating the log Z estimators (none is a built-in target,
and no estimator default was tuned on them). Each is a plain function (n, d) -> (n,), as a user writes.

* ``banana-10``: a curved 10-D energy, x = T(z) with a unit-Jacobian map y₂ = z₂ + b(z₁² − s₁²) and
  z ~ N(0, diag s²): log Z = Σ log(s_k √(2π)) (exact, the map is triangular with unit diagonal).
* ``student-5``: a heavy-tailed product of 5 Student-t factors (ν = 3), log Z = 5 log(√(νπ) Γ(ν/2)/Γ((ν+1)/2)).
* ``mixture-6``: an unequal-weight mixture of 4 Gaussians in 6-D, E = −log Σ w_k N(x; μ_k, σ_k² I) − c,
  log Z = c.
* ``asym-well-1``: the 1-D asymmetric double well E = 0.5x⁴ − 3x² + 1.2x, log Z by adaptive quadrature.
* ``gauss-100``: an ill-conditioned 100-D Gaussian (eigenvalues of Σ log-spaced over [10⁻², 10²], random
  rotation), log Z = (d/2) log 2π + ½ log det Σ.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from scipy import integrate
from torch import Tensor


@dataclass
class HeldOut:
    name: str
    dim: int
    energy: Callable[[Tensor], Tensor]
    log_z: float


def banana(dim: int = 10, b: float = 0.5) -> HeldOut:
    s = torch.ones(dim, dtype=torch.float64)
    s[0] = 2.0

    def energy(x: Tensor) -> Tensor:
        z2 = x[:, 1] - b * (x[:, 0] ** 2 - float(s[0]) ** 2)
        z = torch.cat([x[:, :1], z2[:, None], x[:, 2:]], dim=1)
        return 0.5 * (z / s.to(x)).square().sum(1)

    return HeldOut(f"banana-{dim}", dim, energy, float((s * math.sqrt(2 * math.pi)).log().sum()))


def student(dim: int = 5, nu: float = 3.0) -> HeldOut:
    def energy(x: Tensor) -> Tensor:
        return 0.5 * (nu + 1) * torch.log1p(x.square() / nu).sum(1)

    one = 0.5 * math.log(nu * math.pi) + math.lgamma(nu / 2) - math.lgamma((nu + 1) / 2)
    return HeldOut(f"student-{dim}", dim, energy, dim * one)


def mixture(dim: int = 6, c: float = 3.0) -> HeldOut:
    g = torch.Generator().manual_seed(123)
    mu = 4.0 * torch.randn(4, dim, generator=g, dtype=torch.float64)
    sig = torch.tensor([0.5, 1.0, 0.7, 1.5], dtype=torch.float64)
    logw = torch.log(torch.tensor([0.55, 0.25, 0.15, 0.05], dtype=torch.float64))

    def energy(x: Tensor) -> Tensor:
        d2 = (x[:, None, :] - mu.to(x)).square().sum(2) / sig.to(x).square()
        comp = logw.to(x) - 0.5 * d2 - dim * torch.log(sig.to(x)) - 0.5 * dim * math.log(2 * math.pi)
        return -torch.logsumexp(comp, 1) - c

    return HeldOut(f"mixture-{dim}", dim, energy, c)


def asym_well() -> HeldOut:
    def u(v: float) -> float:
        return 0.5 * v**4 - 3 * v**2 + 1.2 * v

    val, _ = integrate.quad(lambda v: math.exp(-u(v)), -8, 8, epsabs=1e-13, epsrel=1e-13, limit=200)

    def energy(x: Tensor) -> Tensor:
        return (0.5 * x**4 - 3 * x**2 + 1.2 * x).sum(1)

    return HeldOut("asym-well-1", 1, energy, math.log(val))


def ill_gauss(dim: int = 100) -> HeldOut:
    g = torch.Generator().manual_seed(7)
    q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=g, dtype=torch.float64))
    evals = torch.logspace(-2, 2, dim, dtype=torch.float64)
    prec = (q / evals) @ q.T

    def energy(x: Tensor) -> Tensor:
        return 0.5 * ((x @ prec.to(x)) * x).sum(1)

    return HeldOut(f"gauss-{dim}", dim, energy, 0.5 * dim * math.log(2 * math.pi) + 0.5 * float(evals.log().sum()))


def all_heldout() -> list[HeldOut]:
    return [banana(), student(), mixture(), asym_well(), ill_gauss()]
