"""The EBM of EBA and its chains: one energy E_φ(x) for the output marginal and the tilted conditional.

``RDEnergy``: E_φ(x) = ½ Σ_k ((x_k − μ_k)/s_k)² + g·h_ω(x), a diagonal quadratic (which contains the
optimal marginal of a Gaussian source) plus an optional MLP residual h_ω (gain g starts at 0). By default
(``whitened_loc=True``) the mean is stored in units of the scale, μ = s ⊙ ν (ν the parameter): Adam's steps,
≈ lr in each parameter whatever its gradient's size, then move μ_k by ≈ lr·s_k, so a component the model
switches off (s_k → 0, gradient noise on μ_k ∝ 1/s_k) does not random-walk its mean by ≈ lr per step (with
``whitened_loc=False``, the raw parameter μ, it does: L_RD jumps up by 0.1–0.6 nats in 10-D).
``DiscreteEnergy``: E_φ(a) = φ_a on a finite alphabet (any energy on it), sampled by enumeration.

Chains run in whitened coordinates u = (x − μ)/s (x = μ + s ⊙ u): Langevin in u is Langevin in x
preconditioned by diag(s²), so one step size serves components of very different scales; the
Jacobian is constant in u, so the target is unchanged. Conditional chains carry one y each,
E_y(x) = E_φ(x) + β ρ(x, y), and are whitened by the conditional's scale s/√(1 + βκs²) (κ: ρ's curvature).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ebmlab.energies.neural import MLPEnergy
from ebmlab.ratedistortion.distortions import Distortion
from ebmlab.ratedistortion.mixture import MixtureEnergy
from ebmlab.samplers.base import Sampler
from ebmlab.samplers.chains import run_chains as library_chains

__all__ = ["DiscreteEnergy", "RDEnergy", "sample_alphabet", "whitened_chains"]


class RDEnergy(nn.Module):
    """E(x) = ½‖(x − μ)/s‖² + g·h(x); ``hidden`` = () for the purely quadratic (Gaussian) family.

    ``whitened_loc``: μ = s ⊙ ν with ν the parameter ``nu`` (module doc), else μ is the parameter ``loc``;
    :meth:`mean` gives μ either way.
    """

    def __init__(
        self,
        dim: int,
        hidden: Sequence[int] = (),
        init_scale: float = 1.0,
        min_log_scale: float = -7.0,
        whitened_loc: bool = True,
    ):
        super().__init__()
        self.dim, self.min_log_scale, self.whitened_loc = int(dim), float(min_log_scale), bool(whitened_loc)
        if self.whitened_loc:
            self.nu = nn.Parameter(torch.zeros(self.dim))
        else:
            self.loc = nn.Parameter(torch.zeros(self.dim))
        self.log_scale = nn.Parameter(torch.full((self.dim,), math.log(init_scale)))
        self.residual = MLPEnergy(self.dim, tuple(hidden)) if hidden else None
        self.gain = nn.Parameter(torch.zeros(())) if hidden else None

    def scale(self) -> Tensor:
        return self.log_scale.clamp_min(self.min_log_scale).exp()

    def mean(self) -> Tensor:
        """μ (differentiable in the parameters)."""
        return self.nu * self.scale() if self.whitened_loc else self.loc

    def set_moments(self, loc: Tensor, scale: Tensor) -> None:
        """Set μ and s (in place, without gradient), whichever way μ is stored."""
        with torch.no_grad():
            self.log_scale.copy_(scale.log())
            (self.nu if self.whitened_loc else self.loc).copy_(loc / self.scale() if self.whitened_loc else loc)

    def forward(self, x: Tensor) -> Tensor:
        e = 0.5 * ((x - self.mean()) / self.scale()).square().sum(-1)
        if self.residual is not None and self.gain is not None:
            e = e + self.gain * self.residual(x)
        return e

    def gaussian(self) -> tuple[Tensor, Tensor] | None:
        """(μ, s²) when the energy is exactly Gaussian (no residual), else None."""
        if self.residual is not None:
            return None
        return self.mean().detach(), self.scale().detach().square()

    def whitening(self) -> tuple[Tensor, Tensor]:
        return self.mean().detach(), self.scale().detach()


class DiscreteEnergy(nn.Module):
    """E(a) = φ_a on the alphabet rows ``alphabet`` (k, d); energies of other points are not defined."""

    alphabet: Tensor

    def __init__(self, alphabet: Tensor) -> None:
        super().__init__()
        self.register_buffer("alphabet", alphabet.to(torch.float32))
        self.logits = nn.Parameter(torch.zeros(alphabet.shape[0]))

    def index(self, x: Tensor) -> Tensor:
        return (x[:, None, :] == self.alphabet[None, :, :]).all(-1).to(torch.int64).argmax(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.logits[self.index(x)]


def sample_alphabet(
    energy: DiscreteEnergy,
    n: int,
    generator: torch.Generator,
    y: Tensor | None = None,
    rho: Distortion | None = None,
    beta: float = 0.0,
) -> Tensor:
    """Exact draws from p(a) ∝ e^{−E(a)} (or, per row of y, ∝ e^{−E(a) − βρ(a, y)}) by enumeration."""
    with torch.no_grad():
        logits = -energy.logits.detach().expand(n, -1)
        if y is not None and rho is not None:
            logits = logits - beta * rho(energy.alphabet[None, :, :], y[:, None, :])
        idx = torch.multinomial(torch.softmax(logits, 1), 1, generator=generator)[:, 0]
    return energy.alphabet[idx]


def whitened_chains(
    energy: RDEnergy | MixtureEnergy,
    sampler: Sampler,
    x0: Tensor,
    n_steps: int,
    generator: torch.Generator,
    y: Tensor | None = None,
    rho: Distortion | None = None,
    beta: float = 0.0,
    curvature: float = 0.0,
) -> Tensor:
    """``n_steps`` kernel steps from ``x0`` on E_φ (or E_φ + βρ(·, y), one y per chain), in whitened coordinates.

    ``curvature`` κ = ∂²ρ/∂x_k² (2 for summed squared error): conditional chains are whitened by
    s/√(1 + βκs²), the conditional's scale when E_φ is quadratic, so one step size fits every β.
    """
    loc, scale = energy.whitening()
    if y is not None:
        scale = scale / (1.0 + beta * curvature * scale.square()).sqrt()

    def target(u: Tensor) -> Tensor:
        x = loc + scale * u
        e = energy(x)
        return e + beta * rho(x, y) if (y is not None and rho is not None) else e

    u = library_chains(sampler, target, ((x0 - loc) / scale).detach(), n_steps, generator).state.x
    return (loc + scale * u).detach()
