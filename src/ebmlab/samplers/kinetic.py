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

from ebmlab.samplers.base import SamplerState, Transition, UnadjustedSampler, positive_finite

__all__ = ["KineticLangevin"]


class KineticLangevin(UnadjustedSampler):
    """Underdamped Langevin with friction γ and step h (BAOAB).

    Args:
        step_size: h.
        friction: γ > 0; large γ approaches overdamped Langevin, small γ approaches Hamiltonian flow.
        temperature: T.
    """

    name = "kinetic"
    carries_velocity = True

    def __init__(self, step_size: float, friction: float = 1.0, temperature: float = 1.0) -> None:
        super().__init__(step_size, temperature)
        self.friction = positive_finite("friction", friction, self.name)

    def _make_state(self, x: Tensor, e: Tensor, g: Tensor | None, step_size: float | Tensor) -> SamplerState:
        # Velocities start at zero; the O step thermalises them within ~1/γ time units.
        return super()._make_state(x, e, g, step_size).replace(momentum=torch.zeros_like(x))

    def transition(self, step_size: float | Tensor) -> BAOAB:
        return BAOAB(float(step_size), self.friction, self.temperature)


class BAOAB(Transition):
    """B A O A (``drift``) and the last B (``kick``) of BAOAB with step h, c = exp(−γh), the O step's noise
    √((1 − c²)T)."""

    def __init__(self, h: float, friction: float, temperature: float) -> None:
        c = math.exp(-friction * h)
        self.step_size, self.c, self.noise = h, c, math.sqrt((1.0 - c * c) * temperature)
        self.half, self.minus_half = 0.5 * h, -0.5 * h

    def drift(self, x: Tensor, v: Tensor | None, g: Tensor, noise: Tensor) -> tuple[Tensor, Tensor | None]:
        assert v is not None
        v = v.add(g, alpha=self.minus_half)
        x = x.add(v, alpha=self.half)
        v = v.mul(self.c).add_(noise, alpha=self.noise)
        x = x.add_(v, alpha=self.half)
        return x, v

    def kick(self, v: Tensor | None, g: Tensor) -> Tensor | None:
        assert v is not None
        return v.add(g, alpha=self.minus_half)
