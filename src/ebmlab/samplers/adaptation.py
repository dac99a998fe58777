"""Step-size adaptation by dual averaging (Nesterov 2009; Hoffman & Gelman 2014, Alg. 5).

During warm-up the log step size is driven so that the mean acceptance probability across chains
reaches ``target_accept``:

    H̄ₜ = (1 − 1/(t + t₀)) H̄ₜ₋₁ + (δ − αₜ)/(t + t₀)
    log εₜ = μ − √t / γ · H̄ₜ,            μ = log(10 ε₀)
    log ε̄ₜ = t^(−κ) log εₜ + (1 − t^(−κ)) log ε̄ₜ₋₁

After warm-up the averaged ε̄ is used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ebmlab.errors import ConfigError

__all__ = ["DualAveraging", "DualAveragingState"]


@dataclass(frozen=True)
class DualAveragingState:
    log_step: float
    log_step_avg: float
    h_bar: float
    t: int
    mu: float

    @property
    def step_size(self) -> float:
        """Step size to use during warm-up."""
        return math.exp(self.log_step)

    @property
    def final_step_size(self) -> float:
        """Averaged step size to use after warm-up."""
        return math.exp(self.log_step_avg)


@dataclass(frozen=True)
class DualAveraging:
    """Dual-averaging controller with the usual constants γ = 0.05, t₀ = 10, κ = 0.75."""

    target_accept: float = 0.65
    gamma: float = 0.05
    t0: float = 10.0
    kappa: float = 0.75

    def __post_init__(self) -> None:
        if not 0.0 < self.target_accept < 1.0:
            raise ConfigError(f"target_accept must lie strictly between 0 and 1, got {self.target_accept!r}.")

    def init(self, step_size: float) -> DualAveragingState:
        log_step = math.log(step_size)
        return DualAveragingState(log_step, log_step, 0.0, 0, math.log(10.0 * step_size))

    def update(self, state: DualAveragingState, accept_rate: float) -> DualAveragingState:
        t = state.t + 1
        w = 1.0 / (t + self.t0)
        h_bar = (1.0 - w) * state.h_bar + w * (self.target_accept - accept_rate)
        log_step = state.mu - math.sqrt(t) / self.gamma * h_bar
        eta = t ** (-self.kappa)
        log_step_avg = eta * log_step + (1.0 - eta) * state.log_step_avg
        return DualAveragingState(log_step, log_step_avg, h_bar, t, state.mu)
