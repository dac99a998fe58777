"""Kinetic (underdamped) Langevin dynamics, BAOAB splitting.

dx = v dt,  dv = −∇E(x) dt − γ v dt + √(2γT) dW, stationary law ∝ exp(−E(x)/T − ‖v‖²/(2T)).
BAOAB (Leimkuhler & Matthews): half kick (B), half drift (A), exact Ornstein–Uhlenbeck (O) with
c = exp(−γh), half drift, half kick; one gradient per step (∇E cached in the state). Unadjusted:
like ULA it stops with an error when chains go non-finite.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ebmlab.energies.base import EnergyFn, energy_and_grad
from ebmlab.samplers.base import SamplerState, UnadjustedSampler, positive_finite

__all__ = ["KineticLangevin"]


class KineticLangevin(UnadjustedSampler):
    """Underdamped Langevin with friction γ and step h (BAOAB).

    Args:
        step_size: h.
        friction: γ > 0; large γ approaches overdamped Langevin, small γ approaches Hamiltonian flow.
        temperature: T.
    """

    name = "kinetic"

    def __init__(self, step_size: float, friction: float = 1.0, temperature: float = 1.0) -> None:
        super().__init__(step_size, temperature)
        self.friction = positive_finite("friction", friction, self.name)

    def _make_state(self, x: Tensor, e: Tensor, g: Tensor | None, step_size: float | Tensor) -> SamplerState:
        # Velocities start at zero; the O step thermalises them within ~1/γ time units.
        return super()._make_state(x, e, g, step_size).replace(momentum=torch.zeros_like(x))

    def advance(
        self,
        energy: EnergyFn,
        state: SamplerState,
        generator: torch.Generator | None = None,
        noise: Tensor | None = None,
    ) -> SamplerState:
        """The next state, not tested for finiteness (``move`` tests it, ``step`` adds the constant StepInfo)."""
        h = float(state.step_size)
        x, v = self.drift(state, generator, noise)
        e, g = energy_and_grad(energy, x)
        v = v.add(g, alpha=-0.5 * h)
        return SamplerState(x, e, g, h, state.iteration + 1, momentum=v)

    def advance_positions(
        self,
        state: SamplerState,
        generator: torch.Generator | None = None,
        noise: Tensor | None = None,
    ) -> SamplerState:
        """x' only (B A O A), E and ∇E there not evaluated: ``energy``, ``grad`` and ``momentum`` (whose last half
        kick needs ∇E(x')) are None."""
        x, _ = self.drift(state, generator, noise)
        return SamplerState(x, None, None, float(state.step_size), state.iteration + 1, momentum=None)

    def drift(
        self, state: SamplerState, generator: torch.Generator | None, noise: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """B A O A of BAOAB: the new positions and the velocities before the last half kick."""
        h, x, v, g = float(state.step_size), state.x, state.momentum, state.grad
        if g is None:
            state.cached(self.name)  # a positions-only state: its one-line error
        assert v is not None and g is not None
        if noise is None:
            noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        c = math.exp(-self.friction * h)
        v = v.add(g, alpha=-0.5 * h)
        x = x.add(v, alpha=0.5 * h)
        v = v.mul(c).add_(noise, alpha=math.sqrt((1.0 - c * c) * self.temperature))
        x = x.add_(v, alpha=0.5 * h)
        return x, v
