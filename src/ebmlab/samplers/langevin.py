"""Overdamped Langevin kernels: ULA (the seeds' update) and MALA.

ULA:  x' = x − λ ∇E(x) + σ ξ,  ξ ~ N(0, I),  σ = √(2λT) by default.

With σ = √(2λT) this is the Euler–Maruyama discretisation of dX = −∇E dt + √(2T) dW, whose
stationary law is p_T ∝ exp(−E/T); ULA is biased at finite λ (e.g. for N(0, s²) its stationary
variance is s² / (1 − λ / (2 s²))). Passing ``noise_std`` decouples the noise from the step, as
much EBM practice does; the effective temperature is then σ² / (2λ).

MALA adds a Metropolis–Hastings correction so p_T is exactly invariant. ``MALA(λ, jitter=j)`` draws each chain's
step λ·exp(−j·U), U ~ U(0, 1), afresh at every iteration, independently of the state; the forward and reverse
proposal densities of that iteration use the same λ, so p_T stays invariant (as for HMC, :mod:`.hmc`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ebmlab.energies.base import EnergyFn, energy_and_grad
from ebmlab.samplers.base import (
    Sampler,
    SamplerState,
    StepInfo,
    Transition,
    UnadjustedSampler,
    accept_clamped,
    axpy,
    check_jitter,
    clamp_log_alpha_,
    jittered,
    positive_finite,
    select,
    sqrt,
)

__all__ = ["MALA", "ULA", "log_ratio"]


def log_ratio(
    e: Tensor, e_y: Tensor, g: Tensor, g_y: Tensor, noise: Tensor, lam: float | Tensor, temp: float
) -> Tensor:
    """MALA's log α before clamping: log p_T(y) q(x|y) − log p_T(x) q(y|x) for y = x − λ∇E(x) + σξ, σ = √(2λT).

    With s = ∇E(x) + ∇E(y), x − y + λ∇E(y) = λs − σξ, so the proposal terms ‖σξ‖² − ‖λs − σξ‖² over 4λT reduce to

        log α = [E(x) − E(y) + (σ/2)·⟨s, ξ − (λ/2σ)·s⟩] / T,

    four passes over the chains (s, ξ − cs, the product, the row sum) instead of seven, and no cancellation of the two
    O(dim) terms ‖ξ‖²/2. ``lam``: a float, or one step per chain ``(n,)``. Fresh temporaries are updated in place.

    A NaN/inf in E(y) or ∇E(y) always gives a NaN/±inf log α (E(x), ∇E(x) and ξ finite, c = λ/2σ > 0): a ±inf in
    sᵢ makes sᵢ(ξᵢ − c·sᵢ) −inf, and a NaN stays NaN. :func:`~ebmlab.samplers.base.clamp_log_alpha_` tests log α
    alone for that reason.
    """
    s = g + g_y
    sigma = sqrt(2.0 * lam * temp)
    dot = s.mul_(axpy(noise, s, -lam / (2.0 * sigma))).reshape(s.shape[0], -1).sum(dim=1)  # ⟨s, ξ − cs⟩
    d = (e - e_y).add_(dot * (0.5 * sigma)) if isinstance(sigma, Tensor) else (e - e_y).add_(dot, alpha=0.5 * sigma)
    return d if temp == 1.0 else d.div_(temp)  # d / 1 is d, bit for bit


class ULA(UnadjustedSampler):
    """Unadjusted Langevin algorithm, ``x' = x − λ∇E(x) + σξ``.

    Args:
        step_size: λ, the gradient step on E.
        temperature: T; the noise is σ = √(2λT) unless ``noise_std`` is given.
        noise_std: explicit σ (effective temperature σ²/(2λ)); ``None`` for σ = √(2λT).

    ULA has no accept step; if any chain's energy or gradient becomes NaN/inf it raises
    :class:`~ebmlab.errors.NonFiniteError` naming the step and the number of chains affected.
    """

    name = "ula"
    per_chain_step_size = True

    def __init__(self, step_size: float, temperature: float = 1.0, noise_std: float | None = None) -> None:
        super().__init__(step_size, temperature)
        self.noise_std = None if noise_std is None else positive_finite("noise_std", noise_std, self.name)

    def noise_scale(self, step_size: float | Tensor) -> float | Tensor:
        """σ for a given step size (a float, or one per chain)."""
        if self.noise_std is not None:
            return self.noise_std
        return sqrt(2.0 * step_size * self.temperature)

    def transition(self, step_size: float | Tensor) -> ULAStep:
        return ULAStep(step_size, self.noise_scale(step_size))


class ULAStep(Transition):
    """x' = x − λ∇E(x) + σξ with λ and σ fixed (floats, or one per chain)."""

    def __init__(self, step_size: float | Tensor, sigma: float | Tensor) -> None:
        self.step_size, self.minus_step, self.sigma = step_size, -step_size, sigma

    def drift(self, x: Tensor, v: Tensor | None, g: Tensor, noise: Tensor) -> tuple[Tensor, Tensor | None]:
        return axpy(axpy(x, g, self.minus_step), noise, self.sigma), v


class MALA(Sampler):
    """Metropolis-adjusted Langevin algorithm targeting p_T ∝ exp(−E/T).

    Proposal y = x − λ∇E(x) + √(2λT) ξ, accepted with probability
    min(1, exp(−(E(y) − E(x))/T) q(x|y) / q(y|x)), q(y|x) = N(y; x − λ∇E(x), 2λT I).
    E and ∇E of the current point are cached: one energy-and-gradient evaluation per step.
    Non-finite proposals (NaN/inf in E(y) or ∇E(y), or a log α that overflows) are rejected and flagged in
    ``StepInfo.nonfinite``.
    """

    name = "mala"
    metropolis_adjusted = True
    exact = True
    per_chain_step_size = True
    ends_at_proposal = True
    default_target_accept = 0.574

    def __init__(self, step_size: float, temperature: float = 1.0, jitter: float = 0.0) -> None:
        super().__init__(step_size, temperature)
        self.jitter = check_jitter(jitter, self.name)

    def step(
        self,
        energy: EnergyFn,
        state: SamplerState,
        generator: torch.Generator | None = None,
        noise: Tensor | None = None,
        uniform: Tensor | None = None,
    ) -> tuple[SamplerState, StepInfo]:
        """One MALA step; ``noise`` (ξ) and ``uniform`` (the MH draw) are drawn from ``generator`` unless given."""
        (e, g), x, temp = state.cached(self.name), state.x, self.temperature
        lam = jittered(state.step_size, self.jitter, x, generator)
        assert g is not None
        if noise is None:
            noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        y = axpy(axpy(x, g, -lam), noise, sqrt(2.0 * lam * temp))
        e_y, g_y = energy_and_grad(energy, y)
        log_alpha, bad = clamp_log_alpha_(log_ratio(e, e_y, g, g_y, noise, lam, temp))  # bad: NaN/inf in E(y), ∇E(y)
        accept_prob, accepted, _ = accept_clamped(log_alpha, generator, uniform)
        new = SamplerState(
            x=select(accepted, y, x, fresh=True),  # y: this step's own proposal
            energy=torch.where(accepted, e_y, e),
            grad=select(accepted, g_y, g),
            step_size=state.step_size,
            iteration=state.iteration + 1,
        )
        info = StepInfo(accept_prob=accept_prob, accepted=accepted, nonfinite=bad, divergent=bad)
        return new, info
