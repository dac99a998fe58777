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


#: post-warm-up acceptance within this distance of the target counts as "target reached"
REACHED_TOLERANCE = 0.05


@dataclass(frozen=True)
class BisectionState:
    """Windowed bisection on log ε: ``lo`` gave acceptance above the target, ``hi`` below; ``best`` is the
    measured ``(|acceptance − target|, log ε, acceptance)`` closest to the target so far."""

    log_step: float
    lo: float | None = None
    hi: float | None = None
    window_sum: float = 0.0
    window_n: int = 0
    best: tuple[float, float, float] | None = None
    done: bool = False

    @property
    def step_size(self) -> float:
        return math.exp(self.log_step)

    @property
    def final_step_size(self) -> float:
        return math.exp(self.best[1] if self.best is not None else self.log_step)


@dataclass(frozen=True)
class WindowedBisection:
    """Find ε whose acceptance, *measured* over a window of ``window`` steps at fixed ε, is within ``tol`` of
    ``target_accept``: expand log ε by log 2 until the target is bracketed, then bisect. The acceptance need not
    be monotone in ε: a continuous α(ε) crosses the target inside every bracket (intermediate value theorem),
    and the step size kept is the measured one closest to the target, so the post-warm-up acceptance is a
    measured number, not a prediction of a model of α(ε)."""

    target_accept: float = 0.65
    window: int = 8
    tol: float = 0.02

    def init(self, step_size: float) -> BisectionState:
        return BisectionState(math.log(step_size))

    def update(self, state: BisectionState, accept_rate: float) -> BisectionState:
        s = BisectionState(state.log_step, state.lo, state.hi, state.window_sum + accept_rate, state.window_n + 1,
                           state.best, state.done)  # fmt: skip
        if s.done or s.window_n < self.window:
            return s
        acc = s.window_sum / s.window_n
        err = acc - self.target_accept
        best = s.best if s.best is not None and s.best[0] <= abs(err) else (abs(err), s.log_step, acc)
        if abs(err) <= self.tol or not math.isfinite(err):
            return BisectionState(s.log_step, s.lo, s.hi, 0.0, 0, best, done=True)
        lo, hi = (s.log_step, s.hi) if err > 0 else (s.lo, s.log_step)
        if hi is None:
            nxt = s.log_step + math.log(2.0)
        elif lo is None:
            nxt = s.log_step - math.log(2.0)
        else:
            nxt = 0.5 * (lo + hi)
        return BisectionState(nxt, lo, hi, 0.0, 0, best, False)
