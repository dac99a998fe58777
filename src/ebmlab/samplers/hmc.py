"""Hamiltonian Monte Carlo with a leapfrog integrator and one shared MH accept per trajectory.

H(x, p) = E(x)/T + ½‖p‖², p ~ N(0, I). A trajectory of L leapfrog steps of size ε costs exactly
L energy-and-gradient evaluations: ∇E at the start is cached in the state.

**Jittered steps** (``jitter`` = j > 0): each chain draws its own step ε·exp(−j·U), U ~ U(0, 1), afresh at
every iteration, independently of the state (so each iteration is a mixture over ε of reversible kernels and
p_T stays invariant; Neal 2011, "MCMC using Hamiltonian dynamics", §5.4.2). Where the right step varies
across the space (a curved valley, a funnel) a single adapted ε is too large in the narrow parts and chains
there are stuck; the jitter gives them small steps some of the time (j = log 10 spans a factor 10).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ebmlab.energies.base import EnergyFn, energy_and_grad
from ebmlab.errors import ConfigError
from ebmlab.samplers.base import (
    Sampler,
    SamplerState,
    StepInfo,
    accept_clamped,
    axpy,
    check_jitter,
    clamp_log_alpha_,
    jittered,
    select,
)

__all__ = ["HMC"]


class HMC(Sampler):
    """HMC targeting p_T ∝ exp(−E/T).

    Args:
        step_size: leapfrog step ε.
        n_leapfrog: L, leapfrog steps per iteration.
        temperature: T.
        divergence_threshold: a trajectory whose energy error H₁ − H₀ exceeds this is flagged
            divergent (it is almost surely rejected anyway).
        jitter: j ≥ 0; each chain's step at each iteration is ε·exp(−j·U), U ~ U(0, 1) (module doc); 0: none.
    """

    name = "hmc"
    metropolis_adjusted = True
    exact = True
    per_chain_step_size = True
    ends_at_proposal = True
    default_target_accept = 0.65

    def __init__(
        self,
        step_size: float,
        n_leapfrog: int = 5,
        temperature: float = 1.0,
        divergence_threshold: float = 1000.0,
        jitter: float = 0.0,
    ) -> None:
        super().__init__(step_size, temperature)
        if int(n_leapfrog) != n_leapfrog or n_leapfrog < 1:
            raise ConfigError(f"hmc: n_leapfrog must be an integer >= 1, got {n_leapfrog!r}.")
        self.n_leapfrog = int(n_leapfrog)
        self.divergence_threshold = float(divergence_threshold)
        self.jitter = check_jitter(jitter, self.name)

    def step(
        self,
        energy: EnergyFn,
        state: SamplerState,
        generator: torch.Generator | None = None,
        noise: Tensor | None = None,
        uniform: Tensor | None = None,
    ) -> tuple[SamplerState, StepInfo]:
        """One HMC iteration; the momentum (``noise``) and MH ``uniform`` come from ``generator`` unless given."""
        (e0, g0), x0 = state.cached(self.name), state.x
        eps = jittered(state.step_size, self.jitter, x0, generator)
        assert g0 is not None
        inv_t = 1.0 / self.temperature
        p0 = (
            noise if noise is not None else torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
        )
        x, g, e = x0, g0, e0
        p = axpy(p0, g, -0.5 * eps * inv_t)
        for i in range(self.n_leapfrog):
            x = axpy(x, p, eps)
            e, g = energy_and_grad(energy, x)
            half = 0.5 if i == self.n_leapfrog - 1 else 1.0
            p = axpy(p, g, -half * eps * inv_t)
        kinetic0 = 0.5 * p0.reshape(p0.shape[0], -1).square().sum(1)
        kinetic1 = 0.5 * p.reshape(p.shape[0], -1).square().sum(1)
        delta_h = (e - e0) * inv_t + kinetic1 - kinetic0
        log_alpha, bad = clamp_log_alpha_(-delta_h)  # bad: NaN/inf in the end point's E or in any ∇E on the way
        accept_prob, accepted, _ = accept_clamped(log_alpha, generator, uniform)
        divergent = bad | (delta_h > self.divergence_threshold)
        new = SamplerState(
            x=select(accepted, x, x0, fresh=True),  # x: the leapfrog's own end point (n_leapfrog >= 1)
            energy=torch.where(accepted, e, e0),
            grad=select(accepted, g, g0),
            step_size=state.step_size,
            iteration=state.iteration + 1,
        )
        return new, StepInfo(accept_prob=accept_prob, accepted=accepted, nonfinite=bad, divergent=divergent)
