"""Annealing in coordinates whitened by a Gaussian fit: u = L⁻¹(x − μ), the same preconditioning as an HMC mass
matrix M = Σ⁻¹ = (LLᵀ)⁻¹, for any energy.

With x = μ + L u the energy in u is E_u(u) = E(μ + L u) and

    Z = ∫ exp(−E(x)) dx = |det L| · ∫ exp(−E_u(u)) du,   log Z = log Z_u + Σᵢ log Lᵢᵢ,

so log Z is unchanged while one shared step size fits every direction a Laplace fit saw. Without it, HMC with one
isotropic step on an energy whose curvatures span a factor κ must take steps ~ the narrowest scale and moves
the widest ~ 1/√κ as far per transition (gauss-100, κ = 10⁴: AIS from the same base gave ESS 32 of 256 chains
unwhitened, 124 whitened, benchmarks/logz_calibration.py). :func:`ebmlab.estimators.user.log_z` whitens AIS and
the bracket only above ``WHITEN_CONDITION`` (the mode's covariance can misdescribe a curved energy elsewhere).

>>> import torch, math
>>> chol = torch.tensor([[2.0, 0.0], [1.0, 0.5]], dtype=torch.float64)
>>> e = Whitened(lambda x: 0.5 * x.square().sum(1), torch.zeros(2, dtype=torch.float64), chol, (2,))
>>> float(e(torch.tensor([[1.0, 0.0]], dtype=torch.float64)))  # x = L·(1, 0) = (2, 1): E = 2.5
2.5
>>> round(e.log_det, 6) == round(math.log(2 * 0.5), 6)
True
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ebmlab.device_copies import copies_on
from ebmlab.energies.base import EnergyFn
from ebmlab.estimators.laplace import MixtureProposal

__all__ = ["Whitened", "condition_number", "whiten_mixture"]

_F64 = torch.float64


class Whitened:
    """E_u(u) = E(μ + L u) on flat u of dimension d (``log_det`` = log|det L|); forwards an analytic
    ``energy_and_grad`` of E as (E, Lᵀ∇E)."""

    def __init__(self, energy: EnergyFn, mean: Tensor, chol: Tensor, event_shape: tuple[int, ...]) -> None:
        self.energy, self.mean, self.chol = energy, mean.to(_F64).reshape(-1), chol.to(_F64)
        self.x_shape = tuple(event_shape)
        self.event_shape = (math.prod(self.x_shape),)
        self.log_det = float(torch.log(torch.diagonal(self.chol)).sum())
        if callable(getattr(energy, "energy_and_grad", None)):
            self.energy_and_grad = self._energy_and_grad

    def to_x(self, u: Tensor) -> Tensor:
        """x = μ + L u in the energy's event shape."""
        mean, chol = copies_on(self, ("mean", "chol"), u.device, u.dtype)
        return (mean + u @ chol.T).reshape(u.shape[0], *self.x_shape)

    def to_u(self, x: Tensor) -> Tensor:
        """u = L⁻¹(x − μ), flat ``(n, d)``."""
        mean, chol = copies_on(self, ("mean", "chol"), x.device)
        flat = x.to(_F64).reshape(x.shape[0], -1) - mean
        return torch.linalg.solve_triangular(chol, flat.T, upper=False).T.to(x.dtype)

    def __call__(self, u: Tensor) -> Tensor:
        return self.energy(self.to_x(u))

    def _energy_and_grad(self, u: Tensor) -> tuple[Tensor, Tensor]:
        e, g = self.energy.energy_and_grad(self.to_x(u))  # type: ignore[attr-defined]
        return e, g.reshape(u.shape[0], -1) @ self.chol.to(g.dtype)


def whiten_mixture(q: MixtureProposal, mean: Tensor, chol: Tensor) -> MixtureProposal:
    """The density of u = L⁻¹(x − μ) for x ~ q: components at L⁻¹(m_k − μ) with Cholesky factors L⁻¹L_k (lower
    triangular, as a product of lower triangular matrices)."""
    inv = torch.linalg.solve_triangular(chol.to(_F64), torch.eye(q.d, dtype=_F64), upper=False)
    locs = (q.locs - mean.to(_F64).reshape(1, -1)) @ inv.T
    scales = torch.tril(inv @ q.scales)
    note = f"{q.note}; whitened by the wide component's covariance".lstrip("; ")
    out = MixtureProposal(locs, scales, q.log_weights, q.df, (q.d,), note)
    out.mode_counts = list(q.mode_counts)
    return out


def condition_number(chol: Tensor) -> float:
    """κ(LLᵀ) = λ_max/λ_min of the covariance with Cholesky factor L."""
    evals = torch.linalg.eigvalsh(chol.to(_F64) @ chol.to(_F64).T)
    return float(evals.max() / evals.min())
